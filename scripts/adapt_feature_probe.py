"""Training-based unsupervised adaptation of the texture head, probed on its cached features
(issue 21): self-training on the target's confident pseudo-labels, and the target taken as
genuine. Exploratory, one seed; the statistics methods are in ``tfdeepfake adapt`` and
``experiments.adapt_study``, whose protocol this follows.

    python scripts/adapt_feature_probe.py runs/dd/faces.h5 --features reports/default-texture

For each held-out source of ``adapt_study`` (and all mixed sources pooled), the texture head is
fitted as the study fits it (12 faces per video and a degraded copy, genuine videos outside
the source and the calibration fold, every labelled fake outside the source), then adapted on
the source's faces, never their labels:

- ``none``: as fitted (the study's unadapted row; the same numbers);
- ``restandardise``: the feature standardisation re-estimated on the target (as ``adapt``);
- ``self-train`` (``self-train-2``: twice): the target's videos ranked by the head; the lowest
  30% taken as genuine and the highest 30% as fake, and the head refitted on the source data
  plus these (the target weighing half as much as the source, the source loss kept);
- ``self-train-genuine``: only the lower half of the ranked target taken as genuine (no
  pseudo-fakes), weighing a quarter of the source;
- ``target-genuine``: every target face added as genuine, weighing a quarter of the source
  (most of a user's footage is genuine).

The threshold is the 10% split-conformal one on the calibration fold's genuine videos,
scored by the adapted head. Prints the mean per-source video AUC with a 95% bootstrap
interval, the pooled AUC, and genuine videos of held-out sources called fake.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

METHODS = ("none", "restandardise", "self-train", "self-train-2", "self-train-genuine",
           "target-genuine")
PSEUDO_LABEL_SHARE = 0.3


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def fit(real, fake, extra=None, extra_labels=None, extra_weight=None):
    """Logistic regression as ``fit_texture_head`` (classes balanced, C=0.001, standardised on
    the source), with optional weighted target rows."""
    from sklearn.linear_model import LogisticRegression

    from tfdeepfake.detectors.texture_head import TextureHead

    source = np.concatenate([real, fake])
    mean, variance = source.mean(0), source.var(0) + 1e-6
    x, y = [real, fake], [np.zeros(len(real)), np.ones(len(fake))]
    w = [np.full(len(real), 0.5 * len(source) / len(real)), np.full(len(fake), 0.5 * len(source) / len(fake))]
    if extra is not None:
        x, y, w = x + [extra], y + [extra_labels], w + [extra_weight]
    model = LogisticRegression(C=0.001, max_iter=3000)
    model.fit((np.concatenate(x) - mean) / np.sqrt(variance), np.concatenate(y),
              sample_weight=np.concatenate(w))
    return TextureHead("", mean, variance, model.coef_[0], float(model.intercept_[0]), {})


def main(argv=None) -> int:
    from tfdeepfake.cache.faces import iter_face_videos
    from tfdeepfake.constants import FAKE, REAL
    from tfdeepfake.detectors.calibrate import conformal_threshold
    from tfdeepfake.detectors.texture_head import TextureHead
    from tfdeepfake.experiments.adapt_study import mean_auc_interval, source_of, training_rows
    from tfdeepfake.experiments.default_detector import auc_interval, real_folds

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("cache", type=Path)
    p.add_argument("--features", type=Path, required=True, help="default_texture's --out")
    p.add_argument("--method", action="append", choices=METHODS)
    args = p.parse_args(argv)
    methods = args.method or list(METHODS)
    table = np.load(args.features / "texture_features.npz")
    ids, x, xd = table["ids"], table["x"].astype(np.float64), table["x_degraded"].astype(np.float64)
    videos = {v.video_id: v for v in iter_face_videos(args.cache) if len(v.faces)}
    labels = {v: int(videos[v].label) for v in videos}
    source = {v: source_of(videos[v]) for v in videos}
    calibration = {v for v, k in real_folds(videos, 3, 0).items() if k == 0}
    rows = {v: np.flatnonzero(ids == v) for v in videos}

    def every(v):
        return training_rows(rows[v])

    def video_scores(head, vs):
        return {v: float(_sigmoid(head.logits(x[rows[v]])).mean()) for v in vs}

    by_source: dict[str, list[str]] = {}
    for v, s in source.items():
        by_source.setdefault(s, []).append(v)
    mixed = sorted(s for s, vs in by_source.items() if {labels[v] for v in vs} == {REAL, FAKE})
    genuine_only = sorted(s for s, vs in by_source.items() if s not in mixed and len(vs) >= 9
                          and all(labels[v] == REAL for v in vs))
    per_source = {m: {} for m in methods}
    pooled = {}
    alarms = {m: [0, 0] for m in methods}
    for held in mixed + genuine_only + ["pooled"]:
        group = set(mixed) if held == "pooled" else {held}
        outside = [v for v in videos if source[v] not in group]
        members = sorted(v for v in videos if source[v] in group)
        train_real = np.concatenate([every(v) for v in outside if labels[v] == REAL and v not in calibration])
        train_fake = np.concatenate([every(v) for v in outside if labels[v] == FAKE])
        real, fake = np.concatenate([x[train_real], xd[train_real]]), np.concatenate([x[train_fake], xd[train_fake]])
        base = fit(real, fake)
        target = x[np.concatenate([every(v) for v in members])]
        source_rows = len(real) + len(fake)
        for m in methods:
            head = base
            if m == "restandardise":
                head = TextureHead("", target.mean(0), target.var(0) + 1e-6, base.coef, base.intercept, {})
            elif m in ("self-train", "self-train-2"):
                for _ in range(2 if m.endswith("-2") else 1):
                    ranked = sorted(members, key=video_scores(head, members).get)
                    q = max(1, int(PSEUDO_LABEL_SHARE * len(members)))
                    low = np.concatenate([every(v) for v in ranked[:q]])
                    high = np.concatenate([every(v) for v in ranked[-q:]])
                    extra = np.concatenate([x[low], x[high]])
                    head = fit(real, fake, extra, np.r_[np.zeros(len(low)), np.ones(len(high))],
                               np.full(len(extra), 0.5 * source_rows / len(extra)))
            elif m == "self-train-genuine":
                ranked = sorted(members, key=video_scores(head, members).get)
                low = x[np.concatenate([every(v) for v in ranked[:max(1, len(members) // 2)]])]
                head = fit(real, fake, low, np.zeros(len(low)),
                           np.full(len(low), 0.25 * source_rows / len(low)))
            elif m == "target-genuine":
                head = fit(real, fake, target, np.zeros(len(target)),
                           np.full(len(target), 0.25 * source_rows / len(target)))
            threshold, _ = conformal_threshold(
                list(video_scores(head, [v for v in outside if v in calibration]).values()), 0.1)
            scores = video_scores(head, members)
            if held == "pooled":
                pooled[m] = scores
                continue
            if held in mixed:
                per_source[m][held] = scores
            genuine = [v for v in members if labels[v] == REAL]
            alarms[m][0] += sum(scores[v] >= threshold for v in genuine)
            alarms[m][1] += len(genuine)
    print(f"{len(mixed)} sources with both classes, {len(genuine_only)} genuine-only")
    print("| method | mean video AUC [95% CI] | pooled AUC [95% CI] | genuine called fake |")
    print("|---|---|---|---|")
    for m in methods:
        r = mean_auc_interval(per_source[m], labels, 1000, 0)
        real = [s for v, s in pooled[m].items() if labels[v] == REAL]
        fake = [s for v, s in pooled[m].items() if labels[v] == FAKE]
        whole = auc_interval(real, fake)
        print(f"| {m} | {r['mean']:.3f} [{r['low']:.2f}, {r['high']:.2f}] | {whole['auc']:.3f} "
              f"[{whole['low']:.2f}, {whole['high']:.2f}] | {alarms[m][0]} / {alarms[m][1]} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
