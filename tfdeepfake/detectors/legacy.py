"""Model folders from tfdeepfake < 0.2 -> a ``model.json`` (format 2), in place.

- ``bundle.json`` (format 1: the triplet method's bundle) -> detector ``triplet``;
- ``baseline.json`` (format 1: the Xception / LSTM baselines) -> ``xception`` / ``lstm``.

The weights and arrays keep their files (``head.weights.h5``, ``classifiers/<kind>/``,
``model.weights.h5``, ``extractor.weights.h5``: the detectors read the same names); the old
JSON stays beside as a record. The new ``model.json`` is checked by loading the detector
from it before it is written, so a folder either converts whole or not at all.

Old folders named their FaceNet by a model key, a weights *file* hash and (bundles) a probe
of their own. A FaceNet identity records a hash of the weight arrays and another probe, so
converting builds the pretrained FaceNet (``facenet_weights`` when not installed) and checks
it against the old record first. An old random-init FaceNet cannot be rebuilt (random
initialisation changed in 0.2): such folders are refused with the advice to retrain.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from tfdeepfake.detectors import detector_class
from tfdeepfake.detectors.base import MODEL_FILE, ModelFolder, ModelFolderError, common_meta, require
from tfdeepfake.detectors.model_json import validate_meta
from tfdeepfake.faces.settings import FaceSettings

logger = logging.getLogger(__name__)

BUNDLE_FILE = "bundle.json"
BASELINE_FILE = "baseline.json"
LEGACY_FORMAT = 1
# tfdeepfake < 0.2's bundle probe: the first 8 outputs on two RandomState(1234) faces.
_LEGACY_PROBE_SEED = 1234
_LEGACY_PROBE_VALUES = 8
_LEGACY_PROBE_TOLERANCE = 1e-3


class ConversionError(ModelFolderError):
    """An old model folder that cannot be converted; the message says why and what to do."""


def convert_model_folder(path: str | os.PathLike,
                         facenet_weights: str | os.PathLike | None = None) -> Path:
    """Write ``model.json`` into an old model folder; returns its path.

    A folder that already has a ``model.json`` is left as it is (its path is returned).
    ``facenet_weights``: the pretrained FaceNet weights file, when not in keras-facenet's
    cache (folders whose model used FaceNet only).
    """
    folder = ModelFolder(path)
    if folder.meta_path.is_file():
        logger.info("%s already has %s; nothing to convert", folder.root, MODEL_FILE)
        return folder.meta_path
    if (folder.root / BUNDLE_FILE).is_file():
        old_path = folder.root / BUNDLE_FILE
        meta, embedder = _from_bundle(_read(old_path), old_path, facenet_weights)
    elif (folder.root / BASELINE_FILE).is_file():
        old_path = folder.root / BASELINE_FILE
        meta, embedder = _from_baseline(_read(old_path), old_path, facenet_weights)
    else:
        raise ConversionError(f"{folder.root}: neither {BUNDLE_FILE} nor {BASELINE_FILE} "
                              "(not a model folder from tfdeepfake < 0.2)")
    kwargs = {"embedder": embedder} if embedder is not None else {}
    try:  # everything the new model.json names must load before it is written
        validate_meta(meta, folder.meta_path)
        detector_class(meta["detector"]).from_folder(folder, meta, **kwargs)
    except ModelFolderError as error:
        raise ConversionError(f"{old_path}: converted, but the result does not load: "
                              f"{error}") from error
    folder.write_meta(meta)
    logger.info("converted %s -> %s (detector %s)", old_path, folder.meta_path, meta["detector"])
    return folder.meta_path


def _read(path: Path) -> dict[str, Any]:
    try:
        meta = json.loads(path.read_text("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ConversionError(f"{path}: invalid JSON ({error})") from error
    if not isinstance(meta, dict):
        raise ConversionError(f"{path}: expected a JSON object")
    if meta.get("format_version") != LEGACY_FORMAT:
        raise ConversionError(f"{path}: key 'format_version' is {meta.get('format_version')!r}; "
                              f"the converter reads format {LEGACY_FORMAT}")
    return meta


def _converted(old: Mapping[str, Any], path: Path) -> dict[str, Any]:
    return {"from": path.name, "format_version": LEGACY_FORMAT, "created": old.get("created"),
            "versions": old.get("versions")}


def _face_settings(data: Mapping[str, Any], where: Path) -> FaceSettings:
    try:
        return FaceSettings.from_dict(data)
    except (TypeError, ValueError) as error:
        raise ConversionError(f"{where}: face settings: {error}") from error


# -- FaceNet ---------------------------------------------------------------------------------


def legacy_probe(embedder) -> list[float]:
    """tfdeepfake < 0.2's bundle probe of a FaceNet: 2 x 8 outputs, rounded to 5 places."""
    size = int(embedder.input_size)
    faces = np.random.RandomState(_LEGACY_PROBE_SEED).randint(0, 256, (2, size, size, 3))
    out = embedder.embed(faces.astype(np.uint8))[:, :_LEGACY_PROBE_VALUES]
    return [round(float(v), 5) for v in out.ravel()]


def _pretrained_facenet(old: Mapping[str, Any], where: Path, facenet_weights):
    """The pretrained FaceNet an old folder used, built and checked against its record."""
    from tfdeepfake.models import facenet

    if old.get("random_init"):
        raise ConversionError(
            f"{where}: trained on a RANDOMLY INITIALISED FaceNet (seed {old.get('seed')}), which "
            "tfdeepfake >= 0.2 cannot rebuild (its random initialisation changed); retrain with "
            "`tfdeepfake train triplet` on a new embedding cache")
    key = old.get("model")
    if key not in facenet.FACENET_MODELS:
        raise ConversionError(f"{where}: key 'model' of the FaceNet record is {key!r}; known: "
                              f"{', '.join(sorted(facenet.FACENET_MODELS))}")
    try:
        embedder = facenet.load_facenet(key, facenet_weights)
    except facenet.WeightsNotFoundError as error:
        raise ConversionError(f"{where}: needs the FaceNet it was trained with: {error}") from error
    probe = old.get("probe")
    if probe:
        mine = legacy_probe(embedder)
        if len(mine) != len(probe) or not np.allclose(mine, probe, atol=_LEGACY_PROBE_TOLERANCE):
            raise ConversionError(f"{where}: the FaceNet {key} weights here are not the ones the "
                                  f"model was trained with (weights sha256 "
                                  f"{old.get('weights_sha256')}); pass --facenet-weights with "
                                  "those, or retrain")
    else:  # baselines recorded only the file's hash
        path = facenet.weights_path_for(key) if facenet_weights is None else Path(facenet_weights)
        if path.is_dir():
            path = path / facenet.facenet_spec(key).weights_filename
        digest = facenet.sha256_of_file(path)
        if old.get("weights_sha256") and digest != old["weights_sha256"]:
            raise ConversionError(f"{where}: the FaceNet weights file {path} has sha256 {digest}; "
                                  f"the model was trained with {old['weights_sha256']}")
    return embedder


# -- the triplet bundle ----------------------------------------------------------------------


def _from_bundle(old: dict[str, Any], where: Path, facenet_weights):
    from tfdeepfake.detectors.triplet import HEAD_WEIGHTS

    extract = require(old, "extract", dict, where)
    head = require(old, "head", dict, where)
    classifiers = require(old, "classifiers", list, where)
    default = require(old, "default_classifier", str, where)
    thresholds = require(old, "thresholds", dict, where)
    if default not in thresholds:
        raise ConversionError(f"{where}: key 'thresholds' has no value for the default "
                              f"classifier {default!r}")
    embedder = _pretrained_facenet(require(old, "embedder", dict, where), where, facenet_weights)
    training = dict(old.get("training") or {})
    data = training.pop("data", {})
    seed = int((training.get("config") or {}).get("seed", 0))
    meta = common_meta("triplet", _face_settings(extract, where), threshold=thresholds[default],
                       aggregation=old.get("aggregation", "mean"), seed=seed, training=training,
                       data=data, facenet=embedder.identity.to_dict(),
                       head={**head, "weights": HEAD_WEIGHTS}, classifiers=list(classifiers),
                       default_classifier=default,
                       thresholds={k: float(v) for k, v in thresholds.items()},
                       converted=_converted(old, where))
    return meta, embedder


# -- the baselines ---------------------------------------------------------------------------


def _from_baseline(old: dict[str, Any], where: Path, facenet_weights):
    from tfdeepfake.detectors.lstm import EXTRACTOR_WEIGHTS_FILE
    from tfdeepfake.detectors.xception import WEIGHTS_FILE

    kind = require(old, "kind", str, where)
    config = require(old, "training", dict, where)
    record = {"config": config, "epochs_run": old.get("epochs_run"),
              "best_epoch": old.get("best_epoch"), "strategy": old.get("strategy"),
              "train_seconds": old.get("train_seconds")}
    common = dict(threshold=float(old.get("threshold", 0.5)),
                  aggregation=old.get("aggregation", "mean"), seed=int(old.get("seed", 0)),
                  training=record, data={**(old.get("data") or {}), "source": old.get("source")},
                  dropout=float(require(config, "dropout", (int, float), f"{where} [training]")),
                  weights=WEIGHTS_FILE, converted=_converted(old, where))
    if kind == "xception":
        settings = _face_settings(require(old, "face_settings", dict, where), where)
        meta = common_meta("xception", settings, **common,
                           input_size=require(old, "input_size", int, where),
                           weights_source=old.get("weights_source"))
        return meta, None
    if kind != "lstm":
        raise ConversionError(f"{where}: key 'kind' is {kind!r}; valid: xception, lstm")
    features = require(old, "features", str, where)
    lstm = dict(features=features, num_frames=require(old, "num_frames", int, where),
                feature_dim=require(old, "feature_dim", int, where),
                units=require(config, "units", int, f"{where} [training]"))
    if features == "xception":
        extractor = require(old, "extractor", dict, where)
        settings = _face_settings(require(old, "face_settings", dict, where), where)
        meta = common_meta("lstm", settings, **common, **lstm, extractor={
            "weights": EXTRACTOR_WEIGHTS_FILE,
            "input_size": require(extractor, "input_size", int, f"{where} [extractor]"),
            "weights_source": extractor.get("weights_source")})
        return meta, None
    embedder = _pretrained_facenet(require(old, "embedder", dict, where), where, facenet_weights)
    meta = common_meta("lstm", _embedding_cache_face_settings(old, where), **common, **lstm,
                       facenet=embedder.identity.to_dict(), extractor=None)
    return meta, embedder


def _embedding_cache_face_settings(old: Mapping[str, Any], where: Path) -> FaceSettings:
    """An old LSTM over FaceNet features did not record its face settings; its embedding
    cache (``source``) did."""
    from tfdeepfake.cache.embeddings import embedding_store

    source = old.get("source")
    if not source or not Path(source).is_file():
        raise ConversionError(f"{where}: the face settings are recorded only in the embedding "
                              f"cache it was trained on ({source!r}), which is not here; retrain")
    settings = embedding_store(source).stored_settings().get("face_settings")
    if not isinstance(settings, dict):
        raise ConversionError(f"{where}: the embedding cache {source} records no face settings")
    return _face_settings(settings, where)
