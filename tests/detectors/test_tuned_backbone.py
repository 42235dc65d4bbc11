"""The poster's method on a fine-tuned ``sbi`` backbone (``train triplet --fakes sbi
--backbone``): the folder holds its backbone, scores survive a reload, evaluate reads a face
cache, exports keep parity, and a folder that lies about its backbone is refused."""

import json

import numpy as np
import pytest

from tests.detectors.test_self_blended import TINY, VIDEOS, write_cache
from tfdeepfake.cache.faces import iter_face_videos
from tfdeepfake.detectors import ModelFolderError, TrainOptions, load_detector
from tfdeepfake.detectors.self_blended import SelfBlendedDetector
from tfdeepfake.detectors.triplet import TripletDetector
from tfdeepfake.detectors.triplet_training import TripletTrainingConfig
from tfdeepfake.detectors.tuned_backbone import BACKBONE_DIR

HEAD = TripletTrainingConfig(epochs=2, batch_size=4, hidden_units=(8,), embedding_dim=4,
                             frames_per_video=2, steps_per_epoch=2)


@pytest.fixture(scope="module")
def tuned(tmp_path_factory):
    root = tmp_path_factory.mktemp("tuned")
    cache = write_cache(root / "faces.h5", VIDEOS)
    SelfBlendedDetector.train(cache, root / "sbi", TINY, TrainOptions(val_fraction=0.25, seed=2))
    detector = TripletDetector.train(cache, root / "triplet", HEAD, TrainOptions(val_fraction=0.0),
                                     classifiers=("knn", "sgd"), default_classifier="sgd",
                                     fakes="sbi", backbone=str(root / "sbi"))
    return root, cache, detector


def test_the_folder_holds_its_backbone_and_reloads_alone(tuned):
    root, cache, detector = tuned
    meta = detector.meta
    backbone = meta["backbone"]
    assert backbone["folder"] == BACKBONE_DIR and backbone["kind"] == "sbi"
    assert meta["head"]["input_dim"] == backbone["embedding_dim"]
    assert meta["training"]["fakes"] == "sbi" and meta["facenet"] is None  # tiny: no FaceNet
    assert meta["data"]["train"]["videos"] == {"real": 3, "fake": 3}
    assert (root / "triplet" / BACKBONE_DIR / "model.json").is_file()
    assert not (root / "triplet" / BACKBONE_DIR / "run").exists()  # the weights, not the run
    faces = np.concatenate([v.faces for v in iter_face_videos(cache)])
    probs = detector.score_faces(faces)
    assert probs.shape == (len(faces),) and ((probs >= 0) & (probs <= 1)).all()
    # The sbi folder it came from can go: the model keeps its own copy.
    (root / "sbi" / "model.json").rename(root / "sbi" / "moved.json")
    try:
        again = load_detector(root / "triplet")
        np.testing.assert_allclose(again.score_faces(faces), probs, atol=1e-6)
        # Features are the fine-tuned network's, unit length, as FaceNet's embeddings are.
        features = again.embedder.embed(faces[:4])
        np.testing.assert_allclose(np.linalg.norm(features, axis=1), 1.0, atol=1e-5)
    finally:
        (root / "sbi" / "moved.json").rename(root / "sbi" / "model.json")


def test_evaluate_reads_a_face_cache_through_the_backbone(tuned):
    _, cache, detector = tuned
    scores = detector.split_scores(cache, "test")
    assert set(scores) == {"knn", "sgd"}
    ids, labels, video_probs = scores["sgd"].video_scores()
    assert list(ids) == ["toy/fake/f", "toy/real/e"] and list(labels) == [1, 0]
    faces = next(iter_face_videos(cache, video_ids={"toy/real/e"})).faces
    assert video_probs[1] == pytest.approx(float(np.mean(detector.score_faces(faces, "sgd"))))


def test_exports_with_tflite_parity(tuned, tmp_path):
    from tfdeepfake.export.from_model import export_model
    from tfdeepfake.lite.detector import open_export

    root, cache, detector = tuned
    export_model(root / "triplet", tmp_path / "out", formats=("tflite",),
                 tflite_variants=("float32",))
    faces = np.concatenate([v.faces for v in iter_face_videos(cache, splits=("test",))])
    lite = open_export(tmp_path / "out" / "tflite").score_faces(faces)
    np.testing.assert_allclose(lite, detector.score_faces(faces), atol=1e-4)


def test_refuses_a_backbone_without_sbi_fakes_and_a_folder_that_lies(tuned, tmp_path):
    root, cache, _ = tuned
    with pytest.raises(ValueError, match="--fakes sbi"):
        TripletDetector.train(cache, tmp_path / "x", HEAD, backbone=str(root / "sbi"))
    with pytest.raises(ModelFolderError, match="a triplet model; a backbone must be an sbi"):
        TripletDetector.train(cache, tmp_path / "y", HEAD, fakes="sbi",
                              backbone=str(root / "triplet"))
    meta_path = root / "triplet" / "model.json"
    original = meta_path.read_text()
    try:
        meta = json.loads(original)
        meta["backbone"]["folder"] = "../sbi"
        meta_path.write_text(json.dumps(meta))
        with pytest.raises(ModelFolderError, match="points outside the model folder"):
            load_detector(root / "triplet")
        meta["backbone"]["folder"] = BACKBONE_DIR
        meta["backbone"]["embedding_dim"] += 1
        meta_path.write_text(json.dumps(meta))
        with pytest.raises(ModelFolderError, match="input_dim"):
            load_detector(root / "triplet")
    finally:
        meta_path.write_text(original)


def test_the_evaluate_command_on_a_face_cache(tuned, tmp_path):
    from tfdeepfake.cli import main

    root, cache, _ = tuned
    assert main(["evaluate", "--model", str(root / "triplet"), "--source", str(cache),
                 "--split", "test", "-o", str(tmp_path / "eval")]) == 0
    results = json.loads((tmp_path / "eval" / "results.json").read_text())
    assert set(results["variants"]) == {"knn", "sgd"}
    # The scatter of the head's input (backbone features) and output, read from the face cache.
    assert (tmp_path / "eval" / "embeddings_before_after.png").is_file()


def test_detect_and_the_model_card_name_the_backbone(tuned):
    _, _, detector = tuned
    assert detector.facenet_label == "SBI-fine-tuned backbone (from no FaceNet)"
    from tfdeepfake.export.from_model import model_card

    assert model_card(detector, "sgd")["model"].startswith(
        "tfdeepfake triplet: SBI-fine-tuned backbone (from no FaceNet) + semi-hard")
