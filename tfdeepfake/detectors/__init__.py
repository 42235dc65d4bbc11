"""Detectors by name: the registry every command loops over.

    from tfdeepfake.detectors import load_detector, detector_class, DETECTOR_NAMES
    detector = load_detector("saved_models/cdf2")      # whichever kind the folder holds
    probability = detector.score_video(faces)

Each entry names the module and class, imported only when used, so listing the detectors
(``--help``) does not import TensorFlow.
"""

from __future__ import annotations

import importlib
import logging
import os

from tfdeepfake.detectors.base import (
    Detector,
    ModelFolder,
    ModelFolderError,
    Scores,
    TrainOptions,
)

_REGISTRY: dict[str, str] = {
    "triplet": "tfdeepfake.detectors.triplet:TripletDetector",
    "xception": "tfdeepfake.detectors.xception:XceptionDetector",
    "lstm": "tfdeepfake.detectors.lstm:LSTMDetector",
    "sbi": "tfdeepfake.detectors.self_blended:SelfBlendedDetector",
}
DETECTOR_NAMES = tuple(_REGISTRY)

logger = logging.getLogger(__name__)


def detector_class(name: str) -> type[Detector]:
    if name not in _REGISTRY:
        raise ValueError(f"unknown detector {name!r}; valid: {', '.join(DETECTOR_NAMES)}")
    module, attribute = _REGISTRY[name].split(":")
    return getattr(importlib.import_module(module), attribute)


def load_detector(model: Detector | str | os.PathLike,
                  facenet_weights: str | os.PathLike | None = None, **kwargs) -> Detector:
    """The detector saved in a model folder, whatever its kind (a loaded detector is returned
    as it is). ``facenet_weights`` reaches detectors that use FaceNet; the others ignore it
    with a warning, so one command line serves every kind of model."""
    if isinstance(model, Detector):
        if facenet_weights is not None:
            logger.warning("facenet_weights ignored: the detector %s is already loaded", model.path)
        return model
    folder = ModelFolder(model)
    meta = folder.read_meta()
    name = meta.get("detector")
    if name not in _REGISTRY:
        raise ModelFolderError(f"{folder.meta_path}: key 'detector' is {name!r}; valid: "
                               f"{', '.join(DETECTOR_NAMES)}")
    if facenet_weights is not None:
        if meta.get("facenet"):
            kwargs["facenet_weights"] = facenet_weights
        else:
            logger.warning("%s: a %s model uses no FaceNet; facenet_weights ignored", folder.root, name)
    return detector_class(name).from_folder(folder, meta, **kwargs)


__all__ = ["DETECTOR_NAMES", "Detector", "ModelFolder", "ModelFolderError", "Scores",
           "TrainOptions", "detector_class", "load_detector"]
