"""tf.data pipelines of single face frames, for the Xception frame classifier.

Input is a source of ``FaceVideo`` objects (see ``tfdeepfake.cache.faces``; only
``video_id``, ``label``, ``split`` and ``faces [F, S, S, 3] uint8`` are read). Frames are
streamed through ``tf.data.Dataset.from_generator`` with an ``output_signature``, so memory
stays flat: at most the shuffle buffers hold faces.

A *video source* may be

- a callable returning a fresh iterable each time, e.g. ``lambda: iter_face_videos(path)``
  (streams from the cache in every epoch; the recommended form for large sets),
- a sequence (list or tuple) of ``FaceVideo``; its order is reshuffled in every pass,
- any other iterable; a one-shot iterator gives one pass only, and a warning says so.

Training datasets (``make_frame_dataset(training=True)``) are class-balanced, shuffled with
a seed, augmented (``tfdeepfake.pipelines.augment``), resized, batched and prefetched.
Balance ``"oversample"`` (default) alternates real and fake frames, repeating the minority
class, and ends an epoch after ``2 * max(class frame counts)`` frames, so every epoch holds
exactly as many real as fake frames. ``"weights"`` keeps each frame once and adds a third
component, a per-frame weight ``N / (2 * N_class)``. Both need the frame count per class:
pass ``class_counts`` or one counting pass is made over the source. Oversampling streams
the source once per class (each pass keeps one label), so it reads the cache twice per epoch.

Scoring does not go through tf.data: ``resize_faces`` is the same resize applied to a
batch of crops, so a detector scores faces exactly as its training saw them.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from tfdeepfake.constants import DEFAULT_SEED, FAKE, REAL, XCEPTION_INPUT_SIZE
from tfdeepfake.pipelines.augment import AugmentConfig, augment_dataset

logger = logging.getLogger(__name__)

BALANCE_MODES = ("oversample", "weights", "none")

VideoSource = Iterable[Any] | Callable[[], Iterable[Any]]


def video_stream(
    videos: VideoSource, split: str | None = None, shuffle_seed: int | None = None
) -> Callable[[], Iterator[Any]]:
    """A callable that yields the source's videos anew in each call (see module docs).

    ``split`` keeps only videos of that split. With ``shuffle_seed`` a sequence source is
    visited in a new seeded order in every call (pass 0 uses ``shuffle_seed``, pass 1
    ``shuffle_seed + 1``, ...).
    """
    passes = {"count": 0}

    if callable(videos):
        base = videos
    elif isinstance(videos, Sequence):
        def base():
            if shuffle_seed is None:
                return iter(videos)
            rng = np.random.default_rng(shuffle_seed + passes["count"])
            passes["count"] += 1
            return (videos[i] for i in rng.permutation(len(videos)))
    else:
        if iter(videos) is videos:
            logger.warning(
                "Video source %r is a one-shot iterator: it gives one pass only. Pass a "
                "list or a callable such as `lambda: iter_face_videos(path)` for several epochs.",
                type(videos).__name__,
            )

        def base():
            return iter(videos)

    def stream() -> Iterator[Any]:
        for video in base():
            if split is not None and video.split != split:
                continue
            yield video

    return stream


def _video_faces(video) -> np.ndarray:
    faces = np.asarray(video.faces)
    if faces.size == 0:
        return faces.reshape((0, 0, 0, 3)).astype(np.uint8)
    if faces.ndim != 4 or faces.shape[-1] != 3:
        raise ValueError(f"{video.video_id}: faces must be [F, S, S, 3], got {faces.shape}")
    return faces.astype(np.uint8, copy=False)


def count_frames_by_label(videos: VideoSource, split: str | None = None) -> dict[int, int]:
    """Number of face frames per label ``{REAL: n, FAKE: m}`` in one pass over the source."""
    counts = {REAL: 0, FAKE: 0}
    for video in video_stream(videos, split)():
        label = int(video.label)
        if label not in counts:
            raise ValueError(f"{video.video_id}: label must be {REAL} or {FAKE}, got {label}")
        counts[label] += len(video.faces)
    logger.info("Face frames per label: real=%d fake=%d", counts[REAL], counts[FAKE])
    return counts


def _frame_generator(stream: Callable[[], Iterator[Any]], only_label: int | None = None):
    def generate():
        for video in stream():
            label = int(video.label)
            if only_label is not None and label != only_label:
                continue
            faces = _video_faces(video)
            if len(faces) == 0:
                logger.info("%s: no face frames, skipped", video.video_id)
                continue
            for face in faces:
                yield face, label

    return generate


_FACE_SPEC = tf.TensorSpec(shape=(None, None, 3), dtype=tf.uint8)
_LABEL_SPEC = tf.TensorSpec(shape=(), dtype=tf.int32)


def _frames(stream, only_label=None) -> tf.data.Dataset:
    return tf.data.Dataset.from_generator(_frame_generator(stream, only_label),
                                          output_signature=(_FACE_SPEC, _LABEL_SPEC))


def resize_faces(faces, input_size: int) -> tf.Tensor:
    """uint8/float faces ``[N, H, W, 3]`` (or one ``[H, W, 3]``) -> float32 at
    ``input_size`` x ``input_size`` in 0..255: the resize training and scoring share."""
    resized = tf.image.resize(tf.cast(faces, tf.float32), (input_size, input_size),
                              method="bilinear", antialias=True)
    return tf.clip_by_value(resized, 0.0, 255.0)


def resize_face(face: tf.Tensor, input_size: int) -> tf.Tensor:
    """uint8/float face ``[H, W, 3]`` -> float32 ``[input_size, input_size, 3]`` in 0..255."""
    return tf.ensure_shape(resize_faces(face, input_size), (input_size, input_size, 3))


def _with_options(dataset: tf.data.Dataset) -> tf.data.Dataset:
    options = tf.data.Options()
    options.deterministic = True
    # from_generator has no files to shard by; shard elements across workers instead.
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


def _augment_config(augment) -> AugmentConfig | None:
    if augment is True:
        return AugmentConfig()
    if augment is False or augment is None:
        return None
    if isinstance(augment, AugmentConfig):
        return augment
    raise ValueError(f"augment must be a bool, None or an AugmentConfig, got {augment!r}")


def make_frame_dataset(
    videos: VideoSource,
    *,
    input_size: int = XCEPTION_INPUT_SIZE,
    batch_size: int = 64,
    training: bool = True,
    balance: str = "oversample",
    augment: bool | AugmentConfig | None = True,
    seed: int = DEFAULT_SEED,
    shuffle_buffer: int = 2048,
    split: str | None = None,
    class_counts: Mapping[int, int] | None = None,
    drop_remainder: bool = False,
) -> tf.data.Dataset:
    """Batched frames ``(images [B, S, S, 3] float32 0..255, labels [B] float32)``.

    ``training=True``: balanced by ``balance`` (``"oversample"``, ``"weights"`` -> a third
    component ``weights [B] float32``, or ``"none"``), shuffled with ``seed``, augmented
    (``augment``: True, False or an ``AugmentConfig``), then resized to ``input_size``.
    ``training=False``: every frame once, in source order, not augmented (validation).
    """
    if balance not in BALANCE_MODES:
        raise ValueError(f"Unknown balance {balance!r}; valid: {', '.join(BALANCE_MODES)}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    stream = video_stream(videos, split, shuffle_seed=seed if training else None)

    if not training:
        dataset = _frames(stream)
    elif balance == "oversample":
        counts = dict(class_counts) if class_counts is not None else count_frames_by_label(videos, split)
        for label in (REAL, FAKE):
            if counts.get(label, 0) <= 0:
                raise ValueError(
                    f"Cannot balance classes: no frames with label {label} "
                    f"(counts {counts}); use balance='none'"
                )
        epoch_frames = 2 * max(counts[REAL], counts[FAKE])
        per_label = [
            _frames(video_stream(videos, split, shuffle_seed=seed + 1000 * (label + 1)), only_label=label)
            .shuffle(max(1, shuffle_buffer // 2), seed=seed + label, reshuffle_each_iteration=True)
            .repeat()
            for label in (REAL, FAKE)
        ]
        choice = tf.data.Dataset.range(2).repeat()  # real, fake, real, fake, ...
        dataset = tf.data.Dataset.choose_from_datasets(per_label, choice).take(epoch_frames)
        logger.info(
            "Oversampled frames: %d per epoch (real=%d, fake=%d before balancing)",
            epoch_frames, counts[REAL], counts[FAKE],
        )
    else:
        dataset = _frames(stream).shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
        if balance == "weights":
            counts = dict(class_counts) if class_counts is not None else count_frames_by_label(videos, split)
            total = counts.get(REAL, 0) + counts.get(FAKE, 0)
            table = tf.constant(
                [total / (2.0 * counts[c]) if counts.get(c, 0) > 0 else 0.0 for c in (REAL, FAKE)],
                dtype=tf.float32,
            )
            dataset = dataset.map(lambda face, label: (face, label, tf.gather(table, label)))

    config = _augment_config(augment) if training else None
    if config is not None:
        dataset = augment_dataset(dataset, seed=seed, config=config)

    def finish(face, label, *rest):
        return (resize_face(face, input_size), tf.cast(label, tf.float32)) + tuple(rest)

    dataset = dataset.map(finish, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    dataset = dataset.batch(batch_size, drop_remainder=drop_remainder).prefetch(tf.data.AUTOTUNE)
    return _with_options(dataset)


def steps_per_epoch(class_counts: Mapping[int, int], batch_size: int, balance: str = "oversample") -> int:
    """Batches in one training epoch of ``make_frame_dataset`` with these frame counts."""
    if balance == "oversample":
        frames = 2 * max(class_counts.get(REAL, 0), class_counts.get(FAKE, 0))
    else:
        frames = class_counts.get(REAL, 0) + class_counts.get(FAKE, 0)
    return math.ceil(frames / batch_size)


__all__ = [
    "BALANCE_MODES",
    "count_frames_by_label",
    "make_frame_dataset",
    "resize_face",
    "resize_faces",
    "steps_per_epoch",
    "video_stream",
]
