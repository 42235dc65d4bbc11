"""The lstm detector over Xception features (face cache, extractor saved beside) and over
FaceNet embeddings (embedding cache, identity recorded and enforced): trains on separable
videos, reloads with identical scores, scores one video the way the split path does.

The Xception feature extractor is swapped for a tiny one with the same contract (RGB 0..255
in, one vector per face out); tests/models/test_xception.py covers the real one.
"""

import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score
from tensorflow import keras

from tfdeepfake.cache.embeddings import embedding_store
from tfdeepfake.cache.faces import face_store, iter_face_videos
from tfdeepfake.detectors import ModelFolderError, TrainOptions, detector_class, load_detector
from tfdeepfake.detectors.lstm import LSTMDetector
from tfdeepfake.faces.settings import FaceSettings
from tfdeepfake.models import xception as xception_models
from tfdeepfake.models.facenet import FaceNetIdentity
from tfdeepfake.models.train_baselines import LSTMTrainingConfig

SIZE = 32
FRAMES = 4
FEATURES = 6
DIM = 128  # FaceNet 20170512-110547's embedding size
IDENTITY = FaceNetIdentity(model="20170512-110547", random_init=True, seed=7, weights_sha256=None,
                           probe=(0.1, -0.2, 0.3, 0.05, 0.0, -0.1, 0.2, 0.01))
OTHER = FaceNetIdentity(model="20170512-110547", random_init=True, seed=8, weights_sha256=None,
                        probe=(0.3, 0.2, 0.1, 0.0, 0.0, 0.1, 0.2, 0.3))
TINY = LSTMTrainingConfig(num_frames=FRAMES, units=8, epochs=6, batch_size=4, optimizer="adam",
                          learning_rate=0.02, tensorboard=False, extractor_input_size=SIZE)


def tiny_features(input_size=SIZE, weights=None, verify_hash=True):
    """``build_xception_features``' contract on a tiny net: mean brightness drives it."""
    image = keras.Input((input_size, input_size, 3), name="image")
    x = keras.layers.Rescaling(1 / 127.5, offset=-1)(image)
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    out = keras.layers.Dense(FEATURES, name="features",
                             kernel_initializer=keras.initializers.GlorotUniform(seed=3))(x)
    return keras.Model(image, out, name="xception_features")


def write_face_cache(path, counts, frames=FRAMES, seed=0):
    """Dark noisy faces are real, bright ones fake."""
    rng = np.random.default_rng(seed)
    store = face_store(path, FaceSettings(size=SIZE, num_frames=frames))
    for split, n_real, n_fake in counts:
        for i, label in enumerate([0] * n_real + [1] * n_fake):
            faces = np.clip(rng.normal(60 + 120 * label, 20, (frames, SIZE, SIZE, 3)), 0, 255)
            store.stage_video(f"toy/{split}_{i}",
                              {"faces": faces.astype(np.uint8),
                               "frame_indices": np.arange(frames, dtype=np.int32),
                               "sampled_indices": np.arange(frames, dtype=np.int32),
                               "boxes": np.zeros((frames, 4), np.float32),
                               "keypoints": np.zeros((frames, 5, 2), np.float32),
                               "confidences": np.ones(frames, np.float32)},
                              {"label": label, "split": split, "dataset": "toy"})
    store.commit()
    return path


def write_embedding_cache(path, identity=IDENTITY, frames=FRAMES, seed=0, shuffle_frames=False):
    """Per video ``frames`` unit vectors near a class centre; Celeb-DF-shaped ids."""
    rng, shuffler = np.random.default_rng(seed), np.random.default_rng(seed + 1)
    centres = {0: rng.normal(size=DIM), 1: rng.normal(size=DIM)}
    store = embedding_store(path, {"facenet": identity.to_dict(),
                                   "face_settings": FaceSettings().to_dict()})
    person = 0
    for split, count in (("train", 6), ("val", 2), ("test", 3)):
        for _ in range(count):
            for label, name in ((0, f"Celeb-real/id{person}_0000"),
                                (1, f"Celeb-synthesis/id{person}_id{person + 1}_0000")):
                x = centres[label] + rng.normal(scale=0.8, size=(frames, DIM))
                x /= np.linalg.norm(x, axis=1, keepdims=True)
                order = shuffler.permutation(frames) if shuffle_frames else np.arange(frames)
                store.stage_video(f"celebdf-v1/{name}",
                                  {"embeddings": x[order].astype(np.float32),
                                   "frame_indices": order.astype(np.int32)},
                                  {"label": label, "split": split, "dataset": "celebdf-v1",
                                   "source": ""})
            person += 1
    store.commit()
    return path


@pytest.fixture(scope="module")
def tiny_extractor():
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(xception_models, "build_xception_features", tiny_features)
        yield


@pytest.fixture(scope="module")
def xception_lstm(tiny_extractor, tmp_path_factory):
    root = tmp_path_factory.mktemp("lstm-x")
    cache = write_face_cache(root / "faces.h5", counts=(("train", 5, 5), ("test", 3, 3)))
    detector = LSTMDetector.train(cache, root / "model", TINY, TrainOptions(val_fraction=0.2))
    return root, cache, detector


@pytest.fixture(scope="module")
def facenet_lstm(tmp_path_factory):
    root = tmp_path_factory.mktemp("lstm-f")
    cache = write_embedding_cache(root / "emb.h5")
    detector = LSTMDetector.train(cache, root / "model", TINY, features="facenet")
    return root, cache, detector


def test_registry_and_class_attributes():
    assert detector_class("lstm") is LSTMDetector
    assert LSTMDetector.source_kind == "faces" and LSTMDetector.config_class is LSTMTrainingConfig


def test_xception_features_folder_and_reload(xception_lstm):
    root, cache, detector = xception_lstm
    folder = root / "model"
    for name in ("model.json", "model.weights.h5", "extractor.weights.h5", "run/history.csv"):
        assert (folder / name).is_file(), name
    meta = json.loads((folder / "model.json").read_text())
    assert meta["detector"] == "lstm" and meta["features"] == "xception"
    assert (meta["num_frames"], meta["feature_dim"], meta["units"]) == (FRAMES, FEATURES, 8)
    assert meta["extractor"] == {"weights": "extractor.weights.h5", "input_size": SIZE,
                                 "weights_source": {"init": "random", "path": None, "md5": None}}
    assert meta["facenet"] is None and meta["data"]["val"]["videos"] == {"real": 1, "fake": 1}
    assert meta["training"]["best_epoch"] == int(np.argmin(meta["training"]["history"]["val_loss"])) + 1
    assert detector.source_kind == "faces" and not detector.frame_level

    loaded = load_detector(folder)
    assert isinstance(loaded, LSTMDetector) and loaded.extractor is not detector.extractor
    ours, theirs = loaded.split_scores(cache, "test")["lstm"], detector.split_scores(cache, "test")["lstm"]
    np.testing.assert_allclose(ours.probabilities, theirs.probabilities, atol=1e-6)
    faces = np.random.default_rng(0).integers(0, 256, (3, SIZE, SIZE, 3), dtype=np.uint8)
    assert loaded.score_video(faces) == pytest.approx(detector.score_video(faces), abs=1e-6)
    with pytest.raises(NotImplementedError):
        loaded.score_faces(faces)


def test_xception_features_separate_and_score_one_video_like_the_split(xception_lstm):
    _, cache, detector = xception_lstm
    scores = detector.split_scores(cache, "test")["lstm"]
    assert scores.level == "video" and len(scores.probabilities) == 6
    ids, labels, probs = scores.video_scores()
    assert roc_auc_score(labels, probs) >= 0.9
    assert np.mean((probs >= 0.5) == labels) >= 5 / 6
    video = next(iter_face_videos(cache, splits=("test",)))
    one = detector.score_video(video.faces)
    assert one == pytest.approx(float(probs[list(ids).index(video.video_id)]), abs=1e-6)


def test_facenet_features_record_the_identity(facenet_lstm):
    root, cache, detector = facenet_lstm
    meta = json.loads((root / "model" / "model.json").read_text())
    assert meta["features"] == "facenet" and meta["feature_dim"] == DIM
    assert meta["facenet"] == IDENTITY.to_dict() and meta["extractor"] is None
    assert meta["data"]["validation"] == "manifest val split"
    assert meta["data"]["train"]["videos"] == {"real": 6, "fake": 6}
    assert not (root / "model" / "extractor.weights.h5").exists()
    assert detector.source_kind == "embeddings" and detector.random_init_facenet


def test_facenet_features_separate_and_reload(facenet_lstm, tmp_path):
    root, cache, detector = facenet_lstm
    scores = detector.split_scores(cache, "test")["lstm"]
    _, labels, probs = scores.video_scores()
    assert len(probs) == 6 and roc_auc_score(labels, probs) >= 0.9
    loaded = load_detector(root / "model")
    np.testing.assert_allclose(loaded.split_scores(cache, "test")["lstm"].probabilities,
                               scores.probabilities, atol=1e-6)
    # Rows stored out of frame order are read in frame order: same scores.
    shuffled = write_embedding_cache(tmp_path / "shuffled.h5", shuffle_frames=True)
    plain = write_embedding_cache(tmp_path / "plain.h5")
    np.testing.assert_allclose(loaded.split_scores(shuffled, "test")["lstm"].probabilities,
                               loaded.split_scores(plain, "test")["lstm"].probabilities, atol=1e-6)


def test_facenet_lstm_refuses_a_foreign_identity_and_the_wrong_cache(facenet_lstm, xception_lstm, tmp_path):
    root, _, detector = facenet_lstm
    foreign = write_embedding_cache(tmp_path / "foreign.h5", identity=OTHER)
    with pytest.raises(ValueError, match="seed 8.*seed 7"):
        detector.split_scores(foreign, "test")
    _, face_cache, _ = xception_lstm
    with pytest.raises(ValueError, match="holds a face cache.*needs an embedding cache"):
        detector.split_scores(face_cache, "test")
    with pytest.raises(ValueError, match="needs a face cache"):
        LSTMDetector.train(foreign, tmp_path / "x", TINY, features="xception")
    with pytest.raises(ValueError, match="valid: xception, facenet"):
        LSTMDetector.train(foreign, tmp_path / "x", TINY, features="resnet")
    with pytest.raises(ValueError, match="unused with features='facenet'"):
        LSTMDetector.train(foreign, tmp_path / "x", TINY, features="facenet", weights="imagenet")


def test_facenet_lstm_embeds_faces_with_its_facenet(facenet_lstm):
    """score_video embeds the faces with the recorded FaceNet, resized to its input."""
    _, _, detector = facenet_lstm

    class FakeEmbedder:
        input_size = 160

        def __init__(self):
            self.seen = None

        def embed(self, faces, batch_size=32):
            self.seen = np.asarray(faces)
            return np.tile(np.linspace(-1, 1, DIM, dtype=np.float32), (len(faces), 1))

    fake = FakeEmbedder()
    detector._embedder = fake  # stands in for the built network (the probe check is facenet's)
    faces = np.full((2, 80, 80, 3), 100, np.uint8)
    probability = detector.score_video(faces)
    assert fake.seen.shape == (2, 160, 160, 3)
    features = np.zeros((1, FRAMES, DIM), np.float32)
    features[0, :2] = np.linspace(-1, 1, DIM)
    mask = np.array([[True, True] + [False] * (FRAMES - 2)])
    assert probability == pytest.approx(float(detector.score_sequences(features, mask)[0]))
    detector._embedder = None


def test_broken_model_folders_are_refused(facenet_lstm, tmp_path):
    root, _, _ = facenet_lstm
    meta = json.loads((root / "model" / "model.json").read_text())
    cases = (({"features": "resnet"}, "'features' should be one of xception, facenet, found 'resnet'"),
             ({"units": 2.5}, "'units' should be an integer in 1..4096"),
             ({"feature_dim": 64}, "'feature_dim' is 64"),
             ({"facenet": {**IDENTITY.to_dict(), "model": "nope"}}, "key 'facenet.model'"))
    for i, (change, message) in enumerate(cases):
        folder = tmp_path / str(i)
        folder.mkdir()
        (folder / "model.weights.h5").write_bytes((root / "model" / "model.weights.h5").read_bytes())
        (folder / "model.json").write_text(json.dumps({**meta, **change}))
        with pytest.raises(ModelFolderError, match=message):
            load_detector(folder)


@pytest.mark.slow
def test_facenet_lstm_builds_the_recorded_facenet(tmp_path):
    """A real (random-init) FaceNet: the detector rebuilds it from model.json, probe-checked,
    and a video's score is the LSTM over that network's embeddings of its faces."""
    from tfdeepfake.models.facenet import load_facenet

    embedder = load_facenet("20170512-110547", random_init=True, seed=3)
    cache = write_embedding_cache(tmp_path / "emb.h5", identity=embedder.identity)
    config = LSTMTrainingConfig(num_frames=FRAMES, units=4, epochs=1, batch_size=4, tensorboard=False)
    LSTMDetector.train(cache, tmp_path / "m", config, features="facenet")
    loaded = load_detector(tmp_path / "m")
    faces = np.random.default_rng(1).integers(0, 256, (3, 160, 160, 3), dtype=np.uint8)
    padded = np.zeros((1, FRAMES, DIM), np.float32)
    padded[0, :3] = embedder.embed(faces)
    mask = np.array([[True] * 3 + [False] * (FRAMES - 3)])
    expected = float(loaded.score_sequences(padded, mask)[0])
    assert loaded.score_video(faces) == pytest.approx(expected, abs=1e-5)
    assert loaded.embedder.identity.matches(embedder.identity) is None


def test_trains_under_a_mirrored_strategy(tmp_path):
    """Two logical CPU devices stand in for two GPUs; TensorFlow must split them before any
    op, so this runs in a fresh process."""
    import subprocess
    import sys
    import textwrap
    from pathlib import Path

    cache = write_embedding_cache(tmp_path / "emb.h5")
    script = textwrap.dedent(f"""
        import json
        from tfdeepfake.models.strategy import split_cpu_into_logical_devices
        split_cpu_into_logical_devices(2)
        from tfdeepfake.detectors import TrainOptions
        from tfdeepfake.detectors.lstm import LSTMDetector
        from tfdeepfake.models.train_baselines import LSTMTrainingConfig
        config = LSTMTrainingConfig(num_frames={FRAMES}, units=4, epochs=1, batch_size=4,
                                    tensorboard=False)
        detector = LSTMDetector.train({str(cache)!r}, {str(tmp_path / 'm')!r}, config,
                                      TrainOptions(strategy="mirrored"), features="facenet")
        print("RESULT" + json.dumps(detector.meta["training"]["strategy"]))
    """)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env,
                          cwd=Path(__file__).resolve().parents[2], timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(l for l in done.stdout.splitlines() if l.startswith("RESULT"))
    assert json.loads(line[len("RESULT"):]) == {"name": "mirrored", "class": "MirroredStrategy",
                                                "num_replicas": 2}
