"""Manifests: JSON Lines of ``VideoRecord`` rows (``tfdeepfake.datasets.records``), written
atomically and read back with every field checked (types, labels, splits, control
characters), each error one line naming the file and line."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from pathlib import Path
from typing import Iterable

from tfdeepfake.constants import FAKE, REAL, SPLITS
from tfdeepfake.datasets.records import (
    _OPTIONAL_FIELDS,
    _REQUIRED_FIELDS,
    LABELS,
    DatasetError,
    VideoRecord,
    _check_label_and_split,
    _escape_reason,
    control_character,
    video_id_for,
)

logger = logging.getLogger(__name__)


def _json_line(row: dict) -> str:
    line = json.dumps(row, ensure_ascii=False)
    try:
        line.encode("utf-8")
    except UnicodeEncodeError:
        # A file name that is not valid UTF-8 holds surrogate escapes ('caf\\udce9.mp4'):
        # as JSON escapes they read back to the same str, which names the same bytes on disk.
        line = json.dumps(row, ensure_ascii=True)
    return line


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
    # Not mkstemp (always 0600): created 0666 so the kernel applies the umask and the
    # manifest gets the mode any new file would (read, not set: os.umask is process-wide).
    while True:
        tmp = str(path.parent / f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            break
        except FileExistsError:
            continue
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            for record in records:
                handle.write(_json_line(dataclasses.asdict(record)))
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


def _plain_path(path: str) -> str:
    """``path`` without ``.`` and empty segments (``fake/./x.mp4``, ``fake//x.mp4`` ->
    ``fake/x.mp4``). ``..`` stays: it can mean another file through a link, and the
    containment check judges it. An absolute path is left for that check too."""
    if path.startswith("/"):
        return path
    return "/".join(part for part in path.split("/") if part not in ("", ".")) or path


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
    # Before any other check quotes the value: a NUL reached HDF5 ("VLEN strings do not
    # support embedded NULLs") and broke the cache for every later run.
    for name in ("root", "path", "dataset", "video_id", "split") + _OPTIONAL_FIELDS:
        bad = control_character(row.get(name) or "")
        if bad is not None:
            raise DatasetError(f"{where}: field {name} holds a control character ({bad}); "
                               "fields are plain text")
    label = row["label"]
    if type(label) is not int or label not in LABELS:
        raise DatasetError(f"{where}: label must be {REAL} (real) or {FAKE} (fake), got {label!r}")
    if row["split"] not in SPLITS:
        raise DatasetError(
            f"{where}: split must be one of {', '.join(SPLITS)}, got {row['split']!r}"
        )
    # A hand-edited path may spell a file another way (fake/./x.mp4, fake//x.mp4): read as
    # the one spelling the index writes, so one file listed twice is one id, a duplicate.
    path = _plain_path(row["path"])
    expected_id = video_id_for(row["dataset"], path)
    spellings = {video_id_for(row["dataset"], p, keep): video_id_for(row["dataset"], path, keep)
                 for p in (row["path"], path) for keep in (False, True)}
    if row["video_id"] not in spellings:
        raise DatasetError(
            f"{where}: video_id {row['video_id']!r} does not match dataset and path "
            f"(expected {expected_id!r})"
        )
    fields = {name: row.get(name) for name in _REQUIRED_FIELDS + _OPTIONAL_FIELDS}
    record = VideoRecord(**{**fields, "path": path, "video_id": spellings[row["video_id"]]})
    # The index's own containment, again: a hand-edited row must not reach outside its root.
    problem = _escape_reason(record, check_files=False, follow_links=True)
    if problem is not None:
        raise DatasetError(f"{where}: {problem[0]}; a manifest row names a file inside its root")
    return record


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
                spelt = (f"; path {row['path']!r} is {record.path!r}"
                         if isinstance(row, dict) and row.get("path") != record.path else "")
                raise DatasetError(
                    f"{where}: duplicate video_id {record.video_id!r} "
                    f"(first on line {first_line[record.video_id]}{spelt})"
                )
            first_line[record.video_id] = number
            records.append(record)
    return records


__all__ = ["read_manifest", "write_manifest"]
