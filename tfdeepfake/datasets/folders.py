"""Readers for the user's own videos: ``real/`` + ``fake/`` folders, or a CSV list.

Folders: every video under ``<root>/real`` and ``<root>/fake`` (searched recursively; the
folder names in any case; video extensions as ``scan.VIDEO_EXTENSIONS`` lists them, in any
case). All videos
are train unless ``val_fraction`` / ``test_fraction`` ask for a split.

CSV: a header naming ``path,label`` and optionally ``split``, ``method``, ``source``; label
0/1/real/fake; paths relative to ``root`` (default: the CSV's folder). Rows without a split
are train. Fractions carve val/test out of the train rows only.

Symlinks found in the folders are followed wherever they lead (a folder of links is how
people assemble datasets); a CSV row must name a file inside the root, through links too.

Splits are carved by video, stratified by label, so no video's frames land on both sides.
``dataset`` defaults to the root folder's name.
"""

from __future__ import annotations

import csv
import logging
import os
from pathlib import Path

from tfdeepfake.constants import DEFAULT_SEED, FAKE, REAL, SPLITS
from tfdeepfake.datasets.records import (
    DatasetError,
    IndexResult,
    Skip,
    VideoRecord,
    log_result,
    make_record,
    normalise_relpath,
    validate_records,
)
from tfdeepfake.datasets.scan import find_videos, parse_label
from tfdeepfake.datasets.splits import carve_splits

logger = logging.getLogger(__name__)

FOLDER_LABELS = {"real": REAL, "fake": FAKE}
CSV_COLUMNS = ("path", "label", "split", "method", "source")


def _dataset_name(root: Path, dataset: str | None) -> str:
    if dataset is None:
        dataset = root.name or "folders"
    if not dataset or "/" in dataset:
        raise ValueError(f"dataset name must be non-empty without '/', got {dataset!r}")
    return dataset


def _carve(result: IndexResult, val_fraction: float, test_fraction: float, seed: int) -> None:
    if val_fraction or test_fraction:
        result.records = carve_splits(
            result.records, fractions={"val": val_fraction, "test": test_fraction}, seed=seed
        )


def index_folders(
    root: str | os.PathLike,
    *,
    val_fraction: float = 0.0,
    test_fraction: float = 0.0,
    seed: int = DEFAULT_SEED,
    dataset: str | None = None,
) -> IndexResult:
    """Index ``<root>/real/**`` (label 0) and ``<root>/fake/**`` (label 1)."""
    root = Path(os.path.abspath(root))
    if not root.is_dir():
        raise DatasetError(f"{root}: folder layout root is not a directory")
    dataset = _dataset_name(root, dataset)
    folders = sorted(
        p.name for p in root.iterdir() if p.is_dir() and p.name.lower() in FOLDER_LABELS
    )
    if not folders:
        raise DatasetError(f"{root}: expected folders real/ and fake/")
    records: list[VideoRecord] = []
    skipped: list[Skip] = []
    for folder in folders:
        paths, skips = find_videos(root, folder, recursive=True)
        skipped += skips
        label = FOLDER_LABELS[folder.lower()]
        records += [make_record(root, rel, label, "train", dataset) for rel in paths]
    # Found by walking folders: links are followed wherever they lead.
    result = validate_records(records, skipped=skipped, follow_links=True)
    _carve(result, val_fraction, test_fraction, seed)
    log_result(dataset, result)
    return result


def _csv_path(value: str, root: Path) -> str:
    """Relative posix path; an absolute path inside the root is made relative."""
    text = value.strip()
    if os.path.isabs(text):
        try:
            return Path(os.path.abspath(text)).relative_to(root).as_posix()
        except ValueError:
            return text  # outside the root: validation reports it
    return normalise_relpath(text)


def index_csv(
    csv_path: str | os.PathLike,
    *,
    root: str | os.PathLike | None = None,
    val_fraction: float = 0.0,
    test_fraction: float = 0.0,
    seed: int = DEFAULT_SEED,
    dataset: str | None = None,
) -> IndexResult:
    """Index a CSV with header ``path,label[,split]`` (also optional ``method,source``)."""
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise DatasetError(f"{csv_path}: CSV file not found")
    root = Path(os.path.abspath(root if root is not None else csv_path.parent))
    dataset = _dataset_name(root, dataset)
    records: list[VideoRecord] = []
    with open(csv_path, encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        fields = [(name or "").strip().lower() for name in reader.fieldnames or []]
        if "path" not in fields or "label" not in fields:
            raise DatasetError(
                f"{csv_path} line 1: header must name columns path,label[,split]; got {fields}"
            )
        extra = sorted(set(fields) - set(CSV_COLUMNS))
        if extra:
            logger.info("%s: ignoring column(s) %s", csv_path, ", ".join(extra))
        reader.fieldnames = fields
        for row in reader:
            where = f"{csv_path} line {reader.line_num}"
            if None in row or any(row.get(name) is None for name in ("path", "label")):
                raise DatasetError(f"{where}: expected {len(fields)} columns ({', '.join(fields)})")
            if not any((value or "").strip() for value in row.values()):
                continue
            path = row["path"].strip()
            if not path:
                raise DatasetError(f"{where}: empty path")
            label = parse_label(row["label"], where)
            split = (row.get("split") or "").strip().lower() or "train"
            if split not in SPLITS:
                raise DatasetError(
                    f"{where}: unknown split {split!r}; expected {', '.join(SPLITS)}"
                )
            method = (row.get("method") or "").strip() or None
            source = (row.get("source") or "").strip() or None
            records.append(
                make_record(root, _csv_path(path, root), label, split, dataset, method, source)
            )
    # Named by the CSV: a path (or a link) that leads out of the root is refused.
    result = validate_records(records, follow_links=False)
    _carve(result, val_fraction, test_fraction, seed)
    log_result(f"{dataset} ({csv_path.name})", result)
    return result
