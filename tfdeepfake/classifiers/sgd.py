"""Logistic regression trained by SGD (``SGDClassifier(loss="log_loss")``).

Arrays: ``coef [D] float32``, ``intercept [] float32``;
``p(fake) = sigmoid(x . coef + intercept)``.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit
from sklearn.linear_model import SGDClassifier

from tfdeepfake.classifiers.base import FrameClassifier, _require
from tfdeepfake.constants import FAKE


class SgdFrameClassifier(FrameClassifier):
    """Linear logistic model fitted with stochastic gradient descent."""

    kind = "sgd"
    param_types = {"alpha": (int, float), "max_iter": int, "tol": (int, float, type(None)), "seed": int}
    json_types = {}

    def __init__(self, alpha: float = 1e-4, max_iter: int = 1000, tol: float = 1e-3, seed: int = 0):
        self.alpha = alpha
        self.max_iter = max_iter
        self.tol = tol
        self.seed = seed

    def _fit_arrays(self, x, y):
        est = SGDClassifier(
            loss="log_loss",
            alpha=float(self.alpha),
            max_iter=int(self.max_iter),
            tol=None if self.tol is None else float(self.tol),
            random_state=int(self.seed),
        ).fit(x, y)
        self.estimator_ = est
        coef = est.coef_[0]
        intercept = est.intercept_[0]
        if est.classes_[1] != FAKE:  # decision > 0 means classes_[1]
            coef, intercept = -coef, -intercept
        arrays = {
            "coef": np.asarray(coef, dtype=np.float32),
            "intercept": np.asarray(intercept, dtype=np.float32).reshape(()),
        }
        return arrays, {}

    @classmethod
    def _check_arrays(cls, arrays, meta) -> None:
        _require(arrays, {"coef": np.float32, "intercept": np.float32}, cls.kind)
        if arrays["coef"].shape != (int(meta["n_features"]),) or arrays["intercept"].shape != ():
            raise ValueError("sgd arrays: coef must be [D] and intercept a scalar")

    def _predict_from_arrays(self, x: np.ndarray) -> np.ndarray:
        coef = self.arrays_["coef"].astype(np.float64)
        intercept = float(self.arrays_["intercept"])
        return expit(x.astype(np.float64) @ coef + intercept)
