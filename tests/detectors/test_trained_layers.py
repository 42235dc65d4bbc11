"""Model folders that hold only a network's trained layers (``detectors.trained_layers``,
``self_blended.write_trained_only``): what was trained comes back, what was frozen is left
to the base network, float16 stays close, and a file for another network is refused."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest
from tensorflow import keras

from tfdeepfake.detectors.trained_layers import (
    TrainedLayersError,
    load_trained_layers,
    save_trained_layers,
    trained_layers,
)


def small_network(seed: int) -> keras.Model:
    init = keras.initializers.GlorotUniform(seed=seed)
    inputs = keras.Input((8,))
    inner_in = keras.Input((8,))
    inner = keras.Model(inner_in, keras.layers.Dense(6, name="frozen_dense",
                                                     kernel_initializer=init)(inner_in),
                        name="trunk")
    x = inner(inputs)
    x = keras.layers.BatchNormalization(name="tuned_norm")(x)
    out = keras.layers.Dense(1, name="head", kernel_initializer=init)(x)
    model = keras.Model(inputs, out)
    model.get_layer("trunk").get_layer("frozen_dense").trainable = False
    return model


def test_round_trip_keeps_trained_layers_and_leaves_frozen_ones(tmp_path):
    trained, fresh = small_network(0), small_network(1)
    assert [layer.name for layer in trained_layers(trained)] == ["tuned_norm", "head"]
    path = save_trained_layers(trained, tmp_path / "t.h5", dtype="float32")
    assert load_trained_layers(fresh, path) == 2
    for name in ("tuned_norm", "head"):
        for a, b in zip(trained.get_layer(name).get_weights(), fresh.get_layer(name).get_weights()):
            np.testing.assert_array_equal(a, b)
    frozen = [trained.get_layer("trunk").get_layer("frozen_dense"),
              fresh.get_layer("trunk").get_layer("frozen_dense")]
    assert not np.allclose(frozen[0].get_weights()[0], frozen[1].get_weights()[0])


def test_float16_is_close_and_smaller(tmp_path):
    trained, fresh = small_network(0), small_network(1)
    half = save_trained_layers(trained, tmp_path / "h.h5", dtype="float16")
    load_trained_layers(fresh, half)
    np.testing.assert_allclose(fresh.get_layer("head").get_weights()[0],
                               trained.get_layer("head").get_weights()[0], rtol=1e-3, atol=1e-3)
    with pytest.raises(ValueError, match="dtype"):
        save_trained_layers(trained, tmp_path / "x.h5", dtype="int8")


def test_a_file_for_another_network_is_refused_naming_it(tmp_path):
    path = save_trained_layers(small_network(0), tmp_path / "t.h5")
    other = keras.Sequential([keras.Input((8,)), keras.layers.Dense(3, name="head")])
    with pytest.raises(TrainedLayersError, match="t.h5: layer .head. holds shapes"):
        load_trained_layers(other, path)
    (tmp_path / "junk.h5").write_bytes(b"not hdf5")
    with pytest.raises(TrainedLayersError, match="junk.h5"):
        load_trained_layers(small_network(0), tmp_path / "junk.h5")


@pytest.mark.slow
def test_sbi_folder_with_trained_layers_only(tmp_path):
    """The real FaceNet network (random init, seeded): a folder without FaceNet's frozen
    layers loads them from the recorded FaceNet and scores as the full folder does."""
    from tfdeepfake.detectors import load_detector
    from tfdeepfake.detectors.sbi_training import SBITrainingConfig
    from tfdeepfake.detectors.self_blended import save_sbi_model, write_trained_only
    from tfdeepfake.faces.settings import FaceSettings
    from tfdeepfake.models.facenet import load_facenet
    from tfdeepfake.models.sbi_classifier import build_sbi_classifier

    embedder = load_facenet("20170512-110547", random_init=True, seed=0)
    model = build_sbi_classifier("facenet", trainable_from="Block8_6", dropout=0.0,
                                 facenet_network=embedder.model)
    model.get_layer("fake_probability").set_weights(
        [np.full((1792, 1), 0.01, np.float32), np.zeros(1, np.float32)])
    config = SBITrainingConfig(trainable_from="Block8_6", dropout=0.0)
    full = save_sbi_model(tmp_path / "full", model, config, face_settings=FaceSettings(),
                          facenet=embedder.identity.to_dict(), aggregation="mean", seed=0,
                          training={}, data={})
    small = write_trained_only(full, tmp_path / "small", dtype="float16")
    assert (tmp_path / "small" / "trained_layers.h5").stat().st_size < \
        (tmp_path / "full" / "model.weights.h5").stat().st_size / 10
    faces = np.random.default_rng(0).integers(0, 256, (4, 160, 160, 3)).astype(np.uint8)
    again = load_detector(tmp_path / "small")
    np.testing.assert_allclose(again.score_faces(faces), full.score_faces(faces), atol=2e-3)
    assert again.random_init_facenet
