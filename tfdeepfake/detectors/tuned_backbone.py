"""A fine-tuned ``sbi`` network as the poster's method's embedder: the triplet head and its
classifiers on the pooled features of a backbone trained to see blending artefacts
(``train triplet --fakes sbi --backbone SBI_MODEL``), instead of on pretrained FaceNet's
identity embeddings.

The triplet model folder holds a copy of the ``sbi`` folder's files under ``backbone/`` so
it stays self-contained (and every path it names stays inside it), and ``model.json``
records where the copy came from::

    "backbone": {"folder": "backbone", "kind": "sbi", "embedding_dim": 1792,
                 "input_size": 160, "source": "saved_models/sbi-real-only"}
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from tfdeepfake.detectors.base import ModelFolder, ModelFolderError, require

BACKBONE_DIR = "backbone"


class TunedBackbone:
    """Faces ``[N, S, S, 3]`` -> the ``sbi`` network's L2-normalised pooled features: to the
    triplet method what ``FaceNetEmbedder`` is (``embed``, ``model``, ``input_size``)."""

    def __init__(self, detector):
        self.detector = detector  # a SelfBlendedDetector

    @classmethod
    def load(cls, folder: str | os.PathLike) -> "TunedBackbone":
        from tfdeepfake.detectors import load_detector
        from tfdeepfake.detectors.self_blended import SelfBlendedDetector

        detector = load_detector(folder)
        if not isinstance(detector, SelfBlendedDetector):
            raise ModelFolderError(f"{folder}: a {detector.name} model; a backbone must be an "
                                   "sbi model (tfdeepfake train sbi)")
        return cls(detector)

    @property
    def input_size(self) -> int:
        return self.detector.input_size

    @property
    def embedding_dim(self) -> int:
        return int(self.model.output_shape[-1])

    @property
    def identity(self):
        """The ``FaceNetIdentity`` the backbone was fine-tuned from, or ``None`` (an
        Xception or test backbone). Provenance only: the features are the fine-tuned
        network's, not that FaceNet's."""
        from tfdeepfake.models.facenet import FaceNetIdentity

        recorded = self.detector.meta.get("facenet")
        return FaceNetIdentity.from_dict(recorded) if recorded else None

    @property
    def model(self):
        """Keras model: faces (0..255, ``input_size``) -> unit-length features."""
        return self.detector.feature_model()

    def embed(self, faces) -> np.ndarray:
        return self.detector.embed(faces)

    def record(self, source: str | os.PathLike) -> dict[str, Any]:
        """The ``backbone`` section of a triplet ``model.json``."""
        return {"folder": BACKBONE_DIR, "kind": "sbi", "embedding_dim": self.embedding_dim,
                "input_size": self.input_size, "source": str(source)}


def copy_backbone(source: str | os.PathLike, model_root: Path) -> Path:
    """Copy an ``sbi`` model folder's files (not its training run) into ``model_root``."""
    source = Path(source)
    target = Path(model_root) / BACKBONE_DIR
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    for item in source.iterdir():
        if item.is_file():
            shutil.copy2(item, target / item.name)
    return target


def backbone_section(folder: ModelFolder, meta: Mapping[str, Any]) -> dict[str, Any] | None:
    """The checked ``backbone`` section of a triplet ``model.json`` (its folder inside the
    model folder), or ``None``."""
    where = folder.meta_path
    section = meta.get("backbone")
    if section is None:
        return None
    if not isinstance(section, dict):
        raise ModelFolderError(f"{where}: key 'backbone' should be a mapping, found {section!r}")
    for key, kind in (("folder", str), ("kind", str), ("embedding_dim", int), ("input_size", int)):
        require(section, key, kind, f"{where} [backbone]")
    if section["kind"] != "sbi":
        raise ModelFolderError(f"{where} [backbone]: key 'kind' is {section['kind']!r}; only "
                               "'sbi' backbones exist")
    folder.path(section["folder"])  # inside the model folder, and there
    return dict(section)


def load_backbone(folder: ModelFolder, section: Mapping[str, Any]) -> TunedBackbone:
    """The backbone a triplet folder holds; refused when it is not what ``model.json`` says."""
    backbone = TunedBackbone.load(folder.path(section["folder"]))
    if (backbone.embedding_dim, backbone.input_size) != (section["embedding_dim"],
                                                         section["input_size"]):
        raise ModelFolderError(
            f"{folder.meta_path} [backbone]: {section['embedding_dim']}-d features of "
            f"{section['input_size']} px faces expected; {folder.path(section['folder'])} gives "
            f"{backbone.embedding_dim}-d of {backbone.input_size} px")
    return backbone


__all__ = ["BACKBONE_DIR", "TunedBackbone", "backbone_section", "copy_backbone", "load_backbone"]
