"""detect at scale on Beam (DirectRunner): the verdicts `VideoDetector.detect` gives, as
JSON Lines, one line per video, resumable."""

import functools
import json

import pytest

pytest.importorskip("apache_beam")

from tests.export.export_helpers import (  # noqa: E402
    mixed_video_faces,
    tiny_facenet,
    write_mixed_face_video,
    write_triplet_model,
)
from tfdeepfake.detect import VideoDetector  # noqa: E402
from tfdeepfake.faces.settings import FaceSettings  # noqa: E402
from tfdeepfake.scale.detect import run_beam_detect  # noqa: E402

SETTINGS = FaceSettings(num_frames=3)


def make_detector(model):
    from tfdeepfake.detectors import load_detector

    return VideoDetector(load_detector(model, embedder=tiny_facenet()))


def test_verdicts_as_json_lines_once_per_video(tmp_path):
    video = write_mixed_face_video(tmp_path / "mixed.mp4")
    faces, labels = mixed_video_faces(video, SETTINGS)
    model = write_triplet_model(tmp_path / "model", tiny_facenet(), faces, labels,
                                settings=SETTINGS, threshold=0.3)
    (tmp_path / "bad.mp4").write_bytes(b"")
    paths = [video, tmp_path / "bad.mp4"]
    factory = functools.partial(make_detector, model)
    counts, counters = run_beam_detect(paths, tmp_path / "v.jsonl", factory)
    assert counts == {"videos": 2, "done": 2, "skipped": 0, "verdicts": 1, "unknown": 1}
    rows = {r["path"]: r for r in map(json.loads, (tmp_path / "v.jsonl").read_text().splitlines())}
    assert set(rows) == {str(p) for p in paths}
    want = factory().detect(video).to_dict()
    got = rows[str(video)]
    assert (got["verdict"], got["faces_found"]) == (want["verdict"], want["faces_found"])
    assert got["fake_probability"] == pytest.approx(want["fake_probability"], abs=1e-5)
    assert rows[str(tmp_path / "bad.mp4")]["verdict"] == "unknown"
    assert counters["videos_unknown"] == 1 and counters["faces"] == want["faces_found"]
    again, counters = run_beam_detect(paths, tmp_path / "v.jsonl", factory)
    # The judged video is skipped; the unknown one is scored again, its line replaced.
    assert (again["skipped"], again["done"], counters["videos_unknown"]) == (1, 1, 1)
    assert len((tmp_path / "v.jsonl").read_text().splitlines()) == 2
