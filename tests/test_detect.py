"""detect: one verdict per video; a bad video never stops the others."""

import json
from pathlib import Path

import numpy as np
import pytest

from tfdeepfake.bundle import save_bundle
from tfdeepfake.faces.settings import FaceSettings
from tfdeepfake.classifiers import make_classifier
from tfdeepfake.detect import DeepfakeDetector, expand_video_paths
from tests.media import write_blank_video, write_face_video


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory):
    from tfdeepfake.models.facenet import build_facenet_embedder
    from tfdeepfake.models.triplet_head import build_triplet_head

    root = tmp_path_factory.mktemp("bundle")
    embedder = build_facenet_embedder(random_init=True, seed=5)
    head = build_triplet_head(512, (16,), 8)
    rng = np.random.RandomState(0)
    x, y = rng.normal(size=(40, 8)), np.repeat([0, 1], 20)
    classifiers = {name: make_classifier(name).fit(x, y) for name in ("knn", "sgd", "rf")}
    return save_bundle(root / "model", extract_config=FaceSettings(num_frames=4), embedder=embedder,
                       head=head, head_config={"input_dim": 512, "hidden_units": [16], "embedding_dim": 8},
                       classifiers=classifiers, default_classifier="sgd")


@pytest.fixture(scope="module")
def detector(bundle_dir):
    return DeepfakeDetector(bundle_dir)


def test_a_face_video_gets_a_verdict_and_a_probability(tmp_path, detector):
    verdict = detector.detect(write_face_video(tmp_path / "face.mp4"))
    assert verdict.verdict in ("real", "fake")
    assert 0.0 <= verdict.fake_probability <= 1.0
    assert (verdict.frames_sampled, verdict.faces_found) == (4, 4)
    assert verdict.random_init_facenet is True and verdict.classifier == "sgd"
    assert verdict.verdict == ("fake" if verdict.fake_probability >= verdict.threshold else "real")


def test_the_video_score_is_the_mean_of_frame_scores(tmp_path, detector):
    from tfdeepfake.faces.pipeline import faces_of_video

    path = write_face_video(tmp_path / "face.mp4")
    arrays, _ = faces_of_video(path, detector.config, detector.detector)
    frame_probs = detector.score_faces(arrays["faces"])
    assert detector.detect(path).fake_probability == pytest.approx(float(np.mean(frame_probs)), abs=1e-6)


def test_no_face_and_unreadable_videos_are_unknown_with_a_reason(tmp_path, detector):
    blank = detector.detect(write_blank_video(tmp_path / "blank.mp4"))
    assert blank.verdict == "unknown" and "no face" in blank.reason and blank.fake_probability is None
    (tmp_path / "text.mp4").write_text("hello")
    broken = detector.detect(tmp_path / "text.mp4")
    assert broken.verdict == "unknown" and "text.mp4" in broken.reason


def test_cli_detect_over_a_folder_with_json(tmp_path, bundle_dir, capsys):
    from tfdeepfake.cli import main

    (tmp_path / "videos").mkdir()
    write_face_video(tmp_path / "videos" / "a.mp4")
    (tmp_path / "videos" / "b.mp4").write_bytes(b"")
    assert main(["detect", str(tmp_path / "videos"), "--model", str(bundle_dir), "--json"]) == 0
    results = json.loads(capsys.readouterr().out)
    assert [Path(r["path"]).name for r in results] == ["a.mp4", "b.mp4"]
    assert results[0]["verdict"] in ("real", "fake") and results[1]["verdict"] == "unknown"


def test_expand_video_paths_finds_videos_in_folders(tmp_path):
    (tmp_path / "d" / "sub").mkdir(parents=True)
    for name in ("d/x.mp4", "d/sub/y.AVI", "d/notes.txt"):
        (tmp_path / name).write_bytes(b"")
    found = [p.name for p in expand_video_paths([tmp_path / "d", tmp_path / "z.mp4"])]
    assert found == ["y.AVI", "x.mp4", "z.mp4"]
