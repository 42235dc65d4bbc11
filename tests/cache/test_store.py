import errno
import json
import re

import h5py
import numpy as np
import pytest

from tfdeepfake.cache.files import DiskFullError
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
    with pytest.raises(CacheError, match="a faces cache; expected an embeddings cache"):
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


def test_a_newer_cache_format_is_called_newer(tmp_path):
    """Issue 22 item 13: a cache of a newer format was called "from an older tfdeepfake"."""
    from tfdeepfake.cache.store import FORMAT_VERSION

    newer = tmp_path / "newer.h5"
    with h5py.File(newer, "w") as f:
        f.attrs["kind"] = "faces"
        f.attrs["format_version"] = FORMAT_VERSION + 1
    with pytest.raises(CacheError, match="newer tfdeepfake") as caught:
        VideoStore(newer, "faces")
    assert "older" not in str(caught.value) and str(newer) in str(caught.value)


def _dead_pid() -> int:
    """The PID of a process that has ended (a killed writer's)."""
    import subprocess
    import sys

    return int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True).stdout)


def test_a_killed_writer_leaves_the_cache_readable(tmp_path):
    store = VideoStore(tmp_path / "c.h5", "faces", {})
    store.stage_video("a", _arrays(1), {})
    store.commit()
    # a writer killed mid-part leaves only a temp file; a killed merge leaves a temp copy
    store.parts_dir.mkdir()
    dead = _dead_pid()
    (store.parts_dir / f".deadbeef.h5.{dead}.tmp").write_bytes(b"\x89HDF half")
    (tmp_path / f".c.h5.{dead}.tmp").write_bytes(b"half a copy")
    store.stage_video("b", _arrays(1), {})
    assert store.done_ids() == {"a", "b"}
    store.commit()
    assert not store.parts_dir.exists() and not (tmp_path / f".c.h5.{dead}.tmp").exists()
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


# --- issue 14: settings on staged parts, a full disk, stale temp files, messages -----------


def test_staged_parts_made_with_other_settings_are_discarded_not_merged(tmp_path, caplog):
    """Item 3: kill a --size 160 run, delete the main file, rerun with --size 299: the cache
    said 299 and held the 160-px faces of the staged parts."""
    old = VideoStore(tmp_path / "c.h5", "faces", {"size": 160})
    old.stage_video("a", _arrays(1), {})
    old.stage_failure("b", "no face found")
    new = VideoStore(tmp_path / "c.h5", "faces", {"size": 299})
    assert new.done_ids() == set() and new.failures() == {}  # not read as this run's
    with caplog.at_level("WARNING", logger="tfdeepfake.cache.store"):
        new.commit()
    assert "discarded 2 staged result(s)" in caplog.text and "size differ" in caplog.text
    assert VideoStore(tmp_path / "c.h5", "faces").done_ids() == set()
    assert new.file_attrs()["settings"] == {"size": 299}
    assert not new.parts_dir.exists()


def test_a_reader_ignores_parts_that_do_not_match_the_main_file(tmp_path):
    store = VideoStore(tmp_path / "c.h5", "faces", {"size": 8})
    store.stage_video("a", _arrays(1), {})
    store.commit()
    stray = VideoStore(tmp_path / "x.h5", "faces", {"size": 16})
    stray.parts_dir = store.parts_dir  # a part of another run lands among c.h5's
    stray.stage_video("b", _arrays(1), {})
    assert VideoStore(tmp_path / "c.h5", "faces").done_ids() == {"a"}
    assert [v.video_id for v in VideoStore(tmp_path / "c.h5", "faces").iter_videos()] == ["a"]
    store.stage_video("c", _arrays(1), {})
    assert store.done_ids() == {"a", "c"}


def _no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_a_full_disk_while_staging_is_one_clear_error_and_leaves_no_temp(tmp_path, monkeypatch):
    """Item 4 (store side): h5py's long ENOSPC error, a half-written temp file left behind."""
    store = VideoStore(tmp_path / "c.h5", "faces", {})
    store.stage_video("a", _arrays(1), {})
    monkeypatch.setattr("tfdeepfake.cache.store._write_video_group", _no_space)
    with pytest.raises(DiskFullError, match=r"disk full writing .*c\.h5\.parts.*free space and rerun"):
        store.stage_video("b", _arrays(1), {})
    assert [p.name for p in store.parts_dir.iterdir() if p.suffix == ".tmp"] == []
    with pytest.raises(DiskFullError, match=r"disk full writing .*c\.h5;"):
        store.commit()  # the merge fails too: the main file is as it was, the part kept
    assert sorted(tmp_path.iterdir()) == [store.parts_dir]
    assert store.done_ids() == {"a"}
    monkeypatch.undo()
    store.commit()
    assert VideoStore(tmp_path / "c.h5", "faces").done_ids() == {"a"}


def test_stale_temp_files_of_dead_writers_are_removed(tmp_path, caplog):
    """Item 6: a merge killed midway left its 12 MB `.NAME.h5.PID.tmp` for good."""
    dead = _dead_pid()
    store = VideoStore(tmp_path / "c.h5", "faces", {})
    store.stage_video("a", _arrays(1), {})
    store.commit()
    store.parts_dir.mkdir()
    stale = [tmp_path / f".c.h5.{dead}.tmp", store.parts_dir / f".deadbeef.h5.{dead}.tmp"]
    live = [tmp_path / ".c.h5.1.tmp", store.parts_dir / ".cafe.h5.1.tmp"]  # pid 1 runs
    other = tmp_path / f".d.h5.{dead}.tmp"  # another cache's: not this one's to judge
    for path in stale + live + [other]:
        path.write_bytes(b"x" * 1000)
    with caplog.at_level("WARNING", logger="tfdeepfake.cache.store"):
        store.commit()
    assert not any(p.exists() for p in stale) and all(p.exists() for p in live + [other])
    assert "removed 2 temp file(s)" in caplog.text


@pytest.mark.parametrize("content, what", [
    ('{"video_id": "d/a", "root": "/r", "path": "a.mp4", "label": 0}\n',
     r"a manifest \(JSON Lines from `tfdeepfake index`\)"),
    ("hello\n", "a text file"),
    ("", "an empty file"),
])
def test_a_file_that_is_not_a_cache_is_named_for_what_it_is(tmp_path, content, what):
    """Item 12: `embed m.jsonl` said "move it away or choose another output path" about its
    input."""
    path = tmp_path / "m.jsonl"
    path.write_text(content)
    with pytest.raises(CacheError) as err:
        VideoStore(path, "faces")  # read: an input
    message = str(err.value)
    assert re.search(f"m.jsonl: {what}; expected a faces cache \\(HDF5 from `tfdeepfake "
                     "extract`\\)$", message), message
    with pytest.raises(CacheError, match="choose another output path"):
        VideoStore(path, "faces", {})  # written: an output


def test_a_part_that_cannot_be_merged_is_dropped_and_never_poisons_later_runs(tmp_path, caplog):
    """Issue 22 item 4: a failure staged under an id holding a NUL failed every merge ("VLEN
    strings do not support embedded NULLs"), and every later clean run with it."""
    store = VideoStore(tmp_path / "c.h5", "faces", {"size": 8})
    store.stage_video("ds/real/a", _arrays(), {"label": 0})
    store.stage_failure("ds/real/ba\x00d", "no face", {"label": 0})
    store.stage_video("ds/real/c", _arrays(2), {"label": 1})
    with caplog.at_level("WARNING"):
        assert store.commit() == 2
    assert "could not be merged" in caplog.text and "ds/real/ba\\x00d" in caplog.text
    assert not store.parts_dir.exists()
    assert store.done_ids() == {"ds/real/a", "ds/real/c"} and store.failures() == {}
    # A later run starts clean and merges as usual.
    later = VideoStore(tmp_path / "c.h5", "faces", {"size": 8})
    later.stage_video("ds/real/e", _arrays(1), {"label": 0})
    assert later.commit() == 1
    assert later.done_ids() == {"ds/real/a", "ds/real/c", "ds/real/e"}
