from pathlib import Path

import pytest

from tfdeepfake.constants import FAKE, REAL
from tfdeepfake.datasets import DatasetError, index_celebdf, index_celebdf_merged
from tfdeepfake.datasets.celebdf import parse_celebdf_name


def by_path(result):
    return {r.path: r for r in result.records}


def test_test_list_labels_are_converted_and_split(celebdf_v2):
    result = index_celebdf(celebdf_v2)
    records = by_path(result)
    assert result.skipped == []
    assert len(records) == 12
    # "1 YouTube-real/00001.mp4" means real in the list: label 0 here.
    assert records["YouTube-real/00001.mp4"].label == REAL
    assert records["YouTube-real/00001.mp4"].split == "test"
    assert records["Celeb-synthesis/id2_id1_0000.mp4"].label == FAKE
    assert records["Celeb-synthesis/id2_id1_0000.mp4"].split == "test"
    test = {p for p, r in records.items() if r.split == "test"}
    assert test == {
        "YouTube-real/00001.mp4",
        "Celeb-synthesis/id2_id1_0000.mp4",
        "Celeb-real/id2_0000.mp4",
    }
    assert all(r.split == "train" for p, r in records.items() if p not in test)
    assert [r.path for r in result.records] == sorted(records)


def test_record_fields(celebdf_v2):
    records = by_path(index_celebdf(celebdf_v2))
    fake = records["Celeb-synthesis/id0_id1_0000.mp4"]
    assert fake.video_id == "celebdf-v2/Celeb-synthesis/id0_id1_0000"
    assert fake.dataset == "celebdf-v2"
    assert fake.method == "celeb-synthesis"
    assert fake.source == "id1"
    assert fake.root == str(celebdf_v2)
    assert fake.full_path == celebdf_v2 / "Celeb-synthesis/id0_id1_0000.mp4"
    real = records["Celeb-real/id0_0000.mp4"]
    assert (real.label, real.method, real.source) == (REAL, None, None)
    assert parse_celebdf_name("Celeb-synthesis/id0_id1_0000.mp4").target == "id0"
    assert parse_celebdf_name("YouTube-real/00001.mp4") is None


def test_version_v1_dataset_name(celebdf_v2):
    assert {r.dataset for r in index_celebdf(celebdf_v2, version="v1").records} == {"celebdf-v1"}


def test_lowercase_youtube_folder_matches_list(celebdf_v2):
    (celebdf_v2 / "YouTube-real").rename(celebdf_v2 / "Youtube-real")
    records = by_path(index_celebdf(celebdf_v2))
    assert records["Youtube-real/00001.mp4"].split == "test"
    assert records["Youtube-real/00000.mp4"].split == "train"


def test_list_disagreeing_with_folder_names_the_line(celebdf_v2):
    # 0 = fake in this file, but the video is in a real folder.
    (celebdf_v2 / "List_of_testing_videos.txt").write_text(
        "1 YouTube-real/00001.mp4\n0 Celeb-real/id2_0000.mp4\n"
    )
    with pytest.raises(DatasetError, match=r"List_of_testing_videos.txt line 2: .*real folder"):
        index_celebdf(celebdf_v2)


@pytest.mark.parametrize(
    "line, message",
    [
        ("2 Celeb-real/id2_0000.mp4", "must be 1 .real. or 0"),
        ("1 Other/id2_0000.mp4", "is not in"),
        ("Celeb-real/id2_0000.mp4", "expected"),
    ],
)
def test_malformed_list_lines(celebdf_v2, line, message):
    (celebdf_v2 / "List_of_testing_videos.txt").write_text(line + "\n")
    with pytest.raises(DatasetError, match=f"line 1: .*{message}"):
        index_celebdf(celebdf_v2)


def test_missing_list_and_missing_folders(tmp_path, celebdf_v2):
    (celebdf_v2 / "List_of_testing_videos.txt").unlink()
    with pytest.raises(DatasetError, match="List_of_testing_videos.txt"):
        index_celebdf(celebdf_v2)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no Celeb-DF folders"):
        index_celebdf(tmp_path / "empty")


def test_listed_but_missing_video_is_skipped(celebdf_v2):
    (celebdf_v2 / "YouTube-real/00001.mp4").unlink()
    result = index_celebdf(celebdf_v2)
    assert [(Path(s.path).name, s.reason) for s in result.skipped] == [
        ("00001.mp4", "file is missing")
    ]
    assert "YouTube-real/00001.mp4" not in by_path(result)


def test_validation_split_keeps_identities_together(celebdf_v2):
    result = index_celebdf(celebdf_v2, val_fraction=0.25, seed=3)
    again = index_celebdf(celebdf_v2, val_fraction=0.25, seed=3)
    assert result.records == again.records
    val = [r for r in result.records if r.split == "val"]
    assert val
    target = {
        r.path: parse_celebdf_name(r.path).target
        for r in result.records
        if parse_celebdf_name(r.path)
    }
    val_ids = {target[r.path] for r in val if r.path in target}
    train_ids = {target[r.path] for r in result.records if r.split == "train" and r.path in target}
    assert not val_ids & train_ids
    # The official test split is never touched.
    assert {r.path for r in result.records if r.split == "test"} == {
        r.path for r in index_celebdf(celebdf_v2).records if r.split == "test"
    }


def test_validation_split_by_video_groups_fake_with_its_real_clip(celebdf_v2):
    result = by_path(index_celebdf(celebdf_v2, val_fraction=0.4, seed=1, group_by="video"))
    for path, record in result.items():
        parsed = parse_celebdf_name(path)
        if record.label == FAKE and parsed and record.split != "test":
            real = result[f"Celeb-real/{parsed.target}_{parsed.clip}.mp4"]
            assert real.split == record.split
    with pytest.raises(ValueError, match="identity, video"):
        index_celebdf(celebdf_v2, val_fraction=0.2, group_by="frame")


def test_bad_options(celebdf_v2):
    with pytest.raises(ValueError, match="v1, v2, merged"):
        index_celebdf(celebdf_v2, version="v3")
    with pytest.raises(ValueError, match="v1_root"):
        index_celebdf(celebdf_v2, version="merged")


def test_merged_deduplicates_and_never_crosses_splits(tmp_path, celebdf_v2, make_files):
    v1 = tmp_path / "Celeb-DF"
    make_files(
        v1,
        "Celeb-real/id0_0000.mp4",
        "Celeb-real/id1_0000.mp4",
        "YouTube-real/00000.mp4",
        "Celeb-synthesis/id0_id1_0000.mp4",
        "Celeb-synthesis/id9_id0_0000.mp4",  # only in v1
    )
    # v1 puts id0_0000 in test although v2 trains on it: test wins in the merged set.
    (v1 / "List_of_testing_videos.txt").write_text("1 Celeb-real/id0_0000.mp4\n")
    result = index_celebdf_merged(v1, celebdf_v2)
    records = by_path(result)
    assert len(records) == 13
    assert len({r.video_id for r in result.records}) == 13
    assert records["Celeb-real/id0_0000.mp4"].split == "test"
    assert records["Celeb-real/id0_0000.mp4"].root == str(celebdf_v2)  # v2 copy preferred
    assert records["Celeb-real/id0_0000.mp4"].dataset == "celebdf-v2"
    assert records["Celeb-synthesis/id9_id0_0000.mp4"].root == str(v1)
    assert records["Celeb-synthesis/id9_id0_0000.mp4"].dataset == "celebdf-v1"
    for name in ("YouTube-real/00001.mp4", "Celeb-synthesis/id2_id1_0000.mp4"):
        assert records[name].split == "test"
    train = {r.path for r in result.records if r.split != "test"}
    test = {r.path for r in result.records if r.split == "test"}
    assert not train & test
    same = index_celebdf(celebdf_v2, version="merged", v1_root=v1)
    assert same.records == result.records
