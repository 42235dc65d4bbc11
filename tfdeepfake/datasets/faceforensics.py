"""FaceForensics++ reader.

Layout under the root (one compression at a time: raw, c23 or c40)::

    original_sequences/youtube/<c>/videos/NNN.mp4                 real
    original_sequences/actors/<c>/videos/01__scene.mp4            real (DeepFakeDetection's)
    manipulated_sequences/<Method>/<c>/videos/TTT_SSS.mp4         fake: target TTT, source SSS
    manipulated_sequences/DeepFakeDetection/<c>/videos/01_02__scene__ID.mp4
    splits/{train,val,test}.json                                  [["071", "054"], ...]

Official splits are pairs of YouTube ids: an original NNN takes the split of the pair that
contains it; a fake TTT_SSS the split of the pair (TTT, SSS) in either order. Videos in no
pair are skipped, with the reason. Fakes get ``method`` = the method folder name and
``source`` = the source id (SSS; for DeepFakeDetection the source actor).

The actors' videos and DeepFakeDetection have no official split: they all go to
``actors_split`` ("train" by default; "val" or "test" to hold them out, None to leave them
out). YouTube originals are indexed when a YouTube method is selected, actors' originals
when DeepFakeDetection is.
"""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path
from typing import Iterable

from tfdeepfake.constants import FAKE, REAL, SPLITS
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

logger = logging.getLogger(__name__)

DATASET = "ffpp"
COMPRESSIONS = ("raw", "c23", "c40")
YOUTUBE_METHODS = ("Deepfakes", "Face2Face", "FaceSwap", "NeuralTextures", "FaceShifter")
ACTORS_METHOD = "DeepFakeDetection"
METHODS = YOUTUBE_METHODS + (ACTORS_METHOD,)

_PAIR_NAME = re.compile(r"^(\d+)_(\d+)$")
_DFD_NAME = re.compile(r"^(\d+)_(\d+)__")


def _select_methods(methods: str | Iterable[str] | None) -> tuple[list[str], bool]:
    """Canonical method names and whether the user named them (then missing ones are errors)."""
    if methods is None:
        return list(METHODS), False
    if isinstance(methods, str):  # "Deepfakes,FaceSwap" from a command line
        methods = [m for m in methods.split(",") if m.strip()]
    by_lower = {m.lower(): m for m in METHODS}
    chosen: list[str] = []
    for method in methods:
        name = by_lower.get(str(method).strip().lower())
        if name is None:
            raise ValueError(
                f"unknown FaceForensics++ method {method!r}; valid: {', '.join(METHODS)}"
            )
        if name not in chosen:
            chosen.append(name)
    if not chosen:
        raise ValueError(f"methods is empty; valid: {', '.join(METHODS)}")
    return chosen, True


def load_splits(splits_dir: str | os.PathLike) -> tuple[dict[str, str], dict[frozenset, str]]:
    """(video id -> split, frozenset pair -> split) from ``splits/{train,val,test}.json``."""
    splits_dir = Path(splits_dir)
    video_split: dict[str, str] = {}
    pair_split: dict[frozenset, str] = {}
    origin: dict[str, Path] = {}
    for split in SPLITS:
        path = splits_dir / f"{split}.json"
        if not path.is_file():
            raise DatasetError(f"{path}: official FaceForensics++ split file not found")
        try:
            pairs = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise DatasetError(f"{path}: invalid JSON ({error})") from error
        if not isinstance(pairs, list):
            raise DatasetError(f"{path}: expected a list of id pairs, got {type(pairs).__name__}")
        for number, pair in enumerate(pairs):
            if (
                not isinstance(pair, list)
                or len(pair) != 2
                or not all(isinstance(v, str) for v in pair)
                or pair[0] == pair[1]
            ):
                raise DatasetError(
                    f"{path}: entry {number} must be two different id strings like "
                    f'["071", "054"], got {pair!r}'
                )
            for video in pair:
                if video_split.get(video, split) != split:
                    raise DatasetError(
                        f"{path}: id {video!r} is also in {origin[video]} "
                        f"(a video must be in one split)"
                    )
                video_split[video] = split
                origin[video] = path
            pair_split[frozenset(pair)] = split
    return video_split, pair_split


def index_faceforensics(
    root: str | os.PathLike,
    *,
    compression: str = "c23",
    methods: str | Iterable[str] | None = None,
    actors_split: str | None = "train",
    splits_dir: str | os.PathLike | None = None,
) -> IndexResult:
    """Index FaceForensics++ at one compression (dataset ``ffpp``).

    ``methods``: a subset of :data:`METHODS` (default all whose folders exist; a named
    method whose folder is missing is an error). ``splits_dir`` overrides ``<root>/splits``.
    """
    if compression not in COMPRESSIONS:
        raise ValueError(f"unknown compression {compression!r}; valid: {', '.join(COMPRESSIONS)}")
    if actors_split is not None and actors_split not in SPLITS:
        raise ValueError(
            f"unknown actors_split {actors_split!r}; valid: {', '.join(SPLITS)} or None"
        )
    chosen, named = _select_methods(methods)
    root = Path(os.path.abspath(root))  # skips and records name the same paths
    if not root.is_dir():
        raise DatasetError(f"{root}: FaceForensics++ root is not a directory")

    youtube = [m for m in chosen if m in YOUTUBE_METHODS]
    use_actors = ACTORS_METHOD in chosen and actors_split is not None
    if ACTORS_METHOD in chosen and actors_split is None:
        chosen.remove(ACTORS_METHOD)
        if not chosen:
            raise ValueError(
                "actors_split=None leaves out DeepFakeDetection, the only method asked"
            )
    video_split: dict[str, str] = {}
    pair_split: dict[frozenset, str] = {}
    if youtube:
        video_split, pair_split = load_splits(splits_dir or root / "splits")

    records: list[VideoRecord] = []
    skipped: list[Skip] = []

    def videos(folder: str, required: bool) -> list[str]:
        if not (root / folder).is_dir():
            if required:
                raise DatasetError(f"{root / folder}: folder not found (compression {compression})")
            logger.info("FaceForensics++: no %s", root / folder)
            return []
        paths, skips = find_videos(root, folder, recursive=False)
        skipped.extend(skips)
        return paths

    def no_split(rel: str, what: str) -> None:
        skipped.append(Skip(str(root / rel), f"{what} is in no official split (splits/*.json)",
                            "in no official split (splits/*.json)"))

    if youtube:
        for rel in videos(f"original_sequences/youtube/{compression}/videos", False):
            video = Path(rel).stem
            if video in video_split:
                records.append(make_record(root, rel, REAL, video_split[video], DATASET))
            else:
                no_split(rel, f"original {video}")
    if use_actors:
        for rel in videos(f"original_sequences/actors/{compression}/videos", False):
            records.append(make_record(root, rel, REAL, actors_split, DATASET))

    for method in chosen:
        folder = f"manipulated_sequences/{method}/{compression}/videos"
        for rel in videos(folder, named):
            stem = Path(rel).stem
            if method == ACTORS_METHOD:
                match = _DFD_NAME.match(stem)
                source = match[2] if match else None
                records.append(
                    make_record(root, rel, FAKE, actors_split, DATASET, method, source)
                )
                continue
            match = _PAIR_NAME.match(stem)
            if match is None:
                skipped.append(Skip(str(root / rel), "name is not TTT_SSS (target_source)"))
                continue
            target, source = match[1], match[2]
            split = pair_split.get(frozenset((target, source)))
            if split is None:
                no_split(rel, f"pair ({target}, {source})")
                continue
            records.append(make_record(root, rel, FAKE, split, DATASET, method, source))

    if not records and not skipped:
        raise DatasetError(
            f"{root}: no FaceForensics++ videos found for compression {compression} "
            f"and methods {', '.join(chosen)}"
        )
    # Videos are found by walking folders (the split files name ids, not paths), so links
    # are followed wherever they lead.
    result = validate_records(records, skipped=skipped, follow_links=True)
    log_result(f"ffpp {compression}", result)
    return result
