"""Video records, manifests and the checks every dataset reader shares.

A record names one video file: ``root`` plus a ``path`` relative to it (posix form), its
label (0 = real, 1 = fake; each reader converts its dataset's own convention once, before
building records), its split and where it came from. A manifest is JSON Lines, one
``dataclasses.asdict(record)`` per line, sorted by path so that it is reproducible.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import posixpath
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Callable, Iterable, Mapping

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
    """A video (or listed entry) left out of an index, and why.

    ``reason`` names this entry's specifics (which file it duplicates, where a link leads);
    ``kind`` is the same reason without them, so that skips can be counted by kind.
    """

    path: str
    reason: str
    kind: str = ""

    @property
    def group(self) -> str:
        return self.kind or self.reason


# Kinds of skip shared by the readers (each reader may add its own).
SKIP_OUTSIDE = "path outside the dataset root"
SKIP_LISTED_LINK_OUTSIDE = "a list file names a link that leads outside the dataset root"
SKIP_MISSING = "file is missing"
SKIP_NOT_FILE = "not a regular file (or a broken link)"
SKIP_DUPLICATE_ID = "duplicate video_id"
SKIP_SAME_FILE = "same file as another video (a second link or path to it)"
SKIP_CONTROL = "file name holds a control character"


@dataclass
class IndexResult:
    records: list[VideoRecord] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)

    @property
    def skip_reasons(self) -> dict[str, int]:
        """``{kind of skip: count}``, most frequent first: what an index summary prints."""
        counts = Counter(skip.group for skip in self.skipped)
        return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def normalise_relpath(path: str | os.PathLike) -> str:
    """Posix form of a relative path; '..' that stays inside is folded, escaping '..' kept."""
    text = os.fspath(path).replace("\\", "/")
    if text.startswith("/"):
        return text  # left absolute so that validation reports it
    return posixpath.normpath(text) if text else text


def video_id_for(dataset: str, path: str, keep_extension: bool = False) -> str:
    """``<dataset>/<path without extension>``; with ``keep_extension`` (two videos whose
    paths differ only in it, like ``a.mkv`` and ``a.webm``) the extension stays."""
    return f"{dataset}/{path if keep_extension else posixpath.splitext(path)[0]}"


# Video-id shapes that name a person (see the readers in celebdf.py, faceforensics.py, dfdc.py).
_CELEBDF_FOLDERS = ("celeb-real", "celeb-synthesis")
_CELEBDF_NAME = re.compile(r"^(id\d+)_(?:id\d+_)?\d+$")  # id0_0000 / id0_id1_0000: target id0
_FFPP_YOUTUBE_NAME = re.compile(r"^(\d+)(?:_\d+)?$")  # NNN original / TTT_SSS fake: target
_FFPP_ACTORS_NAME = re.compile(r"^(\d+)(?:_\d+)?__")  # 01__scene / 01_02__scene__ID: actor 01
_VERSION_SUFFIX = re.compile(r"-v\d+$")  # celebdf-v1 and celebdf-v2 show the same people
DFDC_DATASET = "dfdc"


def identity_group(video_id: str, source: str | None = None) -> str:
    """The person a video shows, so a fake and its target's real footage share a split side.

    Celeb-DF ``<dataset>/Celeb-real/id0_0000`` and ``Celeb-synthesis/id0_id1_0000`` ->
    ``"celebdf:id0"`` (the target, whose footage the fake reuses; v1 and v2 share people);
    FaceForensics++ ``.../NNN`` and ``.../TTT_SSS`` -> ``"ffpp:TTT"`` (actors:
    ``"ffpp:actor01"``); DFDC -> ``"dfdc:<original stem>"``, ``source`` being a fake's
    original video. Anything else (YouTube-real clips, the user's own folders) is its own
    group: the video id. A person's group is ``<dataset>:<person>`` (video ids have a ``/``
    right after the dataset), so it cannot equal a video id or another dataset's person.
    """
    dataset, _, rest = video_id.partition("/")
    parts = rest.split("/")
    name = parts[-1]
    family = _VERSION_SUFFIX.sub("", dataset)
    if len(parts) == 2 and parts[0].lower() in _CELEBDF_FOLDERS:
        match = _CELEBDF_NAME.match(name)
        if match:
            return f"{family}:{match[1]}"
    elif len(parts) >= 3 and parts[0] in ("original_sequences", "manipulated_sequences"):
        if parts[1] == "youtube" or (parts[0] == "manipulated_sequences"
                                     and parts[1] != "DeepFakeDetection"):
            match = _FFPP_YOUTUBE_NAME.match(name)
            if match:
                return f"{family}:{match[1]}"
        else:
            match = _FFPP_ACTORS_NAME.match(name)
            if match:
                return f"{family}:actor{match[1]}"
    elif dataset == DFDC_DATASET:
        # DFDC file names are unique across parts, so a fake finds its original by name.
        original = source if source else name
        return f"{dataset}:{posixpath.splitext(posixpath.basename(original))[0]}"
    return video_id


def warn_shared_identities(train: Mapping[str, str], val: Mapping[str, str],
                           where: str = "the val split") -> set[str]:
    """Identity groups with videos both in ``train`` and in ``val`` (each ``{video_id:
    group}``), with one warning line when there are any: a split made by video id (folder
    layouts, Celeb-DF ``--group-by video``) lets validation recognise people it trained on,
    so the score keep-best watches is optimistic."""
    shared = set(train.values()) & set(val.values())
    if shared:
        videos = sum(1 for group in val.values() if group in shared)
        logger.warning("%s shares people with training: %d identity group%s (e.g. %s) hold %d "
                       "of %d validation videos, so validation scores are optimistic; keep a "
                       "person on one side (index with --group-by identity, or a val split "
                       "by person)", where, len(shared), "" if len(shared) == 1 else "s",
                       ", ".join(sorted(shared)[:3]), videos, len(val))
    return shared


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


def control_character(text: str) -> str | None:
    """``"U+000A"`` for the first control character (C0, DEL, C1) in ``text``, else None."""
    for char in text:
        if unicodedata.category(char) == "Cc":
            return f"U+{ord(char):04X}"
    return None


def utf8_encodable(text: str) -> bool:
    """False for a name that is not valid UTF-8 (it arrives as a str with surrogate
    escapes, e.g. ``caf\\udce9.mp4`` from a Latin-1 file system): OpenCV and HDF5 cannot
    take it as it is."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _escape_reason(record: VideoRecord, check_files: bool,
                   follow_links: bool) -> tuple[str, str] | None:
    bad = control_character(record.root + record.path)
    if bad is not None:
        # A tab or newline is legal in a Linux file name, but read_manifest refuses it:
        # what an index writes must read back.
        return f"file name holds a control character ({bad})", SKIP_CONTROL
    rel = PurePosixPath(record.path)
    if record.path in ("", ".") or rel.is_absolute() or ".." in rel.parts:
        return f"path {record.path!r} is not inside the dataset root {record.root}", SKIP_OUTSIDE
    if check_files and not follow_links:
        real_root = os.path.realpath(record.root)
        real_file = os.path.realpath(record.full_path)
        if os.path.commonpath([real_root, real_file]) != real_root:
            return (f"a list file names it, and it resolves to {real_file}, outside the "
                    f"dataset root {record.root} (symlink)", SKIP_LISTED_LINK_OUTSIDE)
    return None


def _sort_key(record: VideoRecord) -> tuple[str, str, str]:
    return (record.path, record.root, record.video_id)


def validate_records(
    records: Iterable[VideoRecord],
    *,
    skipped: Iterable[Skip] = (),
    check_files: bool = True,
    follow_links: bool | Callable[[VideoRecord], bool] = False,
) -> IndexResult:
    """Sort records by path and move problem entries to ``skipped`` with a reason.

    Skipped (the index goes on without them): paths outside the root (absolute or ``..``),
    missing files and non-files (when ``check_files``), a second record with an already
    seen ``video_id``, and a second record for an already seen file (after resolving
    symlinks). The first in path order is kept.

    ``follow_links`` says which records may be symlinks that lead out of the root: videos
    found by walking folders (a folder of links is how people assemble datasets), not paths
    a list file names (a CSV, a test list, a metadata file), which must stay inside. True or
    False for all records, or a function of the record.
    A label other than 0/1 or a split other than train/val/test is a bug in the reader or
    the input, not a missing file, so it raises :class:`DatasetError`.
    """
    follows = follow_links if callable(follow_links) else (lambda record: bool(follow_links))
    kept: list[VideoRecord] = []
    skips = list(skipped)
    by_id: dict[str, VideoRecord] = {}
    by_file: dict[str, VideoRecord] = {}
    checked = []
    for record in sorted(records, key=_sort_key):
        _check_label_and_split(record)
        where = str(record.full_path)
        problem = _escape_reason(record, check_files, follows(record))
        if problem is None and check_files:
            if not os.path.lexists(where):
                problem = "file is missing", SKIP_MISSING
            elif not os.path.isfile(where):
                problem = SKIP_NOT_FILE, SKIP_NOT_FILE
        checked.append((record, problem))
    for record, problem in _keep_extensions_where_stems_collide(checked):
        where = str(record.full_path)
        if problem is None and record.video_id in by_id:
            first = by_id[record.video_id]
            reason = f"duplicate video_id {record.video_id!r} (kept {first.full_path})"
            if first.label != record.label:
                reason += f"; labels disagree ({first.label} kept, {record.label} here)"
            problem = reason, SKIP_DUPLICATE_ID
        if problem is None:
            file_key = os.path.realpath(where) if check_files else os.path.normpath(where)
            if file_key in by_file:
                problem = f"same file as {by_file[file_key].video_id!r}", SKIP_SAME_FILE
            else:
                by_file[file_key] = record
        if problem is not None:
            skips.append(Skip(where, *problem))
            continue
        by_id[record.video_id] = record
        kept.append(record)
    skips.sort(key=lambda s: (s.path, s.reason))
    return IndexResult(records=kept, skipped=skips)


def _keep_extensions_where_stems_collide(checked):
    """Videos whose paths differ only in the extension (``a.mkv``, ``a.webm``) are two
    videos: their ids keep the extension, so neither is dropped as a duplicate. Repeated
    until no two files share an id: ``a.webm``'s kept extension is ``a.webm.mp4``'s stem.
    One file listed twice stays one id (a duplicate)."""
    checked = list(checked)
    kept_extension: set[int] = set()  # positions in ``checked`` whose id keeps it

    def id_of(i: int) -> str:
        record = checked[i][0]
        if i in kept_extension:
            return video_id_for(record.dataset, record.path, keep_extension=True)
        return record.video_id

    while True:
        paths: dict[tuple[str, str], set[str]] = {}
        for i, (record, problem) in enumerate(checked):
            if problem is None:
                paths.setdefault((record.root, id_of(i)), set()).add(record.path)
        # Each pass moves at least one record to its full path, unique per file: it ends.
        colliding = {i for i, (record, problem) in enumerate(checked)
                     if problem is None and i not in kept_extension
                     and len(paths[(record.root, id_of(i))]) > 1}
        if not colliding:
            break
        kept_extension |= colliding
    for i, (record, problem) in enumerate(checked):
        if i in kept_extension:
            record = dataclasses.replace(record, video_id=id_of(i))
        yield record, problem


def log_result(name: str, result: IndexResult) -> None:
    counts = {label: 0 for label in LABELS}
    for record in result.records:
        counts[record.label] += 1
    reasons = "".join(f"; {n} {kind}" for kind, n in result.skip_reasons.items())
    logger.info(
        "%s: %d videos (%d real, %d fake), %d skipped%s",
        name,
        len(result.records),
        counts[REAL],
        counts[FAKE],
        len(result.skipped),
        reasons,
    )
    for skip in result.skipped[:20]:
        logger.debug("skipped %s: %s", skip.path, skip.reason)


