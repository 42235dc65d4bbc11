"""Integration on real dataset footage (FF++ c23 and DFDC samples in ../shared/data/videos).

Skips cleanly where that folder is absent (a user's clone does not have it)."""

import json

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


def test_detect_answers_for_real_footage(shared_data_dir, tmp_path, capsys):
    from tfdeepfake.cli import main

    videos = shared_data_dir / "videos"
    bundle = _random_bundle(tmp_path)
    targets = [videos / "dfdc/fake/brtujopkby.mp4", videos / "ffpp_c23/real/original_youtube_c23_519.mp4"]
    assert main(["detect", *map(str, targets), "--model", str(bundle), "--json"]) == 0
    results = json.loads(capsys.readouterr().out)
    assert [r["verdict"] in ("real", "fake") for r in results] == [True, True]
    assert all(r["faces_found"] == r["frames_sampled"] == 25 for r in results)


def _random_bundle(tmp_path):
    from tfdeepfake.bundle import save_bundle
    from tfdeepfake.classifiers import make_classifier
    from tfdeepfake.models.facenet import build_facenet_embedder
    from tfdeepfake.models.triplet_head import build_triplet_head

    rng = np.random.RandomState(0)
    x, y = rng.normal(size=(40, 8)), np.repeat([0, 1], 20)
    return save_bundle(tmp_path / "model", extract_config=FaceSettings(),
                       embedder=build_facenet_embedder(random_init=True, seed=1),
                       head=build_triplet_head(512, (16,), 8),
                       head_config={"input_dim": 512, "hidden_units": [16], "embedding_dim": 8},
                       classifiers={"sgd": make_classifier("sgd").fit(x, y)}, default_classifier="sgd")
