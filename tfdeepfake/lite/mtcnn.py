"""The MTCNN cascade in numpy + OpenCV over TFLite networks (no TensorFlow).

A re-implementation of the ``mtcnn`` 1.0 package's pipeline (PNet -> RNet -> ONet)
for a single RGB image, matching its boxes, scores and keypoints:

1. normalise ``(x - 127.5) / 128``; image pyramid with scales
   ``(12 / min_face_size) * scale_factor ** k`` (as many as the package uses), each
   level resized to ``floor(shape * scale)`` with TensorFlow's ``area`` resize,
   re-implemented as two weight-matrix products (equal to it to ~1e-6). OpenCV's
   ``INTER_AREA`` (``pyramid_resize="opencv"``) is about twice as fast but differs by
   ~4e-5 in pixel values (~4e-4 in PNet scores); on the test photos both give the same
   faces, but the package's NMS is order-sensitive, so "exact" is the default;
2. PNet on each level: cells with face probability ``> threshold_pnet`` give 12x12
   windows (stride 2) moved by the regression, scaled back; NMS per level
   (IoU 0.5), then across levels (IoU 0.7); boxes made square;
3. RNet on 24x24 bilinear crops (TensorFlow ``crop_and_resize`` semantics, zero
   outside the image): new scores, regression, ``> threshold_rnet``, NMS 0.7, square;
4. ONet on 48x48 crops: scores, regression, 5 keypoints, ``> threshold_onet``,
   NMS 0.7 over the *smaller* box area ("min");
5. boxes clipped to the image.

NMS is the package's variant: a box is dropped when any higher-scoring box (kept or
not) overlaps it above the threshold.

Boxes are returned as float ``[x1, y1, x2, y2]`` pixels and keypoints ``[5, 2]`` in the
order left_eye, right_eye, nose, mouth_left, mouth_right (DEVELOPERS.md).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import cv2
import numpy as np

from tfdeepfake.faces.detector import KEYPOINT_NAMES, BatchFaceDetector, DetectorConfig, Face
from tfdeepfake.lite.interpreter import LiteModel

logger = logging.getLogger(__name__)

__all__ = ["KEYPOINT_NAMES", "Face", "LiteFaceDetector", "LiteMTCNN", "area_resize", "crop_and_resize", "nms", "scale_pyramid"]


# --------------------------------------------------------------------------- box maths


def scale_pyramid(height: int, width: int, min_face_size: float = 20, scale_factor: float = 0.709, min_size: int = 12):
    """The package's pyramid scales for an image of ``height x width``."""
    min_dim = min(width, height)
    count = round(-((np.log(min_dim / min_size) / np.log(scale_factor)) + 1))
    return (min_size / min_face_size) * scale_factor ** np.arange(max(count, 0))


def area_weights(n_in: int, n_out: int) -> np.ndarray:
    """``[n_out, n_in]`` weights of TensorFlow's area resize along one axis.

    Output cell ``o`` averages the input over ``[o * s, (o + 1) * s)``, ``s = n_in / n_out``
    (float32), each input pixel weighted by its overlap with that span.
    """
    s = np.float32(n_in) / np.float32(n_out)
    o = np.arange(n_out, dtype=np.float32)[:, None]
    i = np.arange(n_in, dtype=np.float32)[None, :]
    overlap = np.minimum((o + 1) * s, i + 1) - np.maximum(o * s, i)
    return (np.clip(overlap, 0, None) / s).astype(np.float32)


def area_resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """``tf.image.resize(image, (height, width), method="area")`` for one ``[H, W, C]`` image."""
    h, w, c = image.shape
    rows = area_weights(h, height) @ image.reshape(h, w * c).astype(np.float32, copy=False)
    return np.matmul(area_weights(w, width), rows.reshape(height, w, c))


def iou_matrix(boxes: np.ndarray, method: str = "union") -> np.ndarray:
    """Pairwise IoU of ``[N, 4]`` boxes (``x1, y1, x2, y2``; area without +1)."""
    if method not in ("union", "min"):
        raise ValueError(f"unknown IoU method {method!r}; valid: ['union', 'min']")
    boxes = np.asarray(boxes, dtype=np.float64)
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    lo = np.maximum(boxes[None, :, :2], boxes[:, None, :2])
    hi = np.minimum(boxes[None, :, 2:], boxes[:, None, 2:])
    inter = np.prod(np.maximum(0.0, hi - lo), axis=2)
    if method == "union":
        denom = area[:, None] + area[None, :] - inter
    else:
        denom = np.minimum(area[:, None], area[None, :])
    with np.errstate(divide="ignore", invalid="ignore"):
        return inter / denom


def sort_desc(rows: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Rows by descending score, in the package's order (reversed ``argsort``)."""
    return rows[np.argsort(scores)[::-1]]


def nms(rows: np.ndarray, threshold: float, method: str = "union", sort: bool = True) -> np.ndarray:
    """The package's NMS on rows ``[*, x1, y1, x2, y2, score, ...]`` of one image.

    Row ``j`` is kept when no row before it (in score order) overlaps it by more than
    ``threshold``, whether or not that row was kept itself.
    """
    if len(rows) == 0:
        return rows
    if sort:
        rows = sort_desc(rows, rows[:, 5])
    overlap = iou_matrix(rows[:, 1:5], method) > threshold
    earlier = np.triu(np.ones(overlap.shape, dtype=bool), k=1)
    keep = ~np.any(overlap & earlier, axis=0)
    return rows[keep]


def square(rows: np.ndarray) -> np.ndarray:
    """Make boxes square around their centre (side = the longer side)."""
    rows = rows.copy()
    w = rows[:, 3] - rows[:, 1]
    h = rows[:, 4] - rows[:, 2]
    side = np.maximum(w, h)
    rows[:, 1] = rows[:, 1] + w * 0.5 - side * 0.5
    rows[:, 2] = rows[:, 2] + h * 0.5 - side * 0.5
    rows[:, 3] = rows[:, 1] + side
    rows[:, 4] = rows[:, 2] + side
    return rows


def regress(rows: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Move boxes by regression offsets scaled by (side + 1)."""
    rows = rows.copy()
    w = rows[:, 3] - rows[:, 1] + 1
    h = rows[:, 4] - rows[:, 2] + 1
    rows[:, 1:5] += offsets * np.stack([w, h, w, h], axis=-1)
    return rows


def pnet_boxes(bbox_reg: np.ndarray, face_prob: np.ndarray, threshold: float, stride: int = 2, cell: int = 12):
    """Rows ``[0, x1, y1, x2, y2, score]`` (level pixels) of cells above ``threshold``,
    highest score first."""
    ys, xs = np.where(face_prob > threshold)
    if len(ys) == 0:
        return np.empty((0, 6))
    reg = bbox_reg[ys, xs].astype(np.float64)
    # The package's window runs from stride * i + 1 to stride * i + cell, so the
    # regression is scaled by cell - 1.
    x1 = xs * stride + 1
    y1 = ys * stride + 1
    x2 = xs * stride + cell
    y2 = ys * stride + cell
    side = cell - 1
    rows = np.stack(
        [
            np.zeros(len(ys)),
            x1 + reg[:, 0] * side,
            y1 + reg[:, 1] * side,
            x2 + reg[:, 2] * side,
            y2 + reg[:, 3] * side,
            face_prob[ys, xs].astype(np.float64),
        ],
        axis=1,
    )
    return sort_desc(rows, rows[:, 5])


def crop_and_resize(image: np.ndarray, boxes: np.ndarray, size: int) -> np.ndarray:
    """``tf.image.crop_and_resize`` (bilinear, extrapolation 0) for pixel boxes.

    ``boxes`` are ``[N, 4]`` ``x1, y1, x2, y2`` pixels, normalised by the image size as
    the package does (``y / H``, not ``y / (H - 1)``).
    """
    h, w = image.shape[:2]
    boxes = np.asarray(boxes, dtype=np.float32)
    y1 = boxes[:, 1] / np.float32(h)
    x1 = boxes[:, 0] / np.float32(w)
    y2 = boxes[:, 3] / np.float32(h)
    x2 = boxes[:, 2] / np.float32(w)
    steps = np.arange(size, dtype=np.float32)
    step_y = (y2 - y1) * np.float32(h - 1) / np.float32(size - 1)
    step_x = (x2 - x1) * np.float32(w - 1) / np.float32(size - 1)
    in_y = y1[:, None] * np.float32(h - 1) + steps[None, :] * step_y[:, None]
    in_x = x1[:, None] * np.float32(w - 1) + steps[None, :] * step_x[:, None]
    valid_y = (in_y >= 0) & (in_y <= h - 1)
    valid_x = (in_x >= 0) & (in_x <= w - 1)
    top = np.clip(np.floor(in_y), 0, h - 1).astype(np.int64)
    bottom = np.clip(np.ceil(in_y), 0, h - 1).astype(np.int64)
    left = np.clip(np.floor(in_x), 0, w - 1).astype(np.int64)
    right = np.clip(np.ceil(in_x), 0, w - 1).astype(np.int64)
    y_lerp = (in_y - np.floor(in_y))[:, :, None, None]
    x_lerp = (in_x - np.floor(in_x))[:, None, :, None]
    img = image.astype(np.float32, copy=False)
    tl = img[top[:, :, None], left[:, None, :]]
    tr = img[top[:, :, None], right[:, None, :]]
    bl = img[bottom[:, :, None], left[:, None, :]]
    br = img[bottom[:, :, None], right[:, None, :]]
    upper = tl + (tr - tl) * x_lerp
    lower = bl + (br - bl) * x_lerp
    out = upper + (lower - upper) * y_lerp
    mask = (valid_y[:, :, None] & valid_x[:, None, :])[..., None]
    return np.where(mask, out, np.float32(0)).astype(np.float32)


# --------------------------------------------------------------------------- detector


def _normalise(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an RGB image [H, W, 3]; got shape {image.shape}")
    return (image.astype(np.float32) - np.float32(127.5)) / np.float32(128)


def _clipped(rows: np.ndarray, shape: tuple) -> np.ndarray:
    """Final rows with boxes clipped to the image (``fit_to_image`` in the package)."""
    if not len(rows):
        return np.empty((0, 16))
    h, w = shape[:2]
    rows[:, [1, 3]] = np.clip(rows[:, [1, 3]], 0, w - 1)
    rows[:, [2, 4]] = np.clip(rows[:, [2, 4]], 0, h - 1)
    return rows


class LiteMTCNN:
    """MTCNN over ``pnet.tflite``, ``rnet.tflite``, ``onet.tflite`` in ``model_dir``.

    ``detect(image_rgb_uint8) -> list[Face]`` sorted by confidence (highest first).
    Defaults are the package's: ``min_face_size=20``, ``scale_factor=0.709``,
    thresholds 0.6 / 0.7 / 0.8, NMS 0.5, 0.7 (PNet), 0.7 (RNet), 0.7 min (ONet).
    """

    def __init__(
        self,
        model_dir: str | Path,
        *,
        min_face_size: float = 20,
        scale_factor: float = 0.709,
        thresholds: tuple[float, float, float] = (0.6, 0.7, 0.8),
        nms_thresholds: tuple[float, float, float, float] = (0.5, 0.7, 0.7, 0.7),
        num_threads: int | None = None,
        batch_size: int = 256,
        pyramid_resize: str = "exact",
    ):
        if pyramid_resize not in ("exact", "opencv"):
            raise ValueError(f"unknown pyramid_resize {pyramid_resize!r}; valid: ['exact', 'opencv']")
        self.pyramid_resize = pyramid_resize
        model_dir = Path(model_dir)
        self.pnet = LiteModel(model_dir / "pnet.tflite", num_threads=num_threads)
        self.rnet = LiteModel(model_dir / "rnet.tflite", num_threads=num_threads)
        self.onet = LiteModel(model_dir / "onet.tflite", num_threads=num_threads)
        manifest = model_dir / "mtcnn_tflite.json"
        self.manifest = json.loads(manifest.read_text()) if manifest.exists() else {}
        self.min_face_size = min_face_size
        self.scale_factor = scale_factor
        self.thresholds = tuple(thresholds)
        self.nms_thresholds = tuple(nms_thresholds)
        self.batch_size = int(batch_size)

    # The three stages work on rows [image_id, x1, y1, x2, y2, score, (10 keypoints)].

    def _stage_pnet(self, norm: np.ndarray) -> np.ndarray:
        h, w = norm.shape[:2]
        nms_level, nms_all = self.nms_thresholds[0], self.nms_thresholds[1]
        per_level = []
        for scale in scale_pyramid(h, w, self.min_face_size, self.scale_factor):
            sh, sw = (np.asarray([h, w]) * scale).astype(int)
            if sh < 12 or sw < 12:
                continue
            if self.pyramid_resize == "exact":
                level = area_resize(norm, int(sh), int(sw))
            else:
                level = cv2.resize(norm, (int(sw), int(sh)), interpolation=cv2.INTER_AREA)
            out = self.pnet(image=level[None])
            rows = pnet_boxes(out["bbox_reg"][0], out["bbox_class"][0, :, :, 1], self.thresholds[0])
            rows[:, 1:5] /= scale
            per_level.append(nms(rows, nms_level, "union", sort=False))
        rows = np.concatenate(per_level, axis=0) if per_level else np.empty((0, 6))
        rows = nms(rows, nms_all, "union", sort=True)
        return square(rows)

    def _run_batched(self, model: LiteModel, patches: np.ndarray) -> dict[str, np.ndarray]:
        parts = [model(patches=patches[i : i + self.batch_size]) for i in range(0, len(patches), self.batch_size)]
        return {k: np.concatenate([p[k] for p in parts], axis=0) for k in parts[0]}

    def _stage_rnet(self, norm: np.ndarray, rows: np.ndarray) -> np.ndarray:
        out = self._run_batched(self.rnet, crop_and_resize(norm, rows[:, 1:5], 24))
        rows = rows.copy()
        rows[:, 5] = out["bbox_class"][:, 1]
        rows = regress(rows, out["bbox_reg"])
        rows = rows[rows[:, 5] > self.thresholds[1]]
        rows = nms(rows, self.nms_thresholds[2], "union", sort=True)
        return square(rows)

    def _stage_onet(self, norm: np.ndarray, rows: np.ndarray) -> np.ndarray:
        out = self._run_batched(self.onet, crop_and_resize(norm, rows[:, 1:5], 48))
        w = rows[:, 3:4] - rows[:, 1:2] + 1
        h = rows[:, 4:5] - rows[:, 2:3] + 1
        marks = out["landmarks"].astype(np.float64)
        keypoints = np.concatenate(
            [w * marks[:, 0:5] + rows[:, 1:2] - 1, h * marks[:, 5:10] + rows[:, 2:3] - 1], axis=1
        )
        rows = rows.copy()
        rows[:, 5] = out["bbox_class"][:, 1]
        rows = regress(rows, out["bbox_reg"])
        rows = np.concatenate([rows, keypoints], axis=1)
        rows = rows[rows[:, 5] > self.thresholds[2]]
        return nms(rows, self.nms_thresholds[3], "min", sort=True)

    def detect_rows(self, image: np.ndarray) -> np.ndarray:
        """Raw rows ``[N, 16]``: ``0, x1, y1, x2, y2, score, x_1..x_5, y_1..y_5``."""
        norm = _normalise(image)
        rows = self._stage_pnet(norm)
        if len(rows):
            rows = self._stage_rnet(norm, rows)
        if len(rows):
            rows = self._stage_onet(norm, rows)
        return _clipped(rows, image.shape)

    def refine_rows(self, image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """RNet and ONet on candidate ``boxes [N, 4]`` (pixels) instead of PNet's proposals;
        rows as :meth:`detect_rows` gives them."""
        norm = _normalise(image)
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        rows = np.concatenate([np.zeros((len(boxes), 1)), boxes, np.zeros((len(boxes), 1))], axis=1)
        if len(rows):
            rows = self._stage_rnet(norm, rows)
        if len(rows):
            rows = self._stage_onet(norm, rows)
        return _clipped(rows, image.shape)

    def detect(self, image: np.ndarray) -> list[Face]:
        """Faces in one RGB uint8 image, highest confidence first."""
        rows = self.detect_rows(image)
        faces = [
            Face(
                box=row[1:5].astype(np.float32),
                confidence=float(row[5]),
                keypoints=np.stack([row[6:11], row[11:16]], axis=1).astype(np.float32),
            )
            for row in rows
        ]
        return sorted(faces, key=lambda f: -f.confidence)


class LiteFaceDetector(BatchFaceDetector):
    """:class:`LiteMTCNN` behind the project's detector interface
    (``detect(frames) -> list[list[Face]]``, ``detect_video``): the same shrink to
    ``detect_short_side``, key frames, carried boxes confirmed by RNet and ONet, retries,
    confidence cut and mapping back to full resolution as the TensorFlow detector, so
    :func:`tfdeepfake.faces.pipeline.faces_from_frames` chooses faces the same way."""

    can_refine = True

    def __init__(self, mtcnn: LiteMTCNN, config: DetectorConfig | None = None):
        self.config = config or DetectorConfig()
        if mtcnn.min_face_size != self.config.min_face_size:
            raise ValueError(f"LiteMTCNN min_face_size {mtcnn.min_face_size} differs from the "
                             f"detector settings' {self.config.min_face_size}")
        self.mtcnn = mtcnn

    def detect_rows(self, images: list[np.ndarray]) -> np.ndarray:
        parts = []
        for index, image in enumerate(images):
            rows = self.mtcnn.detect_rows(image)
            rows[:, 0] = index
            parts.append(rows)
        return np.concatenate(parts, axis=0) if parts else np.empty((0, 16))

    def refine_rows(self, images: list[np.ndarray], rows: np.ndarray) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.float64)
        if rows.ndim != 2:
            return np.empty((0, 16))
        parts = []
        for index, image in enumerate(images):
            mine = rows[rows[:, 0] == index]
            if len(mine):
                refined = self.mtcnn.refine_rows(image, mine[:, 1:5])
                refined[:, 0] = index
                parts.append(refined)
        return np.concatenate(parts, axis=0) if parts else np.empty((0, 16))
