"""The face cache: MTCNN crops of sampled frames, one HDF5 group per video."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import Iterable, Iterator

import numpy as np

from tfdeepfake.cache.store import StoredVideo, VideoStore
from tfdeepfake.constants import DEFAULT_NUM_FRAMES, FACENET_INPUT_SIZE
from tfdeepfake.faces.boxes import FACE_POLICIES
from tfdeepfake.faces.detector import DetectorConfig

KIND = "faces"
SAMPLING_MODES = ("uniform", "first", "stride")


@dataclass(frozen=True)
class ExtractConfig:
    """Everything that decides which faces land in the cache."""

    num_frames: int = DEFAULT_NUM_FRAMES
    sampling: str = "uniform"
    stride: int | None = None
    face_policy: str = "largest"
    # Total fraction of the box added around the face; 1/3 matches the reference code's
    # 40 px margin at 160 px crops (facenet-pytorch adds margin * w / (160 - margin)).
    margin: float = 0.33
    square: bool = True
    size: int = FACENET_INPUT_SIZE
    detector: DetectorConfig = field(default_factory=DetectorConfig)

    def __post_init__(self):
        if self.num_frames < 1:
            raise ValueError(f"num_frames must be >= 1, got {self.num_frames}")
        if self.sampling not in SAMPLING_MODES:
            raise ValueError(f"unknown sampling {self.sampling!r}; valid: {', '.join(SAMPLING_MODES)}")
        if self.sampling == "stride" and not (self.stride and self.stride >= 1):
            raise ValueError("sampling 'stride' needs stride >= 1")
        if self.face_policy not in FACE_POLICIES:
            raise ValueError(f"unknown face policy {self.face_policy!r}; valid: {', '.join(FACE_POLICIES)}")
        if self.size < 32:
            raise ValueError(f"size must be >= 32, got {self.size}")

    def to_dict(self) -> dict:
        settings = asdict(self)
        settings["detector"] = self.detector.to_dict()
        return settings

    @classmethod
    def from_dict(cls, settings: dict) -> "ExtractConfig":
        settings = dict(settings)
        detector = DetectorConfig(**settings.pop("detector", {}))
        return cls(detector=detector, **settings)


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


def face_store(path: str | os.PathLike, config: ExtractConfig | None = None) -> VideoStore:
    """The face cache at ``path``; with ``config`` it must have been made with those settings."""
    return VideoStore(path, KIND, config.to_dict() if config else None)


def _to_face_video(stored: StoredVideo) -> FaceVideo:
    a, attrs = stored.arrays, stored.attrs
    return FaceVideo(
        video_id=stored.video_id, label=int(attrs["label"]), split=str(attrs["split"]),
        dataset=str(attrs.get("dataset", "")), faces=a["faces"], frame_indices=a["frame_indices"],
        boxes=a["boxes"], keypoints=a["keypoints"], confidences=a["confidences"],
        sampled_indices=a["sampled_indices"], attrs=attrs)


def iter_face_videos(path: str | os.PathLike, splits: tuple[str, ...] | None = None,
                     video_ids: Iterable[str] | None = None) -> Iterator[FaceVideo]:
    """Stream the videos of a face cache (optionally only some splits or videos); the
    selection is made before any face is read."""
    where = None if splits is None else (lambda attrs: str(attrs["split"]) in splits)
    for stored in face_store(path).iter_videos(video_ids=video_ids, where=where):
        yield _to_face_video(stored)
