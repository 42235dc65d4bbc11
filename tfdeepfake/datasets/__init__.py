"""Dataset layout readers: a dataset on disk -> VideoRecord rows -> manifest.

Every reader returns an :class:`IndexResult` (records sorted by path, plus the videos it
skipped and why) with labels 0 = real, 1 = fake. Readers are pure Python and never decode
video, so indexing is fast and safe to run anywhere.

    result = build_index("celebdf", "/data/Celeb-DF-v2", val_fraction=0.1, seed=0)
    write_manifest("runs/celebdf.jsonl", result.records)
"""

from __future__ import annotations

import inspect
import os
from typing import Callable, Iterable

from tfdeepfake.constants import LABEL_NAMES, SPLITS
from tfdeepfake.datasets.celebdf import index_celebdf, index_celebdf_merged
from tfdeepfake.datasets.dfdc import index_dfdc
from tfdeepfake.datasets.faceforensics import index_faceforensics
from tfdeepfake.datasets.folders import index_csv, index_folders
from tfdeepfake.datasets.records import (
    DatasetError,
    IndexResult,
    Skip,
    VideoRecord,
    identity_group,
    make_record,
    validate_records,
)
from tfdeepfake.datasets.manifest import read_manifest, write_manifest
from tfdeepfake.datasets.scan import VIDEO_EXTENSIONS

LAYOUTS: dict[str, Callable[..., IndexResult]] = {
    "celebdf": index_celebdf,
    "faceforensics": index_faceforensics,
    "dfdc": index_dfdc,
    "folders": index_folders,
    "csv": index_csv,  # root is the CSV file
}


def layout_options(layout: str) -> list[str]:
    """The keyword options a layout's reader accepts."""
    reader = _reader(layout)
    return [
        name
        for name, parameter in inspect.signature(reader).parameters.items()
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY
    ]


def _reader(layout: str) -> Callable[..., IndexResult]:
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; valid: {', '.join(LAYOUTS)}")
    return LAYOUTS[layout]


def build_index(layout: str, location: str | os.PathLike, /, **options) -> IndexResult:
    """Index ``location`` (a dataset folder, or the CSV file for ``csv``) with the named
    layout's reader. Positional-only: the csv reader takes a ``root`` option of its own.

    Unknown layouts or options raise ValueError naming the valid ones.
    """
    reader = _reader(layout)
    valid = layout_options(layout)
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise ValueError(
            f"unknown option(s) {', '.join(unknown)} for layout {layout!r}; "
            f"valid: {', '.join(valid)}"
        )
    return reader(location, **options)


def split_counts(records: Iterable[VideoRecord]) -> dict[str, dict[str, int]]:
    """``{split: {"real": n, "fake": n, "total": n}}`` for every split, zeros included."""
    counts = {split: {**{name: 0 for name in LABEL_NAMES.values()}, "total": 0} for split in SPLITS}
    for record in records:
        row = counts[record.split]
        row[LABEL_NAMES[record.label]] += 1
        row["total"] += 1
    return counts


__all__ = [
    "DatasetError",
    "IndexResult",
    "LAYOUTS",
    "Skip",
    "VIDEO_EXTENSIONS",
    "VideoRecord",
    "build_index",
    "index_celebdf",
    "index_celebdf_merged",
    "index_csv",
    "index_dfdc",
    "index_faceforensics",
    "index_folders",
    "identity_group",
    "layout_options",
    "make_record",
    "read_manifest",
    "split_counts",
    "validate_records",
    "write_manifest",
]
