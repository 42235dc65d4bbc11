import numpy as np
import pytest

from tfdeepfake.evaluation.plots import (
    plot_confusion_matrix,
    plot_embedding_scatter,
    plot_roc_curves,
    project_2d,
    stratified_subsample,
)

PNG = b"\x89PNG"


def test_roc_and_confusion_plots(tmp_path):
    y = np.array([0, 0, 1, 1, 1])
    p = np.array([0.1, 0.6, 0.4, 0.8, 0.9])
    roc = plot_roc_curves({"sgd": (y, p), "rf": (y, 1 - p)}, tmp_path / "roc.png")
    cm = plot_confusion_matrix(y, p, tmp_path / "sub" / "cm.png", threshold=0.5)
    for path in (roc, cm):
        assert path.read_bytes()[:4] == PNG


def test_embedding_scatter_before_after(tmp_path):
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], 20)
    before = rng.normal(size=(40, 16))
    after = before[:, :4] + 3.0 * labels[:, None]
    path = plot_embedding_scatter(
        before, after, labels, tmp_path / "scatter.png", max_points=30, seed=0
    )
    assert path.read_bytes()[:4] == PNG
    with pytest.raises(ValueError, match="valid: pca, tsne"):
        plot_embedding_scatter(before, after, labels, tmp_path / "x.png", methods=("umap",))


def test_projection_and_subsample():
    x = np.random.default_rng(0).normal(size=(30, 5))
    assert project_2d(x, "pca").shape == (30, 2)
    labels = np.array([0] * 10 + [1] * 90)
    rows = stratified_subsample(labels, 20, seed=0)
    assert len(rows) == 20 and (labels[rows] == 0).sum() == 2
    np.testing.assert_array_equal(rows, stratified_subsample(labels, 20, seed=0))
