"""Export the detector as a TF Serving SavedModel.

Layout (TF Serving): ``<out_base>/<model_name>/<version>/`` holding ``saved_model.pb``,
``variables/`` and ``assets.extra/model_card.{md,json}`` (TF Serving ignores files in
``assets.extra/`` other than its warm-up file). The version directory is written under a
hidden temporary name and renamed into place, so a running server never sees a
half-written version.

Signatures:

- ``serving_default``: ``faces`` uint8 ``[N, 160, 160, 3]`` ->
  ``fake_probability`` float32 ``[N]``, ``embedding`` float32 ``[N, D]`` (head output).
- ``score_video``: ``faces`` uint8 ``[F, 160, 160, 3]`` and ``mask`` bool ``[F]`` ->
  ``fake_probability`` float32 ``[]`` (the model's aggregation, mean / median / max, over
  the masked-in faces; NaN when none), ``is_fake`` bool ``[]``, ``verdict`` string ``[]``
  (``"fake"``, ``"real"`` or ``"no_face"``), ``num_faces`` int32 ``[]``.

The decision rule is ``fake_probability >= threshold``; the threshold is stored in the
model (``threshold`` variable) and, with the aggregation, in the model card.
Preprocessing (FaceNet's ``(x - 127.5) / 127.5``, Xception's ``x / 127.5 - 1``) is part of
the graph, so clients send raw RGB crops.

:func:`export_scorer_savedmodel` exports any face scorer of :mod:`tfdeepfake.export.graph`;
:func:`export_savedmodel` is the triplet method's shortcut (embedder, head, classifier arrays).
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from tfdeepfake.export.graph import (
    FaceScorer,
    FaceScorerBase,
    aggregate_faces,
    check_aggregation,
    classifier_kind_from_meta,
)
from tfdeepfake.provenance import package_versions

logger = logging.getLogger(__name__)

MODEL_CARD_DIR = "assets.extra"
SIGNATURES = ("serving_default", "score_video")


class DetectorModule(tf.Module):
    """The exported module: a face scorer plus the per-video signature."""

    def __init__(self, scorer: FaceScorerBase, threshold: float = 0.5, aggregation: str = "mean"):
        super().__init__(name="deepfake_detector")
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be in [0, 1]; got {threshold}")
        self.scorer = scorer
        self.aggregation = check_aggregation(aggregation)
        self.threshold = tf.Variable(float(threshold), trainable=False, dtype=tf.float32, name="threshold")
        faces = scorer.faces_spec()
        self.serving_default = tf.function(self._serving_default, input_signature=[faces])
        self.score_video = tf.function(
            self._score_video, input_signature=[faces, tf.TensorSpec([None], tf.bool, name="mask")]
        )

    def _serving_default(self, faces):
        probability, embedding = self.scorer.score(faces)
        return {"fake_probability": probability, "embedding": embedding}

    def _score_video(self, faces, mask):
        probability, _ = self.scorer.score(faces)
        kept = tf.boolean_mask(probability, mask)
        num_faces = tf.size(kept, out_type=tf.int32)
        has_faces = num_faces > 0
        video_probability = aggregate_faces(kept, self.aggregation)
        is_fake = tf.logical_and(has_faces, video_probability >= self.threshold)
        verdict = tf.where(has_faces, tf.where(is_fake, "fake", "real"), "no_face")
        return {
            "fake_probability": video_probability,
            "is_fake": is_fake,
            "verdict": verdict,
            "num_faces": num_faces,
        }


def _next_version(model_dir: Path) -> int:
    if not model_dir.exists():
        return 1
    versions = [int(p.name) for p in model_dir.iterdir() if p.is_dir() and p.name.isdigit()]
    return max(versions, default=0) + 1


def model_card_markdown(card: Mapping[str, Any]) -> str:
    """Render the model card dict as Markdown (one section per top-level key)."""
    lines = [f"# Model card: {card.get('model_name', 'tfdeepfake detector')}", ""]
    for key, value in card.items():
        if key == "model_name":
            continue
        lines.append(f"## {key.replace('_', ' ').capitalize()}")
        lines.append("")
        if isinstance(value, Mapping):
            for k, v in value.items():
                lines.append(f"- **{k}**: {json.dumps(v) if isinstance(v, (Mapping, list)) else v}")
        elif isinstance(value, (list, tuple)):
            lines.extend(f"- {v}" for v in value)
        else:
            lines.append(str(value))
        lines.append("")
    return "\n".join(lines)


def export_savedmodel(
    embedder: tf.keras.Model,
    head: tf.keras.Model,
    classifier_arrays: Mapping[str, Any],
    classifier_meta: Mapping[str, Any],
    out_base: str | Path,
    model_name: str,
    version: int | None = None,
    threshold: float = 0.5,
    model_card: Mapping[str, Any] | None = None,
    *,
    classifier_kind: str | None = None,
    aggregation: str = "mean",
) -> Path:
    """The triplet method (FaceNet, head, classifier arrays) as a SavedModel; see
    :func:`export_scorer_savedmodel`. ``classifier_meta["kind"]`` (or ``classifier_kind``)
    picks sgd / knn / rf."""
    kind = classifier_kind_from_meta(classifier_meta, classifier_kind)
    scorer = FaceScorer(embedder, head, kind, classifier_arrays, classifier_meta)
    return export_scorer_savedmodel(scorer, out_base, model_name, version=version, threshold=threshold,
                                    aggregation=aggregation, model_card=model_card)


def export_scorer_savedmodel(
    scorer: FaceScorerBase,
    out_base: str | Path,
    model_name: str,
    version: int | None = None,
    threshold: float = 0.5,
    aggregation: str = "mean",
    model_card: Mapping[str, Any] | None = None,
) -> Path:
    """Write a TF Serving SavedModel; return ``<out_base>/<model_name>/<version>``.

    ``version=None`` takes the next integer after the existing versions (1 when none).
    An existing version directory is never overwritten (``FileExistsError``).
    ``aggregation`` is the video rule of ``score_video``. ``model_card`` is merged into the
    generated card (signatures, threshold, aggregation, graph, package versions) written to
    ``assets.extra/model_card.{json,md}``.
    """
    if not model_name or os.sep in model_name or model_name.startswith("."):
        raise ValueError(f"model_name must be a plain directory name; got {model_name!r}")
    module = DetectorModule(scorer, threshold, aggregation)
    model_dir = Path(out_base) / model_name
    model_dir.mkdir(parents=True, exist_ok=True)
    if version is None:
        version = _next_version(model_dir)
    version = int(version)
    if version < 0:
        raise ValueError(f"version must be a non-negative integer; got {version}")
    final = model_dir / str(version)
    if final.exists():
        raise FileExistsError(f"{final} exists; TF Serving versions are immutable, pick another version")

    staging = model_dir / f".staging-{version}-{os.getpid()}"
    if staging.exists():
        shutil.rmtree(staging)
    try:
        tf.saved_model.save(
            module,
            str(staging),
            signatures={
                "serving_default": module.serving_default.get_concrete_function(),
                "score_video": module.score_video.get_concrete_function(),
            },
        )
        card = _build_card(model_name, version, scorer, threshold, aggregation, model_card)
        extra = staging / MODEL_CARD_DIR
        extra.mkdir(exist_ok=True)
        (extra / "model_card.json").write_text(json.dumps(card, indent=2, default=_json_default))
        (extra / "model_card.md").write_text(model_card_markdown(json.loads(json.dumps(card, default=_json_default))))
        os.replace(staging, final)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    logger.info("exported SavedModel %s (threshold %.3f, video rule %s)", final, threshold, aggregation)
    return final


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _build_card(model_name, version, scorer, threshold, aggregation, extra):
    graph = scorer.describe()
    card: dict[str, Any] = {
        "model_name": model_name,
        "version": version,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "decision": {
            "threshold": float(threshold),
            "aggregation": aggregation,
            "rule": "fake when fake_probability >= threshold; labels 0 = real, 1 = fake",
            "video_score": f"{aggregation} of face probabilities over the masked-in faces",
        },
        "inputs": {
            "faces": f"uint8 RGB face crops [N, {scorer.face_size}, {scorer.face_size}, 3], raw 0-255",
            "mask": "bool [F] (score_video only): which faces count",
        },
        "signatures": {
            "serving_default": "faces -> fake_probability [N] float32, embedding [N, D] float32",
            "score_video": "faces, mask -> fake_probability [] (NaN when no face), is_fake, verdict, num_faces",
        },
        "embedding_dim": scorer.embedding_dim,
        "packages": package_versions(),
    }
    if "classifier_kind" in graph:
        meta = graph["classifier_meta"]
        card["classifier"] = {"kind": graph["classifier_kind"], **{k: v for k, v in meta.items() if k != "kind"}}
    else:
        card["graph"] = graph
    for key, value in dict(extra or {}).items():
        if isinstance(value, Mapping) and isinstance(card.get(key), Mapping):
            card[key] = {**card[key], **value}
        else:
            card[key] = value
    return card


def read_model_card(version_dir: str | Path) -> dict[str, Any]:
    return json.loads((Path(version_dir) / MODEL_CARD_DIR / "model_card.json").read_text())


def load_and_predict(
    version_dir: str | Path,
    faces: np.ndarray,
    mask: np.ndarray | None = None,
    signature: str | None = None,
) -> dict[str, np.ndarray]:
    """Load the SavedModel and run one signature; outputs as numpy.

    ``signature`` defaults to ``score_video`` when ``mask`` is given, else
    ``serving_default``.
    """
    signature = signature or ("score_video" if mask is not None else "serving_default")
    if signature not in SIGNATURES:
        raise ValueError(f"unknown signature {signature!r}; valid: {list(SIGNATURES)}")
    loaded = tf.saved_model.load(str(version_dir))
    fn = loaded.signatures[signature]
    inputs = {"faces": tf.constant(np.asarray(faces, dtype=np.uint8))}
    if signature == "score_video":
        if mask is None:
            mask = np.ones(len(faces), dtype=bool)
        inputs["mask"] = tf.constant(np.asarray(mask, dtype=bool))
    return {k: v.numpy() for k, v in fn(**inputs).items()}


def serving_request(
    faces: np.ndarray,
    mask: np.ndarray | None = None,
    signature_name: str = "serving_default",
    form: str = "instances",
) -> str:
    """JSON body for TF Serving's REST ``:predict`` (see docs/serving.md).

    ``form="instances"`` is the row form (one object per face; ``score_video`` is not
    allowed here because its outputs have no batch dimension); ``form="inputs"`` is
    the columnar form.
    """
    if form not in ("instances", "inputs"):
        raise ValueError(f"unknown form {form!r}; valid: ['instances', 'inputs']")
    if signature_name not in SIGNATURES:
        raise ValueError(f"unknown signature {signature_name!r}; valid: {list(SIGNATURES)}")
    faces = np.asarray(faces, dtype=np.uint8)
    if signature_name == "score_video" and mask is None:
        mask = np.ones(len(faces), dtype=bool)
    if form == "instances":
        if signature_name == "score_video":
            raise ValueError("score_video returns scalars; TF Serving needs the columnar 'inputs' form for it")
        body = {"signature_name": signature_name, "instances": faces.tolist()}
    else:
        inputs: dict[str, Any] = {"faces": faces.tolist()}
        if mask is not None:
            inputs["mask"] = np.asarray(mask, dtype=bool).tolist()
        body = {"signature_name": signature_name, "inputs": inputs}
    return json.dumps(body, separators=(",", ":"))
