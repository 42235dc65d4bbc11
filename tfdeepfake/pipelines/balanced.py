"""P x K balanced batches for triplet training.

Semi-hard triplet mining needs positives and negatives in every batch, so every batch
holds both classes (half real, half fake by default) and frames from several videos
(at most ``frames_per_video`` frames of one video per batch, so one video cannot fill
a class's half). The minority class is oversampled: Celeb-DF-v2's training split is
7:1 fake:real.

The sampler is a chain of small steps, each testable alone:

1. ``group_by_class_and_video``: label -> video -> frame row indices.
2. ``balanced_batch_indices``: choose rows for each batch (pure numpy, seeded).
3. ``make_balanced_dataset``: gather rows -> ``(x, y)`` batches -> prefetch.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Iterator, Mapping, Sequence

import numpy as np
import tensorflow as tf

from tfdeepfake.constants import FAKE, REAL

logger = logging.getLogger(__name__)

DEFAULT_FRAMES_PER_VIDEO = 4


def group_by_class_and_video(labels, video_ids) -> dict[int, dict[str, np.ndarray]]:
    """``{label: {video_id: row indices}}``, videos and rows in sorted order.

    Raises ``ValueError`` when one video carries two labels.
    """
    labels = np.asarray(labels)
    video_ids = np.asarray(video_ids).astype(str)
    if labels.shape != video_ids.shape or labels.ndim != 1:
        raise ValueError(
            f"labels and video_ids must be 1-d and equally long, got {labels.shape} "
            f"and {video_ids.shape}"
        )
    groups: dict[int, dict[str, np.ndarray]] = {}
    uniq, inverse = np.unique(video_ids, return_inverse=True)
    for v, vid in enumerate(uniq):
        rows = np.flatnonzero(inverse == v)
        video_labels = np.unique(labels[rows])
        if len(video_labels) != 1:
            raise ValueError(f"video {vid!r} has frames with labels {video_labels.tolist()}")
        groups.setdefault(int(video_labels[0]), {})[str(vid)] = rows
    return {label: groups[label] for label in sorted(groups)}


class _ClassSampler:
    """Draws frames of one class, cycling through its videos in shuffled order.

    Each video keeps a shuffled queue of its frames, refilled when empty, so over
    time every frame is drawn about equally often; a minority class simply cycles
    faster (oversampling).
    """

    def __init__(self, videos: Mapping[str, np.ndarray], rng: np.random.Generator):
        self._rng = rng
        self._videos = list(videos.values())
        self._queues: list[list[int]] = [[] for _ in self._videos]
        self._order: list[int] = []

    def _next_video(self, used: set[int]) -> int:
        if not self._order:
            shuffled = [int(v) for v in self._rng.permutation(len(self._videos))]
            # videos already in this batch go to the bottom of the new cycle
            self._order = [v for v in shuffled if v in used] + [
                v for v in shuffled if v not in used
            ]
        return self._order.pop()

    def _take(self, v: int, n: int) -> list[int]:
        taken: list[int] = []
        frames = self._videos[v]
        # never the same frame twice in one draw unless the video is too short
        while len(taken) < n:
            if not self._queues[v]:
                shuffled = [int(f) for f in frames[self._rng.permutation(len(frames))]]
                # frames already taken in this draw go to the bottom of the new queue
                self._queues[v] = [f for f in shuffled if f in taken] + [
                    f for f in shuffled if f not in taken
                ]
            taken.append(int(self._queues[v].pop()))
            if len(taken) >= len(frames):
                break
        return taken

    def draw(self, n: int, frames_per_video: int) -> list[int]:
        rows: list[int] = []
        used: set[int] = set()
        while len(rows) < n:
            v = self._next_video(used)
            used.add(v)
            rows.extend(self._take(v, min(frames_per_video, n - len(rows))))
        return rows


def balanced_batch_indices(
    labels,
    video_ids,
    batch_size: int = 32,
    frames_per_video: int = DEFAULT_FRAMES_PER_VIDEO,
    num_batches: int = 1,
    seed: int | Sequence[int] = 0,
    fake_fraction: float = 0.5,
    *,
    warn: bool = True,
) -> np.ndarray:
    """Row indices ``[num_batches, batch_size]`` of P x K balanced batches.

    Each batch holds ``round(batch_size * fake_fraction)`` fake rows and the rest
    real, drawn as up to ``frames_per_video`` frames from each of several videos
    (a class with too few videos to fill its share this way repeats videos, and a
    warning says so unless ``warn=False``). Rows within a batch are shuffled.
    Same arguments, same result.
    """
    if batch_size < 2:
        raise ValueError(f"batch_size must be >= 2 to hold both classes, got {batch_size}")
    if frames_per_video < 1:
        raise ValueError(f"frames_per_video must be >= 1, got {frames_per_video}")
    if num_batches < 0:
        raise ValueError(f"num_batches must be >= 0, got {num_batches}")
    if not 0.0 < fake_fraction < 1.0:
        raise ValueError(f"fake_fraction must be in (0, 1), got {fake_fraction}")
    groups = group_by_class_and_video(labels, video_ids)
    missing = [name for name, label in (("real", REAL), ("fake", FAKE)) if label not in groups]
    if missing:
        raise ValueError(
            f"balanced batches need both classes; no {' and no '.join(missing)} frames "
            f"(found labels {sorted(groups)})"
        )
    extra = sorted(set(groups) - {REAL, FAKE})
    if extra:
        raise ValueError(f"labels must be {REAL} (real) or {FAKE} (fake), found {extra}")

    n_fake = min(max(int(round(batch_size * fake_fraction)), 1), batch_size - 1)
    quotas = {REAL: batch_size - n_fake, FAKE: n_fake}
    for label, quota in quotas.items():
        n_videos = len(groups[label])
        if warn and n_videos * frames_per_video < quota:
            logger.warning(
                "class %d has %d videos: a batch share of %d frames needs %d videos at "
                "%d frames each; videos will repeat within a batch",
                label,
                n_videos,
                quota,
                math.ceil(quota / frames_per_video),
                frames_per_video,
            )

    rng = np.random.default_rng(seed)
    samplers = {label: _ClassSampler(groups[label], rng) for label in (REAL, FAKE)}
    out = np.empty((num_batches, batch_size), dtype=np.int64)
    for b in range(num_batches):
        rows = samplers[REAL].draw(quotas[REAL], frames_per_video)
        rows += samplers[FAKE].draw(quotas[FAKE], frames_per_video)
        out[b] = rng.permutation(np.asarray(rows, dtype=np.int64))
    return out


def default_steps_per_epoch(labels, batch_size: int, fake_fraction: float = 0.5) -> int:
    """Batches for one pass over the larger class (the minority is oversampled)."""
    labels = np.asarray(labels)
    shares = {FAKE: fake_fraction, REAL: 1.0 - fake_fraction}
    steps = [
        math.ceil(np.count_nonzero(labels == label) / max(batch_size * share, 1.0))
        for label, share in shares.items()
    ]
    return max(max(steps), 1)


def make_balanced_dataset(
    embeddings,
    labels,
    video_ids,
    batch_size: int = 32,
    frames_per_video: int = DEFAULT_FRAMES_PER_VIDEO,
    seed: int = 0,
    steps_per_epoch: int | None = None,
    fake_fraction: float = 0.5,
    reshuffle_each_iteration: bool = True,
) -> tf.data.Dataset:
    """A finite ``tf.data.Dataset`` of ``steps_per_epoch`` balanced ``(x, y)`` batches.

    ``x`` is ``[batch_size, D] float32``, ``y`` is ``[batch_size] int32``. With
    ``reshuffle_each_iteration`` each pass (epoch) draws new batches, seeded by
    ``(seed, pass number)``; without it every pass repeats the same batches (use that
    for validation). ``steps_per_epoch`` defaults to one pass over the larger class.
    """
    embeddings = np.asarray(embeddings, dtype=np.float32)
    labels = np.asarray(labels)
    if embeddings.ndim != 2 or len(embeddings) != len(labels):
        raise ValueError(
            f"embeddings must be [N, D] with N = len(labels); got {embeddings.shape} "
            f"and {len(labels)} labels"
        )
    if steps_per_epoch is None:
        steps_per_epoch = default_steps_per_epoch(labels, batch_size, fake_fraction)
    if steps_per_epoch < 1:
        raise ValueError(f"steps_per_epoch must be >= 1, got {steps_per_epoch}")
    # validate once, eagerly, so errors surface here and not inside tf.data
    balanced_batch_indices(
        labels, video_ids, batch_size, frames_per_video, 0, seed, fake_fraction
    )
    labels32 = labels.astype(np.int32)
    passes = itertools.count()

    def generate() -> Iterator[tuple[np.ndarray, np.ndarray]]:
        epoch = next(passes) if reshuffle_each_iteration else 0
        plan = balanced_batch_indices(
            labels,
            video_ids,
            batch_size,
            frames_per_video,
            steps_per_epoch,
            seed=[int(seed), epoch],
            fake_fraction=fake_fraction,
            warn=False,
        )
        for rows in plan:
            yield embeddings[rows], labels32[rows]

    dim = embeddings.shape[1]
    dataset = tf.data.Dataset.from_generator(
        generate,
        output_signature=(
            tf.TensorSpec(shape=(batch_size, dim), dtype=tf.float32),
            tf.TensorSpec(shape=(batch_size,), dtype=tf.int32),
        ),
    )
    dataset = dataset.apply(tf.data.experimental.assert_cardinality(steps_per_epoch))
    return dataset.prefetch(tf.data.AUTOTUNE)

