"""The fits of the SBI footage study (``sbi_footage``), one direction and seed at a time:
the ``sbi`` detector on a direction's real videos, and the poster's method (triplet head +
classifiers) with self-blended pseudo-fakes on pretrained or fine-tuned features."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from tfdeepfake.constants import REAL

if TYPE_CHECKING:  # the plan's type; sbi_footage imports this module
    from tfdeepfake.experiments.sbi_footage import Direction

TRIPLET_CLASSIFIERS = ("knn", "sgd", "rf")


def _video_mean(probs, ids) -> dict[str, float]:
    from tfdeepfake.scoring import aggregate_video_scores

    vids, scores = aggregate_video_scores(np.asarray(probs, np.float64), np.asarray(ids))
    return {str(v): float(s) for v, s in zip(vids, scores)}


def _carve(videos, train_ids, val_fraction: float, seed: int):
    from tfdeepfake.detectors.base import carve_validation
    from tfdeepfake.detectors.face_caches import video_row

    rows = [video_row(v, REAL, "train", len(videos[v].faces), videos[v].attrs) for v in train_ids]
    return carve_validation(rows, val_fraction, seed)


def fit_sbi_direction(direction: Direction, videos: dict, settings, config, scored: Sequence[str],
                      *, seed: int, val_fraction: float, out: Path, name: str, strategy,
                      facenet_weights=None) -> tuple[dict, dict]:
    """One ``sbi`` fit on the direction's real videos, saved as a model folder; returns
    ``(video scores of `scored`, record)``."""
    from tensorflow import keras

    from tfdeepfake.detectors.sbi_training import fit_sbi
    from tfdeepfake.detectors.self_blended import save_sbi_model
    from tfdeepfake.pipelines.self_blend import real_faces

    train_ids, val_ids, how = _carve(videos, direction.train, val_fraction, seed)
    train = real_faces([videos[v] for v in sorted(train_ids)], settings,
                       config.max_faces_per_video)
    val = (real_faces([videos[v] for v in sorted(val_ids)], settings, config.max_faces_per_video)
           if val_ids else None)
    folder = out / "models" / f"{name}-{direction.name}-seed{seed}"
    fit = fit_sbi(train, val, config, seed=seed, run_dir=folder / "run", strategy=strategy,
                  facenet_weights=facenet_weights)
    detector = save_sbi_model(
        folder, fit.model, config, face_settings=settings, facenet=fit.facenet, aggregation="mean",
        seed=seed, training={"config": config.to_dict(), **fit.record()},
        data={"train_videos": sorted(train_ids), "val_videos": sorted(val_ids), "validation": how})
    started = time.perf_counter()
    scores = {v: float(np.mean(detector.score_faces(videos[v].faces))) for v in scored}
    record = {**fit.record(), "model": str(folder), "train_videos": len(train_ids),
              "val_videos": len(val_ids), "validation": how,
              "scoring_seconds": round(time.perf_counter() - started, 2)}
    del detector, fit
    keras.backend.clear_session()
    return scores, record


def fit_sbi_triplet_direction(direction: Direction, videos: dict, settings, test, embedder,
                              config, *, seed: int, val_fraction: float,
                              run_dir: Path) -> tuple[dict, dict]:
    """The poster's method with pseudo-fakes, on ``embedder``'s embeddings (pretrained
    FaceNet, or a fine-tuned ``sbi`` backbone): ``{classifier: video scores of test}`` and a
    record. ``test``: the scored videos' embeddings by the same embedder (``embeddings``,
    ``video_ids``)."""
    from tfdeepfake.detectors.base import carve_validation
    from tfdeepfake.detectors.sbi_training import sbi_training_table
    from tfdeepfake.detectors.triplet_training import fit_triplet

    started = time.perf_counter()
    train_table, rows = sbi_training_table([videos[v] for v in direction.train], settings,
                                           embedder, seed=seed, split="train")
    head_ids, val_ids, how = carve_validation(rows, val_fraction, seed)
    train = train_table.select(np.isin(train_table.video_ids, sorted(head_ids)))
    val = train_table.select(np.isin(train_table.video_ids, sorted(val_ids))) if val_ids else None
    if val is not None and len(np.unique(val.labels)) < 2:
        val = None
    fit = fit_triplet(train, val, config, seed=seed, run_dir=run_dir,
                      classifiers=TRIPLET_CLASSIFIERS)
    outputs = np.asarray(fit.head.predict(test.embeddings, batch_size=1024, verbose=0), np.float32)
    scores = {c: _video_mean(clf.predict_proba_fake(outputs), test.video_ids)
              for c, clf in fit.classifiers.items()}
    record = {**fit.training.record(), "head_videos": len(head_ids), "val_videos": len(val_ids),
              "validation": how, "seconds": round(time.perf_counter() - started, 2)}
    return scores, record


def tuned_embeddings(detector, videos: dict, scored: Sequence[str]):
    """The scored videos' faces through a fine-tuned ``sbi`` backbone (``embed``)."""
    from tfdeepfake.cache.embeddings import EmbeddingTable

    faces = [videos[v].faces for v in scored]
    ids = np.concatenate([np.full(len(f), v) for f, v in zip(faces, scored)])
    embeddings = detector.embed(np.concatenate(faces))
    return EmbeddingTable(embeddings, np.zeros(len(ids), np.int64), ids,
                          np.concatenate([videos[v].frame_indices for v in scored]),
                          np.full(len(ids), "test"))
