"""A model bundle: everything `detect` and `export` need, in one folder, without pickle.

    saved_models/<name>/
      bundle.json                 settings, embedder identity, thresholds, metrics, versions
      head.weights.h5             triplet head weights (Keras)
      classifiers/<kind>/         classifier.npz + classifier.json (arrays, no pickle)
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tfdeepfake.faces.settings import FaceSettings
from tfdeepfake.classifiers import FrameClassifier, load_classifier, save_classifier
from tfdeepfake.provenance import package_versions

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
BUNDLE_FILE = "bundle.json"
HEAD_WEIGHTS = "head.weights.h5"
CLASSIFIERS_DIR = "classifiers"

# A fixed input whose embedding identifies the embedder a bundle was trained with, so a
# bundle is never silently used with other FaceNet weights (or another random init).
_PROBE_SEED = 1234


class BundleError(RuntimeError):
    pass


def embedder_probe(embedder) -> list[float]:
    from tfdeepfake.models.facenet import embed_faces

    size = int(embedder.input_shape[1])
    faces = np.random.RandomState(_PROBE_SEED).randint(0, 256, (2, size, size, 3)).astype(np.uint8)
    return [round(float(v), 5) for v in embed_faces(embedder, faces)[:, :8].ravel()]


@dataclass
class Bundle:
    path: Path
    meta: dict[str, Any]
    extract_config: FaceSettings
    head: Any  # keras.Model
    classifiers: dict[str, FrameClassifier] = field(default_factory=dict)

    @property
    def default_classifier(self) -> str:
        return self.meta["default_classifier"]

    @property
    def aggregation(self) -> str:
        return self.meta.get("aggregation", "mean")

    @property
    def random_init(self) -> bool:
        return bool(self.meta["embedder"]["random_init"])

    def threshold(self, classifier: str) -> float:
        return float(self.meta["thresholds"].get(classifier, 0.5))

    def build_embedder(self, facenet_weights: str | os.PathLike | None = None, verify: bool = True):
        """The FaceNet embedder this bundle was trained with (checked by its probe)."""
        from tfdeepfake.models.facenet import build_facenet_embedder

        info = self.meta["embedder"]
        if info["random_init"]:
            embedder = build_facenet_embedder(random_init=True, seed=int(info["seed"]))
        else:
            embedder = build_facenet_embedder(weights_path=facenet_weights)
        if verify and info.get("probe"):
            probe = embedder_probe(embedder)
            if not np.allclose(probe, info["probe"], atol=1e-3):
                raise BundleError(
                    f"{self.path}: the FaceNet embedder built here does not match the one the "
                    f"bundle was trained with ({'random init, seed ' + str(info['seed']) if info['random_init'] else 'weights ' + str(info.get('weights_sha256'))}); "
                    "use the same weights / package versions, or retrain")
        return embedder


def save_bundle(directory: str | os.PathLike, *, extract_config: FaceSettings, embedder, head,
                head_config: dict, classifiers: dict[str, FrameClassifier],
                default_classifier: str, thresholds: dict[str, float] | None = None,
                aggregation: str = "mean", extra: dict | None = None) -> Path:
    from tfdeepfake.models.facenet import FACENET_MODEL, is_random_init

    directory = Path(directory)
    if default_classifier not in classifiers:
        raise ValueError(f"default classifier {default_classifier!r} is not among {sorted(classifiers)}")
    directory.mkdir(parents=True, exist_ok=True)
    random_init = is_random_init(embedder)
    meta = {
        "format_version": FORMAT_VERSION,
        "name": directory.name,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "extract": extract_config.to_dict(),
        "embedder": {
            "model": FACENET_MODEL.key,
            "input_size": FACENET_MODEL.input_size,
            "random_init": random_init,
            "seed": int(getattr(embedder, "facenet_seed", 0)) if random_init else None,
            "weights_sha256": None if random_init else FACENET_MODEL.weights_sha256,
            "probe": embedder_probe(embedder),
        },
        "head": dict(head_config),
        "classifiers": sorted(classifiers),
        "default_classifier": default_classifier,
        "thresholds": {name: float((thresholds or {}).get(name, 0.5)) for name in classifiers},
        "aggregation": aggregation,
        "labels": {"0": "real", "1": "fake"},
        "versions": package_versions(),
        **(extra or {}),
    }
    head.save_weights(str(directory / HEAD_WEIGHTS))
    for name, clf in classifiers.items():
        save_classifier(directory / CLASSIFIERS_DIR / name, clf)
    (directory / BUNDLE_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True, default=str), "utf-8")
    return directory


def load_bundle(directory: str | os.PathLike) -> Bundle:
    from tfdeepfake.models.triplet_head import build_triplet_head

    directory = Path(directory)
    meta_path = directory / BUNDLE_FILE
    if not meta_path.is_file():
        raise BundleError(f"{directory}: not a model bundle (no {BUNDLE_FILE}); "
                          "make one with `tfdeepfake train triplet` or `tfdeepfake demo`")
    try:
        meta = json.loads(meta_path.read_text("utf-8"))
    except json.JSONDecodeError as error:
        raise BundleError(f"{meta_path}: invalid JSON ({error})") from error
    if meta.get("format_version") != FORMAT_VERSION:
        raise BundleError(f"{meta_path}: bundle format {meta.get('format_version')}, this "
                          f"tfdeepfake reads {FORMAT_VERSION}")
    head_cfg = meta["head"]
    head = build_triplet_head(input_dim=int(head_cfg["input_dim"]),
                              hidden_units=tuple(head_cfg["hidden_units"]),
                              embedding_dim=int(head_cfg["embedding_dim"]),
                              dropout=float(head_cfg.get("dropout", 0.0)))
    weights = directory / HEAD_WEIGHTS
    if not weights.is_file():
        raise BundleError(f"{weights}: head weights missing from the bundle")
    head.load_weights(str(weights))
    classifiers = {name: load_classifier(directory / CLASSIFIERS_DIR / name)
                   for name in meta["classifiers"]}
    return Bundle(path=directory, meta=meta, extract_config=FaceSettings.from_dict(meta["extract"]),
                  head=head, classifiers=classifiers)
