"""Figures: ROC curves, confusion matrices, and embeddings before/after the triplet
head (the poster's scatter plots), projected with PCA or t-SNE.

Figures are drawn with matplotlib's object API on the Agg canvas (no pyplot, no
global backend change) and written to PNG; each function returns the path.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from tfdeepfake.constants import FAKE, LABEL_NAMES, REAL

logger = logging.getLogger(__name__)

PROJECTIONS = ("pca", "tsne")
_COLOURS = {REAL: "tab:blue", FAKE: "tab:red"}


def _new_figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path: str | os.PathLike) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, bbox_inches="tight")
    return path


def plot_roc_curves(
    curves: Mapping[str, tuple[Sequence[int], Sequence[float]]],
    path: str | os.PathLike,
    title: str = "ROC",
) -> Path:
    """One ROC curve per entry ``name -> (y_true, prob_fake)``, AUC in the legend."""
    from sklearn.metrics import roc_auc_score, roc_curve

    fig = _new_figure(5, 5)
    ax = fig.add_subplot(1, 1, 1)
    for name, (y_true, prob) in curves.items():
        y_true = np.asarray(y_true)
        if len(np.unique(y_true)) < 2:
            logger.warning("ROC of %s skipped: only one class present", name)
            continue
        fpr, tpr, _ = roc_curve(y_true, prob)
        ax.plot(fpr, tpr, label=f"{name} (AUC {roc_auc_score(y_true, prob):.3f})")
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1)
    ax.set_xlabel("False positive rate (real called fake)")
    ax.set_ylabel("True positive rate (fake called fake)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.set_title(title)
    ax.legend(loc="lower right")
    return _save(fig, path)


def plot_confusion_matrix(
    y_true,
    prob_fake,
    path: str | os.PathLike,
    threshold: float = 0.5,
    title: str = "Confusion matrix",
) -> Path:
    """Counts of real/fake against predicted real/fake at ``prob >= threshold``."""
    from sklearn.metrics import ConfusionMatrixDisplay, confusion_matrix

    pred = (np.asarray(prob_fake, dtype=np.float64) >= threshold).astype(int)
    matrix = confusion_matrix(np.asarray(y_true).astype(int), pred, labels=[REAL, FAKE])
    fig = _new_figure(4, 4)
    ax = fig.add_subplot(1, 1, 1)
    ConfusionMatrixDisplay(matrix, display_labels=[LABEL_NAMES[REAL], LABEL_NAMES[FAKE]]).plot(
        ax=ax, colorbar=False, values_format="d"
    )
    ax.set_title(f"{title} (threshold {threshold:.3g})")
    return _save(fig, path)


def stratified_subsample(labels, max_points: int, seed: int = 0) -> np.ndarray:
    """Sorted row indices of at most ``max_points`` rows, classes in proportion."""
    labels = np.asarray(labels)
    if len(labels) <= max_points:
        return np.arange(len(labels))
    rng = np.random.default_rng(seed)
    chosen = []
    for label in np.unique(labels):
        rows = np.flatnonzero(labels == label)
        share = max(1, int(round(max_points * len(rows) / len(labels))))
        chosen.append(rng.choice(rows, size=min(share, len(rows)), replace=False))
    return np.sort(np.concatenate(chosen))[:max_points]


def project_2d(x, method: str = "pca", seed: int = 0) -> np.ndarray:
    """Project ``x [N, D]`` to ``[N, 2]`` with PCA or t-SNE (seeded)."""
    if method not in PROJECTIONS:
        raise ValueError(f"unknown projection {method!r}; valid: {', '.join(PROJECTIONS)}")
    x = np.asarray(x, dtype=np.float64)
    if method == "pca":
        from sklearn.decomposition import PCA

        return PCA(n_components=2, random_state=seed).fit_transform(x)
    from sklearn.manifold import TSNE

    perplexity = float(min(30.0, max(2.0, (len(x) - 1) / 3.0)))
    return TSNE(
        n_components=2, perplexity=perplexity, init="pca", random_state=seed
    ).fit_transform(x)


def plot_embedding_scatter(
    before,
    after,
    labels,
    path: str | os.PathLike,
    methods: Sequence[str] = ("pca", "tsne"),
    max_points: int = 1000,
    seed: int = 0,
) -> Path:
    """The poster's scatter: FaceNet embeddings (left) and head outputs (right).

    One row per projection method, points coloured real/fake; at most
    ``max_points`` rows (stratified, seeded) are drawn so t-SNE stays quick.
    """
    before = np.asarray(before)
    after = np.asarray(after)
    labels = np.asarray(labels).astype(int)
    if not len(before) == len(after) == len(labels):
        raise ValueError("before, after and labels must have the same number of rows")
    for method in methods:
        if method not in PROJECTIONS:
            raise ValueError(f"unknown projection {method!r}; valid: {', '.join(PROJECTIONS)}")
    rows = stratified_subsample(labels, max_points, seed)
    fig = _new_figure(10, 4.5 * len(methods))
    panels = (("FaceNet embeddings (before)", before), ("Triplet head (after)", after))
    for r, method in enumerate(methods):
        for c, (name, data) in enumerate(panels):
            ax = fig.add_subplot(len(methods), 2, 2 * r + c + 1)
            xy = project_2d(data[rows], method, seed)
            for label in (REAL, FAKE):
                sel = labels[rows] == label
                ax.scatter(
                    xy[sel, 0], xy[sel, 1], s=6, alpha=0.6, c=_COLOURS[label],
                    label=LABEL_NAMES[label],
                )
            ax.set_title(f"{name}, {method.upper() if method == 'pca' else 't-SNE'}")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.legend(loc="best", markerscale=2)
    return _save(fig, path)
