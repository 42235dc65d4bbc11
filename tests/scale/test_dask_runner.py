"""``--runner dask``: extract, embed and detect on a real ``dask.distributed`` cluster (a
scheduler and two worker processes on loopback, started here) give the local path's faces,
vectors and verdicts; a worker killed mid-run loses no video and writes none twice; a corrupt
video is a recorded failure; without an address the run starts a local cluster and closes it.

Worker processes import what they run by name: the FaceNet stand-in, the detector factory
and the fault-injecting DoFn are module-level functions/classes of this file (importable as
``tests.scale.test_dask_runner`` with the repository root on PYTHONPATH), never monkeypatches.
"""

import functools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

pytest.importorskip("apache_beam")
pytest.importorskip("distributed")

from tests.conftest import REPO_ROOT, clean_environment  # noqa: E402
from tests.export.export_helpers import (  # noqa: E402
    mixed_video_faces,
    tiny_facenet,
    write_mixed_face_video,
    write_triplet_model,
)
from tests.media import write_face_video  # noqa: E402
from tfdeepfake.cache.embeddings import embedding_store  # noqa: E402
from tfdeepfake.cache.extract import run_extract  # noqa: E402
from tfdeepfake.cache.faces import face_store, iter_face_videos  # noqa: E402
from tfdeepfake.datasets.records import make_record  # noqa: E402
from tfdeepfake.detect import VideoDetector  # noqa: E402
from tfdeepfake.faces.settings import FaceSettings  # noqa: E402
from tfdeepfake.models.embed import run_embed  # noqa: E402
from tfdeepfake.scale.detect import run_beam_detect  # noqa: E402
from tfdeepfake.scale.embed import run_beam_embed  # noqa: E402
from tfdeepfake.scale.extract import ExtractVideoFn, run_beam_extract  # noqa: E402
from tfdeepfake.scale.options import beam_arguments, pipeline_options  # noqa: E402

CONFIG = FaceSettings(num_frames=4, size=64)
START_TIMEOUT = 90  # seconds for the scheduler and both workers to come up


# -- what the workers import ------------------------------------------------------------------

def make_tiny():
    """The FaceNet stand-in each worker builds (seeded: the same network as the driver's)."""
    return tiny_facenet(seed=0)


def make_detector(model):
    from tfdeepfake.detectors import load_detector

    return VideoDetector(load_detector(model, embedder=tiny_facenet()))


class KilledAfterStaging(ExtractVideoFn):
    """Stages ``victim``'s part, then kills its own worker process (SIGKILL: no clean-up, no
    reply to the scheduler) -- on the first attempt only; the retry on another worker, or
    on the restarted one, passes."""

    def __init__(self, cache_path, settings, marks, victim):
        super().__init__(cache_path, settings)
        self.marks, self.victim = marks, victim

    def process(self, record):
        outputs = list(super().process(record))
        mark = Path(self.marks) / record.video_id.replace("/", "_")
        if record.video_id == self.victim and not mark.exists():
            mark.touch()
            os.kill(os.getpid(), signal.SIGKILL)
        yield from outputs


# -- the cluster ------------------------------------------------------------------------------

def _stop(processes):
    for process in processes:
        if process.poll() is None:
            process.terminate()
    deadline = time.monotonic() + 15
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture(scope="module")
def scheduler(tmp_path_factory):
    """``tcp://127.0.0.1:PORT`` of a dask scheduler with two single-threaded worker processes
    (each under a nanny that restarts it when it dies), stopped after the module."""
    from distributed import Client

    folder = tmp_path_factory.mktemp("dask")
    scheduler_file = folder / "scheduler.json"
    env = {**clean_environment(), "PYTHONPATH": str(REPO_ROOT),
           "TF_CPP_MIN_LOG_LEVEL": "2"}
    common = dict(cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL,
                  stderr=open(folder / "cluster.log", "wb"))
    processes = [subprocess.Popen(
        [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
         "--port", "0", "--no-dashboard", "--scheduler-file", str(scheduler_file)], **common)]
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not scheduler_file.exists():
            assert processes[0].poll() is None, (folder / "cluster.log").read_text()
            assert time.monotonic() < deadline, "dask scheduler did not start"
            time.sleep(0.2)
        for _ in range(2):
            processes.append(subprocess.Popen(
                [sys.executable, "-m", "distributed.cli.dask_worker", "--scheduler-file",
                 str(scheduler_file), "--host", "127.0.0.1", "--nthreads", "1",
                 "--no-dashboard", "--local-directory", str(folder)], **common))
        address = json.loads(scheduler_file.read_text())["address"]
        with Client(address, timeout=START_TIMEOUT) as client:
            client.wait_for_workers(2, timeout=START_TIMEOUT)
        yield address
    finally:
        _stop(processes[1:])
        _stop(processes[:1])


# -- inputs -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    root = tmp_path_factory.mktemp("videos")
    write_face_video(root / "a.mp4", num_frames=6)
    write_face_video(root / "b.mp4", num_frames=6, size=(400, 240), faces=2)
    (root / "corrupt.mp4").write_text("this is not a video\n")
    names = ["a.mp4", "b.mp4", "corrupt.mp4"]
    return [make_record(root, name, i % 2, "train", "t") for i, name in enumerate(names)]


def _groups(cache: Path) -> list[str]:
    """Every video group in the merged file (a duplicate would show up here)."""
    with h5py.File(cache, "r") as f:
        return sorted(f["videos"][name].attrs["video_id"] for name in f["videos"])


def _on(address):
    return [f"dask_client_address={address}"]


# -- tests ------------------------------------------------------------------------------------

def test_dask_options():
    assert beam_arguments("dask", 1) == [
        "--runner=tfdeepfake.scale.dask_runner.DaskRunner", "--dask_partition_size=1",
        "--dask_local_workers=2"]
    args = beam_arguments("dask", 3, ["dask_client_address=tcp://h:8786", "dask_npartitions=4"])
    assert args == ["--runner=tfdeepfake.scale.dask_runner.DaskRunner",
                    "--dask_local_workers=3", "--dask_client_address=tcp://h:8786",
                    "--dask_npartitions=4"]
    options = pipeline_options("dask", 1, ["dask_client_address=tcp://h:8786"])
    assert options.get_all_options()["address"] == "tcp://h:8786"
    with pytest.raises(ValueError, match="unknown Beam pipeline option.*dask_client_adress"):
        pipeline_options("dask", 1, ["dask_client_adress=tcp://h:8786"])


def test_extract_on_dask_gives_the_local_faces(scheduler, videos, tmp_path):
    local = run_extract(videos, tmp_path / "local.h5", CONFIG)
    summary, counters = run_beam_extract(videos, tmp_path / "dask.h5", CONFIG, runner="dask",
                                         beam_options=_on(scheduler))
    assert (summary.done, summary.failed) == (local.done, local.failed) == (2, 1)
    assert (summary.frames, summary.faces) == (local.frames, local.faces)
    assert _groups(tmp_path / "dask.h5") == ["t/a", "t/b"]  # each once
    want = {v.video_id: v for v in iter_face_videos(tmp_path / "local.h5")}
    for have in iter_face_videos(tmp_path / "dask.h5"):
        expected = want[have.video_id]
        np.testing.assert_array_equal(have.frame_indices, expected.frame_indices)
        np.testing.assert_allclose(have.boxes, expected.boxes, atol=1.0)
        np.testing.assert_array_equal(have.faces, expected.faces)
    # the corrupt video: a recorded failure, the same reason as locally
    failures = {k: f.reason for k, f in face_store(tmp_path / "dask.h5").failures().items()}
    assert failures == {k: f.reason for k, f in
                        face_store(tmp_path / "local.h5").failures().items()}
    assert "corrupt.mp4" in failures["t/corrupt"]
    assert not (tmp_path / "dask.h5.parts").exists()
    # counters come back from the workers, each video counted once
    assert (counters["videos_done"], counters["videos_failed"]) == (2, 1)
    assert counters["faces"] == local.faces and counters["video_ms_count"] == 3
    again, counters = run_beam_extract(videos, tmp_path / "dask.h5", CONFIG, runner="dask",
                                       beam_options=_on(scheduler))
    assert (again.skipped, again.done, counters) == (3, 0, {})


def test_embed_on_dask_gives_the_local_vectors(scheduler, videos, tmp_path):
    faces = tmp_path / "faces.h5"
    assert run_extract(videos[:2], faces, FaceSettings(num_frames=2, size=160)).done == 2
    embedder = make_tiny()
    local = run_embed(faces, tmp_path / "local.h5", embedder)
    summary, counters = run_beam_embed(faces, tmp_path / "dask.h5", embedder,
                                       make_embedder=make_tiny, runner="dask",
                                       beam_options=_on(scheduler))
    assert (summary.done, counters["videos_done"], counters["frames"]) == (2, 2, local.frames)
    want = {v.video_id: v for v in embedding_store(tmp_path / "local.h5").iter_videos()}
    got = {v.video_id: v for v in embedding_store(tmp_path / "dask.h5").iter_videos()}
    assert sorted(got) == sorted(want) == ["t/a", "t/b"]
    for video_id, video in want.items():
        np.testing.assert_allclose(got[video_id].arrays["embeddings"],
                                   video.arrays["embeddings"], atol=1e-5)
    assert _groups(tmp_path / "dask.h5") == ["t/a", "t/b"]


def test_detect_on_dask_gives_the_local_verdicts(scheduler, tmp_path):
    settings = FaceSettings(num_frames=3)
    video = write_mixed_face_video(tmp_path / "mixed.mp4")
    faces, labels = mixed_video_faces(video, settings)
    model = write_triplet_model(tmp_path / "model", tiny_facenet(), faces, labels,
                                settings=settings, threshold=0.3)
    (tmp_path / "bad.mp4").write_bytes(b"")
    paths = [str(video), str(tmp_path / "bad.mp4")]
    factory = functools.partial(make_detector, model)
    local, _ = run_beam_detect(paths, tmp_path / "local.jsonl", factory)
    counts, counters = run_beam_detect(paths, tmp_path / "dask.jsonl", factory, runner="dask",
                                       beam_options=_on(scheduler))
    assert counts == local == {"videos": 2, "done": 2, "skipped": 0, "verdicts": 1,
                               "unknown": 1}
    rows = {}
    for name in ("local", "dask"):
        lines = (tmp_path / f"{name}.jsonl").read_text().splitlines()
        assert len(lines) == 2  # one line per video
        rows[name] = {r["path"]: r for r in map(json.loads, lines)}
    for path in paths:
        want, got = rows["local"][path], rows["dask"][path]
        assert (got["verdict"], got.get("faces_found")) == (want["verdict"],
                                                            want.get("faces_found"))
        if want.get("fake_probability") is not None:
            assert got["fake_probability"] == pytest.approx(want["fake_probability"], abs=1e-5)
    assert rows["dask"][paths[1]]["verdict"] == "unknown"
    assert counters["videos_unknown"] == 1 and counters["faces"] == faces.shape[0]


def test_a_worker_killed_mid_run_loses_no_video_and_writes_none_twice(scheduler, videos,
                                                                       tmp_path):
    from distributed import Client

    marks = tmp_path / "marks"
    marks.mkdir()
    dofn = functools.partial(KilledAfterStaging, marks=str(marks), victim="t/a")
    summary, counters = run_beam_extract(videos, tmp_path / "f.h5", CONFIG, runner="dask",
                                         beam_options=_on(scheduler), dofn=dofn)
    assert (marks / "t_a").exists()  # the worker did die after staging t/a
    assert (summary.done, summary.failed) == (2, 1)
    assert _groups(tmp_path / "f.h5") == ["t/a", "t/b"]  # each exactly once
    assert list(face_store(tmp_path / "f.h5").failures()) == ["t/corrupt"]
    # counted once: the killed attempt's bundle never came back
    assert (counters["videos_done"], counters["videos_failed"]) == (2, 1)
    with Client(scheduler, timeout=30) as client:  # the nanny brought the worker back
        client.wait_for_workers(2, timeout=START_TIMEOUT)


def test_without_an_address_a_local_cluster_runs_and_is_closed(videos, tmp_path):
    import multiprocessing

    summary, counters = run_beam_extract(videos[:1], tmp_path / "f.h5", CONFIG, runner="dask",
                                         beam_options=["dask_local_workers=1"])
    assert (summary.done, counters["videos_done"]) == (1, 1)
    assert _groups(tmp_path / "f.h5") == ["t/a"]
    deadline = time.monotonic() + 20
    while multiprocessing.active_children() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert multiprocessing.active_children() == []  # the cluster's processes are gone
