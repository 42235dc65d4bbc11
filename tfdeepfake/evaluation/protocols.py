"""Evaluation protocols over a handful of videos that cannot leak identity, pooled video
metrics with bootstrap intervals, and measures of how much an embedding encodes identity
rather than the real/fake label. numpy and scikit-learn only (no TensorFlow).

A video is described by :class:`VideoInfo`: its label, its dataset and the set of people
whose footage it carries (``identities``). A face-swap fake carries two: the target, whose
head, body and scene are kept, and the source, whose face is pasted in (FaceForensics++
Deepfakes / FaceSwap); a reenactment fake (Face2Face, NeuralTextures) keeps the target's
face, but lists the driving actor too, to be safe. Protocols:

- ``lovo``: leave one video out;
- ``identity_lovo``: leave one video out, and leave out of training every video that shares
  a person with the test video (a fake and the original of its target, in both directions);
- ``lodo``: leave one dataset out.

Every protocol's test sets partition the videos, so each video gets exactly one
out-of-fold score; the pooled scores are what the metrics are computed on.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter
from typing import Callable, Iterable, Mapping, Sequence

import numpy as np

from tfdeepfake.constants import FAKE, REAL
from tfdeepfake.evaluation.metrics import binary_metrics, bootstrap_ci

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class VideoInfo:
    """One video as the protocols see it."""

    video_id: str
    label: int
    dataset: str
    identities: frozenset[str]  # every person whose footage or face the video carries
    group: str = ""  # the primary person (a fake's target); defaults to the first identity

    def __post_init__(self):
        if self.label not in (REAL, FAKE):
            raise ValueError(f"{self.video_id}: label must be {REAL} or {FAKE}, got {self.label!r}")
        object.__setattr__(self, "identities", frozenset(self.identities) or
                           frozenset({self.video_id}))
        if not self.group:
            object.__setattr__(self, "group", sorted(self.identities)[0])


@dataclasses.dataclass(frozen=True)
class Fold:
    """One train/test split; ``excluded`` were left out of training to keep identities apart."""

    name: str
    train: tuple[str, ...]
    test: tuple[str, ...]
    excluded: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _check(videos: Sequence[VideoInfo]) -> list[VideoInfo]:
    videos = list(videos)
    counts = Counter(v.video_id for v in videos)
    repeated = sorted(k for k, n in counts.items() if n > 1)
    if repeated:
        raise ValueError(f"video ids must be unique; repeated: {', '.join(repeated)}")
    if len(videos) < 2:
        raise ValueError(f"a protocol needs at least 2 videos, got {len(videos)}")
    return sorted(videos, key=lambda v: v.video_id)


def leave_one_video_out(videos: Sequence[VideoInfo]) -> list[Fold]:
    videos = _check(videos)
    return [Fold(v.video_id, tuple(u.video_id for u in videos if u is not v), (v.video_id,))
            for v in videos]


def identity_disjoint_leave_one_video_out(videos: Sequence[VideoInfo]) -> list[Fold]:
    """Leave one video out; training also loses every video sharing a person with it."""
    videos = _check(videos)
    folds = []
    for v in videos:
        shared = tuple(u.video_id for u in videos if u is not v and u.identities & v.identities)
        train = tuple(u.video_id for u in videos if u is not v and u.video_id not in shared)
        folds.append(Fold(v.video_id, train, (v.video_id,), shared))
    return folds


def leave_one_dataset_out(videos: Sequence[VideoInfo]) -> list[Fold]:
    """Train on every other dataset, test on one; one fold per dataset. A person filmed in
    two datasets would leak; ``identity_leaks`` finds it."""
    videos = _check(videos)
    datasets = sorted({v.dataset for v in videos})
    if len(datasets) < 2:
        raise ValueError(f"leave-one-dataset-out needs 2 datasets or more, got {datasets}")
    return [Fold(d, tuple(v.video_id for v in videos if v.dataset != d),
                 tuple(v.video_id for v in videos if v.dataset == d)) for d in datasets]


def identity_disjoint_leave_pair_out(videos: Sequence[VideoInfo]) -> list[Fold]:
    """One fold per (real, fake) pair: train on every video that shares no person with
    either. Leave-pair-out AUC (``pair_auc``) compares the two scores of one model, so unlike
    pooled leave-one-out it is not biased by the class balance shifting between folds
    (Airola et al. 2011, Computational Statistics & Data Analysis 55(4))."""
    videos = _check(videos)
    folds = []
    for r in (v for v in videos if v.label == REAL):
        for f in (v for v in videos if v.label == FAKE):
            people = r.identities | f.identities
            shared = tuple(u.video_id for u in videos
                           if u is not r and u is not f and u.identities & people)
            train = tuple(u.video_id for u in videos if u is not r and u is not f
                          and u.video_id not in shared)
            folds.append(Fold(f"{r.video_id} vs {f.video_id}", train, (r.video_id, f.video_id),
                              shared))
    return folds


def pair_auc(wins: np.ndarray, *, n_boot: int = 1000, seed: int = 0, level: float = 0.95) -> dict:
    """Leave-pair-out AUC from ``wins[i, j]`` (1: the fake j scored above the real i in their
    fold, 0.5: a tie, 0: below; NaN: pair not scored), with a percentile bootstrap interval
    that resamples real and fake videos (not pairs), with replacement."""
    wins = np.asarray(wins, np.float64)
    if wins.ndim != 2 or not wins.size or np.isnan(wins).all():
        raise ValueError(f"wins must be a non-empty [reals, fakes] matrix, got {wins.shape}")
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(n_boot):
        rows = rng.integers(0, wins.shape[0], wins.shape[0])
        cols = rng.integers(0, wins.shape[1], wins.shape[1])
        sample = wins[np.ix_(rows, cols)]
        if not np.isnan(sample).all():
            values.append(np.nanmean(sample))
    low = high = float("nan")
    if values:
        tail = 100.0 * (1.0 - level) / 2.0
        low, high = (float(v) for v in np.percentile(values, [tail, 100.0 - tail]))
    return {"auc": float(np.nanmean(wins)), "pairs": int(np.sum(~np.isnan(wins))),
            "n_real": int(wins.shape[0]), "n_fake": int(wins.shape[1]),
            "ci": {"auc": {"low": low, "high": high, "level": level, "n": n_boot,
                           "used": len(values)}}}


PROTOCOLS: dict[str, Callable[[Sequence[VideoInfo]], list[Fold]]] = {
    "lovo": leave_one_video_out,
    "identity_lovo": identity_disjoint_leave_one_video_out,
    "lodo": leave_one_dataset_out,
    "identity_lpo": identity_disjoint_leave_pair_out,
}
PAIR_PROTOCOLS = ("identity_lpo",)  # folds test one (real, fake) pair: AUC only (pair_auc)
PROTOCOL_TITLES = {
    "lovo": "leave one video out",
    "identity_lovo": "leave one video out, identity-disjoint",
    "lodo": "leave one dataset out",
    "identity_lpo": "leave one (real, fake) pair out, identity-disjoint",
}


def identity_leaks(fold: Fold, videos: Sequence[VideoInfo]) -> list[tuple[str, str, str]]:
    """``(test video, training video, shared person)`` for every person a fold's test video
    shares with its training set: empty for an identity-disjoint fold."""
    by_id = {v.video_id: v for v in videos}
    leaks = []
    for test in fold.test:
        for train in fold.train:
            for person in sorted(by_id[test].identities & by_id[train].identities):
                leaks.append((test, train, person))
    return leaks


def check_folds(folds: Sequence[Fold], videos: Sequence[VideoInfo], *,
                pairs: bool = False) -> None:
    """Test sets partition the videos (``pairs``: every (real, fake) pair is tested once)
    and no fold trains on a test video."""
    ids = {v.video_id for v in videos}
    if pairs:
        label = {v.video_id: v.label for v in videos}
        wanted = {(r, f) for r in ids for f in ids if label[r] == REAL and label[f] == FAKE}
        tested = Counter(fold.test for fold in folds)
        wrong = sorted(map(str, (wanted ^ set(tested)) | {t for t, n in tested.items() if n != 1}))
    else:
        tested = Counter(t for fold in folds for t in fold.test)
        wrong = sorted((ids - set(tested)) | {t for t, n in tested.items() if n != 1})
    if wrong:
        raise ValueError(f"every {'pair' if pairs else 'video'} must be tested exactly once; "
                         f"not so for {wrong}")
    for fold in folds:
        if set(fold.train) & set(fold.test):
            raise ValueError(f"fold {fold.name}: trains on its test videos")
        unknown = sorted((set(fold.train) | set(fold.excluded)) - ids)
        if unknown:
            raise ValueError(f"fold {fold.name}: unknown videos {unknown}")


def identity_components(videos: Sequence[VideoInfo]) -> dict[str, str]:
    """``{video_id: group}``: videos linked by shared people, directly or through others,
    get one group (its smallest person's name), for carving validation videos by group."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for v in videos:
        people = sorted(v.identities)
        for other in people[1:]:
            a, b = find(people[0]), find(other)
            parent[max(a, b)] = min(a, b)
    return {v.video_id: find(sorted(v.identities)[0]) for v in videos}


def fold_counts(fold: Fold, videos: Sequence[VideoInfo]) -> dict[str, dict[str, int]]:
    """``{"train": {"real": n, "fake": n}, "test": {...}, "excluded": n}``."""
    label = {v.video_id: v.label for v in videos}

    def count(ids):
        return {"real": sum(label[i] == REAL for i in ids),
                "fake": sum(label[i] == FAKE for i in ids)}

    return {"train": count(fold.train), "test": count(fold.test), "excluded": len(fold.excluded)}


# -- pooled metrics --------------------------------------------------------------------


def pooled_video_metrics(labels, scores, *, threshold: float = 0.5, n_boot: int = 1000,
                         seed: int = 0) -> dict:
    """``binary_metrics`` of one score per video, the confusion counts, and percentile
    bootstrap 95% intervals over videos for AUC and accuracy (``bootstrap_ci``)."""
    import warnings

    from sklearn.exceptions import UndefinedMetricWarning

    y = np.asarray(labels, np.int64)
    p = np.asarray(scores, np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        metrics = binary_metrics(y, p, threshold)
    pred = p >= threshold
    metrics.update(tp=int(np.sum(pred & (y == FAKE))), fp=int(np.sum(pred & (y == REAL))),
                   tn=int(np.sum(~pred & (y == REAL))), fn=int(np.sum(~pred & (y == FAKE))))
    metrics["ci"] = {}
    for name in ("auc", "accuracy"):
        if name == "auc" and (metrics["n_real"] == 0 or metrics["n_fake"] == 0):
            metrics["ci"][name] = {"low": float("nan"), "high": float("nan"), "used": 0,
                                   "n": n_boot, "level": 0.95}
            continue
        metrics["ci"][name] = bootstrap_ci(y, p, name, n=n_boot, seed=seed, threshold=threshold)
    return metrics


# -- identity versus label -------------------------------------------------------------


def video_means(features, video_ids) -> tuple[np.ndarray, np.ndarray]:
    """``(sorted video ids, [V, D] mean feature of each video, re-normalised to length 1)``."""
    features = np.asarray(features, np.float64)
    video_ids = np.asarray(video_ids).astype(str)
    ids, inverse = np.unique(video_ids, return_inverse=True)
    sums = np.zeros((len(ids), features.shape[1]))
    np.add.at(sums, inverse, features)
    means = sums / np.bincount(inverse)[:, None]
    norms = np.linalg.norm(means, axis=1, keepdims=True)
    return ids, means / np.where(norms > 0, norms, 1.0)


def _distances(x: np.ndarray) -> np.ndarray:
    sq = np.sum(x * x, axis=1)
    return np.sqrt(np.maximum(sq[:, None] + sq[None, :] - 2.0 * x @ x.T, 0.0))


def nearest_neighbour_confound(means: np.ndarray, videos: Sequence[VideoInfo]) -> dict:
    """For each video, its nearest other video (Euclidean, on ``means`` row-aligned with
    ``videos``): does it share a person, the label, the dataset? Rates with counts."""
    if len(means) != len(videos) or len(videos) < 2:
        raise ValueError(f"need one mean per video (>= 2), got {len(means)} for {len(videos)}")
    d = _distances(np.asarray(means, np.float64))
    np.fill_diagonal(d, np.inf)
    rows, same = [], Counter()
    for i, v in enumerate(videos):
        j = int(np.argmin(d[i]))
        u = videos[j]
        row = {"video_id": v.video_id, "nearest": u.video_id, "distance": float(d[i, j]),
               "same_identity": bool(v.identities & u.identities),
               "same_label": v.label == u.label, "same_dataset": v.dataset == u.dataset}
        same.update(k for k in ("same_identity", "same_label", "same_dataset") if row[k])
        rows.append(row)
    n = len(videos)
    # Videos whose person appears in another video: the only ones that CAN match identity.
    can = sum(any(v.identities & u.identities for u in videos if u is not v) for v in videos)
    hit = sum(r["same_identity"] for r in rows)
    return {"n": n, "videos_with_a_shared_identity": can,
            **{k: {"count": same[k], "rate": same[k] / n} for k in
               ("same_identity", "same_label", "same_dataset")},
            "same_identity_among_those_that_can": {"count": hit, "of": can,
                                                   "rate": hit / can if can else float("nan")},
            "rows": rows}


def pairwise_confound(means: np.ndarray, videos: Sequence[VideoInfo]) -> dict:
    """Over all pairs of videos: how well does closeness of their ``means`` tell a shared
    person, a shared label, a shared dataset? AUC of ``-distance`` for each, with pair counts
    (0.5: the embedding does not organise videos that way; 1.0: it does, perfectly)."""
    from sklearn.metrics import roc_auc_score

    d = _distances(np.asarray(means, np.float64))
    i, j = np.triu_indices(len(videos), k=1)
    closeness = -d[i, j]
    out = {"pairs": int(len(i))}
    tests = {
        "same_identity": lambda a, b: bool(a.identities & b.identities),
        "same_label": lambda a, b: a.label == b.label,
        "same_dataset": lambda a, b: a.dataset == b.dataset,
    }
    for name, test in tests.items():
        y = np.array([test(videos[a], videos[b]) for a, b in zip(i, j)], bool)
        auc = float(roc_auc_score(y, closeness)) if 0 < y.sum() < len(y) else float("nan")
        out[name] = {"auc": auc, "positive_pairs": int(y.sum()),
                     "median_distance_positive": float(np.median(d[i, j][y])) if y.any() else None,
                     "median_distance_negative": float(np.median(d[i, j][~y])) if (~y).any()
                     else None}
    return out


def linear_probe_lovo(features, video_ids, targets: Mapping[str, str], *,
                      only: Iterable[str] | None = None, c: float = 1.0) -> dict:
    """Leave-one-video-out accuracy of a logistic regression that predicts ``targets[video]``
    (label, dataset, person...) from frame features; a video's prediction is the class of
    highest mean frame probability. ``only``: the videos to test (all by default); a test
    video whose class no training video has is counted wrong (it cannot be predicted).
    Returns accuracy with counts, the majority-class rate for reference, and per-video rows."""
    from sklearn.linear_model import LogisticRegression

    features = np.asarray(features, np.float64)
    video_ids = np.asarray(video_ids).astype(str)
    ids = sorted(set(video_ids.tolist()))
    missing = sorted(set(ids) - set(targets))
    if missing:
        raise ValueError(f"no target for videos {missing}")
    tested = ids if only is None else sorted(set(only) & set(ids))
    rows = []
    for vid in tested:
        train = video_ids != vid
        y = np.array([targets[v] for v in video_ids[train]])
        classes = np.unique(y)
        if len(classes) < 2:
            predicted = str(classes[0])
        else:
            probe = LogisticRegression(C=c, max_iter=2000).fit(features[train], y)
            mean = probe.predict_proba(features[~train]).mean(axis=0)
            predicted = str(probe.classes_[int(np.argmax(mean))])
        rows.append({"video_id": vid, "target": targets[vid], "predicted": predicted,
                     "correct": predicted == targets[vid]})
    correct = sum(r["correct"] for r in rows)
    majority = Counter(targets[v] for v in tested).most_common(1)
    return {"n": len(rows), "correct": correct,
            "accuracy": correct / len(rows) if rows else float("nan"),
            "classes": len({targets[v] for v in ids}),
            "majority_rate": majority[0][1] / len(rows) if rows else float("nan"),
            "rows": rows}


def identity_confound(features, video_ids, videos: Sequence[VideoInfo]) -> dict:
    """Everything above on one set of frame features: nearest neighbours and pairwise
    separation of video means, and linear probes for label, dataset and person (the
    person probe only on videos whose primary person appears in another video)."""
    by_id = {v.video_id: v for v in videos}
    ids, means = video_means(features, video_ids)
    ordered = [by_id[i] for i in ids]
    groups = Counter(v.group for v in ordered)
    shared = [v.video_id for v in ordered if groups[v.group] > 1]
    return {
        "nearest_neighbour": nearest_neighbour_confound(means, ordered),
        "pairwise": pairwise_confound(means, ordered),
        "probe_label": linear_probe_lovo(features, video_ids,
                                         {v.video_id: str(v.label) for v in ordered}),
        "probe_dataset": linear_probe_lovo(features, video_ids,
                                           {v.video_id: v.dataset for v in ordered}),
        "probe_identity": linear_probe_lovo(features, video_ids,
                                            {v.video_id: v.group for v in ordered}, only=shared),
    }


__all__ = ["Fold", "PAIR_PROTOCOLS", "PROTOCOLS", "PROTOCOL_TITLES", "VideoInfo", "check_folds",
           "fold_counts", "identity_disjoint_leave_pair_out", "pair_auc",
           "identity_components", "identity_confound", "identity_disjoint_leave_one_video_out",
           "identity_leaks",
           "leave_one_dataset_out", "leave_one_video_out", "linear_probe_lovo",
           "nearest_neighbour_confound", "pairwise_confound", "pooled_video_metrics",
           "video_means"]
