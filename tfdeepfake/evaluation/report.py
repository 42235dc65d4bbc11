"""The one Measures writer: Markdown tables and JSON reports whose columns are data.

A ``Column`` is a name (the JSON key), a heading, a metrics dict (``binary_metrics``, with an
optional ``ci95`` entry from ``bootstrap_ci``) and the poster's values for it, or None. Every
report (``evaluate``, ``reproduce``, the demo) renders its columns through ``measures_table``
and saves them through ``write_measures``; nothing else formats a Measures table.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Mapping, Sequence
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
CI_KEY = "ci95"
LEVELS = ("frame", "video")

# Published in the poster "Model to Detect Deep Fakes" (FaceNet + metric learning on
# Celeb-DF + Celeb-DF-v2, video level); it reports no KNN column, EER or AP.
POSTER_RESULTS: dict[str, dict[str, float]] = {
    "sgd": {"auc": 0.95138, "accuracy": 0.875, "precision": 0.8, "recall": 1.0, "f1": 0.88889},
    "rf": {"auc": 0.95833, "accuracy": 0.875, "precision": 0.8, "recall": 1.0, "f1": 0.88889},
}
POSTER_SOURCE = 'poster "Model to Detect Deep Fakes", Measures table'
# (detector, variant) -> the poster's video-level Measures for it.
POSTER_MEASURES: dict[tuple[str, str], dict[str, float]] = {
    ("triplet", name): values for name, values in POSTER_RESULTS.items()}
# (detector, variant) -> column heading; others fall back to the variant's name.
HEADINGS: dict[tuple[str, str], str] = {
    ("triplet", "sgd"): "Triplets + SGD",
    ("triplet", "rf"): "Triplets + RF",
    ("triplet", "knn"): "Triplets + KNN",
    ("xception", "xception"): "XceptionNet",
    ("lstm", "lstm"): "LSTM",
}


@dataclasses.dataclass(frozen=True)
class Column:
    """One column of a Measures table."""

    name: str
    heading: str
    metrics: Mapping[str, Any]
    poster: Mapping[str, float] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "heading": self.heading, "metrics": dict(self.metrics),
                "poster": dict(self.poster) if self.poster is not None else None}


def heading_of(detector: str, variant: str) -> str:
    return HEADINGS.get((detector, variant), variant)


def column_order(detector: str, variants) -> list[str]:
    """``variants`` in table order: those with a heading in ``HEADINGS`` order (the poster's
    SGD, RF, then KNN), the others after them as given."""
    known = [v for (d, v) in HEADINGS if d == detector and v in variants]
    return known + [v for v in variants if v not in known]


def poster_measures(detector: str, variant: str) -> dict[str, float] | None:
    """The poster's numbers for a detector's variant, or None when it reports none."""
    values = POSTER_MEASURES.get((detector, variant))
    return dict(values) if values is not None else None


def _fmt(value: Any, digits: int) -> str:
    if value is None:
        return "—"
    value = float(value)
    if math.isnan(value):
        return "n/a"
    return f"{value:.{digits}f}"


def _fmt_ci(interval: Mapping[str, Any] | None) -> str:
    if not interval:
        return "—"
    low, high = interval.get("low"), interval.get("high")
    if low is None or high is None or math.isnan(float(low)) or math.isnan(float(high)):
        return "n/a"
    return f"{float(low):.3f}–{float(high):.3f}"


def measures_table(columns: Sequence[Column], *, poster_comparison: bool = False,
                   digits: int = 5) -> str:
    """Markdown table: rows AUC..AP (and 95% CI rows when a column has them), one column per
    ``Column``; with ``poster_comparison``, a column with poster values gets a ``(poster)``
    column beside it, "—" marking a number the poster does not give."""
    if not columns:
        raise ValueError("a Measures table needs at least one column")
    shown: list[tuple[str, Mapping[str, Any], bool]] = []  # heading, metrics, is_poster
    for column in columns:
        shown.append((column.heading, column.metrics, False))
        if poster_comparison and column.poster is not None:
            shown.append((f"{column.heading} (poster)", column.poster, True))
    lines = ["| Measure | " + " | ".join(h for h, _, _ in shown) + " |",
             "|---|" + "---|" * len(shown)]
    for label, key in MEASURES:
        cells = [_fmt(metrics.get(key), digits) for _, metrics, _ in shown]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    ci_keys = [key for _, key in MEASURES
               if any(key in (c.metrics.get(CI_KEY) or {}) for c in columns)]
    for label, key in ((label, key) for label, key in MEASURES if key in ci_keys):
        cells = ["—" if is_poster else _fmt_ci((metrics.get(CI_KEY) or {}).get(key))
                 for _, metrics, is_poster in shown]
        lines.append(f"| {label} 95% CI | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def measures_markdown(columns: Sequence[Column], *, title: str, poster_comparison: bool = False,
                      notes: Sequence[str] = (), footer: Sequence[str] = ()) -> str:
    """A Markdown document: title, notes as quotes, the table, footer lines."""
    lines = [f"# {title}", ""]
    for note in notes:
        lines += [f"> {note}", ""]
    lines.append(measures_table(columns, poster_comparison=poster_comparison).rstrip())
    if any(c.metrics.get(CI_KEY) for c in columns):
        lines += ["", "95% CI: percentile bootstrap over the videos (1000 resamples)."]
    if poster_comparison and any(c.poster is not None for c in columns):
        lines += ["", f"Poster numbers: {POSTER_SOURCE}; it reports no EER, AP or KNN "
                      "column (—)."]
    lines += ["", *footer] if footer else []
    return "\n".join(lines).rstrip() + "\n"


def write_measures(out_dir: str | os.PathLike, basename: str, columns: Sequence[Column], *,
                   title: str, level: str, seed: int | None = None,
                   poster_comparison: bool = False, notes: Sequence[str] = (),
                   footer: Sequence[str] = (),
                   extra: Mapping[str, Any] | None = None) -> tuple[Path, Path]:
    """Write ``<basename>.md`` and ``<basename>.json`` (columns, seed, package versions,
    ``extra``; NaN as null) into ``out_dir``; returns both paths."""
    if level not in LEVELS:
        raise ValueError(f"unknown level {level!r}; valid: {', '.join(LEVELS)}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    markdown = measures_markdown(columns, title=title, poster_comparison=poster_comparison,
                                 notes=notes, footer=footer)
    report: dict[str, Any] = {
        "title": title, "level": level, "seed": seed, "notes": list(notes),
        "columns": [c.to_dict() for c in columns],
        "table_markdown": measures_table(columns, poster_comparison=poster_comparison),
        "package_versions": package_versions(),
        **dict(extra or {}),
    }
    if poster_comparison:
        report["poster_source"] = POSTER_SOURCE
    md_path, json_path = out_dir / f"{basename}.md", out_dir / f"{basename}.json"
    md_path.write_text(markdown, "utf-8")
    json_path.write_text(json.dumps(json_ready(report), indent=2, sort_keys=True, allow_nan=False),
                         "utf-8")
    return md_path, json_path


__all__ = ["CI_KEY", "Column", "HEADINGS", "LEVELS", "MEASURES", "POSTER_MEASURES",
           "POSTER_RESULTS", "POSTER_SOURCE", "column_order", "heading_of", "measures_markdown",
           "measures_table", "poster_measures", "write_measures"]
