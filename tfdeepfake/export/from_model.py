"""A model folder -> TF Serving SavedModel and/or TFLite files, with a model card.

    <out>/serving/<model_name>/<version>/     SavedModel (serving_default, score_video)
    <out>/tflite/face_model_<variant>.tflite  faces -> probability, embedding
    <out>/tflite/tflite_export.json           threshold, aggregation, detector, graph
    <out>/tflite/mtcnn/{pnet,rnet,onet}.tflite
    <out>/tflite/extract_config.json          the face settings `detect --tflite` samples and crops with
    <out>/tflite/model_card.json

A detector is exportable when it scores single faces with a graph of TensorFlow ops;
``FACE_SCORERS`` builds that graph for each exportable detector, by name. The video rule
(the model's aggregation) is in the SavedModel's ``score_video`` signature and in
``tflite_export.json`` for :mod:`tfdeepfake.lite`.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from tfdeepfake.detectors import DETECTOR_NAMES, Detector, ModelFolder, load_detector
from tfdeepfake.export.formats import FORMATS

logger = logging.getLogger(__name__)

FACE_SETTINGS_FILE = "extract_config.json"  # the name tfdeepfake.lite reads
# Xception's average-pooled features, exported as the ``embedding`` output.
XCEPTION_EMBEDDING_LAYER = "avg_pool"


def _triplet_scorer(detector, variant: str):
    """FaceNet + triplet head + the classifier ``variant`` as TensorFlow ops."""
    from tfdeepfake.export.graph import FaceScorer

    arrays, meta = detector.classifiers[variant].to_arrays()
    embedder = detector.embedder
    return FaceScorer(embedder.model, detector.head, meta["kind"], arrays, meta,
                      face_size=embedder.input_size)


def _xception_scorer(detector, variant: str):
    """The Xception classifier on the model folder's face crops (resized inside)."""
    from tfdeepfake.export.graph import KerasFaceScorer

    return KerasFaceScorer(detector.model, XCEPTION_EMBEDDING_LAYER, face_size=detector.face_settings.size)


def _sbi_scorer(detector, variant: str):
    """The self-blended-trained classifier (``sbi``) on the model folder's face crops; its
    ``embedding`` output is ``detector.embed()``'s (the feature layer, L2-normalised)."""
    from tfdeepfake.export.graph import KerasFaceScorer

    return KerasFaceScorer(detector.model, detector.feature_layer,
                           face_size=detector.face_settings.size, normalize=True)


FACE_SCORERS: dict[str, Callable[[Any, str], Any]] = {
    "triplet": _triplet_scorer,
    "xception": _xception_scorer,
    "sbi": _sbi_scorer,
}
EXPORTABLE = tuple(FACE_SCORERS)


def check_exportable(name: str, where: str | os.PathLike) -> None:
    if name not in FACE_SCORERS:
        raise ValueError(f"{where}: a {name!r} model cannot be exported (its graph is not face -> "
                         f"probability); exportable detectors: {', '.join(EXPORTABLE)}")


def face_scorer(detector: Detector, variant: str | None = None):
    """The face -> (probability, embedding) graph of ``detector``'s ``variant``."""
    check_exportable(detector.name, detector.path)
    variant = _check_variant(detector, variant)
    return FACE_SCORERS[detector.name](detector, variant)


def _check_variant(detector: Detector, variant: str | None) -> str:
    variant = variant or detector.default_variant
    if variant not in detector.variants:
        raise ValueError(f"{detector.path}: no variant {variant!r}; valid: {', '.join(detector.variants)}")
    return variant


def _sample_faces(face_cache, splits: tuple[str, ...], limit: int, seed: int,
                  face_size: int) -> np.ndarray | None:
    """Up to ``limit`` face crops of some splits, spread over videos (seeded)."""
    from tfdeepfake.cache.faces import iter_face_videos

    if face_cache is None:
        return None
    crops = [video.faces for video in iter_face_videos(face_cache, splits=splits) if len(video.faces)]
    if not crops:
        return None
    faces = np.concatenate(crops)
    if faces.shape[1:] != (face_size, face_size, 3):
        raise ValueError(f"{face_cache}: faces are {faces.shape[1:]}, the model takes "
                         f"({face_size}, {face_size}, 3); give the face cache the model was trained on")
    rng = np.random.RandomState(seed)
    return faces[np.sort(rng.choice(len(faces), size=min(limit, len(faces)), replace=False))]


def model_card(detector: Detector, variant: str) -> dict[str, Any]:
    """What the exported model is, how it decides, and what it was trained on."""
    meta = detector.meta
    label = detector.facenet_label
    random_init = detector.random_init_facenet
    uses = {"triplet": f"{label} + semi-hard triplet head + {variant.upper()} classifier",
            "xception": "Xception frame classifier",
            "sbi": "face backbone + binary head trained on real and self-blended faces (SBI)"}
    return {
        "model": f"tfdeepfake {detector.name}: {uses.get(detector.name, detector.name)}",
        "detector": detector.name,
        "variant": variant,
        "facenet": label,
        "facenet_identity": meta.get("facenet"),
        "threshold": detector.threshold(variant),
        "aggregation": detector.aggregation,
        "video_rule": f"video probability = {detector.aggregation} of its face probabilities",
        "inputs": (f"face crops, uint8 RGB [N, {detector.face_settings.size}, "
                   f"{detector.face_settings.size}, 3], cut by MTCNN with `face_settings`; "
                   "preprocessing is inside the graph"),
        "labels": "fake_probability is P(fake); label 1 = fake, 0 = real",
        "face_settings": detector.face_settings.to_dict(),
        "random_init_facenet": random_init,
        "warning": ("FaceNet weights were RANDOMLY INITIALISED: this model is a demonstration, not "
                    "a detector") if random_init else "",
        "training_data": meta.get("data", {}),
        "training": meta.get("training", {}),
        "model_versions": meta.get("versions", {}),
    }


def export_model(model_dir: str | os.PathLike | Detector, out_dir: str | os.PathLike,
                 formats: Sequence[str] = FORMATS, variant: str | None = None,
                 face_cache: str | os.PathLike | None = None,
                 facenet_weights: str | os.PathLike | None = None,
                 tflite_variants: Sequence[str] | None = None, model_name: str | None = None,
                 version: int | None = None, seed: int = 0) -> dict[str, Any]:
    """Export a model folder (or a loaded detector).

    ``face_cache`` (a face cache) gives the representative (train) faces that calibrate the
    int8 TFLite variant and the test/val faces of ``parity.json``. Returns what was
    written: paths, and the detector, variant, threshold and aggregation exported.
    """
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown:
        raise ValueError(f"unknown export format(s) {unknown}; valid: {', '.join(FORMATS)}")
    if not isinstance(model_dir, Detector):
        # Refuse before loading any network (an unknown name is load_detector's to report).
        folder = ModelFolder(model_dir)
        name = folder.read_meta().get("detector")
        if name in DETECTOR_NAMES:
            check_exportable(name, folder.root)
    detector = load_detector(model_dir, facenet_weights=facenet_weights)
    variant = _check_variant(detector, variant)
    scorer = face_scorer(detector, variant)
    card = model_card(detector, variant)
    threshold = detector.threshold(variant)
    out_dir = Path(out_dir)
    written: dict[str, Any] = {
        "detector": detector.name, "variant": variant, "threshold": threshold,
        "aggregation": detector.aggregation, "facenet": detector.facenet_label,
        "random_init_facenet": detector.random_init_facenet,
    }

    if "savedmodel" in formats:
        from tfdeepfake.export.savedmodel import export_scorer_savedmodel

        written["savedmodel"] = str(export_scorer_savedmodel(
            scorer, out_dir / "serving", model_name or Path(detector.path).resolve().name,
            version=version, threshold=threshold, aggregation=detector.aggregation, model_card=card))

    if "tflite" in formats:
        from tfdeepfake.export.mtcnn_tflite import export_mtcnn_tflite
        from tfdeepfake.export.tflite import TFLITE_VARIANTS, write_scorer_tflite

        tflite_dir = out_dir / "tflite"
        paths = write_scorer_tflite(
            tflite_dir, scorer, variants=tuple(tflite_variants or TFLITE_VARIANTS),
            representative_faces=_sample_faces(face_cache, ("train",), 200, seed, scorer.face_size),
            eval_faces=_sample_faces(face_cache, ("test", "val"), 100, seed, scorer.face_size),
            threshold=threshold, aggregation=detector.aggregation, seed=seed,
            extra_info={"detector": detector.name, "variant": variant, "facenet": written["facenet"],
                        "random_init_facenet": detector.random_init_facenet})
        mtcnn = export_mtcnn_tflite(tflite_dir / "mtcnn")
        (tflite_dir / FACE_SETTINGS_FILE).write_text(
            json.dumps(detector.face_settings.to_dict(), indent=2, sort_keys=True), "utf-8")
        (tflite_dir / "model_card.json").write_text(json.dumps(card, indent=2, default=str), "utf-8")
        written["tflite"] = {name: str(path) for name, path in paths.items()}
        written["mtcnn"] = {name: str(path) for name, path in mtcnn.items()}
        parity = tflite_dir / "parity.json"
        if parity.exists():
            written["parity"] = json.loads(parity.read_text("utf-8"))
    return written
