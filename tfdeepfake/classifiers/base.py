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


def load_classifier(directory: str | os.PathLike) -> FrameClassifier:
    """Read a classifier written by ``save_classifier`` (arrays only, no pickle)."""
    from tfdeepfake.classifiers import get_classifier_class

    directory = Path(directory)
    meta_path = directory / METADATA_FILE
    arrays_path = directory / ARRAYS_FILE
    for path in (meta_path, arrays_path):
        if not path.is_file():
            raise FileNotFoundError(f"no {path.name} in {directory}")
    meta = json.loads(meta_path.read_text())
    with np.load(arrays_path, allow_pickle=False) as data:
        arrays = {name: data[name] for name in data.files}
    return get_classifier_class(meta.get("kind", "")).from_arrays(arrays, meta)
