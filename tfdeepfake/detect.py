"""One video in, one verdict out: frames -> MTCNN faces -> FaceNet -> head -> classifier ->
the mean of frame probabilities (the poster's rule)."""

from __future__ import annotations

import logging
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from tfdeepfake.bundle import Bundle, load_bundle
from tfdeepfake.faces.pipeline import faces_from_frames
from tfdeepfake.datasets.scan import is_video_name
from tfdeepfake.scoring import aggregate_video_scores
from tfdeepfake.faces.detector import get_detector
from tfdeepfake.models.facenet import embed_faces
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
    classifier: str
    threshold: float
    reason: str = ""
    random_init_facenet: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


class DeepfakeDetector:
    """Loads a bundle once; `detect(path)` scores one video."""

    def __init__(self, bundle: Bundle | str | os.PathLike, classifier: str | None = None,
                 facenet_weights: str | os.PathLike | None = None, threshold: float | None = None):
        self.bundle = bundle if isinstance(bundle, Bundle) else load_bundle(bundle)
        self.classifier_name = classifier or self.bundle.default_classifier
        if self.classifier_name not in self.bundle.classifiers:
            raise ValueError(f"classifier {self.classifier_name!r} is not in {self.bundle.path}; "
                             f"valid: {', '.join(sorted(self.bundle.classifiers))}")
        self.classifier = self.bundle.classifiers[self.classifier_name]
        self.threshold = self.bundle.threshold(self.classifier_name) if threshold is None else threshold
        self.config = self.bundle.extract_config
        self.detector = get_detector(self.config.detector)
        self.embedder = self.bundle.build_embedder(facenet_weights)
        self.warm_up()

    def warm_up(self) -> None:
        """Run each network once so the first video is not charged for graph tracing."""
        size = self.config.size
        blank = np.zeros((size * 2, size * 2, 3), np.uint8)
        self.detector.detect([blank])
        self.score_faces(np.zeros((1, size, size, 3), np.uint8))

    def score_faces(self, faces: np.ndarray) -> np.ndarray:
        """Fake probability of each face crop [N, S, S, 3] uint8."""
        embeddings = embed_faces(self.embedder, faces)
        outputs = np.asarray(self.bundle.head(embeddings, training=False), np.float32)
        return self.classifier.predict_proba_fake(outputs)

    def detect(self, path: str | os.PathLike) -> Verdict:
        started = time.perf_counter()
        base = dict(path=str(path), classifier=self.classifier_name, threshold=self.threshold,
                    random_init_facenet=self.bundle.random_init)
        try:
            frames, indices, _ = read_sampled_frames(path, self.config.num_frames,
                                                     self.config.sampling, self.config.stride)
        except (VideoReadError, OSError, ValueError) as error:
            return Verdict(verdict="unknown", fake_probability=None, frames_sampled=0,
                           faces_found=0, seconds=time.perf_counter() - started,
                           reason=str(error), **base)
        arrays = faces_from_frames(frames, indices, self.config, self.detector)
        if len(arrays["faces"]) == 0:
            return Verdict(verdict="unknown", fake_probability=None, frames_sampled=len(indices),
                           faces_found=0, seconds=time.perf_counter() - started,
                           reason=f"no face found in any of {len(indices)} sampled frames", **base)
        probs = self.score_faces(arrays["faces"])
        _, video_prob = aggregate_video_scores(probs, np.zeros(len(probs), int),
                                               how=self.bundle.aggregation)
        probability = float(video_prob[0])
        return Verdict(verdict="fake" if probability >= self.threshold else "real",
                       fake_probability=probability, frames_sampled=len(indices),
                       faces_found=len(arrays["faces"]), seconds=time.perf_counter() - started,
                       **base)


def expand_video_paths(paths: Iterable[str | os.PathLike]) -> Iterator[Path]:
    """Files as given; folders searched recursively for video files (sorted)."""
    for item in paths:
        item = Path(item)
        if item.is_dir():
            yield from sorted(p for p in item.rglob("*") if p.is_file() and is_video_name(p.name))
        else:
            yield item
