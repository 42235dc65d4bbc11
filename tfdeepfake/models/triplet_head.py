"""The triplet head: a small Dense stack on FaceNet embeddings, then L2-normalise.

The poster (and arXiv 2003.08645) trains Dense 256-256-128 -> 64 on 512-d FaceNet
embeddings with the semi-hard triplet loss, margin 1.0. The loss expects
L2-normalised embeddings and integer labels (0 = real, 1 = fake), and every batch must
hold both classes (see ``tfdeepfake.pipelines.balanced``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import tensorflow as tf
from tensorflow import keras

from tfdeepfake.constants import FACENET_EMBEDDING_DIM

logger = logging.getLogger(__name__)

DEFAULT_HIDDEN_UNITS = (256, 256, 128)
DEFAULT_EMBEDDING_DIM = 64
DEFAULT_MARGIN = 1.0
_ACTIVATIONS = ("relu", "gelu", "elu", "tanh", "selu", "swish")


@keras.utils.register_keras_serializable(package="tfdeepfake")
class L2Normalize(keras.layers.Layer):
    """Scale each row to unit Euclidean length (``tf.math.l2_normalize``)."""

    def __init__(self, axis: int = -1, epsilon: float = 1e-12, **kwargs):
        super().__init__(**kwargs)
        self.axis = int(axis)
        self.epsilon = float(epsilon)

    def call(self, inputs):
        return tf.math.l2_normalize(inputs, axis=self.axis, epsilon=self.epsilon)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"axis": self.axis, "epsilon": self.epsilon})
        return config


def build_triplet_head(
    input_dim: int = FACENET_EMBEDDING_DIM,
    hidden_units: Sequence[int] = DEFAULT_HIDDEN_UNITS,
    embedding_dim: int = DEFAULT_EMBEDDING_DIM,
    dropout: float = 0.0,
    seed: int = 0,
    activation: str = "relu",
) -> keras.Model:
    """Dense(h1)-...-Dense(hk) -> Dense(embedding_dim) -> L2Normalize. Uncompiled.

    Layer names are fixed (``head_dense_<i>``, ``head_dropout_<i>``, ``embedding``,
    ``l2_normalize``) so weight files stay loadable. Kernel initialisers are seeded
    from ``seed``.
    """
    if int(input_dim) < 1:
        raise ValueError(f"input_dim must be >= 1, got {input_dim}")
    hidden_units = tuple(int(u) for u in hidden_units)
    if any(u < 1 for u in hidden_units):
        raise ValueError(f"hidden_units must all be >= 1, got {hidden_units}")
    if int(embedding_dim) < 1:
        raise ValueError(f"embedding_dim must be >= 1, got {embedding_dim}")
    if not 0.0 <= float(dropout) < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    if activation not in _ACTIVATIONS:
        raise ValueError(
            f"unknown activation {activation!r}; valid: {', '.join(_ACTIVATIONS)}"
        )

    inputs = keras.Input(shape=(int(input_dim),), dtype="float32", name="facenet_embedding")
    x = inputs
    for i, units in enumerate(hidden_units, start=1):
        x = keras.layers.Dense(
            units,
            activation=activation,
            kernel_initializer=keras.initializers.GlorotUniform(seed=seed + i),
            name=f"head_dense_{i}",
        )(x)
        if dropout > 0.0:
            x = keras.layers.Dropout(dropout, seed=seed + 100 + i, name=f"head_dropout_{i}")(x)
    x = keras.layers.Dense(
        int(embedding_dim),
        activation=None,
        kernel_initializer=keras.initializers.GlorotUniform(seed=seed),
        name="embedding",
    )(x)
    outputs = L2Normalize(name="l2_normalize")(x)
    return keras.Model(inputs, outputs, name="triplet_head")


def make_triplet_loss(margin: float = DEFAULT_MARGIN):
    """``tfa.losses.TripletSemiHardLoss(margin)`` where TFA is installed (the faithful
    stack), else the same loss in plain TensorFlow (``tfdeepfake.compat``)."""
    from tfdeepfake.compat import triplet_semihard_loss

    return triplet_semihard_loss(margin=float(margin))
