"""extract on Apache Beam (DirectRunner): the same cache as `run_extract`, exactly once."""

from pathlib import Path

import h5py
import numpy as np
import pytest

pytest.importorskip("apache_beam")

from tfdeepfake.cache.extract import run_extract  # noqa: E402
from tfdeepfake.cache.faces import face_store, iter_face_videos  # noqa: E402
from tfdeepfake.datasets.records import make_record  # noqa: E402
from tfdeepfake.faces.settings import FaceSettings  # noqa: E402
from tfdeepfake.scale.extract import ExtractVideoFn, run_beam_extract  # noqa: E402
from tfdeepfake.scale.options import beam_arguments, pipeline_options  # noqa: E402
from tests.media import write_blank_video, write_face_video  # noqa: E402

CONFIG = FaceSettings(num_frames=4, size=64)


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    root = tmp_path_factory.mktemp("videos")
    write_face_video(root / "a.mp4", num_frames=6)
    write_face_video(root / "b.mp4", num_frames=6, size=(400, 240), faces=2)
    write_face_video(root / "c.mp4", num_frames=6, gray=True)
    write_blank_video(root / "noface.mp4")
    (root / "corrupt.mp4").write_text("this is not a video\n")
    names = ["a.mp4", "b.mp4", "c.mp4", "noface.mp4", "corrupt.mp4"]
    return [make_record(root, name, i % 2, "train", "t") for i, name in enumerate(names)]


def _groups(cache: Path) -> list[str]:
    """Every video group in the merged file (a duplicate would show up here)."""
    with h5py.File(cache, "r") as f:
        return [f["videos"][name].attrs["video_id"] for name in f["videos"]]


def test_beam_gives_extracts_cache_video_for_video(videos, tmp_path):
    local = run_extract(videos, tmp_path / "local.h5", CONFIG)
    summary, counters = run_beam_extract(videos, tmp_path / "beam.h5", CONFIG)
    assert (summary.done, summary.failed) == (local.done, local.failed) == (3, 2)
    assert (summary.frames, summary.faces) == (local.frames, local.faces)
    expected = {v.video_id: v for v in iter_face_videos(tmp_path / "local.h5")}
    got = {v.video_id: v for v in iter_face_videos(tmp_path / "beam.h5")}
    assert sorted(_groups(tmp_path / "beam.h5")) == sorted(expected) == ["t/a", "t/b", "t/c"]
    for video_id, want in expected.items():
        have = got[video_id]
        assert len(have.faces) == len(want.faces), video_id
        np.testing.assert_array_equal(have.frame_indices, want.frame_indices)
        np.testing.assert_allclose(have.boxes, want.boxes, atol=1.0)
        assert (have.label, have.split) == (want.label, want.split)
    failures = {k: f.reason for k, f in face_store(tmp_path / "beam.h5").failures().items()}
    assert failures == {k: f.reason for k, f in face_store(tmp_path / "local.h5").failures().items()}
    assert "corrupt.mp4" in failures["t/corrupt"] and "no face" in failures["t/noface"]
    assert face_store(tmp_path / "beam.h5").file_attrs()["settings"] == CONFIG.to_dict()
    assert not (tmp_path / "beam.h5.parts").exists()  # all merged
    # Beam counters agree with the cache
    assert counters["videos_done"] == 3 and counters["videos_failed"] == 2
    assert counters["faces"] == local.faces and counters["video_ms_count"] == 5
    assert counters["worker_setup_ms"] >= 0 and "merge_ms" in counters
    # a rerun skips every finished and failed video and runs no pipeline
    again, counters = run_beam_extract(videos, tmp_path / "beam.h5", CONFIG)
    assert (again.skipped, again.done, again.failed, counters) == (5, 0, 0, {})


class LostOnFirstAttempt(ExtractVideoFn):
    """Stages the video, then dies before the bundle completes (a worker lost after writing)
    -- once per video; later attempts pass."""

    def __init__(self, cache_path, settings, marks):
        super().__init__(cache_path, settings)
        self.marks = marks

    def process(self, record):
        outputs = list(super().process(record))
        mark = Path(self.marks) / record.video_id.replace("/", "_")
        if not mark.exists():
            mark.touch()
            raise RuntimeError(f"worker lost after staging {record.video_id}")
        yield from outputs


def test_faults_after_staging_still_give_each_video_once(videos, tmp_path):
    # The Python DirectRunner does not retry a failed bundle: the pipeline fails. What a run
    # finished is merged anyway, and rerunning the same command resumes; runners that retry
    # bundles (Dataflow, Flink) rewrite the same per-video part, tested below.
    marks = tmp_path / "marks"
    marks.mkdir()
    good = videos[:2]
    dofn = lambda cache, settings: LostOnFirstAttempt(cache, settings, str(marks))  # noqa: E731
    runs = 0
    while True:
        runs += 1
        assert runs <= len(good) + 1
        try:
            summary, _ = run_beam_extract(good, tmp_path / "f.h5", CONFIG, dofn=dofn)
            break
        except Exception as error:
            assert "worker lost after staging" in str(error)
    assert runs > 1  # the fault did fire
    assert summary.done + summary.skipped == len(good)
    assert sorted(_groups(tmp_path / "f.h5")) == ["t/a", "t/b"]  # each exactly once
    assert face_store(tmp_path / "f.h5").failures() == {}


def test_a_retried_bundle_overwrites_its_part(videos, tmp_path):
    cache = tmp_path / "f.h5"
    fn = ExtractVideoFn(str(cache), CONFIG.to_dict())
    fn.setup()
    for _ in range(2):  # the same video in a bundle and in its retry
        list(fn.process(videos[0]))
    list(fn.process(videos[4]))  # a failure, retried too
    list(fn.process(videos[4]))
    assert len(list((tmp_path / "f.h5.parts").iterdir())) == 2
    face_store(cache, CONFIG).commit()
    assert _groups(cache) == ["t/a"]
    assert list(face_store(cache).failures()) == ["t/corrupt"]


def test_beam_refuses_a_moved_or_changed_file_like_extract(tmp_path):
    """Issue 22 item 3 on the Beam path: a file moved from real/ to fake/ and re-indexed was
    extracted again under its new id beside its old row (one file, both labels)."""
    from tfdeepfake.cache.sources import SourceChangedError
    from tfdeepfake.datasets import build_index

    root = tmp_path / "d"
    (root / "real").mkdir(parents=True)
    for name in ("a.mp4", "b.mp4"):
        write_face_video(root / "real" / name, num_frames=4)
    cache = tmp_path / "f.h5"
    run_beam_extract(build_index("folders", root).records, cache, CONFIG)
    (root / "fake").mkdir()
    (root / "real" / "a.mp4").rename(root / "fake" / "a.mp4")
    write_face_video(root / "real" / "b.mp4", num_frames=6)  # and other contents
    records = build_index("folders", root).records
    with pytest.raises(SourceChangedError) as error:
        run_beam_extract(records, cache, CONFIG)
    assert ("d/fake/a: same file as cached d/real/a, path real/a.mp4 -> fake/a.mp4, label 0 -> 1"
            in str(error.value))
    assert "d/real/b: file contents (size" in str(error.value)
    assert sorted(_groups(cache)) == ["d/real/a", "d/real/b"]
    summary, counters = run_beam_extract(records, cache, CONFIG, reextract_changed=True)
    assert (summary.done, counters["videos_done"], len(summary.reextracted)) == (2, 2, 2)
    assert {v.video_id: (v.label, v.num_sampled) for v in iter_face_videos(cache)} == {
        "d/fake/a": (1, 4), "d/real/b": (0, 4)}
    again, counters = run_beam_extract(records, cache, CONFIG)
    assert (again.skipped, counters) == (2, {})


def test_beam_arguments():
    assert beam_arguments("direct", 2) == ["--runner=DirectRunner", "--direct_num_workers=2",
                                           "--direct_running_mode=multi_processing"]
    args = beam_arguments("flink", 1, ["flink_master=localhost:8081", "environment_type=LOOPBACK"])
    assert args == ["--runner=FlinkRunner", "--flink_master=localhost:8081",
                    "--environment_type=LOOPBACK"]
    assert beam_arguments("dataflow", 1, ["save_main_session"])[-1] == "--save_main_session"
    with pytest.raises(ValueError, match="unknown runner"):
        beam_arguments("yarn")
    with pytest.raises(ValueError, match="KEY=VALUE"):
        beam_arguments("direct", 1, ["=x"])
    assert pipeline_options("flink", 1, ["flink_master=h:1"]).get_all_options()["flink_master"] == "h:1"
    with pytest.raises(ValueError, match="unknown Beam pipeline option.*--flink_mastr=h:1"):
        pipeline_options("flink", 1, ["flink_mastr=h:1"])


@pytest.mark.slow
def test_two_direct_workers_give_the_same_faces(videos, tmp_path):
    summary, counters = run_beam_extract(videos, tmp_path / "two.h5", CONFIG, workers=2)
    assert (summary.done, summary.failed, counters["videos_done"]) == (3, 2, 3)
    assert sorted(_groups(tmp_path / "two.h5")) == ["t/a", "t/b", "t/c"]


@pytest.mark.slow  # 1080p decoding: ~20 s idle, over a minute on the shared machine
@pytest.mark.shared_data
def test_beam_equals_extract_on_real_footage(shared_data_dir, tmp_path):
    root = shared_data_dir / "videos" / "dfdc"
    records = [make_record(root, path, label, "test", "dfdc") for path, label in
               [("real/knqhpwoigk.mp4", 0), ("fake/brtujopkby.mp4", 1)]]  # landscape, portrait
    config = FaceSettings(num_frames=3, size=64)
    local = run_extract(records, tmp_path / "local.h5", config)
    summary, _ = run_beam_extract(records, tmp_path / "beam.h5", config)
    assert (summary.done, summary.faces) == (local.done, local.faces) == (2, 6)
    want = {v.video_id: v for v in iter_face_videos(tmp_path / "local.h5")}
    for video in iter_face_videos(tmp_path / "beam.h5"):
        np.testing.assert_array_equal(video.frame_indices, want[video.video_id].frame_indices)
        np.testing.assert_allclose(video.boxes, want[video.video_id].boxes, atol=1.0)
