"""tf.data batches of real faces and their self-blended pseudo-fakes, for training a
detector on real videos only (``tfdeepfake.synthetic.self_blend``; SBI).

Every batch holds ``B`` real faces, each followed by the pseudo-fake made from it, as SBI
trains: the two classes differ by the blend alone, never by the person or the
scene, and every batch is balanced. Training datasets draw a new face order and new
pseudo-fakes in every epoch; each face's pseudo-fake is made from its own seed, planned
from the run's seed up front (``plan_epochs``), so a run is reproducible and does not
depend on how tf.data schedules the work. Validation datasets give the same batches in
every pass (and cache them), so epochs are compared on equal terms.

The blending runs in numpy/OpenCV through ``tf.numpy_function`` on parallel map calls.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from typing import Sequence

import numpy as np
import tensorflow as tf

from tfdeepfake.constants import FAKE, REAL
from tfdeepfake.faces.settings import FaceSettings
from tfdeepfake.video.sampling import spread_picks
from tfdeepfake.synthetic.self_blend import (
    PairAugmentConfig,
    SelfBlendConfig,
    augment_pair,
    keypoints_in_crops_of,
    self_blend,
)

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class RealFaces:
    """Real face crops of several videos in memory, row-aligned."""

    faces: np.ndarray  # [N, S, S, 3] uint8
    keypoints: np.ndarray  # [N, 5, 2] float32, crop pixels
    video_ids: np.ndarray  # [N] str

    def __len__(self) -> int:
        return int(len(self.faces))

    def select(self, mask: np.ndarray) -> "RealFaces":
        return RealFaces(self.faces[mask], self.keypoints[mask], self.video_ids[mask])


def real_faces(videos: Sequence, settings: FaceSettings,
               max_faces_per_video: int | None = None) -> RealFaces:
    """``RealFaces`` of ``FaceVideo``s (``tfdeepfake.cache.faces``), keypoints converted to
    crop pixels with the cache's face ``settings``; ``max_faces_per_video`` keeps that many
    faces per video, evenly spaced in time."""
    faces, keypoints, ids = [], [], []
    for video in videos:
        count = len(video.faces)
        if not count:
            continue
        keep = np.arange(count)
        if max_faces_per_video is not None and count > max_faces_per_video:
            keep = spread_picks(count, max_faces_per_video)
        faces.append(np.asarray(video.faces)[keep])
        keypoints.append(keypoints_in_crops_of(np.asarray(video.keypoints)[keep],
                                               np.asarray(video.boxes)[keep], settings))
        ids.extend([video.video_id] * len(keep))
    if not faces:
        size = settings.size
        return RealFaces(np.zeros((0, size, size, 3), np.uint8), np.zeros((0, 5, 2), np.float32),
                         np.zeros(0, str))
    return RealFaces(np.concatenate(faces), np.concatenate(keypoints), np.asarray(ids))


def plan_epochs(count: int, epochs: int, seed: int, shuffle: bool = True
                ) -> tuple[np.ndarray, np.ndarray]:
    """``(orders [E, N], seeds [E, N])``: the face order and every face's blend seed, per
    epoch, from ``seed`` alone."""
    rng = np.random.default_rng(int(seed))
    orders = np.stack([rng.permutation(count) if shuffle else np.arange(count)
                       for _ in range(epochs)]).astype(np.int64)
    seeds = rng.integers(0, 2**62, (epochs, count), dtype=np.int64)
    return orders.reshape(epochs, count), seeds.reshape(epochs, count)


def steps_per_epoch(count: int, batch_size: int) -> int:
    return max(1, math.ceil(count / batch_size))


def _flips(seeds: np.ndarray, stream: int) -> np.ndarray:
    return np.array([np.random.default_rng([int(s), stream]).random() < 0.5 for s in seeds], bool)


def make_self_blend_dataset(data: RealFaces, *, batch_size: int, seed: int,
                            config: SelfBlendConfig = SelfBlendConfig(), epochs: int = 1,
                            training: bool = True, input_size: int | None = None,
                            flip: bool = True, augment: PairAugmentConfig | None = None
                            ) -> tf.data.Dataset:
    """Batches ``(images float32 [2B, s, s, 3] in 0..255, labels float32 [2B, 1])``: ``B``
    real faces (label 0), each followed by its pseudo-fake (label 1); ``s`` is ``input_size``
    (faces resized as ``pipelines.frames.resize_faces`` resizes them for scoring) or the
    crop size.

    ``training``: ``epochs`` epochs of ``steps_per_epoch(len(data), batch_size)`` batches
    each, a new order and new pseudo-fakes in each, random horizontal flips (``flip``) and,
    with ``augment``, the same random colour / compression / blur change on a real face and
    its pseudo-fake (``synthetic.self_blend.augment_pair``); the dataset ends after them.
    Otherwise one pass, always the same, cached, unaugmented.
    """
    from tfdeepfake.pipelines.frames import resize_faces

    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if not len(data):
        raise ValueError("no real faces to make a self-blend dataset from")
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    size = int(data.faces.shape[1])
    orders, seeds = plan_epochs(len(data), epochs if training else 1, seed, shuffle=training)
    flip = bool(flip and training)
    augment = augment if training else None

    def make_batch(index: np.ndarray, face_seeds: np.ndarray):
        real = data.faces[index]
        fake = self_blend(real, data.keypoints[index], face_seeds, config).images
        if flip:
            # One flip for the pair: a pseudo-fake mirrored against its real would differ
            # from it by more than the blend.
            flipped = _flips(face_seeds, 1)[:, None, None, None]
            real = np.where(flipped, real[:, :, ::-1], real)
            fake = np.where(flipped, fake[:, :, ::-1], fake)
        if augment is not None:
            for i, s in enumerate(face_seeds):
                real[i], fake[i] = augment_pair(np.stack([real[i], fake[i]]),
                                                np.random.default_rng([int(s), 3]), augment)
        # Interleaved (real 0, its fake, real 1, ...): a distribution strategy splits a
        # batch into contiguous slices, and each replica must see both classes (BatchNorm
        # statistics of an all-real slice would tell the class).
        images = np.stack([real, fake], axis=1).reshape((-1,) + real.shape[1:])
        labels = np.tile(np.float32([REAL, FAKE]), len(real)).reshape(-1, 1)
        return images, labels

    def to_model(index, face_seeds):
        images, labels = tf.numpy_function(make_batch, [index, face_seeds], (tf.uint8, tf.float32),
                                           stateful=False)
        images = tf.ensure_shape(images, (None, size, size, 3))
        labels = tf.ensure_shape(labels, (None, 1))
        if input_size is not None and int(input_size) != size:
            return resize_faces(images, int(input_size)), labels
        return tf.cast(images, tf.float32), labels

    epochs_ds = tf.data.Dataset.from_tensor_slices((orders, seeds))
    batches = epochs_ds.flat_map(
        lambda o, s: tf.data.Dataset.from_tensor_slices((o, s)).batch(batch_size))
    batches = batches.map(to_model, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if not training:
        batches = batches.cache()
    options = tf.data.Options()
    options.deterministic = True
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return batches.prefetch(tf.data.AUTOTUNE).with_options(options)


__all__ = ["RealFaces", "make_self_blend_dataset", "plan_epochs", "real_faces", "steps_per_epoch"]
