"""LSTM baseline: one fake probability per video from a sequence of frame features.

The poster's second baseline runs an LSTM over the frames of a video (lr 0.01, 30 epochs,
batch 64). Inputs (names fixed, matching ``tfdeepfake.pipelines.sequences``):

- ``features [N, T, D] float32``: per-frame feature vectors, e.g. Xception's 2048-d
  average-pooled features (``build_xception_features``, the default extractor) or FaceNet's
  512-d embeddings (pass ``feature_dim=512``);
- ``mask [N, T] bool``: True where the frame holds a face.

The mask is an explicit input rather than "all-zero rows": a real feature row can be zero
(ReLU features), and an exported model's signature then says what it needs. Masked steps are
skipped by the LSTM (its state carries over), so their feature values never matter.
A video whose mask is all False has no frame to read; the pipelines leave such videos out.
"""

from __future__ import annotations

import logging

from tensorflow import keras

from tfdeepfake.constants import DEFAULT_NUM_FRAMES
from tfdeepfake.models.xception import XCEPTION_FEATURE_DIM, build_xception_features
from tfdeepfake.pipelines.sequences import FEATURES_KEY, MASK_KEY

logger = logging.getLogger(__name__)

POSTER_LSTM_LEARNING_RATE = 0.01


def build_lstm_classifier(
    num_frames: int = DEFAULT_NUM_FRAMES,
    feature_dim: int = XCEPTION_FEATURE_DIM,
    units: int = 128,
    dropout: float = 0.3,
    seed: int = 0,
) -> keras.Model:
    """LSTM video classifier: ``{"features": [N,T,D], "mask": [N,T] bool}`` -> ``[N, 1]``.

    Layers: ``lstm`` (``units``, last output of the unmasked steps), ``head_dropout``,
    ``fake_probability`` (sigmoid). ``seed`` fixes initialisers and dropout. Uncompiled.
    """
    if num_frames < 1 or feature_dim < 1 or units < 1:
        raise ValueError(
            f"num_frames, feature_dim and units must be >= 1, got {num_frames}, {feature_dim}, {units}"
        )
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    features = keras.Input(shape=(num_frames, feature_dim), dtype="float32", name=FEATURES_KEY)
    mask = keras.Input(shape=(num_frames,), dtype="bool", name=MASK_KEY)
    x = keras.layers.LSTM(
        units,
        kernel_initializer=keras.initializers.GlorotUniform(seed=seed),
        recurrent_initializer=keras.initializers.Orthogonal(seed=seed + 1),
        name="lstm",
    )(features, mask=mask)
    x = keras.layers.Dropout(dropout, seed=seed, name="head_dropout")(x)
    probability = keras.layers.Dense(
        1,
        activation="sigmoid",
        kernel_initializer=keras.initializers.GlorotUniform(seed=seed + 2),
        name="fake_probability",
    )(x)
    return keras.Model({FEATURES_KEY: features, MASK_KEY: mask}, probability, name="lstm_classifier")


def is_sequence_model(model: keras.Model) -> bool:
    """True when ``model`` takes ``features`` and ``mask`` inputs (an LSTM classifier)."""
    return {FEATURES_KEY, MASK_KEY} <= set(model.input_names)


__all__ = [
    "POSTER_LSTM_LEARNING_RATE",
    "build_lstm_classifier",
    "build_xception_features",
    "is_sequence_model",
]
