import dataclasses
import json
import logging
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest
from tensorflow import keras

from tests.media import toy_face_video
from tfdeepfake.models import train_baselines
from tfdeepfake.models.lstm import build_lstm_classifier
from tfdeepfake.models.train_baselines import (
    LSTMTrainingConfig,
    XceptionTrainingConfig,
    predict_video_scores,
    train_lstm,
    train_xception,
)
from tfdeepfake.pipelines.sequences import compute_sequence_features




def toy_videos(n_real, n_fake, frames=3, size=16, split="train", seed=0):
    """Dark noisy faces are real, bright noisy faces are fake."""
    rng = np.random.default_rng(seed)
    videos = []
    for i, label in enumerate([0] * n_real + [1] * n_fake):
        base = 40 if label == 0 else 200
        faces = np.clip(rng.normal(base, 15, size=(frames, size, size, 3)), 0, 255).astype(np.uint8)
        videos.append(toy_face_video(f"toy/{split}_{i}", label, split, faces, np.arange(frames), frames))
    return videos


def tiny_frame_classifier(input_size, weights=None, dropout=0.5, seed=0):
    """Stands in for build_xception_classifier: same input/output contract, tiny."""
    image = keras.Input((input_size, input_size, 3), name="image")
    x = keras.layers.Rescaling(1 / 127.5, offset=-1)(image)
    x = keras.layers.Conv2D(4, 3, strides=2, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    x = keras.layers.Dropout(dropout, seed=seed)(x)
    out = keras.layers.Dense(1, activation="sigmoid", name="fake_probability")(x)
    return keras.Model(image, out)


def tiny_extractor(size=16):
    image = keras.Input((size, size, 3))
    x = keras.layers.Rescaling(1 / 255.0)(image)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(image, keras.layers.Dense(6, name="features")(x), name="tiny_extractor")


def test_poster_defaults_and_frozen():
    xception, lstm = XceptionTrainingConfig(), LSTMTrainingConfig()
    assert (xception.learning_rate, xception.epochs, xception.batch_size) == (0.05, 30, 64)
    assert (lstm.learning_rate, lstm.epochs, lstm.batch_size) == (0.01, 30, 64)
    assert xception.optimizer == lstm.optimizer == "sgd" and xception.momentum == 0.9
    assert xception.input_size == 299 and lstm.num_frames == 25
    with pytest.raises(dataclasses.FrozenInstanceError):
        xception.learning_rate = 0.1
    assert json.loads(json.dumps(xception.to_dict()))["learning_rate"] == 0.05


def test_train_xception_writes_run_files_and_scores_videos(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(train_baselines, "build_xception_classifier", tiny_frame_classifier)
    train = toy_videos(2, 5)
    val = toy_videos(2, 2, split="val", seed=1)
    config = XceptionTrainingConfig(input_size=16, epochs=3, batch_size=4, optimizer="adam",
                                    learning_rate=0.01, shuffle_buffer=16)
    result = train_xception(train, val, config, tmp_path / "run")
    assert len(result.history["loss"]) == 3 and "val_auc" in result.history
    for name in ("config.json", "history.csv", "xception_best.h5", "tensorboard"):
        assert (tmp_path / "run" / name).exists(), name
    record = json.loads((tmp_path / "run" / "config.json").read_text())
    assert record["seed"] == 0 and record["config"]["input_size"] == 16
    assert "tensorflow" in record["versions"]

    faceless = toy_face_video("toy/none", 1, "val", np.zeros((0, 16, 16, 3), np.uint8), np.zeros(0, int), 3)
    with caplog.at_level(logging.WARNING):
        ids, probs, labels = predict_video_scores(result.model, val + [faceless], batch_size=3,
                                                  return_labels=True)
    assert "toy/none" in caplog.text
    assert ids == [v.video_id for v in val]
    np.testing.assert_array_equal(labels, [v.label for v in val])
    assert probs.shape == (4,) and np.all((probs >= 0) & (probs <= 1))
    # the video score is the mean of its frame probabilities
    frames = val[0].faces.astype(np.float32)
    np.testing.assert_allclose(probs[0], result.model.predict_on_batch(frames).mean(), rtol=1e-5)

    reloaded = tiny_frame_classifier(16)
    reloaded.load_weights(str(result.best_weights_path))


def test_train_lstm_from_videos_then_score(tmp_path):
    # Training from ready SequenceArrays runs in test_strategy's mirrored subprocess.
    train = toy_videos(3, 6, frames=4)
    val = toy_videos(2, 2, frames=2, split="val", seed=1)
    extractor = tiny_extractor()
    config = LSTMTrainingConfig(num_frames=4, units=4, epochs=1, batch_size=4, tensorboard=False,
                                optimizer="adam", learning_rate=0.01)
    result = train_lstm(train, val, config, tmp_path / "lstm", feature_extractor=extractor)
    assert len(result.history["loss"]) == 1 and "val_loss" in result.history
    record = json.loads((tmp_path / "lstm" / "config.json").read_text())
    assert record["feature_dim"] == 6 and record["feature_extractor"] == "tiny_extractor"
    assert (tmp_path / "lstm" / "history.csv").exists()

    fresh = build_lstm_classifier(4, 6, units=4)
    fresh.load_weights(str(result.best_weights_path))
    for a, b in zip(fresh.get_weights(), result.model.get_weights()):
        np.testing.assert_array_equal(a, b)

    ids, probs = predict_video_scores(result.model, val, feature_extractor=extractor)
    assert ids == [v.video_id for v in val] and probs.shape == (4,)
    arrays = compute_sequence_features(val, extractor, num_frames=4)
    ids2, probs2, labels = predict_video_scores(result.model, arrays, return_labels=True)
    assert ids2 == ids
    np.testing.assert_array_equal(labels, [v.label for v in val])
    np.testing.assert_allclose(probs2, probs, rtol=1e-6)
    with pytest.raises(ValueError, match="feature_extractor"):
        predict_video_scores(result.model, val)


@pytest.mark.slow
def test_train_real_xception_end_to_end(tmp_path):
    train = toy_videos(2, 2, frames=2, size=32)
    config = XceptionTrainingConfig(input_size=71, epochs=1, batch_size=4, tensorboard=False)
    result = train_xception(train, None, config, tmp_path)
    ids, probs = predict_video_scores(result.model, train)
    assert len(ids) == 4 and probs.shape == (4,)
    assert result.model.get_layer("block14_sepconv2_act") is not None
