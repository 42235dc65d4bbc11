"""extract: videos -> faces cache, with every kind of bad input in one batch."""

import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tfdeepfake.cache.extract import run_extract
from tfdeepfake.cache.faces import face_store, iter_face_videos
from tfdeepfake.faces.settings import FaceSettings
from tfdeepfake.cache.store import CacheError
from tfdeepfake.datasets.records import make_record
from tfdeepfake.faces.detector import DetectorConfig
from tests.conftest import clean_environment
from tests.media import write_blank_video, write_face_video


def records_for(root, names_labels):
    return [make_record(root, name, label, "train", "t") for name, label in names_labels]


CONFIG = FaceSettings(num_frames=5, size=64)


def test_faces_boxes_keypoints_and_settings_are_stored(tmp_path):
    write_face_video(tmp_path / "a.mp4")
    summary = run_extract(records_for(tmp_path, [("a.mp4", 0)]), tmp_path / "faces.h5", CONFIG)
    assert (summary.done, summary.failed, summary.faces) == (1, 0, 5)
    (video,) = iter_face_videos(tmp_path / "faces.h5")
    assert video.video_id == "t/a" and video.label == 0 and video.split == "train"
    assert video.faces.shape == (5, 64, 64, 3) and video.faces.dtype == np.uint8
    np.testing.assert_array_equal(video.frame_indices, video.sampled_indices)
    assert video.boxes.shape == (5, 4) and video.keypoints.shape == (5, 5, 2)
    assert (video.confidences > 0.9).all()
    # the face was pasted at y in [20, 140): the box must be there
    assert 0 <= video.boxes[0, 1] < 60 and 100 < video.boxes[0, 3] < 160
    attrs = face_store(tmp_path / "faces.h5").file_attrs()
    assert attrs["settings"] == CONFIG.to_dict()
    assert "mtcnn" in attrs["versions"]


def test_bad_inputs_are_recorded_and_the_batch_goes_on(tmp_path):
    write_face_video(tmp_path / "good.mp4")
    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "text.mp4").write_text("this is not a video\n")
    full = write_face_video(tmp_path / "full.mp4", num_frames=20).read_bytes()
    (tmp_path / "truncated.mp4").write_bytes(full[: len(full) // 3])
    write_blank_video(tmp_path / "noface.mp4")
    names = ["good.mp4", "empty.mp4", "text.mp4", "truncated.mp4", "noface.mp4", "missing.mp4"]
    summary = run_extract(records_for(tmp_path, [(n, 1) for n in names]), tmp_path / "f.h5", CONFIG)
    assert summary.done == 1 and summary.failed == 5
    failures = face_store(tmp_path / "f.h5").failures()
    assert set(failures) == {f"t/{Path(n).stem}" for n in names[1:]}
    for name in names[1:]:
        reason = failures[f"t/{Path(name).stem}"].reason
        assert name in reason, reason  # every message names its file
    assert "no face" in failures["t/noface"].reason


def test_rerun_skips_done_and_failed_and_retries_on_request(tmp_path):
    write_face_video(tmp_path / "a.mp4")
    write_blank_video(tmp_path / "b.mp4")
    records = records_for(tmp_path, [("a.mp4", 0), ("b.mp4", 1)])
    first = run_extract(records, tmp_path / "f.h5", CONFIG)
    assert (first.done, first.failed) == (1, 1)
    again = run_extract(records, tmp_path / "f.h5", CONFIG)
    assert (again.done, again.failed, again.skipped) == (0, 0, 2)
    write_face_video(tmp_path / "b.mp4")  # the file was fixed
    retried = run_extract(records, tmp_path / "f.h5", CONFIG, retry_failed=True)
    assert (retried.done, retried.skipped) == (1, 1)
    assert face_store(tmp_path / "f.h5").failures() == {}


def test_interrupted_run_keeps_finished_videos(tmp_path):
    for name in "abc":
        write_face_video(tmp_path / f"{name}.mp4", num_frames=6)
    records = records_for(tmp_path, [("a.mp4", 0), ("b.mp4", 0), ("c.mp4", 1)])

    def interrupt_after_first(outcome):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_extract(records, tmp_path / "f.h5", CONFIG, on_video=interrupt_after_first)
    assert face_store(tmp_path / "f.h5").done_ids() == {"t/a"}
    resumed = run_extract(records, tmp_path / "f.h5", CONFIG)
    assert (resumed.done, resumed.skipped) == (2, 1)


def test_other_settings_on_an_existing_cache_are_refused(tmp_path):
    write_face_video(tmp_path / "a.mp4")
    run_extract(records_for(tmp_path, [("a.mp4", 0)]), tmp_path / "f.h5", CONFIG)
    with pytest.raises(CacheError, match="size"):
        run_extract(records_for(tmp_path, [("a.mp4", 0)]), tmp_path / "f.h5",
                    FaceSettings(num_frames=5, size=96))


def test_grayscale_multi_face_and_4k_videos(tmp_path):
    write_face_video(tmp_path / "gray.mp4", gray=True)
    write_face_video(tmp_path / "two.mp4", size=(400, 240), faces=2)
    write_face_video(tmp_path / "uhd.mp4", num_frames=3, size=(3840, 2160), face_size=900)
    records = records_for(tmp_path, [("gray.mp4", 0), ("two.mp4", 0), ("uhd.mp4", 1)])
    config = FaceSettings(num_frames=3, size=64, detector=DetectorConfig(detect_short_side=360))
    summary = run_extract(records, tmp_path / "f.h5", config)
    assert summary.failed == 0, summary.failures
    videos = {v.video_id: v for v in iter_face_videos(tmp_path / "f.h5")}
    widths = videos["t/two"].boxes[:, 2] - videos["t/two"].boxes[:, 0]
    assert (widths > 40).all()  # the larger face (about 50 px wide; the other about 25)
    uhd = videos["t/uhd"].boxes[0]
    assert uhd[2] - uhd[0] > 300  # about 370 px at full resolution; 62 at the detection scale


def test_parallel_workers_give_the_same_faces(tmp_path):
    for name in "ab":
        write_face_video(tmp_path / f"{name}.mp4", num_frames=6)
    records = records_for(tmp_path, [("a.mp4", 0), ("b.mp4", 1)])
    run_extract(records, tmp_path / "one.h5", CONFIG, workers=1)
    summary = run_extract(records, tmp_path / "two.h5", CONFIG, workers=2)
    assert summary.done == 2
    one = {v.video_id: v.faces for v in iter_face_videos(tmp_path / "one.h5")}
    two = {v.video_id: v.faces for v in iter_face_videos(tmp_path / "two.h5")}
    assert one.keys() == two.keys()
    for key in one:
        np.testing.assert_array_equal(one[key], two[key])


def test_a_killed_cli_run_leaves_a_readable_cache_and_resumes(tmp_path):
    from tfdeepfake.datasets import build_index, write_manifest

    (tmp_path / "data" / "real").mkdir(parents=True)
    for i in range(6):
        write_face_video(tmp_path / "data" / "real" / f"v{i}.mp4", num_frames=10)
    manifest = write_manifest(tmp_path / "m.jsonl", build_index("folders", tmp_path / "data").records)
    cache = tmp_path / "faces.h5"
    command = [sys.executable, "-m", "tfdeepfake.cli", "-q", "extract", str(manifest), "-o",
               str(cache), "--num-frames", "10", "--no-progress"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    parts = Path(str(cache) + ".parts")
    deadline = time.time() + 120
    while time.time() < deadline and not (parts.exists() and any(parts.glob("*.h5"))):
        if process.poll() is not None:  # ended before a video was staged: say why
            pytest.fail(f"extract exited with {process.returncode} before staging a video: "
                        f"{process.stderr.read().decode()[-2000:]}")
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    store = face_store(cache)
    done_before = store.done_ids()
    assert 1 <= len(done_before) < 6
    finished = subprocess.run(command + ["--json"], capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr
    assert done_before < face_store(cache).done_ids()
    assert len(face_store(cache).done_ids()) == 6
    assert not parts.exists()


# --- issue 14 ---------------------------------------------------------------------------------


def test_staged_faces_made_with_other_settings_never_reach_the_cache(tmp_path, caplog):
    """Item 3: a killed `--size 64` run's staged part, its main file deleted, then a rerun with
    `--size 96` exited 0 with a cache that said 96 and held 64-px faces."""
    from tfdeepfake.cache.extract import process_record

    for name in "ab":
        write_face_video(tmp_path / f"{name}.mp4", num_frames=6)
    records = records_for(tmp_path, [("a.mp4", 0), ("b.mp4", 1)])
    process_record(records[0], str(tmp_path / "f.h5"), FaceSettings(num_frames=3, size=64))
    assert not (tmp_path / "f.h5").exists() and face_store(tmp_path / "f.h5").done_ids() == {"t/a"}
    with caplog.at_level("WARNING"):
        summary = run_extract(records, tmp_path / "f.h5", FaceSettings(num_frames=3, size=96))
    assert (summary.done, summary.skipped) == (2, 0)
    assert {v.video_id: v.faces.shape[1:3] for v in iter_face_videos(tmp_path / "f.h5")} == {
        "t/a": (96, 96), "t/b": (96, 96)}
    assert "discarded 1 staged result(s)" in caplog.text and "size differ" in caplog.text


def test_a_full_disk_stops_the_run_with_one_line_and_keeps_what_was_saved(tmp_path, monkeypatch,
                                                                          capsys):
    """Item 4: the first ENOSPC was hidden by a later failure in the merge (a segfault, exit
    139, no JSON) and a half-written temp file stayed."""
    import errno
    import re

    from tfdeepfake.cache import store as store_module
    from tfdeepfake.cache.files import DiskFullError
    from tfdeepfake.cli import main
    from tfdeepfake.datasets import write_manifest

    for name in "abc":
        write_face_video(tmp_path / f"{name}.mp4", num_frames=5)
    records = records_for(tmp_path, [("a.mp4", 0), ("b.mp4", 1), ("c.mp4", 1)])
    real_write = store_module._write_video_group
    writes = []

    def disk_fills_after_one_video(*args, **kwargs):
        writes.append(1)
        if len(writes) > 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(*args, **kwargs)

    monkeypatch.setattr(store_module, "_write_video_group", disk_fills_after_one_video)
    cache = tmp_path / "f.h5"
    with pytest.raises(DiskFullError) as err:
        run_extract(records, cache, CONFIG)
    assert re.fullmatch(r"disk full writing \S+\.parts/\w+\.h5; 1 videos saved in \S+f\.h5; "
                        r"free space and rerun", str(err.value)), str(err.value)
    assert len(writes) == 2  # stopped at the first full write: video c was never tried
    assert face_store(cache).done_ids() == {"t/a"}
    assert [p.name for p in tmp_path.rglob("*.tmp")] == []

    writes.clear()  # the command: one line on stderr, exit status non-zero
    manifest = write_manifest(tmp_path / "m.jsonl", records)
    status = main(["-q", "extract", str(manifest), "-o", str(tmp_path / "g.h5"), "--num-frames",
                   "5", "--size", "64", "--no-progress"])
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert status == 2 and len(lines) == 1 and lines[0].startswith("tfdeepfake extract: disk full"), lines

    monkeypatch.undo()  # space freed: the rerun finishes the rest
    resumed = run_extract(records, cache, CONFIG)
    assert (resumed.done, resumed.skipped) == (2, 1) and len(face_store(cache).done_ids()) == 3


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MB tmpfs mounted at ``tmp_path/disk``: a real file system that fills up. Skips
    unless running as root with ``mount`` and the kernel lets us mount."""
    import os
    import shutil

    if os.geteuid() != 0 or not shutil.which("mount") or not shutil.which("umount"):
        pytest.skip("mounting a small tmpfs needs root and mount/umount")
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m,mode=0755", "tmpfs",
                              str(disk)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield disk
    finally:
        if subprocess.run(["umount", str(disk)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(disk)], capture_output=True)


def _fill(disk: Path, leave: int) -> Path:
    """A file taking all the space of ``disk`` but ``leave`` bytes."""
    import os

    stat = os.statvfs(disk)
    filler = disk / "filler"
    filler.write_bytes(b"\0" * (stat.f_bavail * stat.f_frsize - leave))
    return filler


def _says_disk_full_in_one_line(result, writing: str) -> None:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode not in (0, 139, -11), result.stderr  # -11: killed by SIGSEGV
    assert "Traceback" not in result.stderr, result.stderr
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"tfdeepfake extract: disk full writing {writing}"), lines
    assert lines[0].endswith("free space and rerun"), lines


@pytest.mark.parametrize("workers", [1, pytest.param(2, marks=pytest.mark.slow)])  # 2: ~25 s
def test_a_really_full_disk_stops_extract_with_one_line_and_a_rerun_resumes(small_disk, tmp_path,
                                                                             workers):
    """Item 4 on a real full file system, not a patched write: HDF5 meeting ENOSPC while
    writing a part crashed the run when it closed the file (exit -11/139), and so did the
    merge of a rerun on the still-full disk, after printing its line."""
    from tfdeepfake.datasets import write_manifest

    (tmp_path / "videos").mkdir()
    names = [f"v{i}.mp4" for i in range(6)]
    for name in names:
        write_face_video(tmp_path / "videos" / name, num_frames=5)
    manifest = write_manifest(tmp_path / "m.jsonl", records_for(
        tmp_path / "videos", [(name, 0) for name in names]))
    cache = small_disk / "f.h5"
    command = [sys.executable, "-m", "tfdeepfake.cli", "-q", "extract", str(manifest), "-o",
               str(cache), "--num-frames", "5", "--size", "64", "--workers", str(workers),
               "--no-progress"]
    filler = _fill(small_disk, leave=200_000)  # room for two or three videos (~75 kB each)
    # The disk fills writing a video's part (after some were saved), not before any.
    _says_disk_full_in_one_line(subprocess.run(command, capture_output=True, text=True,
                                               timeout=300, env=clean_environment()),
                                f"{cache}.parts/")
    saved = face_store(cache).done_ids()
    assert 1 <= len(saved) < len(names)
    if workers == 1:  # a rerun still short of space: its merge must not crash either
        _says_disk_full_in_one_line(subprocess.run(command, capture_output=True, text=True,
                                                   timeout=300, env=clean_environment()),
                                    f"{cache};")
        assert face_store(cache).done_ids() == saved

    filler.unlink()  # space freed: the rerun keeps what was saved and does the rest
    rerun = subprocess.run(command + ["--json"], capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    done = face_store(cache).done_ids()
    assert saved <= done and done == {f"t/{Path(name).stem}" for name in names}
    assert [p.name for p in small_disk.rglob("*") if p.name != "f.h5"] == []  # no temp, no parts


def test_permission_denied_is_said_and_not_remembered_as_a_failure(tmp_path, monkeypatch):
    """Item 10: "not a readable video", recorded, and only `--retry-failed` would try again."""
    import os

    write_face_video(tmp_path / "a.mp4", num_frames=5)
    locked = write_face_video(tmp_path / "locked.mp4", num_frames=5)
    records = records_for(tmp_path, [("a.mp4", 0), ("locked.mp4", 1)])
    locked.chmod(0)
    if os.geteuid() == 0:  # root reads anything: refuse the way the kernel refuses a user
        real_open = os.open

        def refusing_open(name, flags, *args, **kwargs):
            if os.fspath(name) == str(locked):
                raise PermissionError(13, "Permission denied", str(name))
            return real_open(name, flags, *args, **kwargs)

        monkeypatch.setattr(os, "open", refusing_open)
    summary = run_extract(records, tmp_path / "f.h5", CONFIG)
    (failure,) = summary.failures
    assert failure["video_id"] == "t/locked" and failure["retried_next_run"]
    assert failure["reason"].endswith("locked.mp4: permission denied")
    assert face_store(tmp_path / "f.h5").failures() == {}
    monkeypatch.undo()
    locked.chmod(0o644)
    again = run_extract(records, tmp_path / "f.h5", CONFIG)  # no retry_failed needed
    assert (again.done, again.skipped, again.failed) == (1, 1, 0)


def test_a_damaged_middle_is_recorded_in_the_cache_and_the_summary(tmp_path):
    """Item 7: the cache stored the reader's 196 as the frame count and no flag."""
    from tests.test_bad_inputs import write_damaged_face_video

    write_damaged_face_video(tmp_path / "damaged.mp4")
    summary = run_extract(records_for(tmp_path, [("damaged.mp4", 1)]), tmp_path / "f.h5",
                          FaceSettings(num_frames=5, size=64))
    (video,) = iter_face_videos(tmp_path / "f.h5")
    assert video.attrs["frame_count"] == 60
    assert str(video.attrs.get("unreadable", "")).startswith("partly unreadable: frames ")
    assert summary.partly_unreadable == [{"video_id": "t/damaged",
                                          "frames": video.attrs["unreadable"]}]


def _worker_pids(parent: int) -> set[int]:
    """The pool's worker processes of ``parent`` (spawned interpreters, not its resource
    tracker), from /proc."""
    pids = set()
    for task in Path(f"/proc/{parent}/task").glob("*"):
        try:
            pids.update(int(p) for p in (task / "children").read_text().split())
        except OSError:
            continue
    workers = set()
    for pid in pids:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"spawn_main" in cmdline and b"resource_tracker" not in cmdline:
            workers.add(pid)
    return workers


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has ended; only its exit status is left


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc")
def test_workers_die_with_a_killed_run_and_the_next_run_says_so(tmp_path):
    """Item 5: `kill -9` of `extract --workers 2` left both workers running (1.4-1.6 GB each)
    until killed by hand."""
    import os

    from tfdeepfake.datasets import write_manifest

    (tmp_path / "data" / "real").mkdir(parents=True)
    for i in range(6):
        write_face_video(tmp_path / "data" / "real" / f"v{i}.mp4", num_frames=6)
    manifest = write_manifest(tmp_path / "m.jsonl", records_for(
        tmp_path / "data", [(f"real/v{i}.mp4", 0) for i in range(6)]))
    cache = tmp_path / "faces.h5"
    process = subprocess.Popen([sys.executable, "-m", "tfdeepfake.cli", "-q", "extract",
                                str(manifest), "-o", str(cache), "--num-frames", "3",
                                "--workers", "2", "--no-progress"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    parts = Path(str(cache) + ".parts")
    workers: set[int] = set()
    try:
        deadline = time.time() + 180
        while time.time() < deadline and not (parts.is_dir() and any(parts.glob("*.h5"))):
            if process.poll() is not None:
                pytest.fail(f"extract ended ({process.returncode}) before staging a video: "
                            f"{process.stderr.read().decode()[-2000:]}")
            workers |= _worker_pids(process.pid)
            time.sleep(0.05)
        workers |= _worker_pids(process.pid)
        assert len(workers) == 2, workers
        process.send_signal(signal.SIGKILL)
        process.wait()
        deadline = time.time() + 15
        while time.time() < deadline and any(_alive(pid) for pid in workers):
            time.sleep(0.1)
        assert not [pid for pid in workers if _alive(pid)], "workers outlived their run"
    finally:
        for pid in workers:  # only this test's own processes, by their ids
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
    summary = run_extract([], cache, FaceSettings(num_frames=3))
    (note,) = summary.interrupted_runs
    assert f"pid {process.pid}" in note and "was killed" in note
    assert "2 of its 2 worker processes stopped with it" in note
    assert run_extract([], cache, FaceSettings(num_frames=3)).interrupted_runs == []  # said once


# --- issue 22 item 3: a changed manifest must not mix a cache ---------------------------------


def _folder_dataset(root: Path, names_by_label: dict[str, list[str]]) -> Path:
    for folder, names in names_by_label.items():
        (root / folder).mkdir(parents=True, exist_ok=True)
        for name in names:
            write_face_video(root / folder / name, num_frames=5)
    return root


def _index(root: Path):
    from tfdeepfake.datasets import build_index

    return build_index("folders", root).records


def _labels(cache: Path) -> dict[str, int]:
    return {v.video_id: v.label for v in iter_face_videos(cache)}


def test_a_file_moved_from_real_to_fake_is_not_cached_under_both_labels(tmp_path, capsys):
    """A re-indexed folder where real/a.mp4 moved to fake/: the rerun extracted d/fake/a and
    kept d/real/a, so the cache held the same file as real and as fake."""
    from tfdeepfake.cache.sources import SourceChangedError
    from tfdeepfake.cli import main
    from tfdeepfake.datasets import write_manifest

    root = _folder_dataset(tmp_path / "d", {"real": ["a.mp4", "b.mp4"]})
    cache = tmp_path / "f.h5"
    assert run_extract(_index(root), cache, CONFIG).done == 2
    (root / "fake").mkdir()
    (root / "real" / "a.mp4").rename(root / "fake" / "a.mp4")
    records = _index(root)
    with pytest.raises(SourceChangedError) as error:
        run_extract(records, cache, CONFIG)
    message = str(error.value)
    assert "d/fake/a: same file as cached d/real/a" in message, message
    assert "label 0 -> 1" in message and "path real/a.mp4 -> fake/a.mp4" in message
    assert "--reextract-changed" in message
    assert _labels(cache) == {"d/real/a": 0, "d/real/b": 0}  # refused: the cache is untouched

    # The command: one line, exit 2; with --reextract-changed the cache follows the manifest.
    manifest = write_manifest(tmp_path / "m.jsonl", records)
    command = ["-q", "extract", str(manifest), "-o", str(cache), "--num-frames", "5", "--size",
               "64", "--no-progress"]
    capsys.readouterr()
    assert main(command) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and "same file as cached d/real/a" in lines[0], lines
    assert main(command + ["--reextract-changed", "--json"]) == 0
    assert _labels(cache) == {"d/fake/a": 1, "d/real/b": 0}
    again = run_extract(records, cache, CONFIG)  # and then it is an ordinary rerun
    assert (again.skipped, again.done, again.reextracted) == (2, 0, [])


def test_a_changed_root_is_refused_and_reextracted_on_request(tmp_path):
    """The dataset folder moved (same name, same files): skipped rows kept the old root."""
    import shutil

    old = _folder_dataset(tmp_path / "old" / "d", {"real": ["a.mp4"], "fake": ["b.mp4"]})
    cache = tmp_path / "f.h5"
    run_extract(_index(old), cache, CONFIG)
    new = tmp_path / "new" / "d"
    shutil.copytree(old, new)
    shutil.rmtree(old)
    records = _index(new)
    with pytest.raises(CacheError, match=r"2 cached video\(s\) differ.*d/fake/b: root \S+old/d "
                                         r"-> \S+new/d"):
        run_extract(records, cache, CONFIG)
    summary = run_extract(records, cache, CONFIG, reextract_changed=True)
    assert (summary.done, summary.skipped, len(summary.reextracted)) == (2, 0, 2)
    assert {v.attrs["root"] for v in iter_face_videos(cache)} == {str(new)}


def test_changed_contents_label_or_split_are_refused_a_touched_file_is_not(tmp_path):
    import os

    write_face_video(tmp_path / "a.mp4", num_frames=5)
    write_face_video(tmp_path / "b.mp4", num_frames=5)
    cache = tmp_path / "f.h5"
    records = records_for(tmp_path, [("a.mp4", 0), ("b.mp4", 1)])
    run_extract(records, cache, CONFIG)

    stat = (tmp_path / "a.mp4").stat()  # touched (or copied): same size, same first MiB
    os.utime(tmp_path / "a.mp4", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert run_extract(records, cache, CONFIG).skipped == 2

    write_face_video(tmp_path / "a.mp4", num_frames=7)  # other contents
    with pytest.raises(CacheError, match=r"1 cached video\(s\) differ.*t/a: file contents "
                                         r"\(size \d+ -> \d+ bytes\)"):
        run_extract(records, cache, CONFIG)
    relabelled = [make_record(tmp_path, "b.mp4", 0, "val", "t")]
    with pytest.raises(CacheError, match="t/b: label 1 -> 0, split train -> val"):
        run_extract(relabelled, cache, CONFIG)
    summary = run_extract(records, cache, CONFIG, reextract_changed=True)
    assert (summary.done, summary.skipped) == (1, 1)
    assert [c["video_id"] for c in summary.reextracted] == ["t/a"]
    assert {v.video_id: v.num_sampled for v in iter_face_videos(cache)} == {"t/a": 5, "t/b": 5}
    assert run_extract(records, cache, CONFIG).skipped == 2


def test_a_cache_without_fingerprints_still_resumes_with_one_warning(tmp_path, caplog):
    """Caches of an older tfdeepfake store no fingerprint (and the oldest no row fields):
    unknown is not different; one warning says the files were not checked."""
    import h5py

    from tfdeepfake.cache.sources import HEAD, MTIME, SIZE

    for name in "ab":
        write_face_video(tmp_path / f"{name}.mp4", num_frames=5)
    cache = tmp_path / "f.h5"
    records = records_for(tmp_path, [("a.mp4", 0), ("b.mp4", 1)])
    run_extract(records, cache, CONFIG)
    with h5py.File(cache, "a") as f:
        for group in f["videos"].values():
            for key in (SIZE, MTIME, HEAD):
                del group.attrs[key]
        for key in ("root", "path"):
            del f["videos"]["t%2Fb"].attrs[key]
    write_face_video(tmp_path / "a.mp4", num_frames=7)  # cannot be told apart without one
    with caplog.at_level("WARNING"):
        summary = run_extract(records, cache, CONFIG)
    assert (summary.skipped, summary.done) == (2, 0)
    warnings = [r.getMessage() for r in caplog.records if "no file fingerprint" in r.getMessage()]
    assert len(warnings) == 1 and "2 cached video(s)" in warnings[0], warnings
    with pytest.raises(CacheError, match="t/a: label 0 -> 1"):  # the fields it has still count
        run_extract(records_for(tmp_path, [("a.mp4", 1)]), cache, CONFIG)
    assert sorted(v.video_id for v in iter_face_videos(cache)) == ["t/a", "t/b"]
