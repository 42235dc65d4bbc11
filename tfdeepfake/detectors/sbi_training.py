"""Training on real faces only, with self-blended pseudo-fakes (SBI) as the fake class.

- ``fit_sbi``: the ``sbi`` detector's Keras loop (a backbone + binary head on batches of real
  faces and their pseudo-fakes, ``tfdeepfake.pipelines.self_blend``), keep-best on the
  validation loss (held-out real videos and their fixed pseudo-fakes);
- ``sbi_embedding_table``: FaceNet embeddings of real faces and of their pseudo-fakes, the
  input the poster's triplet method trains on (``tfdeepfake train triplet --fakes sbi``).

Both read real faces only; which videos they get is the caller's choice (the detectors pick
the cache's real ``train``/``val`` videos, experiments pick their folds).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import tensorflow as tf
from tensorflow import keras

from tfdeepfake.constants import FAKE, REAL
from tfdeepfake.models.sbi_classifier import BACKBONES, TRAINABLE_FROM
from tfdeepfake.pipelines.self_blend import RealFaces
from tfdeepfake.synthetic.self_blend import PairAugmentConfig, SelfBlendConfig, self_blend

logger = logging.getLogger(__name__)

OPTIMIZERS = ("adam", "sgd")
# What keep-best and early stopping watch on the validation videos (real faces and their
# fixed pseudo-fakes): "auc" (as 1 - AUC) ranks faces and ignores a shift of all scores
# of a few held-out people, which swings the loss of so small a set from epoch to epoch.
MONITORS = ("auc", "loss")
HISTORY_FILE = "history.csv"
SBI_SUFFIX = "#sbi"  # video id of a real video's pseudo-fakes: "<video_id>#sbi"


@dataclasses.dataclass(frozen=True)
class SBITrainingConfig:
    """Settings of the ``sbi`` detector's training. ``batch_size`` counts real faces: each
    batch also holds their pseudo-fakes, so the network sees twice as many. The seed is
    ``TrainOptions.seed``."""

    backbone: str = "facenet"
    facenet_model: str | None = None  # FaceNet key; None: the installed weights' model
    random_init: bool = False  # FaceNet with seeded random weights: tests only, flagged
    trainable_from: str = "Mixed_7a"
    input_size: int = 160
    dropout: float = 0.5
    learning_rate: float = 2e-4
    optimizer: str = "adam"
    epochs: int = 20
    batch_size: int = 16
    patience: int | None = 5  # epochs without a better monitored value; None: all epochs
    monitor: str = "auc"
    max_faces_per_video: int | None = None
    flip: bool = True
    augment: bool = True  # the same colour / JPEG / blur change on a real face and its fake
    # ... and the same resolution drop (64-160 px faces) and noise (needs augment), so that
    # image quality cannot tell the classes apart.
    quality_augment: bool = False
    # Share of pseudo-fakes that imitate lip-sync (lower face through a bottleneck); the
    # blend config's mouth_probability, set here so the CLI can reach it.
    mouth_fakes: float = 0.0
    blend: SelfBlendConfig = dataclasses.field(default_factory=SelfBlendConfig)

    def __post_init__(self):
        if isinstance(self.blend, Mapping):
            object.__setattr__(self, "blend", SelfBlendConfig.from_dict(self.blend))
        if self.mouth_fakes != self.blend.mouth_probability:
            object.__setattr__(self, "blend", dataclasses.replace(
                self.blend, mouth_probability=float(self.mouth_fakes)))
        if self.backbone not in BACKBONES:
            raise ValueError(f"unknown backbone {self.backbone!r}; valid: {', '.join(BACKBONES)}")
        if self.trainable_from not in TRAINABLE_FROM:
            raise ValueError(f"unknown trainable_from {self.trainable_from!r}; valid: "
                             f"{', '.join(TRAINABLE_FROM)}")
        if self.monitor not in MONITORS:
            raise ValueError(f"unknown monitor {self.monitor!r}; valid: {', '.join(MONITORS)}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.optimizer!r}; valid: {', '.join(OPTIMIZERS)}")
        if self.learning_rate <= 0 or self.epochs < 1 or self.batch_size < 1:
            raise ValueError("learning_rate must be > 0, epochs and batch_size >= 1; got "
                             f"{self.learning_rate}, {self.epochs}, {self.batch_size}")
        if self.patience is not None and self.patience < 0:
            raise ValueError(f"patience must be >= 0 or None, got {self.patience}")
        if self.max_faces_per_video is not None and self.max_faces_per_video < 1:
            raise ValueError(f"max_faces_per_video must be >= 1 or None, got "
                             f"{self.max_faces_per_video}")
        if self.input_size < 32:
            raise ValueError(f"input_size must be >= 32, got {self.input_size}")

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["blend"] = self.blend.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "SBITrainingConfig":
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(data) - set(names))
        if unknown:
            raise ValueError(f"unknown sbi config keys {unknown}; valid: {', '.join(names)}")
        return cls(**dict(data))


@dataclasses.dataclass
class SBIFit:
    """A trained network (best epoch's weights), its FaceNet start and how training went."""

    model: Any  # keras.Model
    facenet: dict | None  # FaceNetIdentity.to_dict() of the starting FaceNet, if any
    history: dict[str, list[float]]
    monitor: str
    best_epoch: int | None
    epochs_run: int
    faces: dict[str, int]
    seconds: float

    def record(self) -> dict[str, Any]:
        return {"monitor": self.monitor, "best_epoch": self.best_epoch,
                "epochs_run": self.epochs_run, "history": self.history, "faces": self.faces,
                "seconds": round(self.seconds, 2)}


def pair_augment_config(config: SBITrainingConfig) -> PairAugmentConfig | None:
    """The pair augmentation ``config`` trains with (None: none)."""
    if not config.augment:
        return None
    if config.quality_augment:
        return PairAugmentConfig(rescale_probability=0.5, noise_probability=0.3)
    return PairAugmentConfig()


def _optimizer(config: SBITrainingConfig):
    if config.optimizer == "sgd":
        return keras.optimizers.SGD(learning_rate=config.learning_rate, momentum=0.9)
    return keras.optimizers.Adam(learning_rate=config.learning_rate)


def build_for_training(config: SBITrainingConfig, seed: int,
                       facenet_weights: str | os.PathLike | None = None):
    """``(model, facenet identity dict or None)``: the network to train, FaceNet loaded
    (pretrained, or random init when ``config.random_init``) for the facenet backbone."""
    from tfdeepfake.models.sbi_classifier import build_sbi_classifier

    network, identity = None, None
    if config.backbone == "facenet":
        from tfdeepfake.models.facenet import load_facenet

        embedder = load_facenet(config.facenet_model, None if config.random_init else facenet_weights,
                                random_init=config.random_init, seed=seed)
        network, identity = embedder.model, embedder.identity.to_dict()
    model = build_sbi_classifier(config.backbone, input_size=config.input_size,
                                 trainable_from=config.trainable_from, dropout=config.dropout,
                                 seed=seed, facenet_network=network)
    return model, identity


def fit_sbi(train: RealFaces, val: RealFaces | None, config: SBITrainingConfig, *, seed: int,
            run_dir: str | os.PathLike, strategy=None,
            facenet_weights: str | os.PathLike | None = None, callbacks: Sequence = ()) -> SBIFit:
    """Train the network of ``config`` on ``train``'s real faces and their pseudo-fakes;
    ``val`` (real faces of other videos, or None) is what keep-best and early stopping
    watch. Writes ``history.csv`` into ``run_dir``."""
    from tfdeepfake.detectors.base import KeepBest
    from tfdeepfake.pipelines.self_blend import make_self_blend_dataset, steps_per_epoch

    started = time.perf_counter()
    if not len(train):
        raise ValueError("no real training faces")
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    strategy = strategy or tf.distribute.get_strategy()
    keras.utils.set_random_seed(int(seed))
    batch = config.batch_size * strategy.num_replicas_in_sync
    train_ds = make_self_blend_dataset(train, batch_size=batch, seed=seed, config=config.blend,
                                       epochs=config.epochs, training=True,
                                       input_size=config.input_size, flip=config.flip,
                                       augment=pair_augment_config(config))
    val_ds = None
    if val is not None and len(val):
        val_ds = make_self_blend_dataset(val, batch_size=batch, seed=seed + 1, config=config.blend,
                                         training=False, input_size=config.input_size)
    with strategy.scope():
        model, identity = build_for_training(config, seed, facenet_weights)
        model.compile(optimizer=_optimizer(config), loss=keras.losses.BinaryCrossentropy(),
                      metrics=[keras.metrics.BinaryAccuracy(name="accuracy"),
                               keras.metrics.AUC(name="auc")])
    prefix = "val_" if val_ds is not None else ""
    monitor = prefix + ("auc_loss" if config.monitor == "auc" else "loss")
    if val_ds is None:
        logger.warning("no validation videos: keep-best and early stopping watch the training data")
    keep_best = KeepBest(monitor)
    # _AUCLoss first: the callbacks share one logs dict, so the others see its entry.
    all_callbacks = [_AUCLoss(prefix), keep_best,
                     keras.callbacks.CSVLogger(str(run_dir / HISTORY_FILE)), _LogEpoch(),
                     *callbacks]
    if config.patience is not None:
        # Only ends the run; KeepBest restores the best epoch however it ends.
        all_callbacks.append(keras.callbacks.EarlyStopping(monitor=monitor,
                                                           patience=config.patience))
    faces = {"train_real": len(train), "val_real": len(val) if val is not None else 0}
    logger.info("sbi: %s backbone, %d real training faces (+ as many pseudo-fakes per epoch), "
                "%d validation faces, %d epochs", config.backbone, faces["train_real"],
                faces["val_real"], config.epochs)
    fitted = model.fit(train_ds, validation_data=val_ds, epochs=config.epochs,
                       steps_per_epoch=steps_per_epoch(len(train), batch),
                       callbacks=all_callbacks, verbose=0)
    history = {k: [float(v) for v in values] for k, values in fitted.history.items()}
    return SBIFit(model, identity, history, monitor, keep_best.best_epoch, len(fitted.epoch),
                  faces, time.perf_counter() - started)


class _AUCLoss(keras.callbacks.Callback):
    """Adds ``<prefix>auc_loss = 1 - <prefix>auc`` to the epoch's logs (lower is better, as
    ``KeepBest`` and ``EarlyStopping`` want)."""

    def __init__(self, prefix: str):
        super().__init__()
        self.prefix = prefix

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None and f"{self.prefix}auc" in logs:
            logs[f"{self.prefix}auc_loss"] = 1.0 - float(logs[f"{self.prefix}auc"])


class _LogEpoch(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        items = ", ".join(f"{k}={float(v):.4f}" for k, v in sorted((logs or {}).items()))
        logger.info("sbi epoch %d: %s", epoch + 1, items)


# -- the poster's method on pseudo-fakes ---------------------------------------------------


def sbi_embedding_table(data: RealFaces, embedder, *, seed: int, copies: int = 1,
                        config: SelfBlendConfig = SelfBlendConfig(), split: str = "train"):
    """An ``EmbeddingTable`` of ``data``'s real faces (label 0, their video ids) and
    ``copies`` pseudo-fakes of each (label 1, video id ``<video_id>#sbi``), embedded by
    ``embedder`` (a ``FaceNetEmbedder``); the input of ``fit_triplet``."""
    from tfdeepfake.cache.embeddings import EmbeddingTable

    if copies < 1:
        raise ValueError(f"copies must be >= 1, got {copies}")
    if not len(data):
        raise ValueError("no real faces to embed")
    real = embedder.embed(data.faces)
    seeds = np.random.default_rng(int(seed)).integers(0, 2**62, (copies, len(data)), np.int64)
    fakes = [embedder.embed(self_blend(data.faces, data.keypoints, s, config).images)
             for s in seeds]
    index = np.arange(len(data))
    return EmbeddingTable(
        embeddings=np.concatenate([real, *fakes]).astype(np.float32),
        labels=np.concatenate([np.full(len(data), REAL)] + [np.full(len(data), FAKE)] * copies),
        video_ids=np.concatenate([data.video_ids.astype(str)]
                                 + [np.char.add(data.video_ids.astype(str), SBI_SUFFIX)] * copies),
        frame_indices=np.concatenate([index] * (copies + 1)),
        splits=np.full(len(data) * (copies + 1), split))


def load_embedder(weights: str | os.PathLike | None = None):
    """The installed pretrained FaceNet (or the one at ``weights``)."""
    from tfdeepfake.models.facenet import load_facenet

    return load_facenet(weights_path=weights)


def sbi_triplet_data(source: str | os.PathLike, *, seed: int, copies: int = 1,
                     facenet_weights: str | os.PathLike | None = None,
                     config: SelfBlendConfig = SelfBlendConfig(), embedder=None):
    """What ``TripletDetector.train(..., fakes="sbi")`` trains on, from a face cache:
    ``(table, rows, face settings, FaceNet identity dict)``. The table holds the real
    ``train``/``val`` videos' faces and their pseudo-fakes (``sbi_embedding_table``, the
    cache's fake videos left out); ``rows`` give each real video's pseudo-fakes the real
    video's identity group, so validation holds both out together. ``embedder``: what
    embeds them (default: the installed FaceNet; a ``TunedBackbone`` for ``--backbone``)."""
    from tfdeepfake.cache.faces import iter_face_videos
    from tfdeepfake.detectors.xception import face_cache_settings, require_cache, scan_face_cache

    require_cache(source, "faces", "triplet training with --fakes sbi")
    settings = face_cache_settings(source)
    rows, loaded = scan_face_cache(source)
    reals = [r for r in rows if r.label == REAL and r.split in ("train", "val") and r.frames]
    ignored = sum(1 for r in rows if r.label == FAKE and r.split in ("train", "val"))
    if ignored:
        logger.warning("%s: %d fake training videos ignored: the fakes are self-blended", source,
                       ignored)
    if not reals:
        raise ValueError(f"{source}: no real training videos with faces; --fakes sbi makes its "
                         "fakes from real videos")
    ids = {r.video_id for r in reals}
    if loaded is None:
        loaded = iter_face_videos(source, video_ids=ids)
    videos = [v for v in loaded if v.video_id in ids]
    embedder = embedder or load_embedder(facenet_weights)
    if embedder.input_size != settings.size:
        raise ValueError(f"{source}: {settings.size} px face crops; the embedder takes "
                         f"{embedder.input_size} px (extract with --size {embedder.input_size})")
    table, rows = sbi_training_table(videos, settings, embedder, seed=seed, copies=copies,
                                     config=config)
    identity = embedder.identity  # None: a tuned backbone that did not start from FaceNet
    return table, rows, settings, identity.to_dict() if identity else None


def sbi_training_table(videos: Sequence, settings, embedder, *, seed: int, copies: int = 1,
                       config: SelfBlendConfig = SelfBlendConfig(), split: str | None = None):
    """``(EmbeddingTable, VideoRows)`` of real ``FaceVideo``s and their pseudo-fakes (video
    id ``<video_id>#sbi``, in the real video's identity group, so a validation carve holds
    both out together). ``split``: every row's split (default: each video's own)."""
    from tfdeepfake.cache.embeddings import EmbeddingTable
    from tfdeepfake.detectors.base import VideoRow
    from tfdeepfake.detectors.xception import video_row
    from tfdeepfake.pipelines.self_blend import real_faces

    videos = [v for v in videos if len(v.faces)]
    if not videos:
        raise ValueError("no real videos with faces to make pseudo-fakes from")
    split_of = {v.video_id: split or str(v.split) for v in videos}
    tables, rows = [], []
    for name in sorted(set(split_of.values())):
        chosen = [v for v in videos if split_of[v.video_id] == name]
        tables.append(sbi_embedding_table(real_faces(chosen, settings), embedder,
                                          seed=seed + len(tables), copies=copies, config=config,
                                          split=name))
        for v in chosen:
            real = video_row(v.video_id, REAL, name, len(v.faces), v.attrs)
            rows += [real, VideoRow(v.video_id + SBI_SUFFIX, FAKE, name, real.frames * copies,
                                    real.group)]
    table = EmbeddingTable(*(np.concatenate([getattr(t, f) for t in tables]) for f in
                             ("embeddings", "labels", "video_ids", "frame_indices", "splits")))
    return table, rows


__all__ = ["MONITORS", "OPTIMIZERS", "SBIFit", "SBITrainingConfig", "SBI_SUFFIX", "build_for_training",
           "fit_sbi", "load_embedder", "sbi_embedding_table", "sbi_training_table",
           "sbi_triplet_data"]
