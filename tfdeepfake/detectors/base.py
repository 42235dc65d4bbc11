"""One interface for every detector, and the model-folder format they all share.

A detector is trained from a cache (face crops or FaceNet embeddings), saved into a model
folder, loaded back by name, and scores faces and videos. Everything around it (the CLI's
train / evaluate / detect / export / reproduce) goes through this module and the registry in
``tfdeepfake.detectors``, never through a detector's own module.

A model folder::

    <folder>/
      model.json          format version, detector name, face settings, FaceNet identity
                          (where one is used), threshold(s), aggregation, training record,
                          data counts, package versions; written last, atomically: a folder
                          without it is an unfinished run
      *.weights.h5        Keras weights (names chosen by the detector)
      <arrays>/           arrays + JSON (e.g. the triplet method's classifiers); never pickle

Every file a ``model.json`` names is resolved with ``ModelFolder.path``, which refuses any
path that leaves the folder.
"""

from __future__ import annotations

import abc
import dataclasses
import json
import logging
import os
import time
from pathlib import Path
from typing import Any, ClassVar, Mapping, Sequence

import numpy as np

from tfdeepfake.constants import FAKE, LABEL_NAMES, REAL
from tfdeepfake.datasets.records import warn_shared_identities
# The checks are this module's public names too (detectors import them from here).
from tfdeepfake.detectors.checks import (  # noqa: F401
    ModelFolderError,
    face_settings_from,
    require,
    require_fields,
    require_unit_interval,
)
from tfdeepfake.detectors.model_json import validate_meta
# Keep-best too (every detector's training loop uses it).
from tfdeepfake.detectors.keep_best import KeepBest, best_epoch  # noqa: F401
from tfdeepfake.faces.settings import FaceSettings
from tfdeepfake.provenance import json_ready, package_versions
from tfdeepfake.scoring import AGGREGATIONS, aggregate_video_labels, aggregate_video_scores

logger = logging.getLogger(__name__)

FORMAT_VERSION = 2
MODEL_FILE = "model.json"
SOURCE_KINDS = ("faces", "embeddings")


# -- the model folder -------------------------------------------------------------------


class ModelFolder:
    """A model folder on disk: ``model.json`` plus the files it names, all inside it."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    @property
    def meta_path(self) -> Path:
        return self.root / MODEL_FILE

    def path(self, relative: str, *, must_exist: bool = True) -> Path:
        """``relative`` resolved inside the folder; refuses absolute paths and escapes."""
        if not isinstance(relative, str) or not relative or os.path.isabs(relative):
            raise ModelFolderError(f"{self.meta_path}: {relative!r} is not a relative path "
                                   "inside the model folder")
        root = self.root.resolve()
        target = (root / relative).resolve()
        if target != root and root not in target.parents:
            raise ModelFolderError(f"{self.meta_path}: {relative!r} points outside the model "
                                   f"folder {self.root}")
        if must_exist and not target.exists():
            raise ModelFolderError(f"{self.root / relative}: missing from the model folder")
        return target

    def load_weights(self, model, path: Path) -> None:
        """Keras weights at ``path`` (from ``self.path``) into ``model``; a damaged file or
        weights of another network is one error naming the file, not h5py's traceback."""
        try:
            model.load_weights(str(path))
        except (OSError, ValueError, KeyError) as error:
            raise ModelFolderError(f"{path}: not the Keras weights of the network "
                                   f"{self.meta_path} describes ({error})") from None

    def start(self) -> "ModelFolder":
        """Create the folder; an old ``model.json`` is removed first, so a retraining that
        dies halfway leaves a folder marked unfinished, not the old model with new weights."""
        self.root.mkdir(parents=True, exist_ok=True)
        if self.meta_path.exists():
            self.meta_path.unlink()
        return self

    def write_meta(self, meta: Mapping[str, Any]) -> Path:
        from tfdeepfake.cache.files import atomic_write_text

        return atomic_write_text(self.meta_path, json.dumps(json_ready(dict(meta)), indent=2,
                                                            sort_keys=True))

    def read_meta(self) -> dict[str, Any]:
        if not self.meta_path.is_file():
            legacy = [name for name in ("bundle.json", "baseline.json") if (self.root / name).is_file()]
            if legacy:
                raise ModelFolderError(
                    f"{self.root}: a model folder from tfdeepfake < 0.2 ({legacy[0]}); convert "
                    f"it with `tfdeepfake convert-model {self.root}` or retrain")
            raise ModelFolderError(f"{self.root}: not a model folder (no {MODEL_FILE}); train "
                                   "one with `tfdeepfake train` or make one with `tfdeepfake demo`")
        try:
            meta = json.loads(self.meta_path.read_text("utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise ModelFolderError(f"{self.meta_path}: invalid JSON ({error})") from error
        if not isinstance(meta, dict):
            raise ModelFolderError(f"{self.meta_path}: expected a JSON object")
        if meta.get("format_version") != FORMAT_VERSION:
            raise ModelFolderError(f"{self.meta_path}: key 'format_version' is "
                                   f"{meta.get('format_version')!r}; this tfdeepfake reads "
                                   f"{FORMAT_VERSION}")
        # Every key's type and range, before any network is built from them.
        validate_meta(meta, self.meta_path)
        return meta


def common_meta(name: str, face_settings: FaceSettings, *, threshold: float, aggregation: str,
                seed: int, training: Mapping[str, Any], data: Mapping[str, Any],
                facenet: Mapping[str, Any] | None = None, **extra) -> dict[str, Any]:
    """The ``model.json`` keys every detector writes; ``extra`` adds the detector's own."""
    return {
        "format_version": FORMAT_VERSION,
        "detector": name,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "face_settings": face_settings.to_dict(),
        "facenet": dict(facenet) if facenet is not None else None,
        "threshold": float(threshold),
        "aggregation": aggregation,
        "seed": int(seed),
        "training": dict(training),
        "data": dict(data),
        "labels": {str(REAL): LABEL_NAMES[REAL], str(FAKE): LABEL_NAMES[FAKE]},
        "versions": package_versions(),
        **extra,
    }


# -- training helpers shared by every detector -------------------------------------------


@dataclasses.dataclass(frozen=True)
class TrainOptions:
    """What every detector's training takes besides its own config."""

    val_fraction: float = 0.15
    seed: int = 0
    strategy: str = "default"
    aggregation: str = "mean"
    run_dir: str | None = None  # checkpoints, history, TensorBoard; default: <out>/run

    def __post_init__(self):
        if not 0.0 <= self.val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in [0, 1), got {self.val_fraction}")
        if self.aggregation not in AGGREGATIONS:
            raise ValueError(f"unknown aggregation {self.aggregation!r}; valid: "
                             f"{', '.join(AGGREGATIONS)}")


@dataclasses.dataclass(frozen=True)
class VideoRow:
    """One video of a cache, as the train/val carve sees it."""

    video_id: str
    label: int
    split: str
    frames: int
    group: str  # identity group: videos sharing a person stay on one side


def carve_validation(videos: Sequence[VideoRow], val_fraction: float,
                     seed: int) -> tuple[set[str], set[str], str]:
    """``(train_ids, val_ids, how)`` over training videos with faces; never reads test.

    The cache's ``val`` split wins when it has one. Otherwise whole identity groups of
    ``train`` videos are held out (a fake and the real footage of its target person stay
    together, so validation measures manipulation rather than recognising a face), about
    ``val_fraction`` of each class, with at least one video of each class in validation.
    """
    # Not datasets.splits.carve_splits (index time), for a reason: that runs before faces
    # exist, by video counts, with the layout's key (Celeb-DF --group-by video too); this sees
    # only videos with faces, must leave both classes in train and groups by identity_group
    # (the people carve_splits' identity keys name). An index-time val split is used as is.
    usable = [v for v in videos if v.frames > 0]
    train = [v for v in usable if v.split == "train"]
    val = [v for v in usable if v.split == "val"]
    if val:
        warn_shared_identities({v.video_id: v.group for v in train},
                               {v.video_id: v.group for v in val}, "the cache's val split")
        return {v.video_id for v in train}, {v.video_id for v in val}, "manifest val split"
    if val_fraction <= 0 or len(train) < 2:
        return {v.video_id for v in train}, set(), "none"
    groups: dict[str, list[VideoRow]] = {}
    for v in train:
        groups.setdefault(v.group, []).append(v)
    rng = np.random.default_rng(seed)
    keys = sorted(groups)
    rng.shuffle(keys)
    totals = {label: sum(1 for v in train if v.label == label) for label in (REAL, FAKE)}
    targets = {label: max(1.0, val_fraction * n) if n >= 2 else 0.0 for label, n in totals.items()}
    taken = {REAL: 0, FAKE: 0}
    val_ids: set[str] = set()
    for key in keys:
        members = groups[key]
        counts = {label: sum(1 for v in members if v.label == label) for label in (REAL, FAKE)}
        helps = any(counts[c] and taken[c] < targets[c] for c in (REAL, FAKE))
        # A group may not empty a class in train, nor push a class far past its target.
        fits = all(taken[c] + counts[c] < totals[c] or counts[c] == 0 for c in (REAL, FAKE)) and \
            all(taken[c] + counts[c] <= max(targets[c] * 2, targets[c] + 1) for c in (REAL, FAKE))
        if helps and fits:
            val_ids.update(v.video_id for v in members)
            for c in (REAL, FAKE):
                taken[c] += counts[c]
    train_ids = {v.video_id for v in train} - val_ids
    grouped = len(groups) < len(train)
    how = (f"{val_fraction:g} of the train videos held out by "
           f"{'identity group' if grouped else 'video'}")
    if not val_ids:
        logger.warning("val_fraction=%s held out no videos: too few train groups", val_fraction)
        how = "none (too few train groups)"
    return train_ids, val_ids, how


def counts_of(videos: Sequence[VideoRow], ids: set[str]) -> dict[str, dict[str, int]]:
    rows = [v for v in videos if v.video_id in ids]
    return {
        "videos": {LABEL_NAMES[c]: sum(1 for v in rows if v.label == c) for c in (REAL, FAKE)},
        "frames": {LABEL_NAMES[c]: int(sum(v.frames for v in rows if v.label == c)) for c in (REAL, FAKE)},
    }


def require_both_classes(counts: Mapping[str, Any], where) -> None:
    missing = [name for name, n in counts["videos"].items() if n == 0]
    if missing:
        raise ValueError(f"{where}: no {' or '.join(missing)} training videos with faces; "
                         "a detector needs both classes")


# -- scores and evaluation ---------------------------------------------------------------


@dataclasses.dataclass
class Scores:
    """One variant's scores on a split: per frame (``level="frame"``; videos are the
    aggregation of their frames) or per video (``level="video"``)."""

    level: str
    labels: np.ndarray
    probabilities: np.ndarray
    video_ids: np.ndarray
    threshold: float
    aggregation: str = "mean"

    def video_scores(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(video_ids, labels, probabilities)``, one row per video."""
        if self.level == "video":
            return np.asarray(self.video_ids), np.asarray(self.labels), np.asarray(self.probabilities)
        ids, probs = aggregate_video_scores(self.probabilities, self.video_ids, how=self.aggregation)
        _, labels = aggregate_video_labels(self.labels, self.video_ids)
        return ids, labels, probs


class Detector(abc.ABC):
    """The interface every detector implements; register it in ``tfdeepfake.detectors``.

    Class attributes:

    - ``name``: registry key, also ``model.json``'s ``detector``;
    - ``source_kind``: the cache ``train`` and ``evaluate`` read, ``faces`` or
      ``embeddings``;
    - ``description``: one line for ``--help``.
    """

    name: ClassVar[str]
    source_kind: ClassVar[str]
    description: ClassVar[str] = ""
    config_class: ClassVar[type]  # the detector's training-config dataclass
    # Valid values of string training options (config fields and train() keywords), for --help.
    option_choices: ClassVar[Mapping[str, tuple[str, ...]]] = {}
    # --help text of ``train``'s own keyword options (beyond the config's fields).
    option_help: ClassVar[Mapping[str, str]] = {}

    def __init__(self, folder: ModelFolder, meta: dict[str, Any]):
        self.folder = folder
        self.meta = meta
        self.face_settings = face_settings_from(meta, folder.meta_path)
        if "threshold" in meta:
            require_unit_interval(meta, "threshold", folder.meta_path)
        self.aggregation = meta.get("aggregation", "mean")
        if self.aggregation not in AGGREGATIONS:
            raise ModelFolderError(f"{folder.meta_path}: key 'aggregation' should be one of "
                                   f"{', '.join(AGGREGATIONS)}, found {self.aggregation!r}")

    @property
    def path(self) -> Path:
        return self.folder.root

    # -- lifecycle ----------------------------------------------------------------

    @classmethod
    @abc.abstractmethod
    def train(cls, source: str | os.PathLike, out_dir: str | os.PathLike, config=None,
              options: TrainOptions = TrainOptions(), **kwargs) -> "Detector":
        """Train on the ``train`` (and ``val``) videos of ``source``, write the model folder
        ``out_dir`` (``model.json`` last) and return the loaded detector."""

    @classmethod
    @abc.abstractmethod
    def from_folder(cls, folder: ModelFolder, meta: dict[str, Any], **kwargs) -> "Detector":
        """Rebuild from a model folder whose ``model.json`` says ``detector: <name>``."""

    # -- scoring ------------------------------------------------------------------

    @property
    def variants(self) -> tuple[str, ...]:
        """Named variants a detector can score with (the triplet method's classifiers);
        one unnamed variant by default."""
        return (self.name,)

    @property
    def default_variant(self) -> str:
        return self.variants[0]

    def threshold(self, variant: str | None = None) -> float:
        return float(self.meta.get("threshold", 0.5))

    @property
    def frame_level(self) -> bool:
        """Whether ``score_faces`` gives one probability per face (else only per video)."""
        return True

    def score_faces(self, faces: np.ndarray, variant: str | None = None) -> np.ndarray:
        """Fake probability of each face crop ``[N, S, S, 3]`` uint8 -> ``[N]``."""
        raise NotImplementedError(f"{self.name} scores whole videos, not single faces")

    def score_video(self, faces: np.ndarray, variant: str | None = None) -> float:
        """Fake probability of a video from its face crops (in frame order)."""
        probs = self.score_faces(faces, variant)
        _, video = aggregate_video_scores(probs, np.zeros(len(probs), int), how=self.aggregation)
        return float(video[0])

    # What ``heat_map`` computes ("Grad-CAM", "occlusion"); None: the detector offers none.
    heat_map_kind: ClassVar[str | None] = None

    def heat_map(self, faces: np.ndarray, variant: str | None = None) -> np.ndarray:
        """Maps ``[N, S, S]`` in [0, 1] over face crops ``[N, S, S, 3]`` uint8: where each
        face drives the detector's output (``detect --report``'s heat maps)."""
        raise NotImplementedError(f"{self.name} offers no heat maps")

    @abc.abstractmethod
    def split_scores(self, source: str | os.PathLike, split: str) -> dict[str, Scores]:
        """Scores of every variant on ``split`` of a cache of ``source_kind``."""

    # -- provenance ---------------------------------------------------------------

    @property
    def random_init_facenet(self) -> bool:
        facenet = self.meta.get("facenet") or {}
        return bool(facenet.get("random_init", False))

    @property
    def facenet_label(self) -> str | None:
        """``"FaceNet 20170512-110547 (pretrained)"`` and the like; None without FaceNet."""
        recorded = self.meta.get("facenet")
        if not recorded:
            return None
        from tfdeepfake.models.facenet import FaceNetIdentity

        return FaceNetIdentity.from_dict(recorded).label()

    def describe(self) -> dict[str, Any]:
        """What reports and ``detect`` print about the model."""
        return {"detector": self.name, "path": str(self.path), "facenet": self.meta.get("facenet"),
                "threshold": self.threshold(), "aggregation": self.aggregation}
