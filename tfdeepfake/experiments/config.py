"""Experiment configs: one YAML file per poster experiment (``tfdeepfake/configs/*.yaml``),
validated into an ``ExperimentConfig``; ``quick.yaml`` holds the overrides of ``--quick``.

A config names a detector of the registry (``model: triplet | xception | lstm``), the cache
it trains on (``source: faces | embeddings``), the face settings (``extract``), the keys of
the detector's training config (``training``), extra keyword arguments of its ``train``
(``train``, e.g. ``features`` of the LSTM or ``max_train_frames`` of Xception), and what the
poster reported. Everything detector-specific a run needs is here, not in the runner.
Unknown keys raise ``ValueError`` naming the valid ones.
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
import os
from collections.abc import Iterable, Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from tfdeepfake.detectors import DETECTOR_NAMES, detector_class
from tfdeepfake.detectors.base import SOURCE_KINDS
from tfdeepfake.faces.detector import DetectorConfig
from tfdeepfake.faces.settings import FaceSettings

EXPERIMENTS = ("xception_celebdf", "lstm_celebdf", "xception_merged", "facenet_triplet_merged")
DATASETS = ("celebdf-v1", "celebdf-merged")
QUICK_CONFIG = "quick"

TOP_KEYS = ("name", "description", "model", "source", "dataset", "poster", "extract",
            "training", "train", "xception_weights", "data")
REQUIRED_KEYS = ("name", "model", "source", "dataset", "poster", "training")
DATA_KEYS = ("val_fraction",)
QUICK_KEYS = ("description", "synthetic", "index", "common", "experiments")
SYNTHETIC_KEYS = ("num_real", "num_fake", "v1_fraction", "test_fraction", "seconds", "fps",
                  "width", "height", "num_identities")
INDEX_KEYS = ("val_fraction", "group_by")
# Arguments of ``Detector.train`` the runner passes itself, never a config.
_RUNNER_ARGS = ("cls", "source", "out_dir", "config", "options", "weights")


@dataclasses.dataclass(frozen=True)
class PosterRow:
    """One row of the poster's experiments table, as published."""

    architecture: str
    dataset: str
    learning_rate: float
    epochs: int
    batch_size: int
    accuracy: float


@dataclasses.dataclass(frozen=True)
class ExperimentConfig:
    """One poster experiment: which detector to train on which data, and what the poster
    reported. ``training`` holds keys of the detector's ``config_class``; ``train`` extra
    keyword arguments of its ``train``; ``xception_weights`` whether the run's Xception
    weights file (ImageNet) is passed to it as ``weights``."""

    name: str
    model: str
    source: str
    dataset: str
    poster: PosterRow
    training: Mapping[str, Any]
    extract: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    train: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    xception_weights: bool = False
    data: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    description: str = ""
    origin: str = ""  # the file (and overrides) it was read from

    def face_settings(self) -> FaceSettings:
        return FaceSettings.from_dict(dict(self.extract))

    def training_config(self):
        return detector_class(self.model).config_class(**dict(self.training))

    @property
    def val_fraction(self) -> float:
        return float(self.data.get("val_fraction", 0.15))

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "model": self.model,
                "source": self.source, "dataset": self.dataset,
                "poster": dataclasses.asdict(self.poster),
                "extract": copy.deepcopy(dict(self.extract)),
                "training": copy.deepcopy(dict(self.training)),
                "train": copy.deepcopy(dict(self.train)),
                "xception_weights": bool(self.xception_weights), "data": dict(self.data)}


def check_keys(data: Any, valid: Iterable[str], where: str, required: Iterable[str] = ()) -> None:
    """``ValueError`` naming the valid keys for an unknown one, or the missing ones."""
    valid = list(valid)
    if not isinstance(data, Mapping):
        raise ValueError(f"{where}: expected a mapping with keys {', '.join(valid)}, "
                         f"got {type(data).__name__}")
    unknown = sorted(set(data) - set(valid))
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {', '.join(map(str, unknown))}; "
                         f"valid: {', '.join(valid)}")
    missing = [key for key in required if key not in data]
    if missing:
        raise ValueError(f"{where}: missing key(s) {', '.join(missing)}")


def check_choice(value: Any, valid: Sequence[str], where: str) -> None:
    if value not in valid:
        raise ValueError(f"{where}: unknown value {value!r}; valid: {', '.join(valid)}")


def train_arguments(model: str) -> list[str] | None:
    """Keyword arguments a config may give the detector's ``train`` (None: any)."""
    parameters = inspect.signature(detector_class(model).train).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return None
    return [p.name for p in parameters if p.name not in _RUNNER_ARGS
            and p.kind in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)]


def parse_experiment_config(data: Mapping[str, Any], where: str = "config") -> ExperimentConfig:
    """Validate a config mapping (as read from YAML) into an ``ExperimentConfig``."""
    check_keys(data, TOP_KEYS, where, REQUIRED_KEYS)
    check_choice(data["model"], DETECTOR_NAMES, f"{where}: model")
    check_choice(data["source"], SOURCE_KINDS, f"{where}: source")
    check_choice(data["dataset"], DATASETS, f"{where}: dataset")
    poster_fields = [f.name for f in dataclasses.fields(PosterRow)]
    check_keys(data["poster"], poster_fields, f"{where}: poster", poster_fields)
    poster = PosterRow(**data["poster"])
    if not 0.0 <= float(poster.accuracy) <= 1.0:
        raise ValueError(f"{where}: poster.accuracy is a fraction in [0, 1], got {poster.accuracy}")

    extract = dict(data.get("extract") or {})
    check_keys(extract, [f.name for f in dataclasses.fields(FaceSettings)], f"{where}: extract")
    if "detector" in extract:
        check_keys(extract["detector"], [f.name for f in dataclasses.fields(DetectorConfig)],
                   f"{where}: extract.detector")
    try:
        extract = FaceSettings.from_dict(extract).to_dict()  # fills the defaults, checks values
    except (TypeError, ValueError) as error:
        raise ValueError(f"{where}: extract: {error}") from error

    training = dict(data["training"] or {})
    config_class = detector_class(data["model"]).config_class
    check_keys(training, [f.name for f in dataclasses.fields(config_class)], f"{where}: training")
    try:
        config_class(**training)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{where}: training: {error}") from error

    train = dict(data.get("train") or {})
    valid_train = train_arguments(data["model"])
    if valid_train is not None:
        check_keys(train, valid_train, f"{where}: train (arguments of {data['model']}'s train)")
    xception_weights = data.get("xception_weights", False)
    if not isinstance(xception_weights, bool):
        raise ValueError(f"{where}: xception_weights should be true or false, got "
                         f"{xception_weights!r}")

    data_section = dict(data.get("data") or {})
    check_keys(data_section, DATA_KEYS, f"{where}: data")
    val = data_section.get("val_fraction", 0.15)
    if not isinstance(val, (int, float)) or not 0.0 <= float(val) < 1.0:
        raise ValueError(f"{where}: data.val_fraction must be in [0, 1), got {val!r}")
    return ExperimentConfig(name=str(data["name"]), model=data["model"], source=data["source"],
                            dataset=data["dataset"], poster=poster, training=training,
                            extract=extract, train=train, xception_weights=xception_weights,
                            data=data_section, description=str(data.get("description") or ""),
                            origin=where)


def config_dir() -> Path:
    """The folder of the shipped configs (package data ``tfdeepfake/configs``)."""
    return Path(str(resources.files("tfdeepfake").joinpath("configs")))


def _read_yaml(path: Path) -> Any:
    try:
        with open(path, encoding="utf-8") as handle:
            return yaml.safe_load(handle)
    except yaml.YAMLError as error:
        raise ValueError(f"{path}: invalid YAML ({error})") from error


def _config_path(name_or_path: str | os.PathLike) -> Path:
    text = os.fspath(name_or_path)
    if os.sep not in text and "/" not in text and not text.endswith((".yaml", ".yml")):
        path = config_dir() / f"{text}.yaml"
        if not path.is_file():
            shipped = sorted(p.stem for p in config_dir().glob("*.yaml") if p.stem != QUICK_CONFIG)
            raise ValueError(f"unknown experiment {text!r}; valid: {', '.join(shipped)} "
                             "(or the path of a YAML file)")
        return path
    path = Path(text)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: config file not found")
    return path


def load_experiment_config(name_or_path: str | os.PathLike) -> ExperimentConfig:
    """A shipped experiment by name (``xception_celebdf`` ...) or a YAML file, validated."""
    path = _config_path(name_or_path)
    return parse_experiment_config(_read_yaml(path) or {}, where=str(path))


def load_quick_overrides(path: str | os.PathLike | None = None) -> dict[str, Any]:
    """The ``--quick`` overrides (``configs/quick.yaml`` unless ``path``), validated."""
    path = Path(path) if path is not None else config_dir() / f"{QUICK_CONFIG}.yaml"
    data = _read_yaml(path) or {}
    where = str(path)
    check_keys(data, QUICK_KEYS, where)
    check_keys(data.get("synthetic") or {}, SYNTHETIC_KEYS, f"{where}: synthetic")
    check_keys(data.get("index") or {}, INDEX_KEYS, f"{where}: index")
    check_keys(data.get("common") or {}, TOP_KEYS, f"{where}: common")
    check_keys(data.get("experiments") or {}, EXPERIMENTS, f"{where}: experiments")
    for name, section in (data.get("experiments") or {}).items():
        check_keys(section or {}, TOP_KEYS, f"{where}: experiments.{name}")
    return data


def _deep_merge(base: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(dict(base))
    for key, value in (update or {}).items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def apply_overrides(config: ExperimentConfig, overrides: Mapping[str, Any],
                    where: str = "overrides") -> ExperimentConfig:
    """``config`` with ``overrides`` deep-merged in, validated again."""
    merged = _deep_merge(config.to_dict(), overrides)
    return parse_experiment_config(merged, where=f"{config.origin} + {where}")


def experiment_configs(names: Sequence[str] = EXPERIMENTS, quick: bool = False,
                       quick_overrides: Mapping[str, Any] | None = None) -> list[ExperimentConfig]:
    """The named experiments' configs, with the quick overrides applied when ``quick``."""
    overrides = ((quick_overrides if quick_overrides is not None else load_quick_overrides())
                 if quick else {})
    configs = []
    for name in names:
        config = load_experiment_config(name)
        if quick:
            config = apply_overrides(config, overrides.get("common") or {}, "quick.yaml common")
            config = apply_overrides(config, (overrides.get("experiments") or {}).get(name) or {},
                                     f"quick.yaml experiments.{name}")
        configs.append(config)
    return configs


__all__ = ["DATASETS", "EXPERIMENTS", "ExperimentConfig", "PosterRow", "apply_overrides",
           "check_choice", "check_keys", "config_dir", "experiment_configs",
           "load_experiment_config", "load_quick_overrides", "parse_experiment_config",
           "train_arguments"]
