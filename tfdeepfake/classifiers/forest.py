"""Random forest (100 trees), stored as padded node arrays and walked in numpy.

Arrays, one row per tree, padded to ``[T, max_nodes]``:

- ``children_left``, ``children_right`` (int32): child node ids, ``-1`` at leaves and
  in padding;
- ``feature`` (int32) and ``threshold`` (float32): go left when
  ``x[feature] <= threshold``; both are 0 at leaves and padding, so a vectorised walk
  may gather them without checking;
- ``leaf_fake_probability`` (float32): the fraction of fake (weighted, bootstrap)
  training samples in the node, from ``tree_.value`` normalised per node.

JSON adds ``n_trees``, ``max_nodes`` and ``max_tree_depth`` (the most edges from a root to
a leaf; a fixed-length walk of that many steps reaches every leaf).
``p(fake) = mean over trees of the reached leaf's value``.

scikit-learn compares float32 features with float64 thresholds. Each threshold is
stored as the largest float32 not above it, which decides every float32 input the
same way, so the leaves reached are exactly scikit-learn's (``apply``).
"""

from __future__ import annotations

import numpy as np
from sklearn.ensemble import RandomForestClassifier

from tfdeepfake.classifiers.base import FrameClassifier, _require
from tfdeepfake.constants import FAKE

_INT_ARRAYS = ("children_left", "children_right", "feature")
_FLOAT_ARRAYS = ("threshold", "leaf_fake_probability")


def float32_floor(values) -> np.ndarray:
    """The largest float32 ``<=`` each float64 value."""
    values = np.asarray(values, dtype=np.float64)
    out = values.astype(np.float32)
    too_big = out.astype(np.float64) > values
    out[too_big] = np.nextafter(out[too_big], np.float32(-np.inf))
    return out


class RandomForestFrameClassifier(FrameClassifier):
    """``RandomForestClassifier(n_estimators=100)`` with a numpy tree walk."""

    kind = "rf"
    param_types = {"n_trees": int, "max_depth": (int, type(None)), "seed": int, "n_jobs": (int, type(None))}
    json_types = {"n_trees": int, "max_nodes": int, "max_tree_depth": int}

    def __init__(
        self,
        n_trees: int = 100,
        max_depth: int | None = None,
        seed: int = 0,
        n_jobs: int | None = None,
    ):
        self.n_trees = n_trees
        self.max_depth = max_depth
        self.seed = seed
        self.n_jobs = n_jobs

    def _fit_arrays(self, x, y):
        est = RandomForestClassifier(
            n_estimators=int(self.n_trees),
            max_depth=None if self.max_depth is None else int(self.max_depth),
            random_state=int(self.seed),
            n_jobs=self.n_jobs,
        ).fit(x, y)
        self.estimator_ = est
        fake_col = int(np.flatnonzero(est.classes_ == FAKE)[0])
        trees = [t.tree_ for t in est.estimators_]
        n_trees = len(trees)
        max_nodes = max(t.node_count for t in trees)
        arrays = {
            "children_left": np.full((n_trees, max_nodes), -1, dtype=np.int32),
            "children_right": np.full((n_trees, max_nodes), -1, dtype=np.int32),
            "feature": np.zeros((n_trees, max_nodes), dtype=np.int32),
            "threshold": np.zeros((n_trees, max_nodes), dtype=np.float32),
            "leaf_fake_probability": np.zeros((n_trees, max_nodes), dtype=np.float32),
        }
        depth = 0
        for i, tree in enumerate(trees):
            n = tree.node_count
            left = tree.children_left[:n]
            internal = left != -1
            arrays["children_left"][i, :n] = left
            arrays["children_right"][i, :n] = tree.children_right[:n]
            arrays["feature"][i, :n] = np.where(internal, tree.feature[:n], 0)
            arrays["threshold"][i, :n] = np.where(internal, float32_floor(tree.threshold[:n]), 0)
            value = tree.value[:n, 0, :]
            totals = value.sum(axis=1)
            arrays["leaf_fake_probability"][i, :n] = np.divide(
                value[:, fake_col], totals, out=np.zeros(n), where=totals > 0
            )
            depth = max(depth, int(tree.max_depth))
        meta = {"n_trees": n_trees, "max_nodes": int(max_nodes), "max_tree_depth": depth}
        return arrays, meta

    @classmethod
    def _check_arrays(cls, arrays, meta) -> None:
        _require(arrays, {name: np.int32 for name in _INT_ARRAYS}, cls.kind)
        _require(arrays, {name: np.float32 for name in _FLOAT_ARRAYS}, cls.kind)
        shape = arrays["children_left"].shape
        if len(shape) != 2 or any(arrays[n].shape != shape for n in _INT_ARRAYS + _FLOAT_ARRAYS):
            raise ValueError("rf arrays must all be [T, max_nodes]")
        if int(meta.get("max_tree_depth", -1)) < 0:
            raise ValueError("rf JSON lacks max_tree_depth")
        # The tree walk indexes with these: out of range would fail (or read junk) mid-predict.
        nodes = shape[1]
        for name in ("children_left", "children_right"):
            if arrays[name].size and not (-1 <= arrays[name].min() and arrays[name].max() < nodes):
                raise ValueError(f"rf array {name!r} holds node ids outside [-1, {nodes})")
        features = int(meta["n_features"])
        if arrays["feature"].size and not (0 <= arrays["feature"].min()
                                           and arrays["feature"].max() < features):
            raise ValueError(f"rf array 'feature' holds feature ids outside [0, {features})")

    def leaf_indices(self, x) -> np.ndarray:
        """The leaf each row reaches in each tree, ``[N, T]`` (like sklearn's ``apply``)."""
        x = np.asarray(x, dtype=np.float32)
        left = self.arrays_["children_left"]
        right = self.arrays_["children_right"]
        feature = self.arrays_["feature"]
        threshold = self.arrays_["threshold"]
        n_trees = left.shape[0]
        rows = np.arange(len(x))
        nodes = np.zeros((len(x), n_trees), dtype=np.int64)
        for t in range(n_trees):
            node = nodes[:, t]
            for _ in range(int(self.meta_["max_tree_depth"]) + 1):
                active = left[t, node] != -1
                if not active.any():
                    break
                go_left = x[rows, feature[t, node]] <= threshold[t, node]
                nxt = np.where(go_left, left[t, node], right[t, node])
                node = np.where(active, nxt, node)
            nodes[:, t] = node
        return nodes

    def _predict_from_arrays(self, x: np.ndarray) -> np.ndarray:
        leaves = self.leaf_indices(x)
        values = self.arrays_["leaf_fake_probability"]
        per_tree = values[np.arange(values.shape[0])[None, :], leaves].astype(np.float64)
        return per_tree.mean(axis=1)
