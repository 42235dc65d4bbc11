"""Frame scores -> video scores. The poster's rule: a video's score is the mean of
its frame probabilities; ``median`` and ``max`` are offered for comparison."""

from __future__ import annotations

import numpy as np

AGGREGATIONS = ("mean", "median", "max")


def aggregate_video_scores(
    frame_probs, video_ids, how: str = "mean"
) -> tuple[np.ndarray, np.ndarray]:
    """``(unique_video_ids, video_probs)``, videos in sorted order.

    ``frame_probs [N]`` and ``video_ids [N]`` line up row by row.
    """
    if how not in AGGREGATIONS:
        raise ValueError(f"unknown aggregation {how!r}; valid: {', '.join(AGGREGATIONS)}")
    probs = np.asarray(frame_probs, dtype=np.float64).ravel()
    video_ids = np.asarray(video_ids).astype(str).ravel()
    if probs.shape != video_ids.shape:
        raise ValueError(
            f"frame_probs has {probs.size} values but video_ids has {video_ids.size}"
        )
    uniq, inverse = np.unique(video_ids, return_inverse=True)
    if how == "mean":
        sums = np.bincount(inverse, weights=probs, minlength=len(uniq))
        counts = np.bincount(inverse, minlength=len(uniq))
        return uniq, sums / counts
    reducer = np.median if how == "median" else np.max
    order = np.argsort(inverse, kind="stable")
    bounds = np.flatnonzero(np.diff(inverse[order])) + 1
    groups = np.split(probs[order], bounds) if len(probs) else []
    return uniq, np.array([reducer(g) for g in groups], dtype=np.float64)


def aggregate_video_labels(labels, video_ids) -> tuple[np.ndarray, np.ndarray]:
    """``(unique_video_ids, video_labels)``; ``ValueError`` if a video's frames disagree."""
    labels = np.asarray(labels).astype(np.int64).ravel()
    video_ids = np.asarray(video_ids).astype(str).ravel()
    if labels.shape != video_ids.shape:
        raise ValueError(f"labels has {labels.size} values but video_ids has {video_ids.size}")
    uniq, inverse = np.unique(video_ids, return_inverse=True)
    lowest = np.full(len(uniq), np.iinfo(np.int64).max)
    highest = np.full(len(uniq), np.iinfo(np.int64).min)
    np.minimum.at(lowest, inverse, labels)
    np.maximum.at(highest, inverse, labels)
    mixed = np.flatnonzero(lowest != highest)
    if len(mixed):
        raise ValueError(f"video {uniq[mixed[0]]!r} has frames with different labels")
    return uniq, lowest
