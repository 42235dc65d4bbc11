"""Training and scoring of the poster's two baselines: Xception on frames, LSTM over frames.

Poster settings (Celeb-DF): Xception lr 0.05, LSTM lr 0.01, both 30 epochs, batch 64. The
poster does not name an optimizer; both rates are SGD-scale, so SGD with momentum 0.9 is the
default (``optimizer="adam"`` is the alternative). Deviations from the poster that are on by
default and can be turned off: class balancing by oversampling (Celeb-DF-v2's training set
is 7:1 fake:real), augmentation for the frame model, early stopping on the validation loss
with the best weights restored (``early_stopping_patience=None`` trains all epochs).

Each run writes into ``out_dir``: ``config.json`` (settings, seed, package versions,
strategy), ``<name>_best.h5`` (weights only, best epoch by the monitored loss),
``history.csv``, and ``tensorboard/`` when enabled. Models are built and compiled inside
``strategy.scope()``. Keras' own progress output is off unless ``verbose`` asks for it.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf
from tensorflow import keras

from tfdeepfake.constants import DEFAULT_NUM_FRAMES, DEFAULT_SEED, XCEPTION_INPUT_SIZE
from tfdeepfake.models.lstm import POSTER_LSTM_LEARNING_RATE, build_lstm_classifier, is_sequence_model
from tfdeepfake.models.xception import (
    POSTER_BATCH_SIZE,
    POSTER_EPOCHS,
    POSTER_XCEPTION_LEARNING_RATE,
    build_xception_classifier,
    build_xception_features,
    make_optimizer,
    model_input_size,
)
from tfdeepfake.scoring import aggregate_video_scores
from tfdeepfake.pipelines.frames import (
    VideoSource,
    make_frame_dataset,
    make_frame_eval_dataset,
)
from tfdeepfake.pipelines.sequences import (
    FEATURES_KEY,
    MASK_KEY,
    SequenceArrays,
    compute_sequence_features,
    make_sequence_dataset,
)
from tfdeepfake.provenance import package_versions

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class BaselineTrainingConfig:
    """Settings shared by both baselines. ``early_stopping_patience=None`` disables it."""

    learning_rate: float
    epochs: int = POSTER_EPOCHS
    batch_size: int = POSTER_BATCH_SIZE
    optimizer: str = "sgd"
    momentum: float = 0.9
    balance: str = "oversample"
    early_stopping_patience: int | None = 10
    tensorboard: bool = True
    seed: int = DEFAULT_SEED

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class XceptionTrainingConfig(BaselineTrainingConfig):
    """Xception on frames; poster: lr 0.05, 30 epochs, batch 64."""

    learning_rate: float = POSTER_XCEPTION_LEARNING_RATE
    input_size: int = XCEPTION_INPUT_SIZE
    weights: str | None = None  # None, "imagenet" or a local no-top weights file
    dropout: float = 0.5
    augment: bool = True
    shuffle_buffer: int = 2048


@dataclasses.dataclass(frozen=True)
class LSTMTrainingConfig(BaselineTrainingConfig):
    """LSTM over frame features; poster: lr 0.01, 30 epochs, batch 64.

    ``extractor_*`` configure the default Xception feature extractor, used when the training
    data are videos rather than ready ``SequenceArrays``.
    """

    learning_rate: float = POSTER_LSTM_LEARNING_RATE
    num_frames: int = DEFAULT_NUM_FRAMES
    units: int = 128
    dropout: float = 0.3
    extractor_input_size: int = XCEPTION_INPUT_SIZE
    extractor_weights: str | None = None
    feature_batch_size: int = 64


@dataclasses.dataclass
class TrainingResult:
    model: keras.Model
    history: dict[str, list[float]]
    out_dir: Path
    best_weights_path: Path


def _callbacks(out_dir: Path, name: str, config: BaselineTrainingConfig, has_val: bool):
    monitor = "val_loss" if has_val else "loss"
    weights_path = out_dir / f"{name}_best.h5"
    callbacks = [
        keras.callbacks.ModelCheckpoint(
            str(weights_path), monitor=monitor, save_best_only=True, save_weights_only=True
        ),
        keras.callbacks.CSVLogger(str(out_dir / "history.csv")),
    ]
    if config.early_stopping_patience is not None:
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor=monitor, patience=config.early_stopping_patience, restore_best_weights=True
            )
        )
    if config.tensorboard:
        callbacks.append(
            keras.callbacks.TensorBoard(str(out_dir / "tensorboard"), write_graph=False, profile_batch=0)
        )
    return callbacks, weights_path


def _compile(model: keras.Model, config: BaselineTrainingConfig) -> None:
    model.compile(
        optimizer=make_optimizer(config.optimizer, config.learning_rate, config.momentum),
        loss=keras.losses.BinaryCrossentropy(),
        metrics=[keras.metrics.BinaryAccuracy(name="accuracy"), keras.metrics.AUC(name="auc")],
    )


def _write_run_record(out_dir: Path, name: str, config: BaselineTrainingConfig,
                      strategy: tf.distribute.Strategy, extra: dict[str, Any] | None = None) -> None:
    record = {
        "model": name,
        "config": config.to_dict(),
        "seed": config.seed,
        "strategy": type(strategy).__name__,
        "num_replicas": strategy.num_replicas_in_sync,
        "versions": package_versions(),
    }
    record.update(extra or {})
    (out_dir / "config.json").write_text(json.dumps(record, indent=2, sort_keys=True))


def _prepare(out_dir, config, strategy):
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(config.seed)
    return out_dir, strategy or tf.distribute.get_strategy()


def train_xception(
    train_videos: VideoSource,
    val_videos: VideoSource | None,
    config: XceptionTrainingConfig = XceptionTrainingConfig(),
    out_dir: str | os.PathLike = "runs/xception",
    strategy: tf.distribute.Strategy | None = None,
    *,
    class_counts: dict[int, int] | None = None,
    verbose: int | str = 0,
) -> TrainingResult:
    """Train the Xception frame classifier on face frames of ``train_videos``.

    Video sources are as in ``tfdeepfake.pipelines.frames`` (a list, or a callable such as
    ``lambda: iter_face_videos(path)``). ``class_counts`` (frames per label) saves the
    counting pass over the training source.
    """
    out_dir, strategy = _prepare(out_dir, config, strategy)
    _write_run_record(out_dir, "xception", config, strategy)
    train_ds = make_frame_dataset(
        train_videos,
        input_size=config.input_size,
        batch_size=config.batch_size,
        training=True,
        balance=config.balance,
        augment=config.augment,
        seed=config.seed,
        shuffle_buffer=config.shuffle_buffer,
        class_counts=class_counts,
    )
    val_ds = None
    if val_videos is not None:
        val_ds = make_frame_dataset(
            val_videos, input_size=config.input_size, batch_size=config.batch_size, training=False
        )
    with strategy.scope():
        model = build_xception_classifier(
            config.input_size, weights=config.weights, dropout=config.dropout, seed=config.seed
        )
        _compile(model, config)
    callbacks, weights_path = _callbacks(out_dir, "xception", config, val_ds is not None)
    logger.info("Training Xception for %d epochs into %s", config.epochs, out_dir)
    history = model.fit(train_ds, validation_data=val_ds, epochs=config.epochs,
                        callbacks=callbacks, verbose=verbose)
    return TrainingResult(model, dict(history.history), out_dir, weights_path)


def _as_sequences(videos, feature_extractor, config: LSTMTrainingConfig) -> SequenceArrays:
    if isinstance(videos, SequenceArrays):
        return videos
    return compute_sequence_features(
        videos, feature_extractor, num_frames=config.num_frames, batch_size=config.feature_batch_size
    )


def train_lstm(
    train_videos: VideoSource | SequenceArrays,
    val_videos: VideoSource | SequenceArrays | None,
    config: LSTMTrainingConfig = LSTMTrainingConfig(),
    out_dir: str | os.PathLike = "runs/lstm",
    strategy: tf.distribute.Strategy | None = None,
    *,
    feature_extractor: keras.Model | Callable[[np.ndarray], Any] | None = None,
    verbose: int | str = 0,
) -> TrainingResult:
    """Train the LSTM video classifier.

    Inputs are ready ``SequenceArrays`` (e.g. FaceNet embeddings through
    ``sequences_from_embedding_table``) or video sources, whose features are computed first
    with ``feature_extractor`` (default: ``build_xception_features(config.extractor_input_size,
    config.extractor_weights)``).
    """
    out_dir, strategy = _prepare(out_dir, config, strategy)
    needs_features = not isinstance(train_videos, SequenceArrays) or (
        val_videos is not None and not isinstance(val_videos, SequenceArrays)
    )
    if needs_features and feature_extractor is None:
        feature_extractor = build_xception_features(config.extractor_input_size, config.extractor_weights)
    extractor_name = getattr(feature_extractor, "name", type(feature_extractor).__name__)
    train = _as_sequences(train_videos, feature_extractor, config)
    val = _as_sequences(val_videos, feature_extractor, config) if val_videos is not None else None
    if train.num_frames != config.num_frames:
        logger.warning("Sequences have %d frames, config says %d; using %d",
                       train.num_frames, config.num_frames, train.num_frames)
    _write_run_record(
        out_dir, "lstm", config, strategy,
        {"feature_dim": train.feature_dim, "num_frames": train.num_frames,
         "feature_extractor": extractor_name if needs_features else "precomputed"},
    )
    train_ds = make_sequence_dataset(train, batch_size=config.batch_size, training=True,
                                     balance=config.balance, seed=config.seed)
    val_ds = None
    if val is not None:
        val_ds = make_sequence_dataset(val, batch_size=config.batch_size, training=False)
    with strategy.scope():
        model = build_lstm_classifier(train.num_frames, train.feature_dim, config.units,
                                      config.dropout, seed=config.seed)
        _compile(model, config)
    callbacks, weights_path = _callbacks(out_dir, "lstm", config, val_ds is not None)
    logger.info("Training LSTM on %d videos for %d epochs into %s", len(train), config.epochs, out_dir)
    history = model.fit(train_ds, validation_data=val_ds, epochs=config.epochs,
                        callbacks=callbacks, verbose=verbose)
    return TrainingResult(model, dict(history.history), out_dir, weights_path)


def predict_video_scores(
    model: keras.Model,
    videos: VideoSource | SequenceArrays,
    *,
    batch_size: int = 64,
    feature_extractor: keras.Model | Callable[[np.ndarray], Any] | None = None,
    method: str = "mean",
    return_labels: bool = False,
):
    """Fake probability per video: ``(video_ids, probs float32)`` (``+ labels`` on request).

    Xception classifier: frame probabilities aggregated per video by ``method`` (the mean,
    the poster's rule). LSTM classifier: one probability per video, from ``SequenceArrays``
    or from videos through ``feature_extractor`` (required then). Videos without faces get no
    score; a warning names them.
    """
    if is_sequence_model(model):
        if isinstance(videos, SequenceArrays):
            arrays = videos
        else:
            if feature_extractor is None:
                raise ValueError("an LSTM model scores videos through a feature_extractor")
            num_frames = int(model.get_layer(FEATURES_KEY).output.shape[1])
            arrays = compute_sequence_features(videos, feature_extractor, num_frames=num_frames,
                                               batch_size=batch_size)
        probs = model.predict({FEATURES_KEY: arrays.features, MASK_KEY: arrays.mask},
                              batch_size=batch_size, verbose=0).reshape(-1)
        ids, scores, labels = list(arrays.video_ids), probs.astype(np.float32), arrays.labels
    else:
        dataset = make_frame_eval_dataset(videos, input_size=model_input_size(model), batch_size=batch_size)
        frame_ids, frame_probs, frame_labels = [], [], []
        for images, batch_labels, batch_ids in dataset:
            frame_probs.append(np.asarray(model.predict_on_batch(images)).reshape(-1))
            frame_labels.append(batch_labels.numpy())
            frame_ids.extend(v.decode() for v in batch_ids.numpy())
        if not frame_ids:
            raise ValueError("no face frames to score")
        probs = np.concatenate(frame_probs)
        video_ids, video_scores = aggregate_video_scores(probs, frame_ids, how=method)
        ids, scores = list(video_ids), video_scores.astype(np.float32)
        first_label = dict(zip(reversed(frame_ids), reversed(np.concatenate(frame_labels).tolist())))
        labels = np.array([first_label[v] for v in ids], dtype=np.int32)
    if return_labels:
        return ids, scores, labels
    return ids, scores


__all__ = [
    "BaselineTrainingConfig",
    "LSTMTrainingConfig",
    "TrainingResult",
    "XceptionTrainingConfig",
    "predict_video_scores",
    "train_lstm",
    "train_xception",
]
