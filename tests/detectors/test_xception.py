"""The xception detector on small face caches: trains into a model folder, separates
bright (fake) from dark (real) faces, reloads with identical scores, explains with Grad-CAM,
refuses the wrong cache and broken folders.

Most tests swap Keras' Xception for a tiny network with the same contract (input ``image``,
output ``fake_probability``, a last convolution for Grad-CAM): the detector's logic does not
depend on the trunk, and the real trunk costs minutes on 2 cores. One test (slow) runs it.
"""

import json
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import cv2
import numpy as np
import pytest
from sklearn.metrics import roc_auc_score
from tensorflow import keras

from tests.media import write_face_video
from tfdeepfake.cache.embeddings import embedding_store
from tfdeepfake.cache.faces import face_store
from tfdeepfake.detectors import ModelFolderError, TrainOptions, detector_class, load_detector
from tfdeepfake.detectors.xception import XceptionDetector, cap_frames, scan_face_cache
from tfdeepfake.detectors.base import VideoRow
from tfdeepfake.faces.settings import FaceSettings
from tfdeepfake.models import xception as xception_models
from tfdeepfake.models.train_baselines import XceptionTrainingConfig

SIZE = 32
FRAMES = 4
TINY = XceptionTrainingConfig(input_size=SIZE, epochs=4, batch_size=8, optimizer="adam",
                              learning_rate=0.01, tensorboard=False, shuffle_buffer=64)


def tiny_classifier(input_size=SIZE, weights=None, dropout=0.5, seed=0, verify_hash=True):
    """``build_xception_classifier``'s contract on a tiny conv net."""
    image = keras.Input((input_size, input_size, 3), name="image")
    x = keras.layers.Rescaling(1 / 127.5, offset=-1, name="xception_preprocess")(image)
    x = keras.layers.Conv2D(4, 3, strides=2, activation="relu", name="last_conv",
                            kernel_initializer=keras.initializers.GlorotUniform(seed=seed))(x)
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    x = keras.layers.Dropout(dropout, seed=seed, name="head_dropout")(x)
    out = keras.layers.Dense(1, activation="sigmoid", name="fake_probability",
                             kernel_initializer=keras.initializers.GlorotUniform(seed=seed))(x)
    return keras.Model(image, out, name="xception_classifier")


def write_face_cache(path, counts=(("train", 4, 4), ("test", 3, 3)), frames=FRAMES, size=SIZE,
                     seed=0, ids=None):
    """Dark noisy faces are real, bright ones fake; ``ids`` maps (split, i) to a video id."""
    rng = np.random.default_rng(seed)
    store = face_store(path, FaceSettings(size=size, num_frames=frames))
    for split, n_real, n_fake in counts:
        for i, label in enumerate([0] * n_real + [1] * n_fake):
            base = 60 if label == 0 else 180
            faces = np.clip(rng.normal(base, 20, (frames, size, size, 3)), 0, 255).astype(np.uint8)
            video_id = ids(split, i, label) if ids else f"toy/{split}_{i}"
            store.stage_video(
                video_id,
                {"faces": faces, "frame_indices": np.arange(frames, dtype=np.int32),
                 "sampled_indices": np.arange(frames, dtype=np.int32),
                 "boxes": np.tile(np.float32([10, 10, 60, 60]), (frames, 1)),
                 "keypoints": np.zeros((frames, 5, 2), np.float32),
                 "confidences": np.ones(frames, np.float32)},
                {"label": label, "split": split, "dataset": "toy", "source": ""})
    store.commit()
    return path


@pytest.fixture(scope="module")
def tiny_xception():
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(xception_models, "build_xception_classifier", tiny_classifier)
        yield


@pytest.fixture(scope="module")
def trained(tiny_xception, tmp_path_factory):
    root = tmp_path_factory.mktemp("xception")
    cache = write_face_cache(root / "faces.h5")
    options = TrainOptions(val_fraction=0.25, seed=1, aggregation="median")
    detector = XceptionDetector.train(cache, root / "model", TINY, options)
    return root, cache, detector


def test_registry_and_class_attributes():
    assert detector_class("xception") is XceptionDetector
    assert XceptionDetector.source_kind == "faces"
    assert XceptionDetector.config_class is XceptionTrainingConfig


def test_model_folder(trained):
    root, cache, detector = trained
    folder = root / "model"
    for name in ("model.json", "model.weights.h5", "run/history.csv", "run/config.json"):
        assert (folder / name).is_file(), name
    assert not list(folder.glob("*_best.h5"))  # one weights file, no stray checkpoint
    meta = json.loads((folder / "model.json").read_text())
    assert meta["detector"] == "xception" and meta["format_version"] == 2
    assert meta["input_size"] == SIZE and meta["weights"] == "model.weights.h5"
    assert meta["weights_source"]["init"] == "random" and meta["facenet"] is None
    assert meta["face_settings"] == FaceSettings(size=SIZE, num_frames=FRAMES).to_dict()
    assert meta["threshold"] == 0.5 and meta["aggregation"] == "median" and meta["seed"] == 1
    training = meta["training"]
    assert training["config"]["learning_rate"] == 0.01 and training["epochs_run"] == 4
    assert training["strategy"] == {"name": "default", "class": "_DefaultDistributionStrategy",
                                    "num_replicas": 1}
    # The saved weights are the best epoch's by validation loss, which is recorded.
    val_loss = training["history"]["val_loss"]
    assert training["monitor"] == "val_loss"
    assert training["best_epoch"] == int(np.argmin(val_loss)) + 1
    # Validation: held-out train videos (one per class here), never the test split.
    data = meta["data"]
    assert data["validation"].startswith("0.25 of the train videos")
    assert data["val"]["videos"] == {"real": 1, "fake": 1}
    assert data["train"]["videos"] == {"real": 3, "fake": 3}
    assert data["train"]["frames"] == {"real": 3 * FRAMES, "fake": 3 * FRAMES}
    assert detector.describe()["input_size"] == SIZE


def test_separates_bright_fakes_from_dark_reals(trained):
    _, cache, detector = trained
    scores = detector.split_scores(cache, "test")["xception"]
    assert scores.level == "frame" and len(scores.probabilities) == 6 * FRAMES
    assert scores.aggregation == "median" and scores.threshold == 0.5
    ids, labels, probs = scores.video_scores()
    assert sorted(ids) == sorted(f"toy/test_{i}" for i in range(6))
    assert roc_auc_score(labels, probs) >= 0.9
    assert np.mean((probs >= 0.5) == labels) >= 5 / 6
    frame_accuracy = np.mean((scores.probabilities >= 0.5) == scores.labels)
    assert frame_accuracy >= 0.8


def test_reload_gives_identical_scores(trained):
    root, cache, detector = trained
    loaded = load_detector(root / "model")
    assert isinstance(loaded, XceptionDetector) and loaded is not detector
    faces = np.random.default_rng(3).integers(0, 256, (5, 48, 48, 3), dtype=np.uint8)  # resized
    np.testing.assert_allclose(loaded.score_faces(faces), detector.score_faces(faces), atol=1e-6)
    ours, theirs = loaded.split_scores(cache, "test")["xception"], detector.split_scores(cache, "test")["xception"]
    np.testing.assert_allclose(ours.probabilities, theirs.probabilities, atol=1e-6)
    np.testing.assert_array_equal(ours.video_ids, theirs.video_ids)
    # A video's score follows the model's aggregation rule (median here).
    probs = loaded.score_faces(faces)
    assert loaded.score_video(faces) == pytest.approx(float(np.median(probs)))


def test_split_scores_match_score_faces(trained):
    _, cache, detector = trained
    from tfdeepfake.cache.faces import iter_face_videos

    video = next(iter_face_videos(cache, splits=("test",)))
    scores = detector.split_scores(cache, "test")["xception"]
    rows = scores.video_ids == video.video_id
    np.testing.assert_allclose(scores.probabilities[rows], detector.score_faces(video.faces), atol=1e-6)


def test_explain_writes_gradcam_overlays(trained, tmp_path):
    root, _, detector = trained
    video = write_face_video(tmp_path / "face.mp4", num_frames=8)
    summary = detector.explain(video, tmp_path / "explain", num_frames=3)
    assert summary["frames_sampled"] == 3
    assert summary["faces_found"] == len(summary["overlays"]) >= 1
    for path in summary["overlays"] + [summary["grid"]]:
        assert Path(path).suffix == ".png" and cv2.imread(path) is not None
    assert cv2.imread(summary["overlays"][0]).shape == (SIZE, SIZE, 3)
    assert 0.0 <= summary["fake_probability"] <= 1.0 and summary["verdict"] in ("real", "fake")
    probs = [f["fake_probability"] for f in summary["frames"]]
    assert summary["fake_probability"] == pytest.approx(float(np.median(probs)))
    assert json.loads(Path(summary["json"]).read_text())["overlays"] == summary["overlays"]


def test_max_train_frames_keeps_whole_videos_balanced():
    rows = [VideoRow(f"v{i}", i % 2, "train", 10, f"v{i}") for i in range(20)]
    chosen = cap_frames(rows, {r.video_id for r in rows}, 60, seed=0)
    per_label = [sum(r.frames for r in rows if r.video_id in chosen and r.label == c) for c in (0, 1)]
    assert per_label == [30, 30]
    with pytest.raises(ValueError, match="max_train_frames"):
        cap_frames(rows, set(), 1, seed=0)


def test_max_train_frames_is_recorded(tiny_xception, tmp_path):
    cache = write_face_cache(tmp_path / "faces.h5", counts=(("train", 4, 4), ("val", 1, 1)))
    config = XceptionTrainingConfig(input_size=SIZE, epochs=1, batch_size=8, tensorboard=False,
                                    shuffle_buffer=16, early_stopping_patience=None)
    detector = XceptionDetector.train(cache, tmp_path / "m", config, max_train_frames=str(2 * FRAMES))  # as the CLI passes it
    data = detector.meta["data"]
    assert data["validation"] == "manifest val split"
    assert data["train"]["videos"] == {"real": 1, "fake": 1}
    assert data["train_available"]["videos"] == {"real": 4, "fake": 4}
    assert data["max_train_frames"] == 2 * FRAMES


def test_scan_groups_videos_by_identity(tmp_path):
    names = {0: "Celeb-real/id{}_0000", 1: "Celeb-synthesis/id{}_id9_0000"}
    cache = write_face_cache(tmp_path / "faces.h5", counts=(("train", 2, 2),),
                             ids=lambda split, i, label: "celebdf-v1/" + names[label].format(i % 2))
    rows, loaded = scan_face_cache(cache)
    groups = {r.video_id: r.group for r in rows}
    assert groups["celebdf-v1/Celeb-real/id0_0000"] == groups["celebdf-v1/Celeb-synthesis/id0_id9_0000"]
    assert groups["celebdf-v1/Celeb-real/id0_0000"] != groups["celebdf-v1/Celeb-real/id1_0000"]
    assert len(loaded) == 4 and all(r.frames == FRAMES for r in rows)


def test_errors_name_the_problem(tiny_xception, tmp_path):
    with pytest.raises(FileNotFoundError, match="tfdeepfake extract"):
        XceptionDetector.train(tmp_path / "missing.h5", tmp_path / "out", TINY)
    embeddings = embedding_store(tmp_path / "emb.h5", {"facenet": None})
    embeddings.stage_video("v", {"embeddings": np.zeros((1, 4), np.float32),
                                 "frame_indices": np.zeros(1, np.int32)}, {"label": 0, "split": "train"})
    embeddings.commit()
    with pytest.raises(ValueError, match="holds an embedding cache; the xception detector needs a face cache"):
        XceptionDetector.train(tmp_path / "emb.h5", tmp_path / "out", TINY)
    cache = write_face_cache(tmp_path / "faces.h5", counts=(("train", 3, 0), ("test", 1, 1)))
    with pytest.raises(ValueError, match="no fake training videos"):
        XceptionDetector.train(cache, tmp_path / "out", TINY)
    with pytest.raises(ValueError, match="unknown optimizer"):
        XceptionTrainingConfig(optimizer="rmsprop")


def test_broken_model_folders_are_refused(trained, tmp_path):
    root, _, _ = trained
    meta = json.loads((root / "model" / "model.json").read_text())
    for key, value, message in (("input_size", "big", "'input_size' should be an integer in 32..1024"),
                                ("weights", "../../elsewhere.h5", "outside the model folder"),
                                ("weights", "gone.weights.h5", "missing from the model folder")):
        folder = tmp_path / f"{key}-{len(message)}"
        folder.mkdir()
        (folder / "model.weights.h5").write_bytes((root / "model" / "model.weights.h5").read_bytes())
        (folder / "model.json").write_text(json.dumps({**meta, key: value}))
        with pytest.raises(ModelFolderError, match=message) as info:
            load_detector(folder)
        assert "model.json" in str(info.value) or "gone" in str(info.value)


@pytest.mark.slow
def test_real_xception_trains_saves_reloads_and_explains(tmp_path):
    """Keras' Xception at its smallest input, one epoch: the folder reloads identically and
    Grad-CAM reads its last convolution."""
    size = xception_models.XCEPTION_MIN_INPUT_SIZE
    cache = write_face_cache(tmp_path / "faces.h5", counts=(("train", 2, 2), ("test", 1, 1)),
                             frames=2, size=size)
    config = XceptionTrainingConfig(input_size=size, epochs=1, batch_size=4, tensorboard=False,
                                    shuffle_buffer=16)
    detector = XceptionDetector.train(cache, tmp_path / "m", config, TrainOptions(val_fraction=0))
    loaded = load_detector(tmp_path / "m")
    faces = np.random.default_rng(0).integers(0, 256, (2, size, size, 3), dtype=np.uint8)
    np.testing.assert_allclose(loaded.score_faces(faces), detector.score_faces(faces), atol=1e-5)
    assert loaded.model.get_layer(xception_models.XCEPTION_LAST_CONV_LAYER) is not None
    video = write_face_video(tmp_path / "v.mp4", num_frames=4)
    summary = loaded.explain(video, tmp_path / "cam", num_frames=2)
    assert len(summary["overlays"]) >= 1
