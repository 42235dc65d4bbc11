"""Faces in the sampled frames of one video at a fraction of MTCNN's cost, none lost.

MTCNN's cost is its first stage, PNet, run over an image pyramid of the whole frame. A face
moves little from one sampled frame to the next, so (settings in ``DetectorConfig``):

1. key frames (every ``key_frame_interval``-th sampled frame, and the last) get the full
   cascade at ``detect_short_side``;
2. a frame between two key frames gets their boxes, matched and interpolated, and only
   MTCNN's last two stages (RNet, ONet) on them: the stages that move PNet's proposals
   onto the face and score them in the full cascade do the same for these boxes, so the
   box and score a frame gets are the cascade's own kind;
3. a frame left without a face (nothing confirmed) gets the full cascade, and then, while
   still without one, the cascade again with its shorter side at each of
   ``retry_short_sides`` (0: full resolution). Dark or small faces that shrinking hides
   are found there, so every frame where full-resolution detection finds a face has one.

Key frames are retried before their boxes are carried, and a box found at a higher
resolution is confirmed at that resolution. Frames of different sizes (a resolution change
mid-stream) all get the full cascade. Everything runs through ``detect_rows`` and
``refine_rows`` of the detector, so the TensorFlow and TFLite detectors track alike.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from tfdeepfake.faces.boxes import iou
from tfdeepfake.faces.detector import (
    BatchFaceDetector,
    Face,
    detection_scale,
    faces_from_rows,
    frames_per_batch,
    shrink_for_detection,
)

logger = logging.getLogger(__name__)

# A carried box counts as confirmed when a face RNet/ONet return overlaps it this much.
_CONFIRM_IOU = 0.3


@dataclass
class TrackStats:
    """What tracking did for one video (for logs and benchmarks)."""

    frames: int = 0
    key_frames: int = 0
    confirmed: int = 0  # frames whose faces came from carried boxes
    redetected: int = 0  # frames between key frames that needed the full cascade
    # short side (0: full resolution) -> frames retried there, frames it found a face in
    retried: dict[int, int] = field(default_factory=dict)
    found_by_retry: dict[int, int] = field(default_factory=dict)


def key_frames(count: int, interval: int) -> list[int]:
    """Positions of the key frames among ``count`` sampled frames: every ``interval``-th
    and the last, so every other frame lies between two key frames."""
    if count <= 0:
        return []
    return sorted(set(range(0, count, max(1, interval))) | {count - 1})


def match_faces(boxes_a: np.ndarray, boxes_b: np.ndarray) -> list[tuple[int, int]]:
    """Pairs (i, j) of boxes that are the same face in two key frames: greedily by the
    distance of their centres, which must be under the larger box's side, and sizes within
    a factor 2 of each other."""
    pairs, used_a, used_b = [], set(), set()
    if not len(boxes_a) or not len(boxes_b):
        return pairs
    centre_a = (boxes_a[:, :2] + boxes_a[:, 2:]) / 2
    centre_b = (boxes_b[:, :2] + boxes_b[:, 2:]) / 2
    side_a = np.max(boxes_a[:, 2:] - boxes_a[:, :2], axis=1)
    side_b = np.max(boxes_b[:, 2:] - boxes_b[:, :2], axis=1)
    distance = np.linalg.norm(centre_a[:, None] - centre_b[None], axis=2)
    larger = np.maximum(side_a[:, None], side_b[None])
    smaller = np.maximum(np.minimum(side_a[:, None], side_b[None]), 1e-6)
    ok = (distance < larger) & (larger / smaller <= 2.0)
    for flat in np.argsort(distance, axis=None):
        i, j = np.unravel_index(flat, distance.shape)
        if ok[i, j] and i not in used_a and j not in used_b:
            pairs.append((int(i), int(j)))
            used_a.add(i)
            used_b.add(j)
    return pairs


def predict_boxes(boxes_a: np.ndarray, boxes_b: np.ndarray, t: float) -> tuple[np.ndarray, np.ndarray]:
    """Boxes expected at fraction ``t`` of the way from key frame a to key frame b, and
    which of them both key frames saw: matched faces interpolated (first), the others
    where their key frame saw them."""
    boxes_a = np.asarray(boxes_a, dtype=np.float64).reshape(-1, 4)
    boxes_b = np.asarray(boxes_b, dtype=np.float64).reshape(-1, 4)
    pairs = match_faces(boxes_a, boxes_b)
    predicted = [(1 - t) * boxes_a[i] + t * boxes_b[j] for i, j in pairs]
    predicted += [box for i, box in enumerate(boxes_a) if i not in {p[0] for p in pairs}]
    predicted += [box for j, box in enumerate(boxes_b) if j not in {p[1] for p in pairs}]
    matched = np.arange(len(predicted)) < len(pairs)
    return np.asarray(predicted, dtype=np.float64).reshape(-1, 4), matched


def square_boxes(boxes: np.ndarray) -> np.ndarray:
    """Square boxes about their centres (side = the longer side), as the cascade squares
    proposals before RNet."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2
    half = np.max(boxes[:, 2:] - boxes[:, :2], axis=1, keepdims=True) / 2
    return np.concatenate([centre - half, centre + half], axis=1)


class _Video:
    """The sampled frames of one video, their shrunk copies made once per size, and what
    was found in each."""

    def __init__(self, detector: BatchFaceDetector, frames: Sequence[np.ndarray]):
        self.detector = detector
        self.config = detector.config
        self.frames = list(frames)
        self.faces: list[list[Face] | None] = [None] * len(self.frames)
        self.found_at = [self.config.detect_short_side] * len(self.frames)
        self.tried = [0.0] * len(self.frames)  # highest detection scale tried per frame
        self._small: dict[tuple[int, float], np.ndarray] = {}
        self.stats = TrackStats(frames=len(self.frames))

    def scale(self, i: int, short_side: int) -> float:
        height, width = self.frames[i].shape[:2]
        return detection_scale(height, width, short_side)

    def small(self, i: int, short_side: int) -> np.ndarray:
        scale = self.scale(i, short_side)
        key = (i, scale)
        if key not in self._small:
            self._small[key] = shrink_for_detection([self.frames[i]], short_side)[0][0]
        return self._small[key]

    def _batches(self, positions: list[int], short_side: int) -> list[list[int]]:
        """Same-sized frames in batches of at most ``batch_size`` and the pixel cap."""
        by_shape: dict[tuple, list[int]] = {}
        for i in positions:
            by_shape.setdefault(self.frames[i].shape, []).append(i)
        batches = []
        for shape, group in by_shape.items():
            size = min(self.config.batch_size, frames_per_batch(shape, short_side))
            batches += [group[k:k + size] for k in range(0, len(group), size)]
        return batches

    def cascade(self, positions: list[int], short_side: int) -> None:
        """The full cascade on ``positions`` at ``short_side``; keeps what it finds."""
        for batch in self._batches(positions, short_side):
            scale = self.scale(batch[0], short_side)
            rows = self.detector.detect_rows([self.small(i, short_side) for i in batch])
            found = faces_from_rows(rows, len(batch), scale, self.config.min_confidence)
            for i, faces in zip(batch, found):
                self.tried[i] = max(self.tried[i], scale)
                if faces or self.faces[i] is None:
                    self.faces[i] = faces
                    self.found_at[i] = short_side

    def detect(self, positions: list[int]) -> None:
        """The full cascade at the detection size, then retries for frames still empty."""
        if not positions:
            return
        self.cascade(positions, self.config.detect_short_side)
        for side in self.config.retry_short_sides:
            empty = [i for i in positions if not self.faces[i] and self.scale(i, side) > self.tried[i]]
            if not empty:
                continue
            self.cascade(empty, side)
            found = sum(1 for i in empty if self.faces[i])
            self.stats.retried[side] = self.stats.retried.get(side, 0) + len(empty)
            self.stats.found_by_retry[side] = self.stats.found_by_retry.get(side, 0) + found

    def carry(self, keys: list[int]) -> None:
        """Confirm the key frames' boxes, interpolated, in the frames between them. A frame
        where a face both key frames saw is not confirmed is left for the full cascade, even
        if other boxes are: the face the policy wants may be the one lost."""
        # short side to confirm at -> [(position, predicted boxes in full-resolution pixels,
        # which of them both key frames saw)]
        jobs: dict[int, list[tuple[int, np.ndarray, np.ndarray]]] = {}
        for a, b in zip(keys, keys[1:]):
            boxes_a = np.array([f.box for f in self.faces[a]]).reshape(-1, 4)
            boxes_b = np.array([f.box for f in self.faces[b]]).reshape(-1, 4)
            # Confirm at the finer of the sizes the two key frames' faces were found at.
            sides = [self.found_at[k] for k in (a, b) if self.faces[k]]
            if not sides:
                continue
            side = max(sides, key=lambda s: self.scale(a, s))
            for i in range(a + 1, b):
                predicted, matched = predict_boxes(boxes_a, boxes_b, (i - a) / (b - a))
                jobs.setdefault(side, []).append((i, predicted, matched))
        for side, items in jobs.items():
            by_position = {i: (predicted, matched) for i, predicted, matched in items}
            for batch in self._batches(list(by_position), side):
                scale = self.scale(batch[0], side)
                # The boxes, squared as the cascade squares proposals, in the shrunk pixels.
                rows = np.concatenate([
                    np.column_stack([np.full(len(boxes), k), square_boxes(boxes) * scale])
                    for k, boxes in enumerate(by_position[i][0] for i in batch)])
                refined = self.detector.refine_rows([self.small(i, side) for i in batch], rows)
                found = faces_from_rows(refined, len(batch), scale, self.config.min_confidence)
                for i, faces in zip(batch, found):
                    predicted, matched = by_position[i]
                    kept = all(any(iou(box, f.box) >= _CONFIRM_IOU for f in faces)
                               for box in predicted[matched])
                    if faces and kept:
                        self.faces[i] = faces
                        self.found_at[i] = side
                        self.stats.confirmed += 1


def track_faces(detector: BatchFaceDetector, frames: Sequence[np.ndarray],
                stats: TrackStats | None = None) -> list[list[Face]]:
    """Faces in each of the sampled frames of one video (in order), best first, in
    full-resolution pixels; see the module's description. ``stats``, when given, is
    filled with what was done."""
    video = _Video(detector, frames)
    count = len(video.frames)
    interval = detector.config.key_frame_interval
    same_size = len({f.shape for f in video.frames}) <= 1
    if interval > 1 and detector.can_refine and same_size and count > 2:
        keys = key_frames(count, interval)
    else:
        keys = list(range(count))
    video.stats.key_frames = len(keys)
    video.detect(keys)
    if len(keys) < count:
        video.carry(keys)
        rest = [i for i in range(count) if video.faces[i] is None]
        video.stats.redetected = len(rest)
        video.detect(rest)
    if stats is not None:
        stats.__dict__.update(video.stats.__dict__)
    logger.debug("tracking: %s", video.stats)
    return [faces or [] for faces in video.faces]
