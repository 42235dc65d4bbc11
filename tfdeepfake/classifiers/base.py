"""Shared behaviour of the frame classifiers fitted on triplet-head outputs.

Every classifier is a thin scikit-learn wrapper that, once fitted, is described
entirely by numpy arrays plus a small JSON dict (the "Classifier arrays" contract in
DEVELOPERS.md). Predictions are always computed in numpy from those arrays, so a
classifier rebuilt with ``from_arrays`` predicts exactly what the fitted one did, and
nothing is ever pickled. The fitted scikit-learn estimator stays on the object as
``estimator_`` (absent after ``from_arrays``) for reference and tests.
"""

from __future__ import annotations

import json
import logging
import os
import zipfile
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from tfdeepfake.constants import FAKE, REAL

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
ARRAYS_FILE = "classifier.npz"
METADATA_FILE = "classifier.json"


class FrameClassifier(BaseEstimator):
    """Base class: ``fit(x, y) -> self``, ``predict_proba_fake(x) -> [N]``.

    Subclasses set ``kind`` and implement ``_fit_arrays`` (fit scikit-learn, return
    arrays + JSON params), ``_predict_from_arrays`` and ``_check_arrays``.
    """

    kind: ClassVar[str] = ""
    # classifier.json's schema: types of ``params`` (the constructor's arguments) and of the
    # keys a kind adds beside them; ``load_classifier`` refuses anything else.
    param_types: ClassVar[dict[str, type | tuple[type, ...]]] = {}
    json_types: ClassVar[dict[str, type | tuple[type, ...]]] = {}

    # -- subclass hooks ---------------------------------------------------------
    def _fit_arrays(self, x: np.ndarray, y: np.ndarray):
        raise NotImplementedError

    def _predict_from_arrays(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    @classmethod
    def _check_arrays(cls, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        raise NotImplementedError

    def _param_json(self) -> dict[str, Any]:
        return {k: v for k, v in self.get_params().items()}

    # -- public API -------------------------------------------------------------
    def fit(self, x, y) -> FrameClassifier:
        x = _as_2d_float(x)
        y = np.asarray(y).astype(np.int64).ravel()
        if len(x) != len(y):
            raise ValueError(f"x has {len(x)} rows but y has {len(y)} labels")
        classes = np.unique(y)
        if not set(classes.tolist()) <= {REAL, FAKE}:
            raise ValueError(f"labels must be {REAL} (real) or {FAKE} (fake), got {classes}")
        if len(classes) != 2:
            raise ValueError(
                f"{self.kind} needs both real and fake frames to fit, got only {classes}"
            )
        arrays, meta = self._fit_arrays(x, y)
        self.arrays_ = arrays
        self.meta_ = {
            "kind": self.kind,
            "format_version": FORMAT_VERSION,
            "n_features": int(x.shape[1]),
            "label_fake": FAKE,
            "params": self._param_json(),
            **meta,
        }
        self.n_features_in_ = int(x.shape[1])
        return self

    def predict_proba_fake(self, x) -> np.ndarray:
        """Probability that each row is fake, ``[N] float64``."""
        check_is_fitted(self, "arrays_")
        x = _as_2d_float(x)
        if x.shape[1] != self.n_features_in_:
            raise ValueError(
                f"x has {x.shape[1]} features, the classifier was fitted on "
                f"{self.n_features_in_}"
            )
        if len(x) == 0:
            return np.zeros(0, dtype=np.float64)
        return self._predict_from_arrays(x)

    def predict(self, x, threshold: float = 0.5) -> np.ndarray:
        """Labels (1 = fake) where ``predict_proba_fake >= threshold``."""
        return (self.predict_proba_fake(x) >= threshold).astype(np.int64)

    def to_arrays(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """``(arrays, json_dict)`` that describe the fitted classifier completely."""
        check_is_fitted(self, "arrays_")
        return {k: v.copy() for k, v in self.arrays_.items()}, json.loads(json.dumps(self.meta_))

    @classmethod
    def from_arrays(cls, arrays, meta) -> FrameClassifier:
        """Rebuild a fitted classifier from ``to_arrays`` output (no pickle)."""
        meta = dict(meta)
        if meta.get("kind") != cls.kind:
            raise ValueError(f"arrays describe a {meta.get('kind')!r} classifier, not {cls.kind!r}")
        if int(meta.get("format_version", -1)) != FORMAT_VERSION:
            raise ValueError(
                f"classifier format version {meta.get('format_version')} is not supported "
                f"(this version reads {FORMAT_VERSION})"
            )
        arrays = {k: np.asarray(v) for k, v in arrays.items()}
        cls._check_arrays(arrays, meta)
        params = dict(meta.get("params", {}))
        obj = cls(**params)
        obj.arrays_ = arrays
        obj.meta_ = meta
        obj.n_features_in_ = int(meta["n_features"])
        return obj


def _as_2d_float(x) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 2:
        raise ValueError(f"x must be [N, D], got shape {x.shape}")
    return x.astype(np.float32, copy=False)


def _require(arrays: dict[str, np.ndarray], names_dtypes: dict[str, Any], kind: str) -> None:
    for name, dtype in names_dtypes.items():
        if name not in arrays:
            raise ValueError(f"{kind} arrays lack {name!r} (have {sorted(arrays)})")
        if arrays[name].dtype != np.dtype(dtype):
            raise ValueError(
                f"{kind} array {name!r} has dtype {arrays[name].dtype}, expected {np.dtype(dtype)}"
            )


def save_classifier(directory: str | os.PathLike, clf: FrameClassifier) -> Path:
    """Write ``classifier.npz`` (arrays) and ``classifier.json`` into ``directory``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    arrays, meta = clf.to_arrays()
    with open(directory / ARRAYS_FILE, "wb") as handle:
        np.savez(handle, **arrays)
    (directory / METADATA_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True))
    logger.info("saved %s classifier to %s", clf.kind, directory)
    return directory


class ClassifierFileError(ValueError):
    """A saved classifier that cannot be used; one line naming the file, key and expectation."""


def load_classifier(directory: str | os.PathLike) -> FrameClassifier:
    """Read a classifier written by ``save_classifier`` (arrays only, no pickle).

    ``classifier.json`` is checked against the kind's schema and the arrays against their
    contract before anything is built; errors are ``ClassifierFileError`` naming the file
    and the key."""
    directory = Path(directory)
    meta_path = directory / METADATA_FILE
    arrays_path = directory / ARRAYS_FILE
    for path in (meta_path, arrays_path):
        if not path.is_file():
            raise FileNotFoundError(f"{path}: missing (a saved classifier is {ARRAYS_FILE} + "
                                    f"{METADATA_FILE})")
    try:
        meta = json.loads(meta_path.read_text("utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        raise ClassifierFileError(f"{meta_path}: invalid JSON ({error})") from None
    cls = check_classifier_json(meta, meta_path)
    arrays = _load_arrays(arrays_path)
    try:
        return cls.from_arrays(arrays, meta)
    except (ValueError, TypeError, IndexError) as error:
        raise ClassifierFileError(f"{arrays_path}: {error}") from None


_COMMON_JSON = {"kind": str, "format_version": int, "n_features": int, "label_fake": int,
                "params": dict}


def _type_name(kind) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join("null" if k is type(None) else k.__name__ for k in kinds)


def _check_type(value, kind, where: str, key: str) -> None:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    # bool is an int to Python, never to a schema
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        raise ClassifierFileError(f"{where}: key {key!r} should be {_type_name(kind)}, "
                                  f"found {value!r}")


def check_classifier_json(meta, where: str | os.PathLike) -> type[FrameClassifier]:
    """The classifier class ``classifier.json``'s contents describe, after checking every key
    against the kind's schema (types, allowed keys, format version)."""
    from tfdeepfake.classifiers import CLASSIFIERS

    if not isinstance(meta, dict):
        raise ClassifierFileError(f"{where}: expected a JSON object, found {type(meta).__name__}")
    kind = meta.get("kind")
    if not isinstance(kind, str) or kind not in CLASSIFIERS:
        raise ClassifierFileError(f"{where}: key 'kind' should be one of "
                                  f"{', '.join(sorted(CLASSIFIERS))}, found {kind!r}")
    cls = CLASSIFIERS[kind]
    schema = {**_COMMON_JSON, **cls.json_types}
    for key, expected in schema.items():
        if key not in meta:
            raise ClassifierFileError(f"{where}: key {key!r} is missing")
        _check_type(meta[key], expected, where, key)
    unknown = sorted(set(meta) - set(schema))
    if unknown:
        raise ClassifierFileError(f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; "
                                  f"a {kind} classifier has {', '.join(sorted(schema))}")
    if meta["format_version"] != FORMAT_VERSION:
        raise ClassifierFileError(f"{where}: key 'format_version' is {meta['format_version']}; "
                                  f"this tfdeepfake reads {FORMAT_VERSION}")
    if meta["label_fake"] != FAKE:
        raise ClassifierFileError(f"{where}: key 'label_fake' should be {FAKE}, found "
                                  f"{meta['label_fake']}")
    if meta["n_features"] < 1:
        raise ClassifierFileError(f"{where}: key 'n_features' should be >= 1, found "
                                  f"{meta['n_features']}")
    params = meta["params"]
    unknown = sorted(set(params) - set(cls.param_types))
    if unknown:
        raise ClassifierFileError(f"{where}: key 'params' has unknown key(s) "
                                  f"{', '.join(map(repr, unknown))}; {kind} takes "
                                  f"{', '.join(sorted(cls.param_types))}")
    for key, value in params.items():
        _check_type(value, cls.param_types[key], where, f"params.{key}")
    return cls


def _load_arrays(path: Path) -> dict[str, np.ndarray]:
    """The arrays of a ``.npz``; refuses anything else (pickled objects included) by name."""
    with open(path, "rb") as handle:
        if handle.read(4) != b"PK\x03\x04":
            raise ClassifierFileError(f"{path}: not a .npz archive of arrays (numpy.savez)")
    arrays = {}
    try:
        with np.load(path, allow_pickle=False) as data:
            for name in data.files:
                try:
                    arrays[name] = data[name]
                except ValueError:
                    raise ClassifierFileError(f"{path}: array {name!r} holds Python objects "
                                              "(pickled data), which are never loaded; expected "
                                              "numeric arrays") from None
    except ClassifierFileError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise ClassifierFileError(f"{path}: not a readable .npz archive ({error})") from None
    return arrays
