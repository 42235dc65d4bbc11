"""The triplet head's Keras training loop: semi-hard triplet loss on P x K balanced batches,
the best epoch kept (``KeepBest``), a stop with a hint when the embedding collapses.

``train_triplet_head`` writes into its ``run_dir``:

- ``history.csv``: per-epoch losses (CSVLogger)
- ``tensorboard/``: TensorBoard logs
- ``triplet_head.json``: config, seed, data sizes, best epoch, collapse state, versions

The returned model holds the weights of the epoch with the lowest monitored loss
(``val_loss`` with validation videos, else ``loss``), however training ended.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
from pathlib import Path
from typing import Any, Mapping, Sequence

import os

import numpy as np
from tensorflow import keras

from tfdeepfake.cache.embeddings import EmbeddingTable
from tfdeepfake.classifiers import FrameClassifier
from tfdeepfake.detectors.base import KeepBest
from tfdeepfake.models.triplet_head import (
    DEFAULT_EMBEDDING_DIM,
    DEFAULT_HIDDEN_UNITS,
    DEFAULT_MARGIN,
    build_triplet_head,
    make_triplet_loss,
)
from tfdeepfake.pipelines.balanced import (
    DEFAULT_FRAMES_PER_VIDEO,
    balanced_batch_indices,
    default_steps_per_epoch,
    make_balanced_dataset,
)
from tfdeepfake.provenance import package_versions
from tfdeepfake.scoring import aggregate_video_labels, aggregate_video_scores

logger = logging.getLogger(__name__)

RECORD_FILE = "triplet_head.json"
HISTORY_FILE = "history.csv"
TENSORBOARD_DIR = "tensorboard"

DEFAULT_CLASSIFIERS = ("knn", "sgd", "rf")
# The reference code's choices: KNN k=10, SGD with logistic loss, 100 trees.
CLASSIFIER_PARAMS = {"knn": {"k": 10}, "sgd": {}, "rf": {"n_trees": 100}}

COLLAPSE_HINT = (
    "Check that every batch holds both classes (use "
    "tfdeepfake.pipelines.balanced.make_balanced_dataset), lower the learning rate, "
    "and check the inputs (NaN or constant embeddings, labels not 0/1)."
)


@dataclasses.dataclass(frozen=True)
class TripletTrainingConfig:
    """Settings of one triplet-head training run (defaults: the poster's). The seed is
    ``TrainOptions.seed``, one for the whole training."""

    learning_rate: float = 3e-4
    epochs: int = 50
    batch_size: int = 32
    margin: float = DEFAULT_MARGIN
    hidden_units: tuple[int, ...] = DEFAULT_HIDDEN_UNITS
    embedding_dim: int = DEFAULT_EMBEDDING_DIM
    dropout: float = 0.0
    frames_per_video: int = DEFAULT_FRAMES_PER_VIDEO
    steps_per_epoch: int | None = None
    patience: int = 10
    collapse_tolerance: float = 1e-6

    def __post_init__(self):
        object.__setattr__(self, "hidden_units", tuple(int(u) for u in self.hidden_units))
        if self.learning_rate <= 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate}")
        if self.epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {self.epochs}")
        if self.batch_size < 2:
            raise ValueError(f"batch_size must be >= 2, got {self.batch_size}")
        if self.margin <= 0:
            raise ValueError(f"margin must be > 0, got {self.margin}")
        if self.patience < 0:
            raise ValueError(f"patience must be >= 0, got {self.patience}")
        if self.steps_per_epoch is not None and self.steps_per_epoch < 1:
            raise ValueError(f"steps_per_epoch must be >= 1 or None, got {self.steps_per_epoch}")

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["hidden_units"] = list(self.hidden_units)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "TripletTrainingConfig":
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(data) - set(names))
        if unknown:
            raise ValueError(f"unknown config keys {unknown}; valid: {', '.join(names)}")
        return cls(**dict(data))


class EmbeddingCollapseError(RuntimeError):
    """Training stopped because the embedding collapsed; the message has a hint."""


def check_embedding_collapse(outputs, tolerance: float = 1e-6) -> str | None:
    """Why ``outputs [B, E]`` look collapsed, or ``None`` when they do not."""
    outputs = np.asarray(outputs, dtype=np.float64)
    if not np.all(np.isfinite(outputs)):
        return "the head outputs NaN or infinite values on the probe batch"
    if len(outputs) < 2:
        return None
    spread = float(np.max(np.abs(outputs - outputs[:1])))
    if spread <= tolerance:
        return (f"all {len(outputs)} probe embeddings are equal within {tolerance:g} "
                f"(largest difference {spread:.3g})")
    return None


class EmbeddingCollapseMonitor(keras.callbacks.Callback):
    """Stop training when the loss is NaN/inf or the probe embeddings collapse.

    Sets ``collapsed`` and ``reason``; logs an error with a hint.
    """

    def __init__(self, probe_x, tolerance: float = 1e-6):
        super().__init__()
        self.probe_x = np.asarray(probe_x, dtype=np.float32)
        self.tolerance = float(tolerance)
        self.collapsed = False
        self.reason: str | None = None
        self._epoch = 0

    def _stop(self, reason: str) -> None:
        self.collapsed = True
        self.reason = reason
        logger.error("embedding collapse: %s. %s", reason, COLLAPSE_HINT)
        self.model.stop_training = True

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self._stop(f"loss is {float(loss)} at epoch {self._epoch + 1}, batch {batch + 1}")

    def on_epoch_end(self, epoch, logs=None):
        if self.collapsed:
            return
        val_loss = (logs or {}).get("val_loss")
        if val_loss is not None and not math.isfinite(float(val_loss)):
            self._stop(f"val_loss is {float(val_loss)} at epoch {epoch + 1}")
            return
        outputs = self.model(self.probe_x, training=False).numpy()
        reason = check_embedding_collapse(outputs, self.tolerance)
        if reason is not None:
            self._stop(f"{reason} at epoch {epoch + 1}")


class _LogEpoch(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        items = ", ".join(f"{k}={float(v):.5f}" for k, v in sorted((logs or {}).items()))
        logger.info("triplet head epoch %d: %s", epoch + 1, items)


@dataclasses.dataclass
class HeadTraining:
    """A trained head (best epoch's weights) and how it got there."""

    model: keras.Model
    history: dict[str, list[float]]
    monitor: str
    best_epoch: int | None  # 1-based; None when no epoch had a finite monitored loss
    epochs_run: int

    def record(self) -> dict[str, Any]:
        return {"monitor": self.monitor, "best_epoch": self.best_epoch,
                "epochs_run": self.epochs_run, "history": self.history}


def _probe_rows(labels, video_ids, seed: int) -> np.ndarray:
    size = int(min(max(len(labels), 2), 128))
    return balanced_batch_indices(labels, video_ids, batch_size=size, frames_per_video=size,
                                  num_batches=1, seed=seed)[0]


def train_triplet_head(train, val, config: TripletTrainingConfig, *, seed: int,
                       run_dir: str | Path,
                       callbacks: Sequence[keras.callbacks.Callback] = ()) -> HeadTraining:
    """Fit the triplet head with semi-hard triplet loss on balanced P x K batches.

    ``train`` and ``val`` have ``embeddings [N, D]``, ``labels [N]`` and ``video_ids [N]``
    (an ``EmbeddingTable``); ``val`` (held-out training videos, or ``None``) is what
    early stopping and keep-best watch. ``callbacks`` run after the built-in ones.
    Raises ``EmbeddingCollapseError`` when training stopped on a collapsed embedding (the
    files written so far stay in ``run_dir``).
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    embeddings = np.asarray(train.embeddings, np.float32)
    input_dim = int(embeddings.shape[1])
    if val is not None and np.asarray(val.embeddings).shape[1] != input_dim:
        raise ValueError("train and validation embeddings differ in dimension")

    keras.utils.set_random_seed(seed)  # dropout, shuffles and the optimizer: reproducible
    model = build_triplet_head(input_dim=input_dim, hidden_units=config.hidden_units,
                               embedding_dim=config.embedding_dim, dropout=config.dropout,
                               seed=seed)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=config.learning_rate),
                  loss=make_triplet_loss(config.margin))
    train_ds = make_balanced_dataset(embeddings, train.labels, train.video_ids,
                                     batch_size=config.batch_size,
                                     frames_per_video=config.frames_per_video, seed=seed,
                                     steps_per_epoch=config.steps_per_epoch)
    val_ds = None
    if val is not None:
        # The same validation batches every epoch, so epochs are compared on equal terms.
        val_ds = make_balanced_dataset(val.embeddings, val.labels, val.video_ids,
                                       batch_size=config.batch_size,
                                       frames_per_video=config.frames_per_video, seed=seed + 1,
                                       steps_per_epoch=default_steps_per_epoch(val.labels,
                                                                               config.batch_size),
                                       reshuffle_each_iteration=False)
    monitor = "val_loss" if val_ds is not None else "loss"
    if val_ds is None:
        logger.warning("no validation videos: early stopping and keep-best watch the training loss")

    probe = embeddings[_probe_rows(train.labels, train.video_ids, seed)]
    collapse = EmbeddingCollapseMonitor(probe, tolerance=config.collapse_tolerance)
    keep_best = KeepBest(monitor)
    all_callbacks = [
        collapse,
        keep_best,
        # Restoring is KeepBest's job: EarlyStopping restores only when it stops training.
        keras.callbacks.EarlyStopping(monitor=monitor, patience=config.patience),
        keras.callbacks.TensorBoard(log_dir=str(run_dir / TENSORBOARD_DIR), write_graph=False,
                                    profile_batch=0),
        keras.callbacks.CSVLogger(str(run_dir / HISTORY_FILE)),
        _LogEpoch(),
        *callbacks,
    ]
    record: dict[str, Any] = {
        "config": config.to_dict(), "seed": int(seed), "input_dim": input_dim,
        "train": {"frames": int(len(train.labels)),
                  "videos": int(len(np.unique(train.video_ids)))},
        "val": {"frames": 0 if val is None else int(len(val.labels)),
                "videos": 0 if val is None else int(len(np.unique(val.video_ids)))},
        "monitor": monitor, "versions": package_versions(),
    }
    logger.info("training the triplet head: %d train frames (%d videos), %d validation frames",
                record["train"]["frames"], record["train"]["videos"], record["val"]["frames"])
    fitted = model.fit(train_ds, validation_data=val_ds, epochs=config.epochs,
                       callbacks=all_callbacks, verbose=0)
    history = {k: [float(v) for v in values] for k, values in fitted.history.items()}
    result = HeadTraining(model, history, monitor, keep_best.best_epoch, len(fitted.epoch))
    record.update(result.record(), collapsed=collapse.collapsed,
                  collapse_reason=collapse.reason)
    (run_dir / RECORD_FILE).write_text(json.dumps(record, indent=2, sort_keys=True), "utf-8")
    if collapse.collapsed:
        raise EmbeddingCollapseError(f"triplet training stopped: {collapse.reason}. "
                                     f"{COLLAPSE_HINT} (history in {run_dir / HISTORY_FILE})")
    logger.info("triplet head: best epoch %s of %d by %s", result.best_epoch, result.epochs_run,
                monitor)
    return result


# -- the method on in-memory tables (head, then classifiers) -------------------------------


@dataclasses.dataclass
class FittedTriplet:
    """What ``fit_triplet`` returns: the head (best epoch), the classifiers fitted on its
    outputs, their thresholds, validation metrics and the head's training record."""

    head: Any
    classifiers: dict[str, FrameClassifier]
    thresholds: dict[str, float]
    validation: dict[str, dict]
    training: Any  # triplet_training.HeadTraining


def fit_classifiers(features: np.ndarray, labels: np.ndarray,
                    names: Sequence[str] = DEFAULT_CLASSIFIERS,
                    seed: int = 0) -> dict[str, FrameClassifier]:
    """The poster's frame classifiers (``CLASSIFIER_PARAMS``), fitted on ``features``."""
    from tfdeepfake.classifiers import make_classifier

    fitted = {}
    for name in names:
        clf = make_classifier(name, **CLASSIFIER_PARAMS.get(name, {}))
        if "seed" in clf.get_params():
            clf.set_params(seed=seed)
        fitted[name] = clf.fit(features, labels)
    return fitted


def fit_triplet(train: EmbeddingTable, val: EmbeddingTable | None,
                config: TripletTrainingConfig, *, seed: int, run_dir: str | os.PathLike,
                classifiers: Sequence[str] = DEFAULT_CLASSIFIERS, threshold_mode: str = "fixed",
                aggregation: str = "mean") -> FittedTriplet:
    """The method on in-memory tables (anything with ``embeddings``, ``labels`` and
    ``video_ids``): the triplet head on ``train`` (``val`` watched for keep-best), then the
    classifiers on the head's outputs of ``train``; thresholds 0.5, or chosen on ``val``.
    ``train`` writes a model folder from this; experiments call it inside their folds."""
    trained = train_triplet_head(train, val, config, seed=seed, run_dir=Path(run_dir))
    head = trained.model
    fitted = fit_classifiers(_outputs(head, train.embeddings), train.labels, classifiers, seed)
    thresholds = {name: 0.5 for name in fitted}
    validation: dict[str, dict] = {}
    if val is not None:
        val_out = _outputs(head, val.embeddings)
        for name, clf in fitted.items():
            thresholds[name], validation[name] = _validate(clf, val_out, val, threshold_mode,
                                                           aggregation)
    return FittedTriplet(head, fitted, thresholds, validation, trained)


def _outputs(head, embeddings: np.ndarray) -> np.ndarray:
    return np.asarray(head.predict(np.asarray(embeddings, np.float32), batch_size=1024,
                                   verbose=0), np.float32)


def _validate(clf: FrameClassifier, outputs: np.ndarray, val: EmbeddingTable, mode: str,
              aggregation: str) -> tuple[float, dict]:
    """``(threshold, metrics)`` of a fitted classifier on the validation videos."""
    from tfdeepfake.evaluation.metrics import choose_threshold, frame_and_video_metrics

    probs = clf.predict_proba_fake(outputs)
    threshold = 0.5
    if mode == "validation":
        _, video_probs = aggregate_video_scores(probs, val.video_ids, how=aggregation)
        _, video_labels = aggregate_video_labels(val.labels, val.video_ids)
        threshold = float(choose_threshold(video_labels, video_probs))
    return threshold, frame_and_video_metrics(val.labels, probs, val.video_ids,
                                              threshold=threshold, how=aggregation)
