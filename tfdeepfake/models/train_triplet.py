"""Train the triplet head on FaceNet embeddings with Keras ``fit``.

Tables follow the embedding-table contract (``embeddings [N, D]``, ``labels [N]``,
``video_ids [N]``, ``frame_indices [N]``, ``splits [N]``) and may be mappings or
objects with those attributes. Validation is held-out *videos* of the training split
(``holdout_validation``), never the test split.

``train_triplet_head`` writes into ``out_dir``:

- ``best.weights.h5``: weights with the lowest monitored loss (ModelCheckpoint)
- ``triplet_head.weights.h5``: the returned model's weights (best, restored)
- ``history.csv``: per-epoch losses (CSVLogger)
- ``tensorboard/``: TensorBoard logs
- ``triplet_head.json``: config, seed, data sizes and package versions
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from tensorflow import keras

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
    split_by_video,
)
from tfdeepfake.provenance import package_versions

logger = logging.getLogger(__name__)

BEST_WEIGHTS = "best.weights.h5"
FINAL_WEIGHTS = "triplet_head.weights.h5"
METADATA_FILE = "triplet_head.json"
HISTORY_FILE = "history.csv"
TENSORBOARD_DIR = "tensorboard"

COLLAPSE_HINT = (
    "Check that every batch holds both classes (use "
    "tfdeepfake.pipelines.balanced.make_balanced_dataset), lower the learning rate, "
    "and check the inputs (NaN or constant embeddings, labels not 0/1)."
)

TABLE_FIELDS = ("embeddings", "labels", "video_ids", "frame_indices", "splits")


@dataclasses.dataclass(frozen=True)
class TripletTrainingConfig:
    """Settings of one triplet-head training run (defaults: the poster's)."""

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
    seed: int = 0

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
    def from_dict(cls, data: Mapping[str, Any]) -> TripletTrainingConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"unknown config keys {unknown}; valid: {sorted(names)}")
        return cls(**dict(data))


class EmbeddingCollapseError(RuntimeError):
    """Training stopped because the embedding collapsed; the message has a hint."""


def _field(table, name: str):
    if isinstance(table, Mapping):
        return table[name] if name in table else None
    return getattr(table, name, None)


def table_arrays(table) -> dict[str, np.ndarray]:
    """The embedding-table arrays of a mapping or object, checked for equal lengths."""
    out: dict[str, np.ndarray] = {}
    for name in TABLE_FIELDS:
        value = _field(table, name)
        if value is None:
            if name in ("embeddings", "labels", "video_ids"):
                raise ValueError(f"embedding table has no {name!r}")
            continue
        out[name] = np.asarray(value)
    out["embeddings"] = out["embeddings"].astype(np.float32, copy=False)
    out["video_ids"] = out["video_ids"].astype(str)
    if out["embeddings"].ndim != 2:
        raise ValueError(f"embeddings must be [N, D], got {out['embeddings'].shape}")
    n = len(out["embeddings"])
    for name, arr in out.items():
        if len(arr) != n:
            raise ValueError(f"table field {name!r} has {len(arr)} rows, embeddings {n}")
    return out


def select_rows(table, mask) -> dict[str, np.ndarray]:
    """The rows of a table where ``mask`` is true, as a dict table."""
    arrays = table_arrays(table)
    mask = np.asarray(mask, dtype=bool)
    return {name: arr[mask] for name, arr in arrays.items()}


def holdout_validation(
    table, val_fraction: float = 0.1, seed: int = 0
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Split the ``train`` rows of a table into (train, val) tables by video.

    Rows whose split is ``test`` (or anything but ``train``) are left out of both; a
    table without ``splits`` is taken to be all training rows.
    """
    arrays = table_arrays(table)
    if "splits" in arrays:
        keep = arrays["splits"].astype(str) == "train"
        if not keep.any():
            raise ValueError("the table has no rows with split 'train'")
        arrays = {name: arr[keep] for name, arr in arrays.items()}
    train_mask, val_mask = split_by_video(
        arrays["video_ids"], arrays["labels"], val_fraction=val_fraction, seed=seed
    )
    return (
        {name: arr[train_mask] for name, arr in arrays.items()},
        {name: arr[val_mask] for name, arr in arrays.items()},
    )


def check_embedding_collapse(outputs, tolerance: float = 1e-6) -> str | None:
    """Why ``outputs [B, E]`` look collapsed, or ``None`` when they do not."""
    outputs = np.asarray(outputs, dtype=np.float64)
    if not np.all(np.isfinite(outputs)):
        return "the head outputs NaN or infinite values on the probe batch"
    if len(outputs) < 2:
        return None
    spread = float(np.max(np.abs(outputs - outputs[:1])))
    if spread <= tolerance:
        return (
            f"all {len(outputs)} probe embeddings are equal within {tolerance:g} "
            f"(largest difference {spread:.3g})"
        )
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


def _probe_rows(labels, video_ids, config: TripletTrainingConfig) -> np.ndarray:
    size = int(min(max(len(labels), 2), 128))
    return balanced_batch_indices(
        labels, video_ids, batch_size=size, frames_per_video=size, num_batches=1,
        seed=config.seed,
    )[0]


def train_triplet_head(
    train_table,
    val_table,
    config: TripletTrainingConfig = TripletTrainingConfig(),
    out_dir: str | Path = "runs/triplet_head",
) -> tuple[keras.Model, keras.callbacks.History]:
    """Fit the triplet head with semi-hard triplet loss on balanced P x K batches.

    ``val_table`` holds held-out training videos (``holdout_validation``); with
    ``None`` the callbacks monitor the training loss instead. Returns the model with
    the best weights restored, and the Keras history. Raises
    ``EmbeddingCollapseError`` when training stopped on a collapsed embedding (the
    files written so far stay in ``out_dir``).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    train = table_arrays(train_table)
    val = table_arrays(val_table) if val_table is not None else None

    if val is not None:
        if "splits" in val and np.any(val["splits"].astype(str) == "test"):
            raise ValueError(
                "the validation table holds test-split rows; validate on held-out "
                "training videos (holdout_validation), never on the test split"
            )
        shared = np.intersect1d(train["video_ids"], val["video_ids"])
        if len(shared):
            raise ValueError(
                f"{len(shared)} video(s) are in both train and validation, e.g. "
                f"{shared[0]!r}; split by video (split_by_video)"
            )
        if val["embeddings"].shape[1] != train["embeddings"].shape[1]:
            raise ValueError("train and validation embeddings differ in dimension")

    keras.utils.set_random_seed(config.seed)
    input_dim = int(train["embeddings"].shape[1])
    model = build_triplet_head(
        input_dim=input_dim,
        hidden_units=config.hidden_units,
        embedding_dim=config.embedding_dim,
        dropout=config.dropout,
        seed=config.seed,
    )
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=config.learning_rate),
        loss=make_triplet_loss(config.margin),
    )

    train_ds = make_balanced_dataset(
        train["embeddings"],
        train["labels"],
        train["video_ids"],
        batch_size=config.batch_size,
        frames_per_video=config.frames_per_video,
        seed=config.seed,
        steps_per_epoch=config.steps_per_epoch,
    )
    val_ds = None
    if val is not None:
        val_ds = make_balanced_dataset(
            val["embeddings"],
            val["labels"],
            val["video_ids"],
            batch_size=config.batch_size,
            frames_per_video=config.frames_per_video,
            seed=config.seed + 1,
            steps_per_epoch=default_steps_per_epoch(val["labels"], config.batch_size),
            reshuffle_each_iteration=False,
        )
    monitor = "val_loss" if val_ds is not None else "loss"
    if val_ds is None:
        logger.warning(
            "no validation table: early stopping and checkpoints watch the training loss"
        )

    probe = train["embeddings"][_probe_rows(train["labels"], train["video_ids"], config)]
    collapse = EmbeddingCollapseMonitor(probe, tolerance=config.collapse_tolerance)
    callbacks = [
        collapse,
        keras.callbacks.ModelCheckpoint(
            str(out_dir / BEST_WEIGHTS),
            monitor=monitor,
            save_best_only=True,
            save_weights_only=True,
        ),
        keras.callbacks.EarlyStopping(
            monitor=monitor, patience=config.patience, restore_best_weights=True
        ),
        keras.callbacks.TensorBoard(
            log_dir=str(out_dir / TENSORBOARD_DIR), write_graph=False, profile_batch=0
        ),
        keras.callbacks.CSVLogger(str(out_dir / HISTORY_FILE)),
        _LogEpoch(),
    ]

    metadata = {
        "config": config.to_dict(),
        "seed": config.seed,
        "input_dim": input_dim,
        "n_train_frames": int(len(train["labels"])),
        "n_train_videos": int(len(np.unique(train["video_ids"]))),
        "n_val_frames": 0 if val is None else int(len(val["labels"])),
        "n_val_videos": 0 if val is None else int(len(np.unique(val["video_ids"]))),
        "monitor": monitor,
        "package_versions": package_versions(),
    }
    logger.info(
        "training triplet head: %d train frames (%d videos), %d val frames, config %s",
        metadata["n_train_frames"],
        metadata["n_train_videos"],
        metadata["n_val_frames"],
        config.to_dict(),
    )
    history = model.fit(
        train_ds, validation_data=val_ds, epochs=config.epochs, callbacks=callbacks, verbose=0
    )
    metadata["epochs_run"] = len(history.epoch)
    metadata["collapsed"] = collapse.collapsed
    metadata["collapse_reason"] = collapse.reason
    (out_dir / METADATA_FILE).write_text(json.dumps(metadata, indent=2, sort_keys=True))
    if collapse.collapsed:
        raise EmbeddingCollapseError(
            f"triplet training stopped: {collapse.reason}. {COLLAPSE_HINT} "
            f"(history in {out_dir / HISTORY_FILE})"
        )
    model.save_weights(str(out_dir / FINAL_WEIGHTS))
    return model, history


def load_triplet_head(out_dir: str | Path) -> keras.Model:
    """Rebuild a trained head from ``triplet_head.json`` and its weights file."""
    out_dir = Path(out_dir)
    metadata = json.loads((out_dir / METADATA_FILE).read_text())
    config = TripletTrainingConfig.from_dict(metadata["config"])
    model = build_triplet_head(
        input_dim=metadata["input_dim"],
        hidden_units=config.hidden_units,
        embedding_dim=config.embedding_dim,
        dropout=config.dropout,
        seed=config.seed,
    )
    model.load_weights(str(out_dir / FINAL_WEIGHTS))
    return model
