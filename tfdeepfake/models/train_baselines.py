"""The Keras fit loops of the poster's two baselines: Xception on frames, LSTM over frames.

Poster settings (Celeb-DF): Xception lr 0.05, LSTM lr 0.01, both 30 epochs, batch 64. The
poster does not name an optimizer; both rates are SGD-scale, so SGD with momentum 0.9 is the
default (``optimizer="adam"`` is the alternative). Deviations from the poster that are on by
default and can be turned off: class balancing by oversampling (Celeb-DF-v2's training set
is 7:1 fake:real), augmentation for the frame model, early stopping on the validation loss
(``early_stopping_patience=None`` trains all epochs).

Keep-best is the caller's: the detectors pass ``tfdeepfake.detectors.base.KeepBest(monitor)``
in ``callbacks`` (``monitor_for`` names the monitored loss), so the returned model holds the
weights of the best epoch whether or not early stopping ended the run; this module stays
upstream of ``detectors/``. Each run writes into its ``run_dir``: ``config.json``
(settings, seed, package versions, strategy), ``history.csv`` and ``tensorboard/`` when
enabled; no checkpoint files. Models are built and compiled inside ``strategy.scope()``.
Keras' own progress output is off unless ``verbose`` asks for it.

The detectors (``tfdeepfake.detectors.xception`` / ``.lstm``) choose the data, call these
loops and write the model folder; nothing else here reads a cache.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import tensorflow as tf
from tensorflow import keras

from tfdeepfake.constants import DEFAULT_NUM_FRAMES, DEFAULT_SEED, XCEPTION_INPUT_SIZE
from tfdeepfake.models import xception as xception_models
from tfdeepfake.models.lstm import POSTER_LSTM_LEARNING_RATE, build_lstm_classifier
from tfdeepfake.models.xception import (
    OPTIMIZERS,
    POSTER_BATCH_SIZE,
    POSTER_EPOCHS,
    POSTER_XCEPTION_LEARNING_RATE,
    make_optimizer,
)
from tfdeepfake.pipelines.frames import BALANCE_MODES, VideoSource, make_frame_dataset
from tfdeepfake.pipelines.sequences import SequenceArrays, make_sequence_dataset
from tfdeepfake.provenance import package_versions

logger = logging.getLogger(__name__)

# Per-frame features an LSTM can read: Xception's (from a face cache, the extractor saved
# with the model) or FaceNet's (from an embedding cache).
LSTM_FEATURES = ("xception", "facenet")


@dataclasses.dataclass(frozen=True)
class BaselineTrainingConfig:
    """Settings shared by both baselines. ``early_stopping_patience=None`` disables it.

    The seed is not here: it travels in ``TrainOptions`` with the detector's other run
    settings and is recorded in ``model.json``.
    """

    learning_rate: float
    epochs: int = POSTER_EPOCHS
    batch_size: int = POSTER_BATCH_SIZE
    optimizer: str = "sgd"
    momentum: float = 0.9
    balance: str = "oversample"
    early_stopping_patience: int | None = 10
    tensorboard: bool = True

    def __post_init__(self):
        if self.optimizer.lower() not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.optimizer!r}; valid: {', '.join(OPTIMIZERS)}")
        if self.balance not in BALANCE_MODES:
            raise ValueError(f"unknown balance {self.balance!r}; valid: {', '.join(BALANCE_MODES)}")
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError(f"epochs and batch_size must be >= 1, got {self.epochs}, {self.batch_size}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class XceptionTrainingConfig(BaselineTrainingConfig):
    """Xception on frames; poster: lr 0.05, 30 epochs, batch 64."""

    learning_rate: float = POSTER_XCEPTION_LEARNING_RATE
    input_size: int = XCEPTION_INPUT_SIZE
    dropout: float = 0.5
    augment: bool = True
    shuffle_buffer: int = 2048


@dataclasses.dataclass(frozen=True)
class LSTMTrainingConfig(BaselineTrainingConfig):
    """LSTM over frame features; poster: lr 0.01, 30 epochs, batch 64.

    ``extractor_*`` configure the Xception feature extractor (saved with the model) when the
    LSTM reads Xception features; which features it reads is the detector's ``train``
    argument, since it also decides the cache kind.
    """

    learning_rate: float = POSTER_LSTM_LEARNING_RATE
    num_frames: int = DEFAULT_NUM_FRAMES
    units: int = 128
    dropout: float = 0.3
    extractor_input_size: int = XCEPTION_INPUT_SIZE
    feature_batch_size: int = 64

    def __post_init__(self):
        super().__post_init__()
        if self.num_frames < 1 or self.units < 1:
            raise ValueError(f"num_frames and units must be >= 1, got {self.num_frames}, {self.units}")


@dataclasses.dataclass
class TrainingResult:
    model: keras.Model  # the best epoch's weights when a KeepBest callback was passed
    history: dict[str, list[float]]
    run_dir: Path
    monitor: str


def monitor_for(has_validation: bool) -> str:
    """The loss early stopping and keep-best follow."""
    return "val_loss" if has_validation else "loss"


def _callbacks(run_dir: Path, config: BaselineTrainingConfig, monitor: str, extra: Sequence):
    callbacks = [*extra, keras.callbacks.CSVLogger(str(run_dir / "history.csv"))]
    if config.early_stopping_patience is not None:
        # Only ends the run: restoring the best weights is KeepBest's job (tf-keras 2.15
        # restores only when early stopping itself stops training).
        callbacks.append(keras.callbacks.EarlyStopping(monitor=monitor,
                                                       patience=config.early_stopping_patience))
    if config.tensorboard:
        callbacks.append(keras.callbacks.TensorBoard(str(run_dir / "tensorboard"),
                                                     write_graph=False, profile_batch=0))
    return callbacks


def _compile(model: keras.Model, config: BaselineTrainingConfig) -> None:
    model.compile(
        optimizer=make_optimizer(config.optimizer, config.learning_rate, config.momentum),
        loss=keras.losses.BinaryCrossentropy(),
        metrics=[keras.metrics.BinaryAccuracy(name="accuracy"), keras.metrics.AUC(name="auc")],
    )


def _write_run_record(run_dir: Path, name: str, config: BaselineTrainingConfig, seed: int,
                      strategy: tf.distribute.Strategy, extra: dict[str, Any] | None = None) -> None:
    record = {"model": name, "config": config.to_dict(), "seed": int(seed),
              **strategy_record(strategy), "versions": package_versions(), **(extra or {})}
    (run_dir / "config.json").write_text(json.dumps(record, indent=2, sort_keys=True), "utf-8")


def strategy_record(strategy: tf.distribute.Strategy, name: str | None = None) -> dict[str, Any]:
    record = {"class": type(strategy).__name__, "num_replicas": int(strategy.num_replicas_in_sync)}
    return {"name": name, **record} if name is not None else record


def _prepare(run_dir, seed: int, strategy):
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(int(seed))  # a training run is reproducible from its seed
    return run_dir, strategy or tf.distribute.get_strategy()


def _fit(model, train_ds, val_ds, config, run_dir: Path, verbose, callbacks) -> TrainingResult:
    monitor = monitor_for(val_ds is not None)
    history = model.fit(train_ds, validation_data=val_ds, epochs=config.epochs,
                        callbacks=_callbacks(run_dir, config, monitor, callbacks), verbose=verbose)
    values = {k: [float(v) for v in vals] for k, vals in history.history.items()}
    return TrainingResult(model, values, run_dir, monitor)


def train_xception(
    train_videos: VideoSource,
    val_videos: VideoSource | None,
    config: XceptionTrainingConfig = XceptionTrainingConfig(),
    run_dir: str | os.PathLike = "runs/xception",
    strategy: tf.distribute.Strategy | None = None,
    *,
    weights: str | os.PathLike | None = None,
    seed: int = DEFAULT_SEED,
    class_counts: dict[int, int] | None = None,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    verbose: int | str = 0,
) -> TrainingResult:
    """Train the Xception frame classifier on the face frames of ``train_videos``.

    Video sources are as in ``tfdeepfake.pipelines.frames`` (a list, or a callable such as
    ``lambda: iter_face_videos(path)``). ``weights``: the trunk's initial weights (None:
    random, ``"imagenet"`` or Keras' no-top file). ``class_counts`` (frames per label) saves
    the counting pass over the training source.
    """
    run_dir, strategy = _prepare(run_dir, seed, strategy)
    _write_run_record(run_dir, "xception", config, seed, strategy,
                      {"weights": None if weights is None else str(weights)})
    train_ds = make_frame_dataset(
        train_videos, input_size=config.input_size, batch_size=config.batch_size, training=True,
        balance=config.balance, augment=config.augment, seed=seed,
        shuffle_buffer=config.shuffle_buffer, class_counts=class_counts)
    val_ds = None
    if val_videos is not None:
        val_ds = make_frame_dataset(val_videos, input_size=config.input_size,
                                    batch_size=config.batch_size, training=False)
    with strategy.scope():
        # Through the module, so one builder is used everywhere (and tests can swap it).
        model = xception_models.build_xception_classifier(
            config.input_size, weights=weights, dropout=config.dropout, seed=seed)
        _compile(model, config)
    logger.info("Training Xception for %d epochs (run files in %s)", config.epochs, run_dir)
    return _fit(model, train_ds, val_ds, config, run_dir, verbose, callbacks)


def train_lstm(
    train: SequenceArrays,
    val: SequenceArrays | None,
    config: LSTMTrainingConfig = LSTMTrainingConfig(),
    run_dir: str | os.PathLike = "runs/lstm",
    strategy: tf.distribute.Strategy | None = None,
    *,
    seed: int = DEFAULT_SEED,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    verbose: int | str = 0,
) -> TrainingResult:
    """Train the LSTM video classifier on ready per-video feature sequences."""
    run_dir, strategy = _prepare(run_dir, seed, strategy)
    if train.num_frames != config.num_frames:
        logger.warning("Sequences have %d frames, config says %d; using %d",
                       train.num_frames, config.num_frames, train.num_frames)
    _write_run_record(run_dir, "lstm", config, seed, strategy,
                      {"feature_dim": train.feature_dim, "num_frames": train.num_frames})
    train_ds = make_sequence_dataset(train, batch_size=config.batch_size, training=True,
                                     balance=config.balance, seed=seed)
    val_ds = None
    if val is not None:
        val_ds = make_sequence_dataset(val, batch_size=config.batch_size, training=False)
    with strategy.scope():
        model = build_lstm_classifier(train.num_frames, train.feature_dim, config.units,
                                      config.dropout, seed=seed)
        _compile(model, config)
    logger.info("Training LSTM on %d videos for %d epochs (run files in %s)", len(train),
                config.epochs, run_dir)
    return _fit(model, train_ds, val_ds, config, run_dir, verbose, callbacks)


def save_weights(model: keras.Model, path: str | os.PathLike) -> Path:
    """``.weights.h5`` of the model's variables only: a compiled model would also store
    its optimizer's slots, doubling the file."""
    twin = keras.models.clone_model(model)
    twin.set_weights(model.get_weights())
    twin.save_weights(str(path))
    return Path(path)


__all__ = [
    "BaselineTrainingConfig",
    "LSTMTrainingConfig",
    "LSTM_FEATURES",
    "TrainingResult",
    "XceptionTrainingConfig",
    "monitor_for",
    "save_weights",
    "strategy_record",
    "train_lstm",
    "train_xception",
]
