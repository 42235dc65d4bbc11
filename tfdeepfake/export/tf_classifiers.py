"""The fitted classifiers as TensorFlow ops, for SavedModel and TFLite export.

Each classifier is a `tf.Module` built from the "Classifier arrays" of DEVELOPERS.md
(plain numpy arrays plus the JSON metadata) and called on head embeddings
`[N, D] float32`, returning the fake probability `[N] float32`. No Python object is
needed at serve time: the arrays become variables of the module (frozen to constants by
the TFLite converter).

- ``sgd``: ``sigmoid(x . coef + intercept)``.
- ``knn``: squared Euclidean distances to the stored training embeddings, the ``k``
  smallest taken with ``tf.math.top_k`` of the negated distances, the mean of their
  labels (scikit-learn's ``KNeighborsClassifier(weights="uniform")``).
  *Ties*: when several training points lie at exactly the k-th smallest distance,
  ``top_k`` keeps the one with the lowest index (training order); scikit-learn's choice
  among exact ties depends on its search algorithm and is not specified. The two agree
  whenever the tied points share a label, and always when there is no exact tie. The
  distances use the expansion ``|x|^2 - 2 x.t + |t|^2`` in float32 (no ``[N, M, D]``
  intermediate), so points whose distances differ by less than ~1e-6 may also be
  ordered differently from a float64 search.
- ``rf``: the trees are padded arrays ``[T, max_nodes]``; every sample walks every tree
  at once for a fixed number of steps (the forest's maximum depth) with ``tf.gather``.
  Leaves are made to point to themselves, so a sample that reached its leaf stays there.
  The probability is the mean over trees of the leaf's ``leaf_fake_probability``.
  scikit-learn compares ``float32(x) <= float64 threshold``; that is exactly
  ``x <= t32`` when ``t32`` is the largest float32 not above the float64 threshold (see
  :func:`tfdeepfake.classifiers.forest.float32_floor`), so forests converted that way match it bit for bit.

*Protected parameters* (``protect_params=True``, the default): the float parameters
(coefficients, training embeddings, thresholds, leaf values) are stored as their int32
bit patterns and turned back into float32 at run time (``x + min(batch, 0)`` then
``BITCAST``). TFLite's post-training float16 and dynamic-range quantisation round every
float *constant* (to float16 / int8), RF thresholds and KNN points included; integer
tensors that only become floats at run time are left alone, so every TFLite variant
keeps the classifier exact. The cost is an int32 add over the parameters per call.

All three use only TFLite builtin ops (``BATCH_MATMUL``/``MUL``/``SUM``, ``TOPK_V2``,
``GATHER``, ``SELECT``, ``BITCAST``), so they convert without ``SELECT_TF_OPS``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
import tensorflow as tf

logger = logging.getLogger(__name__)

CLASSIFIER_KINDS = ("sgd", "knn", "rf")

_REQUIRED_ARRAYS = {
    "sgd": ("coef", "intercept"),
    "knn": ("train_embeddings", "train_labels"),
    "rf": (
        "children_left",
        "children_right",
        "feature",
        "threshold",
        "leaf_fake_probability",
    ),
}


class FloatParam(tf.Module):
    """A float32 parameter, optionally hidden from quantisers as int32 bits (see module doc)."""

    def __init__(self, values: np.ndarray, protect: bool, name: str):
        super().__init__(name=name)
        values = np.ascontiguousarray(values, dtype=np.float32)
        self.protect = bool(protect)
        if self.protect:
            self.bits = tf.Variable(values.view(np.int32), trainable=False, name=f"{name}_bits")
        else:
            self.values = tf.Variable(values, trainable=False, name=name)

    def read(self, like: tf.Tensor) -> tf.Tensor:
        """The float32 values; ``like`` is any input tensor (its batch size makes a
        run-time zero the converter cannot fold)."""
        if not self.protect:
            return tf.convert_to_tensor(self.values)
        zero = tf.minimum(tf.shape(like)[0], 0)
        return tf.bitcast(self.bits + zero, tf.float32)


def _check_arrays(kind: str, arrays: Mapping[str, Any]) -> None:
    missing = [name for name in _REQUIRED_ARRAYS[kind] if name not in arrays]
    if missing:
        raise ValueError(f"{kind!r} classifier arrays lack {missing}; got {sorted(arrays)}")


class SGDModule(tf.Module):
    """Logistic-loss linear classifier: ``sigmoid(x . coef + intercept)``."""

    def __init__(
        self, coef: np.ndarray, intercept: np.ndarray | float, protect_params: bool = True, name: str = "sgd"
    ):
        super().__init__(name=name)
        coef = np.asarray(coef, dtype=np.float32).reshape(-1)
        intercept = np.asarray(intercept, dtype=np.float32).reshape(())
        self.dim = int(coef.shape[0])
        self.coef = FloatParam(coef[:, None], protect_params, "coef")  # [D, 1]
        self.intercept = FloatParam(intercept, protect_params, "intercept")

    def __call__(self, embeddings: tf.Tensor) -> tf.Tensor:
        x = tf.cast(embeddings, tf.float32)
        logits = tf.matmul(x, self.coef.read(x))[:, 0] + self.intercept.read(x)
        return tf.math.sigmoid(logits)


class KNNModule(tf.Module):
    """Uniform-weight k-nearest-neighbours vote over stored training embeddings."""

    def __init__(
        self,
        train_embeddings: np.ndarray,
        train_labels: np.ndarray,
        k: int,
        protect_params: bool = True,
        name: str = "knn",
    ):
        super().__init__(name=name)
        emb = np.asarray(train_embeddings, dtype=np.float32)
        labels = np.asarray(train_labels).reshape(-1)
        if emb.ndim != 2 or emb.shape[0] != labels.shape[0]:
            raise ValueError(
                f"train_embeddings [M, D] and train_labels [M] disagree: "
                f"{emb.shape} vs {labels.shape}"
            )
        k = int(k)
        if not 1 <= k <= emb.shape[0]:
            raise ValueError(f"k must be in [1, {emb.shape[0]}] (training points); got {k}")
        self.k = k
        self.dim = int(emb.shape[1])
        # Stored transposed ([D, M]) for x @ t; squared norms precomputed in float64.
        self.train_t = FloatParam(emb.T, protect_params, "train_embeddings_t")
        self.train_sq = FloatParam(np.sum(emb.astype(np.float64) ** 2, axis=1), protect_params, "train_sq_norms")
        # 0/1 labels are exact in every float format.
        self.labels = tf.Variable(labels.astype(np.float32), trainable=False, name="train_labels")

    def squared_distances(self, embeddings: tf.Tensor) -> tf.Tensor:
        x = tf.cast(embeddings, tf.float32)
        x_sq = tf.reduce_sum(x * x, axis=1, keepdims=True)
        d = x_sq - 2.0 * tf.matmul(x, self.train_t.read(x)) + self.train_sq.read(x)[None, :]
        return tf.maximum(d, 0.0)

    def __call__(self, embeddings: tf.Tensor) -> tf.Tensor:
        d = self.squared_distances(embeddings)
        _, idx = tf.math.top_k(-d, k=self.k, sorted=False)
        return tf.reduce_mean(tf.gather(self.labels, idx), axis=1)


def _tree_depth(children_left: np.ndarray, children_right: np.ndarray) -> int:
    """Edges on the longest root-to-leaf path (0 for a single-leaf tree)."""
    depth = 0
    frontier = [0]
    while True:
        nxt = []
        for node in frontier:
            for child in (children_left[node], children_right[node]):
                if child >= 0:
                    nxt.append(int(child))
        if not nxt:
            return depth
        depth += 1
        frontier = nxt


class RandomForestModule(tf.Module):
    """Forest of binary trees walked in lock step with ``tf.gather``.

    Arrays are ``[T, max_nodes]``; node 0 is each tree's root; ``-1`` children mark
    leaves (padding columns are unreachable). Go left when ``x[feature] <= threshold``.
    """

    def __init__(
        self,
        children_left: np.ndarray,
        children_right: np.ndarray,
        feature: np.ndarray,
        threshold: np.ndarray,
        leaf_fake_probability: np.ndarray,
        protect_params: bool = True,
        name: str = "rf",
    ):
        super().__init__(name=name)
        left = np.asarray(children_left, dtype=np.int64)
        right = np.asarray(children_right, dtype=np.int64)
        feat = np.asarray(feature, dtype=np.int64)
        thr = np.asarray(threshold, dtype=np.float32)
        value = np.asarray(leaf_fake_probability, dtype=np.float32)
        shapes = {a.shape for a in (left, right, feat, thr, value)}
        if len(shapes) != 1 or left.ndim != 2:
            raise ValueError(f"rf arrays must all be [T, max_nodes]; got shapes {shapes}")
        n_trees, max_nodes = left.shape
        self.n_trees = int(n_trees)
        self.max_nodes = int(max_nodes)
        self.depth = max(_tree_depth(left[t], right[t]) for t in range(n_trees))

        leaf = left < 0
        node_ids = np.broadcast_to(np.arange(max_nodes), left.shape)
        # Leaves (and padding) point to themselves and compare feature 0 with any value.
        left = np.where(leaf, node_ids, left)
        right = np.where(right < 0, node_ids, right)
        feat = np.where(leaf | (feat < 0), 0, feat)
        thr = np.where(leaf, np.float32(0), thr)
        self.n_features_min = int(feat.max()) + 1

        # Flat arrays: index = tree * max_nodes + node.
        offset = (np.arange(n_trees) * max_nodes)[:, None]
        self.offsets = tf.constant(offset[:, 0].astype(np.int32), name="tree_offsets")
        self.left = tf.Variable((left + offset).reshape(-1).astype(np.int32), trainable=False, name="left")
        self.right = tf.Variable((right + offset).reshape(-1).astype(np.int32), trainable=False, name="right")
        self.feature = tf.Variable(feat.reshape(-1).astype(np.int32), trainable=False, name="feature")
        self.threshold = FloatParam(thr.reshape(-1), protect_params, "threshold")
        self.value = FloatParam(value.reshape(-1), protect_params, "leaf_value")
        logger.debug("rf: %d trees, %d nodes max, depth %d", n_trees, max_nodes, self.depth)

    def __call__(self, embeddings: tf.Tensor) -> tf.Tensor:
        x = tf.cast(embeddings, tf.float32)
        n = tf.shape(x)[0]
        # [N, T] flat node index, starting at every tree's root.
        node = tf.tile(self.offsets[None, :], tf.stack([n, 1]))
        threshold = self.threshold.read(x)
        for _ in range(self.depth):
            feat = tf.gather(self.feature, node)
            thr = tf.gather(threshold, node)
            xv = tf.gather(x, feat, batch_dims=1)
            node = tf.where(xv <= thr, tf.gather(self.left, node), tf.gather(self.right, node))
        return tf.reduce_mean(tf.gather(self.value.read(x), node), axis=1)


def build_tf_classifier(
    kind: str,
    arrays: Mapping[str, Any],
    meta: Mapping[str, Any] | None = None,
    *,
    protect_params: bool = True,
):
    """A callable ``embeddings [N, D] -> fake probability [N] float32`` (a ``tf.Module``).

    ``kind`` is one of ``"sgd"``, ``"knn"``, ``"rf"``; ``arrays`` are the classifier
    arrays of DEVELOPERS.md; ``meta`` the classifier JSON (``k`` for knn).
    ``protect_params`` keeps the float parameters out of TFLite's weight quantisation
    (module docstring).
    """
    meta = dict(meta or {})
    if kind not in CLASSIFIER_KINDS:
        raise ValueError(f"unknown classifier kind {kind!r}; valid kinds: {list(CLASSIFIER_KINDS)}")
    _check_arrays(kind, arrays)
    if kind == "sgd":
        return SGDModule(arrays["coef"], arrays["intercept"], protect_params)
    if kind == "knn":
        k = meta.get("k", arrays.get("k"))
        if k is None:
            raise ValueError("knn classifier needs 'k' in its metadata")
        return KNNModule(arrays["train_embeddings"], arrays["train_labels"], int(np.asarray(k)), protect_params)
    return RandomForestModule(
        arrays["children_left"],
        arrays["children_right"],
        arrays["feature"],
        arrays["threshold"],
        arrays["leaf_fake_probability"],
        protect_params,
    )
