"""``poster_tables.md``: the poster's numbers beside ours, for the experiments table and the
Measures table, with the run's notes, figures and step timings."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping, Sequence

from tfdeepfake.detectors.evaluate import measure_columns
from tfdeepfake.evaluation.report import POSTER_RESULTS, POSTER_SOURCE, heading_of, measures_table
from tfdeepfake.experiments.config import ExperimentConfig

TABLES_FILE = "poster_tables.md"

QUICK_NOTE = (
    "QUICK MODE: a smoke test on GENERATED videos (face photos shipped with scikit-image and "
    "matplotlib, rendered as moving clips; fakes are face swaps between them), laid out like "
    "Celeb-DF v1 and v2, with a few videos, tiny epochs and small images. It shows that every "
    "step runs end to end. It is NOT a reproduction of the poster, and its numbers say nothing "
    "about Celeb-DF or about the methods.")
RANDOM_XCEPTION_NOTE = (
    "XceptionNet (classifier and the LSTM's frame features) started from RANDOM weights: no "
    "ImageNet weights file was given (--xception-weights "
    "xception_weights_tf_dim_ordering_tf_kernels_notop.h5).")
POSTER_READING = (
    "The poster's Measures are consistent with a balanced test set of 24 videos (12 real, "
    "12 fake), or a multiple of it: accuracy 0.875, precision 0.8 and recall 1.0 give 12 true "
    "positives, 3 false positives, 9 true negatives and no false negative, and both AUCs are "
    "multiples of 1/144 = 1/(12 x 12) (137/144 = 0.95139, 138/144 = 0.95833). No smaller set "
    "fits all five numbers. On so few videos one video moves accuracy by about 4 points.")


def poster_summary() -> dict[str, Any]:
    return {"source": POSTER_SOURCE, **POSTER_RESULTS, "reading": POSTER_READING}


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def fmt_pct(value) -> str:
    return "n/a" if _missing(value) else f"{100 * value:.1f}%"


def fmt_num(value, digits: int = 3) -> str:
    return "n/a" if _missing(value) else f"{value:.{digits}f}"


def _with_ci(text: str, interval: Mapping[str, Any] | None, scale: float = 1.0,
             digits: int = 3) -> str:
    if not interval or _missing(interval.get("low")) or _missing(interval.get("high")):
        return text
    low, high = scale * interval["low"], scale * interval["high"]
    return f"{text} [{low:.{digits}f}–{high:.{digits}f}]"


def _with_poster(ours, poster) -> str:
    ours_text = f"{ours:g}" if isinstance(ours, float) else str(ours)
    return ours_text if ours == poster else f"{ours_text} (poster {poster:g})"


def _several_variants(run: Mapping[str, Any] | None) -> bool:
    return bool(run) and len(run["results"]["variants"]) > 1


def experiment_rows(configs: Sequence[ExperimentConfig], runs: Mapping[str, dict],
                    quick: bool) -> list[str]:
    lines = ["| Architecture | Dataset | Learning rate | Epochs | Batch | Accuracy (poster) "
             "| Accuracy (ours) | Video AUC (ours) |",
             "|---|---|---|---|---|---|---|---|"]
    for config in configs:
        run = runs.get(config.name)
        training = config.training_config()
        headline = run["results"]["headline"] if run else {}
        ci = headline.get("ci95") or {}
        dataset = config.poster.dataset + (" (generated stand-in)" if quick else "")
        architecture = config.poster.architecture + (" ¹" if _several_variants(run) else "")
        lines.append(
            f"| {architecture} | {dataset} "
            f"| {_with_poster(training.learning_rate, config.poster.learning_rate)} "
            f"| {_with_poster(training.epochs, config.poster.epochs)} "
            f"| {_with_poster(training.batch_size, config.poster.batch_size)} "
            f"| {fmt_pct(config.poster.accuracy)} "
            f"| {_with_ci(fmt_pct(headline.get('accuracy')), ci.get('accuracy'), 100, 1)} "
            f"| {_with_ci(fmt_num(headline.get('auc')), ci.get('auc'))} |")
    return lines


def _videos(counts: Mapping[str, Any] | None) -> tuple[int, int]:
    videos = (counts or {}).get("videos") or {}
    return int(videos.get("real", 0)), int(videos.get("fake", 0))


def detail_rows(configs: Sequence[ExperimentConfig], runs: Mapping[str, dict]) -> list[str]:
    lines = ["| Experiment | Detector | Train videos (real/fake) | Val videos | Test videos "
             "(real/fake) | Epochs run (best) | Frame accuracy | Frame AUC | Video EER "
             "| Video AP |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for config in configs:
        run = runs.get(config.name)
        if not run:
            lines.append(f"| {config.name} | {config.model} | not run | | | | | | | |")
            continue
        meta, results = run["meta"], run["results"]
        video = results["headline"]
        frame = (results["variants"][results["default_variant"]].get("frame") or {})
        data, training = meta.get("data") or {}, meta.get("training") or {}
        train_real, train_fake = _videos(data.get("train"))
        val = sum(_videos(data.get("val")))
        epochs = training.get("epochs_run", "?")
        best = training.get("best_epoch")
        heading = heading_of(config.model, results["default_variant"])
        lines.append(
            f"| {config.name} | {config.model} ({heading}) "
            f"| {train_real}/{train_fake} | {val} | {video.get('n_real')}/{video.get('n_fake')} "
            f"| {epochs}{f' ({best})' if best is not None else ''} "
            f"| {fmt_pct(frame.get('accuracy')) if frame else '—'} "
            f"| {fmt_num(frame.get('auc')) if frame else '—'} | {fmt_num(video.get('eer'))} "
            f"| {fmt_num(video.get('average_precision'))} |")
    return lines


def measures_sections(configs: Sequence[ExperimentConfig], runs: Mapping[str, dict]) -> list[str]:
    """A Measures table (ours beside the poster's) for each experiment the poster gives
    Measures for."""
    lines: list[str] = []
    for config in configs:
        run = runs.get(config.name)
        if not run:
            continue
        video = measure_columns(run["results"], "video", poster_comparison=True)
        if not any(c.poster is not None for c in video):
            continue
        lines += ["", f"## Measures: {config.poster.architecture} (video level, test split)", "",
                  measures_table(video, poster_comparison=True).rstrip(), "",
                  "Video 95% CI: percentile bootstrap over the test videos. The poster reports "
                  "no EER, AP or confidence interval (—)."]
        frame = measure_columns(run["results"], "frame")
        if frame:
            lines += ["", "Frame level (ours only; the poster gives video-level numbers):", "",
                      measures_table(frame).rstrip()]
        lines += ["", "### Reading the poster's numbers", "", POSTER_READING]
    return lines


def write_tables(path: Path, summary: Mapping[str, Any], configs: Sequence[ExperimentConfig],
                 runs: Mapping[str, dict]) -> Path:
    lines = ["# Poster \"Model to Detect Deep Fakes\": the poster's numbers beside ours", ""]
    for note in summary["notes"]:
        head, _, rest = note.partition(":")
        lines += [f"> **{head}:**{rest}", ""]
    if summary.get("facenet"):
        lines += [f"Embeddings: {summary['facenet']}.", ""]
    lines += ["## Experiments", ""]
    lines += experiment_rows(configs, runs, summary["quick"])
    lines += ["",
              "Learning rate, epochs and batch are ours, with the poster's in brackets where they "
              "differ. Accuracy (ours) and video AUC are on the test videos (Celeb-DF's official "
              "test lists; merged: the union of both lists), at threshold 0.5 on a video's "
              "score: the mean of its frames' fake probabilities (the LSTM gives one per video), "
              "with a 95% bootstrap interval over the test videos in brackets. Validation videos "
              "come from the training split only."]
    several = [c for c in configs if _several_variants(runs.get(c.name))]
    for config in several:
        results = runs[config.name]["results"]
        lines += ["", f"¹ Ours: {heading_of(config.model, results['default_variant'])}; the "
                      "Measures table below has every variant."]
    lines += ["", "### Our runs in detail", ""]
    lines += detail_rows(configs, runs)
    lines += measures_sections(configs, runs)
    lines += ["", "## Figures", ""]
    for name, figure in summary["figures"].items():
        lines.append(f"- {name}: `{figure}`")
    lines += ["", "## Steps and timings", "", "| Step | Status | Seconds | Detail |",
              "|---|---|---|---|"]
    for row in summary["timings"]:
        lines.append(f"| {row['step']} | {row['status']} | {row['seconds']:.1f} "
                     f"| {row['detail']} |")
    versions = summary["versions"]
    lines += ["", f"Total: {summary['seconds']:.1f} s. Seed {summary['seed']}; strategy "
                  f"{summary['strategy']}; tfdeepfake {versions.get('tfdeepfake')}, "
                  f"TensorFlow {versions.get('tensorflow')}, Python {versions.get('python')}. "
                  f"Everything: `{summary['json']}`.", ""]
    path.write_text("\n".join(lines), "utf-8")
    return path


__all__ = ["POSTER_READING", "QUICK_NOTE", "RANDOM_XCEPTION_NOTE", "TABLES_FILE", "detail_rows",
           "experiment_rows", "measures_sections", "poster_summary", "write_tables"]
