"""FaceNet embedder: keras-facenet's InceptionResNetV1 (model 20180402-114759).

Faces go in as RGB ``[N, 160, 160, 3]`` (uint8 or float in 0..255); the model
standardises them itself, ``(x - 127.5) / 127.5``, so a SavedModel or TFLite export
takes raw pixels. The output is a 512-d L2-normalised embedding per face.

The weights are keras-facenet's prebuilt Keras weights file. This module never
downloads: it looks for an explicit path, then for keras-facenet's own cache, and says
where to get the file when neither is there.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import weakref
from pathlib import Path

import numpy as np
import tensorflow as tf
from tensorflow import keras

from tfdeepfake.constants import FACENET_EMBEDDING_DIM, FACENET_INPUT_SIZE

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class FaceNetModelSpec:
    """Everything that identifies one FaceNet model version, as data."""

    key: str
    architecture: str
    input_size: int
    embedding_dim: int
    # Standardisation applied inside the model: y = x * scale + offset,
    # i.e. (x - 127.5) / 127.5 ("fixed image standardisation" in keras-facenet).
    preprocessing_scale: float
    preprocessing_offset: float
    weights_filename: str
    weights_sha256: str
    weights_url: str
    release: str
    cache_dir: str

    @property
    def default_weights_path(self) -> Path:
        """Where keras-facenet caches the weights file (``~`` expanded)."""
        return Path(os.path.expanduser(self.cache_dir)) / self.weights_filename


FACENET_MODEL = FaceNetModelSpec(
    key="20180402-114759",
    architecture="InceptionResNetV1",
    input_size=FACENET_INPUT_SIZE,
    embedding_dim=FACENET_EMBEDDING_DIM,
    preprocessing_scale=1.0 / 127.5,
    preprocessing_offset=-1.0,
    weights_filename="20180402-114759-weights.h5",
    weights_sha256="8b71e7045497e841c00ee568f031d1a4d30908fceadf6884aef2dec4d545202b",
    weights_url=(
        "https://github.com/faustomorales/keras-facenet/releases/download/v0.3.1/"
        "20180402-114759-weights.h5"
    ),
    release="faustomorales/keras-facenet v0.3.1",
    cache_dir="~/.keras-facenet/20180402-114759",
)

RANDOM_INIT_MODEL_NAME = "facenet_embedder_random_init"
PRETRAINED_MODEL_NAME = "facenet_embedder"


class WeightsNotFoundError(FileNotFoundError):
    """The FaceNet weights file is not where we looked; the message says how to get it."""


def _weights_help(spec: FaceNetModelSpec) -> str:
    return (
        f"FaceNet weights file {spec.weights_filename!r} not found. "
        f"Put it at {spec.cache_dir}/{spec.weights_filename} "
        f"(keras-facenet's cache) or pass --facenet-weights PATH. "
        f"It comes from the GitHub release {spec.release}: {spec.weights_url} "
        f"(sha256 {spec.weights_sha256})."
    )


def sha256_of_file(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def resolve_facenet_weights(
    weights_path: str | os.PathLike | None = None,
    *,
    cache_dir: str | os.PathLike | None = None,
    spec: FaceNetModelSpec = FACENET_MODEL,
) -> Path:
    """Find the FaceNet weights file and check its SHA-256.

    An explicit ``weights_path`` wins; otherwise keras-facenet's cache
    (``spec.cache_dir``, or ``cache_dir`` when given) is searched. A hash mismatch is
    logged as a warning, not an error (the file may be a deliberate conversion).
    Raises ``WeightsNotFoundError`` naming the file, where to put it and where it
    comes from.
    """
    if weights_path is not None:
        candidate = Path(weights_path).expanduser()
        if candidate.is_dir():
            candidate = candidate / spec.weights_filename
        if not candidate.is_file():
            raise WeightsNotFoundError(f"{_weights_help(spec)} (looked at {candidate})")
    else:
        folder = Path(cache_dir).expanduser() if cache_dir is not None else None
        candidate = (folder / spec.weights_filename) if folder else spec.default_weights_path
        if not candidate.is_file():
            raise WeightsNotFoundError(f"{_weights_help(spec)} (looked at {candidate})")

    actual = sha256_of_file(candidate)
    if actual != spec.weights_sha256:
        logger.warning(
            "FaceNet weights %s have sha256 %s, expected %s for model %s; "
            "embeddings may not match the published model",
            candidate,
            actual,
            spec.weights_sha256,
            spec.key,
        )
    else:
        logger.debug("FaceNet weights %s verified (sha256 %s)", candidate, actual)
    return candidate


def build_facenet_embedder(
    weights_path: str | os.PathLike | None = None,
    random_init: bool = False,
    seed: int = 0,
    *,
    spec: FaceNetModelSpec = FACENET_MODEL,
) -> keras.Model:
    """Build the FaceNet embedder: raw RGB faces in, L2-normalised embeddings out.

    Input: ``[N, 160, 160, 3]`` pixels in 0..255 (uint8 arrays are cast to float32).
    The standardisation ``x * spec.preprocessing_scale + spec.preprocessing_offset``
    is a ``Rescaling`` layer inside the model, so exports take raw pixels.

    ``random_init=True`` builds the same network with seeded random weights (no file
    needed): for tests and for runs without the weights. Such a model is named
    ``facenet_embedder_random_init`` and has ``model.facenet_random_init == True``;
    use ``is_random_init(model)`` to record it. Random init calls
    ``keras.utils.set_random_seed(seed)`` (Python, NumPy and TF global seeds) so the
    same seed gives the same network. The model is uncompiled.
    """
    from keras_facenet.inception_resnet_v1 import InceptionResNetV1

    if random_init and weights_path is not None:
        raise ValueError("pass either weights_path or random_init=True, not both")

    if random_init:
        keras.utils.set_random_seed(int(seed))
        resolved = None
        logger.warning(
            "building FaceNet with RANDOM weights (seed %d): embeddings are not "
            "meaningful face descriptors",
            seed,
        )
    else:
        resolved = resolve_facenet_weights(weights_path, spec=spec)

    size = spec.input_size
    backbone = InceptionResNetV1(
        input_shape=(size, size, 3),
        classes=spec.embedding_dim,
        weights_path=None if resolved is None else str(resolved),
    )
    inputs = keras.Input(shape=(size, size, 3), dtype="float32", name="faces")
    x = keras.layers.Rescaling(
        scale=spec.preprocessing_scale,
        offset=spec.preprocessing_offset,
        name="facenet_standardize",
    )(inputs)
    embeddings = backbone(x)
    name = RANDOM_INIT_MODEL_NAME if random_init else PRETRAINED_MODEL_NAME
    model = keras.Model(inputs, embeddings, name=name)
    model.facenet_random_init = bool(random_init)
    model.facenet_weights_path = "" if resolved is None else str(resolved)
    model.facenet_seed = int(seed)
    return model


def is_random_init(model: keras.Model) -> bool:
    """Whether ``model`` was built with random weights (for reports and caches)."""
    flag = getattr(model, "facenet_random_init", None)
    if flag is not None:
        return bool(flag)
    return model.name == RANDOM_INIT_MODEL_NAME


def embed_faces(model: keras.Model, faces, batch_size: int = 32) -> np.ndarray:
    """Embed ``faces [N, H, W, 3]`` (uint8 or float, 0..255) -> ``[N, D] float32``."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    faces = np.asarray(faces)
    if faces.ndim != 4 or faces.shape[-1] != 3:
        raise ValueError(f"faces must be [N, H, W, 3], got shape {faces.shape}")
    expected = tuple(model.input_shape[1:3])
    if None not in expected and tuple(faces.shape[1:3]) != expected:
        raise ValueError(
            f"faces are {faces.shape[1]}x{faces.shape[2]}, the model takes "
            f"{expected[0]}x{expected[1]}"
        )
    dim = int(model.output_shape[-1])
    if len(faces) == 0:
        return np.zeros((0, dim), dtype=np.float32)
    infer = _inference_function(model)
    out = np.empty((len(faces), dim), dtype=np.float32)
    for start in range(0, len(faces), batch_size):
        batch = faces[start : start + batch_size].astype(np.float32, copy=False)
        out[start : start + len(batch)] = infer(tf.constant(batch)).numpy()
    return out


def _inference_function(model: keras.Model):
    """One traced graph per model for every batch size: videos have different face
    counts, and `predict_on_batch` would retrace (seconds each) for every new one."""
    infer = _INFERENCE.get(model)
    if infer is None:
        infer = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
        _INFERENCE[model] = infer
    return infer


# Kept beside the model rather than on it, so Keras does not track it into saved models.
_INFERENCE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
