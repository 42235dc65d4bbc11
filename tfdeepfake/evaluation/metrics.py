"""Frame- and video-level metrics, computed with scikit-learn.

A probability at or above the threshold means "fake" (label 1). Metrics that need
both classes (AUC, EER; AP needs a fake) are NaN, with an ``UndefinedMetricWarning``,
when the input lacks one.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

import numpy as np
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
    roc_curve,
)

from tfdeepfake.constants import FAKE, REAL
from tfdeepfake.scoring import aggregate_video_labels, aggregate_video_scores

logger = logging.getLogger(__name__)

METRIC_NAMES = ("auc", "accuracy", "precision", "recall", "f1", "eer", "average_precision")
BOOTSTRAP_METRICS = ("auc", "accuracy")
THRESHOLD_CRITERIA = ("youden", "balanced_accuracy", "eer")


def _check_inputs(y_true, prob_fake) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true).astype(np.int64).ravel()
    p = np.asarray(prob_fake, dtype=np.float64).ravel()
    if y.shape != p.shape:
        raise ValueError(f"y_true has {y.size} values but prob_fake has {p.size}")
    if y.size == 0:
        raise ValueError("no samples to evaluate")
    bad = sorted(set(np.unique(y).tolist()) - {REAL, FAKE})
    if bad:
        raise ValueError(f"labels must be {REAL} (real) or {FAKE} (fake), found {bad}")
    if not np.all(np.isfinite(p)):
        raise ValueError("prob_fake holds NaN or infinite values")
    return y, p


def equal_error_rate(y_true, prob_fake) -> float:
    """Where the false-positive rate equals the false-negative rate on the ROC curve.

    The ROC points from ``roc_curve`` are joined by straight lines and the crossing of
    FPR and FNR = 1 - TPR is found on them.
    """
    y, p = _check_inputs(y_true, prob_fake)
    if len(np.unique(y)) < 2:
        return float("nan")
    fpr, tpr, _ = roc_curve(y, p)
    gap = (1.0 - tpr) - fpr  # starts at 1, ends at -1, never increases
    i = int(np.flatnonzero(gap <= 0)[0])
    if gap[i] == 0:
        return float(fpr[i])
    t = gap[i - 1] / (gap[i - 1] - gap[i])
    return float(fpr[i - 1] + t * (fpr[i] - fpr[i - 1]))


def binary_metrics(y_true, prob_fake, threshold: float = 0.5) -> dict[str, Any]:
    """AUC, accuracy, precision, recall, F1, EER, AP and counts for one set of scores."""
    y, p = _check_inputs(y_true, prob_fake)
    pred = (p >= threshold).astype(np.int64)
    n_fake = int(np.count_nonzero(y == FAKE))
    n_real = int(y.size - n_fake)
    both = n_fake > 0 and n_real > 0
    if both:
        auc = float(roc_auc_score(y, p))
        eer = equal_error_rate(y, p)
    else:
        present = "fake" if n_fake else "real"
        warnings.warn(
            f"only {present} samples ({y.size}); AUC and EER are undefined (NaN)",
            UndefinedMetricWarning,
            stacklevel=2,
        )
        auc = eer = float("nan")
    if n_fake > 0:
        ap = float(average_precision_score(y, p))
    else:
        ap = float("nan")
    return {
        "auc": auc,
        "accuracy": float(accuracy_score(y, pred)),
        "precision": float(precision_score(y, pred, labels=[REAL, FAKE], zero_division=0)),
        "recall": float(recall_score(y, pred, labels=[REAL, FAKE], zero_division=0)),
        "f1": float(f1_score(y, pred, labels=[REAL, FAKE], zero_division=0)),
        "eer": eer,
        "average_precision": ap,
        "n": int(y.size),
        "n_real": n_real,
        "n_fake": n_fake,
        "threshold": float(threshold),
    }


def choose_threshold(y_true, prob, criterion: str = "youden") -> float:
    """A decision threshold chosen on validation scores.

    ``youden`` maximises TPR - FPR, which is the same as maximising balanced accuracy
    (``balanced_accuracy`` is accepted as a synonym); ``eer`` takes the ROC point
    closest to FPR = FNR. The threshold is one of ``roc_curve``'s, for the rule
    ``prob >= threshold``; ties go to the higher threshold. With one class only,
    0.5 is returned with a warning.
    """
    if criterion not in THRESHOLD_CRITERIA:
        raise ValueError(
            f"unknown criterion {criterion!r}; valid: {', '.join(THRESHOLD_CRITERIA)}"
        )
    y, p = _check_inputs(y_true, prob)
    if len(np.unique(y)) < 2:
        warnings.warn(
            "only one class present; cannot choose a threshold, using 0.5",
            UndefinedMetricWarning,
            stacklevel=2,
        )
        return 0.5
    fpr, tpr, thresholds = roc_curve(y, p, drop_intermediate=False)
    if criterion in ("youden", "balanced_accuracy"):
        i = int(np.argmax(tpr - fpr))
    else:
        i = int(np.argmin(np.abs((1.0 - tpr) - fpr)))
    threshold = float(thresholds[i])
    if not np.isfinite(threshold):  # roc_curve's first point: nothing called fake
        threshold = float(np.nextafter(p.max(), np.inf))
    return threshold


def frame_and_video_metrics(
    y_true,
    prob_fake,
    video_ids,
    threshold: float = 0.5,
    how: str = "mean",
    video_threshold: float | None = None,
) -> dict[str, dict[str, Any]]:
    """``{"frame": binary_metrics(frames), "video": binary_metrics(videos)}``.

    Video scores aggregate frame probabilities (``how``, the poster's ``mean`` by
    default); ``video_threshold`` defaults to ``threshold``.
    """
    y, p = _check_inputs(y_true, prob_fake)
    vids, video_probs = aggregate_video_scores(p, video_ids, how=how)
    vids_l, video_labels = aggregate_video_labels(y, video_ids)
    assert np.array_equal(vids, vids_l)
    vt = threshold if video_threshold is None else video_threshold
    result = {
        "frame": binary_metrics(y, p, threshold),
        "video": binary_metrics(video_labels, video_probs, vt),
    }
    result["video"]["aggregation"] = how
    return result


def bootstrap_ci(
    labels,
    probs,
    metric: str = "auc",
    n: int = 1000,
    seed: int = 0,
    *,
    threshold: float = 0.5,
    level: float = 0.95,
) -> dict[str, Any]:
    """Percentile bootstrap confidence interval of ``metric`` (``auc`` or ``accuracy``).

    Each resample draws ``len(labels)`` rows with replacement; pass one row per VIDEO, so the
    interval reflects how few videos a test set has (frames of one video are not independent).
    AUC resamples holding one class only are dropped, and counted. Returns ``{"low", "high",
    "level", "n", "used"}``; ``low``/``high`` are NaN when no resample was usable.
    """
    if metric not in BOOTSTRAP_METRICS:
        raise ValueError(f"unknown metric {metric!r}; valid: {', '.join(BOOTSTRAP_METRICS)}")
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    y, p = _check_inputs(labels, probs)
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, y.size, size=(n, y.size))
    ys, ps = y[rows], p[rows]
    if metric == "accuracy":
        values = ((ps >= threshold).astype(np.int64) == ys).mean(axis=1)
    else:
        both = (ys == FAKE).any(axis=1) & (ys == REAL).any(axis=1)
        values = np.asarray([roc_auc_score(ys[i], ps[i]) for i in np.flatnonzero(both)], np.float64)
    if values.size == 0:
        low = high = float("nan")
    else:
        tail = 100.0 * (1.0 - level) / 2.0
        low, high = (float(v) for v in np.percentile(values, [tail, 100.0 - tail]))
    return {"low": low, "high": high, "level": float(level), "n": int(n), "used": int(values.size)}
