"""The face cache: MTCNN crops of sampled frames, one HDF5 group per video."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

import numpy as np

from tfdeepfake.cache.files import CacheError
from tfdeepfake.cache.store import StoredVideo, VideoStore
from tfdeepfake.faces.settings import FaceSettings

KIND = "faces"


@dataclass
class FaceVideo:
    video_id: str
    label: int
    split: str
    dataset: str
    faces: np.ndarray  # [F, S, S, 3] uint8; only frames where a face was found
    frame_indices: np.ndarray  # [F] which video frame each face came from
    boxes: np.ndarray  # [F, 4] full-resolution [x1, y1, x2, y2]
    keypoints: np.ndarray  # [F, 5, 2]
    confidences: np.ndarray  # [F]
    sampled_indices: np.ndarray  # every frame that was sampled, with or without a face
    attrs: dict

    @property
    def num_sampled(self) -> int:
        return int(len(self.sampled_indices))


def face_store(path: str | os.PathLike, config: FaceSettings | None = None) -> VideoStore:
    """The face cache at ``path``; with ``config`` it must have been made with those settings."""
    return VideoStore(path, KIND, config.to_dict() if config else None)


FACE_ARRAYS = ("faces", "frame_indices", "boxes", "keypoints", "confidences", "sampled_indices")


class DamagedVideoError(CacheError):
    """A stored video without one of its arrays (a hand-edited or damaged cache)."""


def _to_face_video(stored: StoredVideo, path) -> FaceVideo:
    a, attrs = stored.arrays, stored.attrs
    missing = [name for name in FACE_ARRAYS if name not in a]
    if missing:
        raise DamagedVideoError(f"{path}: video {stored.video_id!r} has no "
                                f"{', '.join(repr(m) for m in missing)} array (a damaged face "
                                "cache); re-extract it")
    return FaceVideo(
        video_id=stored.video_id, label=int(attrs["label"]), split=str(attrs["split"]),
        dataset=str(attrs.get("dataset", "")), faces=a["faces"], frame_indices=a["frame_indices"],
        boxes=a["boxes"], keypoints=a["keypoints"], confidences=a["confidences"],
        sampled_indices=a["sampled_indices"], attrs=attrs)


def iter_face_videos(path: str | os.PathLike, splits: tuple[str, ...] | None = None,
                     video_ids: Iterable[str] | None = None,
                     on_damaged: Callable[[str, str], None] | None = None) -> Iterator[FaceVideo]:
    """Stream the videos of a face cache (optionally only some splits or videos); the
    selection is made before any face is read. A damaged video is a ``DamagedVideoError``,
    or, with ``on_damaged``, reported there (id, one-line reason) and passed over."""
    where = None if splits is None else (lambda attrs: str(attrs["split"]) in splits)
    for stored in face_store(path).iter_videos(video_ids=video_ids, where=where):
        try:
            video = _to_face_video(stored, path)
        except DamagedVideoError as error:
            if on_damaged is None:
                raise
            on_damaged(stored.video_id, str(error))
            continue
        yield video
