"""A model bundle -> TF Serving SavedModel and/or TFLite files, with a model card.

    <out>/serving/<model_name>/<version>/     SavedModel (serving_default, score_video)
    <out>/tflite/face_model_<variant>.tflite  faces -> probability, embedding
    <out>/tflite/mtcnn/{pnet,rnet,onet}.tflite
    <out>/tflite/extract_config.json          how `detect --tflite` samples and crops
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from tfdeepfake.bundle import load_bundle

logger = logging.getLogger(__name__)

FORMATS = ("savedmodel", "tflite")
EXTRACT_CONFIG_FILE = "extract_config.json"


def _sample_faces(face_cache, splits: tuple[str, ...], limit: int, seed: int) -> np.ndarray | None:
    """Up to ``limit`` face crops of some splits, spread over videos (seeded)."""
    from tfdeepfake.cache.faces import iter_face_videos

    if face_cache is None:
        return None
    crops = [video.faces for video in iter_face_videos(face_cache, splits=splits) if len(video.faces)]
    if not crops:
        return None
    faces = np.concatenate(crops)
    rng = np.random.RandomState(seed)
    return faces[np.sort(rng.choice(len(faces), size=min(limit, len(faces)), replace=False))]


def model_card(bundle, classifier: str) -> dict:
    meta = bundle.meta
    training = meta.get("training", {})
    return {
        "model": "tfdeepfake: FaceNet (InceptionResNetV1) + semi-hard triplet head + "
                 f"{classifier.upper()} classifier",
        "inputs": "face crops, uint8 RGB [N, 160, 160, 3], cut by MTCNN with the settings in "
                  "`extract`; preprocessing (x - 127.5) / 127.5 is inside the graph",
        "labels": "fake_probability is P(fake); label 1 = fake, 0 = real",
        "video_rule": f"video probability = {meta.get('aggregation', 'mean')} of its face probabilities",
        "threshold": bundle.threshold(classifier),
        "extract": meta["extract"],
        "facenet": meta["embedder"],
        "random_init_facenet": bundle.random_init,
        "warning": ("FaceNet weights were RANDOMLY INITIALISED: this model is a demonstration, not "
                    "a detector") if bundle.random_init else "",
        "training_data": training.get("data", {}),
        "training_config": training.get("config", {}),
        "validation_metrics": training.get("validation_metrics", {}).get(classifier, {}),
        "bundle_versions": meta.get("versions", {}),
    }


def export_bundle(bundle_dir: str | os.PathLike, out_dir: str | os.PathLike,
                  formats: Sequence[str] = FORMATS, classifier: str | None = None,
                  facenet_weights: str | os.PathLike | None = None,
                  face_cache: str | os.PathLike | None = None,
                  variants: Sequence[str] | None = None, model_name: str | None = None,
                  version: int | None = None, seed: int = 0) -> dict:
    """Export a bundle; ``face_cache`` gives the representative (train) and parity (test)
    faces for TFLite. Returns the paths written."""
    from tfdeepfake.export.tflite import TFLITE_VARIANTS

    unknown = sorted(set(formats) - set(FORMATS))
    if unknown:
        raise ValueError(f"unknown export format(s) {unknown}; valid: {', '.join(FORMATS)}")
    bundle = load_bundle(bundle_dir)
    classifier = classifier or bundle.default_classifier
    if classifier not in bundle.classifiers:
        raise ValueError(f"classifier {classifier!r} is not in {bundle.path}; "
                         f"valid: {', '.join(sorted(bundle.classifiers))}")
    arrays, meta = bundle.classifiers[classifier].to_arrays()
    embedder = bundle.build_embedder(facenet_weights)
    card = model_card(bundle, classifier)
    out_dir = Path(out_dir)
    written: dict = {"random_init_facenet": bundle.random_init, "classifier": classifier}

    if "savedmodel" in formats:
        from tfdeepfake.export.savedmodel import export_savedmodel

        written["savedmodel"] = str(export_savedmodel(
            embedder, bundle.head, arrays, meta, out_dir / "serving",
            model_name or bundle.path.name, version=version, threshold=bundle.threshold(classifier),
            model_card=card))

    if "tflite" in formats:
        from tfdeepfake.export.mtcnn_tflite import export_mtcnn_tflite
        from tfdeepfake.export.tflite import write_tflite_variants

        tflite_dir = out_dir / "tflite"
        representative = _sample_faces(face_cache, ("train",), 200, seed)
        evaluation = _sample_faces(face_cache, ("test", "val"), 100, seed)
        paths = write_tflite_variants(
            tflite_dir, embedder, bundle.head, arrays, meta,
            variants=tuple(variants or TFLITE_VARIANTS), representative_faces=representative,
            eval_faces=evaluation, threshold=bundle.threshold(classifier), seed=seed)
        info_path = tflite_dir / "tflite_export.json"
        info = json.loads(info_path.read_text("utf-8"))
        info["random_init_facenet"] = bundle.random_init
        info_path.write_text(json.dumps(info, indent=2), "utf-8")
        mtcnn = export_mtcnn_tflite(tflite_dir / "mtcnn")
        (tflite_dir / EXTRACT_CONFIG_FILE).write_text(
            json.dumps(bundle.meta["extract"], indent=2, sort_keys=True), "utf-8")
        (tflite_dir / "model_card.json").write_text(json.dumps(card, indent=2, default=str), "utf-8")
        written["tflite"] = {variant: str(path) for variant, path in paths.items()}
        written["mtcnn"] = {name: str(path) for name, path in mtcnn.items()}
        parity = tflite_dir / "parity.json"
        if parity.exists():
            written["parity"] = json.loads(parity.read_text("utf-8"))
    return written
