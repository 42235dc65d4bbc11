"""The poster's method end to end on cached embeddings: train the triplet head, fit the
frame classifiers on its outputs, save a bundle; evaluate a bundle on a split.

Validation videos come from the training split only (a `val` split of the manifest, or
videos held out of `train`); the test split is never used for training or selection.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from tfdeepfake.bundle import Bundle, save_bundle
from tfdeepfake.cache.embeddings import EmbeddingTable, load_embedding_table
from tfdeepfake.faces.settings import FaceSettings
from tfdeepfake.classifiers import make_classifier
from tfdeepfake.evaluation.metrics import choose_threshold, frame_and_video_metrics
from tfdeepfake.scoring import aggregate_video_scores, aggregate_video_labels
from tfdeepfake.provenance import json_ready

logger = logging.getLogger(__name__)

DEFAULT_CLASSIFIERS = ("knn", "sgd", "rf")
# The reference code's choices: KNN k=10, SGD with logistic loss, 100 trees.
CLASSIFIER_PARAMS = {"knn": {"k": 10}, "sgd": {}, "rf": {"n_trees": 100}}


def head_outputs(head, embeddings: np.ndarray, batch_size: int = 1024) -> np.ndarray:
    if len(embeddings) == 0:
        return np.zeros((0, int(head.output_shape[-1])), np.float32)
    return np.asarray(head.predict(embeddings, batch_size=batch_size, verbose=0), np.float32)


def _as_dict(table: EmbeddingTable) -> dict[str, np.ndarray]:
    return {"embeddings": table.embeddings, "labels": table.labels, "video_ids": table.video_ids,
            "frame_indices": table.frame_indices, "splits": table.splits}


def _train_val(table: EmbeddingTable, val_fraction: float, seed: int):
    from tfdeepfake.models.train_triplet import holdout_validation

    if (table.splits == "val").any():
        return table.only_splits("train"), table.only_splits("val")
    if val_fraction <= 0:
        return table.only_splits("train"), None
    train, val = holdout_validation(_as_dict(table), val_fraction=val_fraction, seed=seed)
    return (EmbeddingTable(**{k: train[k] for k in _as_dict(table)}),
            EmbeddingTable(**{k: val[k] for k in _as_dict(table)}))


@dataclass
class TrainResult:
    bundle_dir: Path
    run_dir: Path
    history: dict
    thresholds: dict[str, float]
    validation: dict


def train_method(embedding_cache: str | os.PathLike, bundle_dir: str | os.PathLike,
                 run_dir: str | os.PathLike, embedder, extract_config: FaceSettings,
                 training_config=None, classifiers: Sequence[str] = DEFAULT_CLASSIFIERS,
                 default_classifier: str = "rf", val_fraction: float = 0.15,
                 threshold: str = "fixed", aggregation: str = "mean") -> TrainResult:
    """Triplet head + classifiers on the train split of ``embedding_cache`` -> a bundle.

    ``threshold``: ``fixed`` (0.5, the poster) or ``validation`` (Youden's J on the
    validation videos' scores).
    """
    from tfdeepfake.models.train_triplet import TripletTrainingConfig, train_triplet_head

    if threshold not in ("fixed", "validation"):
        raise ValueError(f"unknown threshold mode {threshold!r}; valid: fixed, validation")
    config = training_config or TripletTrainingConfig()
    table = load_embedding_table(embedding_cache, splits=("train", "val"))
    train, val = _train_val(table, val_fraction, config.seed)
    if len(np.unique(train.labels)) < 2:
        raise ValueError(f"{embedding_cache}: the training split needs real and fake videos")
    logger.info("training the triplet head on %d frames of %d videos (validation: %s)",
                len(train), len(np.unique(train.video_ids)),
                f"{len(val)} frames of {len(np.unique(val.video_ids))} videos" if val else "none")
    head, history = train_triplet_head(_as_dict(train), _as_dict(val) if val else None, config,
                                       out_dir=run_dir)
    train_out = head_outputs(head, train.embeddings)
    fitted, thresholds, validation = {}, {}, {}
    for name in classifiers:
        clf = make_classifier(name, **CLASSIFIER_PARAMS.get(name, {}))
        if "seed" in clf.get_params():
            clf.set_params(seed=config.seed)
        fitted[name] = clf.fit(train_out, train.labels)
        thresholds[name] = 0.5
        if val is not None and len(np.unique(val.labels)) == 2:
            probs = clf.predict_proba_fake(head_outputs(head, val.embeddings))
            _, video_probs = aggregate_video_scores(probs, val.video_ids, how=aggregation)
            _, video_labels = aggregate_video_labels(val.labels, val.video_ids)
            if threshold == "validation":
                thresholds[name] = float(choose_threshold(video_labels, video_probs))
            validation[name] = frame_and_video_metrics(val.labels, probs, val.video_ids,
                                                       threshold=thresholds[name], how=aggregation)
    head_config = {"input_dim": int(train.embeddings.shape[1]),
                   "hidden_units": list(config.hidden_units),
                   "embedding_dim": int(config.embedding_dim), "dropout": float(config.dropout)}
    save_bundle(bundle_dir, extract_config=extract_config, embedder=embedder, head=head,
                head_config=head_config, classifiers=fitted, default_classifier=default_classifier,
                thresholds=thresholds, aggregation=aggregation,
                extra={"training": {"config": config.to_dict(), "threshold_mode": threshold,
                                    "data": {"train": train.counts(),
                                             "val": val.counts() if val else {}},
                                    "embedding_cache": str(embedding_cache),
                                    "validation_metrics": validation}})
    hist = {k: [float(v) for v in vals] for k, vals in history.history.items()}
    return TrainResult(Path(bundle_dir), Path(run_dir), hist, thresholds, validation)


def evaluate_bundle(bundle: Bundle, embedding_cache: str | os.PathLike, out_dir: str | os.PathLike,
                    split: str = "test", poster_comparison: bool = True,
                    figures: bool = True, note: str | None = None) -> dict:
    """The poster's Measures at frame and video level for every classifier of a bundle."""
    from tfdeepfake.evaluation.plots import (plot_confusion_matrix, plot_embedding_scatter,
                                             plot_roc_curves)
    from tfdeepfake.evaluation.report import write_report

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    table = load_embedding_table(embedding_cache, splits=(split,))
    outputs = head_outputs(bundle.head, table.embeddings)
    seed = int(bundle.meta.get("training", {}).get("config", {}).get("seed", 0))
    results, curves = {}, {}
    for name, clf in bundle.classifiers.items():
        probs = clf.predict_proba_fake(outputs)
        results[name] = frame_and_video_metrics(table.labels, probs, table.video_ids,
                                                threshold=bundle.threshold(name),
                                                how=bundle.aggregation)
        _, video_probs = aggregate_video_scores(probs, table.video_ids, how=bundle.aggregation)
        _, video_labels = aggregate_video_labels(table.labels, table.video_ids)
        curves[name] = (video_labels, video_probs)
        if figures:
            plot_confusion_matrix(video_labels, video_probs, out_dir / f"confusion_{name}.png",
                                  threshold=bundle.threshold(name),
                                  title=f"Triplets + {name.upper()} (videos, {split})")
    if figures:
        plot_roc_curves(curves, out_dir / "roc_video.png", title=f"ROC, videos ({split})")
        plot_embedding_scatter(table.embeddings, outputs, table.labels,
                               out_dir / "embeddings_before_after.png", seed=seed)
    extra = {"bundle": str(bundle.path), "split": split, "embedding_cache": str(embedding_cache),
             "random_init_facenet": bundle.random_init,
             "data": table.counts()}
    if note:
        extra["note"] = note
    config = {"extract": bundle.meta["extract"], "head": bundle.meta["head"],
              "training": bundle.meta.get("training", {}).get("config", {}),
              "thresholds": bundle.meta["thresholds"], "aggregation": bundle.aggregation}
    for level in ("video", "frame"):
        write_report(out_dir, results, seed=seed, config=config, level=level,
                     poster_comparison=poster_comparison and level == "video",
                     basename=f"measures_{level}", extra=extra)
    (out_dir / "metrics.json").write_text(json.dumps(json_ready(results), indent=2, sort_keys=True), "utf-8")
    return results
