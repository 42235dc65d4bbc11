"""Face augmentations that suit compressed video, as TensorFlow ops for tf.data.

Deepfake datasets are compressed video (FaceForensics++ c23/c40, YouTube re-encodes), so
the useful augmentations are the photometric and compression ones: a random horizontal
flip, brightness and contrast jitter, and JPEG re-compression at a random quality. Geometric
warps and colour shifts that could erase blending artefacts are left out on purpose.

Every op is stateless: the output depends only on the image and a ``seed`` of shape ``[2]``
(int32/int64), so a pipeline with a fixed seed gives the same images on every run.
``augment_dataset`` draws one such seed per element from ``tf.data.Dataset.random(seed)``,
different in every epoch yet reproducible.
"""

from __future__ import annotations

import dataclasses
import logging

import tensorflow as tf

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class AugmentConfig:
    """Augmentation strengths. Brightness is in units of the full range (1.0 = 255 levels)."""

    flip: bool = True
    max_brightness_delta: float = 0.1
    contrast_range: tuple[float, float] = (0.8, 1.2)
    # None disables JPEG re-compression.
    jpeg_quality_range: tuple[int, int] | None = (40, 95)

    def __post_init__(self):
        if self.max_brightness_delta < 0:
            raise ValueError("max_brightness_delta must be >= 0")
        low, high = self.contrast_range
        if not 0 < low <= high:
            raise ValueError(f"contrast_range must satisfy 0 < low <= high, got {self.contrast_range}")
        if self.jpeg_quality_range is not None:
            qlow, qhigh = self.jpeg_quality_range
            if not 0 <= qlow < qhigh <= 100:
                raise ValueError(
                    "jpeg_quality_range must satisfy 0 <= low < high <= 100, "
                    f"got {self.jpeg_quality_range}"
                )


def augment_face(image: tf.Tensor, seed: tf.Tensor, config: AugmentConfig = AugmentConfig()) -> tf.Tensor:
    """Augment one RGB face ``[H, W, 3]`` with a stateless ``seed`` ``[2]``.

    uint8 images come back uint8; float images are taken as 0..255 and come back float32
    in 0..255. Shape is kept.
    """
    image = tf.convert_to_tensor(image)
    if image.shape.rank != 3:
        raise ValueError(f"augment_face takes one [H, W, C] image, got shape {image.shape}")
    in_dtype = image.dtype
    static_shape = image.shape
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), num=4)

    if in_dtype == tf.uint8:
        x = tf.image.convert_image_dtype(image, tf.float32)  # 0..1
    else:
        x = tf.cast(image, tf.float32) / 255.0

    if config.flip:
        x = tf.image.stateless_random_flip_left_right(x, seed=seeds[0])
    if config.max_brightness_delta > 0:
        x = tf.image.stateless_random_brightness(x, config.max_brightness_delta, seed=seeds[1])
    low, high = config.contrast_range
    if high > low:
        x = tf.image.stateless_random_contrast(x, low, high, seed=seeds[2])
    elif low != 1.0:
        x = tf.image.adjust_contrast(x, low)
    x = tf.clip_by_value(x, 0.0, 1.0)
    if config.jpeg_quality_range is not None:
        qlow, qhigh = config.jpeg_quality_range
        x = tf.image.stateless_random_jpeg_quality(x, qlow, qhigh, seed=seeds[3])
        x = tf.ensure_shape(x, static_shape)

    if in_dtype == tf.uint8:
        return tf.image.convert_image_dtype(x, tf.uint8, saturate=True)
    return x * 255.0


def augment_dataset(
    dataset: tf.data.Dataset,
    seed: int,
    config: AugmentConfig = AugmentConfig(),
    num_parallel_calls=tf.data.AUTOTUNE,
) -> tf.data.Dataset:
    """Augment the first component (an image ``[H, W, 3]``) of every element of ``dataset``.

    Elements are tuples ``(image, *rest)`` before batching; the rest passes through.
    Seeds come from ``Dataset.random(seed, rerandomize_each_iteration=True)``: new in every
    epoch, the same on every run. The output order is the input order.
    """
    seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(
        2, drop_remainder=True
    )

    def _apply(element, pair):
        if isinstance(element, tuple):
            return (augment_face(element[0], pair, config),) + tuple(element[1:])
        return augment_face(element, pair, config)

    return tf.data.Dataset.zip((dataset, seeds)).map(
        _apply, num_parallel_calls=num_parallel_calls, deterministic=True
    )


__all__ = ["AugmentConfig", "augment_dataset", "augment_face"]
