"""Grad-CAM heat maps: which parts of a face drive the fake probability.

Grad-CAM (Selvaraju et al., 2017) weights each channel of a convolutional layer's output
by the spatial mean of the gradient of the class score with respect to that channel, sums
the weighted channels, keeps the positive part and scales each map to [0, 1].

The class score is the *logit* of the fake probability when the model ends in a
``Dense(1, activation="sigmoid")`` layer (as ``build_xception_classifier`` does): the
probability's gradient vanishes when the model is confident, the logit's does not. For
``target_class=REAL`` the logit's negative is used. Other models use their output as is.

The default layer is Xception's last convolutional activation, ``block14_sepconv2_act``
(10x10 at 299x299 input); any flat functional model and layer name work.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import tensorflow as tf
from tensorflow import keras

from tfdeepfake.constants import FAKE, REAL
from tfdeepfake.models.xception import XCEPTION_LAST_CONV_LAYER
from tfdeepfake.visualize.draw import write_png

logger = logging.getLogger(__name__)


def _default_layer_name(model: keras.Model) -> str:
    names = [layer.name for layer in model.layers]
    if XCEPTION_LAST_CONV_LAYER in names:
        return XCEPTION_LAST_CONV_LAYER
    for layer in reversed(model.layers):
        shape = layer.output_shape
        if isinstance(shape, tuple) and len(shape) == 4 and not isinstance(layer, keras.layers.InputLayer):
            return layer.name
    raise ValueError(f"model {model.name!r} has no layer with a 4-D [N, h, w, c] output")


def _get_layer(model: keras.Model, layer_name: str) -> keras.layers.Layer:
    try:
        return model.get_layer(layer_name)
    except ValueError:
        candidates = [
            layer.name for layer in model.layers
            if isinstance(layer.output_shape, tuple) and len(layer.output_shape) == 4
        ]
        raise ValueError(
            f"model {model.name!r} has no layer {layer_name!r}; layers with 4-D outputs: "
            f"{', '.join(candidates[-10:])}"
        ) from None


def _sigmoid_head(model: keras.Model) -> keras.layers.Dense | None:
    """The final ``Dense(1, sigmoid)`` layer, whose logit Grad-CAM follows, if there is one."""
    last = model.layers[-1]
    if isinstance(last, keras.layers.Dense) and last.activation is keras.activations.sigmoid:
        return last
    return None


def grad_cam(
    model: keras.Model,
    images,
    layer_name: str | None = None,
    target_class: int = FAKE,
    output_size: tuple[int, int] | None = None,
) -> np.ndarray:
    """Heat maps ``[N, h, w] float32`` in [0, 1] for ``images`` ``[N, H, W, 3]``.

    ``h, w`` are the layer's spatial size, or ``output_size`` (bilinear resize) when given.
    A map whose weighted sum is nowhere positive is all zeros.
    """
    if target_class not in (REAL, FAKE):
        raise ValueError(f"target_class must be {REAL} (real) or {FAKE} (fake), got {target_class}")
    name = layer_name or _default_layer_name(model)
    layer = _get_layer(model, name)
    if isinstance(model.output, (list, tuple)) or model.output.shape[-1] != 1:
        raise ValueError("grad_cam expects a model with one output unit (the fake probability)")
    head = _sigmoid_head(model)
    score_source = head.input if head is not None else model.output
    cam_model = keras.Model(model.inputs, [layer.output, score_source])

    images = tf.convert_to_tensor(images, dtype=tf.float32)
    with tf.GradientTape() as tape:
        activations, scores = cam_model(images, training=False)
        if head is not None:  # the logit of the fake probability
            scores = tf.matmul(scores, head.kernel)
            if head.use_bias:
                scores = scores + head.bias
        target = tf.reduce_sum(scores if target_class == FAKE else -scores)
    grads = tape.gradient(target, activations)
    if grads is None:
        raise ValueError(f"the output does not depend on layer {name!r}")
    channel_weights = tf.reduce_mean(grads, axis=(1, 2), keepdims=True)
    cams = tf.nn.relu(tf.reduce_sum(channel_weights * activations, axis=-1))
    peak = tf.reduce_max(cams, axis=(1, 2), keepdims=True)
    cams = tf.math.divide_no_nan(cams, peak)
    if output_size is not None:
        cams = tf.image.resize(cams[..., None], output_size, method="bilinear")[..., 0]
        cams = tf.clip_by_value(cams, 0.0, 1.0)
    return cams.numpy().astype(np.float32)


def overlay_heatmap(
    face_rgb: np.ndarray, heatmap: np.ndarray, alpha: float = 0.4, colormap: int = cv2.COLORMAP_JET
) -> np.ndarray:
    """Blend a [0, 1] heat map (resized to the face) over an RGB face; returns RGB uint8."""
    face = np.asarray(face_rgb)
    if face.ndim != 3 or face.shape[-1] != 3:
        raise ValueError(f"face_rgb must be [H, W, 3], got {face.shape}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    if face.dtype != np.uint8:
        face = np.clip(face, 0, 255).astype(np.uint8)
    height, width = face.shape[:2]
    heat = np.clip(np.nan_to_num(np.asarray(heatmap, dtype=np.float32)), 0.0, 1.0)
    heat = cv2.resize(heat, (width, height), interpolation=cv2.INTER_LINEAR)
    colour_bgr = cv2.applyColorMap(np.uint8(np.round(heat * 255)), colormap)
    colour = cv2.cvtColor(colour_bgr, cv2.COLOR_BGR2RGB)
    blended = (1.0 - alpha) * face.astype(np.float32) + alpha * colour.astype(np.float32)
    return np.clip(np.round(blended), 0, 255).astype(np.uint8)


def save_overlays(
    out_dir: str | os.PathLike,
    faces: Sequence[np.ndarray] | np.ndarray,
    heatmaps: Sequence[np.ndarray] | np.ndarray,
    names: Sequence[str] | None = None,
    alpha: float = 0.4,
) -> list[Path]:
    """Write one PNG overlay per face into ``out_dir``; returns the paths.

    ``names`` are file stems (default ``gradcam_0000`` ...); characters other than letters,
    digits, ``-``, ``_`` and ``.`` become ``_`` (so video ids such as ``celebdf/id0_0000``
    are safe).
    """
    if len(faces) != len(heatmaps):
        raise ValueError(f"{len(faces)} faces but {len(heatmaps)} heat maps")
    if names is not None and len(names) != len(faces):
        raise ValueError(f"{len(names)} names for {len(faces)} faces")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, (face, heat) in enumerate(zip(faces, heatmaps)):
        stem = names[i] if names is not None else f"gradcam_{i:04d}"
        stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in stem)
        path = out / f"{stem}.png"
        write_png(path, overlay_heatmap(face, heat, alpha=alpha))
        paths.append(path)
    logger.info("Wrote %d Grad-CAM overlays to %s", len(paths), out)
    return paths


def grid_image(images: Sequence[np.ndarray], columns: int = 4) -> np.ndarray:
    """Same-sized RGB images in rows of ``columns`` (the last row padded with black)."""
    if not len(images):
        raise ValueError("no images to lay out")
    columns = max(1, min(columns, len(images)))
    blank = np.zeros_like(images[0])
    padded = list(images) + [blank] * (-len(images) % columns)
    rows = [np.concatenate(padded[i:i + columns], axis=1) for i in range(0, len(padded), columns)]
    return np.concatenate(rows, axis=0)


def save_grid(path: str | os.PathLike, paths: Sequence[str | os.PathLike], columns: int = 4) -> Path:
    """The PNGs at ``paths`` (same size) laid out by ``grid_image`` into one PNG at ``path``."""
    images = []
    for item in paths:
        # Read by Python, decoded in memory: OpenCV's own file calls segfault on a path that
        # is not valid UTF-8 (write_png says more).
        image = cv2.imdecode(np.frombuffer(Path(item).read_bytes(), np.uint8), cv2.IMREAD_COLOR)
        if image is None:
            raise OSError(f"could not read {item}")
        images.append(image[..., ::-1])
    path = Path(path)
    write_png(path, grid_image(images, columns))
    return path


__all__ = ["grad_cam", "grid_image", "overlay_heatmap", "save_grid", "save_overlays"]
