"""Semi-hard triplet loss in plain TensorFlow (used when tensorflow-addons is absent).

The FaceNet paper's loss (Schroff et al. 2015, arXiv 1503.03832) exactly as
``tfa.losses.TripletSemiHardLoss`` computes it (TFA 0.23), so that the modern stack
(TensorFlow >= 2.16, where TFA no longer installs) trains the same head:

* ``d[a, k]``: pairwise L2 distances of the batch's embeddings (not squared, TFA's
  default ``distance_metric="L2"``), computed from the Gram matrix, clipped at 0, with
  exact zeros kept at zero and the diagonal zeroed (TFA's ``pairwise_distance``);
* for every anchor ``a`` and positive ``p`` (same label, ``p != a``) the negative is the
  nearest ``n`` (other label) with ``d[a, n] > d[a, p]`` (semi-hard); where there is none,
  the farthest negative of ``a`` (TFA's fallback);
* loss = sum of ``max(margin + d[a, p] - d[a, n], 0)`` over all (anchor, positive)
  pairs / their number; one scalar per batch, no further reduction (TFA's
  ``Reduction.NONE`` on a scalar).

The masked minimum / maximum are written as TFA writes them (shift by the row's
max / min, multiply by the mask) so that gradients agree too, ties included: TFA tiles the
distance matrix into ``[n*n, n]``; here the same values are broadcast to ``[n, n, n]``,
which has the same forward values and gradients. Memory is O(n^3), as in TFA.
A batch with no positive pair (every label distinct) gives NaN (0 / 0), as TFA does;
``tfdeepfake.pipelines.balanced`` never builds one. float16/bfloat16 embeddings are
computed in float32 and the loss cast back (as TFA).
"""

from __future__ import annotations

import tensorflow as tf
from tensorflow import keras

DEFAULT_MARGIN = 1.0


def pairwise_distance(embeddings: tf.Tensor, squared: bool = False) -> tf.Tensor:
    """``[n, n]`` Euclidean distances (squared or not); TFA's numerically guarded form."""
    squared_norms = tf.math.reduce_sum(tf.math.square(embeddings), axis=1, keepdims=True)
    dist_sq = squared_norms + tf.transpose(squared_norms) - 2.0 * tf.linalg.matmul(
        embeddings, embeddings, transpose_b=True
    )
    dist_sq = tf.math.maximum(dist_sq, 0.0)
    zero = tf.math.less_equal(dist_sq, 0.0)
    zero_f = tf.cast(zero, embeddings.dtype)
    if squared:
        dist = dist_sq
    else:
        # the 1e-16 keeps sqrt's gradient finite where the distance is 0 (then masked)
        dist = tf.math.sqrt(dist_sq + zero_f * 1e-16)
    dist = dist * (1.0 - zero_f)
    n = tf.shape(embeddings)[0]
    off_diagonal = tf.ones_like(dist) - tf.linalg.diag(tf.ones([n], dtype=dist.dtype))
    return dist * off_diagonal


def _masked_minimum(data: tf.Tensor, mask: tf.Tensor, axis: int = -1) -> tf.Tensor:
    """Minimum of ``data`` where ``mask`` is 1; the row's maximum where it is all 0."""
    row_max = tf.math.reduce_max(data, axis, keepdims=True)
    return tf.math.reduce_min((data - row_max) * mask, axis, keepdims=True) + row_max


def _masked_maximum(data: tf.Tensor, mask: tf.Tensor, axis: int = -1) -> tf.Tensor:
    """Maximum of ``data`` where ``mask`` is 1; the row's minimum where it is all 0."""
    row_min = tf.math.reduce_min(data, axis, keepdims=True)
    return tf.math.reduce_max((data - row_min) * mask, axis, keepdims=True) + row_min


def triplet_semihard_loss(y_true, y_pred, margin: float = DEFAULT_MARGIN,
                          squared: bool = False) -> tf.Tensor:
    """The batch's semi-hard triplet loss (a scalar); ``y_true`` integer labels ``[n]``
    (or ``[n, 1]``), ``y_pred`` L2-normalised embeddings ``[n, d]``."""
    labels = tf.convert_to_tensor(y_true)
    embeddings = tf.convert_to_tensor(y_pred)
    low_precision = embeddings.dtype in (tf.float16, tf.bfloat16)
    x = tf.cast(embeddings, tf.float32) if low_precision else embeddings
    labels = tf.reshape(labels, [-1, 1])
    n = tf.shape(labels)[0]

    dist = pairwise_distance(x, squared=squared)                        # [a, k]
    same = tf.math.equal(labels, tf.transpose(labels))                  # [a, k]
    other = tf.math.logical_not(same)
    other_f = tf.cast(other, x.dtype)

    # [a, p, k]: k is a negative of a farther from a than p is
    dist_ak = dist[:, tf.newaxis, :]
    dist_ap = dist[:, :, tf.newaxis]
    beyond = tf.math.logical_and(other[:, tf.newaxis, :], tf.math.greater(dist_ak, dist_ap))
    has_semihard = tf.math.reduce_any(beyond, axis=2)                   # [a, p]
    data = tf.broadcast_to(dist_ak, tf.stack([n, n, n]))
    semihard = tf.squeeze(_masked_minimum(data, tf.cast(beyond, x.dtype), axis=2), 2)
    hardest = tf.tile(_masked_maximum(dist, other_f, axis=1), tf.stack([1, n]))  # [a, p]
    negative = tf.where(has_semihard, semihard, hardest)

    positives = tf.cast(same, x.dtype) - tf.linalg.diag(tf.ones([n], dtype=x.dtype))
    per_pair = tf.math.maximum((margin + dist - negative) * positives, 0.0)
    loss = tf.math.truediv(tf.math.reduce_sum(per_pair), tf.math.reduce_sum(positives))
    return tf.cast(loss, embeddings.dtype) if low_precision else loss


@keras.utils.register_keras_serializable(package="tfdeepfake")
class TripletSemiHardLoss(keras.losses.Loss):
    """Keras loss wrapping :func:`triplet_semihard_loss` (no reduction: one scalar per
    batch, as ``tfa.losses.TripletSemiHardLoss``)."""

    def __init__(self, margin: float = DEFAULT_MARGIN, squared: bool = False,
                 name: str | None = "triplet_semihard_loss", **kwargs):
        kwargs.pop("reduction", None)
        # "none" is Reduction.NONE's value in Keras 2 and the name Keras 3 takes
        super().__init__(reduction="none", name=name, **kwargs)
        self.margin = float(margin)
        self.squared = bool(squared)

    def call(self, y_true, y_pred):
        return triplet_semihard_loss(y_true, y_pred, margin=self.margin, squared=self.squared)

    def get_config(self):
        config = super().get_config()
        config.update({"margin": self.margin, "squared": self.squared})
        return config
