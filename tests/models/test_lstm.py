import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest
from tensorflow import keras

from tfdeepfake.models.lstm import build_lstm_classifier, is_sequence_model
from tfdeepfake.models.xception import make_optimizer
from tfdeepfake.pipelines.sequences import SequenceArrays, make_sequence_dataset

T, D = 6, 5


@pytest.fixture(scope="module")
def model():
    return build_lstm_classifier(num_frames=T, feature_dim=D, units=8, dropout=0.3, seed=0)


def _predict(model, features, mask):
    return model.predict_on_batch({"features": features, "mask": mask})


def test_inputs_outputs_and_names(model):
    assert set(model.input_names) == {"features", "mask"}
    assert is_sequence_model(model)
    assert [layer.name for layer in model.layers][-3:] == ["lstm", "head_dropout", "fake_probability"]
    features = np.random.default_rng(0).normal(size=(3, T, D)).astype(np.float32)
    probs = _predict(model, features, np.ones((3, T), bool))
    assert probs.shape == (3, 1)
    assert np.all((probs > 0) & (probs < 1))


def test_masked_frames_do_not_change_the_output(model):
    rng = np.random.default_rng(1)
    features = rng.normal(size=(2, T, D)).astype(np.float32)
    mask = np.array([[1, 1, 1, 0, 0, 0], [1, 0, 1, 1, 0, 1]], bool)
    before = _predict(model, features, mask)
    changed = features.copy()
    changed[~mask] = rng.normal(scale=100.0, size=changed[~mask].shape)
    np.testing.assert_allclose(_predict(model, changed, mask), before, rtol=1e-6, atol=1e-7)
    # ...while changing an unmasked frame does
    changed[0, 0] += 5.0
    assert not np.allclose(_predict(model, changed, mask)[0], before[0])


def test_packed_sequence_equals_sequence_with_holes(model):
    frames = np.random.default_rng(2).normal(size=(3, D)).astype(np.float32)
    holes = np.zeros((1, T, D), np.float32)
    holes[0, [0, 2, 5]] = frames
    packed = np.zeros((1, T, D), np.float32)
    packed[0, :3] = frames
    np.testing.assert_allclose(
        _predict(model, holes, np.array([[1, 0, 1, 0, 0, 1]], bool)),
        _predict(model, packed, np.array([[1, 1, 1, 0, 0, 0]], bool)),
        rtol=1e-5,
    )


def test_training_lowers_the_loss():
    rng = np.random.default_rng(3)
    labels = np.array([0, 1] * 8)
    features = rng.normal(size=(16, T, D)).astype(np.float32)
    features[:, :, 0] += np.where(labels == 1, 2.0, -2.0)[:, None]
    arrays = SequenceArrays(features, np.ones((16, T), bool), labels, [f"v{i}" for i in range(16)])
    model = build_lstm_classifier(T, D, units=8, seed=0)
    model.compile(make_optimizer("adam", 1e-2), loss="binary_crossentropy")
    history = model.fit(make_sequence_dataset(arrays, batch_size=8, seed=0), epochs=5, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]


def test_weights_round_trip(model, tmp_path):
    path = tmp_path / "lstm.h5"
    model.save_weights(str(path))
    other = build_lstm_classifier(T, D, units=8, seed=9)
    other.load_weights(str(path))
    features = np.random.default_rng(4).normal(size=(2, T, D)).astype(np.float32)
    mask = np.array([[1] * T, [1, 1, 0, 0, 0, 0]], bool)
    np.testing.assert_array_equal(_predict(other, features, mask), _predict(model, features, mask))


def test_bad_options():
    with pytest.raises(ValueError):
        build_lstm_classifier(num_frames=0)
    with pytest.raises(ValueError, match="dropout"):
        build_lstm_classifier(dropout=1.5)


def test_default_is_xception_features_over_25_frames():
    model = build_lstm_classifier()
    assert model.get_layer("features").output.shape[1:] == (25, 2048)
    assert model.get_layer("mask").output.shape[1:] == (25,)
    facenet = build_lstm_classifier(feature_dim=512)
    assert facenet.get_layer("features").output.shape[1:] == (25, 512)
    assert not is_sequence_model(keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)]))
