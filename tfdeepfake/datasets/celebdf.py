"""Celeb-DF (v1 and v2) reader.

Layout under the root::

    Celeb-real/id0_0000.mp4            real (celebrity interviews)
    YouTube-real/00170.mp4             real ("Youtube-real" is accepted too)
    Celeb-synthesis/id0_id1_0000.mp4   fake: footage of id0 (target) with id1's face (source)
    List_of_testing_videos.txt         official test list, lines "1 YouTube-real/00170.mp4"

In the test list **1 = real and 0 = fake**, the opposite of this project; the label is
converted here, once, and must agree with the video's folder. Test = the list; train = all
other videos. Fakes get ``method="celeb-synthesis"`` and ``source`` = the source identity
(id1); the target identity and clip are in the file name (see :func:`parse_celebdf_name`).

A validation split can be carved out of train (``val_fraction``, ``seed``). ``group_by``
keeps related videos together: "identity" (default) moves every train video whose footage
shows the same target identity at once, real and fake; "video" moves a real clip together
with the fakes made from it. Frames are never split.

Symlinks in the folders are followed wherever they lead, except for the videos the test
list names: a list's entries must stay inside the root.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from tfdeepfake.constants import DEFAULT_SEED, FAKE, REAL
from tfdeepfake.datasets.records import (
    DatasetError,
    IndexResult,
    Skip,
    VideoRecord,
    log_result,
    make_record,
    validate_records,
)
from tfdeepfake.datasets.scan import find_videos
from tfdeepfake.datasets.splits import carve_splits

logger = logging.getLogger(__name__)

VERSIONS = ("v1", "v2", "merged")
GROUP_BY = ("identity", "video")
TEST_LIST_NAME = "List_of_testing_videos.txt"
METHOD = "celeb-synthesis"

# Canonical folder name -> label. Matching is case-insensitive ("Youtube-real" exists).
FOLDERS = {"Celeb-real": REAL, "YouTube-real": REAL, "Celeb-synthesis": FAKE}
_CANONICAL = {name.lower(): name for name in FOLDERS}

# The test list's own convention: 1 = real, 0 = fake.
_LIST_LABELS = {"1": REAL, "0": FAKE}

_REAL_NAME = re.compile(r"^(id\d+)_(\d+)$")
_FAKE_NAME = re.compile(r"^(id\d+)_(id\d+)_(\d+)$")


@dataclass(frozen=True)
class CelebName:
    """Parts of a Celeb-DF file name: ``id0_0000`` (real) or ``id0_id1_0000`` (fake)."""

    target: str  # identity whose footage is used
    source: str | None  # identity whose face is swapped in; None for real videos
    clip: str  # the target's clip number: a fake reuses Celeb-real/<target>_<clip>


def parse_celebdf_name(path: str) -> CelebName | None:
    stem = os.path.splitext(os.path.basename(path))[0]
    match = _FAKE_NAME.match(stem)
    if match:
        return CelebName(target=match[1], source=match[2], clip=match[3])
    match = _REAL_NAME.match(stem)
    if match:
        return CelebName(target=match[1], source=None, clip=match[2])
    return None


def _canonical(rel: str) -> str | None:
    """``Youtube-real/x.mp4`` -> ``YouTube-real/x.mp4``; None outside the known folders."""
    folder, _, rest = rel.replace("\\", "/").partition("/")
    name = _CANONICAL.get(folder.lower())
    if name is None or not rest:
        return None
    return f"{name}/{rest}"


@dataclass
class _Scan:
    root: Path
    dataset: str
    on_disk: dict[str, str] = field(default_factory=dict)  # canonical -> path on disk
    test: set[str] = field(default_factory=set)  # canonical paths in the test list
    skipped: list[Skip] = field(default_factory=list)


def _read_test_list(path: Path, scan: _Scan) -> None:
    if not path.is_file():
        raise DatasetError(
            f"{path}: official test list not found (Celeb-DF ships {TEST_LIST_NAME})"
        )
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            where = f"{path} line {number}"
            parts = line.split()
            if len(parts) != 2:
                raise DatasetError(
                    f"{where}: expected '<1|0> <folder>/<file>', got {line.strip()!r}"
                )
            word, rel = parts
            if word not in _LIST_LABELS:
                raise DatasetError(
                    f"{where}: label {word!r} must be 1 (real) or 0 (fake) in this file"
                )
            canonical = _canonical(rel)
            if canonical is None:
                raise DatasetError(
                    f"{where}: {rel!r} is not in {', '.join(FOLDERS)}"
                )
            label = _LIST_LABELS[word]
            folder_label = FOLDERS[canonical.partition("/")[0]]
            if label != folder_label:
                raise DatasetError(
                    f"{where}: the list says {'real' if label == REAL else 'fake'} "
                    f"(label {word}; 1 = real in this file) but {rel} is in a "
                    f"{'real' if folder_label == REAL else 'fake'} folder"
                )
            scan.test.add(canonical)


def _scan(root: str | os.PathLike, dataset: str, test_list: str | os.PathLike | None) -> _Scan:
    root = Path(os.path.abspath(root))  # skips and records name the same paths
    if not root.is_dir():
        raise DatasetError(f"{root}: Celeb-DF root is not a directory")
    scan = _Scan(root=root, dataset=dataset)
    folders = sorted(p.name for p in root.iterdir() if p.is_dir() and p.name.lower() in _CANONICAL)
    if not folders:
        raise DatasetError(f"{root}: no Celeb-DF folders found (expected {', '.join(FOLDERS)})")
    for folder in folders:
        paths, skips = find_videos(root, folder, recursive=False)
        scan.skipped.extend(skips)
        for rel in paths:
            canonical = _canonical(rel)
            if canonical in scan.on_disk:
                # Both "YouTube-real" and "Youtube-real" on a case-sensitive disk.
                scan.skipped.append(
                    Skip(str(root / rel), f"same video as {scan.on_disk[canonical]}",
                         "same video in two spellings of a folder (YouTube-real, Youtube-real)")
                )
            else:
                scan.on_disk[canonical] = rel
    _read_test_list(Path(test_list) if test_list else root / TEST_LIST_NAME, scan)
    return scan


def _record(scan: _Scan, canonical: str, split: str) -> VideoRecord:
    folder = canonical.partition("/")[0]
    label = FOLDERS[folder]
    method = source = None
    if label == FAKE:
        method = METHOD
        parsed = parse_celebdf_name(canonical)
        source = parsed.source if parsed else None
    # A listed video missing on disk keeps the list's path; validation reports it missing.
    path = scan.on_disk.get(canonical, canonical)
    return make_record(scan.root, path, label, split, scan.dataset, method=method, source=source)


def _group_key(group_by: str):
    def key(record: VideoRecord) -> str:
        parsed = parse_celebdf_name(record.path)
        if parsed is None:  # YouTube-real clips: no identity in the name
            return f"path:{_canonical(record.path) or record.path}"
        if group_by == "identity":
            return f"identity:{parsed.target}"
        return f"video:{parsed.target}_{parsed.clip}"

    return key


def _finish(
    name: str,
    scans: list[_Scan],
    val_fraction: float,
    seed: int,
    group_by: str,
) -> IndexResult:
    """Records from scans in order of preference: a path keeps the first scan's copy."""
    if group_by not in GROUP_BY:
        raise ValueError(f"unknown group_by {group_by!r}; valid: {', '.join(GROUP_BY)}")
    test = set().union(*(scan.test for scan in scans))
    records: list[VideoRecord] = []
    skipped: list[Skip] = [skip for scan in scans for skip in scan.skipped]
    all_paths = set(test).union(*(scan.on_disk for scan in scans))
    for canonical in sorted(all_paths):
        owner = next((s for s in scans if canonical in s.on_disk), None)
        if owner is None:
            owner = next(s for s in scans if canonical in s.test)
        records.append(_record(owner, canonical, "test" if canonical in test else "train"))
    # Videos the test list names must stay inside the root; links found by walking the
    # folders (train) are followed wherever they lead.
    result = validate_records(records, skipped=skipped,
                              follow_links=lambda record: record.split != "test")
    if val_fraction:
        result.records = carve_splits(
            result.records,
            fractions={"val": val_fraction},
            seed=seed,
            group_key=_group_key(group_by),
        )
    log_result(name, result)
    return result


def index_celebdf(
    root: str | os.PathLike,
    *,
    version: str = "v2",
    v1_root: str | os.PathLike | None = None,
    test_list: str | os.PathLike | None = None,
    val_fraction: float = 0.0,
    seed: int = DEFAULT_SEED,
    group_by: str = "identity",
) -> IndexResult:
    """Index one Celeb-DF version (dataset ``celebdf-v1`` / ``celebdf-v2``).

    ``version="merged"`` reads ``root`` as v2 and ``v1_root`` as v1 (see
    :func:`index_celebdf_merged`). ``test_list`` overrides ``<root>/List_of_testing_videos.txt``.
    """
    if version not in VERSIONS:
        raise ValueError(f"unknown Celeb-DF version {version!r}; valid: {', '.join(VERSIONS)}")
    if version == "merged":
        if v1_root is None:
            raise ValueError("version='merged' needs v1_root (root is read as Celeb-DF-v2)")
        if test_list is not None:
            raise ValueError("version='merged' reads each version's own test list; drop test_list")
        return index_celebdf_merged(
            v1_root, root, val_fraction=val_fraction, seed=seed, group_by=group_by
        )
    if v1_root is not None:
        raise ValueError("v1_root is only used with version='merged'")
    dataset = f"celebdf-{version}"
    return _finish(dataset, [_scan(root, dataset, test_list)], val_fraction, seed, group_by)


def index_celebdf_merged(
    v1_root: str | os.PathLike,
    v2_root: str | os.PathLike,
    *,
    val_fraction: float = 0.0,
    seed: int = DEFAULT_SEED,
    group_by: str = "identity",
) -> IndexResult:
    """Celeb-DF v1 + v2 as one set, as the poster trained.

    v2 holds v1's videos under the same relative paths, so each path is kept once, the v2
    copy when there is one (records keep their version's ``dataset`` and ``root``, so a
    video's id is the same as in a v2-only index). A video in either version's test list is
    test here, so no video is on both sides.
    """
    v2 = _scan(v2_root, "celebdf-v2", None)
    v1 = _scan(v1_root, "celebdf-v1", None)
    shared = len(set(v1.on_disk) & set(v2.on_disk))
    logger.info("celebdf merged: %d videos in both versions, v2 copies kept", shared)
    return _finish("celebdf-merged", [v2, v1], val_fraction, seed, group_by)
