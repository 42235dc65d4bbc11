"""The poster's "Measures" table as Markdown, and a JSON report with provenance.

``results`` maps a classifier name (``sgd``, ``rf``, ``knn``) to either a
``binary_metrics`` dict or a ``frame_and_video_metrics`` dict (then ``level`` picks
``"frame"`` or ``"video"``).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tfdeepfake.provenance import json_ready, package_versions

# Rows of the table: (label, metrics key).
MEASURES = (
    ("AUC", "auc"),
    ("Accuracy", "accuracy"),
    ("Precision", "precision"),
    ("Recall", "recall"),
    ("F1", "f1"),
    ("EER", "eer"),
    ("AP", "average_precision"),
)

COLUMN_NAMES = {"sgd": "Triplets + SGD", "rf": "Triplets + RF", "knn": "Triplets + KNN"}
COLUMN_ORDER = ("sgd", "rf", "knn")
LEVELS = ("frame", "video")

# Published in the poster "Model to Detect Deep Fakes" (FaceNet + metric learning on
# Celeb-DF + Celeb-DF-v2); it reports no KNN column, EER or AP.
POSTER_RESULTS: dict[str, dict[str, float]] = {
    "sgd": {"auc": 0.95138, "accuracy": 0.875, "precision": 0.8, "recall": 1.0, "f1": 0.88889},
    "rf": {"auc": 0.95833, "accuracy": 0.875, "precision": 0.8, "recall": 1.0, "f1": 0.88889},
}
POSTER_SOURCE = 'poster "Model to Detect Deep Fakes", Measures table'


def _level_metrics(entry: Mapping[str, Any], level: str) -> Mapping[str, Any]:
    if level in entry and isinstance(entry[level], Mapping):
        return entry[level]
    return entry


def _fmt(value: Any, digits: int) -> str:
    if value is None:
        return "—"
    value = float(value)
    if math.isnan(value):
        return "n/a"
    return f"{value:.{digits}f}"


def measures_table(
    results: Mapping[str, Mapping[str, Any]],
    level: str = "video",
    poster_comparison: bool = False,
    digits: int = 5,
) -> str:
    """Markdown table: rows AUC..AP, one column per classifier (poster order).

    With ``poster_comparison`` each classifier the poster reports gets a
    ``(poster)`` column beside ours; "—" marks a number the poster does not give.
    """
    if level not in LEVELS:
        raise ValueError(f"unknown level {level!r}; valid: {', '.join(LEVELS)}")
    unknown = sorted(set(results) - set(COLUMN_NAMES))
    if unknown:
        raise ValueError(f"unknown classifiers {unknown}; valid: {', '.join(COLUMN_ORDER)}")
    columns: list[tuple[str, Mapping[str, Any]]] = []
    for name in COLUMN_ORDER:
        if name not in results:
            continue
        columns.append((COLUMN_NAMES[name], _level_metrics(results[name], level)))
        if poster_comparison and name in POSTER_RESULTS:
            columns.append((f"{COLUMN_NAMES[name]} (poster)", POSTER_RESULTS[name]))
    header = "| Measure | " + " | ".join(title for title, _ in columns) + " |"
    rule = "|---|" + "---|" * len(columns)
    lines = [header, rule]
    for label, key in MEASURES:
        cells = [_fmt(metrics.get(key), digits) for _, metrics in columns]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def build_report(
    results: Mapping[str, Mapping[str, Any]],
    seed: int,
    config: Mapping[str, Any] | None = None,
    level: str = "video",
    poster_comparison: bool = False,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The JSON-ready report: results, seed, config, package versions (NaN -> null)."""
    report: dict[str, Any] = {
        "seed": int(seed),
        "level": level,
        "config": dict(config or {}),
        "package_versions": package_versions(),
        "results": dict(results),
        "table_markdown": measures_table(results, level, poster_comparison),
    }
    if poster_comparison:
        report["poster"] = {"source": POSTER_SOURCE, "results": POSTER_RESULTS}
    if extra:
        report.update(dict(extra))
    return json_ready(report)


def write_report(
    out_dir: str | os.PathLike,
    results: Mapping[str, Mapping[str, Any]],
    seed: int,
    config: Mapping[str, Any] | None = None,
    level: str = "video",
    poster_comparison: bool = False,
    basename: str = "report",
    extra: Mapping[str, Any] | None = None,
) -> tuple[Path, Path]:
    """Write ``<basename>.md`` (the Measures table) and ``<basename>.json``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    report = build_report(results, seed, config, level, poster_comparison, extra)
    md_path = out_dir / f"{basename}.md"
    json_path = out_dir / f"{basename}.json"
    title = f"# Measures ({level} level, seed {int(seed)})\n\n"
    note = ""
    if poster_comparison:
        note = f"\nPoster numbers: {POSTER_SOURCE}; it reports no EER, AP or KNN column.\n"
    md_path.write_text(title + report["table_markdown"] + note)
    json_path.write_text(json.dumps(report, indent=2, sort_keys=True, allow_nan=False))
    return md_path, json_path
