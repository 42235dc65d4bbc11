"""The methods compared inside every fold of the footage experiment.

- The poster's: FaceNet embeddings -> triplet head (semi-hard triplet loss) -> KNN / SGD / RF,
  trained by ``tfdeepfake.detectors.triplet.fit_triplet``, the same code ``tfdeepfake train
  triplet`` runs, with the same identity-grouped validation carve (``carve_validation``).
- Baselines on the raw FaceNet embeddings, no head: logistic regression, and the same
  KNN / SGD / RF (``fit_classifiers``), fitted on every training video.

- Two references that see no pixels: every video scored by the share of fake frames in
  training (``prior``), or in the training videos of its own dataset (``dataset_prior``).
  They show where "chance" lies under each protocol with so few videos: pooled
  leave-one-out gives ``prior`` AUC 0 (holding out a real leaves more fakes in training, so
  held-out reals score higher); leave-pair-out gives ``prior`` 0.5, but ``dataset_prior``
  less than 0.5 (a pair's real lowers its own dataset's real share in training, its fake
  its own dataset's fake share): a model that learns base rates of any cluster (dataset,
  scene, person) is pushed below 0.5 the same way.

A video's score is the mean of its frames' fake probabilities (the poster's rule). One fit
scores every video; fits are kept by training set and seed (in memory, and as
``scores.json`` in the fit's run folder, so a rerun with the same embeddings, settings and
seed reuses them), so two protocols that train on the same videos share one fit.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from tfdeepfake.cache.embeddings import EmbeddingTable
from tfdeepfake.constants import FAKE, REAL
from tfdeepfake.evaluation.protocols import (PAIR_PROTOCOLS, VideoInfo, identity_components,
                                             pair_auc, pooled_video_metrics)
from tfdeepfake.scoring import aggregate_video_scores

logger = logging.getLogger(__name__)

TRIPLET_CLASSIFIERS = ("knn", "sgd", "rf")
RAW_CLASSIFIERS = ("logreg", "knn", "sgd", "rf")
FITTED_METHODS = tuple(f"triplet+{c}" for c in TRIPLET_CLASSIFIERS) + tuple(
    f"raw+{c}" for c in RAW_CLASSIFIERS)
REFERENCE_METHODS = ("prior", "dataset_prior")
METHODS = FITTED_METHODS + REFERENCE_METHODS
METHOD_TITLES = {
    "triplet+knn": "FaceNet -> triplet head -> KNN (poster)",
    "triplet+sgd": "FaceNet -> triplet head -> SGD (poster)",
    "triplet+rf": "FaceNet -> triplet head -> RF (poster)",
    "raw+logreg": "FaceNet -> logistic regression (no head)",
    "raw+knn": "FaceNet -> KNN (no head)",
    "raw+sgd": "FaceNet -> SGD (no head)",
    "raw+rf": "FaceNet -> RF (no head)",
    "prior": "reference, no features: share of fakes in training",
    "dataset_prior": "reference, no features: share of fakes in training, same dataset",
}


class FoldFitter:
    """Fits every method on a set of training videos and scores all videos with it.

    ``table`` holds the frames of every video (labelled and extra); ``videos`` describes the
    labelled ones (label, dataset, people). ``run_root`` receives one folder per fit
    (head history, TensorBoard, record, ``scores.json``); ``source`` names the embeddings
    (e.g. the cache file), so a saved fit is reused only for the same ones.
    """

    def __init__(self, table: EmbeddingTable, videos: Sequence[VideoInfo], config, *,
                 val_fraction: float, run_root: str | Path, aggregation: str = "mean",
                 source: str = ""):
        self.table = table
        self.videos = {v.video_id: v for v in videos}
        self.groups = identity_components(videos)
        self.config = config
        self.val_fraction = float(val_fraction)
        self.run_root = Path(run_root)
        self.aggregation = aggregation
        self.source = source
        ids, counts = np.unique(table.video_ids, return_counts=True)
        self.frames = dict(zip(ids.tolist(), counts.tolist()))
        self._fits: dict[tuple, dict] = {}

    def scores(self, train_ids: Sequence[str], seed: int) -> dict:
        """``{"methods": {method: {video_id: score}}, "fit": {...}}`` for a fit on
        ``train_ids`` (cached). Raises ValueError when training lacks a class."""
        key = (tuple(sorted(train_ids)), int(seed))
        if key not in self._fits:
            fitted = self._saved_or_fit(list(key[0]), int(seed))
            fitted["methods"].update(self._references(key[0]))
            self._fits[key] = fitted
        return self._fits[key]

    def _references(self, train_ids: Sequence[str]) -> dict[str, dict[str, float]]:
        """The featureless scores: fake share of training frames, overall and per dataset
        (a video id starts with its dataset); a dataset absent from training gets the overall."""
        train = np.isin(self.table.video_ids, list(train_ids))
        fake = self.table.labels[train] == FAKE
        overall = float(np.mean(fake))
        datasets = np.array([v.split("/", 1)[0] for v in self.table.video_ids[train]])
        share = {d: float(np.mean(fake[datasets == d])) for d in np.unique(datasets)}
        ids = np.unique(self.table.video_ids).tolist()
        return {"prior": {v: overall for v in ids},
                "dataset_prior": {v: share.get(v.split("/", 1)[0], overall) for v in ids}}

    def _saved_or_fit(self, train_ids: list[str], seed: int) -> dict:
        what = {"train": train_ids, "seed": seed, "config": self.config.to_dict(),
                "val_fraction": self.val_fraction, "aggregation": self.aggregation,
                "source": self.source}
        digest = hashlib.sha1(json.dumps(what, sort_keys=True).encode()).hexdigest()[:12]
        run_dir = self.run_root / f"fit-{digest}"
        saved = run_dir / "scores.json"
        if saved.is_file():
            found = json.loads(saved.read_text("utf-8"))
            complete = set(FITTED_METHODS) <= set(found.get("result", {}).get("methods", {}))
            if found.get("what") == what and complete:
                return found["result"]
        result = self._fit_and_score(train_ids, seed, run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        temp = saved.with_suffix(".tmp")
        temp.write_text(json.dumps({"what": what, "result": result}, sort_keys=True), "utf-8")
        temp.replace(saved)
        return result

    # -- one fit -----------------------------------------------------------------------

    def _select(self, ids) -> EmbeddingTable:
        return self.table.select(np.isin(self.table.video_ids, sorted(ids)))

    def _fit_and_score(self, train_ids: list[str], seed: int, run_dir: Path) -> dict:
        from tfdeepfake.detectors.base import VideoRow, carve_validation
        from tfdeepfake.detectors.triplet_training import fit_classifiers, fit_triplet
        from tfdeepfake.detectors.triplet_training import EmbeddingCollapseError

        labels = {self.videos[v].label for v in train_ids}
        if labels != {REAL, FAKE}:
            raise ValueError(f"training videos hold one class only ({sorted(labels)})")
        rows = [VideoRow(v, self.videos[v].label, "train", self.frames.get(v, 0), self.groups[v])
                for v in train_ids]
        head_ids, val_ids, how = carve_validation(rows, self.val_fraction, seed)
        head_train = self._select(head_ids)
        val = self._select(val_ids) if val_ids else None
        if val is not None and len(np.unique(val.labels)) < 2:
            val = None
        every = self.table
        out: dict[str, dict[str, float]] = {}
        record = {"train_videos": len(train_ids), "head_videos": len(head_ids),
                  "val_videos": len(val_ids), "validation": how, "run_dir": str(run_dir)}
        try:
            fit = fit_triplet(head_train, val, self.config, seed=seed, run_dir=run_dir,
                              classifiers=TRIPLET_CLASSIFIERS, aggregation=self.aggregation)
        except EmbeddingCollapseError as error:
            logger.error("fit %s: %s", run_dir.name, error)
            record["triplet_error"] = str(error)
        else:
            outputs = np.asarray(fit.head.predict(every.embeddings, batch_size=1024, verbose=0),
                                 np.float32)
            for clf_name, clf in fit.classifiers.items():
                out[f"triplet+{clf_name}"] = self._video(clf.predict_proba_fake(outputs))
            record.update(best_epoch=fit.training.best_epoch, epochs_run=fit.training.epochs_run,
                          monitor=fit.training.monitor)
            _release(fit.head)
        raw = self._select(train_ids)
        for clf_name, clf in fit_classifiers(raw.embeddings, raw.labels, RAW_CLASSIFIERS[1:],
                                             seed).items():
            out[f"raw+{clf_name}"] = self._video(clf.predict_proba_fake(every.embeddings))
        out["raw+logreg"] = self._video(_logreg(raw, seed).predict_proba(every.embeddings)[:, 1])
        return {"methods": out, "fit": record}

    def _video(self, frame_probs: np.ndarray) -> dict[str, float]:
        ids, probs = aggregate_video_scores(frame_probs, self.table.video_ids,
                                            how=self.aggregation)
        return {str(i): float(p) for i, p in zip(ids, probs)}


def _logreg(table: EmbeddingTable, seed: int):
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=1.0, max_iter=2000, random_state=seed)
    model.fit(table.embeddings, table.labels)
    if model.classes_[1] != FAKE:
        raise ValueError("logistic regression classes are not [real, fake]")
    return model


def _release(model) -> None:
    """Drop a finished fold's Keras state so dozens of fits do not pile up graphs."""
    from tensorflow import keras

    del model
    keras.backend.clear_session()


def collect(scores_by_fold: Mapping[str, dict], test_ids_by_fold: Mapping[str, Sequence[str]],
            method: str) -> dict[str, float]:
    """Out-of-fold scores of ``method``: each fold's scores of its own test videos."""
    pooled: dict[str, float] = {}
    for fold, result in scores_by_fold.items():
        method_scores = result["methods"].get(method)
        if method_scores is None:
            continue
        for vid in test_ids_by_fold[fold]:
            if vid in method_scores:
                pooled[vid] = method_scores[vid]
    return pooled


def _pooled(scores: Mapping[str, float], videos: Mapping[str, VideoInfo], n_boot: int,
            seed: int) -> dict:
    ids = sorted(scores)
    metrics = pooled_video_metrics([videos[i].label for i in ids], [scores[i] for i in ids],
                                   n_boot=n_boot, seed=seed)
    return {"scores": dict(sorted(scores.items())), "metrics": metrics}


def _pair_result(fits: Mapping[str, dict], folds, method: str, videos: Mapping[str, VideoInfo],
                 n_boot: int, seed: int) -> dict | None:
    """Leave-pair-out AUC of ``method``: in each pair's fold, did the fake outscore the real?"""
    reals = sorted({f.test[0] for f in folds})
    fakes = sorted({f.test[1] for f in folds})
    wins = np.full((len(reals), len(fakes)), np.nan)
    for fold in folds:
        scores = fits.get(fold.name, {}).get("methods", {}).get(method)
        if scores is None:
            continue
        real, fake = scores[fold.test[0]], scores[fold.test[1]]
        wins[reals.index(fold.test[0]), fakes.index(fold.test[1])] = (
            1.0 if fake > real else 0.5 if fake == real else 0.0)
    if np.isnan(wins).all():
        return None
    return {"metrics": pair_auc(wins, n_boot=n_boot, seed=seed), "reals": reals, "fakes": fakes,
            "wins": wins}


def _run_protocol(name: str, folds, fitter: "FoldFitter", videos: Mapping[str, VideoInfo],
                  seed: int, n_boot: int) -> dict:
    fits, skipped = {}, {}
    for fold in folds:
        try:
            fits[fold.name] = fitter.scores(fold.train, seed)
        except ValueError as error:
            skipped[fold.name] = str(error)
    per_method = {}
    for method in METHODS:
        if name in PAIR_PROTOCOLS:
            result = _pair_result(fits, folds, method, videos, n_boot, seed)
            if result is not None:
                per_method[method] = result
            continue
        pooled = collect(fits, {f.name: f.test for f in folds}, method)
        if not pooled:
            continue
        result = _pooled(pooled, videos, n_boot, seed)
        if name == "lodo":
            result["per_fold"] = {
                f.name: _pooled({v: pooled[v] for v in f.test if v in pooled}, videos,
                                n_boot, seed)["metrics"] for f in folds}
        per_method[method] = result
    return {"methods": per_method, "skipped_folds": skipped,
            "fits": {k: v["fit"] for k, v in fits.items()}}


def evaluate_protocols(table: EmbeddingTable, videos: Sequence[VideoInfo],
                       extra_ids: Sequence[str], config, *, seeds: Sequence[int],
                       val_fraction: float, n_boot: int, run_root: str | Path,
                       source: str = "", protocols: Sequence[str] | None = None,
                       steps=None) -> dict:
    """Every protocol x seed x method: out-of-fold video scores pooled over folds, with
    metrics and intervals (per-fold metrics for leave-one-dataset-out; leave-pair-out
    AUC for the pair protocols); the real-only videos scored by fits on every labelled
    video; the identity-vs-label measures on the raw embeddings."""
    import contextlib

    from tfdeepfake.evaluation.protocols import (PROTOCOL_TITLES, PROTOCOLS, check_folds,
                                                 fold_counts, identity_confound, identity_leaks)

    by_id = {v.video_id: v for v in videos}
    labelled = table.select(np.isin(table.video_ids, sorted(by_id)))
    fitter = FoldFitter(table, videos, config, val_fraction=val_fraction, run_root=run_root,
                        source=source)
    step = steps.run if steps is not None else (lambda name: contextlib.nullcontext({}))
    results: dict[str, dict] = {}
    for name in protocols or PROTOCOLS:
        folds = PROTOCOLS[name](videos)
        check_folds(folds, videos, pairs=name in PAIR_PROTOCOLS)
        entry = {"title": PROTOCOL_TITLES[name], "pairs": name in PAIR_PROTOCOLS,
                 "folds": [], "seeds": {}}
        for fold in folds:
            leaks = [list(x) for x in identity_leaks(fold, videos)]
            entry["folds"].append({**fold.to_dict(), "counts": fold_counts(fold, videos),
                                   "identity_leaks": leaks})
        for seed in seeds:
            with step(f"{name} seed {seed}") as row:
                entry["seeds"][str(seed)] = _run_protocol(name, folds, fitter, by_id, seed,
                                                          n_boot)
                row["detail"] = (f"{len(folds)} folds, "
                                 f"{len(entry['seeds'][str(seed)]['skipped_folds'])} skipped")
        results[name] = entry
    real_only = {}
    if extra_ids:
        for seed in seeds:
            with step(f"real-only check seed {seed}") as row:
                fit = fitter.scores(sorted(by_id), seed)
                real_only[str(seed)] = {m: _false_positives(
                    {v: s[v] for v in extra_ids}, n_boot, seed)
                    for m, s in fit["methods"].items()}
                row["detail"] = f"{len(extra_ids)} real-only videos"
    with step("identity vs label (raw embeddings)") as row:
        confound = identity_confound(labelled.embeddings, labelled.video_ids, videos)
        row["detail"] = f"{len(videos)} videos"
    return {"protocols": results, "real_only": real_only, "confound": confound,
            "methods": {m: METHOD_TITLES[m] for m in METHODS}}


def _false_positives(scores: Mapping[str, float], n_boot: int, seed: int) -> dict:
    """Real videos called fake at 0.5, with a bootstrap interval of that rate."""
    from tfdeepfake.evaluation.metrics import bootstrap_ci

    probs = np.array([scores[v] for v in sorted(scores)])
    flagged = int(np.sum(probs >= 0.5))
    ci = bootstrap_ci(np.zeros(len(probs), int), probs, "accuracy", n=n_boot, seed=seed)
    return {"n": len(probs), "false_positives": flagged, "rate": flagged / len(probs),
            "ci": {"low": 1.0 - ci["high"], "high": 1.0 - ci["low"], "level": ci["level"]},
            "mean_score": float(probs.mean()), "scores": dict(sorted(scores.items()))}


__all__ = ["FITTED_METHODS", "FoldFitter", "METHODS", "METHOD_TITLES", "RAW_CLASSIFIERS",
           "REFERENCE_METHODS", "TRIPLET_CLASSIFIERS", "collect", "evaluate_protocols"]
