import json

import pytest

from tfdeepfake.constants import FAKE, REAL
from tfdeepfake.datasets import DatasetError, index_dfdc


@pytest.fixture
def dfdc(tmp_path, make_files):
    root = tmp_path / "dfdc"
    make_files(
        root,
        "dfdc_train_part_0/a.mp4",
        "dfdc_train_part_0/b.mp4",
        "dfdc_train_part_0/c.mp4",  # on disk, not in metadata
        "dfdc_train_part_1/e.mp4",
        "dfdc_train_part_1/f.mp4",
        "test/x.mp4",
        "test/videos/y.mp4",
    )
    (root / "dfdc_train_part_0/metadata.json").write_text(json.dumps({
        "a.mp4": {"label": "FAKE", "split": "train", "original": "b.mp4"},
        "b.mp4": {"label": "REAL", "split": "train"},
        "d.mp4": {"label": "FAKE", "split": "train", "original": "b.mp4"},  # missing file
    }))
    (root / "dfdc_train_part_1/metadata.json").write_text(json.dumps({
        "e.mp4": {"label": "FAKE", "split": "train", "original": "f.mp4"},
        "f.mp4": {"label": "REAL", "split": "train", "original": None},
    }))
    (root / "test/labels.csv").write_text("filename,label\nx.mp4,1\ny.mp4,REAL\n")
    return root


def test_metadata_and_labels_csv(dfdc):
    result = index_dfdc(dfdc)
    records = {r.path: r for r in result.records}
    assert list(records) == [
        "dfdc_train_part_0/a.mp4",
        "dfdc_train_part_0/b.mp4",
        "dfdc_train_part_1/e.mp4",
        "dfdc_train_part_1/f.mp4",
        "test/videos/y.mp4",
        "test/x.mp4",
    ]
    a = records["dfdc_train_part_0/a.mp4"]
    assert (a.label, a.split, a.source) == (FAKE, "train", "b.mp4")
    assert a.video_id == "dfdc/dfdc_train_part_0/a"
    assert records["dfdc_train_part_0/b.mp4"].source is None
    assert (records["test/x.mp4"].label, records["test/x.mp4"].split) == (FAKE, "test")
    assert records["test/videos/y.mp4"].label == REAL
    reasons = {s.path.rsplit("/", 1)[1]: s.reason for s in result.skipped}
    assert reasons["d.mp4"] == "file is missing"
    assert reasons["c.mp4"].startswith("not listed in")


def test_val_split_keeps_fake_with_original(dfdc):
    result = index_dfdc(dfdc, val_fraction=0.5, seed=0)
    split = {r.path.rsplit("/", 1)[1]: r.split for r in result.records}
    assert split["a.mp4"] == split["b.mp4"]
    assert split["e.mp4"] == split["f.mp4"]
    assert {split["a.mp4"], split["e.mp4"]} == {"train", "val"}
    assert split["x.mp4"] == "test"


def test_bad_metadata_names_the_file(dfdc):
    meta = dfdc / "dfdc_train_part_1/metadata.json"
    meta.write_text("{not json")
    with pytest.raises(DatasetError, match=r"dfdc_train_part_1/metadata.json: invalid JSON"):
        index_dfdc(dfdc)
    meta.write_text(json.dumps({"e.mp4": {"label": "MAYBE"}}))
    with pytest.raises(DatasetError, match=r"metadata.json: entry 'e.mp4': unknown label"):
        index_dfdc(dfdc)


def test_bad_labels_csv_names_the_line(dfdc):
    (dfdc / "test/labels.csv").write_text("filename,label\nx.mp4,1\ny.mp4,0.7\n")
    with pytest.raises(DatasetError, match=r"labels.csv line 3: unknown label"):
        index_dfdc(dfdc)
    (dfdc / "test/labels.csv").write_text("x.mp4,1\n")
    with pytest.raises(DatasetError, match="header"):
        index_dfdc(dfdc)


def test_no_lists(tmp_path):
    with pytest.raises(DatasetError, match="no metadata.json"):
        index_dfdc(tmp_path)
