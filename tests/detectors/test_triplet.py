"""The triplet detector on small synthetic embedding caches: training keeps the best epoch,
scores held-out videos, saves and reloads identically, refuses bad model folders."""

import dataclasses
import json
import math
import shutil

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score
from tensorflow import keras

from tfdeepfake.cache.embeddings import EmbeddingTable, embedding_store
from tfdeepfake.detectors import ModelFolderError, TrainOptions, detector_class, load_detector
from tfdeepfake.detectors.triplet import TripletDetector
from tfdeepfake.detectors.triplet_training import (
    COLLAPSE_HINT,
    EmbeddingCollapseError,
    EmbeddingCollapseMonitor,
    TripletTrainingConfig,
    check_embedding_collapse,
    train_triplet_head,
)
from tfdeepfake.faces.settings import FaceSettings
from tfdeepfake.models.facenet import FaceNetIdentity
from tfdeepfake.models.triplet_head import build_triplet_head

DIM = 128  # FaceNet 20170512-110547's embedding size
IDENTITY = FaceNetIdentity(model="20170512-110547", random_init=True, seed=7, weights_sha256=None,
                           probe=(0.1, -0.2, 0.3, 0.05, 0.0, -0.1, 0.2, 0.01))
TINY = TripletTrainingConfig(learning_rate=1e-2, epochs=4, batch_size=16, hidden_units=(32,),
                             embedding_dim=8, frames_per_video=2, steps_per_epoch=4)


def write_cache(path, identity=IDENTITY, people=(10, 0, 4), frames=5, seed=0):
    """Celeb-DF-shaped ids: per person a real clip and a fake targeting them; each frame a
    unit vector near its class centre plus a per-person offset. ``people``: train, val, test."""
    rng = np.random.RandomState(seed)
    centres = {0: rng.normal(size=DIM), 1: rng.normal(size=DIM)}
    store = embedding_store(path, {"facenet": identity.to_dict(),
                                   "face_settings": FaceSettings().to_dict()})
    person = 0
    for split, count in zip(("train", "val", "test"), people):
        for _ in range(count):
            offset = rng.normal(scale=0.7, size=DIM)
            for label, name in ((0, f"Celeb-real/id{person}_0000"),
                                (1, f"Celeb-synthesis/id{person}_id{person + 1}_0000")):
                x = centres[label] + offset + rng.normal(scale=1.0, size=(frames, DIM))
                x /= np.linalg.norm(x, axis=1, keepdims=True)
                store.stage_video(f"celebdf-v2/{name}",
                                  {"embeddings": x.astype(np.float32),
                                   "frame_indices": np.arange(frames, dtype=np.int32)},
                                  {"label": label, "split": split, "dataset": "celebdf-v2"})
            person += 1
    store.commit()
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("triplet")
    cache = write_cache(root / "emb.h5")
    detector = TripletDetector.train(cache, root / "model", TINY,
                                     TrainOptions(val_fraction=0.3, seed=0, aggregation="median"),
                                     threshold_mode="validation")
    return root, cache, detector


def test_training_writes_a_model_folder_and_run_logs(trained):
    root, _, detector = trained
    meta = json.loads((root / "model" / "model.json").read_text())
    assert meta["detector"] == "triplet" and meta["format_version"] == 2
    assert meta["facenet"] == IDENTITY.to_dict()
    assert meta["classifiers"] == ["knn", "rf", "sgd"] and meta["default_classifier"] == "rf"
    assert meta["head"] == {"input_dim": DIM, "hidden_units": [32], "embedding_dim": 8,
                            "dropout": 0.0, "weights": "head.weights.h5"}
    assert all(0.0 <= t <= 1.0 for t in meta["thresholds"].values())
    assert meta["threshold"] == meta["thresholds"]["rf"] == detector.threshold()
    assert meta["aggregation"] == "median" == detector.aggregation
    # identity groups held out whole; the test split is never read
    assert "identity group" in meta["data"]["validation"]
    videos = meta["data"]["train"]["videos"], meta["data"]["val"]["videos"]
    assert sum(videos[0].values()) + sum(videos[1].values()) == 20 and sum(videos[1].values()) > 0
    assert set(meta["training"]["validation_metrics"]) == {"knn", "rf", "sgd"}
    assert meta["training"]["monitor"] == "val_loss"
    run = root / "model" / "run"
    assert (run / "history.csv").read_text().startswith("epoch")
    assert any((run / "tensorboard").rglob("events.out.tfevents.*"))
    record = json.loads((run / "triplet_head.json").read_text())
    assert record["best_epoch"] == meta["training"]["best_epoch"]
    assert record["collapsed"] is False and record["seed"] == 0


def test_held_out_videos_are_separated(trained):
    _, cache, detector = trained
    scores = detector.split_scores(cache, "test")
    assert set(scores) == {"knn", "rf", "sgd"}
    for name, s in scores.items():
        ids, labels, probs = s.video_scores()
        assert len(ids) == 8 and s.level == "frame" and s.aggregation == "median"
        assert roc_auc_score(labels, probs) >= 0.9, name


def test_save_load_gives_the_same_scores(trained):
    root, cache, detector = trained
    loaded = load_detector(root / "model")
    assert isinstance(loaded, TripletDetector) and loaded.variants == ("knn", "rf", "sgd")
    x = np.random.RandomState(1).normal(size=(6, DIM)).astype(np.float32)
    for name in loaded.variants:
        np.testing.assert_array_equal(loaded.score_embeddings(x, name),
                                      detector.score_embeddings(x, name))
        np.testing.assert_array_equal(loaded.split_scores(cache, "test")[name].probabilities,
                                      detector.split_scores(cache, "test")[name].probabilities)
    np.testing.assert_array_equal(loaded.score_embeddings(x), loaded.score_embeddings(x, "rf"))
    with pytest.raises(ValueError, match="no classifier 'svm'"):
        loaded.score_embeddings(x, "svm")


def test_registry_and_class_attributes():
    assert detector_class("triplet") is TripletDetector
    assert TripletDetector.source_kind == "embeddings"
    assert TripletDetector.config_class is TripletTrainingConfig


def test_a_cache_of_another_facenet_is_refused(trained, tmp_path):
    _, _, detector = trained
    other = dataclasses.replace(IDENTITY, seed=8)
    cache = write_cache(tmp_path / "other.h5", identity=other, people=(0, 0, 2))
    with pytest.raises(ValueError, match=r"RANDOM INIT, seed 8.*RANDOM INIT, seed 7"):
        detector.split_scores(cache, "test")


def test_a_model_of_another_facenet_key_is_refused(trained, tmp_path):
    """A model trained on FaceNet 20170512-110547 refuses 20180402-114759's embedder even
    with the same seed and probe recorded (only the key differs), and a model.json that
    names the other key under its 128-d head is refused too."""
    from tfdeepfake.models.facenet import FaceNetEmbedder

    other = dataclasses.replace(IDENTITY, model="20180402-114759")
    with pytest.raises(ValueError, match=r"20180402-114759.*trained on FaceNet 20170512-110547.*"
                                         r"model is '20180402-114759', recorded '20170512-110547'"):
        load_detector(trained[0] / "model", embedder=FaceNetEmbedder(None, other))
    folder = _broken_copy(trained, tmp_path, lambda m, f: m["facenet"].update(model=other.model))
    with pytest.raises(ModelFolderError, match=r"'input_dim' is 128, but FaceNet 20180402-114759 "
                                               r"\(RANDOM INIT, seed 7\) gives 512-d"):
        load_detector(folder)


def _broken_copy(trained, tmp_path, edit):
    root = trained[0]
    folder = tmp_path / "model"
    shutil.copytree(root / "model", folder, ignore=shutil.ignore_patterns("run"))
    meta = json.loads((folder / "model.json").read_text())
    edit(meta, folder)
    (folder / "model.json").write_text(json.dumps(meta))
    return folder


def _set_symlinked_rf(meta, folder):
    outside = folder.parent / "elsewhere"
    shutil.move(str(folder / "classifiers" / "rf"), outside)
    (folder / "classifiers" / "rf").symlink_to(outside, target_is_directory=True)


@pytest.mark.parametrize("edit, key", [
    (lambda m, f: m["head"].update(input_dim="128"), "'head.input_dim' should be an integer in 1..4096"),
    (lambda m, f: m.pop("default_classifier"), "'default_classifier' is missing"),
    (lambda m, f: m.update(classifiers=["knn", "../../x"]), "'classifiers[1]' should be one of"),
    (lambda m, f: m["thresholds"].update(rf="0.5"), "'thresholds.rf' should be a number in [0, 1]"),
    (lambda m, f: m["facenet"].pop("probe"), "'facenet': FaceNet identity: missing key 'probe'"),
    (lambda m, f: m["head"].update(weights="../head.weights.h5"), "points outside"),
    (_set_symlinked_rf, "points outside"),
])
def test_a_bad_model_json_is_one_clear_error(trained, tmp_path, edit, key):
    folder = _broken_copy(trained, tmp_path, edit)
    with pytest.raises(ModelFolderError) as info:
        load_detector(folder)
    message = str(info.value)
    assert key in message and "model.json" in message and "\n" not in message


def test_keep_best_returns_the_best_epoch_when_validation_loss_rises(tmp_path):
    """Training classes differ along dims 0 and 1 in one way, validation classes in the
    other, so the head that separates training videos pulls validation classes together:
    validation loss rises after epoch 1. (tf-keras 2.15's EarlyStopping, which the old
    code relied on, would keep epoch 4: see test_base.py.)"""
    train = _table(seed=2)
    val = _table(seed=12, crossed=True)
    snapshots = []

    class Snapshot(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            snapshots.append(self.model.get_weights())

    config = dataclasses.replace(TINY, epochs=4, patience=10)
    result = train_triplet_head(train, val, config, seed=2, run_dir=tmp_path,
                                callbacks=[Snapshot()])
    val_loss = result.history["val_loss"]
    assert int(np.argmin(val_loss)) == 0 and val_loss[-1] > val_loss[0], val_loss
    assert result.best_epoch == 1 and result.epochs_run == 4
    for got, best in zip(result.model.get_weights(), snapshots[0]):
        np.testing.assert_array_equal(got, best)
    assert any(not np.array_equal(b, last) for b, last in zip(snapshots[0], snapshots[-1]))


def _table(seed, crossed=False, videos=6, frames=5, sep=2.0):
    rng = np.random.RandomState(seed)
    emb, labels, ids = [], [], []
    for label in (0, 1):
        sign = 1.0 if label else -1.0
        for v in range(videos):
            centre = rng.normal(scale=0.15, size=DIM)
            centre[0] += sign * sep
            centre[1] += (sign if crossed else -sign) * sep
            emb.append(centre + 0.02 * rng.normal(size=(frames, DIM)))
            labels += [label] * frames
            ids += [f"{seed}/{label}/{v}"] * frames
    n = len(labels)
    return EmbeddingTable(np.concatenate(emb).astype(np.float32), np.asarray(labels),
                          np.asarray(ids), np.zeros(n, int), np.full(n, "train"))


def test_training_on_constant_inputs_stops_with_the_hint(tmp_path):
    train = _table(seed=0)
    train.embeddings[:] = 1.0  # every frame identical: nothing to learn
    with pytest.raises(EmbeddingCollapseError) as info:
        train_triplet_head(train, None, dataclasses.replace(TINY, epochs=3), seed=0,
                           run_dir=tmp_path)
    assert COLLAPSE_HINT in str(info.value)
    assert json.loads((tmp_path / "triplet_head.json").read_text())["collapsed"] is True


def test_check_embedding_collapse():
    assert check_embedding_collapse(np.eye(3)) is None
    assert "equal within" in check_embedding_collapse(np.ones((4, 3)) / math.sqrt(3))
    assert "NaN" in check_embedding_collapse(np.array([[np.nan, 0.0], [0.0, 1.0]]))


def test_collapse_monitor_stops_on_nan_loss():
    model = build_triplet_head(input_dim=4, hidden_units=(4,), embedding_dim=3)
    monitor = EmbeddingCollapseMonitor(np.eye(4, dtype=np.float32))
    monitor.set_model(model)
    monitor.on_train_batch_end(0, {"loss": 0.5})
    assert not monitor.collapsed
    monitor.on_train_batch_end(1, {"loss": float("nan")})
    assert monitor.collapsed and model.stop_training and "nan" in monitor.reason


def test_config_defaults_are_the_posters():
    config = TripletTrainingConfig()
    assert (config.learning_rate, config.epochs, config.batch_size, config.margin) == (3e-4, 50, 32, 1.0)
    assert config.hidden_units == (256, 256, 128) and config.embedding_dim == 64
    assert TripletTrainingConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="unknown config keys"):
        TripletTrainingConfig.from_dict({"lr": 1})


def test_bad_training_options_are_refused_before_any_work(tmp_path):
    with pytest.raises(ValueError, match="threshold mode"):
        TripletDetector.train(tmp_path / "none.h5", tmp_path / "m", threshold_mode="best")
    with pytest.raises(ValueError, match="unknown classifier"):
        TripletDetector.train(tmp_path / "none.h5", tmp_path / "m", classifiers=("svm",))
    with pytest.raises(ValueError, match="default classifier 'rf'"):
        TripletDetector.train(tmp_path / "none.h5", tmp_path / "m", classifiers=("knn",))
    with pytest.raises(FileNotFoundError, match="none.h5: no embedding cache"):
        TripletDetector.train(tmp_path / "none.h5", tmp_path / "m")
    old = embedding_store(tmp_path / "old.h5", {"model": "20180402-114759", "random_init": True})
    old.stage_video("d/v", {"embeddings": np.zeros((1, DIM), np.float32)},
                    {"label": 0, "split": "train", "dataset": "d"})
    old.commit()
    with pytest.raises(ValueError, match="old.h5: .* no 'face_settings'.*tfdeepfake embed"):
        TripletDetector.train(tmp_path / "old.h5", tmp_path / "m")
    assert not (tmp_path / "m").exists()  # refused before the model folder was started


def test_faces_are_scored_through_the_recorded_facenet(trained, tmp_path):
    """The embedder is built lazily from model.json's identity (probe-checked) and faces
    score as their embeddings do."""
    from tfdeepfake.models.facenet import load_facenet

    embedder = load_facenet("20170512-110547", random_init=True, seed=0)
    folder = _broken_copy(trained, tmp_path,
                          lambda m, f: m.update(facenet=embedder.identity.to_dict()))
    detector = load_detector(folder)
    assert detector._embedder is None  # nothing built until faces are scored
    faces = np.random.RandomState(0).randint(0, 256, (3, 160, 160, 3)).astype(np.uint8)
    probs = detector.score_faces(faces, "sgd")
    np.testing.assert_allclose(probs, detector.score_embeddings(embedder.embed(faces), "sgd"),
                               atol=1e-6)
    assert detector.embedder.identity.matches(embedder.identity) is None
    video = detector.score_video(faces, "sgd")
    assert video == pytest.approx(float(np.median(probs)))
    assert detector.score_faces(faces[:0]).shape == (0,)
    # a prebuilt embedder of another identity is refused
    with pytest.raises(ValueError, match="trained on FaceNet 20170512-110547"):
        load_detector(trained[0] / "model", embedder=embedder)
