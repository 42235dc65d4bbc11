"""Converting model folders of tfdeepfake < 0.2 (bundle.json / baseline.json) to model.json.

Old folders used the pretrained FaceNet, which CI does not have: a small stand-in embedder
(a fixed projection of the pixels, with a pretrained-looking identity) takes its place,
through ``tfdeepfake.models.facenet.load_facenet``.
"""

import hashlib
import json

import numpy as np
import pytest

from tfdeepfake.classifiers import make_classifier, save_classifier
from tfdeepfake.detectors import load_detector
from tfdeepfake.detectors.legacy import ConversionError, convert_model_folder
from tfdeepfake.faces.settings import FaceSettings
from tfdeepfake.models.facenet import FaceNetIdentity
from tfdeepfake.models.triplet_head import build_triplet_head

KEY = "20180402-114759"  # the only FaceNet tfdeepfake < 0.2 knew (512-d)
SIZE = 160


class StandInFaceNet:
    """Faces -> unit vectors through a fixed random projection of their first pixels."""

    input_size = SIZE
    embedding_dim = 512

    def __init__(self, seed=0):
        self.matrix = np.random.RandomState(seed).normal(size=(96, 512)).astype(np.float32)
        self.identity = FaceNetIdentity(model=KEY, random_init=False, seed=None,
                                        weights_sha256="ab" * 32, probe=(0.25, -0.5, 0.125))

    def embed(self, faces, batch_size=32):
        x = np.asarray(faces, np.float32).reshape(len(faces), -1)[:, :96] / 255.0 - 0.5
        out = x @ self.matrix
        return (out / np.linalg.norm(out, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture
def facenet(monkeypatch):
    stand_in = StandInFaceNet()
    monkeypatch.setattr("tfdeepfake.models.facenet.load_facenet",
                        lambda model=None, weights_path=None, **kwargs: stand_in)
    return stand_in


def _old_probe(embedder):
    """tfdeepfake 0.1's bundle.embedder_probe, as it was written."""
    faces = np.random.RandomState(1234).randint(0, 256, (2, SIZE, SIZE, 3)).astype(np.uint8)
    return [round(float(v), 5) for v in embedder.embed(faces)[:, :8].ravel()]


def write_bundle(folder, embedder, random_init=False):
    """A format-1 triplet bundle laid out as tfdeepfake 0.1's save_bundle wrote it."""
    folder.mkdir(parents=True)
    head = build_triplet_head(input_dim=512, hidden_units=(16,), embedding_dim=8, seed=3)
    head.save_weights(str(folder / "head.weights.h5"))
    rng = np.random.RandomState(0)
    faces = rng.randint(0, 256, (40, SIZE, SIZE, 3)).astype(np.uint8)
    outputs = head.predict(embedder.embed(faces), verbose=0)
    labels = (outputs[:, 0] > np.median(outputs[:, 0])).astype(int)
    classifiers = {"knn": make_classifier("knn", k=3).fit(outputs, labels),
                   "sgd": make_classifier("sgd").fit(outputs, labels)}
    for name, clf in classifiers.items():
        save_classifier(folder / "classifiers" / name, clf)
    meta = {
        "format_version": 1, "name": folder.name, "created": "2024-05-01T10:00:00+0000",
        "extract": FaceSettings().to_dict(),
        "embedder": {"model": KEY, "input_size": SIZE, "random_init": random_init,
                     "seed": 0 if random_init else None,
                     "weights_sha256": None if random_init else "8b71e7045497e841c00ee568f031d1a4"
                                                                "d30908fceadf6884aef2dec4d545202b",
                     "probe": _old_probe(embedder)},
        "head": {"input_dim": 512, "hidden_units": [16], "embedding_dim": 8, "dropout": 0.0},
        "classifiers": ["knn", "sgd"], "default_classifier": "sgd",
        "thresholds": {"knn": 0.5, "sgd": 0.4}, "aggregation": "max",
        "labels": {"0": "real", "1": "fake"}, "versions": {"tensorflow": "2.15.1"},
        "training": {"config": {"epochs": 50, "seed": 3}, "threshold_mode": "validation",
                     "data": {"train": {"train": {"videos": 10}}}, "validation_metrics": {}},
    }
    (folder / "bundle.json").write_text(json.dumps(meta))
    return head, classifiers


def test_a_bundle_converts_and_scores_as_before(tmp_path, facenet):
    folder = tmp_path / "cdf2"
    head, classifiers = write_bundle(folder, facenet)
    path = convert_model_folder(folder)
    assert path == folder / "model.json" and (folder / "bundle.json").is_file()
    meta = json.loads(path.read_text())
    assert meta["detector"] == "triplet" and meta["format_version"] == 2
    assert meta["facenet"] == facenet.identity.to_dict()
    assert meta["seed"] == 3 and meta["threshold"] == 0.4 and meta["aggregation"] == "max"
    assert meta["converted"]["from"] == "bundle.json"

    detector = load_detector(folder)
    faces = np.random.RandomState(5).randint(0, 256, (6, SIZE, SIZE, 3)).astype(np.uint8)
    old_outputs = head.predict(facenet.embed(faces), verbose=0)
    for name, clf in classifiers.items():
        expected = clf.predict_proba_fake(old_outputs)
        np.testing.assert_allclose(detector.score_faces(faces, name), expected, atol=1e-6)
        assert detector.score_video(faces, name) == pytest.approx(expected.max())
    assert detector.default_variant == "sgd" and detector.threshold() == 0.4
    # converting again changes nothing
    before = path.read_text()
    assert convert_model_folder(folder) == path and path.read_text() == before


def test_a_bundle_of_other_facenet_weights_is_refused(tmp_path, facenet):
    folder = tmp_path / "m"
    write_bundle(folder, StandInFaceNet(seed=1))  # probe of a different network
    with pytest.raises(ConversionError, match=r"bundle.json: the FaceNet .* are not the ones"):
        convert_model_folder(folder)
    assert not (folder / "model.json").exists()


def test_a_random_init_bundle_is_refused_with_advice(tmp_path, facenet):
    folder = tmp_path / "m"
    write_bundle(folder, facenet, random_init=True)
    with pytest.raises(ConversionError, match="RANDOMLY INITIALISED.*retrain"):
        convert_model_folder(folder)
    assert not (folder / "model.json").exists()


def test_not_an_old_folder(tmp_path):
    with pytest.raises(ConversionError, match="neither bundle.json nor baseline.json"):
        convert_model_folder(tmp_path)
    (tmp_path / "bundle.json").write_text(json.dumps({"format_version": 7}))
    with pytest.raises(ConversionError, match="'format_version' is 7"):
        convert_model_folder(tmp_path)


def test_an_lstm_over_facenet_baseline_converts(tmp_path, facenet):
    from tfdeepfake.cache.embeddings import embedding_store
    from tfdeepfake.models.lstm import build_lstm_classifier
    from tfdeepfake.models.train_baselines import save_weights

    cache = tmp_path / "emb.h5"  # an old embedding cache: the face settings live there
    settings = FaceSettings(margin=0.3).to_dict()
    store = embedding_store(cache, {"model": KEY, "random_init": False, "seed": None,
                                    "weights_sha256": "x", "face_settings": settings})
    store.stage_video("d/v", {"embeddings": np.zeros((1, 512), np.float32),
                              "frame_indices": np.zeros(1, np.int32)},
                      {"label": 0, "split": "train", "dataset": "d"})
    store.commit()
    weights = tmp_path / "facenet.h5"
    weights.write_bytes(b"stand-in weights")
    folder = tmp_path / "lstm"
    folder.mkdir()
    model = build_lstm_classifier(4, 512, units=8, dropout=0.0, seed=1)
    save_weights(model, folder / "model.weights.h5")
    old = {"format_version": 1, "kind": "lstm", "features": "facenet", "seed": 1,
           "training": {"units": 8, "dropout": 0.0, "learning_rate": 0.01, "seed": 1},
           "num_frames": 4, "feature_dim": 512, "source": str(cache), "threshold": 0.5,
           "aggregation": "mean", "epochs_run": 3, "best_epoch": 2,
           "embedder": {"model": KEY, "random_init": False, "seed": None,
                        "weights_sha256": hashlib.sha256(b"stand-in weights").hexdigest()},
           "data": {"train": {}}}
    (folder / "baseline.json").write_text(json.dumps(old))
    meta = json.loads(convert_model_folder(folder, facenet_weights=weights).read_text())
    assert meta["detector"] == "lstm" and meta["features"] == "facenet"
    assert meta["facenet"] == facenet.identity.to_dict()
    assert meta["face_settings"]["margin"] == 0.3 and meta["weights"] == "model.weights.h5"
    detector = load_detector(folder)
    x = {"features": np.random.RandomState(0).normal(size=(2, 4, 512)).astype(np.float32),
         "mask": np.ones((2, 4), bool)}
    np.testing.assert_allclose(detector.model.predict(x, verbose=0), model.predict(x, verbose=0),
                               atol=1e-6)

    # another weights file than the one the LSTM's embeddings came from
    (folder / "model.json").unlink()
    weights.write_bytes(b"other weights")
    with pytest.raises(ConversionError, match="has sha256"):
        convert_model_folder(folder, facenet_weights=weights)


@pytest.mark.slow
def test_an_xception_baseline_converts(tmp_path):
    from tfdeepfake.models.train_baselines import save_weights
    from tfdeepfake.models.xception import build_xception_classifier

    folder = tmp_path / "xc"
    folder.mkdir()
    model = build_xception_classifier(71, weights=None, dropout=0.5)
    save_weights(model, folder / "model.weights.h5")
    old = {"format_version": 1, "kind": "xception", "seed": 0, "input_size": 71,
           "training": {"dropout": 0.5, "learning_rate": 0.05, "seed": 0},
           "face_settings": FaceSettings(size=71).to_dict(), "threshold": 0.5,
           "aggregation": "mean", "weights_source": {"init": "random", "path": None, "md5": None},
           "source": "faces.h5", "data": {}}
    (folder / "baseline.json").write_text(json.dumps(old))
    convert_model_folder(folder)
    detector = load_detector(folder)
    faces = np.random.RandomState(0).randint(0, 256, (2, 71, 71, 3)).astype(np.uint8)
    np.testing.assert_allclose(detector.model.predict(faces, verbose=0),
                               model.predict(faces, verbose=0), atol=1e-6)
