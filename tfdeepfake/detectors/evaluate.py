"""The one evaluation path for every detector: scores on a split -> Measures, confidence
intervals, per-video scores, figures and reports.

    from tfdeepfake.detectors import load_detector
    from tfdeepfake.detectors.evaluate import evaluate_detector
    results = evaluate_detector(load_detector("saved_models/cdf2"), "caches/emb.h5", "reports/cdf2")

Writes into ``out_dir``:

- ``results.json``: every variant's frame-level (frame-level detectors) and video-level
  metrics, bootstrap 95% confidence intervals over videos for video AUC and accuracy, the
  model's description, seed, FaceNet identity and package versions;
- ``measures_video.md/.json`` (and ``measures_frame.md/.json``): the Measures tables, through
  ``tfdeepfake.evaluation.report``;
- ``video_scores.csv``: ``variant, video_id, label, fake_probability``, one row per video;
- with ``figures``: ``roc_video.png``, ``confusion_<variant>.png`` and, for a detector that
  offers embeddings before/after its head, ``embeddings_before_after.png``.
"""

from __future__ import annotations

import csv
import json
import logging
import os
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from tfdeepfake.detectors.base import Detector, Scores
from tfdeepfake.evaluation.metrics import binary_metrics, bootstrap_ci, frame_and_video_metrics
from tfdeepfake.evaluation.report import (
    CI_KEY,
    Column,
    column_order,
    heading_of,
    poster_measures,
    write_measures,
)
from tfdeepfake.provenance import json_ready, package_versions

logger = logging.getLogger(__name__)

RESULTS_FILE = "results.json"
SCORES_FILE = "video_scores.csv"
N_BOOTSTRAP = 1000
RANDOM_FACENET_WARNING = ("FaceNet was RANDOMLY INITIALISED: its embeddings are not face "
                          "descriptors, so these numbers do not measure the method.")


def variant_metrics(scores: Scores, *, n_bootstrap: int = N_BOOTSTRAP, seed: int = 0) -> dict:
    """``{"video": metrics (+ ci95), "frame": metrics}`` (``frame`` only at frame level)."""
    video_ids, labels, probs = scores.video_scores()
    if scores.level == "frame":
        metrics = frame_and_video_metrics(scores.labels, scores.probabilities, scores.video_ids,
                                          threshold=scores.threshold, how=scores.aggregation)
    else:
        metrics = {"video": binary_metrics(labels, probs, scores.threshold)}
        metrics["video"]["aggregation"] = "none (one score per video)"
    if n_bootstrap > 0:
        metrics["video"][CI_KEY] = {
            "auc": bootstrap_ci(labels, probs, "auc", n_bootstrap, seed),
            "accuracy": bootstrap_ci(labels, probs, "accuracy", n_bootstrap, seed,
                                     threshold=scores.threshold),
        }
    return metrics


def measure_columns(results: Mapping[str, Any], level: str = "video",
                    poster_comparison: bool = False) -> list[Column]:
    """The Measures columns of an ``evaluate_detector`` result, one per variant that has
    ``level`` metrics; poster values attached when ``poster_comparison``."""
    detector = results["detector"]
    columns = []
    for variant in column_order(detector, list(results["variants"])):
        metrics = results["variants"][variant]
        if metrics.get(level) is None:
            continue
        poster = poster_measures(detector, variant) if poster_comparison else None
        columns.append(Column(name=variant, heading=heading_of(detector, variant),
                              metrics=metrics[level], poster=poster))
    return columns


def results_table(results: Mapping[str, Any], level: str = "video",
                  poster_comparison: bool = False) -> str:
    """The Measures table (Markdown) of an ``evaluate_detector`` result at ``level``."""
    from tfdeepfake.evaluation.report import measures_table

    columns = measure_columns(results, level, poster_comparison)
    if not columns:
        raise ValueError(f"{results['model']}: no {level}-level measures "
                         f"({results['detector']} scores {results['level']}s)")
    return measures_table(columns, poster_comparison=poster_comparison)


def read_video_scores(path: str | os.PathLike) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``video_scores.csv`` back as ``{variant: (labels, probabilities)}``."""
    out: dict[str, tuple[list, list]] = {}
    with open(path, encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            labels, probs = out.setdefault(row["variant"], ([], []))
            labels.append(int(row["label"]))
            probs.append(float(row["fake_probability"]))
    return {k: (np.asarray(v[0]), np.asarray(v[1])) for k, v in out.items()}


def _write_video_scores(path: Path, scores: Mapping[str, Scores]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["variant", "video_id", "label", "fake_probability"])
        for variant, s in scores.items():
            for video_id, label, prob in zip(*s.video_scores()):
                # repr: exact values, since ties matter for AUC
                writer.writerow([variant, video_id, int(label), repr(float(prob))])


def _embedding_pairs(detector: Detector, source, split: str):
    """``(before, after, labels)`` for the before/after scatter, or None: from a detector's
    ``embedding_pairs(source, split)`` method (the triplet head's input and output)."""
    hook = getattr(detector, "embedding_pairs", None)
    return hook(source, split) if callable(hook) else None


def _figures(detector: Detector, scores: Mapping[str, Scores], source, split: str,
             out_dir: Path, seed: int) -> dict[str, str]:
    from tfdeepfake.evaluation.plots import (plot_confusion_matrix, plot_embedding_scatter,
                                             plot_roc_curves)

    figures, curves = {}, {}
    for variant, s in scores.items():
        _, labels, probs = s.video_scores()
        heading = heading_of(detector.name, variant)
        curves[heading] = (labels, probs)
        figures[f"confusion {variant}"] = str(plot_confusion_matrix(
            labels, probs, out_dir / f"confusion_{variant}.png", threshold=s.threshold,
            title=f"{heading} (videos, {split})"))
    figures["roc"] = str(plot_roc_curves(curves, out_dir / "roc_video.png",
                                         title=f"ROC, videos ({split})"))
    pairs = _embedding_pairs(detector, source, split)
    if pairs is not None:
        before, after, labels = pairs
        figures["embeddings"] = str(plot_embedding_scatter(
            before, after, labels, out_dir / "embeddings_before_after.png", seed=seed))
    return figures


def evaluate_detector(
    detector: Detector | str | os.PathLike,
    source: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    split: str = "test",
    figures: bool = True,
    note: str | None = None,
    poster_comparison: bool = True,
    n_bootstrap: int = N_BOOTSTRAP,
) -> dict[str, Any]:
    """Measures of every variant of ``detector`` on ``split`` of ``source`` (a cache of the
    detector's kind), written into ``out_dir``; returns ``results.json``'s content.

    ``detector``: a loaded detector or a model folder. ``poster_comparison``: set the poster's
    numbers beside ours where the poster has them (never for generated data). ``note``: a line
    every report repeats (e.g. "generated data, not a benchmark").
    """
    if not isinstance(detector, Detector):
        from tfdeepfake.detectors import load_detector

        detector = load_detector(detector)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    seed = int(detector.meta.get("seed", 0))
    scores = detector.split_scores(source, split)
    if not scores:
        raise ValueError(f"{source}: {detector.name} produced no scores on split {split!r}")
    variants = {name: variant_metrics(s, n_bootstrap=n_bootstrap, seed=seed)
                for name, s in scores.items()}
    label = detector.facenet_label
    notes = [note] if note else []
    if detector.random_init_facenet:
        notes.append(RANDOM_FACENET_WARNING)
    default = (detector.default_variant if detector.default_variant in variants
               else next(iter(variants)))
    levels = {s.level for s in scores.values()}
    results: dict[str, Any] = {
        "detector": detector.name,
        "model": str(detector.path),
        "source": str(source),
        "split": split,
        "level": "frame" if "frame" in levels else "video",
        "aggregation": detector.aggregation,
        "default_variant": default,
        "headline": variants[default]["video"],
        "variants": variants,
        "thresholds": {name: float(s.threshold) for name, s in scores.items()},
        "facenet": label,
        "random_init_facenet": detector.random_init_facenet,
        "description": detector.describe(),
        "seed": seed,
        "notes": notes,
        "versions": package_versions(),
    }
    _write_video_scores(out_dir / SCORES_FILE, scores)
    if figures:
        results["figures"] = _figures(detector, scores, source, split, out_dir, seed)
    video = results["headline"]
    footer = [f"Videos: {video['n']} ({video['n_real']} real, {video['n_fake']} fake), split "
              f"{split}; threshold {video['threshold']:g}; a video's score is "
              + (f"the {detector.aggregation} of its frame probabilities."
                 if results["level"] == "frame" else "the model's output for the whole video."),
              f"Model {detector.path} ({detector.name}); seed {seed}"
              + (f"; {label}" if label else "") + "."]
    for level in ("video", "frame"):
        columns = measure_columns(results, level, poster_comparison and level == "video")
        if columns:
            write_measures(out_dir, f"measures_{level}", columns,
                           title=f"Measures of {detector.name}, {level} level ({split} split)",
                           level=level, seed=seed,
                           poster_comparison=poster_comparison and level == "video",
                           notes=notes, footer=footer,
                           extra={"model": str(detector.path), "split": split, "facenet": label})
    results = json_ready(results)
    (out_dir / RESULTS_FILE).write_text(json.dumps(results, indent=2, sort_keys=True), "utf-8")
    logger.info("evaluated %s on %s (%s): video AUC %s, accuracy %s -> %s", detector.name, source,
                split, video.get("auc"), video.get("accuracy"), out_dir)
    return results


__all__ = ["RESULTS_FILE", "SCORES_FILE", "evaluate_detector", "measure_columns",
           "read_video_scores", "results_table", "variant_metrics"]
