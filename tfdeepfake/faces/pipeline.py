"""Frames -> chosen face crops: detect with MTCNN, choose one face per frame by the face
policy (or keep every person: ``people_from_frames``), crop it from the full-resolution
frame. The one path every stage uses (extract, detect, explain, benchmarks, and
`tfdeepfake.lite` with its TFLite MTCNN), so they all choose the same faces. Imports no
TensorFlow: the detector object brings its own MTCNN."""

from __future__ import annotations

import logging
import os

import numpy as np

from tfdeepfake.faces.boxes import select_faces
from tfdeepfake.faces.crop import crop_face
from tfdeepfake.faces.detector import BatchFaceDetector
from tfdeepfake.faces.people import PEOPLE_MIN_SHARE, people_tracks
from tfdeepfake.faces.settings import FaceSettings
from tfdeepfake.video.reader import VideoReadError, read_sampled_frames

logger = logging.getLogger(__name__)


class NoFaceError(RuntimeError):
    pass


def faces_from_frames(frames: list[np.ndarray], indices: np.ndarray, settings: FaceSettings,
                      detector: BatchFaceDetector, detections=None) -> dict[str, np.ndarray]:
    """Detect, choose and crop one face per frame; frames without a face are left out.

    ``frames`` are the sampled frames of one video in order: faces are found with key
    frames, carried boxes and retries (``detector.detect_video``), unless ``detections``
    (its result) are given."""
    detections = detector.detect_video(frames) if detections is None else detections
    picks = select_faces(_boxes(detections), [np.array([f.confidence for f in faces]) for faces in detections],
                         settings.face_policy)
    return _crops(frames, indices, detections, picks, settings)


def people_from_frames(frames: list[np.ndarray], indices: np.ndarray, settings: FaceSettings,
                       detector: BatchFaceDetector, min_share: float = PEOPLE_MIN_SHARE,
                       detections=None) -> list[dict[str, np.ndarray]]:
    """``faces_from_frames``'s arrays once per person (``faces.people``), largest first;
    the face policy is not used: every person is kept."""
    detections = detector.detect_video(frames) if detections is None else detections
    return [_crops(frames, indices, detections, picks, settings)
            for picks in people_tracks(_boxes(detections), min_share)]


def _boxes(detections) -> list[np.ndarray]:
    return [np.array([f.box for f in faces]).reshape(-1, 4) for faces in detections]


def _crops(frames, indices, detections, picks, settings: FaceSettings) -> dict[str, np.ndarray]:
    """The crops of the faces ``picks`` names (one index or None per frame), with where
    they came from."""
    crops, kept, boxes, keypoints, confidences = [], [], [], [], []
    for frame, index, faces, choice in zip(frames, indices, detections, picks):
        if choice is None:
            continue
        face = faces[choice]
        crops.append(crop_face(frame, face.box, settings.size, margin=settings.margin,
                               square=settings.square))
        kept.append(index)
        boxes.append(face.box)
        keypoints.append(face.keypoints)
        confidences.append(face.confidence)
    size = settings.size
    return {
        "faces": np.asarray(crops, dtype=np.uint8).reshape(-1, size, size, 3),
        "frame_indices": np.asarray(kept, dtype=np.int32),
        "boxes": np.asarray(boxes, dtype=np.float32).reshape(-1, 4),
        "keypoints": np.asarray(keypoints, dtype=np.float32).reshape(-1, 5, 2),
        "confidences": np.asarray(confidences, dtype=np.float32),
        "sampled_indices": np.asarray(indices, dtype=np.int32),
    }


def faces_of_video(video_path: str | os.PathLike, settings: FaceSettings,
                  detector: BatchFaceDetector) -> tuple[dict[str, np.ndarray], dict]:
    """Faces of one video file; raises VideoReadError or NoFaceError naming the file."""
    frames, indices, info = read_sampled_frames(video_path, settings.num_frames, settings.sampling,
                                                settings.stride)
    if len(frames) == 0:
        raise VideoReadError(video_path, "no frame could be decoded")
    arrays = faces_from_frames(frames, indices, settings, detector)
    missing = sorted(set(arrays["sampled_indices"].tolist()) - set(arrays["frame_indices"].tolist()))
    if missing:
        logger.info("%s: no face in %d of %d sampled frames (frames %s)", video_path,
                    len(missing), len(indices), missing)
    if len(arrays["faces"]) == 0:
        raise NoFaceError(f"{video_path}: no face found in any of {len(indices)} sampled frames")
    video_attrs = {"frame_count": info.frame_count, "fps": info.fps, "width": info.width,
                   "height": info.height, "rotation": info.rotation}
    if info.unreadable_note:  # "partly unreadable: frames a-b", kept with the faces
        video_attrs["unreadable"] = info.unreadable_note
    return arrays, video_attrs
