"""Heat maps on the faces of one video, for any detector that scores single faces
(``explain``): Grad-CAM for xception, occlusion for sbi."""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import Callable

import numpy as np

from tfdeepfake.constants import FAKE, LABEL_NAMES, REAL

logger = logging.getLogger(__name__)


def explain_video(detector, video_path, out_dir, num_frames: int,
                  heat_maps: Callable[[np.ndarray], np.ndarray], *, kind: str, input_size: int,
                  alpha: float = 0.4, face_detector=None, extra: dict | None = None) -> dict:
    """Sample ``num_frames`` frames, crop the face at ``input_size`` with the face settings
    the model was trained on, and write one PNG overlay per face
    (``<video>_frame<index>.png``), a grid of them (``<video>_<kind>_grid.png``) and
    ``<video>_explain.json``. ``heat_maps``: faces ``[N, S, S, 3]`` -> maps ``[N, S, S]`` in
    [0, 1]. Returns the paths, per-frame fake probabilities, the video's score and verdict.
    Raises ``NoFaceError`` / ``VideoReadError`` naming the file. ``face_detector`` replaces
    MTCNN (anything with ``detect(frames)``)."""
    from tfdeepfake.faces.detector import get_detector
    from tfdeepfake.faces.pipeline import faces_of_video
    from tfdeepfake.models.gradcam import save_grid, save_overlays
    from tfdeepfake.scoring import aggregate_video_scores

    settings = detector.face_settings
    sampling = "uniform" if settings.sampling == "stride" else settings.sampling
    settings = dataclasses.replace(settings, num_frames=int(num_frames), size=int(input_size),
                                   sampling=sampling, stride=None)
    arrays, _ = faces_of_video(video_path, settings, face_detector or get_detector(settings.detector))
    faces = arrays["faces"]
    probs = detector.score_faces(faces)
    maps = heat_maps(faces)
    out_dir = Path(out_dir)
    stem = Path(video_path).stem
    names = [f"{stem}_frame{int(i):05d}" for i in arrays["frame_indices"]]
    overlays = save_overlays(out_dir, faces, maps, names=names, alpha=alpha)
    slug = kind.lower().replace("-", "")
    grid = save_grid(out_dir / f"{stem}_{slug}_grid.png", overlays)
    _, video = aggregate_video_scores(probs, np.zeros(len(probs), int), how=detector.aggregation)
    video_prob = float(video[0])
    summary = {
        "video": str(video_path),
        "model": str(detector.path),
        "heat_map": kind,
        **(extra or {}),
        "fake_probability": video_prob,
        "aggregation": detector.aggregation,
        "verdict": LABEL_NAMES[FAKE] if video_prob >= detector.threshold() else LABEL_NAMES[REAL],
        "frames_sampled": int(len(arrays["sampled_indices"])),
        "faces_found": int(len(faces)),
        "frames": [{"frame_index": int(i), "fake_probability": float(p), "overlay": str(path)}
                   for i, p, path in zip(arrays["frame_indices"], probs, overlays)],
        "overlays": [str(p) for p in overlays],
        "grid": str(grid),
    }
    json_path = out_dir / f"{stem}_explain.json"
    summary["json"] = str(json_path)
    json_path.write_text(json.dumps(summary, indent=2), "utf-8")
    logger.info("%s of %s: %d faces, fake probability %.3f -> %s", kind, video_path, len(faces),
                video_prob, out_dir)
    return summary


__all__ = ["explain_video"]
