"""K nearest neighbours (k = 10, Euclidean, uniform vote), as in the poster.

Arrays: ``train_embeddings [M, D] float32``, ``train_labels [M] int32``; JSON ``k``.
``p(fake) = mean(train_labels of the k nearest training rows)``. When two training
rows are at exactly the same distance at the k-th place, the one that comes first is
taken; scikit-learn may break such ties differently.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from sklearn.neighbors import KNeighborsClassifier

from tfdeepfake.classifiers.base import FrameClassifier, _require

logger = logging.getLogger(__name__)

# rows of the query processed at once, to bound the [rows, M] distance matrix
_CHUNK = 256


class KnnFrameClassifier(FrameClassifier):
    """``KNeighborsClassifier(n_neighbors=k)`` with a numpy prediction path."""

    kind = "knn"
    param_types = {"k": int}
    json_types = {"k": int}

    def __init__(self, k: int = 10):
        self.k = k

    def _fit_arrays(self, x, y):
        if int(self.k) < 1:
            raise ValueError(f"k must be >= 1, got {self.k}")
        k = int(self.k)
        if k > len(x):
            logger.warning("k=%d but only %d training rows; using k=%d", k, len(x), len(x))
            k = len(x)
        self.estimator_ = KNeighborsClassifier(n_neighbors=k).fit(x, y)
        arrays = {
            "train_embeddings": np.ascontiguousarray(x, dtype=np.float32),
            "train_labels": y.astype(np.int32),
        }
        return arrays, {"k": k}

    @classmethod
    def _check_arrays(cls, arrays, meta) -> None:
        _require(arrays, {"train_embeddings": np.float32, "train_labels": np.int32}, cls.kind)
        m = len(arrays["train_embeddings"])
        if arrays["train_embeddings"].ndim != 2 or arrays["train_labels"].shape != (m,):
            raise ValueError("knn arrays: train_embeddings must be [M, D], train_labels [M]")
        if arrays["train_embeddings"].shape[1] != int(meta["n_features"]):
            raise ValueError(f"knn array 'train_embeddings' has {arrays['train_embeddings'].shape[1]} "
                             f"features, JSON n_features says {meta['n_features']}")
        if not np.isin(arrays["train_labels"], (0, 1)).all():
            raise ValueError("knn array 'train_labels' holds labels other than 0 (real) and 1 (fake)")
        if not 1 <= int(meta.get("k", 0)) <= m:
            raise ValueError(f"knn JSON k={meta.get('k')} must be in [1, {m}]")

    def _predict_from_arrays(self, x: np.ndarray) -> np.ndarray:
        train = self.arrays_["train_embeddings"].astype(np.float64)
        labels = self.arrays_["train_labels"].astype(np.float64)
        k = int(self.meta_["k"])
        train_sq = np.einsum("ij,ij->i", train, train)
        out = np.empty(len(x), dtype=np.float64)
        for start in range(0, len(x), _CHUNK):
            q = x[start : start + _CHUNK].astype(np.float64)
            d2 = np.einsum("ij,ij->i", q, q)[:, None] - 2.0 * q @ train.T + train_sq[None, :]
            # the k smallest distances; ties at the k-th place go to the lowest index
            kth = np.partition(d2, k - 1, axis=1)[:, k - 1 : k]
            closer = d2 < kth
            tied = d2 == kth
            room = k - closer.sum(axis=1, keepdims=True)
            chosen = closer | (tied & (np.cumsum(tied, axis=1) <= room))
            out[start : start + len(q)] = (chosen @ labels) / k
        return out

    def _param_json(self) -> dict[str, Any]:
        return {"k": int(self.k)}
