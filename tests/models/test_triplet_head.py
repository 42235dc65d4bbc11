import numpy as np
import pytest
import tensorflow as tf
from tensorflow import keras

from tfdeepfake.models.triplet_head import L2Normalize, build_triplet_head, make_triplet_loss


def test_head_shapes_names_and_unit_norm():
    model = build_triplet_head(input_dim=12, hidden_units=(8, 6), embedding_dim=4, seed=0)
    assert model.input_shape == (None, 12) and model.output_shape == (None, 4)
    names = [layer.name for layer in model.layers]
    assert names == [
        "facenet_embedding", "head_dense_1", "head_dense_2", "embedding", "l2_normalize"
    ]
    x = np.random.default_rng(0).normal(size=(5, 12)).astype(np.float32)
    out = model(x, training=False).numpy()
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-6)


def test_default_head_is_the_posters():
    model = build_triplet_head()
    dense = [layer.units for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    assert dense == [256, 256, 128, 64]
    assert model.input_shape == (None, 512)


def test_same_seed_same_weights_and_dropout_layers():
    a = build_triplet_head(input_dim=6, hidden_units=(4,), embedding_dim=3, seed=5, dropout=0.2)
    b = build_triplet_head(input_dim=6, hidden_units=(4,), embedding_dim=3, seed=5, dropout=0.2)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    assert "head_dropout_1" in [layer.name for layer in a.layers]


def test_model_config_round_trip_uses_registered_layer(tmp_path):
    model = build_triplet_head(input_dim=6, hidden_units=(4,), embedding_dim=3)
    layer = model.get_layer("l2_normalize")
    assert isinstance(layer, L2Normalize)
    assert layer.get_config()["axis"] == -1
    clone = keras.Model.from_config(model.get_config())
    clone.set_weights(model.get_weights())
    x = np.ones((2, 6), np.float32)
    np.testing.assert_allclose(clone(x).numpy(), model(x).numpy(), atol=1e-7)
    assert isinstance(clone.get_layer("l2_normalize"), L2Normalize)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"input_dim": 0}, "input_dim"),
        ({"hidden_units": (4, 0)}, "hidden_units"),
        ({"embedding_dim": 0}, "embedding_dim"),
        ({"dropout": 1.0}, "dropout"),
        ({"activation": "nope"}, "valid: relu"),
    ],
)
def test_bad_options_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        build_triplet_head(**kwargs)


def test_semi_hard_loss_known_values():
    loss = make_triplet_loss(margin=1.0)
    labels = tf.constant([0, 0, 1, 1])
    separated = tf.constant([[1.0, 0.0], [1.0, 0.0], [-1.0, 0.0], [-1.0, 0.0]])
    collapsed = tf.constant([[1.0, 0.0]] * 4)
    # positives at distance 0, negatives at 2 > margin: no loss
    assert float(loss(labels, separated)) == pytest.approx(0.0, abs=1e-6)
    # everything at one point: every triplet costs exactly the margin
    assert float(loss(labels, collapsed)) == pytest.approx(1.0, abs=1e-6)
