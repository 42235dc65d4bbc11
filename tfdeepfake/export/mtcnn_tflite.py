"""MTCNN's three networks (from the ``mtcnn`` 1.0 wheel's weights) as TFLite models.

The networks are the package's own Keras models with its shipped weights; only the
graph format changes. Inputs are the package's normalised images ``(x - 127.5) / 128``
(float32); the numpy cascade in :mod:`tfdeepfake.lite.mtcnn` feeds them.

- ``pnet.tflite``: ``image [1, H, W, 3]`` (H, W resizable) -> ``bbox_reg [1, h, w, 4]``,
  ``bbox_class [1, h, w, 2]``.
- ``rnet.tflite``: ``patches [N, 24, 24, 3]`` -> ``bbox_reg [N, 4]``, ``bbox_class [N, 2]``.
- ``onet.tflite``: ``patches [N, 48, 48, 3]`` -> ``bbox_reg [N, 4]``, ``landmarks [N, 10]``,
  ``bbox_class [N, 2]``.

Signature key ``serving_default``; builtin ops only, float32.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import tensorflow as tf

logger = logging.getLogger(__name__)

MTCNN_NETWORKS = ("pnet", "rnet", "onet")
MTCNN_INPUT_SIZES = {"pnet": None, "rnet": 24, "onet": 48}
MANIFEST = "mtcnn_tflite.json"


def load_mtcnn_networks() -> dict[str, tf.keras.Model]:
    """The ``mtcnn`` package's PNet, RNet and ONet with its shipped weights."""
    from mtcnn.stages import StageONet, StagePNet, StageRNet

    return {"pnet": StagePNet().model, "rnet": StageRNet().model, "onet": StageONet().model}


def _concrete(name: str, model: tf.keras.Model):
    size = MTCNN_INPUT_SIZES[name]
    if name == "pnet":
        spec = tf.TensorSpec([1, None, None, 3], tf.float32, name="image")
    else:
        spec = tf.TensorSpec([None, size, size, 3], tf.float32, name="patches")

    @tf.function(input_signature=[spec])
    def serving_default(x):
        outputs = model(x, training=False)
        if name == "onet":
            bbox_reg, landmarks, bbox_class = outputs
            return {"bbox_reg": bbox_reg, "landmarks": landmarks, "bbox_class": bbox_class}
        bbox_reg, bbox_class = outputs
        return {"bbox_reg": bbox_reg, "bbox_class": bbox_class}

    return serving_default.get_concrete_function()


def convert_mtcnn_network(name: str, model: tf.keras.Model | None = None) -> bytes:
    """One of ``pnet``, ``rnet``, ``onet`` as float32 TFLite bytes."""
    if name not in MTCNN_NETWORKS:
        raise ValueError(f"unknown MTCNN network {name!r}; valid: {list(MTCNN_NETWORKS)}")
    if model is None:
        model = load_mtcnn_networks()[name]
    converter = tf.lite.TFLiteConverter.from_concrete_functions([_concrete(name, model)], model)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    return converter.convert()


def export_mtcnn_tflite(out_dir: str | Path) -> dict[str, Path]:
    """Write ``pnet.tflite``, ``rnet.tflite``, ``onet.tflite`` and a manifest JSON."""
    from importlib import metadata

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    networks = load_mtcnn_networks()
    paths = {}
    for name in MTCNN_NETWORKS:
        path = out_dir / f"{name}.tflite"
        path.write_bytes(convert_mtcnn_network(name, networks[name]))
        paths[name] = path
        logger.info("wrote %s (%d bytes)", path, path.stat().st_size)
    manifest = {
        "source": "mtcnn package weights (pnet.lz4, rnet.lz4, onet.lz4)",
        "mtcnn_version": metadata.version("mtcnn"),
        "tensorflow_version": tf.__version__,
        "normalisation": "(x - 127.5) / 128, RGB",
        "files": {name: p.name for name, p in paths.items()},
    }
    (out_dir / MANIFEST).write_text(json.dumps(manifest, indent=2))
    return paths
