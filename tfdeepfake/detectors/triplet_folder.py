"""The triplet detector's files: the embedding cache it trains on (settings, video rows)
and its model folder (``model.json``, the head's weights, the classifiers' arrays)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from tfdeepfake.cache.embeddings import EmbeddingTable, embedding_store
from tfdeepfake.classifiers import CLASSIFIERS, FrameClassifier, save_classifier
from tfdeepfake.datasets.records import identity_group
from tfdeepfake.detectors.base import ModelFolder, VideoRow, common_meta, require
from tfdeepfake.faces.settings import FaceSettings

HEAD_WEIGHTS = "head.weights.h5"
CLASSIFIERS_DIR = "classifiers"
DEFAULT_CLASSIFIER = "rf"


# -- the embedding cache -------------------------------------------------------------------


def cache_settings(source: str | os.PathLike) -> tuple[FaceSettings, dict[str, Any]]:
    """``(face settings, FaceNet identity dict)`` an embedding cache was made with."""
    from tfdeepfake.models.facenet import FaceNetIdentity

    if not Path(source).is_file():
        raise FileNotFoundError(f"{source}: no embedding cache there; make one with "
                                "`tfdeepfake embed`")
    settings = embedding_store(source).stored_settings()
    for key in ("face_settings", "facenet"):
        if not isinstance(settings.get(key), dict):
            raise ValueError(f"{source}: the embedding cache's settings have no {key!r} "
                             "(made by tfdeepfake < 0.2?); re-run `tfdeepfake embed` into a new "
                             "path")
    try:
        FaceNetIdentity.from_dict(settings["facenet"])
    except ValueError as error:
        raise ValueError(f"{source}: settings key 'facenet': {error}") from error
    return FaceSettings.from_dict(settings["face_settings"]), dict(settings["facenet"])


def video_rows(source, table: EmbeddingTable, splits: Sequence[str]) -> list[VideoRow]:
    """One row per embedded video, with its identity group (from the stored attributes)."""
    attrs: list[dict] = []
    # ``where`` sees a video's attributes before its arrays are read: collect, read nothing.
    for _ in embedding_store(source).iter_videos(
            where=lambda a: attrs.append(a) if str(a.get("split")) in splits else False):
        pass
    ids, counts = np.unique(table.video_ids, return_counts=True)
    frames = dict(zip(ids.tolist(), counts.tolist()))
    return [VideoRow(str(a["video_id"]), int(a["label"]), str(a["split"]),
                     int(frames.get(a["video_id"], 0)),
                     identity_group(str(a["video_id"]), source=a.get("source") or None))
            for a in attrs]


# -- the model folder ------------------------------------------------------------------------


def head_config(head) -> dict[str, Any]:
    """What rebuilds ``head`` (``build_triplet_head``), read off the model itself."""
    from tensorflow import keras

    dense = [layer for layer in head.layers if layer.name.startswith("head_dense_")]
    dropout = [layer.rate for layer in head.layers if isinstance(layer, keras.layers.Dropout)]
    return {"input_dim": int(head.input_shape[-1]), "hidden_units": [int(d.units) for d in dense],
            "embedding_dim": int(head.output_shape[-1]),
            "dropout": float(dropout[0]) if dropout else 0.0, "weights": HEAD_WEIGHTS}


def save_triplet_model(out_dir: str | os.PathLike, *, face_settings: FaceSettings,
                       facenet: Mapping[str, Any], head, classifiers: Mapping[str, FrameClassifier],
                       default_classifier: str = DEFAULT_CLASSIFIER,
                       thresholds: Mapping[str, float] | None = None, aggregation: str = "mean",
                       seed: int = 0, training: Mapping[str, Any] | None = None,
                       data: Mapping[str, Any] | None = None,
                       backbone: Mapping[str, Any] | None = None) -> Path:
    """Write a triplet model folder (``model.json`` last) from a head and fitted
    classifiers; ``facenet`` is ``FaceNetIdentity.to_dict()``; ``backbone``: the section
    of a tuned backbone already copied in (``tuned_backbone``). Returns the folder."""
    if not classifiers:
        raise ValueError("a triplet model needs at least one classifier")
    unknown = sorted(set(classifiers) - set(CLASSIFIERS))
    if unknown:
        raise ValueError(f"unknown classifier(s) {unknown}; valid: {', '.join(CLASSIFIERS)}")
    if default_classifier not in classifiers:
        raise ValueError(f"default classifier {default_classifier!r} is not among "
                         f"{sorted(classifiers)}")
    folder = ModelFolder(out_dir).start()
    extra = {"backbone": dict(backbone)} if backbone else {}
    head.save_weights(str(folder.root / HEAD_WEIGHTS))
    for name, clf in classifiers.items():
        save_classifier(folder.root / CLASSIFIERS_DIR / name, clf)
    thresholds = {name: float((thresholds or {}).get(name, 0.5)) for name in sorted(classifiers)}
    meta = common_meta("triplet", face_settings, threshold=thresholds[default_classifier],
                       aggregation=aggregation, seed=seed, training=training or {},
                       data=data or {}, facenet=facenet, head=head_config(head),
                       classifiers=sorted(classifiers), default_classifier=default_classifier,
                       thresholds=thresholds, **extra)
    folder.write_meta(meta)
    return folder.root


def require_in(section: Mapping[str, Any], name: str, key: str, kind, where) -> Any:
    return require(section, key, kind, f"{where} [{name}]")
