import logging

import numpy as np
import pytest

from tfdeepfake.models import facenet
from tfdeepfake.models.facenet import (
    FACENET_MODEL,
    WeightsNotFoundError,
    build_facenet_embedder,
    embed_faces,
    is_random_init,
    resolve_facenet_weights,
)


def test_model_spec_matches_keras_facenet_metadata():
    from keras_facenet.metadata import MODEL_METADATA

    meta = MODEL_METADATA[FACENET_MODEL.key]
    assert FACENET_MODEL.weights_filename == meta["keras_weights_filename"]
    assert FACENET_MODEL.weights_sha256 == meta["keras_weights_sha256"]
    assert FACENET_MODEL.weights_url == meta["keras_weights_url"]
    assert FACENET_MODEL.embedding_dim == meta["dimensions"] == 512
    assert FACENET_MODEL.input_size == meta["image_size"] == 160
    assert meta["fixed_image_standardization"]
    # (x - 127.5) / 127.5 written as x * scale + offset
    x = np.array([0.0, 127.5, 255.0])
    y = x * FACENET_MODEL.preprocessing_scale + FACENET_MODEL.preprocessing_offset
    np.testing.assert_allclose(y, (x - 127.5) / 127.5)
    assert str(FACENET_MODEL.default_weights_path).endswith(
        ".keras-facenet/20180402-114759/20180402-114759-weights.h5"
    )


def test_missing_weights_error_names_file_place_and_source(tmp_path):
    with pytest.raises(WeightsNotFoundError) as info:
        resolve_facenet_weights(cache_dir=tmp_path)
    message = str(info.value)
    assert "20180402-114759-weights.h5" in message
    assert "~/.keras-facenet/20180402-114759/20180402-114759-weights.h5" in message
    assert "--facenet-weights PATH" in message
    assert "github.com/faustomorales/keras-facenet/releases/download/v0.3.1" in message
    assert str(tmp_path) in message

    with pytest.raises(WeightsNotFoundError, match="20180402-114759-weights.h5"):
        resolve_facenet_weights(tmp_path / "nope.h5")
    assert issubclass(WeightsNotFoundError, FileNotFoundError)


def test_build_without_weights_raises_before_building(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(WeightsNotFoundError):
        build_facenet_embedder()
    with pytest.raises(ValueError, match="not both"):
        build_facenet_embedder(weights_path=tmp_path / "w.h5", random_init=True)


def test_resolve_accepts_file_and_folder_and_warns_on_hash_mismatch(tmp_path, caplog):
    weights = tmp_path / FACENET_MODEL.weights_filename
    weights.write_bytes(b"not the real weights")
    with caplog.at_level(logging.WARNING, logger=facenet.__name__):
        assert resolve_facenet_weights(weights) == weights
    assert "sha256" in caplog.text and FACENET_MODEL.weights_sha256 in caplog.text
    assert resolve_facenet_weights(tmp_path) == weights
    assert resolve_facenet_weights(cache_dir=tmp_path) == weights


def test_random_init_embedder_outputs_unit_512d():
    model = build_facenet_embedder(random_init=True, seed=0)
    assert is_random_init(model)
    assert model.name == "facenet_embedder_random_init"
    faces = np.random.default_rng(0).integers(0, 256, size=(3, 160, 160, 3), dtype=np.uint8)
    out = embed_faces(model, faces, batch_size=2)
    assert out.shape == (3, 512) and out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    # uint8 and float pixels give the same embeddings: preprocessing is in the model
    np.testing.assert_allclose(
        embed_faces(model, faces.astype(np.float32), batch_size=3), out, atol=1e-5
    )


def _tiny_embedder():
    from tensorflow import keras

    inputs = keras.Input((160, 160, 3))
    x = keras.layers.Rescaling(1 / 127.5, -1.0)(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(4, kernel_initializer=keras.initializers.GlorotUniform(seed=0))(x)
    return keras.Model(inputs, x)


def test_embed_faces_batches_and_validates():
    model = _tiny_embedder()
    faces = np.random.default_rng(1).integers(0, 256, size=(5, 160, 160, 3), dtype=np.uint8)
    whole = embed_faces(model, faces, batch_size=5)
    np.testing.assert_allclose(embed_faces(model, faces, batch_size=2), whole, atol=1e-6)
    assert embed_faces(model, faces[:0]).shape == (0, 4)
    with pytest.raises(ValueError, match="160x160"):
        embed_faces(model, np.zeros((1, 80, 80, 3), np.uint8))
    with pytest.raises(ValueError, match=r"\[N, H, W, 3\]"):
        embed_faces(model, np.zeros((160, 160, 3), np.uint8))
    assert not is_random_init(model)


@pytest.mark.slow
def test_weights_file_round_trip(tmp_path, caplog):
    model = build_facenet_embedder(random_init=True, seed=3)
    backbone = model.get_layer("inception_resnet_v1")
    path = tmp_path / FACENET_MODEL.weights_filename
    backbone.save_weights(str(path))
    faces = np.random.default_rng(2).integers(0, 256, size=(2, 160, 160, 3), dtype=np.uint8)
    with caplog.at_level(logging.WARNING, logger=facenet.__name__):
        loaded = build_facenet_embedder(weights_path=path)
    assert "expected" in caplog.text  # our random weights are not the published file
    assert not is_random_init(loaded) and loaded.name == "facenet_embedder"
    np.testing.assert_allclose(embed_faces(loaded, faces), embed_faces(model, faces), atol=1e-5)
