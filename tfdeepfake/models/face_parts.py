"""Parts of a face crop located inside the network, so a model still takes face crops only.

``FaceLandmarks`` runs MTCNN's landmark network (ONet, its pretrained weights from the
``mtcnn`` wheel) on each crop: the five keypoints MTCNN gave when it found the face,
re-estimated from the crop (within about 3% of the eye-to-mouth distance on the shared
footage). ``KeypointSquare`` cuts a square placed by those keypoints and enlarges it to the
crop's size, bilinearly, replicating the border where the square leaves the crop (as
``faces.crop.crop_face`` does). Both are plain TensorFlow ops (resize, dense layers, gather),
so SavedModel and TFLite exports carry them.
"""

from __future__ import annotations

import tensorflow as tf
from tensorflow import keras

ONET_SIZE = 48
# Squares placed by the keypoints: (anchor, downward shift, side), the shift and the side in
# eye-to-mouth distances. The mouth's square was fixed before it was measured
# (docs/results.md, "the mouth, enlarged").
KEYPOINT_SQUARES = {"mouth": ("mouth", 0.1, 1.3)}
# A keypoint estimate on something that is not a face can put the eyes on the mouth; the
# eye-to-mouth distance is kept within these fractions of the crop's side (the shared
# footage's margin-0 crops: 0.35-0.40).
DISTANCE_RANGE = (0.15, 0.6)


class FaceLandmarks(keras.layers.Layer):
    """0..255 face crops ``[N, S, S, 3]`` -> MTCNN's five keypoints ``[N, 5, 2]`` (x, y) in
    crop pixels: left eye, right eye, nose, left and right mouth corner."""

    def __init__(self, **kwargs):
        kwargs.setdefault("trainable", False)  # pretrained; never part of a trained-layers file
        super().__init__(**kwargs)
        from mtcnn.network.onet import ONet
        from mtcnn.utils.tensorflow import load_weights

        self.onet = ONet(name="onet")
        self.onet.build()
        self.onet.set_weights(load_weights("onet.lz4"))
        self.onet.trainable = False

    def call(self, faces):
        size = tf.cast(tf.shape(faces)[1], tf.float32)
        small = tf.image.resize(tf.cast(faces, tf.float32), (ONET_SIZE, ONET_SIZE))
        _, landmarks, _ = self.onet((small - 127.5) / 128.0)
        # ONet gives x1..x5 then y1..y5, as fractions of the box (here the crop)
        return tf.stack([landmarks[:, :5], landmarks[:, 5:]], axis=-1) * size


class KeypointSquare(keras.layers.Layer):
    """``[faces, keypoints]`` -> the square ``KEYPOINT_SQUARES[part]`` of each face, enlarged
    to the crop's size."""

    def __init__(self, part: str, **kwargs):
        super().__init__(**kwargs)
        if part not in KEYPOINT_SQUARES:
            raise ValueError(f"unknown face part {part!r}; known: {', '.join(KEYPOINT_SQUARES)}")
        self.part = part

    def call(self, inputs):
        faces, points = inputs
        faces = tf.cast(faces, tf.float32)
        size = faces.shape[1]
        anchor, shift, side = KEYPOINT_SQUARES[self.part]
        eyes = tf.reduce_mean(points[:, 0:2], axis=1)
        mouth = tf.reduce_mean(points[:, 3:5], axis=1)
        distance = tf.clip_by_value(tf.norm(mouth - eyes, axis=-1),
                                    DISTANCE_RANGE[0] * size, DISTANCE_RANGE[1] * size)
        centre = (mouth if anchor == "mouth" else eyes) + tf.stack(
            [tf.zeros_like(distance), shift * distance], axis=-1)
        half = side * distance / 2.0
        # output pixel i samples the input at the centre of its cell (pixel centres at +0.5)
        steps = (tf.range(size, dtype=tf.float32) + 0.5) / size
        start = centre - half[:, None]
        xs = start[:, 0:1] + steps[None] * 2.0 * half[:, None] - 0.5  # [N, S]
        ys = start[:, 1:2] + steps[None] * 2.0 * half[:, None] - 0.5
        return _bilinear(faces, ys, xs, size)

    def get_config(self):
        return {**super().get_config(), "part": self.part}


def _bilinear(faces, ys, xs, size: int):
    """Separable bilinear sampling of rows ``ys`` and columns ``xs`` ([N, S] each, input
    pixel coordinates) of ``faces``; coordinates outside are clamped (border replicated)."""
    def taps(coordinates):
        low = tf.floor(coordinates)
        weight = coordinates - low
        low = tf.cast(low, tf.int32)
        clamp = lambda i: tf.clip_by_value(i, 0, size - 1)  # noqa: E731
        return clamp(low), clamp(low + 1), weight

    y0, y1, wy = taps(ys)
    x0, x1, wx = taps(xs)
    rows = (tf.gather(faces, y0, axis=1, batch_dims=1) * (1.0 - wy)[:, :, None, None]
            + tf.gather(faces, y1, axis=1, batch_dims=1) * wy[:, :, None, None])
    return (tf.gather(rows, x0, axis=2, batch_dims=1) * (1.0 - wx)[:, None, :, None]
            + tf.gather(rows, x1, axis=2, batch_dims=1) * wx[:, None, :, None])
