"""MTCNN face detection, built once per process and run on batches of frames.

Large frames are shrunk before detection (MTCNN's cost grows with pixel count and faces in
deepfake datasets are large) and boxes are mapped back to full resolution, where the crop is
taken, so no detail is lost in the face itself.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import asdict, dataclass
from typing import Sequence

import cv2
import numpy as np

logger = logging.getLogger(__name__)

KEYPOINT_NAMES = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")


@dataclass(frozen=True)
class DetectorConfig:
    """Settings that change which faces are found; recorded in every cache."""

    min_confidence: float = 0.9
    # Shorter side of the image MTCNN sees; 0 disables shrinking. Faces in deepfake
    # footage are a sizeable part of the frame, and MTCNN's cost grows with pixels: at 270
    # a face of a tenth of the frame height is still 27 px, above MTCNN's 20-px minimum.
    detect_short_side: int = 270
    # In pixels of the image MTCNN sees. mtcnn's default.
    min_face_size: int = 20
    batch_size: int = 32
    # Full cascade on every key_frame_interval-th sampled frame (and the last); the frames
    # between get the key frames' boxes, interpolated and confirmed by RNet and ONet
    # (faces/tracking.py). 1 runs the full cascade on every frame.
    key_frame_interval: int = 4
    # A frame left without a face is detected again with its shorter side at each of these
    # in turn (0: full resolution) until a face is found, so shrinking loses no face that
    # full-resolution detection would find. () turns the retry off.
    retry_short_sides: tuple[int, ...] = (540, 0)

    def __post_init__(self):
        if not 0.0 <= self.min_confidence <= 1.0:
            raise ValueError(f"min_confidence must be in [0, 1], got {self.min_confidence}")
        if self.detect_short_side < 0:
            raise ValueError(f"detect_short_side must be >= 0, got {self.detect_short_side}")
        # mtcnn 1.0.0 sizes its image pyramid as if min_face_size were 12..20; above 20 the
        # deepest levels shrink below PNet's 12 px input and every frame reports no face.
        # Shrinking the frame (detect_short_side) has the same effect and works.
        if not 12 <= self.min_face_size <= 20:
            raise ValueError(f"min_face_size must be in [12, 20] with mtcnn 1.0 (got "
                             f"{self.min_face_size}); to skip small faces lower detect_short_side")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.key_frame_interval < 1:
            raise ValueError(f"key_frame_interval must be >= 1, got {self.key_frame_interval}")
        # Saved settings come back from JSON as lists; a tuple keeps the config hashable.
        object.__setattr__(self, "retry_short_sides", tuple(int(s) for s in self.retry_short_sides))
        if any(side < 0 for side in self.retry_short_sides):
            raise ValueError(f"retry_short_sides must be >= 0 (0: full resolution), got "
                             f"{list(self.retry_short_sides)}")

    def to_dict(self) -> dict:
        settings = asdict(self)
        settings["retry_short_sides"] = list(self.retry_short_sides)
        # Caches and models made before these settings existed detected every frame with no
        # retry; at those values the keys are left out so such caches still match.
        for key, legacy in _LEGACY.items():
            if settings[key] == legacy:
                del settings[key]
        return settings

    @classmethod
    def from_dict(cls, settings: dict) -> "DetectorConfig":
        """Settings from a cache, model or config file. A complete record without the
        key-frame and retry keys was written by that legacy detection (every frame, no
        retry) and means it; a partial dict (a config naming a few keys) gets the defaults."""
        settings = dict(settings)
        if _LEGACY_RECORD <= set(settings):
            settings = {**_LEGACY, **settings}
        return cls(**settings)


# What detection was before key frames and retries, and the keys every record had then.
_LEGACY = {"key_frame_interval": 1, "retry_short_sides": []}
_LEGACY_RECORD = {"min_confidence", "detect_short_side", "min_face_size", "batch_size"}


@dataclass(frozen=True)
class Face:
    box: np.ndarray  # [x1, y1, x2, y2] float32, full-resolution pixels
    confidence: float
    keypoints: np.ndarray  # [5, 2] float32, KEYPOINT_NAMES order


def detection_scale(height: int, width: int, short_side: int) -> float:
    """Factor applied to a frame before detection (<= 1): its shorter side becomes
    ``short_side``, so portrait and landscape frames of one resolution cost the same."""
    if short_side <= 0:
        return 1.0
    return min(1.0, short_side / min(height, width))


def shrink_for_detection(frames: Sequence[np.ndarray], short_side: int) -> tuple[list[np.ndarray], float]:
    """Same-sized frames as the detector sees them, and the factor applied (<= 1)."""
    height, width = frames[0].shape[:2]
    scale = detection_scale(height, width, short_side)
    if scale >= 1.0:
        return list(frames), 1.0
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return [cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in frames], scale


def faces_from_rows(rows: np.ndarray, num_frames: int, scale: float,
                    min_confidence: float) -> list[list[Face]]:
    """mtcnn's rows ``[N, 16]`` (frame index, x1, y1, x2, y2, confidence, five x, five y) in
    the pixels the detector saw -> faces per frame in full-resolution pixels, best first."""
    rows = np.asarray(rows, dtype=np.float64).reshape(-1, 16)
    per_frame: list[list[Face]] = [[] for _ in range(num_frames)]
    for row in rows:
        confidence = float(row[5])
        if confidence < min_confidence:
            continue
        box = (row[1:5] / scale).astype(np.float32)
        # mtcnn stores the five x coordinates, then the five y coordinates.
        keypoints = (np.stack([row[6:11], row[11:16]], axis=1) / scale).astype(np.float32)
        per_frame[int(row[0])].append(Face(box=box, confidence=confidence, keypoints=keypoints))
    for faces in per_frame:
        faces.sort(key=lambda face: -face.confidence)
    return per_frame


# Frames per MTCNN call are capped by pixels of the image MTCNN sees: batching pays for
# small images (270 x 480: 5 frames a call cost 0.75 of one at a time), but at 540 x 960
# a batch of 5 cost 1.2-1.6x one at a time (the package stacks a batch as float64).
_MAX_BATCH_PIXELS = 1_000_000


def frames_per_batch(shape: tuple, short_side: int) -> int:
    """How many frames of ``shape`` one MTCNN call may take at ``short_side``."""
    scale = detection_scale(shape[0], shape[1], short_side)
    return max(1, int(_MAX_BATCH_PIXELS // max(shape[0] * shape[1] * scale * scale, 1)))


class BatchFaceDetector:
    """Frames -> faces with the detection rescale in one place; subclasses supply MTCNN.

    ``detect(frames)`` shrinks each batch of same-sized frames to ``detect_short_side``,
    asks :meth:`detect_rows` for mtcnn-format rows, and maps them back to full resolution.
    ``detect_video(frames)`` does the same for the sampled frames of one video with key
    frames and retries (:mod:`tfdeepfake.faces.tracking`). The TensorFlow detector below
    and the TFLite one in :mod:`tfdeepfake.lite` share both, so extract, detect and lite
    find the same faces in the same frames.
    """

    config: DetectorConfig
    # Whether refine_rows is implemented; without it every frame gets the full cascade.
    can_refine: bool = False

    def detect_rows(self, images: list[np.ndarray]) -> np.ndarray:
        """Rows ``[N, 16]`` for same-sized RGB uint8 images; column 0 = index in ``images``."""
        raise NotImplementedError

    def refine_rows(self, images: list[np.ndarray], rows: np.ndarray) -> np.ndarray:
        """MTCNN's last two stages (RNet, ONet) on candidate boxes instead of PNet's.

        ``rows [N, >=5]``: image index, x1, y1, x2, y2 in the pixels of ``images``
        (same-sized RGB uint8). Returns rows ``[M, 16]`` as :meth:`detect_rows` does."""
        raise NotImplementedError

    def detect(self, frames: Sequence[np.ndarray]) -> list[list[Face]]:
        """Faces in each frame (RGB uint8 [H, W, 3]); one list per frame, best first."""
        results: list[list[Face]] = []
        if not len(frames):
            return results
        size = min(self.config.batch_size, frames_per_batch(frames[0].shape, self.config.detect_short_side))
        for start in range(0, len(frames), size):
            results.extend(self._detect_batch(frames[start:start + size]))
        return results

    def detect_video(self, frames: Sequence[np.ndarray]) -> list[list[Face]]:
        """Faces in the sampled frames of one video, in order: key frames, boxes carried
        between them, retries at higher resolution (see :mod:`tfdeepfake.faces.tracking`)."""
        from tfdeepfake.faces.tracking import track_faces

        return track_faces(self, frames)

    def _detect_batch(self, frames: Sequence[np.ndarray]) -> list[list[Face]]:
        if not len(frames):
            return []
        if len({f.shape for f in frames}) > 1:
            # Frames of different sizes (rare: a resolution change mid-stream) go one by one.
            return [self._detect_batch([f])[0] for f in frames]
        small, scale = shrink_for_detection(frames, self.config.detect_short_side)
        rows = self.detect_rows(small)
        return faces_from_rows(rows, len(frames), scale, self.config.min_confidence)


class FaceDetector(BatchFaceDetector):
    """MTCNN (the ``mtcnn`` package, TensorFlow) over batches of same-sized RGB frames."""

    can_refine = True

    def __init__(self, config: DetectorConfig | None = None):
        from mtcnn import MTCNN  # imports TensorFlow: only here, so faces/ and lite stay TF-free

        self.config = config or DetectorConfig()
        self._mtcnn = MTCNN(stages="face_and_landmarks_detection", device="CPU:0")
        # mtcnn 1.0 calls its Keras networks eagerly (layer by layer, once per pyramid level
        # and batch); as traced graphs they give the same numbers at about half the time.
        for stage in self._mtcnn.stages:
            stage._model = _TracedNetwork(stage._model)

    def detect_rows(self, images: list[np.ndarray]) -> np.ndarray:
        rows = self._mtcnn.detect_faces(
            images, output_type="numpy", box_format="xyxy", fit_to_image=True,
            min_face_size=self.config.min_face_size)
        return np.asarray(rows, dtype=np.float64).reshape(-1, 16)

    def refine_rows(self, images: list[np.ndarray], rows: np.ndarray) -> np.ndarray:
        import tensorflow as tf
        from mtcnn.utils.bboxes import limit_bboxes
        from mtcnn.utils.images import standarize_batch

        rows = np.asarray(rows, dtype=np.float64)
        if rows.ndim != 2 or not len(rows) or not len(images):
            return np.empty((0, 16))
        boxes = np.zeros((len(rows), 6))
        boxes[:, :5] = rows[:, :5]
        # The package's own stages and normalisation, as its cascade runs them after PNet.
        normalized, shapes, _ = standarize_batch(list(images), normalize=True)
        _, rnet, onet = self._mtcnn.stages
        with tf.device(self._mtcnn.device):
            try:
                boxes = rnet(images_normalized=normalized, bboxes_batch=boxes)
                if len(boxes):
                    boxes = onet(images_normalized=normalized, bboxes_batch=boxes)
            except tf.errors.InvalidArgumentError:  # the package's way of saying "no face"
                return np.empty((0, 16))
        if not len(boxes):
            return np.empty((0, 16))
        return np.asarray(limit_bboxes(boxes, images_shapes=shapes, limit_landmarks=False),
                          dtype=np.float64).reshape(-1, 16)


class _TracedNetwork:
    """One of MTCNN's Keras networks as a graph traced once for any batch and image size."""

    def __init__(self, network):
        import tensorflow as tf

        self.network = network
        self._call = tf.function(lambda images: network(images, training=False),
                                 input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)])

    def __call__(self, images, *args, **kwargs):
        import tensorflow as tf

        return self._call(tf.convert_to_tensor(images, tf.float32))


_detectors: dict[DetectorConfig, FaceDetector] = {}
_lock = threading.Lock()


def get_detector(config: DetectorConfig | None = None, **settings) -> FaceDetector:
    """The process-wide detector for these settings (building MTCNN retraces its graphs)."""
    config = config or DetectorConfig(**settings)
    with _lock:
        if config not in _detectors:
            logger.debug("building MTCNN detector %s", config)
            _detectors[config] = FaceDetector(config)
        return _detectors[config]
