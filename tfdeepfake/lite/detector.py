"""Video -> fake probability with TFLite models only (no TensorFlow).

The same steps and settings as the face cache the model was trained on
(:class:`tfdeepfake.faces.settings.FaceSettings`), with MTCNN and the face model swapped
for their TFLite versions:

1. sample frames (``uniform``, 25 by default) and decode them upright in RGB
   (:func:`tfdeepfake.video.reader.read_sampled_frames`);
2. find, choose and crop one face per frame with
   :func:`tfdeepfake.faces.pipeline.faces_from_frames`, the code extract and detect use,
   over :class:`~tfdeepfake.lite.mtcnn.LiteFaceDetector` (TFLite MTCNN with the shared
   detection rescale); frames without a face are logged and skipped;
3. run the face TFLite model (embedder + head + classifier from
   :mod:`tfdeepfake.export.tflite`) and aggregate the face probabilities with the model's
   rule (``aggregation`` in ``tflite_export.json``: mean, median or max; mean when absent).

The verdict rule is the project's: fake when ``probability >= threshold``; the threshold
comes from ``tflite_export.json`` beside the model when present, else 0.5. The FaceNet the
model embeds with (label, key, weights' SHA-256) comes from the export's ``model_card.json``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tfdeepfake.faces.detector import Face
from tfdeepfake.faces.pipeline import faces_from_frames, people_from_frames
from tfdeepfake.faces.settings import FaceSettings
from tfdeepfake.lite.interpreter import LiteModel
from tfdeepfake.lite.mtcnn import LiteFaceDetector, LiteMTCNN
from tfdeepfake.scoring import AGGREGATIONS, aggregate_video_scores
from tfdeepfake.video.reader import read_sampled_frames

logger = logging.getLogger(__name__)


@dataclass
class VideoResult:
    path: str
    fake_probability: float  # NaN when no face was found
    verdict: str  # "fake", "real" or "no_face"
    is_fake: bool
    threshold: float
    aggregation: str  # how face probabilities became fake_probability
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
            "aggregation": self.aggregation,
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
    the ``FaceSettings`` of the face cache the classifier was trained on. ``threshold`` and
    ``aggregation`` override the values in ``tflite_export.json``.
    """

    def __init__(
        self,
        face_model: str | Path,
        mtcnn_dir: str | Path,
        *,
        config: FaceSettings | None = None,
        threshold: float | None = None,
        aggregation: str | None = None,
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
        self.export_info = _read_json(info_path)
        self.model_card = _read_json(face_model.parent / "model_card.json")
        self.threshold = float(threshold if threshold is not None else self.export_info.get("threshold", 0.5))
        self.aggregation = aggregation or self.export_info.get("aggregation", "mean")
        if self.aggregation not in AGGREGATIONS:
            where = info_path if aggregation is None else "aggregation"
            raise ValueError(f"{where}: unknown aggregation {self.aggregation!r}; "
                             f"expected one of {', '.join(AGGREGATIONS)}")
        self.mtcnn = LiteMTCNN(mtcnn_dir, min_face_size=self.config.detector.min_face_size, num_threads=num_threads)
        self.face_detector = LiteFaceDetector(self.mtcnn, self.config.detector)
        self.batch_size = int(batch_size)

    @property
    def facenet(self) -> dict:
        """The FaceNet of the exported model, as ``detect --model`` names it: ``facenet``
        (label), ``facenet_model`` (key) and ``facenet_weights_sha256`` (None for random
        init); all None for a model without FaceNet or an export without a model card."""
        identity = self.model_card.get("facenet_identity") or {}
        return {"facenet": self.model_card.get("facenet", self.export_info.get("facenet")),
                "facenet_model": identity.get("model"),
                "facenet_weights_sha256": identity.get("weights_sha256")}

    # ------------------------------------------------------------------ faces

    def detect(self, frame: np.ndarray) -> list[Face]:
        """Faces above ``min_confidence`` in full-resolution pixels, best first."""
        return self.face_detector.detect([frame])[0]

    def extract_faces(self, frames, frame_indices, video: str = "<frames>"):
        """One face per frame -> (crops uint8 [F, S, S, 3], frame indices, boxes)."""
        arrays = faces_from_frames(list(frames), np.asarray(frame_indices, dtype=np.int64),
                                   self.config, self.face_detector)
        kept = [int(i) for i in arrays["frame_indices"]]
        missing = sorted(set(int(i) for i in frame_indices) - set(kept))
        if missing:
            logger.info("%s: no face in %d of %d sampled frames (frames %s)", video,
                        len(missing), len(frame_indices), missing)
        return arrays["faces"], kept, arrays["boxes"].tolist()

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
            probability = float(aggregate_video_scores(probs, np.zeros(len(probs)), self.aggregation)[1][0])
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
            aggregation=self.aggregation,
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

    def predict_people(self, path: str | Path) -> tuple[list[VideoResult], list[int]]:
        """One result per person seen in the sampled frames (``faces.people``: tracks of
        faces, largest first), each scored on their own faces (none without a face); and
        the frames sampled."""
        frames, indices, _ = read_sampled_frames(
            path, self.config.num_frames, self.config.sampling, self.config.stride
        )
        indices = [int(i) for i in indices]
        results = []
        for found in people_from_frames(list(frames), np.asarray(indices, dtype=np.int64),
                                        self.config, self.face_detector):
            probs = self.score_faces(found["faces"])
            probability = float(aggregate_video_scores(probs, np.zeros(len(probs)), self.aggregation)[1][0])
            results.append(VideoResult(
                path=str(path), fake_probability=probability,
                verdict="fake" if probability >= self.threshold else "real",
                is_fake=bool(probability >= self.threshold), threshold=self.threshold,
                aggregation=self.aggregation, frame_indices=indices,
                face_frame_indices=[int(i) for i in found["frame_indices"]],
                face_probabilities=[float(v) for v in probs], boxes=found["boxes"].tolist()))
        return results, indices


def _read_json(path: Path) -> dict:
    """A JSON object written by the export beside the model; {} when the file is absent."""
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text("utf-8"))
    except ValueError as error:
        raise ValueError(f"{path}: not valid JSON ({error}); export the model again") from error
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object, found {type(data).__name__}")
    return data


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


def detect_video(detector: LiteDeepfakeDetector, path: str | Path, variant: str = "float32",
                 people: bool = False) -> dict:
    """One verdict, in the same fields as `tfdeepfake detect --model` (unknown on failure).
    ``people``: every person judged on their own (``people``, as ``detect --model --people``
    lists them); the video takes the verdict of the person who looks most fake."""
    import time

    from tfdeepfake.video.reader import VideoReadError

    started = time.perf_counter()
    base = {"path": str(path), "classifier": f"tflite:{variant}", "threshold": detector.threshold,
            "random_init_facenet": bool(detector.export_info.get("random_init_facenet", False)),
            **detector.facenet}
    try:
        if people:
            persons, sampled = detector.predict_people(path)
            base["people"] = [
                {"person": n, "verdict": r.verdict, "fake_probability": r.fake_probability,
                 "faces_found": r.num_faces, "genuine_share": None,
                 "box": [round(float(v), 1) for v in np.median(np.asarray(r.boxes), axis=0)]}
                for n, r in enumerate(persons, start=1)]
            result = (max(persons, key=lambda r: r.fake_probability) if persons else VideoResult(
                str(path), float("nan"), "no_face", False, detector.threshold,
                detector.aggregation, sampled, [], []))
        else:
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
