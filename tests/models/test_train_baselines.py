"""The baselines' Keras fit loops: poster defaults, run files, keep-best through the
callback the detectors pass, config validation."""

import dataclasses
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest
from tensorflow import keras

from tests.media import toy_face_video
from tfdeepfake.detectors.base import KeepBest
from tfdeepfake.models import xception as xception_models
from tfdeepfake.models.lstm import build_lstm_classifier
from tfdeepfake.models.train_baselines import (
    LSTMTrainingConfig,
    XceptionTrainingConfig,
    monitor_for,
    save_weights,
    train_lstm,
    train_xception,
)
from tfdeepfake.pipelines.sequences import SequenceArrays


def toy_videos(n_real, n_fake, frames=3, size=16, split="train", seed=0):
    """Dark noisy faces are real, bright noisy faces are fake."""
    rng = np.random.default_rng(seed)
    videos = []
    for i, label in enumerate([0] * n_real + [1] * n_fake):
        base = 40 if label == 0 else 200
        faces = np.clip(rng.normal(base, 15, size=(frames, size, size, 3)), 0, 255).astype(np.uint8)
        videos.append(toy_face_video(f"toy/{split}_{i}", label, split, faces, np.arange(frames), frames))
    return videos


def tiny_frame_classifier(input_size, weights=None, dropout=0.5, seed=0, verify_hash=True):
    """Stands in for build_xception_classifier: same input/output contract, tiny."""
    image = keras.Input((input_size, input_size, 3), name="image")
    x = keras.layers.Rescaling(1 / 127.5, offset=-1)(image)
    x = keras.layers.Conv2D(4, 3, strides=2, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    x = keras.layers.Dropout(dropout, seed=seed)(x)
    out = keras.layers.Dense(1, activation="sigmoid", name="fake_probability")(x)
    return keras.Model(image, out)


def sequences(n=16, t=4, d=3, seed=0, shift=2.0):
    rng = np.random.default_rng(seed)
    labels = np.array([0, 1] * (n // 2))
    features = rng.normal(size=(n, t, d)).astype(np.float32)
    features[:, :, 0] += np.where(labels == 1, shift, -shift)[:, None]
    return SequenceArrays(features, np.ones((n, t), bool), labels, [f"v{seed}_{i}" for i in range(n)])


class WeightsPerEpoch(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.weights = []

    def on_epoch_end(self, epoch, logs=None):
        self.weights.append(self.model.get_weights())


def test_poster_defaults_and_frozen():
    xception, lstm = XceptionTrainingConfig(), LSTMTrainingConfig()
    assert (xception.learning_rate, xception.epochs, xception.batch_size) == (0.05, 30, 64)
    assert (lstm.learning_rate, lstm.epochs, lstm.batch_size) == (0.01, 30, 64)
    assert xception.optimizer == lstm.optimizer == "sgd" and xception.momentum == 0.9
    assert xception.input_size == 299 and lstm.num_frames == 25
    assert "seed" not in xception.to_dict()  # the seed travels in TrainOptions
    with pytest.raises(dataclasses.FrozenInstanceError):
        xception.learning_rate = 0.1
    assert json.loads(json.dumps(xception.to_dict()))["learning_rate"] == 0.05


def test_bad_configs_name_the_valid_values():
    with pytest.raises(ValueError, match="sgd, adam"):
        XceptionTrainingConfig(optimizer="rmsprop")
    with pytest.raises(ValueError, match="oversample, weights, none"):
        LSTMTrainingConfig(balance="smote")
    with pytest.raises(ValueError, match="epochs"):
        LSTMTrainingConfig(epochs=0)
    with pytest.raises(ValueError, match="num_frames"):
        LSTMTrainingConfig(num_frames=0)


def test_train_xception_writes_run_files(tmp_path, monkeypatch):
    monkeypatch.setattr(xception_models, "build_xception_classifier", tiny_frame_classifier)
    config = XceptionTrainingConfig(input_size=16, epochs=2, batch_size=4, optimizer="adam",
                                    learning_rate=0.01, shuffle_buffer=16)
    result = train_xception(toy_videos(2, 5), toy_videos(2, 2, split="val", seed=1), config,
                            tmp_path / "run", seed=3)
    assert len(result.history["loss"]) == 2 and "val_auc" in result.history
    assert result.monitor == "val_loss" == monitor_for(True)
    for name in ("config.json", "history.csv", "tensorboard"):
        assert (tmp_path / "run" / name).exists(), name
    record = json.loads((tmp_path / "run" / "config.json").read_text())
    assert record["seed"] == 3 and record["config"]["input_size"] == 16
    assert record["num_replicas"] == 1 and "tensorflow" in record["versions"]
    assert not list((tmp_path / "run").glob("*.h5"))  # no checkpoint files: keep-best is in memory


def test_keep_best_callback_leaves_the_best_epochs_weights(tmp_path):
    """A run that never stops early still ends with the best validation epoch's weights."""
    train, val = sequences(seed=0), sequences(seed=1, shift=-2.0)  # val labels flipped: loss rises
    config = LSTMTrainingConfig(num_frames=4, units=4, epochs=4, batch_size=8, optimizer="adam",
                                learning_rate=0.05, tensorboard=False, early_stopping_patience=10)
    keep, seen = KeepBest("val_loss"), WeightsPerEpoch()
    result = train_lstm(train, val, config, tmp_path, callbacks=[seen, keep])
    losses = result.history["val_loss"]
    best = int(np.argmin(losses))
    assert keep.best_epoch == best + 1 and best < len(losses) - 1  # the last epoch was worse
    for ours, expected in zip(result.model.get_weights(), seen.weights[best]):
        np.testing.assert_array_equal(ours, expected)


def test_train_lstm_without_validation_monitors_the_training_loss(tmp_path):
    config = LSTMTrainingConfig(num_frames=4, units=4, epochs=3, batch_size=8, tensorboard=False,
                                optimizer="adam", learning_rate=0.01)
    result = train_lstm(sequences(), None, config, tmp_path / "lstm")
    assert result.monitor == "loss" and len(result.history["loss"]) == 3
    record = json.loads((tmp_path / "lstm" / "config.json").read_text())
    assert record["feature_dim"] == 3 and record["num_frames"] == 4


def test_save_weights_stores_the_model_without_its_optimizer(tmp_path):
    model = build_lstm_classifier(4, 3, units=4)
    model.compile(keras.optimizers.Adam(0.01), loss="binary_crossentropy")
    model.fit({"features": sequences().features, "mask": sequences().mask},
              sequences().labels.astype("float32"), epochs=1, verbose=0)
    path = save_weights(model, tmp_path / "model.weights.h5")
    fresh = build_lstm_classifier(4, 3, units=4, seed=9)
    fresh.load_weights(str(path))
    for ours, theirs in zip(fresh.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(ours, theirs)
    compiled = tmp_path / "compiled.weights.h5"
    model.save_weights(str(compiled))
    assert path.stat().st_size < compiled.stat().st_size
