"""XceptionNet baseline: a frame classifier and a 2048-d frame feature extractor.

The poster's first baseline is XceptionNet on single face frames (lr 0.05, 30 epochs,
batch 64). The network is Keras' ``applications.Xception`` without its ImageNet top,
average-pooled, followed by dropout and one sigmoid unit: the fake probability
(label 1 = fake).

Inputs are RGB images with values 0..255 (uint8 or float). The model rescales them
itself, the way ``keras.applications.xception.preprocess_input`` does
(``x / 127.5 - 1``), so callers never preprocess and an exported model takes raw pixels.

Layers built here have fixed names (``image``, ``xception_preprocess``, Keras'
``block1_conv1`` ... ``block14_sepconv2_act``, ``avg_pool``, ``head_dropout``,
``fake_probability``); the backbone is not nested, so every layer, including the
Grad-CAM target ``block14_sepconv2_act``, is reachable with ``model.get_layer``.

Weights: ``None`` (random), ``"imagenet"`` (Keras downloads the no-top file into
``~/.keras/models``), or the path of a local copy of that file. Machines without internet
must use the path form.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

from tensorflow import keras

from tfdeepfake.constants import XCEPTION_INPUT_SIZE

logger = logging.getLogger(__name__)

# Xception's ``preprocess_input`` (mode "tf"), stated as data: y = x * scale + offset.
XCEPTION_PREPROCESSING = {"scale": 1.0 / 127.5, "offset": -1.0}

# The smallest input ``keras.applications.Xception`` accepts.
XCEPTION_MIN_INPUT_SIZE = 71

XCEPTION_FEATURE_DIM = 2048

# The Keras ImageNet weights without the classification top.
XCEPTION_NOTOP_WEIGHTS = {
    "file_name": "xception_weights_tf_dim_ordering_tf_kernels_notop.h5",
    "url": (
        "https://storage.googleapis.com/tensorflow/keras-applications/"
        "xception/xception_weights_tf_dim_ordering_tf_kernels_notop.h5"
    ),
    "md5": "b0042744bf5b25fce3cb969f33bebb97",
}

# The last activation of the last convolutional block: Grad-CAM's default target.
XCEPTION_LAST_CONV_LAYER = "block14_sepconv2_act"

# Poster settings for the Xception baseline. The poster states lr 0.05 but not the
# optimizer; 0.05 is an SGD-scale rate, so SGD with momentum 0.9 is the default.
POSTER_XCEPTION_LEARNING_RATE = 0.05
POSTER_EPOCHS = 30
POSTER_BATCH_SIZE = 64

OPTIMIZERS = ("sgd", "adam")


class WeightsNotFoundError(FileNotFoundError):
    """A local weights file that was asked for does not exist."""


def make_optimizer(
    name: str = "sgd", learning_rate: float = POSTER_XCEPTION_LEARNING_RATE, momentum: float = 0.9
) -> keras.optimizers.Optimizer:
    """A fresh optimizer by name.

    ``"sgd"``: SGD with ``momentum`` (the default, since the poster's 0.05 is an SGD-scale
    rate); ``"adam"``: Adam (``momentum`` ignored). Build it inside ``strategy.scope()``
    together with the model.
    """
    key = name.lower()
    if key == "sgd":
        return keras.optimizers.SGD(learning_rate=learning_rate, momentum=momentum)
    if key == "adam":
        return keras.optimizers.Adam(learning_rate=learning_rate)
    raise ValueError(f"Unknown optimizer {name!r}; valid: {', '.join(OPTIMIZERS)}")


def _file_md5(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def resolve_xception_weights(weights: str | os.PathLike | None, verify_hash: bool = True):
    """Check a ``weights`` argument; return ``None``, ``"imagenet"`` or a local path string.

    A path must exist; with ``verify_hash`` its MD5 must match the Keras release file.
    """
    if weights is None or weights == "imagenet":
        return weights
    path = Path(weights).expanduser()
    if not path.is_file():
        raise WeightsNotFoundError(
            f"Xception weights file not found: {path}. Expected a local copy of the Keras "
            f"ImageNet no-top file {XCEPTION_NOTOP_WEIGHTS['file_name']!r}, downloadable "
            f"from {XCEPTION_NOTOP_WEIGHTS['url']} (Keras caches it in ~/.keras/models/ "
            "after weights='imagenet' on a machine with internet)."
        )
    if verify_hash:
        actual = _file_md5(path)
        if actual != XCEPTION_NOTOP_WEIGHTS["md5"]:
            raise ValueError(
                f"{path} has MD5 {actual}, not {XCEPTION_NOTOP_WEIGHTS['md5']} of "
                f"{XCEPTION_NOTOP_WEIGHTS['file_name']}; pass verify_hash=False to load "
                "another file with the same layout."
            )
    return str(path)


def _check_input_size(input_size: int) -> None:
    if int(input_size) < XCEPTION_MIN_INPUT_SIZE:
        raise ValueError(
            f"input_size must be at least {XCEPTION_MIN_INPUT_SIZE} for Xception, got {input_size}"
        )


def _xception_trunk(
    input_size: int, weights, verify_hash: bool
):
    """Input, preprocessing and the Xception convolutional trunk, flat; returns (input, avg-pooled)."""
    _check_input_size(input_size)
    weights = resolve_xception_weights(weights, verify_hash=verify_hash)
    image = keras.Input(shape=(input_size, input_size, 3), dtype="float32", name="image")
    scaled = keras.layers.Rescaling(name="xception_preprocess", **XCEPTION_PREPROCESSING)(image)
    try:
        trunk = keras.applications.Xception(
            include_top=False, weights=weights, input_tensor=scaled, pooling=None
        )
    except Exception as err:  # Keras raises a bare Exception when a download fails.
        if weights == "imagenet":
            raise RuntimeError(
                "Could not get the Xception ImageNet weights "
                f"({XCEPTION_NOTOP_WEIGHTS['file_name']} from {XCEPTION_NOTOP_WEIGHTS['url']}). "
                "Without internet, copy that file to this machine and pass its path as weights."
            ) from err
        raise
    if weights is not None:
        logger.info("Xception trunk loaded weights from %s", weights)
    pooled = keras.layers.GlobalAveragePooling2D(name="avg_pool")(trunk.output)
    return image, pooled


def build_xception_classifier(
    input_size: int = XCEPTION_INPUT_SIZE,
    weights: str | os.PathLike | None = None,
    dropout: float = 0.5,
    seed: int = 0,
    verify_hash: bool = True,
) -> keras.Model:
    """Xception frame classifier: RGB 0..255 ``[N, S, S, 3]`` -> fake probability ``[N, 1]``.

    ``seed`` fixes the head's initialiser and dropout; the random initialisation of the trunk
    (``weights=None``) follows the global Keras seed (``keras.utils.set_random_seed``).
    Uncompiled; see ``make_optimizer``.
    """
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    image, pooled = _xception_trunk(input_size, weights, verify_hash)
    x = keras.layers.Dropout(dropout, seed=seed, name="head_dropout")(pooled)
    probability = keras.layers.Dense(
        1,
        activation="sigmoid",
        kernel_initializer=keras.initializers.GlorotUniform(seed=seed),
        name="fake_probability",
    )(x)
    return keras.Model(image, probability, name="xception_classifier")


def build_xception_features(
    input_size: int = XCEPTION_INPUT_SIZE,
    weights: str | os.PathLike | None = None,
    verify_hash: bool = True,
) -> keras.Model:
    """Xception feature extractor: RGB 0..255 ``[N, S, S, 3]`` -> ``[N, 2048]`` (average-pooled)."""
    image, pooled = _xception_trunk(input_size, weights, verify_hash)
    return keras.Model(image, pooled, name="xception_features")


def model_input_size(model: keras.Model) -> int:
    """Square image size a single-image-input model expects (``model.input_shape[1]``)."""
    shape = model.input_shape
    if isinstance(shape, list) or len(shape) != 4 or shape[1] is None:
        raise ValueError(f"expected one [N, S, S, 3] image input, got input shape {shape}")
    return int(shape[1])


__all__ = [
    "OPTIMIZERS",
    "POSTER_BATCH_SIZE",
    "POSTER_EPOCHS",
    "POSTER_XCEPTION_LEARNING_RATE",
    "XCEPTION_FEATURE_DIM",
    "XCEPTION_LAST_CONV_LAYER",
    "XCEPTION_MIN_INPUT_SIZE",
    "XCEPTION_NOTOP_WEIGHTS",
    "XCEPTION_PREPROCESSING",
    "WeightsNotFoundError",
    "build_xception_classifier",
    "build_xception_features",
    "make_optimizer",
    "model_input_size",
    "resolve_xception_weights",
]
