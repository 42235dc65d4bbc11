"""Whether a cached video still is the manifest row it was extracted from.

A rerun of ``extract`` skips videos the cache already holds. Matching by ``video_id`` alone
let a cache mix rows: a file moved from ``real/`` to ``fake/`` and re-indexed got a new id
and was extracted again while its old row stayed (one file under both labels), and rows whose
root, label or split changed kept the old values. So every finished video stores its row's
``root``, ``path``, ``label``, ``split`` and a fingerprint of its file (size, mtime, SHA-256
of the first MiB), and before skipping a video the rerun compares them; it also looks for the
file of a new row among cached videos the manifest no longer lists.

Any difference is refused (``SourceChangedError``, one line naming the videos and what
changed) unless the caller asks to re-extract them, which drops the cached rows first. A file
that was only touched or copied (mtime differs, size and first MiB the same) is the same file.
Caches of an older tfdeepfake have no fingerprint: their rows are compared on the fields they
have, and one warning says the files could not be checked.

``local extract`` and the Beam pipeline both call :func:`plan_rerun`: one rule for both.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass, field
from typing import Iterable

from tfdeepfake.cache.files import CacheError
from tfdeepfake.datasets.records import VideoRecord

logger = logging.getLogger(__name__)

# The manifest fields a cached video must still agree on (``dataset`` is part of the id).
ROW_FIELDS = ("root", "path", "label", "split")
SIZE, MTIME, HEAD = "source_size", "source_mtime_ns", "source_head_sha256"
HEAD_BYTES = 1 << 20
OPTION = "--reextract-changed"  # the command's option that accepts the changes
_SHOWN = 3  # changed videos named in the refusal; the rest are counted


class SourceChangedError(CacheError):
    """Cached videos whose manifest row or file changed; the message says which and how."""


def _head_sha256(path) -> str:
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read(HEAD_BYTES)).hexdigest()


def file_fingerprint(path) -> dict:
    """``{source_size, source_mtime_ns, source_head_sha256}`` of the file at ``path``; empty
    when it cannot be read (the extraction that follows says why)."""
    try:
        stat = os.stat(path)
        head = _head_sha256(path)
    except OSError:
        return {}
    return {SIZE: int(stat.st_size), MTIME: int(stat.st_mtime_ns), HEAD: head}


@dataclass
class SourceChange:
    """``video_id`` (a manifest row) differs from what the cache holds as ``cached_ids``
    (its own id, or other ids holding the same file)."""

    video_id: str
    cached_ids: tuple[str, ...]
    changes: list[str]

    def describe(self) -> str:
        return f"{self.video_id}: {', '.join(self.changes)}"

    def to_dict(self) -> dict:
        return {"video_id": self.video_id, "cached_ids": list(self.cached_ids),
                "changes": list(self.changes)}


@dataclass
class RerunPlan:
    todo: list[VideoRecord] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    changed: list[SourceChange] = field(default_factory=list)
    unchecked: int = 0  # finished videos whose cache holds no fingerprint (older tfdeepfake)


def _row_changes(stored: dict, record: VideoRecord) -> list[str]:
    changes = []
    for name in ROW_FIELDS:
        if name not in stored:
            continue  # an older cache without it: unknown, not different
        old, new = stored[name], getattr(record, name)
        if name == "label":
            old, new = _int_or_text(old), int(new)
        if str(old) != str(new):
            changes.append(f"{name} {old!s} -> {new!s}")
    return changes


def _int_or_text(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return value


def _file_change(stored: dict, record: VideoRecord) -> str | None:
    """What changed in the file since it was cached, or None (same, or cannot tell)."""
    try:
        stat = os.stat(record.full_path)
    except OSError:
        return None  # gone: nothing to compare; the cached faces stand
    if int(stored[SIZE]) != stat.st_size:
        return f"file contents (size {int(stored[SIZE])} -> {stat.st_size} bytes)"
    if int(stored.get(MTIME, -1)) == stat.st_mtime_ns:
        return None
    # Touched or copied: the same file when the first MiB is the same.
    try:
        head = _head_sha256(record.full_path)
    except OSError:
        return None
    return None if head == stored.get(HEAD) else "file contents (first MiB differs)"


def _same_file_elsewhere(record: VideoRecord, orphans_by_size: dict[int, list[dict]]
                         ) -> list[dict]:
    """Cached videos the manifest no longer lists that hold this row's file."""
    try:
        candidates = orphans_by_size.get(os.stat(record.full_path).st_size)
        if not candidates:
            return []
        head = _head_sha256(record.full_path)
    except OSError:
        return []
    return [attrs for attrs in candidates if attrs.get(HEAD) == head]


def plan_rerun(records: Iterable[VideoRecord], store, *, retry_failed: bool = False,
               reextract_changed: bool = False) -> RerunPlan:
    """Which ``records`` to extract and which to skip, checking every cached one first.

    Changed videos are refused with ``SourceChangedError`` unless ``reextract_changed``: then
    their cached rows are removed from ``store`` and they are extracted again."""
    cached = store.video_attrs()
    failed = store.failures()
    records = list(records)
    listed = {record.video_id for record in records}
    orphans_by_size: dict[int, list[dict]] = {}
    for video_id, attrs in cached.items():
        if video_id not in listed and SIZE in attrs:
            orphans_by_size.setdefault(int(attrs[SIZE]), []).append(attrs)
    plan = RerunPlan()
    for record in records:
        stored = cached.get(record.video_id)
        if stored is not None:
            changes = _row_changes(stored, record)
            if SIZE in stored:
                change = _file_change(stored, record)
                changes += [change] if change else []
            else:
                plan.unchecked += 1
            if not changes:
                plan.skipped.append(record.video_id)
                continue
            plan.changed.append(SourceChange(record.video_id, (record.video_id,), changes))
        elif record.video_id in failed and not retry_failed:
            plan.skipped.append(record.video_id)
            continue
        else:
            same = _same_file_elsewhere(record, orphans_by_size) if orphans_by_size else []
            if same:
                first = same[0]
                changes = [f"same file as cached {', '.join(a['video_id'] for a in same)}"]
                changes += _row_changes(first, record)
                plan.changed.append(SourceChange(record.video_id,
                                                 tuple(a["video_id"] for a in same), changes))
        plan.todo.append(record)
    if plan.unchecked:
        logger.warning("%s: %d cached video(s) have no file fingerprint (made by an older "
                       "tfdeepfake): their rows are compared, their files are not; extract into "
                       "a new path to have them checked", store.path, plan.unchecked)
    if plan.changed and not reextract_changed:
        raise SourceChangedError(refusal(store.path, plan.changed))
    if plan.changed:
        for change in plan.changed:
            logger.warning("re-extracting %s", change.describe())
        store.remove({video_id for change in plan.changed for video_id in change.cached_ids})
    return plan


def refusal(cache_path, changed: list[SourceChange]) -> str:
    shown = "; ".join(change.describe() for change in changed[:_SHOWN])
    more = f"; and {len(changed) - _SHOWN} more" if len(changed) > _SHOWN else ""
    return (f"{cache_path}: {len(changed)} cached video(s) differ from the manifest: {shown}"
            f"{more}; rerun with {OPTION} to extract them again (their cached rows are "
            "dropped), or extract into a new path")
