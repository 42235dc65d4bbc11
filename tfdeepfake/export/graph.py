"""The face -> fake-probability graphs the SavedModel and TFLite exports share.

A face scorer is a ``tf.Module`` taking raw face crops ``uint8 [N, S, S, 3]`` and giving
``(fake_probability [N] float32, embedding [N, D] float32)``, TensorFlow ops only, so the
graph serves without Python objects:

- :class:`FaceScorer` (the triplet method): FaceNet (does its own standardisation) ->
  head (L2-normalised D-d embedding) -> classifier ops;
- :class:`KerasFaceScorer` (a Keras face classifier such as the Xception baseline): the
  model's own preprocessing and sigmoid output; ``embedding`` is the output of one of its
  layers (Xception's average-pooled features).

:func:`aggregate_faces` turns the face probabilities of one video into its probability by
the model's rule (``mean``, ``median`` or ``max``), the same numbers
:func:`tfdeepfake.scoring.aggregate_video_scores` gives.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
import tensorflow as tf

from tfdeepfake.constants import FACENET_INPUT_SIZE
from tfdeepfake.export.tf_classifiers import build_tf_classifier
from tfdeepfake.provenance import json_ready
from tfdeepfake.scoring import AGGREGATIONS

logger = logging.getLogger(__name__)

# Name scope of the classifier ops inside exported graphs (kept float in int8 TFLite).
CLASSIFIER_SCOPE = "classifier"


def verdict_is_fake(probability, threshold: float):
    """The project's decision rule: fake when ``probability >= threshold``."""
    return probability >= threshold


def check_aggregation(how: str) -> str:
    if how not in AGGREGATIONS:
        raise ValueError(f"unknown aggregation {how!r}; valid: {', '.join(AGGREGATIONS)}")
    return how


def aggregate_faces(probabilities: tf.Tensor, how: str) -> tf.Tensor:
    """``[F]`` face probabilities -> the video's probability ``[]``; NaN when ``F == 0``.

    The median of an even count is the mean of the two middle values, as ``np.median``.
    The mean and median are computed in float64, as ``detect`` computes them, and rounded
    once to float32: a float32 sum drifts by a step or two, enough to cross a threshold
    that ``calibrate`` set one float32 step above a real video's score.
    """
    check_aggregation(how)
    probabilities = tf.reshape(tf.cast(probabilities, tf.float64), [-1])
    count = tf.size(probabilities, out_type=tf.int32)
    nan = tf.constant(float("nan"), tf.float64)
    if how == "mean":
        value = tf.reduce_sum(probabilities) / tf.cast(tf.maximum(count, 1), tf.float64)
    elif how == "max":
        value = tf.reduce_max(tf.concat([probabilities, tf.constant([-1.0], tf.float64)], 0))
    else:
        # One value above every probability keeps the gathers in range when there is no
        # face; sorted last, it is never picked otherwise.
        ordered = tf.sort(tf.concat([probabilities, tf.constant([2.0], tf.float64)], 0))
        lower = tf.gather(ordered, tf.maximum(count - 1, 0) // 2)
        upper = tf.gather(ordered, count // 2)
        value = (lower + upper) / 2.0
    return tf.cast(tf.where(count > 0, value, nan), tf.float32)


class FaceScorerBase(tf.Module):
    """What every exported face scorer offers."""

    face_size: int
    embedding_dim: int

    def score(self, faces: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        raise NotImplementedError

    def faces_spec(self, name: str = "faces") -> tf.TensorSpec:
        return tf.TensorSpec([None, self.face_size, self.face_size, 3], tf.uint8, name=name)

    def describe(self) -> dict[str, Any]:
        """What ``tflite_export.json`` and the model card say about the graph."""
        return {"face_size": self.face_size, "embedding_dim": self.embedding_dim}


class FaceScorer(FaceScorerBase):
    """The triplet method: ``faces -> FaceNet -> head -> classifier``."""

    def __init__(
        self,
        embedder: tf.keras.Model,
        head: tf.keras.Model,
        classifier_kind: str,
        classifier_arrays: Mapping[str, Any],
        classifier_meta: Mapping[str, Any] | None = None,
        face_size: int = FACENET_INPUT_SIZE,
        name: str = "face_scorer",
    ):
        super().__init__(name=name)
        self.embedder = embedder
        self.head = head
        self.classifier = build_tf_classifier(classifier_kind, classifier_arrays, classifier_meta)
        self.classifier_kind = classifier_kind
        # As JSON text: a dict attribute of a tf.Module would be wrapped for tracking.
        self._classifier_meta_json = json.dumps(json_ready(dict(classifier_meta or {})))
        self.face_size = int(face_size)
        head_dim = head.output_shape[-1]
        clf_dim = getattr(self.classifier, "dim", None)
        if clf_dim is not None and head_dim is not None and clf_dim != head_dim:
            raise ValueError(f"classifier expects {clf_dim}-d embeddings but the head gives {head_dim}-d")
        self.embedding_dim = int(head_dim)

    def embed(self, faces: tf.Tensor) -> tf.Tensor:
        # Keras casts to the embedder's input dtype (uint8 or float) losslessly.
        x = tf.cast(faces, tf.float32)
        return self.head(self.embedder(x, training=False), training=False)

    def score(self, faces: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        embedding = self.embed(faces)
        with tf.name_scope(CLASSIFIER_SCOPE):
            probability = self.classifier(embedding)
        return probability, embedding

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "classifier_kind": self.classifier_kind,
                "classifier_meta": json.loads(self._classifier_meta_json)}


def resize_matrix(in_size: int, out_size: int) -> np.ndarray:
    """``[out_size, in_size]`` weights of TensorFlow's antialiased bilinear resize along one
    axis (the resize is separable), read off the resize of one-hot rows.

    Two matrix products with it resize a face exactly as
    ``tf.image.resize(..., "bilinear", antialias=True)`` does, with builtin TFLite ops
    (the antialiased resize itself is not one)."""
    basis = np.eye(in_size, dtype=np.float32).reshape(in_size, in_size, 1, 1)
    rows = tf.image.resize(basis, (out_size, 1), method="bilinear", antialias=True)
    return rows.numpy().reshape(in_size, out_size).T.copy()


class KerasFaceScorer(FaceScorerBase):
    """A Keras face classifier ``[N, S, S, 3] (0..255) -> [N, 1]`` fake probability, with
    the output of ``feature_layer`` as the embedding.

    ``face_size`` is the crop size clients send; when the model takes another size the
    faces are resized inside the graph as ``tfdeepfake.pipelines.frames.resize_faces``
    resizes them for training and scoring (antialiased bilinear, clipped to 0..255).
    """

    def __init__(self, model: tf.keras.Model, feature_layer: str, face_size: int | None = None,
                 name: str = "face_scorer", normalize: bool = False):
        super().__init__(name=name)
        try:
            features = model.get_layer(feature_layer).output
        except ValueError as error:
            raise ValueError(f"model {model.name!r} has no layer {feature_layer!r} to export as the "
                             "embedding") from error
        self.model = tf.keras.Model(model.inputs, [model.output, features], name=f"{model.name}_export")
        self.model_size = int(model.input_shape[1])
        self.face_size = int(face_size or self.model_size)
        self.embedding_dim = int(features.shape[-1])
        self.feature_layer = feature_layer
        # L2-normalised embeddings, for detectors whose own embed() normalises (sbi).
        self.normalize = bool(normalize)
        self.resize = None
        if self.face_size != self.model_size:
            self.resize = tf.constant(resize_matrix(self.face_size, self.model_size), name="resize")

    def score(self, faces: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        x = tf.cast(faces, tf.float32)
        if self.resize is not None:
            x = tf.einsum("oh,nhwc->nowc", self.resize, x)
            x = tf.einsum("pw,nowc->nopc", self.resize, x)
            x = tf.clip_by_value(x, 0.0, 255.0)
        probability, embedding = self.model(x, training=False)
        if self.normalize:
            embedding = tf.math.l2_normalize(tf.reshape(embedding, [tf.shape(embedding)[0], -1]),
                                             axis=-1)
        # Named like the triplet classifier so int8 TFLite keeps the sigmoid in float too.
        with tf.name_scope(CLASSIFIER_SCOPE):
            probability = tf.reshape(probability, [-1])
        return probability, embedding

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "model_input_size": self.model_size,
                "embedding_layer": self.feature_layer, "embedding_l2_normalized": self.normalize}


def classifier_kind_from_meta(meta: Mapping[str, Any] | None, kind: str | None = None) -> str:
    """The classifier kind: explicit ``kind`` or ``meta["kind"]``."""
    kind = kind or (meta or {}).get("kind")
    if not kind:
        raise ValueError("classifier kind not given and classifier_meta has no 'kind'")
    return str(kind)
