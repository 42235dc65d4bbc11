"""The face -> fake-probability graph shared by the SavedModel and TFLite exports.

``faces uint8 [N, 160, 160, 3]`` -> embedder (FaceNet; does its own standardisation)
-> head (L2-normalised D-d embedding) -> classifier ops -> ``fake_probability [N]``.
Everything is TensorFlow ops, so the graph serves without Python objects.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import tensorflow as tf

from tfdeepfake.constants import FACENET_INPUT_SIZE
from tfdeepfake.export.tf_classifiers import build_tf_classifier

logger = logging.getLogger(__name__)

# Name scope of the classifier ops inside exported graphs (kept float in int8 TFLite).
CLASSIFIER_SCOPE = "classifier"


def verdict_is_fake(probability, threshold: float):
    """The project's decision rule: fake when ``probability >= threshold``."""
    return probability >= threshold


class FaceScorer(tf.Module):
    """``faces uint8 [N, S, S, 3] -> (fake_probability [N] float32, embedding [N, D])``."""

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

    def faces_spec(self, name: str = "faces") -> tf.TensorSpec:
        return tf.TensorSpec([None, self.face_size, self.face_size, 3], tf.uint8, name=name)


def classifier_kind_from_meta(meta: Mapping[str, Any] | None, kind: str | None = None) -> str:
    """The classifier kind: explicit ``kind`` or ``meta["kind"]``."""
    kind = kind or (meta or {}).get("kind")
    if not kind:
        raise ValueError("classifier kind not given and classifier_meta has no 'kind'")
    return str(kind)
