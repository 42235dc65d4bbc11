import json

import pytest

from tfdeepfake.constants import FAKE, REAL
from tfdeepfake.datasets import DatasetError, index_faceforensics


def splits_of(result):
    return {r.path.rsplit("/", 1)[1]: r.split for r in result.records}


def test_pair_splits_in_both_orders(ffpp):
    result = index_faceforensics(ffpp, methods=["Deepfakes", "FaceSwap"])
    splits = splits_of(result)
    assert splits["000_001.mp4"] == splits["001_000.mp4"] == "train"
    assert splits["002_003.mp4"] == "val"
    assert splits["005_004.mp4"] == splits["004_005.mp4"] == "test"
    assert splits["000.mp4"] == splits["001.mp4"] == "train"
    assert splits["003.mp4"] == "val"
    assert splits["004.mp4"] == "test"
    reasons = {s.path.rsplit("/", 1)[1]: s.reason for s in result.skipped}
    assert set(reasons) == {"999.mp4", "000_003.mp4"}
    assert "no official split" in reasons["999.mp4"]
    assert "(000, 003)" in reasons["000_003.mp4"]


def test_record_fields_and_compression(ffpp):
    result = index_faceforensics(ffpp, methods="Deepfakes")
    fake = next(r for r in result.records if r.path.endswith("000_001.mp4"))
    assert fake.video_id == "ffpp/manipulated_sequences/Deepfakes/c23/videos/000_001"
    assert (fake.label, fake.method, fake.source) == (FAKE, "Deepfakes", "001")
    real = next(r for r in result.records if r.path.endswith("/000.mp4"))
    assert (real.label, real.method, real.source) == (REAL, None, None)
    assert all("/c23/" in r.path for r in result.records)
    c40 = index_faceforensics(ffpp, compression="c40")
    assert [r.path for r in c40.records] == ["original_sequences/youtube/c40/videos/000.mp4"]


def test_actors_and_deepfakedetection_default_to_train(ffpp):
    result = index_faceforensics(ffpp, methods=["DeepFakeDetection"])
    assert {(r.path.rsplit("/", 1)[1], r.split, r.source) for r in result.records} == {
        ("01__walking.mp4", "train", None),
        ("01_02__walking__ABCD1234.mp4", "train", "02"),
    }
    held_out = index_faceforensics(ffpp, actors_split="test")
    assert {r.split for r in held_out.records if "actors" in r.path or "Detection" in r.path} == {
        "test"
    }
    without = index_faceforensics(ffpp, actors_split=None)
    assert not [r for r in without.records if "actors" in r.path or "Detection" in r.path]


def test_bad_options(ffpp):
    with pytest.raises(ValueError, match="valid: Deepfakes, Face2Face, FaceSwap"):
        index_faceforensics(ffpp, methods=["DeepFake"])
    with pytest.raises(ValueError, match="raw, c23, c40"):
        index_faceforensics(ffpp, compression="c32")
    with pytest.raises(ValueError, match="actors_split"):
        index_faceforensics(ffpp, actors_split="dev")
    # Named but not downloaded: an error, not a silent empty method.
    with pytest.raises(DatasetError, match="NeuralTextures/c23/videos"):
        index_faceforensics(ffpp, methods=["NeuralTextures"])


def test_split_files_are_checked(ffpp):
    (ffpp / "splits/val.json").write_text(json.dumps([["002", "000"]]))
    with pytest.raises(DatasetError, match="val.json: id '000' is also in .*train.json"):
        index_faceforensics(ffpp)
    (ffpp / "splits/val.json").write_text("[[\"002\", ")
    with pytest.raises(DatasetError, match="val.json: invalid JSON"):
        index_faceforensics(ffpp)
    (ffpp / "splits/val.json").write_text(json.dumps([["002"]]))
    with pytest.raises(DatasetError, match="val.json: entry 0"):
        index_faceforensics(ffpp)
    (ffpp / "splits/val.json").unlink()
    with pytest.raises(DatasetError, match="val.json: official"):
        index_faceforensics(ffpp)
