"""One video in, one verdict out, with any registered detector:

frames (sampled as the model's face settings say) -> MTCNN face crops
(:func:`tfdeepfake.faces.pipeline.faces_from_frames`) -> ``detector.score_video`` (frame
scores aggregated by the model's rule, or a video-level model's own score) -> verdict.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from tfdeepfake.datasets.scan import is_video_name
from tfdeepfake.detectors import Detector, load_detector
from tfdeepfake.faces.detector import get_detector
from tfdeepfake.faces.pipeline import faces_from_frames
from tfdeepfake.video.reader import VideoReadError, read_sampled_frames

logger = logging.getLogger(__name__)


@dataclass
class Verdict:
    path: str
    verdict: str  # "real" | "fake" | "unknown"
    fake_probability: float | None
    frames_sampled: int
    faces_found: int
    seconds: float
    classifier: str  # the detector's variant (the triplet method's classifier)
    threshold: float
    reason: str = ""
    random_init_facenet: bool = False
    detector: str = ""
    facenet: str | None = None  # the FaceNet identity's label; None for models without FaceNet

    def to_dict(self) -> dict:
        return asdict(self)


class VideoDetector:
    """Loads a detector and the face detector its settings name once; ``detect(path)``
    scores one video."""

    def __init__(self, detector: Detector | str | os.PathLike, variant: str | None = None,
                 threshold: float | None = None, facenet_weights: str | os.PathLike | None = None):
        self.detector = load_detector(detector, facenet_weights)
        self.variant = variant or self.detector.default_variant
        if self.variant not in self.detector.variants:
            raise ValueError(f"{self.detector.path}: no variant {self.variant!r}; valid: "
                             f"{', '.join(self.detector.variants)}")
        self.threshold = self.detector.threshold(self.variant) if threshold is None else float(threshold)
        self.settings = self.detector.face_settings
        self.face_detector = get_detector(self.settings.detector)
        self.facenet = self.detector.facenet_label
        self.warm_up()

    @property
    def aggregation(self) -> str:
        return self.detector.aggregation

    def warm_up(self) -> None:
        """Run each network once so the first video is not charged for graph tracing."""
        size = self.settings.size
        self.face_detector.detect([np.zeros((size * 2, size * 2, 3), np.uint8)])
        self.detector.score_video(np.zeros((1, size, size, 3), np.uint8), self.variant)

    def score_video(self, faces: np.ndarray) -> float:
        """The video's fake probability from its face crops (in frame order)."""
        return float(self.detector.score_video(faces, self.variant))

    def detect(self, path: str | os.PathLike) -> Verdict:
        started = time.perf_counter()
        base = dict(path=str(path), classifier=self.variant, threshold=self.threshold,
                    random_init_facenet=self.detector.random_init_facenet,
                    detector=self.detector.name, facenet=self.facenet)
        settings = self.settings
        try:
            frames, indices, _ = read_sampled_frames(path, settings.num_frames, settings.sampling,
                                                     settings.stride)
            if len(frames) == 0:
                raise VideoReadError(path, "no frame could be decoded")
        except (VideoReadError, OSError, ValueError) as error:
            return Verdict(verdict="unknown", fake_probability=None, frames_sampled=0,
                           faces_found=0, seconds=time.perf_counter() - started,
                           reason=str(error), **base)
        faces = faces_from_frames(frames, indices, settings, self.face_detector)["faces"]
        if len(faces) == 0:
            return Verdict(verdict="unknown", fake_probability=None, frames_sampled=len(indices),
                           faces_found=0, seconds=time.perf_counter() - started,
                           reason=f"no face found in any of {len(indices)} sampled frames", **base)
        probability = self.score_video(faces)
        return Verdict(verdict="fake" if probability >= self.threshold else "real",
                       fake_probability=probability, frames_sampled=len(indices),
                       faces_found=len(faces), seconds=time.perf_counter() - started, **base)


def expand_video_paths(paths: Iterable[str | os.PathLike]) -> Iterator[Path]:
    """Files as given; folders searched recursively for video files (sorted)."""
    for item in paths:
        item = Path(item)
        if item.is_dir():
            yield from sorted(p for p in item.rglob("*") if p.is_file() and is_video_name(p.name))
        else:
            yield item
