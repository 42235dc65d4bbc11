"""Regenerate every table of the poster "Model to Detect Deep Fakes" with one call.

``reproduce(v1_root, v2_root, out_dir)`` indexes Celeb-DF v1 and v1 + v2 merged, extracts
faces (160 px crops for FaceNet, 299 px for Xception), embeds them with FaceNet, runs the
poster's four experiments from their configs (``tfdeepfake/configs/*.yaml``), evaluates
each on the official test lists, and writes ``out_dir/poster_tables.md``: the poster's
numbers beside ours, for the experiments table and the Measures table, with figures and
``poster_results.json`` (everything, with seed, versions and per-step timings).

Every step skips work already done (caches are resumable; a model folder is finished once
its record file is written; an evaluation once its results file is), so rerunning the
same call after a crash continues where it stopped. A model interrupted mid-training is
trained again from the start.

``quick=True`` runs the same steps on generated videos laid out like Celeb-DF v1 and v2
(``tfdeepfake.synthetic``), with the tiny sizes and epochs of ``configs/quick.yaml``: a
smoke test of the machinery in minutes on 2 CPU cores, **not** a reproduction; every
output says so.

Configs: one YAML file per experiment (``load_experiment_config``); unknown keys raise
``ValueError`` naming the valid ones.
"""

from __future__ import annotations

import contextlib
import copy
import csv
import dataclasses
import gc
import hashlib
import inspect
import json
import logging
import math
import os
import shutil
import time
from collections.abc import Iterable, Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any, Callable

import yaml

from tfdeepfake.faces.settings import FaceSettings
from tfdeepfake.constants import DEFAULT_SEED, FAKE, REAL
from tfdeepfake.faces.detector import DetectorConfig
from tfdeepfake.provenance import json_ready, package_versions

logger = logging.getLogger(__name__)

# -- configs ------------------------------------------------------------------------------

EXPERIMENTS = ("xception_celebdf", "lstm_celebdf", "xception_merged", "facenet_triplet_merged")
MODELS = ("xception", "lstm", "facenet_triplet")
DATASETS = ("celebdf-v1", "celebdf-merged")
LSTM_FEATURES = ("xception", "facenet")
QUICK_CONFIG = "quick"

_TOP_KEYS = ("name", "description", "model", "features", "dataset", "poster", "extract",
             "training", "data")
_REQUIRED_KEYS = ("name", "model", "dataset", "poster", "training")
_DATA_KEYS = ("max_train_frames", "val_fraction")
_QUICK_KEYS = ("description", "synthetic", "index", "common", "experiments")
_SYNTHETIC_KEYS = ("num_real", "num_fake", "v1_fraction", "test_fraction", "seconds", "fps",
                   "width", "height", "num_identities")
_INDEX_KEYS = ("val_fraction", "group_by")

# Index settings of a full run: validation carved out of Celeb-DF's train videos, whole
# target identities at a time (a fake goes with the real footage it reuses).
DEFAULT_INDEX_OPTIONS = {"val_fraction": 0.1, "group_by": "identity"}


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
    """One poster experiment: what to train on which data, and what the poster reported.

    ``extract`` holds ``FaceSettings`` keys, ``training`` the keys of the model's
    training config (``XceptionTrainingConfig``, ``LSTMTrainingConfig`` or
    ``TripletTrainingConfig``), ``data`` ``max_train_frames`` and ``val_fraction``.
    """

    name: str
    model: str
    dataset: str
    poster: PosterRow
    training: Mapping[str, Any]
    extract: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    data: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    features: str | None = None
    description: str = ""
    source: str = ""

    def extract_config(self) -> FaceSettings:
        return FaceSettings.from_dict(dict(self.extract))

    def training_config(self):
        return _training_class(self.model)(**dict(self.training))

    @property
    def val_fraction(self) -> float:
        return float(self.data.get("val_fraction", 0.15))

    def to_dict(self) -> dict[str, Any]:
        out = {"name": self.name, "description": self.description, "model": self.model,
               "dataset": self.dataset, "poster": dataclasses.asdict(self.poster),
               "extract": copy.deepcopy(dict(self.extract)),
               "training": copy.deepcopy(dict(self.training)), "data": dict(self.data)}
        if self.features is not None:
            out["features"] = self.features
        return out


def _training_class(model: str):
    if model == "facenet_triplet":
        from tfdeepfake.models.train_triplet import TripletTrainingConfig

        return TripletTrainingConfig
    from tfdeepfake.models.train_baselines import LSTMTrainingConfig, XceptionTrainingConfig

    return XceptionTrainingConfig if model == "xception" else LSTMTrainingConfig


def _check_keys(data: Any, valid: Iterable[str], where: str, required: Iterable[str] = ()) -> None:
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


def _check_choice(value: Any, valid: Sequence[str], where: str) -> None:
    if value not in valid:
        raise ValueError(f"{where}: unknown value {value!r}; valid: {', '.join(valid)}")


def parse_experiment_config(data: Mapping[str, Any], where: str = "config") -> ExperimentConfig:
    """Validate a config mapping (as read from YAML) into an ``ExperimentConfig``."""
    _check_keys(data, _TOP_KEYS, where, _REQUIRED_KEYS)
    _check_choice(data["model"], MODELS, f"{where}: model")
    _check_choice(data["dataset"], DATASETS, f"{where}: dataset")
    features = data.get("features")
    if data["model"] == "lstm":
        _check_choice(features, LSTM_FEATURES, f"{where}: features (needed by model lstm)")
    elif features is not None:
        raise ValueError(f"{where}: features is only used with model lstm")
    poster_fields = [f.name for f in dataclasses.fields(PosterRow)]
    _check_keys(data["poster"], poster_fields, f"{where}: poster", poster_fields)
    poster = PosterRow(**data["poster"])
    if not 0.0 <= float(poster.accuracy) <= 1.0:
        raise ValueError(f"{where}: poster.accuracy is a fraction in [0, 1], got {poster.accuracy}")

    extract = dict(data.get("extract") or {})
    extract_fields = [f.name for f in dataclasses.fields(FaceSettings)]
    _check_keys(extract, extract_fields, f"{where}: extract")
    if "detector" in extract:
        _check_keys(extract["detector"], [f.name for f in dataclasses.fields(DetectorConfig)],
                    f"{where}: extract.detector")
    try:
        extract = FaceSettings.from_dict(extract).to_dict()  # fills the defaults, checks values
    except (TypeError, ValueError) as error:
        raise ValueError(f"{where}: extract: {error}") from error

    training = dict(data["training"] or {})
    cls = _training_class(data["model"])
    _check_keys(training, [f.name for f in dataclasses.fields(cls)], f"{where}: training")
    if data["model"] == "lstm" and features == "facenet":
        for key in ("extractor_input_size", "extractor_weights"):
            if key in training:
                raise ValueError(f"{where}: training.{key} is unused with features facenet")
    try:
        cls(**training)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{where}: training: {error}") from error

    data_section = dict(data.get("data") or {})
    _check_keys(data_section, _DATA_KEYS, f"{where}: data")
    frames = data_section.get("max_train_frames")
    if frames is not None and (not isinstance(frames, int) or frames < 2):
        raise ValueError(f"{where}: data.max_train_frames must be an integer >= 2 or null")
    if frames is not None and data["model"] != "xception":
        raise ValueError(f"{where}: data.max_train_frames is only used with model xception")
    val = data_section.get("val_fraction", 0.15)
    if not 0.0 <= float(val) < 1.0:
        raise ValueError(f"{where}: data.val_fraction must be in [0, 1), got {val}")
    return ExperimentConfig(name=str(data["name"]), model=data["model"], dataset=data["dataset"],
                            poster=poster, training=training, extract=extract, data=data_section,
                            features=features, description=str(data.get("description") or ""),
                            source=where)


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
    _check_keys(data, _QUICK_KEYS, where)
    _check_keys(data.get("synthetic") or {}, _SYNTHETIC_KEYS, f"{where}: synthetic")
    _check_keys(data.get("index") or {}, _INDEX_KEYS, f"{where}: index")
    _check_keys(data.get("common") or {}, _TOP_KEYS, f"{where}: common")
    _check_keys(data.get("experiments") or {}, EXPERIMENTS, f"{where}: experiments")
    for name, section in (data.get("experiments") or {}).items():
        _check_keys(section or {}, _TOP_KEYS, f"{where}: experiments.{name}")
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
    return parse_experiment_config(merged, where=f"{config.source} + {where}")


def experiment_configs(names: Sequence[str] = EXPERIMENTS, quick: bool = False,
                       quick_overrides: Mapping[str, Any] | None = None) -> list[ExperimentConfig]:
    """The named experiments' configs, with the quick overrides applied when ``quick``."""
    configs = []
    overrides = (quick_overrides if quick_overrides is not None else load_quick_overrides()) if quick else {}
    for name in names:
        config = load_experiment_config(name)
        if quick:
            config = apply_overrides(config, overrides.get("common") or {}, "quick.yaml common")
            config = apply_overrides(config, (overrides.get("experiments") or {}).get(name) or {},
                                     f"quick.yaml experiments.{name}")
        configs.append(config)
    return configs


# -- generated stand-in for Celeb-DF (quick mode) ----------------------------------------

QUICK_NOTE = (
    "QUICK MODE: a smoke test on GENERATED videos (face photos shipped with scikit-image and "
    "matplotlib, rendered as moving clips; fakes are face swaps between them), laid out like "
    "Celeb-DF v1 and v2, with a few videos, tiny epochs and small images. It shows that every "
    "step runs end to end. It is NOT a reproduction of the poster, and its numbers say nothing "
    "about Celeb-DF or about the methods.")
RANDOM_FACENET_NOTE = (
    "FaceNet was RANDOMLY INITIALISED (no weights file was found): its embeddings are not face "
    "descriptors, so the 'FaceNet + metric learning' numbers do not measure the poster's method. "
    "Pass --facenet-weights 20180402-114759-weights.h5 (keras-facenet's model).")
RANDOM_XCEPTION_NOTE = (
    "XceptionNet (classifier and the LSTM's frame features) started from RANDOM weights: no "
    "ImageNet weights file was given (--xception-weights "
    "xception_weights_tf_dim_ordering_tf_kernels_notop.h5).")


def _evenly_spaced(count: int, fraction: float) -> list[int]:
    """``round(fraction * count)`` positions (at least one when possible) spread over range(count)."""
    if count == 0 or fraction <= 0:
        return []
    n = min(count - 1 if count > 1 else count, max(1, int(round(fraction * count))))
    return sorted({int(math.floor((i + 0.5) * count / n)) for i in range(n)})


def _link_or_copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        target.unlink()
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def quick_layout_is_current(root: str | os.PathLike, settings: Mapping[str, Any]) -> bool:
    """Whether ``root`` holds the generated Celeb-DF stand-in made with ``settings``."""
    marker = Path(root) / "layout.json"
    if not marker.is_file():
        return False
    return json.loads(marker.read_text("utf-8")).get("settings") == json.loads(json.dumps(dict(settings)))


def make_quick_celebdf(
    root: str | os.PathLike,
    *,
    num_real: int = 12,
    num_fake: int = 12,
    v1_fraction: float = 0.5,
    test_fraction: float = 0.34,
    seconds: float = 1.0,
    fps: float = 8.0,
    width: int = 160,
    height: int = 120,
    num_identities: int = 6,
    seed: int = DEFAULT_SEED,
    workers: int = 1,
) -> tuple[Path, Path]:
    """Generated clips laid out as two Celeb-DF trees; returns ``(v1_root, v2_root)``.

    Real clips become ``Celeb-real/id<t>_<n>.mp4`` (every fourth ``YouTube-real/<n>.mp4``),
    fakes ``Celeb-synthesis/id<t>_id<s>_<n>.mp4`` (target t, swapped-in source s). The first
    ``v1_fraction`` of each class makes up v1; v2 holds every clip, v1's under the same
    paths, as the real v2 holds v1's videos. Each tree has a ``List_of_testing_videos.txt``
    (1 = real there, as in Celeb-DF); v2's list includes v1's. Reused when
    ``root/layout.json`` records the same settings.
    """
    from tfdeepfake.synthetic.dataset import make_synthetic_dataset

    root = Path(root)
    settings = {"num_real": num_real, "num_fake": num_fake, "v1_fraction": v1_fraction,
                "test_fraction": test_fraction, "seconds": seconds, "fps": fps, "width": width,
                "height": height, "num_identities": num_identities, "seed": seed}
    v1_root, v2_root = root / "Celeb-DF", root / "Celeb-DF-v2"
    marker = root / "layout.json"
    if quick_layout_is_current(root, settings):
        logger.info("generated Celeb-DF stand-in in %s reused", root)
        return v1_root, v2_root
    for tree in (v1_root, v2_root, root / "generated"):
        if tree.exists():
            shutil.rmtree(tree)
    generated = make_synthetic_dataset(root / "generated", num_real=num_real, num_fake=num_fake,
                                       seconds=seconds, fps=fps, size=(width, height), seed=seed,
                                       num_identities=num_identities, workers=workers)
    info: dict[str, dict] = {}
    meta_path = Path(generated) / "synthetic.json"
    if meta_path.is_file():
        info = {v["path"]: v for v in json.loads(meta_path.read_text("utf-8")).get("videos", [])}
    identities: dict[str, str] = {}

    def identity(name: str) -> str:
        return identities.setdefault(name, f"id{len(identities)}")

    clips: dict[int, list[tuple[Path, str]]] = {REAL: [], FAKE: []}
    for i, path in enumerate(sorted((Path(generated) / "real").glob("*.mp4"))):
        target = identity(str(info.get(f"real/{path.name}", {}).get("identity") or f"real-{i}"))
        rel = f"YouTube-real/{i:05d}.mp4" if i % 4 == 3 else f"Celeb-real/{target}_{i:04d}.mp4"
        clips[REAL].append((path, rel))
    for i, path in enumerate(sorted((Path(generated) / "fake").glob("*.mp4"))):
        meta = info.get(f"fake/{path.name}", {})
        target = identity(str(meta.get("identity") or f"target-{i}"))
        source = identity(str(meta.get("source_identity") or f"source-{i}"))
        clips[FAKE].append((path, f"Celeb-synthesis/{target}_{source}_{i:04d}.mp4"))

    tests: dict[str, list[tuple[int, str]]] = {"v1": [], "v2": []}
    members: dict[str, list[tuple[Path, str]]] = {"v1": [], "v2": []}
    for label, items in clips.items():
        n_v1 = max(1, int(round(v1_fraction * len(items)))) if items else 0
        v1_items, v2_only = items[:n_v1], items[n_v1:]
        v1_test = [(label, v1_items[i][1]) for i in _evenly_spaced(len(v1_items), test_fraction)]
        v2_test = [(label, v2_only[i][1]) for i in _evenly_spaced(len(v2_only), test_fraction)]
        members["v1"] += v1_items
        members["v2"] += items
        tests["v1"] += v1_test
        tests["v2"] += v1_test + v2_test
    for version, tree in (("v1", v1_root), ("v2", v2_root)):
        for source_path, rel in members[version]:
            _link_or_copy(source_path, tree / rel)
        lines = [f"{1 if label == REAL else 0} {rel}" for label, rel in sorted(tests[version], key=lambda t: t[1])]
        (tree / "List_of_testing_videos.txt").write_text("\n".join(lines) + "\n", "utf-8")
    marker.write_text(json.dumps({"settings": settings, "identities": identities,
                                  "v1_root": str(v1_root), "v2_root": str(v2_root)}, indent=2),
                      "utf-8")
    logger.info("generated Celeb-DF stand-in: v1 %d clips, v2 %d clips in %s",
                len(members["v1"]), len(members["v2"]), root)
    return v1_root, v2_root


# -- step bookkeeping ---------------------------------------------------------------------


class _Steps:
    """Per-step wall time, status (done / skipped / failed) and a detail line."""

    def __init__(self, on_step: Callable[[dict], None] | None = None):
        self.rows: list[dict[str, Any]] = []
        self.on_step = on_step

    @contextlib.contextmanager
    def run(self, name: str):
        row = {"step": name, "status": "done", "seconds": 0.0, "detail": ""}
        started = time.perf_counter()
        try:
            yield row
        except BaseException:
            row["status"] = "failed"
            raise
        finally:
            row["seconds"] = round(time.perf_counter() - started, 2)
            self.rows.append(row)
            logger.info("step %-40s %-8s %8.1f s  %s", name, row["status"], row["seconds"], row["detail"])
            if self.on_step:
                self.on_step(dict(row))


def _short_hash(value: Any) -> str:
    return hashlib.sha1(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:8]


def _check_record(path: Path, wanted: dict, what: str) -> None:
    """Write ``wanted`` to ``path`` or check that an earlier run wrote the same."""
    if path.is_file():
        found = json.loads(path.read_text("utf-8"))
        if found != json.loads(json.dumps(wanted, default=str)):
            changed = sorted(k for k in set(found) | set(wanted) if found.get(k) != wanted.get(k))
            raise ValueError(f"{path.parent}: made by an earlier run with other settings "
                             f"({', '.join(changed)} differ) for {what}; use another output "
                             "folder or delete this one")
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(wanted, indent=2, sort_keys=True, default=str), "utf-8")


# -- the run ------------------------------------------------------------------------------


def _facenet_embedder(facenet_weights, seed: int):
    from tfdeepfake.models.facenet import (WeightsNotFoundError, build_facenet_embedder,
                                           resolve_facenet_weights)

    if facenet_weights is not None:
        return build_facenet_embedder(weights_path=facenet_weights)
    try:
        resolve_facenet_weights(None)
    except WeightsNotFoundError as error:
        logger.warning("no FaceNet weights (%s); using a RANDOMLY INITIALISED FaceNet. %s",
                       error, RANDOM_FACENET_NOTE)
        return build_facenet_embedder(random_init=True, seed=seed)
    return build_facenet_embedder()


def _read_json(path: Path) -> dict:
    return json.loads(path.read_text("utf-8"))


def _baseline_scores_csv(path: Path):
    import numpy as np

    with open(path, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return (np.asarray([int(r["label"]) for r in rows]),
            np.asarray([float(r["fake_probability"]) for r in rows]))


def _facenet_video_curves(bundle_dir: Path, embeddings: Path, split: str = "test") -> dict:
    from tfdeepfake.bundle import load_bundle
    from tfdeepfake.cache.embeddings import load_embedding_table
    from tfdeepfake.method import head_outputs
    from tfdeepfake.scoring import aggregate_video_labels, aggregate_video_scores

    bundle = load_bundle(bundle_dir)
    table = load_embedding_table(embeddings, splits=(split,))
    outputs = head_outputs(bundle.head, table.embeddings)
    curves = {}
    for name in ("sgd", "rf"):
        if name in bundle.classifiers:
            probs = bundle.classifiers[name].predict_proba_fake(outputs)
            _, video_probs = aggregate_video_scores(probs, table.video_ids, how=bundle.aggregation)
            _, video_labels = aggregate_video_labels(table.labels, table.video_ids)
            curves[f"FaceNet + triplets + {name.upper()}"] = (video_labels, video_probs)
    return curves


@dataclasses.dataclass
class _Context:
    out_dir: Path
    strategy: str
    xception_weights: str | None
    note: str | None
    steps: _Steps
    caches: dict[str, Path]
    embeddings: Path | None
    embedder: Any
    extract_configs: dict[str, FaceSettings]


def _run_baseline(config: ExperimentConfig, ctx: _Context) -> dict:
    from tfdeepfake.baselines import (BASELINE_FILE, RESULTS_FILE, evaluate_baseline,
                                      train_lstm_baseline, train_xception_baseline)

    exp_dir = ctx.out_dir / "experiments" / config.name
    model_dir, eval_dir = exp_dir / "model", exp_dir / "evaluation"
    uses_embeddings = config.model == "lstm" and config.features == "facenet"
    source = ctx.embeddings if uses_embeddings else ctx.caches[config.name]
    weights = ctx.xception_weights if not uses_embeddings else None
    _check_record(exp_dir / "experiment.json",
                  {"config": config.to_dict(), "source": Path(source).name,
                   "xception_weights": weights}, config.name)
    with ctx.steps.run(f"train {config.name}") as row:
        if (model_dir / BASELINE_FILE).is_file():
            row.update(status="skipped", detail="finished by an earlier run")
        else:
            for stale in (eval_dir, exp_dir / "gradcam"):  # made from an unfinished model
                if stale.exists():
                    shutil.rmtree(stale)
            if config.model == "xception":
                meta = train_xception_baseline(
                    source, model_dir, config.training_config(), strategy_name=ctx.strategy,
                    val_fraction=config.val_fraction, weights=weights,
                    max_train_frames=config.data.get("max_train_frames"))
            else:
                meta = train_lstm_baseline(
                    source, model_dir, config.training_config(), features=config.features,
                    strategy_name=ctx.strategy, val_fraction=config.val_fraction, weights=weights)
            row["detail"] = f"{meta['epochs_run']} epochs (best {meta['best_epoch']})"
    meta = _read_json(model_dir / BASELINE_FILE)
    with ctx.steps.run(f"evaluate {config.name}") as row:
        if (eval_dir / RESULTS_FILE).is_file():
            row.update(status="skipped", detail="finished by an earlier run")
            results = _read_json(eval_dir / RESULTS_FILE)
        else:
            results = evaluate_baseline(model_dir, source, eval_dir, split="test", note=ctx.note)
        row["detail"] = (f"video accuracy {results['video']['accuracy']:.3f} on "
                         f"{results['video']['n']} test videos")
    labels, probs = _baseline_scores_csv(eval_dir / "video_scores.csv")
    return {"meta": meta, "results": results, "model_dir": str(model_dir),
            "evaluation_dir": str(eval_dir),
            "headline": dict(results["video"]), "frame": results.get("frame"),
            "curves": {config.poster.architecture: (labels, probs)}}


def _run_facenet(config: ExperimentConfig, ctx: _Context) -> dict:
    from tfdeepfake.bundle import BUNDLE_FILE, load_bundle
    from tfdeepfake.method import evaluate_bundle, train_method

    exp_dir = ctx.out_dir / "experiments" / config.name
    model_dir, run_dir, eval_dir = exp_dir / "model", exp_dir / "run", exp_dir / "evaluation"
    _check_record(exp_dir / "experiment.json",
                  {"config": config.to_dict(), "source": ctx.embeddings.name,
                   "xception_weights": None}, config.name)
    with ctx.steps.run(f"train {config.name}") as row:
        if (model_dir / BUNDLE_FILE).is_file():
            row.update(status="skipped", detail="finished by an earlier run")
        else:
            if eval_dir.exists():
                shutil.rmtree(eval_dir)
            result = train_method(ctx.embeddings, model_dir, run_dir, ctx.embedder,
                                  ctx.extract_configs[config.name],
                                  training_config=config.training_config(),
                                  default_classifier="rf", val_fraction=config.val_fraction,
                                  threshold="fixed")
            epochs = len(next(iter(result.history.values()), []))
            row["detail"] = f"{epochs} epochs; KNN, SGD, RF fitted"
    with ctx.steps.run(f"evaluate {config.name}") as row:
        metrics_path = eval_dir / "metrics.json"
        if metrics_path.is_file():
            row.update(status="skipped", detail="finished by an earlier run")
            results = _read_json(metrics_path)
        else:
            results = evaluate_bundle(load_bundle(model_dir), ctx.embeddings, eval_dir, split="test",
                                      poster_comparison=True, note=ctx.note)
            results = _read_json(metrics_path)  # the same numbers, NaN as null
        rf = results["rf"]["video"]
        row["detail"] = f"RF video accuracy {rf['accuracy']:.3f} on {rf['n']} test videos"
    meta = _read_json(model_dir / BUNDLE_FILE)
    return {"meta": {k: meta.get(k) for k in ("embedder", "training", "thresholds", "aggregation",
                                             "default_classifier", "head")},
            "results": results, "model_dir": str(model_dir), "evaluation_dir": str(eval_dir),
            "headline": results["rf"]["video"], "frame": results["rf"]["frame"],
            "curves": _facenet_video_curves(model_dir, ctx.embeddings)}


def _gradcam_step(configs: list[ExperimentConfig], ctx: _Context, manifests: dict) -> dict | None:
    from tfdeepfake.baselines import BASELINE_FILE, explain_video

    candidates = [c for c in configs if c.model == "xception"]
    if not candidates:
        return None
    config = next((c for c in candidates if c.name == "xception_merged"), candidates[0])
    model_dir = ctx.out_dir / "experiments" / config.name / "model"
    out = ctx.out_dir / "experiments" / config.name / "gradcam"
    test = [r for r in manifests[config.dataset] if r.split == "test"]
    chosen = [next((r for r in test if r.label == label), None) for label in (FAKE, REAL)]
    outputs = []
    with ctx.steps.run(f"grad-cam ({config.name})") as row:
        if not (model_dir / BASELINE_FILE).is_file():
            row.update(status="skipped", detail="no trained model")
            return None
        reused = 0
        for record in (r for r in chosen if r is not None):
            summary_path = out / f"{record.full_path.stem}_explain.json"
            if summary_path.is_file():
                outputs.append(_read_json(summary_path))
                reused += 1
                continue
            try:
                outputs.append(explain_video(record.full_path, model_dir, out,
                                             num_frames=min(8, int(config.extract["num_frames"]))))
            except (OSError, RuntimeError, ValueError) as error:
                logger.warning("Grad-CAM of %s failed: %s", record.full_path, error)
        if not outputs:
            row.update(status="failed", detail="no face could be explained")
        elif reused == len(outputs):
            row["status"] = "skipped"
        row["detail"] = row["detail"] or f"{len(outputs)} videos -> {out}"
    return {"experiment": config.name, "videos": outputs}


def _fmt_pct(value) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{100 * value:.1f}%"


def _fmt_num(value, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.{digits}f}"


def _with_poster(ours, poster) -> str:
    ours_text = f"{ours:g}" if isinstance(ours, float) else str(ours)
    return ours_text if ours == poster else f"{ours_text} (poster {poster:g})"


def _experiment_rows(configs: list[ExperimentConfig], runs: dict, quick: bool) -> list[str]:
    lines = ["| Architecture | Dataset | Learning rate | Epochs | Batch | Accuracy (poster) "
             "| Accuracy (ours) | Video AUC (ours) |",
             "|---|---|---|---|---|---|---|---|"]
    for config in configs:
        run = runs.get(config.name)
        training = config.training_config()
        headline = run["headline"] if run else {}
        dataset = config.poster.dataset + (" (generated stand-in)" if quick else "")
        architecture = config.poster.architecture + (" ¹" if config.model == "facenet_triplet" else "")
        lines.append(
            f"| {architecture} | {dataset} | {_with_poster(training.learning_rate, config.poster.learning_rate)} "
            f"| {_with_poster(training.epochs, config.poster.epochs)} "
            f"| {_with_poster(training.batch_size, config.poster.batch_size)} "
            f"| {_fmt_pct(config.poster.accuracy)} | {_fmt_pct(headline.get('accuracy'))} "
            f"| {_fmt_num(headline.get('auc'))} |")
    return lines


def _detail_rows(configs: list[ExperimentConfig], runs: dict) -> list[str]:
    lines = ["| Experiment | Train videos (real/fake) | Val videos | Test videos (real/fake) "
             "| Epochs run (best) | Frame accuracy | Frame AUC | Video EER | Video AP |",
             "|---|---|---|---|---|---|---|---|---|"]
    for config in configs:
        run = runs.get(config.name)
        if not run:
            lines.append(f"| {config.name} | not run | | | | | | | |")
            continue
        meta, video, frame = run["meta"], run["headline"], run.get("frame") or {}
        if config.model == "facenet_triplet":
            data = meta["training"]["data"]
            train = data["train"].get("train", {})
            val = sum(v.get("videos", 0) for v in data.get("val", {}).values())
            train_text = (f"{train.get('videos', 0)} videos ({train.get('frames', 0)} frames, "
                          f"{train.get('fake_frames', 0)} fake)")
            history = Path(run["model_dir"]).parent / "run" / "history.csv"
            epochs = max(0, len(history.read_text().splitlines()) - 1) if history.is_file() else "?"
            epochs_text = f"{epochs}"
        else:
            data = meta["data"]
            train_text = f"{data['train']['videos']['real']}/{data['train']['videos']['fake']}"
            val = sum(data["val"]["videos"].values())
            epochs_text = f"{meta['epochs_run']} ({meta['best_epoch']})"
        lines.append(
            f"| {config.name} | {train_text} | {val} | {video.get('n_real')}/{video.get('n_fake')} "
            f"| {epochs_text} | {_fmt_pct(frame.get('accuracy')) if frame else '—'} "
            f"| {_fmt_num(frame.get('auc')) if frame else '—'} | {_fmt_num(video.get('eer'))} "
            f"| {_fmt_num(video.get('average_precision'))} |")
    return lines


POSTER_READING = (
    "The poster's Measures are consistent with a balanced test set of 24 videos (12 real, "
    "12 fake), or a multiple of it: accuracy 0.875, precision 0.8 and recall 1.0 give 12 true "
    "positives, 3 false positives, 9 true negatives and no false negative, and both AUCs are "
    "multiples of 1/144 = 1/(12 x 12) (137/144 = 0.95139, 138/144 = 0.95833). No smaller set "
    "fits all five numbers. On so few videos one video moves accuracy by about 4 points.")


def _write_tables(path: Path, summary: dict, configs: list[ExperimentConfig], runs: dict) -> None:
    from tfdeepfake.evaluation.report import measures_table

    lines = ["# Poster \"Model to Detect Deep Fakes\": the poster's numbers beside ours", ""]
    for note in summary["notes"]:
        lines += [f"> **{note.split(':')[0]}:**{':'.join(note.split(':')[1:])}", ""]
    lines += ["## Experiments", ""]
    lines += _experiment_rows(configs, runs, summary["quick"])
    lines += ["",
              "Learning rate, epochs and batch are ours, with the poster's in brackets where they "
              "differ. Accuracy (ours) and video AUC are on the test videos (Celeb-DF's official "
              "test lists; merged: the union of both lists), at threshold 0.5 on a video's "
              "score: the mean of its frames' fake probabilities (the LSTM gives one per video). "
              "Validation videos come from the training split only.",
              "",
              "¹ Ours: Triplets + RF; the Measures table below has SGD and RF.",
              "", "### Our runs in detail", ""]
    lines += _detail_rows(configs, runs)
    facenet = next((runs[c.name] for c in configs if c.model == "facenet_triplet" and c.name in runs), None)
    if facenet:
        results = {k: v for k, v in facenet["results"].items() if k in ("sgd", "rf")}
        lines += ["", "## Measures: FaceNet + metric learning (video level, test split)", "",
                  measures_table(results, level="video", poster_comparison=True).rstrip(), "",
                  "Frame level (ours only; the poster gives video-level numbers):", "",
                  measures_table(results, level="frame").rstrip(), "",
                  "The poster reports no EER or AP (—).", "",
                  "### Reading the poster's numbers", "", POSTER_READING]
    lines += ["", "## Figures", ""]
    for name, figure in summary["figures"].items():
        lines.append(f"- {name}: `{figure}`")
    lines += ["", "## Steps and timings", "", "| Step | Status | Seconds | Detail |", "|---|---|---|---|"]
    for row in summary["timings"]:
        lines.append(f"| {row['step']} | {row['status']} | {row['seconds']:.1f} | {row['detail']} |")
    lines += ["", f"Total: {summary['seconds']:.1f} s. Seed {summary['seed']}; strategy "
                  f"{summary['strategy']}; tfdeepfake {summary['versions'].get('tfdeepfake')}, "
                  f"TensorFlow {summary['versions'].get('tensorflow')}, Python "
                  f"{summary['versions'].get('python')}. Everything: `{summary['json']}`.", ""]
    path.write_text("\n".join(lines), "utf-8")


def reproduce(
    celebdf_v1_root: str | os.PathLike | None,
    celebdf_v2_root: str | os.PathLike | None,
    out_dir: str | os.PathLike,
    facenet_weights: str | os.PathLike | None = None,
    quick: bool = False,
    workers: int = 1,
    strategy: str = "default",
    *,
    seed: int = DEFAULT_SEED,
    xception_weights: str | os.PathLike | None = None,
    experiments: Sequence[str] | None = None,
    on_step: Callable[[dict], None] | None = None,
) -> dict:
    """Run the poster's experiments and write ``out_dir/poster_tables.md``; returns the summary
    (also in ``out_dir/poster_results.json``).

    ``celebdf_v1_root`` / ``celebdf_v2_root``: the Celeb-DF (v1) and Celeb-DF-v2 folders
    (ignored with ``quick``). ``facenet_weights``: keras-facenet's weights file; without it
    keras-facenet's cache is searched, and a random-init FaceNet is used (and reported) when
    there is none. ``xception_weights``: ``"imagenet"`` or Keras' no-top ImageNet file for
    the Xception models (default random init). ``workers``: face-extraction processes.
    ``strategy``: ``default``, ``mirrored`` or ``multiworker`` for the Xception and LSTM
    training. ``experiments``: a subset of ``EXPERIMENTS``. ``on_step`` is called with each
    finished step's timing row.
    """
    from tfdeepfake.cache.extract import run_extract
    from tfdeepfake.datasets import build_index, split_counts, write_manifest
    from tfdeepfake.evaluation.report import POSTER_RESULTS, POSTER_SOURCE
    from tfdeepfake.models.strategy import STRATEGIES

    started = time.perf_counter()
    names = tuple(experiments or EXPERIMENTS)
    for name in names:
        _check_choice(name, EXPERIMENTS, "experiments")
    _check_choice(strategy, STRATEGIES, "strategy")
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    overrides = load_quick_overrides() if quick else {}
    configs = experiment_configs(names, quick=quick, quick_overrides=overrides)
    index_options = {**DEFAULT_INDEX_OPTIONS, **(overrides.get("index") or {})}
    datasets = sorted({c.dataset for c in configs})
    _check_record(out_dir / "run.json", {"quick": bool(quick), "seed": int(seed),
                                         "index": index_options}, "this output folder")
    steps = _Steps(on_step)
    notes = [QUICK_NOTE] if quick else []
    versions = package_versions()
    logger.info("reproducing %s into %s%s", ", ".join(names), out_dir, " (QUICK smoke test)" if quick else "")

    # 1. data
    if quick:
        with steps.run("generate videos (quick)") as row:
            synthetic = dict(overrides.get("synthetic") or {})
            defaults = {k: p.default for k, p in inspect.signature(make_quick_celebdf).parameters.items()
                        if k in _SYNTHETIC_KEYS}
            if quick_layout_is_current(out_dir / "quick_data", {**defaults, **synthetic, "seed": seed}):
                row["status"] = "skipped"
            v1_root, v2_root = make_quick_celebdf(out_dir / "quick_data", seed=seed, workers=workers,
                                                  **synthetic)
            row["detail"] = f"Celeb-DF-like trees in {out_dir / 'quick_data'}"
    else:
        if celebdf_v1_root is None or ("celebdf-merged" in datasets and celebdf_v2_root is None):
            raise ValueError("give the Celeb-DF (v1) root and the Celeb-DF-v2 root (or quick=True)")
        v1_root = Path(celebdf_v1_root)
        v2_root = Path(celebdf_v2_root) if celebdf_v2_root is not None else None

    # 2. index
    manifests: dict[str, list] = {}
    index_summary: dict[str, dict] = {}
    for dataset in datasets:
        with steps.run(f"index {dataset}") as row:
            if dataset == "celebdf-v1":
                result = build_index("celebdf", v1_root, version="v1", seed=seed, **index_options)
            else:
                result = build_index("celebdf", v2_root, version="merged", v1_root=v1_root,
                                     seed=seed, **index_options)
            if not result.records:
                raise ValueError(f"{dataset}: no videos found ({len(result.skipped)} skipped)")
            manifest = write_manifest(out_dir / "manifests" / f"{dataset}.jsonl", result.records)
            counts = split_counts(result.records)
            manifests[dataset] = result.records
            index_summary[dataset] = {"manifest": str(manifest), "splits": counts,
                                      "skipped": len(result.skipped)}
            row["detail"] = ", ".join(f"{s} {c['real']}/{c['fake']}" for s, c in counts.items()
                                      if c["total"]) + " (real/fake)"

    # 3. extract: one face cache per dataset and face settings
    caches: dict[str, Path] = {}
    extract_configs: dict[str, FaceSettings] = {}
    extract_summary: dict[str, dict] = {}
    for config in configs:
        extract = config.extract_config()
        key = _short_hash({"dataset": config.dataset, "extract": extract.to_dict(),
                           "index": index_options, "seed": seed})
        cache = out_dir / "caches" / f"faces-{config.dataset}-{extract.size}px-{key}.h5"
        caches[config.name], extract_configs[config.name] = cache, extract
        if str(cache) in extract_summary:
            continue
        with steps.run(f"extract {cache.name}") as row:
            summary = run_extract(manifests[config.dataset], cache, extract, workers=workers)
            extract_summary[str(cache)] = {k: v for k, v in summary.to_dict().items() if k != "failures"}
            extract_summary[str(cache)]["failures"] = summary.failures[:50]
            if summary.done == 0 and summary.failed == 0:
                row["status"] = "skipped"
            row["detail"] = (f"{summary.videos} videos: {summary.done} done, {summary.skipped} "
                             f"already there, {summary.failed} failed, {summary.faces} faces")

    # 4. embed (FaceNet method, and an LSTM over FaceNet features)
    embedder, embeddings, random_facenet = None, None, None
    need_embeddings = [c for c in configs if c.model == "facenet_triplet"
                       or (c.model == "lstm" and c.features == "facenet")]
    if need_embeddings:
        from tfdeepfake.models.embed import run_embed
        from tfdeepfake.models.facenet import is_random_init

        face_caches = {caches[c.name] for c in need_embeddings}
        if len(face_caches) > 1:
            raise ValueError("the FaceNet experiments must share one face cache (same dataset "
                             "and extract settings)")
        face_cache = face_caches.pop()
        with steps.run("embed (FaceNet)") as row:
            embedder = _facenet_embedder(facenet_weights, seed)
            random_facenet = is_random_init(embedder)
            tag = f"random-seed{seed}" if random_facenet else "facenet-20180402-114759"
            embeddings = face_cache.with_name(f"embeddings-{face_cache.stem}-{tag}.h5")
            summary = run_embed(face_cache, embeddings, embedder)
            if summary.done == 0:
                row["status"] = "skipped"
            row["detail"] = (f"{summary.done} videos embedded, {summary.skipped} already there"
                             + (" [RANDOM-INIT FaceNet]" if random_facenet else ""))
        if random_facenet:
            notes.append(RANDOM_FACENET_NOTE)
    if xception_weights is None and any(c.model == "xception" or c.features == "xception" for c in configs):
        notes.append(RANDOM_XCEPTION_NOTE)

    # 5. the experiments
    ctx = _Context(out_dir=out_dir, strategy=strategy,
                   xception_weights=None if xception_weights is None else str(xception_weights),
                   note=" ".join(notes) or None, steps=steps, caches=caches,
                   embeddings=embeddings, embedder=embedder, extract_configs=extract_configs)
    runs: dict[str, dict] = {}
    for config in configs:
        runs[config.name] = (_run_facenet(config, ctx) if config.model == "facenet_triplet"
                             else _run_baseline(config, ctx))
        gc.collect()

    # 6. figures
    figures: dict[str, str] = {}
    gradcam = _gradcam_step(configs, ctx, manifests)
    if gradcam and gradcam["videos"]:
        for video in gradcam["videos"]:
            figures[f"Grad-CAM, {Path(video['video']).name} ({gradcam['experiment']}, "
                    f"p(fake) {video['fake_probability']:.2f})"] = video["grid"]
    with steps.run("figures and tables") as row:
        from tfdeepfake.evaluation.plots import plot_roc_curves

        curves = {}
        for run in runs.values():
            curves.update(run["curves"])
        roc = plot_roc_curves(curves, out_dir / "figures" / "roc_video_all.png",
                              title="ROC on the test videos, every experiment")
        figures["ROC of every experiment (videos)"] = str(roc)
        for config in configs:
            eval_dir = Path(runs[config.name]["evaluation_dir"])
            for png in ("embeddings_before_after.png", "roc_video.png"):
                if (eval_dir / png).is_file() and (config.model == "facenet_triplet" or png == "roc_video.png"):
                    figures[f"{config.name}: {png}"] = str(eval_dir / png)
        tables = out_dir / "poster_tables.md"
        json_path = out_dir / "poster_results.json"
        row["detail"] = f"{tables.name}, {json_path.name}, {len(figures)} figures"

    summary = {
        "quick": bool(quick),
        "notes": notes,
        "random_init_facenet": random_facenet,
        "xception_weights": ctx.xception_weights,
        "seed": int(seed),
        "strategy": strategy,
        "workers": int(workers),
        "roots": {"celebdf_v1": str(v1_root), "celebdf_v2": str(v2_root) if v2_root else None},
        "index": {"options": index_options, **index_summary},
        "extract": extract_summary,
        "embeddings": str(embeddings) if embeddings else None,
        "experiments": {
            c.name: {"config": c.to_dict(), "poster": dataclasses.asdict(c.poster),
                     "ours": {"accuracy": runs[c.name]["headline"].get("accuracy"),
                              "video_auc": runs[c.name]["headline"].get("auc")},
                     "results": runs[c.name]["results"], "model": runs[c.name]["meta"],
                     "model_dir": runs[c.name]["model_dir"],
                     "evaluation_dir": runs[c.name]["evaluation_dir"]}
            for c in configs},
        "measures_poster": {"source": POSTER_SOURCE, **POSTER_RESULTS, "reading": POSTER_READING},
        "gradcam": gradcam,
        "figures": figures,
        "versions": versions,
        "timings": steps.rows,
        "seconds": round(time.perf_counter() - started, 2),
        "tables": str(tables),
        "json": str(json_path),
    }
    _write_tables(tables, summary, configs, runs)
    json_path.write_text(json.dumps(json_ready(summary), indent=2, sort_keys=True, default=str), "utf-8")
    logger.info("poster tables -> %s (%.0f s)%s", tables, summary["seconds"],
                " [QUICK smoke test, not a reproduction]" if quick else "")
    return json_ready(summary)


__all__ = [
    "DEFAULT_INDEX_OPTIONS",
    "EXPERIMENTS",
    "ExperimentConfig",
    "PosterRow",
    "QUICK_NOTE",
    "RANDOM_FACENET_NOTE",
    "apply_overrides",
    "config_dir",
    "experiment_configs",
    "load_experiment_config",
    "load_quick_overrides",
    "make_quick_celebdf",
    "parse_experiment_config",
    "reproduce",
]
