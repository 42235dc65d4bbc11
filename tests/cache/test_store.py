import json

import h5py
import numpy as np
import pytest

from tfdeepfake.cache.store import CacheError, VideoStore


def _arrays(n=3):
    return {"faces": np.arange(n * 8 * 8 * 3, dtype=np.uint8).reshape(n, 8, 8, 3),
            "frame_indices": np.arange(n, dtype=np.int32)}


def test_staged_videos_are_readable_before_and_after_commit(tmp_path):
    store = VideoStore(tmp_path / "c.h5", "faces", {"size": 8})
    store.stage_video("ds/real/a", _arrays(), {"label": 0, "split": "train"})
    assert store.done_ids() == {"ds/real/a"}
    assert not (tmp_path / "c.h5").exists()
    assert store.commit() == 1
    assert not store.parts_dir.exists()
    (video,) = list(VideoStore(tmp_path / "c.h5", "faces").iter_videos())
    assert video.video_id == "ds/real/a" and video.attrs["label"] == 0
    np.testing.assert_array_equal(video.arrays["faces"], _arrays()["faces"])


def test_commit_appends_and_keeps_settings_and_versions(tmp_path):
    store = VideoStore(tmp_path / "c.h5", "faces", {"size": 8})
    store.stage_video("a", _arrays(1), {"label": 0})
    store.commit()
    store.stage_video("b", _arrays(2), {"label": 1})
    store.commit()
    assert store.done_ids() == {"a", "b"}
    attrs = store.file_attrs()
    assert attrs["settings"] == {"size": 8} and "tensorflow" in attrs["versions"]


def test_failures_are_recorded_and_cleared_by_a_later_success(tmp_path):
    store = VideoStore(tmp_path / "c.h5", "faces", {})
    store.stage_failure("bad", "no face found", {"path": "bad.mp4"})
    store.commit()
    assert store.failures()["bad"].reason == "no face found"
    store.stage_video("bad", _arrays(1), {"label": 1})
    assert "bad" not in store.failures()
    store.commit()
    assert "bad" not in store.failures() and store.done_ids() == {"bad"}


def test_other_settings_or_kind_are_refused(tmp_path):
    store = VideoStore(tmp_path / "c.h5", "faces", {"size": 8})
    store.stage_video("a", _arrays(1), {})
    store.commit()
    with pytest.raises(CacheError, match="size"):
        VideoStore(tmp_path / "c.h5", "faces", {"size": 16})
    with pytest.raises(CacheError, match="not embeddings"):
        VideoStore(tmp_path / "c.h5", "embeddings")


def test_old_format_and_garbage_files_get_clear_errors(tmp_path):
    old = tmp_path / "old.h5"
    with h5py.File(old, "w") as f:
        f.attrs["kind"] = "faces"
        f.attrs["format_version"] = 0
    with pytest.raises(CacheError, match="older"):
        VideoStore(old, "faces")
    garbage = tmp_path / "garbage.h5"
    garbage.write_text("not hdf5")
    with pytest.raises(CacheError, match="garbage.h5"):
        VideoStore(garbage, "faces")


def test_a_killed_writer_leaves_the_cache_readable(tmp_path):
    store = VideoStore(tmp_path / "c.h5", "faces", {})
    store.stage_video("a", _arrays(1), {})
    store.commit()
    # a writer killed mid-part leaves only a temp file; a killed merge leaves a temp copy
    store.parts_dir.mkdir()
    (store.parts_dir / ".deadbeef.h5.123.tmp").write_bytes(b"\x89HDF half")
    (tmp_path / ".c.h5.999.tmp").write_bytes(b"half a copy")
    store.stage_video("b", _arrays(1), {})
    assert store.done_ids() == {"a", "b"}
    store.commit()
    assert not store.parts_dir.exists()
    assert {v.video_id for v in store.iter_videos()} == {"a", "b"}


def test_string_arrays_round_trip(tmp_path):
    store = VideoStore(tmp_path / "c.h5", "embeddings", {})
    store.stage_video("a", {"names": np.array(["x", "yz"])}, {"meta": {"k": 1}})
    store.commit()
    (video,) = store.iter_videos()
    assert video.arrays["names"].tolist() == ["x", "yz"]
    assert json.loads(video.attrs["meta"]) == {"k": 1}


def test_selected_videos_are_read_without_the_others(tmp_path):
    store = VideoStore(tmp_path / "c.h5", "faces", {})
    for name, split in (("a", "train"), ("b", "test"), ("c", "train")):
        store.stage_video(name, _arrays(1), {"split": split})
    store.commit()
    store.stage_video("d", _arrays(1), {"split": "train"})  # still staged
    assert [v.video_id for v in store.iter_videos(video_ids={"c", "d"})] == ["c", "d"]
    train = store.iter_videos(where=lambda attrs: attrs["split"] == "train")
    assert sorted(v.video_id for v in train) == ["a", "c", "d"]
    assert list(store.iter_videos(video_ids=set())) == []
