"""The ``xception`` detector: XceptionNet on single face crops (the poster's frame baseline).

A face's score is the classifier's fake probability; a video's is the aggregation (mean by
default, the poster's rule) of its faces' scores; the decision threshold is 0.5. Trained from
a face cache (``tfdeepfake extract``; ``--size 299`` for the poster's input size; smaller
crops are upscaled, with a warning).

The model folder (``tfdeepfake.detectors.base``)::

    model.json          the common keys, plus
                          input_size      int, the classifier's square input
                          dropout         float, the head's dropout (rebuilds the network)
                          weights         "model.weights.h5"
                          weights_source  {"init": random|imagenet|imagenet-file, "path", "md5"}
    model.weights.h5    the classifier, best epoch by the monitored loss
    run/                config.json, history.csv, tensorboard/ (``TrainOptions.run_dir``)

Validation comes from the training data only (``base.carve_validation``: the cache's ``val``
split, else whole identity groups of ``train`` videos); the test split is never read for
training or selection.

The face-cache helpers (``require_cache``, ``scan_face_cache``, ``face_source``, ...) live
in ``tfdeepfake.detectors.face_caches`` and are re-exported here, where the ``lstm`` and
``sbi`` detectors have imported them.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from tfdeepfake.constants import FAKE, LABEL_NAMES, REAL
from tfdeepfake.detectors.base import (
    Detector,
    KeepBest,
    ModelFolder,
    Scores,
    TrainOptions,
    carve_validation,
    common_meta,
    counts_of,
    require,
    require_both_classes,
)
from tfdeepfake.detectors.face_caches import (
    cap_frames,
    face_cache_settings,
    face_source,
    per_face_of_split,
    require_cache,
    scan_face_cache,
    video_row,
)
from tfdeepfake.models.train_baselines import BALANCE_MODES, OPTIMIZERS, XceptionTrainingConfig

logger = logging.getLogger(__name__)

WEIGHTS_FILE = "model.weights.h5"
DECISION_THRESHOLD = 0.5
SCORE_BATCH_SIZE = 64


# -- training helpers (the lstm and sbi detectors use them too) ----------------------------


def weights_source(weights) -> dict[str, Any]:
    """Where the initial Xception weights came from; checks a file before any data is read."""
    from tfdeepfake.models.xception import XCEPTION_NOTOP_WEIGHTS, resolve_xception_weights

    resolved = resolve_xception_weights(weights)
    if resolved is None:
        return {"init": "random", "path": None, "md5": None}
    if resolved == "imagenet":
        return {"init": "imagenet", "path": None, "md5": XCEPTION_NOTOP_WEIGHTS["md5"]}
    return {"init": "imagenet-file", "path": resolved, "md5": XCEPTION_NOTOP_WEIGHTS["md5"]}


def training_record(result, keep_best, config, options: TrainOptions, strategy, run_dir,
                    started: float) -> dict[str, Any]:
    """``model.json``'s ``training``: settings, strategy, epochs, the best one, history."""
    from tfdeepfake.models.train_baselines import strategy_record

    history = result.history
    return {"config": config.to_dict(), "strategy": strategy_record(strategy, options.strategy),
            "epochs_run": len(next(iter(history.values()), [])), "best_epoch": keep_best.best_epoch,
            "monitor": result.monitor, "history": history, "run_dir": str(run_dir),
            "val_fraction": options.val_fraction,
            "seconds": round(time.perf_counter() - started, 2)}


def run_dir_of(folder: ModelFolder, options: TrainOptions) -> Path:
    return Path(options.run_dir) if options.run_dir else folder.root / "run"


# -- the detector -------------------------------------------------------------------------


class XceptionDetector(Detector):
    name = "xception"
    source_kind = "faces"
    description = "XceptionNet on face crops; a video scores the aggregate of its faces (poster's baseline)"
    config_class = XceptionTrainingConfig
    option_choices = {"optimizer": OPTIMIZERS, "balance": BALANCE_MODES}

    def __init__(self, folder: ModelFolder, meta: dict[str, Any], model):
        super().__init__(folder, meta)
        self.model = model
        self.input_size = int(meta["input_size"])

    # -- lifecycle ----------------------------------------------------------------

    @classmethod
    def train(cls, source, out_dir, config: XceptionTrainingConfig | None = None,
              options: TrainOptions = TrainOptions(), *, weights: str | os.PathLike | None = None,
              max_train_frames: int | None = None) -> "XceptionDetector":
        """Train on the ``train`` videos of face cache ``source`` into ``out_dir``.

        ``config`` defaults to the poster's (lr 0.05, 30 epochs, batch 64, 299 px).
        ``weights``: the trunk's initial weights, ``"imagenet"`` or the path of Keras' no-top
        file (default: random init). ``max_train_frames`` keeps whole
        training videos, drawn at random per class, up to that many frames, balanced (the
        poster's "30k frames").
        """
        from tfdeepfake.models.strategy import shared_strategy
        from tfdeepfake.models.train_baselines import monitor_for, save_weights, train_xception

        started = time.perf_counter()
        config = config or XceptionTrainingConfig()
        init = weights_source(weights)  # fails before any data is read
        require_cache(source, "faces", "the xception detector")
        face_settings = face_cache_settings(source)
        strategy = shared_strategy(options.strategy)
        folder = ModelFolder(out_dir).start()
        run_dir = run_dir_of(folder, options)

        rows, loaded = scan_face_cache(source)
        train_ids, val_ids, how = carve_validation(rows, options.val_fraction, options.seed)
        available = counts_of(rows, train_ids)
        if max_train_frames is not None:
            max_train_frames = int(max_train_frames)  # the CLI passes text
            train_ids = cap_frames(rows, train_ids, max_train_frames, options.seed)
        train_counts = counts_of(rows, train_ids)
        require_both_classes(train_counts, source)
        if face_settings.size < config.input_size:
            logger.warning("%s holds %d px crops; they are upscaled to the model's %d px",
                           source, face_settings.size, config.input_size)
        logger.info("xception: %d train videos (%d frames), %d validation videos (%s)",
                    sum(train_counts["videos"].values()), sum(train_counts["frames"].values()),
                    len(val_ids), how)

        keep_best = KeepBest(monitor_for(bool(val_ids)))
        result = train_xception(
            face_source(source, train_ids, loaded),
            face_source(source, val_ids, loaded) if val_ids else None,
            config, run_dir, strategy, weights=weights, seed=options.seed,
            class_counts={REAL: train_counts["frames"]["real"], FAKE: train_counts["frames"]["fake"]},
            callbacks=[keep_best])
        save_weights(result.model, folder.root / WEIGHTS_FILE)
        meta = common_meta(
            cls.name, face_settings, threshold=DECISION_THRESHOLD, aggregation=options.aggregation,
            seed=options.seed,
            training=training_record(result, keep_best, config, options, strategy, run_dir, started),
            data={"source": str(source), "train": train_counts, "val": counts_of(rows, val_ids),
                  "train_available": available, "validation": how,
                  "max_train_frames": max_train_frames},
            input_size=int(config.input_size), dropout=float(config.dropout), weights=WEIGHTS_FILE,
            weights_source=init)
        folder.write_meta(meta)
        logger.info("xception detector saved to %s (%d epochs, best %s)", folder.root,
                    meta["training"]["epochs_run"], keep_best.best_epoch)
        return cls(folder, folder.read_meta(), result.model)

    @classmethod
    def from_folder(cls, folder: ModelFolder, meta: dict[str, Any], **kwargs) -> "XceptionDetector":
        from tfdeepfake.models import xception as xception_models

        where = folder.meta_path
        input_size = require(meta, "input_size", int, where)
        dropout = require(meta, "dropout", (float, int), where)
        weights = folder.path(require(meta, "weights", str, where))
        model = xception_models.build_xception_classifier(input_size, weights=None,
                                                          dropout=float(dropout))
        folder.load_weights(model, weights)
        return cls(folder, meta, model)

    # -- scoring ------------------------------------------------------------------

    def score_faces(self, faces: np.ndarray, variant: str | None = None) -> np.ndarray:
        """Fake probability ``[N]`` of face crops ``[N, S, S, 3]`` (resized to the input size
        the way training resized them)."""
        from tfdeepfake.pipelines.frames import resize_faces

        faces = np.asarray(faces)
        if faces.ndim != 4 or faces.shape[-1] != 3:
            raise ValueError(f"faces must be [N, S, S, 3], got shape {faces.shape}")
        probs = [np.asarray(self.model.predict_on_batch(
                     resize_faces(faces[start:start + SCORE_BATCH_SIZE], self.input_size)))
                 for start in range(0, len(faces), SCORE_BATCH_SIZE)]
        return np.concatenate(probs).reshape(-1).astype(np.float64) if probs else np.zeros(0)

    heat_map_kind = "Grad-CAM"

    def heat_map(self, faces: np.ndarray, variant: str | None = None) -> np.ndarray:
        """Grad-CAM maps (toward "fake") at the faces' own size, from the faces resized to the
        network's input as ``score_faces`` resizes them."""
        from tfdeepfake.models.gradcam import grad_cam
        from tfdeepfake.pipelines.frames import resize_faces

        faces = np.asarray(faces)
        if faces.ndim != 4 or faces.shape[-1] != 3:
            raise ValueError(f"faces must be [N, S, S, 3], got shape {faces.shape}")
        if not len(faces):
            return np.zeros(faces.shape[:3], np.float32)
        images = np.asarray(resize_faces(faces, self.input_size), np.float32)
        return grad_cam(self.model, images, target_class=FAKE, output_size=faces.shape[1:3])

    def split_scores(self, source, split: str) -> dict[str, Scores]:
        probs, labels, ids = per_face_of_split(source, split, self.score_faces,
                                               "the xception detector")
        return {self.name: Scores("frame", labels, probs, ids, self.threshold(), self.aggregation)}

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "input_size": self.input_size,
                "weights_source": self.meta.get("weights_source")}

    # -- explanation --------------------------------------------------------------

    def explain(self, video_path, out_dir, num_frames: int = 8, *, target_class: int = FAKE,
                alpha: float = 0.4, layer_name: str | None = None, face_detector=None) -> dict:
        """Grad-CAM heat maps on the faces of one video.

        Samples ``num_frames`` frames, crops the face at the model's input size with the face
        settings the model was trained on, and writes one PNG overlay per face
        (``<video>_frame<index>.png``), a grid of them (``<video>_gradcam_grid.png``) and
        ``<video>_explain.json``. Returns the paths, per-frame fake probabilities, the video's
        score and verdict. Raises ``NoFaceError`` / ``VideoReadError`` naming the file.
        ``face_detector`` replaces MTCNN (anything with ``detect(frames)``).
        """
        from tfdeepfake.detectors.explain import explain_video
        from tfdeepfake.models.gradcam import grad_cam

        size = self.input_size
        return explain_video(
            self, video_path, out_dir, num_frames,
            lambda faces: grad_cam(self.model, faces.astype(np.float32), layer_name=layer_name,
                                   target_class=target_class, output_size=(size, size)),
            kind="Grad-CAM", input_size=size, alpha=alpha, face_detector=face_detector,
            extra={"target_class": LABEL_NAMES[target_class]})


__all__ = ["DECISION_THRESHOLD", "WEIGHTS_FILE", "XceptionDetector", "cap_frames",
           "face_cache_settings", "face_source", "per_face_of_split", "require_cache",
           "run_dir_of", "scan_face_cache", "training_record", "video_row", "weights_source"]
