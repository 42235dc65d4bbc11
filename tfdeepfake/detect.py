"""One video in, one verdict out, with any registered detector:

frames (sampled as the model's face settings say) -> MTCNN face crops
(:func:`tfdeepfake.faces.pipeline.faces_from_frames`; with ``people``, every person's) ->
``detector.score_video`` (frame scores aggregated by the model's rule, or a video-level
model's own score) -> verdict.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from tfdeepfake.datasets.scan import is_video_name
from tfdeepfake.detectors import Detector, load_detector
from tfdeepfake.faces.detector import get_detector
from tfdeepfake.faces.pipeline import faces_from_frames, people_from_frames
from tfdeepfake.scoring import aggregate_video_scores
from tfdeepfake.video.prefetch import prefetch
from tfdeepfake.video.reader import VideoReadError, read_sampled_frames

logger = logging.getLogger(__name__)


@dataclass
class FrameScore:
    """One sampled frame: where its face is and how fake it looks."""

    index: int  # 0-based frame number, display order
    time: float | None  # seconds (index / fps); None when the container gives no frame rate
    # [x1, y1, x2, y2] of the chosen face in full-resolution pixels of the upright frame;
    # None when no face was found in this frame.
    box: list[float] | None
    # None without a face, and for video-level detectors (lstm), which score no single frame.
    fake_probability: float | None


@dataclass
class PersonVerdict:
    """One person of a video judged with ``people=True`` (``faces.people``)."""

    person: int  # 1 = the largest face; numbered by median box area
    verdict: str  # "real" | "fake"
    fake_probability: float
    faces_found: int
    box: list[float]  # the person's median face box, full-resolution pixels
    genuine_share: float | None = None
    frames: list[FrameScore] = field(default_factory=list)  # every sampled frame, in order


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
    facenet_model: str | None = None  # its key in FACENET_MODELS; None without FaceNet
    facenet_weights_sha256: str | None = None  # its weights' arrays hash; None for random init
    aggregation: str = ""  # frame scores -> video score (mean / median / max)
    frame_level: bool = True  # False: the detector scores whole videos (no frame scores)
    fps: float | None = None
    # Share of the model's calibration genuine videos scoring at least this high (a
    # conformal p-value: 0.03 = rarer than 3% of genuine footage like those); None when the
    # model was not calibrated on genuine videos or the video has no score.
    genuine_share: float | None = None
    frames: list[FrameScore] = field(default_factory=list)  # every sampled frame, in order
    # With people=True: each person on their own, largest first; the video's verdict,
    # probability, faces and frames are those of the person who looks most fake (one fake
    # person makes a fake video). None when people were not asked for.
    people: list[PersonVerdict] | None = None

    def to_dict(self) -> dict:
        return asdict(self)


class VideoDetector:
    """Loads a detector and the face detector its settings name once; ``detect(path)``
    scores one video. ``people``: score every person seen in the video on their own
    (``Verdict.people``) instead of the one face per frame the face policy keeps."""

    def __init__(self, detector: Detector | str | os.PathLike, variant: str | None = None,
                 threshold: float | None = None, facenet_weights: str | os.PathLike | None = None,
                 people: bool = False):
        self.detector = load_detector(detector, facenet_weights)
        self.people = people
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
        blank = np.zeros((size * 2, size * 2, 3), np.uint8)
        self.face_detector.detect([blank])
        if self.face_detector.can_refine:  # RNet and ONet on carried boxes
            self.face_detector.refine_rows([blank], np.array([[0, 10, 10, size, size]], float))
        self.detector.score_video(np.zeros((1, size, size, 3), np.uint8), self.variant)

    def score_video(self, faces: np.ndarray) -> float:
        """The video's fake probability from its face crops (in frame order)."""
        return float(self.detector.score_video(faces, self.variant))

    def detect(self, path: str | os.PathLike) -> Verdict:
        """The verdict on one video, with each sampled frame's face box and probability."""
        return self.inspect(path)[0]

    def detect_many(self, paths: Iterable[str | os.PathLike], depth: int = 1) -> Iterator[Verdict]:
        """Verdicts on ``paths`` in order, each video decoded and its faces found while the
        one before is scored."""
        paths = list(paths)
        with self.prefetching(paths, depth):
            for path in paths:
                yield self.detect(path)

    @contextlib.contextmanager
    def prefetching(self, paths: Iterable[str | os.PathLike], depth: int = 1):
        """Within the block, ``detect``/``inspect`` of ``paths`` (in that order) find their
        frames decoded and faces found ahead by a reader thread, at most ``depth`` videos
        ahead (only the face crops wait, so memory stays small). The two threads split the
        work between face finding (decoding, MTCNN) and scoring (FaceNet, classifier), which
        cost about the same. ``Verdict.seconds`` then leaves out work done in the background."""
        self._ahead = prefetch(list(paths), self._find_faces, depth)
        try:
            yield self
        finally:
            ahead, self._ahead = self._ahead, None
            if ahead is not None:
                ahead.close()

    def _read_frames(self, path: str | os.PathLike):
        settings = self.settings
        frames, indices, info = read_sampled_frames(path, settings.num_frames, settings.sampling,
                                                    settings.stride)
        if len(frames) == 0:
            raise VideoReadError(path, "no frame could be decoded")
        return frames, indices, info

    def _find_faces(self, path: str | os.PathLike):
        """``(indices, info, found)``: the sampled frames' indices, what the container says,
        and ``faces_from_frames``'s result (with ``people``: ``people_from_frames``'s list).
        Decoding errors propagate."""
        frames, indices, info = self._read_frames(path)
        find = people_from_frames if self.people else faces_from_frames
        return indices, info, find(frames, indices, self.settings, self.face_detector)

    def _faces(self, path: str | os.PathLike):
        """``_find_faces(path)``: the reader thread's when prefetching, else done now."""
        ahead = getattr(self, "_ahead", None)
        if ahead is not None:
            item = next(ahead, None)
            if item is not None and str(item.path) == str(path):
                if item.error is not None:
                    raise item.error
                return item.value
            # Asked out of order: stop reading ahead rather than guess.
            logger.debug("%s: not the next prefetched video; prefetching stopped", path)
            ahead.close()
            self._ahead = None
        return self._find_faces(path)

    def face_arrays(self, path: str | os.PathLike) -> dict[str, np.ndarray]:
        """``faces_from_frames``'s arrays for ``path`` (faces, their boxes and keypoints in the
        frame, the sampled indices), found as ``detect`` finds them; read errors propagate."""
        if self.people:
            raise ValueError("face_arrays gives one face per frame; this detector keeps every "
                             "person (people=True)")
        return self._faces(path)[2]

    def inspect(self, path: str | os.PathLike) -> tuple[Verdict, np.ndarray]:
        """``(verdict, faces)``: ``detect`` plus the face crops ``[F, S, S, 3]`` uint8, one per
        frame of ``verdict.frames`` that has a box, in that order (for reports and heat maps);
        with ``people``, those of the person the verdict is about."""
        started = time.perf_counter()
        base = dict(path=str(path), classifier=self.variant, threshold=self.threshold,
                    random_init_facenet=self.detector.random_init_facenet,
                    detector=self.detector.name, facenet=self.facenet,
                    facenet_model=(self.detector.meta.get("facenet") or {}).get("model"),
                    facenet_weights_sha256=(self.detector.meta.get("facenet") or {}).get("weights_sha256"),
                    aggregation=self.aggregation, frame_level=self.detector.frame_level)
        settings = self.settings
        no_faces = np.zeros((0, settings.size, settings.size, 3), np.uint8)
        try:
            indices, info, found = self._faces(path)
        except (VideoReadError, OSError, ValueError) as error:
            return Verdict(verdict="unknown", fake_probability=None, frames_sampled=0,
                           faces_found=0, seconds=time.perf_counter() - started,
                           reason=str(error), **base), no_faces
        base["fps"] = info.fps or None
        if self.people and found:
            return self._judge_people(indices, info, found, base, started)
        if self.people:  # nobody found: the verdict of a video without faces
            base["people"] = []
            found = {"faces": no_faces, "frame_indices": np.zeros(0, np.int32)}
        faces = found["faces"]
        if len(faces) == 0:
            base["frames"] = _frame_scores(indices, info.fps, found, None)
            return Verdict(verdict="unknown", fake_probability=None, frames_sampled=len(indices),
                           faces_found=0, seconds=time.perf_counter() - started,
                           reason=_with_note(f"no face found in any of {len(indices)} sampled "
                                             "frames", info.unreadable_note), **base), faces
        face_probs, probability = self._scores(faces)
        base["frames"] = _frame_scores(indices, info.fps, found, face_probs)
        # A damaged video still gets its verdict, with the frames it could not read named.
        return Verdict(verdict="fake" if probability >= self.threshold else "real",
                       fake_probability=probability, frames_sampled=len(indices),
                       faces_found=len(faces), seconds=time.perf_counter() - started,
                       reason=info.unreadable_note, genuine_share=self._genuine_share(probability),
                       **base), faces

    def _judge_people(self, indices, info, people: list[dict], base: dict, started: float
                      ) -> tuple[Verdict, np.ndarray]:
        """``inspect``'s verdict from every person's faces: each person judged alone, the
        video by the person who looks most fake."""
        judged = []
        for number, found in enumerate(people, start=1):
            face_probs, probability = self._scores(found["faces"])
            judged.append(PersonVerdict(
                person=number, verdict="fake" if probability >= self.threshold else "real",
                fake_probability=probability, faces_found=len(found["faces"]),
                box=[round(float(v), 1) for v in np.median(found["boxes"], axis=0)],
                genuine_share=self._genuine_share(probability),
                frames=_frame_scores(indices, info.fps, found, face_probs)))
        decisive = max(range(len(judged)), key=lambda k: judged[k].fake_probability)
        person = judged[decisive]
        return Verdict(verdict=person.verdict, fake_probability=person.fake_probability,
                       frames_sampled=len(indices), faces_found=person.faces_found,
                       seconds=time.perf_counter() - started, reason=info.unreadable_note,
                       genuine_share=person.genuine_share, people=judged,
                       **{**base, "frames": person.frames}), people[decisive]["faces"]

    def _genuine_share(self, probability: float) -> float | None:
        from tfdeepfake.detectors.calibrate import CALIBRATION_KEY, genuine_share

        reals = ((self.detector.meta.get(CALIBRATION_KEY) or {}).get("real_scores") or {}
                 ).get(self.variant)
        return genuine_share(reals, probability) if reals else None

    def _scores(self, faces: np.ndarray) -> tuple[np.ndarray | None, float]:
        """``(per-face probabilities or None, video probability)``, scoring each face once."""
        if not self.detector.frame_level:
            return None, self.score_video(faces)
        probs = np.asarray(self.detector.score_faces(faces, self.variant), np.float64)
        if type(self.detector).score_video is not Detector.score_video:
            return probs, self.score_video(faces)  # a detector with its own video rule
        _, video = aggregate_video_scores(probs, np.zeros(len(probs), int), how=self.aggregation)
        return probs, float(video[0])


def _frame_scores(indices, fps: float, found: dict, face_probs) -> list[FrameScore]:
    """One ``FrameScore`` per sampled frame; frames without a face get no box and no score."""
    row_of = {int(i): row for row, i in enumerate(found["frame_indices"].tolist())}
    scores = []
    for index in np.asarray(indices).tolist():
        row = row_of.get(int(index))
        box = None if row is None else [round(float(v), 1) for v in found["boxes"][row]]
        prob = None if row is None or face_probs is None else float(face_probs[row])
        scores.append(FrameScore(index=int(index), time=round(index / fps, 4) if fps else None,
                                 box=box, fake_probability=prob))
    return scores


def _with_note(reason: str, note: str) -> str:
    return f"{reason}; {note}" if note else reason


def _walk_following_links(top: Path) -> Iterator[Path]:
    """Everything under ``top``, symlinked folders entered as ``index folders`` enters them
    (``datasets.scan``): each real folder once, so a link loop ends. A link that leads
    nowhere (dangling, or a loop of links) and a folder reached again are one warning
    each, rather than silently absent."""
    seen = {os.path.realpath(top)}
    for directory, dirnames, filenames in os.walk(top, followlinks=True):
        entered = []
        for name in sorted(dirnames):
            path = os.path.join(directory, name)
            real = os.path.realpath(path)
            if real in seen:
                logger.warning("%s: skipped, folder %s already searched (a link loop or a "
                               "second link)", path, real)
                continue
            seen.add(real)
            entered.append(name)
            yield Path(path)
        dirnames[:] = entered
        for name in filenames:
            path = Path(directory, name)
            if path.is_symlink() and not path.exists():
                logger.warning("%s: skipped, a dangling or looping symlink", path)
                continue
            yield path


def expand_video_paths(paths: Iterable[str | os.PathLike]) -> Iterator[Path]:
    """Files as given; folders searched recursively for video files (sorted), symlinked
    subfolders followed as `index folders` follows them. A folder given
    with no video file in it, and a folder named like a video (``clip.mp4/``) with none, are
    yielded themselves, so that ``detect`` reports them as unknown with the reason rather
    than dropping them unsaid."""
    for item in paths:
        item = Path(item)
        if item.is_dir():
            entries = sorted(_walk_following_links(item))
            found = [p for p in entries if p.is_file() and is_video_name(p.name)]
            named_like_videos = [p for p in entries if p.is_dir() and is_video_name(p.name)
                                 and not any(p in f.parents for f in found)]
            yield from sorted(found + named_like_videos) or [item]
        else:
            yield item
