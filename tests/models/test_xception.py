import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest
from tensorflow import keras

from tfdeepfake.models import xception
from tfdeepfake.models.xception import (
    XCEPTION_NOTOP_WEIGHTS,
    WeightsNotFoundError,
    build_xception_classifier,
    build_xception_features,
    make_optimizer,
)

SIZE = 71  # the smallest input Keras' Xception accepts


@pytest.fixture(scope="module")
def tiny_model():
    keras.utils.set_random_seed(0)
    return build_xception_classifier(SIZE, dropout=0.5, seed=0)


def test_forward_shape_and_range(tiny_model):
    images = np.random.default_rng(0).integers(0, 256, (3, SIZE, SIZE, 3), dtype=np.uint8)
    probs = tiny_model.predict_on_batch(images)
    assert probs.shape == (3, 1)
    assert np.all((probs > 0) & (probs < 1))
    # uint8 and float inputs of the same pixels agree
    np.testing.assert_allclose(tiny_model.predict_on_batch(images.astype(np.float32)), probs)


def test_fixed_layer_names(tiny_model):
    names = [layer.name for layer in tiny_model.layers]
    assert names[:2] == ["image", "xception_preprocess"]
    assert names[-3:] == ["avg_pool", "head_dropout", "fake_probability"]
    assert "block14_sepconv2_act" in names
    assert tiny_model.name == "xception_classifier"


def test_preprocessing_matches_keras_preprocess_input(tiny_model):
    images = np.random.default_rng(1).uniform(0, 255, (2, SIZE, SIZE, 3)).astype(np.float32)
    ours = tiny_model.get_layer("xception_preprocess")(images).numpy()
    expected = keras.applications.xception.preprocess_input(images.copy())
    np.testing.assert_allclose(ours, expected, atol=1e-6)


def test_training_steps_lower_the_loss():
    keras.utils.set_random_seed(1)
    model = build_xception_classifier(SIZE, dropout=0.0, seed=1)
    # Eager steps: tracing Xception's training graph alone takes ~17 s on 2 cores.
    model.compile(make_optimizer("adam", 1e-3), loss="binary_crossentropy", run_eagerly=True)
    # trivially separable: dark faces are real, bright faces are fake
    images = np.concatenate([np.full((2, SIZE, SIZE, 3), 30, np.uint8),
                             np.full((2, SIZE, SIZE, 3), 220, np.uint8)])
    labels = np.array([0, 0, 1, 1], np.float32)
    losses = [float(model.train_on_batch(images, labels)) for _ in range(2)]
    assert losses[-1] < losses[0]


def test_weights_round_trip_gives_identical_outputs(tiny_model, tmp_path):
    path = tmp_path / "xception.h5"
    tiny_model.save_weights(str(path))
    keras.utils.set_random_seed(5)
    other = build_xception_classifier(SIZE, seed=5)
    images = np.random.default_rng(2).integers(0, 256, (2, SIZE, SIZE, 3), dtype=np.uint8)
    assert not np.allclose(other.predict_on_batch(images), tiny_model.predict_on_batch(images))
    other.load_weights(str(path))
    np.testing.assert_array_equal(other.predict_on_batch(images), tiny_model.predict_on_batch(images))


def test_feature_extractor_is_2048_d():
    features = build_xception_features(SIZE)
    assert features.output_shape == (None, 2048)
    assert features.predict_on_batch(np.zeros((1, SIZE, SIZE, 3), np.uint8)).shape == (1, 2048)


def test_missing_weights_file_names_the_file(tmp_path):
    with pytest.raises(WeightsNotFoundError) as info:
        build_xception_classifier(SIZE, weights=tmp_path / "nope.h5")
    message = str(info.value)
    assert XCEPTION_NOTOP_WEIGHTS["file_name"] in message and "storage.googleapis.com" in message


def test_wrong_weights_file_is_rejected_by_hash(tmp_path):
    bogus = tmp_path / XCEPTION_NOTOP_WEIGHTS["file_name"]
    bogus.write_bytes(b"not weights")
    with pytest.raises(ValueError, match="MD5"):
        build_xception_classifier(SIZE, weights=bogus)


def test_imagenet_download_failure_is_explained(monkeypatch):
    from keras.src.utils import data_utils

    def offline(*args, **kwargs):
        raise Exception("URL fetch failure")

    monkeypatch.setattr(data_utils, "get_file", offline)
    with pytest.raises(RuntimeError, match="pass its path as weights"):
        build_xception_classifier(SIZE, weights="imagenet")


def test_bad_options():
    with pytest.raises(ValueError, match="at least 71"):
        build_xception_classifier(64)
    with pytest.raises(ValueError, match="dropout"):
        build_xception_classifier(SIZE, dropout=1.0)


def test_make_optimizer():
    sgd = make_optimizer("sgd", 0.05)
    assert isinstance(sgd, keras.optimizers.SGD)
    assert float(sgd.learning_rate) == pytest.approx(0.05)
    assert float(sgd.momentum) == pytest.approx(0.9)
    assert isinstance(make_optimizer("Adam", 3e-4), keras.optimizers.Adam)
    with pytest.raises(ValueError, match="sgd, adam"):
        make_optimizer("rmsprop", 0.1)


def test_poster_defaults():
    assert xception.POSTER_XCEPTION_LEARNING_RATE == 0.05
    assert xception.POSTER_EPOCHS == 30
    assert xception.POSTER_BATCH_SIZE == 64


def test_loads_a_local_notop_file_laid_out_like_the_keras_release(tmp_path):
    # The release file is Keras' own no-top Xception saved as h5; make one the same way.
    keras.utils.set_random_seed(7)
    reference = keras.applications.Xception(include_top=False, weights=None,
                                            input_shape=(SIZE, SIZE, 3))
    path = tmp_path / XCEPTION_NOTOP_WEIGHTS["file_name"]
    reference.save_weights(str(path))
    model = build_xception_classifier(SIZE, weights=path, verify_hash=False)
    for name in ("block1_conv1", "block7_sepconv2", "block14_sepconv2_bn"):
        ours, theirs = model.get_layer(name).get_weights(), reference.get_layer(name).get_weights()
        for a, b in zip(ours, theirs):
            np.testing.assert_array_equal(a, b)
    features = keras.Model(model.input, model.get_layer("avg_pool").output)
    images = np.random.default_rng(3).integers(0, 256, (2, SIZE, SIZE, 3), dtype=np.uint8)
    scaled = keras.applications.xception.preprocess_input(images.astype("float32"))
    expected = reference.predict_on_batch(scaled).mean(axis=(1, 2))
    np.testing.assert_allclose(features.predict_on_batch(images), expected, rtol=1e-4, atol=1e-5)
