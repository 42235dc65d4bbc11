"""DFDC (Deepfake Detection Challenge) reader.

Layout under the root (folders found at any depth)::

    dfdc_train_part_0/metadata.json    {"x.mp4": {"label": "FAKE", "split": "train",
                                                  "original": "y.mp4"}, ...}
    dfdc_train_part_0/x.mp4
    test/labels.csv                    filename,label  (label 0/1 or REAL/FAKE)
    test/x.mp4                         (or test/videos/x.mp4)

Videos listed in a ``metadata.json`` take its split (train when absent); videos listed in
a ``labels.csv`` are ``labels_split`` ("test"). ``source`` is the real video a fake was
made from (``original``). Video files next to a list but not in it are skipped, with the
reason. A validation split can be carved out of train (``val_fraction``, ``seed``); a fake
moves together with its original. Every video is named by a list file, so one that is a
link leading out of the root is skipped, with the reason.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import posixpath
from pathlib import Path

from tfdeepfake.constants import DEFAULT_SEED, FAKE, REAL, SPLITS
from tfdeepfake.datasets.records import (
    DatasetError,
    IndexResult,
    Skip,
    VideoRecord,
    log_result,
    make_record,
    validate_records,
)
from tfdeepfake.datasets.scan import find_videos, parse_label
from tfdeepfake.datasets.splits import carve_splits

logger = logging.getLogger(__name__)

DATASET = "dfdc"
METADATA_NAME = "metadata.json"
LABELS_NAME = "labels.csv"

_METADATA_LABELS = {"REAL": REAL, "FAKE": FAKE}


def _rel_dir(root: Path, directory: Path) -> str:
    rel = directory.relative_to(root).as_posix()
    return "" if rel == "." else rel


def _unlisted(root: Path, rel_dir: str, listed: set[str], list_file: Path) -> list[Skip]:
    """Videos beside a list file that the list does not mention."""
    paths, skips = find_videos(root, rel_dir, recursive=False)
    if (root / rel_dir / "videos").is_dir():
        more, more_skips = find_videos(root, posixpath.join(rel_dir, "videos"), recursive=False)
        paths += more
        skips += more_skips
    skips += [
        Skip(str(root / rel), f"not listed in {list_file}",
             f"not listed in its folder's {METADATA_NAME} or {LABELS_NAME}")
        for rel in paths if rel not in listed
    ]
    return skips


def _read_metadata(root: Path, path: Path) -> tuple[list[VideoRecord], list[Skip]]:
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise DatasetError(f"{path}: invalid JSON ({error})") from error
    if not isinstance(entries, dict):
        raise DatasetError(f"{path}: expected an object of file name -> entry")
    rel_dir = _rel_dir(root, path.parent)
    records = []
    for name in sorted(entries):
        entry = entries[name]
        where = f"{path}: entry {name!r}"
        if not isinstance(entry, dict) or "label" not in entry:
            raise DatasetError(f"{where}: expected an object with a label")
        label = _METADATA_LABELS.get(str(entry["label"]).upper())
        if label is None:
            raise DatasetError(f"{where}: unknown label {entry['label']!r}; expected REAL or FAKE")
        split = entry.get("split") or "train"
        if split not in SPLITS:
            raise DatasetError(f"{where}: unknown split {split!r}; expected {', '.join(SPLITS)}")
        source = entry.get("original") if label == FAKE else None
        rel = posixpath.join(rel_dir, name) if rel_dir else name
        records.append(make_record(root, rel, label, split, DATASET, source=source))
    listed = {record.path for record in records}
    return records, _unlisted(root, rel_dir, listed, path)


def _read_labels_csv(root: Path, path: Path, split: str) -> tuple[list[VideoRecord], list[Skip]]:
    rel_dir = _rel_dir(root, path.parent)
    records = []
    with open(path, encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        fields = [f.strip().lower() for f in reader.fieldnames or []]
        if "filename" not in fields or "label" not in fields:
            raise DatasetError(f"{path}: header must name columns filename,label; got {fields}")
        reader.fieldnames = fields
        for row in reader:
            where = f"{path} line {reader.line_num}"
            name = (row.get("filename") or "").strip()
            if not name:
                raise DatasetError(f"{where}: empty filename")
            label = parse_label(row.get("label"), where)
            rel = posixpath.join(rel_dir, name) if rel_dir else name
            # The test release keeps videos either beside labels.csv or in videos/.
            beside_videos = posixpath.join(rel_dir, "videos", name) if rel_dir else f"videos/{name}"
            if not (root / rel).exists() and (root / beside_videos).exists():
                rel = beside_videos
            records.append(make_record(root, rel, label, split, DATASET))
    listed = {record.path for record in records}
    return records, _unlisted(root, rel_dir, listed, path)


def _group_key(record: VideoRecord) -> str:
    # File names are unique across DFDC, so a fake joins its original by name alone.
    name = record.source if record.source else posixpath.basename(record.path)
    return posixpath.splitext(name)[0]


def index_dfdc(
    root: str | os.PathLike,
    *,
    labels_split: str = "test",
    val_fraction: float = 0.0,
    seed: int = DEFAULT_SEED,
) -> IndexResult:
    """Index DFDC parts (``metadata.json``) and labelled folders (``labels.csv``)."""
    if labels_split not in SPLITS:
        raise ValueError(f"unknown labels_split {labels_split!r}; valid: {', '.join(SPLITS)}")
    root = Path(os.path.abspath(root))  # skips and records name the same paths
    if not root.is_dir():
        raise DatasetError(f"{root}: DFDC root is not a directory")
    metadata_files = sorted(root.rglob(METADATA_NAME))
    labels_files = sorted(root.rglob(LABELS_NAME))
    if not metadata_files and not labels_files:
        raise DatasetError(f"{root}: no {METADATA_NAME} or {LABELS_NAME} found")
    records: list[VideoRecord] = []
    skipped: list[Skip] = []
    for path in metadata_files:
        more, skips = _read_metadata(root, path)
        records += more
        skipped += skips
    for path in labels_files:
        more, skips = _read_labels_csv(root, path, labels_split)
        records += more
        skipped += skips
    # A video listed by both a metadata.json and a labels.csv is also "unlisted" by the
    # other; only report files no list mentions.
    listed = {str(record.full_path) for record in records}
    skipped = sorted(
        {s for s in skipped if not (s.reason.startswith("not listed") and s.path in listed)},
        key=lambda s: (s.path, s.reason),
    )
    # Every video is named by a list file, so one that leads out of the root is refused.
    result = validate_records(records, skipped=skipped, follow_links=False)
    if val_fraction:
        result.records = carve_splits(
            result.records, fractions={"val": val_fraction}, seed=seed, group_key=_group_key
        )
    log_result("dfdc", result)
    return result
