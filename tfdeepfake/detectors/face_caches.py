"""Face caches as the detectors read them: checks that name the command making a cache,
one row per video for the train/val carve (``VideoRow``, grouped by identity), the faces
of a split scored face by face, and training videos in memory or streamed.

Shared by the ``xception``, ``lstm`` and ``sbi`` detectors and the SBI footage study.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from tfdeepfake.cache.faces import face_store, iter_face_videos
from tfdeepfake.constants import FAKE, LABEL_NAMES, REAL
from tfdeepfake.datasets.records import identity_group
from tfdeepfake.detectors.base import VideoRow
from tfdeepfake.faces.settings import FaceSettings

logger = logging.getLogger(__name__)

# Training videos are kept in memory when their faces fit in this many bytes (better
# shuffling, no second read); larger sets are streamed from the cache in every epoch.
IN_MEMORY_LIMIT_BYTES = 1 << 30

_CACHE_MAKERS = {"faces": ("a face cache", "tfdeepfake extract"),
                 "embeddings": ("an embedding cache", "tfdeepfake embed")}


def _stored_kind(path: Path) -> str | None:
    import h5py

    try:
        with h5py.File(path, "r") as f:
            kind = f.attrs.get("kind")
    except OSError as error:
        raise ValueError(f"{path}: not a readable HDF5 cache ({error})") from error
    return kind.decode() if isinstance(kind, bytes) else (None if kind is None else str(kind))


def require_cache(path: str | os.PathLike, kind: str, who: str) -> Path:
    """``path`` as a cache of ``kind`` (``faces`` / ``embeddings``), or an error naming the
    file, what ``who`` needs and the command that makes it."""
    path = Path(path)
    what, command = _CACHE_MAKERS[kind]
    if not path.is_file() and not path.with_name(path.name + ".parts").is_dir():
        raise FileNotFoundError(f"{path}: not found; {who} needs {what}, made by `{command}`")
    if path.is_file():
        found = _stored_kind(path)
        if found != kind:
            held = _CACHE_MAKERS.get(found, (f"{found or 'no tfdeepfake'} data",))[0]
            raise ValueError(f"{path}: holds {held}; {who} needs {what}, made by `{command}`")
    return path


def per_face_of_split(source, split: str, per_face, who: str):
    """``(outputs, labels, video ids)``, one row per face of ``split`` of face cache
    ``source``: ``per_face(faces)`` of each video (a probability or a feature row).
    Videos without a face get no row, and a warning names them."""
    require_cache(source, "faces", who)
    outputs, labels, ids, faceless = [], [], [], []
    for video in iter_face_videos(source, splits=(split,)):
        if not len(video.faces):
            faceless.append(video.video_id)
            continue
        outputs.append(per_face(video.faces))
        labels.append(np.full(len(video.faces), int(video.label), np.int64))
        ids.extend([video.video_id] * len(video.faces))
    if faceless:  # they get no score, so the report's counts leave them out
        logger.warning("%s: %d %s videos without faces left out: %s", source, len(faceless),
                       split, ", ".join(faceless[:10]) + (" ..." if len(faceless) > 10 else ""))
    if not ids:
        raise ValueError(f"{source}: no face frames in split {split!r}")
    return np.concatenate(outputs), np.concatenate(labels), np.asarray(ids)


def face_cache_settings(path: str | os.PathLike) -> FaceSettings:
    """The face settings a face cache was made with."""
    stored = face_store(path).stored_settings()
    try:
        return FaceSettings.from_dict(stored)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{path}: face settings unreadable ({error}); re-extract with this "
                         "tfdeepfake") from error


def video_row(video_id: str, label: int, split: str, frames: int, attrs: dict) -> VideoRow:
    source = attrs.get("source") or None  # the cache stores "" for "no source video"
    return VideoRow(str(video_id), int(label), str(split), int(frames),
                    identity_group(str(video_id), source=source))


def scan_face_cache(path, keep_splits=("train", "val")) -> tuple[list[VideoRow], list | None]:
    """One pass over a face cache: a row per video, and the ``FaceVideo``s of
    ``keep_splits`` when their faces fit in memory (else ``None``: stream them)."""
    rows: list[VideoRow] = []
    kept: list | None = []
    kept_bytes = 0
    for video in iter_face_videos(path):
        rows.append(video_row(video.video_id, video.label, video.split, len(video.faces), video.attrs))
        if kept is not None and video.split in keep_splits and len(video.faces):
            kept_bytes += video.faces.nbytes
            if kept_bytes > IN_MEMORY_LIMIT_BYTES:
                logger.info("%s: training faces exceed %d MB; streaming from the cache", path,
                            IN_MEMORY_LIMIT_BYTES >> 20)
                kept = None
            else:
                kept.append(video)
    if not rows:
        raise ValueError(f"{path}: the face cache holds no videos")
    return rows, kept


def face_source(path, ids: set[str], loaded: list | None):
    """A video source for the pipelines: a list when in memory, else a fresh stream per pass."""
    if loaded is not None:
        return [v for v in loaded if v.video_id in ids]
    path = str(path)
    return lambda: iter_face_videos(path, video_ids=ids)


def cap_frames(rows: list[VideoRow], train_ids: set[str], max_frames: int, seed: int) -> set[str]:
    """Whole training videos, drawn at random per class, up to ``max_frames / 2`` frames
    each: the poster's "30k frames", balanced real/fake."""
    if max_frames < 2:
        raise ValueError(f"max_train_frames must be >= 2, got {max_frames}")
    rng = np.random.default_rng(seed)
    chosen: set[str] = set()
    for label in (REAL, FAKE):
        videos = sorted((r for r in rows if r.video_id in train_ids and r.label == label),
                        key=lambda r: r.video_id)
        total = 0
        for i in rng.permutation(len(videos)):
            if total >= max_frames // 2:
                break
            chosen.add(videos[i].video_id)
            total += videos[i].frames
        logger.info("max_train_frames=%d: %d %s frames from %d videos", max_frames, total,
                    LABEL_NAMES[label], sum(1 for r in videos if r.video_id in chosen))
    return chosen
