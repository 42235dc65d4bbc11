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
