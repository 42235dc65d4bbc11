"""Video records, manifests and the checks every dataset reader shares.

A record names one video file: ``root`` plus a ``path`` relative to it (posix form), its
label (0 = real, 1 = fake; each reader converts its dataset's own convention once, before
building records), its split and where it came from. A manifest is JSON Lines, one
``dataclasses.asdict(record)`` per line, sorted by path so that it is reproducible.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import posixpath
import tempfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Iterable

from tfdeepfake.constants import FAKE, LABEL_NAMES, REAL, SPLITS

logger = logging.getLogger(__name__)

LABELS = (REAL, FAKE)

_REQUIRED_FIELDS = ("video_id", "root", "path", "label", "split", "dataset")
_OPTIONAL_FIELDS = ("method", "source")


class DatasetError(ValueError):
    """A dataset or manifest contradicts its layout; the message names the file and the problem."""


@dataclass(frozen=True)
class VideoRecord:
    """One labelled video. Build it with :func:`make_record` so ``video_id`` and ``path`` agree."""

    video_id: str
    root: str
    path: str
    label: int
    split: str
    dataset: str
    method: str | None = None
    source: str | None = None

    @property
    def full_path(self) -> Path:
        return Path(self.root).joinpath(*PurePosixPath(self.path).parts)


@dataclass(frozen=True)
class Skip:
    """A video (or listed entry) left out of an index, and why."""

    path: str
    reason: str


@dataclass
class IndexResult:
    records: list[VideoRecord] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)


def normalise_relpath(path: str | os.PathLike) -> str:
    """Posix form of a relative path; '..' that stays inside is folded, escaping '..' kept."""
    text = os.fspath(path).replace("\\", "/")
    if text.startswith("/"):
        return text  # left absolute so that validation reports it
    return posixpath.normpath(text) if text else text


def video_id_for(dataset: str, path: str) -> str:
    return f"{dataset}/{posixpath.splitext(path)[0]}"


def make_record(
    root: str | os.PathLike,
    path: str | os.PathLike,
    label: int,
    split: str,
    dataset: str,
    method: str | None = None,
    source: str | None = None,
) -> VideoRecord:
    """A record whose ``video_id`` follows the contract ``<dataset>/<path without extension>``."""
    rel = normalise_relpath(path)
    return VideoRecord(
        video_id=video_id_for(dataset, rel),
        # Absolute so that a manifest still works when read from another directory.
        root=os.path.abspath(os.fspath(root)),
        path=rel,
        label=label,
        split=split,
        dataset=dataset,
        method=method,
        source=source,
    )


def _check_label_and_split(record: VideoRecord) -> None:
    # type() rather than isinstance(): True/False must not pass as labels.
    if type(record.label) is not int or record.label not in LABELS:
        raise DatasetError(
            f"{record.full_path}: unknown label {record.label!r} for {record.video_id!r}; "
            f"expected {REAL} ({LABEL_NAMES[REAL]}) or {FAKE} ({LABEL_NAMES[FAKE]})"
        )
    if record.split not in SPLITS:
        raise DatasetError(
            f"{record.full_path}: unknown split {record.split!r} for {record.video_id!r}; "
            f"expected one of {', '.join(SPLITS)}"
        )


def _escape_reason(record: VideoRecord, check_files: bool) -> str | None:
    rel = PurePosixPath(record.path)
    if record.path in ("", ".") or rel.is_absolute() or ".." in rel.parts:
        return f"path {record.path!r} is not inside the dataset root {record.root}"
    if check_files:
        real_root = os.path.realpath(record.root)
        real_file = os.path.realpath(record.full_path)
        if os.path.commonpath([real_root, real_file]) != real_root:
            return f"resolves to {real_file}, outside the dataset root {record.root} (symlink)"
    return None


def _sort_key(record: VideoRecord) -> tuple[str, str, str]:
    return (record.path, record.root, record.video_id)


def validate_records(
    records: Iterable[VideoRecord],
    *,
    skipped: Iterable[Skip] = (),
    check_files: bool = True,
) -> IndexResult:
    """Sort records by path and move problem entries to ``skipped`` with a reason.

    Skipped (the index goes on without them): paths outside the root (absolute, ``..``, or
    a symlink that resolves outside), missing files and non-files (when ``check_files``),
    a second record with an already seen ``video_id``, and a second record for an already
    seen file (after resolving symlinks). The first in path order is kept.
    A label other than 0/1 or a split other than train/val/test is a bug in the reader or
    the input, not a missing file, so it raises :class:`DatasetError`.
    """
    kept: list[VideoRecord] = []
    skips = list(skipped)
    by_id: dict[str, VideoRecord] = {}
    by_file: dict[str, VideoRecord] = {}
    for record in sorted(records, key=_sort_key):
        _check_label_and_split(record)
        where = str(record.full_path)
        reason = _escape_reason(record, check_files)
        if reason is None and check_files:
            if not os.path.lexists(where):
                reason = "file is missing"
            elif not os.path.isfile(where):
                reason = "not a regular file (or a broken link)"
        if reason is None and record.video_id in by_id:
            first = by_id[record.video_id]
            reason = f"duplicate video_id {record.video_id!r} (kept {first.full_path})"
            if first.label != record.label:
                reason += f"; labels disagree ({first.label} kept, {record.label} here)"
        if reason is None:
            file_key = os.path.realpath(where) if check_files else os.path.normpath(where)
            if file_key in by_file:
                reason = f"same file as {by_file[file_key].video_id!r}"
            else:
                by_file[file_key] = record
        if reason is not None:
            skips.append(Skip(where, reason))
            continue
        by_id[record.video_id] = record
        kept.append(record)
    skips.sort(key=lambda s: (s.path, s.reason))
    return IndexResult(records=kept, skipped=skips)


def log_result(name: str, result: IndexResult) -> None:
    counts = {label: 0 for label in LABELS}
    for record in result.records:
        counts[record.label] += 1
    logger.info(
        "%s: %d videos (%d real, %d fake), %d skipped",
        name,
        len(result.records),
        counts[REAL],
        counts[FAKE],
        len(result.skipped),
    )
    for skip in result.skipped[:20]:
        logger.debug("skipped %s: %s", skip.path, skip.reason)


def write_manifest(path: str | os.PathLike, records: Iterable[VideoRecord]) -> Path:
    """Write records as JSON Lines, atomically (a reader never sees half a manifest)."""
    path = Path(path)
    records = list(records)
    seen: set[str] = set()
    for record in records:
        _check_label_and_split(record)
        if record.video_id in seen:
            raise DatasetError(
                f"{path}: duplicate video_id {record.video_id!r} in records to write"
            )
        seen.add(record.video_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            for record in records:
                handle.write(json.dumps(dataclasses.asdict(record), ensure_ascii=False))
                handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    logger.info("wrote %d records to %s", len(records), path)
    return path


def _row_to_record(row: object, where: str) -> VideoRecord:
    if not isinstance(row, dict):
        raise DatasetError(f"{where}: expected a JSON object, got {type(row).__name__}")
    missing = [name for name in _REQUIRED_FIELDS if name not in row]
    if missing:
        raise DatasetError(f"{where}: missing field(s) {', '.join(missing)}")
    unknown = sorted(set(row) - set(_REQUIRED_FIELDS) - set(_OPTIONAL_FIELDS))
    if unknown:
        raise DatasetError(
            f"{where}: unknown field(s) {', '.join(unknown)}; "
            f"expected {', '.join(_REQUIRED_FIELDS + _OPTIONAL_FIELDS)}"
        )
    for name in ("video_id", "root", "path", "split", "dataset"):
        if not isinstance(row[name], str):
            raise DatasetError(f"{where}: field {name} must be a string, got {row[name]!r}")
    for name in _OPTIONAL_FIELDS:
        if row.get(name) is not None and not isinstance(row[name], str):
            raise DatasetError(f"{where}: field {name} must be a string or null, got {row[name]!r}")
    label = row["label"]
    if type(label) is not int or label not in LABELS:
        raise DatasetError(f"{where}: label must be {REAL} (real) or {FAKE} (fake), got {label!r}")
    if row["split"] not in SPLITS:
        raise DatasetError(
            f"{where}: split must be one of {', '.join(SPLITS)}, got {row['split']!r}"
        )
    expected_id = video_id_for(row["dataset"], row["path"])
    if row["video_id"] != expected_id:
        raise DatasetError(
            f"{where}: video_id {row['video_id']!r} does not match dataset and path "
            f"(expected {expected_id!r})"
        )
    return VideoRecord(**{name: row.get(name) for name in _REQUIRED_FIELDS + _OPTIONAL_FIELDS})


def read_manifest(path: str | os.PathLike) -> list[VideoRecord]:
    """Read and check a manifest; errors name the file and line. Files are not checked."""
    path = Path(path)
    records: list[VideoRecord] = []
    first_line: dict[str, int] = {}
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            where = f"{path} line {number}"
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise DatasetError(f"{where}: invalid JSON ({error.msg})") from error
            record = _row_to_record(row, where)
            if record.video_id in first_line:
                raise DatasetError(
                    f"{where}: duplicate video_id {record.video_id!r} "
                    f"(first on line {first_line[record.video_id]})"
                )
            first_line[record.video_id] = number
            records.append(record)
    return records
