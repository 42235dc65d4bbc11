"""Video -> fake probability with TFLite models only (no TensorFlow).

The same steps and settings as the face cache the model was trained on
(:class:`tfdeepfake.faces.settings.FaceSettings`), with MTCNN and the face model swapped
for their TFLite versions:

1. sample frames (``uniform``, 25 by default) and decode them upright in RGB
   (:func:`tfdeepfake.video.reader.read_sampled_frames`);
2. shrink each frame to a shorter side of ``detect_short_side`` for detection, run
   :class:`~tfdeepfake.lite.mtcnn.LiteMTCNN`, map boxes back to full resolution, drop
   faces under ``min_confidence``;
3. keep one face per frame (``face_policy``, the largest by default) and crop it with
   the cache's margin / square / size (:func:`tfdeepfake.faces.crop.crop_face`);
   frames without a face are logged with their index and skipped;
4. run the face TFLite model (embedder + head + classifier from
   :mod:`tfdeepfake.export.tflite`) and average the face probabilities.

The verdict rule is the project's: fake when ``probability >= threshold``; the threshold
comes from ``tflite_export.json`` beside the model when present, else 0.5.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from tfdeepfake.faces.settings import FaceSettings
from tfdeepfake.faces.boxes import select_faces
from tfdeepfake.faces.crop import crop_face
from tfdeepfake.faces.detector import Face, detection_scale
from tfdeepfake.lite.interpreter import LiteModel
from tfdeepfake.lite.mtcnn import LiteMTCNN
from tfdeepfake.video.reader import read_sampled_frames

logger = logging.getLogger(__name__)


@dataclass
class VideoResult:
    path: str
    fake_probability: float  # NaN when no face was found
    verdict: str  # "fake", "real" or "no_face"
    is_fake: bool
    threshold: float
    frame_indices: list[int]  # frames sampled and decoded
    face_frame_indices: list[int]  # frames a face came from
    face_probabilities: list[float]
    boxes: list[list[float]] = field(default_factory=list)

    @property
    def num_faces(self) -> int:
        return len(self.face_probabilities)

    def to_dict(self) -> dict:
        return {
            "path": self.path,
            "fake_probability": None if np.isnan(self.fake_probability) else self.fake_probability,
            "verdict": self.verdict,
            "is_fake": self.is_fake,
            "threshold": self.threshold,
            "num_faces": self.num_faces,
            "frame_indices": self.frame_indices,
            "face_frame_indices": self.face_frame_indices,
            "face_probabilities": self.face_probabilities,
            "boxes": self.boxes,
        }


class LiteDeepfakeDetector:
    """Score videos with the TFLite face model and TFLite MTCNN.

    ``face_model``: a ``face_model_<variant>.tflite``; ``mtcnn_dir``: the folder written
    by :func:`tfdeepfake.export.mtcnn_tflite.export_mtcnn_tflite`. ``config`` should be
    the ``FaceSettings`` of the face cache the classifier was trained on.
    """

    def __init__(
        self,
        face_model: str | Path,
        mtcnn_dir: str | Path,
        *,
        config: FaceSettings | None = None,
        threshold: float | None = None,
        num_threads: int | None = 2,
        batch_size: int = 25,
    ):
        face_model = Path(face_model)
        self.config = config or FaceSettings()
        self.model = LiteModel(face_model, num_threads=num_threads)
        shape = self.model.input_details["faces"]["shape"]
        if len(shape) == 4 and int(shape[1]) != self.config.size:
            raise ValueError(f"face model takes {int(shape[1])} px faces but config.size is {self.config.size}")
        info_path = face_model.parent / "tflite_export.json"
        self.export_info = json.loads(info_path.read_text()) if info_path.exists() else {}
        self.threshold = float(threshold if threshold is not None else self.export_info.get("threshold", 0.5))
        self.mtcnn = LiteMTCNN(mtcnn_dir, min_face_size=self.config.detector.min_face_size, num_threads=num_threads)
        self.batch_size = int(batch_size)

    # ------------------------------------------------------------------ faces

    def detect(self, frame: np.ndarray) -> list[Face]:
        """Faces above ``min_confidence`` in full-resolution pixels, best first."""
        height, width = frame.shape[:2]
        scale = detection_scale(height, width, self.config.detector.detect_short_side)
        small = frame
        if scale < 1.0:
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            small = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
        faces = []
        for face in self.mtcnn.detect(small):
            if face.confidence < self.config.detector.min_confidence:
                continue
            faces.append(
                Face(
                    box=(face.box / scale).astype(np.float32),
                    confidence=face.confidence,
                    keypoints=(face.keypoints / scale).astype(np.float32),
                )
            )
        return faces

    def extract_faces(self, frames, frame_indices, video: str = "<frames>"):
        """One face per frame -> (crops uint8 [F, S, S, 3], frame indices, boxes)."""
        crops, kept, boxes = [], [], []
        detections = [self.detect(frame) for frame in frames]
        picks = select_faces(
            [np.asarray([f.box for f in faces]).reshape(-1, 4) for faces in detections],
            [np.asarray([f.confidence for f in faces]) for faces in detections],
            self.config.face_policy,
        )
        for frame, index, faces, chosen in zip(frames, frame_indices, detections, picks):
            if chosen is None:
                logger.info("%s: no face in frame %d", video, int(index))
                continue
            face = faces[chosen]
            crops.append(
                crop_face(frame, face.box, self.config.size, margin=self.config.margin, square=self.config.square)
            )
            kept.append(int(index))
            boxes.append([float(v) for v in face.box])
        size = self.config.size
        faces = np.stack(crops) if crops else np.zeros((0, size, size, 3), np.uint8)
        return faces, kept, boxes

    # ------------------------------------------------------------------ scores

    def score_faces(self, faces: np.ndarray) -> np.ndarray:
        """Fake probability of each ``uint8 [N, S, S, 3]`` face."""
        faces = np.asarray(faces, dtype=np.uint8)
        if len(faces) == 0:
            return np.zeros(0, dtype=np.float32)
        parts = [
            self.model(faces=faces[i : i + self.batch_size])["fake_probability"].reshape(-1)
            for i in range(0, len(faces), self.batch_size)
        ]
        return np.concatenate(parts).astype(np.float32)

    def predict_frames(self, frames, frame_indices=None, video: str = "<frames>") -> VideoResult:
        frame_indices = list(range(len(frames))) if frame_indices is None else [int(i) for i in frame_indices]
        faces, kept, boxes = self.extract_faces(frames, frame_indices, video)
        probs = self.score_faces(faces)
        if len(probs):
            probability = float(np.mean(probs))
            is_fake = probability >= self.threshold
            verdict = "fake" if is_fake else "real"
        else:
            logger.warning("%s: no face found in any of %d sampled frames", video, len(frame_indices))
            probability, is_fake, verdict = float("nan"), False, "no_face"
        return VideoResult(
            path=video,
            fake_probability=probability,
            verdict=verdict,
            is_fake=bool(is_fake),
            threshold=self.threshold,
            frame_indices=frame_indices,
            face_frame_indices=kept,
            face_probabilities=[float(v) for v in probs],
            boxes=boxes,
        )

    def predict_video(self, path: str | Path) -> VideoResult:
        """Sample, detect, crop and score one video file."""
        frames, indices, _ = read_sampled_frames(
            path, self.config.num_frames, self.config.sampling, self.config.stride
        )
        return self.predict_frames(frames, indices, video=str(path))


def open_export(export_dir: str | Path, variant: str = "float32", num_threads: int | None = 2) -> LiteDeepfakeDetector:
    """The detector of a `tfdeepfake export --format tflite` folder (its face model, its
    MTCNN networks and the extraction settings the model was trained with)."""
    export_dir = Path(export_dir)
    face_model = export_dir / f"face_model_{variant}.tflite"
    if not face_model.is_file():
        found = sorted(p.name for p in export_dir.glob("face_model_*.tflite"))
        raise FileNotFoundError(f"{face_model}: no such TFLite model; found: {', '.join(found) or 'none'} "
                                "(make them with `tfdeepfake export --format tflite`)")
    settings_path = export_dir / "extract_config.json"
    config = FaceSettings.from_dict(json.loads(settings_path.read_text())) if settings_path.exists() else None
    return LiteDeepfakeDetector(face_model, export_dir / "mtcnn", config=config, num_threads=num_threads)


def detect_video(detector: LiteDeepfakeDetector, path: str | Path, variant: str = "float32") -> dict:
    """One verdict, in the same fields as `tfdeepfake detect --model` (unknown on failure)."""
    import time

    from tfdeepfake.video.reader import VideoReadError

    started = time.perf_counter()
    base = {"path": str(path), "classifier": f"tflite:{variant}", "threshold": detector.threshold,
            "random_init_facenet": bool(detector.export_info.get("random_init_facenet", False))}
    try:
        result = detector.predict_video(path)
    except (VideoReadError, OSError, ValueError) as error:
        return {**base, "verdict": "unknown", "fake_probability": None, "frames_sampled": 0,
                "faces_found": 0, "seconds": time.perf_counter() - started, "reason": str(error)}
    no_face = result.verdict == "no_face"
    return {**base, "verdict": "unknown" if no_face else result.verdict,
            "fake_probability": None if no_face else result.fake_probability,
            "frames_sampled": len(result.frame_indices), "faces_found": result.num_faces,
            "seconds": time.perf_counter() - started,
            "reason": f"no face found in any of {len(result.frame_indices)} sampled frames" if no_face else ""}
