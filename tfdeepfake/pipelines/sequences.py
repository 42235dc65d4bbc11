"""Per-video fixed-length sequences of frame features, for the LSTM baseline.

Each video becomes ``features [T, D] float32`` and ``mask [T] bool`` with
``T = num_frames``. The video's face frames are packed at the front in frame order and the
rest is zero with ``mask`` False: frames where no face was found (``FaceVideo`` leaves them
out) and videos shorter than ``T``. Videos with more than ``T`` faces keep the first ``T``.
An LSTM that honours the mask skips masked steps entirely, so packing gives the same output
as leaving holes at the missing frames' places, and a right-padded mask lets Keras use the
fused cuDNN kernel on a GPU.

Features come from a frame feature extractor run in batches: a Keras model taking RGB
0..255 images (faces are resized to its input size; e.g. ``build_xception_features``, 2048-d)
or any callable ``f(faces uint8 [B, S, S, 3]) -> [B, D]`` that does its own resizing (e.g. a
FaceNet embedder, 512-d). Precomputed per-frame embeddings (an embedding cache) become
sequences with ``frame_ordered_sequence``.

Memory: ``N * T * D * 4`` bytes, about 200 KB per video at T=25, D=2048 (1.2 GB for 6,000
videos) and 50 KB at D=512.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import Any

import numpy as np
import tensorflow as tf

from tfdeepfake.constants import DEFAULT_NUM_FRAMES, DEFAULT_SEED, FAKE, REAL
from tfdeepfake.pipelines.frames import BALANCE_MODES, VideoSource, video_stream

logger = logging.getLogger(__name__)

# Input names of the sequence models (tfdeepfake.models.lstm) and dataset dict keys.
FEATURES_KEY = "features"
MASK_KEY = "mask"

FeatureExtractor = tf.keras.Model | Callable[[np.ndarray], Any]


@dataclasses.dataclass
class SequenceArrays:
    """Fixed-length sequences of N videos: ``features [N,T,D] float32``, ``mask [N,T] bool``,
    ``labels [N] int32``, ``video_ids [N] str``."""

    features: np.ndarray
    mask: np.ndarray
    labels: np.ndarray
    video_ids: np.ndarray

    def __post_init__(self):
        self.features = np.asarray(self.features, dtype=np.float32)
        self.mask = np.asarray(self.mask, dtype=bool)
        self.labels = np.asarray(self.labels, dtype=np.int32)
        self.video_ids = np.asarray(self.video_ids, dtype=str)
        n = len(self.features)
        if self.features.ndim != 3:
            raise ValueError(f"features must be [N, T, D], got {self.features.shape}")
        if self.mask.shape != self.features.shape[:2]:
            raise ValueError(f"mask {self.mask.shape} does not match features {self.features.shape}")
        if self.labels.shape != (n,) or self.video_ids.shape != (n,):
            raise ValueError(
                f"labels {self.labels.shape} and video_ids {self.video_ids.shape} must be [{n}]"
            )

    def __len__(self) -> int:
        return len(self.features)

    @property
    def num_frames(self) -> int:
        return int(self.features.shape[1])

    @property
    def feature_dim(self) -> int:
        return int(self.features.shape[2])

    def subset(self, indices) -> "SequenceArrays":
        indices = np.asarray(indices)
        return SequenceArrays(
            self.features[indices], self.mask[indices], self.labels[indices], self.video_ids[indices]
        )


def pad_to_length(items: np.ndarray, num_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """Pack ``items [F, ...]`` into ``[num_frames, ...]`` zeros; mask True on the first
    ``min(F, num_frames)`` rows. Rows beyond ``num_frames`` are dropped."""
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}")
    items = np.asarray(items)
    if items.ndim < 1:
        raise ValueError("items must have a leading frame axis")
    kept = min(len(items), num_frames)
    if len(items) > num_frames:
        logger.debug("Sequence of %d frames truncated to %d", len(items), num_frames)
    padded = np.zeros((num_frames,) + items.shape[1:], dtype=items.dtype)
    padded[:kept] = items[:kept]
    mask = np.zeros(num_frames, dtype=bool)
    mask[:kept] = True
    return padded, mask


def _keras_input_size(model: tf.keras.Model) -> tuple[int, int]:
    shape = model.input_shape
    if isinstance(shape, list) or len(shape) != 4 or shape[1] is None or shape[2] is None:
        raise ValueError(f"feature extractor must take [N, H, W, 3] images, has input {shape}")
    return int(shape[1]), int(shape[2])


def compute_frame_features(
    faces: np.ndarray, extractor: FeatureExtractor, batch_size: int = 64
) -> np.ndarray:
    """Features ``[F, D] float32`` of faces ``[F, S, S, 3] uint8`` computed in batches."""
    faces = np.asarray(faces)
    if len(faces) == 0:
        raise ValueError("no faces to compute features of")
    is_keras = isinstance(extractor, tf.keras.Model)
    size = _keras_input_size(extractor) if is_keras else None
    chunks = []
    for start in range(0, len(faces), batch_size):
        batch = faces[start:start + batch_size]
        if is_keras:
            images = tf.image.resize(tf.cast(batch, tf.float32), size, method="bilinear", antialias=True)
            images = tf.clip_by_value(images, 0.0, 255.0)
            out = extractor.predict_on_batch(images)
        else:
            out = extractor(batch)
        chunks.append(np.asarray(out, dtype=np.float32).reshape(len(batch), -1))
    return np.concatenate(chunks, axis=0)


def compute_sequence_features(
    videos: VideoSource,
    extractor: FeatureExtractor,
    *,
    num_frames: int = DEFAULT_NUM_FRAMES,
    batch_size: int = 64,
    split: str | None = None,
) -> SequenceArrays:
    """One padded feature sequence per video (see module docs).

    Videos without any face are left out with a warning naming them: they have no frames
    for a sequence model to read and so get no score.
    """
    features, masks, labels, ids, skipped = [], [], [], [], []
    for count, video in enumerate(video_stream(videos, split)(), start=1):
        faces = np.asarray(video.faces)
        if len(faces) == 0:
            skipped.append(str(video.video_id))
            continue
        frame_features = compute_frame_features(faces[:num_frames], extractor, batch_size)
        padded, mask = pad_to_length(frame_features, num_frames)
        features.append(padded)
        masks.append(mask)
        labels.append(int(video.label))
        ids.append(str(video.video_id))
        if count % 100 == 0:
            logger.info("Sequence features: %d videos done", count)
    if skipped:
        logger.warning("%d videos without faces left out: %s", len(skipped), ", ".join(skipped))
    if not features:
        raise ValueError("no video with faces in the source")
    return SequenceArrays(np.stack(features), np.stack(masks), np.array(labels), np.array(ids))


def frame_ordered_sequence(items: np.ndarray, frame_indices, num_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """``pad_to_length`` of per-frame ``items [F, ...]`` sorted by their frame index (an
    embedding cache's rows need not be in frame order)."""
    items = np.asarray(items)
    frame_indices = np.asarray(frame_indices)
    if len(frame_indices) != len(items):
        raise ValueError(f"{len(items)} items but {len(frame_indices)} frame indices")
    return pad_to_length(items[np.argsort(frame_indices, kind="stable")], num_frames)


def balanced_indices(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Indices with the minority class oversampled to the majority's count, shuffled.

    Every minority example appears ``majority // minority`` times, the remainder drawn
    without replacement.
    """
    labels = np.asarray(labels)
    by_label = [np.flatnonzero(labels == c) for c in (REAL, FAKE)]
    if any(len(group) == 0 for group in by_label):
        raise ValueError(
            "Cannot balance classes: one class is absent "
            f"(real={len(by_label[0])}, fake={len(by_label[1])}); use balance='none'"
        )
    target = max(len(group) for group in by_label)
    parts = []
    for group in by_label:
        copies, remainder = divmod(target, len(group))
        parts.append(np.tile(group, copies))
        parts.append(rng.choice(group, size=remainder, replace=False))
    return rng.permutation(np.concatenate(parts))


def make_sequence_dataset(
    arrays: SequenceArrays,
    *,
    batch_size: int = 64,
    training: bool = True,
    balance: str = "oversample",
    seed: int = DEFAULT_SEED,
) -> tf.data.Dataset:
    """Batches ``({"features": [B,T,D], "mask": [B,T] bool}, labels [B] float32)``.

    ``training=True``: per epoch a new seeded order, the minority class oversampled
    (``"oversample"``), or a third component ``weights [B]`` (``"weights"``), or neither
    (``"none"``). ``training=False``: every video once, in the arrays' order.
    """
    if balance not in BALANCE_MODES:
        raise ValueError(f"Unknown balance {balance!r}; valid: {', '.join(BALANCE_MODES)}")
    n = len(arrays)
    counts = {c: int(np.sum(arrays.labels == c)) for c in (REAL, FAKE)}
    weights = np.array(
        [n / (2.0 * counts[c]) if counts[c] else 0.0 for c in (REAL, FAKE)], dtype=np.float32
    )
    with_weights = training and balance == "weights"
    epoch = {"count": 0}

    def indices() -> np.ndarray:
        if not training:
            return np.arange(n)
        rng = np.random.default_rng([seed, epoch["count"]])
        epoch["count"] += 1
        if balance == "oversample":
            return balanced_indices(arrays.labels, rng)
        return rng.permutation(n)

    def generate():
        for i in indices():
            inputs = {FEATURES_KEY: arrays.features[i], MASK_KEY: arrays.mask[i]}
            label = np.float32(arrays.labels[i])
            if with_weights:
                yield inputs, label, weights[arrays.labels[i]]
            else:
                yield inputs, label

    signature = (
        {
            FEATURES_KEY: tf.TensorSpec((arrays.num_frames, arrays.feature_dim), tf.float32),
            MASK_KEY: tf.TensorSpec((arrays.num_frames,), tf.bool),
        },
        tf.TensorSpec((), tf.float32),
    ) + ((tf.TensorSpec((), tf.float32),) if with_weights else ())
    dataset = tf.data.Dataset.from_generator(generate, output_signature=signature)
    dataset = dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)
    options = tf.data.Options()
    options.deterministic = True
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


__all__ = [
    "FEATURES_KEY",
    "MASK_KEY",
    "SequenceArrays",
    "balanced_indices",
    "compute_frame_features",
    "compute_sequence_features",
    "frame_ordered_sequence",
    "make_sequence_dataset",
    "pad_to_length",
]
