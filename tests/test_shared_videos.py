"""Integration on real dataset footage (FF++ c23 and DFDC samples in ../shared/data/videos).

Skips cleanly where that folder is absent (a user's clone does not have it)."""

import numpy as np
import pytest

from tfdeepfake.cache.extract import run_extract
from tfdeepfake.cache.faces import iter_face_videos
from tfdeepfake.faces.settings import FaceSettings
from tfdeepfake.datasets import build_index

pytestmark = pytest.mark.shared_data


@pytest.fixture(scope="module")
def shared_records(shared_data_dir):
    records = []
    for name in ("ffpp_c23", "dfdc"):
        records += build_index("folders", shared_data_dir / "videos" / name, dataset=name).records
    return records


@pytest.fixture(scope="module")
def shared_faces(shared_records, tmp_path_factory):
    path = tmp_path_factory.mktemp("shared") / "faces.h5"
    summary = run_extract(shared_records, path, FaceSettings(num_frames=5))
    return path, summary


def test_every_shared_video_is_extracted_with_faces(shared_records, shared_faces):
    _, summary = shared_faces
    assert len(shared_records) == 12
    assert summary.failed == 0, summary.failures
    assert summary.faces >= 0.98 * summary.frames


def test_labels_and_portrait_geometry(shared_faces):
    path, _ = shared_faces
    videos = {v.video_id: v for v in iter_face_videos(path)}
    assert {v.label for k, v in videos.items() if "/real/" in k} == {0}
    assert {v.label for k, v in videos.items() if "/fake/" in k} == {1}
    portrait = videos["dfdc/fake/brtujopkby"]
    assert (portrait.attrs["width"], portrait.attrs["height"]) == (1080, 1920)
    # an upright face in a portrait frame: boxes inside the frame, taller than wide
    boxes = portrait.boxes
    assert (boxes[:, 2] <= 1080 + 1).all() and (boxes[:, 3] <= 1920 + 1).all()
    assert np.median((boxes[:, 3] - boxes[:, 1]) / (boxes[:, 2] - boxes[:, 0])) > 1.0
    keypoints = portrait.keypoints
    assert (keypoints[:, 0, 1] < keypoints[:, 3, 1]).all()  # eyes above the mouth: upright


def test_detect_answers_for_real_footage(shared_data_dir, tmp_path):
    from tests.export.export_helpers import (
        mixed_video_faces,
        tiny_facenet,
        write_mixed_face_video,
        write_triplet_model,
    )
    from tfdeepfake.detect import VideoDetector
    from tfdeepfake.detectors import load_detector

    embedder = tiny_facenet()
    faces, labels = mixed_video_faces(write_mixed_face_video(tmp_path / "mixed.mp4"),
                                      FaceSettings(num_frames=5))
    model = write_triplet_model(tmp_path / "model", embedder, faces, labels, settings=FaceSettings(),
                                default="sgd")
    detector = VideoDetector(load_detector(model, embedder=embedder))
    videos = shared_data_dir / "videos"
    for target in (videos / "dfdc/fake/brtujopkby.mp4", videos / "ffpp_c23/real/original_youtube_c23_519.mp4"):
        result = detector.detect(target)
        assert result.verdict in ("real", "fake"), result
        assert result.faces_found == result.frames_sampled == 25, result
