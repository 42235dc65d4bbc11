"""Box maths on float ``[x1, y1, x2, y2]`` arrays in pixel coordinates. Pure functions."""

from __future__ import annotations

import numpy as np

FACE_POLICIES = ("largest", "confident", "consistent")


def box_area(boxes: np.ndarray) -> np.ndarray:
    boxes = np.asarray(boxes, dtype=np.float64)
    return np.clip(boxes[..., 2] - boxes[..., 0], 0, None) * np.clip(boxes[..., 3] - boxes[..., 1], 0, None)


def iou(box_a: np.ndarray, box_b: np.ndarray) -> float:
    """Intersection over union of two boxes."""
    a = np.asarray(box_a, dtype=np.float64)
    b = np.asarray(box_b, dtype=np.float64)
    inter = np.array([max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])])
    inter_area = float(box_area(inter))
    union = float(box_area(a) + box_area(b)) - inter_area
    return inter_area / union if union > 0 else 0.0


def expand_box(box: np.ndarray, margin: float = 0.0, square: bool = True) -> np.ndarray:
    """Grow a box about its centre.

    ``margin`` is the fraction of the box's size added in total (half on each side), so
    it means the same thing at every resolution; a negative one crops inside the box (-0.1
    keeps the central 90%). ``square`` makes the side the longer of width and height first,
    so faces are not squashed when resized to a square input.
    """
    if not margin > -1:
        raise ValueError(f"margin must be > -1, got {margin}")
    x1, y1, x2, y2 = np.asarray(box, dtype=np.float64)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    w, h = x2 - x1, y2 - y1
    if square:
        w = h = max(w, h)
    w, h = w * (1 + margin), h * (1 + margin)
    return np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])


def clip_box(box: np.ndarray, width: int, height: int) -> np.ndarray:
    box = np.asarray(box, dtype=np.float64)
    return np.array([np.clip(box[0], 0, width), np.clip(box[1], 0, height),
                     np.clip(box[2], 0, width), np.clip(box[3], 0, height)])


def select_face(boxes: np.ndarray, confidences: np.ndarray, policy: str = "largest") -> int | None:
    """Index of the face to keep in a frame, or None when there is none.

    ``largest`` follows DeepfakeBench: in a frame with several people the manipulated face
    is almost always the one nearest the camera.
    """
    if policy not in FACE_POLICIES:
        raise ValueError(f"unknown face policy {policy!r}; valid: {', '.join(FACE_POLICIES)}")
    if len(boxes) == 0:
        return None
    if policy == "confident":
        return int(np.argmax(confidences))
    return int(np.argmax(box_area(boxes)))


def select_faces(boxes_per_frame: list[np.ndarray], confidences_per_frame: list[np.ndarray],
                 policy: str = "largest", min_iou: float = 0.1) -> list[int | None]:
    """The face to keep in each frame of one video.

    ``consistent`` keeps one person through the video: the face nearest (by IoU) the
    median box of the per-frame largest faces, so two people of similar size do not
    alternate between frames; a frame where no face overlaps that box by ``min_iou``
    falls back to its largest face.
    """
    if policy != "consistent":
        return [select_face(np.asarray(b).reshape(-1, 4), np.asarray(c), policy)
                for b, c in zip(boxes_per_frame, confidences_per_frame)]
    largest = [select_face(np.asarray(b).reshape(-1, 4), np.asarray(c), "largest")
               for b, c in zip(boxes_per_frame, confidences_per_frame)]
    chosen = [np.asarray(b).reshape(-1, 4)[i] for b, i in zip(boxes_per_frame, largest) if i is not None]
    if not chosen:
        return largest
    anchor = np.median(np.stack(chosen), axis=0)
    picks: list[int | None] = []
    for boxes, fallback in zip(boxes_per_frame, largest):
        boxes = np.asarray(boxes).reshape(-1, 4)
        overlaps = [iou(box, anchor) for box in boxes]
        best = int(np.argmax(overlaps)) if overlaps else None
        picks.append(best if best is not None and overlaps[best] >= min_iou else fallback)
    return picks
