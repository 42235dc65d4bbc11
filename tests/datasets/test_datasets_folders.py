import os
from pathlib import Path

import pytest

from tfdeepfake.constants import FAKE, REAL
from tfdeepfake.datasets import DatasetError, index_csv, index_folders, split_counts

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "videos"


@pytest.fixture
def folders(tmp_path, make_files):
    root = tmp_path / "mine"
    make_files(
        root,
        *[f"real/r{i}.mp4" for i in range(10)],
        "real/sub/deep.MP4",
        "Fake/f0.mov",
        "Fake/f1.webm",
        "Fake/f2.avi",
        "Fake/f3.mkv",
        "Fake/notes.txt",
        "Fake/._f0.mov",
    )
    return root


def test_folders_recursive_case_insensitive(folders):
    result = index_folders(folders)
    labels = {r.path: r.label for r in result.records}
    assert labels["real/sub/deep.MP4"] == REAL
    assert labels["Fake/f2.avi"] == FAKE
    assert len(labels) == 15
    assert {r.split for r in result.records} == {"train"}
    assert {r.dataset for r in result.records} == {"mine"}
    assert [s.reason for s in result.skipped] == ["hidden file (for example a macOS '._' copy)"]
    with pytest.raises(DatasetError, match="real/ and fake/"):
        index_folders(folders / "real")


def test_phone_broadcast_and_older_containers_are_indexed(tmp_path, make_files):
    root = tmp_path / "clips"
    names = ["real/a.m4v", "real/b.3gp", "real/c.MTS", "real/d.m2ts", "fake/e.ts", "fake/f.mpg",
             "fake/g.mpeg", "fake/h.wmv", "fake/i.flv", "fake/j.ogv", "fake/k.srt", "fake/l.jpg"]
    make_files(root, *names)
    found = sorted(r.path for r in index_folders(root).records)
    assert found == sorted(names[:10])


def test_folders_fractions_are_stratified_and_seeded(folders):
    result = index_folders(folders, val_fraction=0.2, test_fraction=0.2, seed=7)
    again = index_folders(folders, val_fraction=0.2, test_fraction=0.2, seed=7)
    assert result.records == again.records
    counts = split_counts(result.records)
    assert counts["val"]["real"] == counts["test"]["real"] == 2
    assert counts["val"]["fake"] == counts["test"]["fake"] == 1
    assert sum(c["total"] for c in counts.values()) == 15
    with pytest.raises(ValueError, match="sum to less than 1"):
        index_folders(folders, val_fraction=0.5, test_fraction=0.5)


def test_symlinks_out_of_root_are_followed_and_same_file_skipped(tmp_path, folders):
    outside = tmp_path / "elsewhere.mp4"
    outside.write_bytes(b"x")
    os.symlink(outside, folders / "Fake/linked.mp4")
    os.symlink(folders / "Fake/f0.mov", folders / "Fake/zz_same.mp4")
    result = index_folders(folders)
    assert "Fake/linked.mp4" in {r.path for r in result.records}
    reasons = {Path(s.path).name: s.reason for s in result.skipped}
    assert reasons["zz_same.mp4"] == "same file as 'mine/Fake/f0'"


def test_csv(tmp_path, make_files):
    root = tmp_path / "clips"
    make_files(root, "a.mp4", "b.mp4", "c.mp4", "sub/d.mp4")
    (tmp_path / "secret.mp4").write_bytes(b"x")
    (root / "list.csv").write_text(
        "path,label,split\n"
        "a.mp4,real,\n"
        "b.mp4,1,test\n"
        f"{root / 'c.mp4'},FAKE,val\n"
        "./sub/d.mp4,0,train\n"
        "../secret.mp4,0,\n"
        "missing.mp4,fake,\n"
        "a.mp4,fake,\n"
    )
    result = index_csv(root / "list.csv")
    rows = {r.path: (r.label, r.split) for r in result.records}
    assert rows == {
        "a.mp4": (REAL, "train"),
        "b.mp4": (FAKE, "test"),
        "c.mp4": (FAKE, "val"),
        "sub/d.mp4": (REAL, "train"),
    }
    reasons = sorted(s.reason for s in result.skipped)
    assert len(reasons) == 3
    assert reasons[0].startswith("duplicate video_id 'clips/a'") and "labels disagree" in reasons[0]
    assert reasons[1] == "file is missing"
    assert "not inside the dataset root" in reasons[2]


def test_csv_with_root_option(tmp_path, make_files):
    make_files(tmp_path / "videos", "x.mp4")
    (tmp_path / "labels.csv").write_text("label,path\n0,x.mp4\n")
    result = index_csv(tmp_path / "labels.csv", root=tmp_path / "videos", dataset="mine")
    assert [r.video_id for r in result.records] == ["mine/x"]


@pytest.mark.parametrize(
    "text, message",
    [
        ("a.mp4,0\n", "line 1: header must name columns path,label"),
        ("path,label\na.mp4,maybe\n", "line 2: unknown label"),
        ("path,label,split\na.mp4,0,dev\n", "line 2: unknown split"),
        ("path,label\na.mp4\n", "line 2: expected 2 columns"),
    ],
)
def test_csv_errors_name_the_line(tmp_path, text, message):
    (tmp_path / "list.csv").write_text(text)
    with pytest.raises(DatasetError, match=message):
        index_csv(tmp_path / "list.csv")


@pytest.mark.shared_data
@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data is absent")
def test_folders_on_shared_dfdc_samples():
    result = index_folders(SHARED / "dfdc", dataset="dfdc-samples")
    counts = split_counts(result.records)
    # The .jpg frames beside the videos are ignored.
    assert (counts["train"]["real"], counts["train"]["fake"]) == (2, 3)
    assert result.skipped == []
