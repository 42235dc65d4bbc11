"""The ``lstm`` detector: an LSTM over the per-frame features of a video (the poster's
"LSTM + frames" baseline); one fake probability per video, threshold 0.5.

Two kinds of per-frame features, chosen at training (``features=``):

- ``xception`` (default): Xception's 2048-d average-pooled features of the face crops of a
  face cache; the feature extractor (random init, or ImageNet weights) is saved beside the
  LSTM so scoring computes the very same features;
- ``facenet``: the FaceNet embeddings of an embedding cache (``tfdeepfake embed``). The
  model records the cache's FaceNet identity and refuses a cache made with another one;
  scoring a video embeds its faces with that same FaceNet (built lazily, probe-checked).

The class attribute ``source_kind`` says ``faces`` (the default features); a loaded
detector's ``source_kind`` says which cache it reads.

The model folder (``tfdeepfake.detectors.base``)::

    model.json            the common keys ("facenet": the identity with features=facenet), plus
                            features      "xception" | "facenet"
                            num_frames    int, T: the first T faces of a video are read
                            feature_dim   int, D
                            units, dropout  the LSTM's size (rebuild the network)
                            weights       "model.weights.h5"
                            extractor     {"weights": "extractor.weights.h5", "input_size": int,
                                           "weights_source": {...}} or null (facenet)
    model.weights.h5      the LSTM classifier, best epoch by the monitored loss
    extractor.weights.h5  the Xception feature extractor (features=xception only)
    run/                  config.json, history.csv, tensorboard/
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

import numpy as np

from tfdeepfake.cache.embeddings import embedding_store
from tfdeepfake.cache.faces import iter_face_videos
from tfdeepfake.detectors.base import (
    Detector,
    KeepBest,
    ModelFolder,
    ModelFolderError,
    Scores,
    TrainOptions,
    carve_validation,
    common_meta,
    counts_of,
    require,
    require_both_classes,
)
from tfdeepfake.detectors.xception import (
    DECISION_THRESHOLD,
    WEIGHTS_FILE,
    face_cache_settings,
    face_source,
    require_cache,
    run_dir_of,
    scan_face_cache,
    training_record,
    video_row,
    weights_source,
)
from tfdeepfake.faces.settings import FaceSettings
from tfdeepfake.models.train_baselines import (BALANCE_MODES, LSTM_FEATURES, OPTIMIZERS,
                                               LSTMTrainingConfig)
from tfdeepfake.pipelines.sequences import SequenceArrays, frame_ordered_sequence, pad_to_length

logger = logging.getLogger(__name__)

EXTRACTOR_WEIGHTS_FILE = "extractor.weights.h5"
SCORE_BATCH_SIZE = 64


def _cache_kind(features: str) -> str:
    return "faces" if features == "xception" else "embeddings"


def _cache_identity(path) -> tuple[dict, FaceSettings]:
    """The FaceNet identity dict and face settings an embedding cache was made with."""
    from tfdeepfake.models.facenet import FaceNetIdentity

    settings = embedding_store(path).stored_settings()
    if not isinstance(settings.get("facenet"), dict):
        raise ValueError(f"{path}: no FaceNet identity recorded (settings key 'facenet'); the "
                         "cache comes from an older tfdeepfake: re-run `tfdeepfake embed`")
    try:
        identity = FaceNetIdentity.from_dict(settings["facenet"])
        face_settings = FaceSettings.from_dict(settings.get("face_settings") or {})
    except (TypeError, ValueError) as error:
        raise ValueError(f"{path}: {error}") from error
    return identity.to_dict(), face_settings


def embedding_sequences(path, splits: tuple[str, ...], num_frames: int):
    """``(SequenceArrays, rows)``: one sequence per video of ``splits`` of an embedding
    cache, its frames in frame order; videos without frames are left out."""
    features, masks, labels, ids, rows, empty = [], [], [], [], [], []
    where = lambda attrs: str(attrs["split"]) in splits  # noqa: E731
    for video in embedding_store(path).iter_videos(where=where):
        embeddings = np.asarray(video.arrays["embeddings"], np.float32)
        if not len(embeddings):
            empty.append(video.video_id)
            continue
        padded, mask = frame_ordered_sequence(embeddings, video.arrays["frame_indices"], num_frames)
        features.append(padded)
        masks.append(mask)
        labels.append(int(video.attrs["label"]))
        ids.append(video.video_id)
        rows.append(video_row(video.video_id, video.attrs["label"], video.attrs["split"],
                              len(embeddings), video.attrs))
    if empty:
        logger.warning("%s: %d videos without embeddings left out: %s", path, len(empty),
                       ", ".join(empty[:10]))
    if not features:
        raise ValueError(f"{path}: no embedded videos in splits {', '.join(splits)}")
    return SequenceArrays(np.stack(features), np.stack(masks), np.array(labels), np.array(ids)), rows


class LSTMDetector(Detector):
    name = "lstm"
    source_kind = "faces"  # a loaded detector over FaceNet features says "embeddings"
    description = "an LSTM over a video's per-frame Xception or FaceNet features; one score per video"
    config_class = LSTMTrainingConfig
    option_choices = {"optimizer": OPTIMIZERS, "balance": BALANCE_MODES, "features": LSTM_FEATURES}

    def __init__(self, folder: ModelFolder, meta: dict[str, Any], model, extractor=None,
                 facenet_weights=None):
        super().__init__(folder, meta)
        self.model = model
        self.extractor = extractor
        self.features = meta["features"]
        self.source_kind = _cache_kind(self.features)
        self.num_frames = int(meta["num_frames"])
        self.feature_dim = int(meta["feature_dim"])
        self._facenet_weights = facenet_weights
        self._embedder = None

    # -- lifecycle ----------------------------------------------------------------

    @classmethod
    def train(cls, source, out_dir, config: LSTMTrainingConfig | None = None,
              options: TrainOptions = TrainOptions(), *, features: str = "xception",
              weights: str | os.PathLike | None = None) -> "LSTMDetector":
        """Train on the ``train`` videos of ``source`` into ``out_dir``.

        ``features="xception"``: ``source`` is a face cache; the Xception extractor starts
        from ``weights`` (``"imagenet"`` or Keras' no-top file; random init by default).
        ``features="facenet"``:
        ``source`` is an embedding cache. ``config`` defaults to the poster's (lr 0.01,
        30 epochs, batch 64, 25 frames).
        """
        from tensorflow import keras

        from tfdeepfake.models import xception as xception_models
        from tfdeepfake.models.strategy import shared_strategy
        from tfdeepfake.models.train_baselines import monitor_for, save_weights, train_lstm
        from tfdeepfake.pipelines.sequences import compute_sequence_features

        started = time.perf_counter()
        if features not in LSTM_FEATURES:
            raise ValueError(f"unknown features {features!r}; valid: {', '.join(LSTM_FEATURES)}")
        config = config or LSTMTrainingConfig()
        if features == "facenet" and weights is not None:
            raise ValueError("weights are the Xception feature extractor's; unused with "
                             "features='facenet'")
        require_cache(source, _cache_kind(features), f"the lstm detector with features={features!r}")
        strategy = shared_strategy(options.strategy)
        facenet, extractor, extractor_meta = None, None, None
        if features == "xception":
            init = weights_source(weights)
            face_settings = face_cache_settings(source)
            folder = ModelFolder(out_dir).start()
            rows, loaded = scan_face_cache(source)
            train_ids, val_ids, how = carve_validation(rows, options.val_fraction, options.seed)
            require_both_classes(counts_of(rows, train_ids), source)
            keras.utils.set_random_seed(options.seed)  # a random-init extractor is reproducible
            extractor = xception_models.build_xception_features(config.extractor_input_size, weights)
            logger.info("lstm: Xception features of %d train and %d validation videos",
                        len(train_ids), len(val_ids))

            def sequences(ids):
                return compute_sequence_features(face_source(source, ids, loaded), extractor,
                                                 num_frames=config.num_frames,
                                                 batch_size=config.feature_batch_size)

            train_seq = sequences(train_ids)
            val_seq = sequences(val_ids) if val_ids else None
            save_weights(extractor, folder.root / EXTRACTOR_WEIGHTS_FILE)
            extractor_meta = {"weights": EXTRACTOR_WEIGHTS_FILE,
                              "input_size": int(config.extractor_input_size),
                              "weights_source": init}
        else:
            facenet, face_settings = _cache_identity(source)
            if facenet["random_init"]:
                logger.warning("%s: embeddings from a RANDOMLY INITIALISED FaceNet", source)
            folder = ModelFolder(out_dir).start()
            arrays, rows = embedding_sequences(source, ("train", "val"), config.num_frames)
            train_ids, val_ids, how = carve_validation(rows, options.val_fraction, options.seed)
            require_both_classes(counts_of(rows, train_ids), source)
            train_seq = arrays.subset([i for i, v in enumerate(arrays.video_ids) if v in train_ids])
            val_seq = (arrays.subset([i for i, v in enumerate(arrays.video_ids) if v in val_ids])
                       if val_ids else None)

        keep_best = KeepBest(monitor_for(val_seq is not None))
        run_dir = run_dir_of(folder, options)
        result = train_lstm(train_seq, val_seq, config, run_dir, strategy, seed=options.seed,
                            callbacks=[keep_best])
        save_weights(result.model, folder.root / WEIGHTS_FILE)
        meta = common_meta(
            cls.name, face_settings, threshold=DECISION_THRESHOLD, aggregation=options.aggregation,
            seed=options.seed, facenet=facenet,
            training=training_record(result, keep_best, config, options, strategy, run_dir, started),
            data={"source": str(source), "train": counts_of(rows, train_ids),
                  "val": counts_of(rows, val_ids), "validation": how},
            features=features, num_frames=int(train_seq.num_frames),
            feature_dim=int(train_seq.feature_dim), units=int(config.units),
            dropout=float(config.dropout), weights=WEIGHTS_FILE, extractor=extractor_meta)
        folder.write_meta(meta)
        logger.info("lstm detector saved to %s (%d epochs, best %s)", folder.root,
                    meta["training"]["epochs_run"], keep_best.best_epoch)
        return cls(folder, folder.read_meta(), result.model, extractor)

    @classmethod
    def from_folder(cls, folder: ModelFolder, meta: dict[str, Any], facenet_weights=None,
                    **kwargs) -> "LSTMDetector":
        from tfdeepfake.models import xception as xception_models
        from tfdeepfake.models.lstm import build_lstm_classifier

        where = folder.meta_path
        features = require(meta, "features", str, where)
        if features not in LSTM_FEATURES:
            raise ModelFolderError(f"{where}: key 'features' is {features!r}; valid: "
                                   f"{', '.join(LSTM_FEATURES)}")
        num_frames = require(meta, "num_frames", int, where)
        feature_dim = require(meta, "feature_dim", int, where)
        units = require(meta, "units", int, where)
        dropout = float(require(meta, "dropout", (float, int), where))
        weights = folder.path(require(meta, "weights", str, where))
        extractor = None
        if features == "xception":
            record = require(meta, "extractor", dict, where)
            inner = f"{where} (key 'extractor')"
            extractor = xception_models.build_xception_features(require(record, "input_size", int, inner))
            folder.load_weights(extractor, folder.path(require(record, "weights", str, inner)))
            dim = int(extractor.output_shape[-1])
        else:
            from tfdeepfake.models.facenet import FaceNetIdentity

            try:
                dim = FaceNetIdentity.from_dict(require(meta, "facenet", dict, where)).embedding_dim
            except ValueError as error:
                raise ModelFolderError(f"{where}: key 'facenet': {error}") from error
        if dim != feature_dim:
            raise ModelFolderError(f"{where}: key 'feature_dim' is {feature_dim}, but the {features} "
                                   f"features have {dim} dimensions")
        model = build_lstm_classifier(num_frames, feature_dim, units=units, dropout=dropout)
        folder.load_weights(model, weights)
        return cls(folder, meta, model, extractor, facenet_weights)

    # -- scoring ------------------------------------------------------------------

    @property
    def frame_level(self) -> bool:
        return False

    @property
    def embedder(self):
        """The FaceNet the training embeddings came from (features=facenet), built on first
        use and checked against the recorded probe."""
        if self.features != "facenet":
            raise AttributeError(f"{self.path}: this LSTM reads Xception features, not FaceNet's")
        if self._embedder is None:
            from tfdeepfake.models.facenet import FaceNetIdentity

            self._embedder = FaceNetIdentity.from_dict(self.meta["facenet"]).build(self._facenet_weights)
        return self._embedder

    def frame_features(self, faces: np.ndarray) -> np.ndarray:
        """Per-face features ``[N, D]`` as training computed them."""
        from tfdeepfake.pipelines.frames import resize_faces
        from tfdeepfake.pipelines.sequences import compute_frame_features

        faces = np.asarray(faces)
        if faces.ndim != 4 or faces.shape[-1] != 3:
            raise ValueError(f"faces must be [N, S, S, 3], got shape {faces.shape}")
        if self.features == "xception":
            return compute_frame_features(faces, self.extractor, SCORE_BATCH_SIZE)
        embedder = self.embedder
        if faces.shape[1:3] != (embedder.input_size, embedder.input_size):
            faces = resize_faces(faces, embedder.input_size).numpy()
        return np.asarray(embedder.embed(faces), np.float32)

    def score_sequences(self, features: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Fake probability ``[N]`` of sequences ``features [N, T, D]``, ``mask [N, T]``."""
        from tfdeepfake.pipelines.sequences import FEATURES_KEY, MASK_KEY

        probs = self.model.predict({FEATURES_KEY: np.asarray(features, np.float32),
                                    MASK_KEY: np.asarray(mask, bool)},
                                   batch_size=SCORE_BATCH_SIZE, verbose=0)
        return np.asarray(probs, np.float64).reshape(-1)

    def score_video(self, faces: np.ndarray, variant: str | None = None) -> float:
        """Fake probability of a video from its face crops in frame order (the first
        ``num_frames`` are read, as in training)."""
        faces = np.asarray(faces)
        if not len(faces):
            raise ValueError("no faces to score")
        padded, mask = pad_to_length(self.frame_features(faces[:self.num_frames]), self.num_frames)
        return float(self.score_sequences(padded[None], mask[None])[0])

    def split_scores(self, source, split: str) -> dict[str, Scores]:
        from tfdeepfake.models.facenet import FaceNetIdentity
        from tfdeepfake.pipelines.sequences import compute_sequence_features

        require_cache(source, self.source_kind, f"{self.path} (lstm over {self.features} features)")
        if self.features == "xception":
            path = str(source)
            arrays = compute_sequence_features(lambda: iter_face_videos(path, splits=(split,)),
                                               self.extractor, num_frames=self.num_frames,
                                               batch_size=SCORE_BATCH_SIZE)
        else:
            found, _ = _cache_identity(source)
            mine = FaceNetIdentity.from_dict(self.meta["facenet"])
            theirs = FaceNetIdentity.from_dict(found)
            differs = mine.matches(theirs)
            if differs:
                raise ValueError(f"{source}: embeddings made with {theirs.label()}, the model "
                                 f"{self.path} with {mine.label()} ({differs}); embed with the "
                                 "same FaceNet")
            arrays, _ = embedding_sequences(source, (split,), self.num_frames)
        probs = self.score_sequences(arrays.features, arrays.mask)
        return {self.name: Scores("video", arrays.labels.astype(np.int64), probs,
                                  np.asarray(arrays.video_ids), self.threshold(), self.aggregation)}

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "features": self.features, "num_frames": self.num_frames}


__all__ = ["EXTRACTOR_WEIGHTS_FILE", "LSTMDetector", "embedding_sequences"]
