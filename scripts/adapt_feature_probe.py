"""Training-based unsupervised adaptation of the texture head, probed on its cached features
(issue 21): self-training on the target's confident pseudo-labels, the target taken as
genuine, CORAL alignment and entropy minimisation. Exploratory, one seed; the statistics
methods are in ``tfdeepfake adapt`` and ``experiments.adapt_study``, whose protocol this
follows.

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
  (most of a user's footage is genuine);
- ``target-self-blends``: self-blended and lip-sync pseudo-fakes made from the target's faces
  (``default_texture``'s recipes, 8 faces per video; fake by construction, whatever the video
  is) added as fakes, weighing a quarter of the source;
- ``target-sbi``: the same, and every target face as genuine, a quarter each (the SBI recipe
  run on the target: fine-tuning on the target's self-blends);
- ``target-sbi-pull`` (``-diagonal``): ``target-sbi`` without the source data, as
  ``adapt --method self-blend`` runs it: the source objective replaced by its quadratic at
  the fitted head (its curvature, full or only its diagonal), the target rows as in
  ``target-sbi``; the threshold is the unadapted head's (``adapt`` keeps the model's: the
  calibration videos are not at hand); ``target-sbi-pull-natural``: each target face weighing
  one source face, the pseudo-fakes balancing them (what ``adapt`` does now);
- ``coral``: the target's features aligned to the source's second moments before the unchanged
  head, ``x -> (x - mu_t) C_t^(-1/2) C_s^(1/2) + mu_s`` (source: the rows the head was fitted
  on; target: its faces). Each covariance is Ledoit-Wolf shrunk toward its diagonal (the
  estimator on the features scaled to unit variance, then scaled back), square roots by ``eigh``;
  the map is affine, so it is folded into the head;
- ``entropy``: the head's weights and intercept (on its source standardisation) moved by 300
  steps of gradient descent (rate 0.01) on the target faces' mean binary entropy minus the
  entropy of their mean probability (weight 1, against collapse to one class), plus
  ``mu/2 |w - w_source|^2`` with ``mu = 1 / (C n_source)``: the head's own ridge strength,
  centred on the fitted weights.

The threshold is the 10% split-conformal one on the calibration fold's genuine videos,
scored by the adapted head (for ``coral`` by the unchanged one: those videos are source
footage, already where the alignment takes the target; aligned as the target they saturate;
for ``target-sbi-pull`` by the unchanged one too, as ``adapt`` keeps the model's threshold).
Prints the mean per-source video AUC with a 95% bootstrap interval, the pooled AUC, and
genuine videos of held-out sources called fake.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

METHODS = ("none", "restandardise", "self-train", "self-train-2", "self-train-genuine",
           "target-genuine", "coral", "entropy", "target-self-blends", "target-sbi",
           "target-sbi-pull", "target-sbi-pull-diagonal", "target-sbi-pull-natural")
PSEUDO_LABEL_SHARE = 0.3
HEAD_C = 0.001
ENTROPY_STEPS, ENTROPY_RATE, ENTROPY_BALANCE = 300, 0.01, 1.0


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
    model = LogisticRegression(C=HEAD_C, max_iter=3000)
    model.fit((np.concatenate(x) - mean) / np.sqrt(variance), np.concatenate(y),
              sample_weight=np.concatenate(w))
    return TextureHead("", mean, variance, model.coef_[0], float(model.intercept_[0]), {})


def _shrunk_covariance(features):
    """Ledoit-Wolf covariance shrunk toward its diagonal: the estimator on the features scaled
    to unit variance (whose target is then the identity), scaled back."""
    from sklearn.covariance import LedoitWolf

    scale = np.sqrt(features.var(0) + 1e-6)
    correlation = LedoitWolf(store_precision=False).fit(features / scale).covariance_
    return correlation * scale[:, None] * scale[None, :]


def _matrix_power(covariance, power):
    values, vectors = np.linalg.eigh(covariance)
    values = np.maximum(values, values.max() * 1e-12)
    return (vectors * values ** power) @ vectors.T


def coral(head, source, target):
    """The head scoring CORAL-aligned target features: ``(x - mu_t) A + mu_s`` with
    ``A = C_t^(-1/2) C_s^(1/2)``, folded into the linear head (``head.mean`` is ``mu_s``: the
    head was standardised on these source rows)."""
    from tfdeepfake.detectors.texture_head import TextureHead

    align = (_matrix_power(_shrunk_covariance(target), -0.5)
             @ _matrix_power(_shrunk_covariance(source), 0.5))
    return TextureHead("", target.mean(0), np.ones(target.shape[1]),
                       align @ (head.coef / np.sqrt(head.variance)), head.intercept, {})


def entropy_minimised(head, target, source_rows):
    """The head's weights moved by gradient descent on the target's mean binary entropy minus
    the entropy of its mean probability, pulled toward the fitted weights (see the module
    docstring for the settings)."""
    from tfdeepfake.detectors.texture_head import TextureHead

    z = np.c_[(target - head.mean) / np.sqrt(head.variance), np.ones(len(target))]
    start = np.r_[head.coef, head.intercept]
    w, pull = start.copy(), 1 / (HEAD_C * source_rows)
    for _ in range(ENTROPY_STEPS):
        a = np.clip(z @ w, -30, 30)
        p = _sigmoid(a)
        p_mean = np.clip(p.mean(), 1e-6, 1 - 1e-6)
        # d H(p)/d a = -a p (1 - p); d H(mean p)/d a_i = log((1 - P) / P) p_i (1 - p_i) / n
        slope = p * (1 - p) * (-a - ENTROPY_BALANCE * np.log((1 - p_mean) / p_mean))
        w -= ENTROPY_RATE * (z.T @ slope / len(z) + pull * (w - start))
    return TextureHead("", head.mean, head.variance, w[:-1], float(w[-1]), {})


def source_curvature(head, real, fake, diagonal=False):
    """What a model folder stores beside its head (``objective_curvature``), or its diagonal."""
    from tfdeepfake.detectors.texture_head import objective_curvature

    x = np.concatenate([real, fake])
    full = objective_curvature((x - head.mean) / np.sqrt(head.variance),
                               np.r_[np.zeros(len(real)), np.ones(len(fake))],
                               head.coef, head.intercept, HEAD_C)
    return np.diag(np.diag(full)) if diagonal else full


def pulled(head, curvature, extra, extra_labels, extra_weight):
    """``adapt``'s refit (``texture_head.pulled_fit``) of ``head`` on the target rows."""
    from tfdeepfake.detectors.texture_head import TextureHead, pulled_fit

    coef, intercept = pulled_fit(head.coef, head.intercept, curvature,
                                 (extra - head.mean) / np.sqrt(head.variance), extra_labels,
                                 extra_weight)
    return TextureHead("", head.mean, head.variance, coef, intercept, {})


def target_pseudo_fakes(cache, out: Path) -> dict[str, np.ndarray]:
    """Texture features of self-blended and lip-sync pseudo-fakes made from every video's faces,
    whatever its label (``default_texture``'s recipe, without the pair augmentation: the target
    is taken as it comes), cached in ``out``."""
    if out.exists():
        return dict(np.load(out))
    from tfdeepfake.cache.faces import iter_face_videos
    from tfdeepfake.detectors.texture_head import texture_feature_model, texture_features
    from tfdeepfake.detectors.xception import face_cache_settings
    from tfdeepfake.experiments.default_texture import PSEUDO_FAKES_PER_VIDEO
    from tfdeepfake.models.facenet import load_facenet
    from tfdeepfake.pipelines.self_blend import real_faces
    from tfdeepfake.synthetic.self_blend import PSEUDO_FAKE_RECIPES, self_blend

    model = texture_feature_model(load_facenet().model)
    settings = face_cache_settings(cache)
    rng = np.random.default_rng(0)
    ids, feats = [], []
    for video in iter_face_videos(cache):
        data = real_faces([video], settings, PSEUDO_FAKES_PER_VIDEO)
        if not len(data.faces):
            continue
        seeds = rng.integers(0, 2**62, len(data))
        for recipe in PSEUDO_FAKE_RECIPES:
            feats.append(texture_features(model, self_blend(data.faces, data.keypoints, seeds, recipe).images))
            ids += [video.video_id] * len(data)
    table = {"ids": np.asarray(ids), "x": np.concatenate(feats)}
    np.savez(out, **table)
    return table


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
    if any(m.startswith("target-s") for m in methods):
        blends = target_pseudo_fakes(args.cache, args.features / "target_pseudo_fakes.npz")
        blend_rows = {v: np.flatnonzero(blends["ids"] == v) for v in videos}

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
            elif m.startswith("target-sbi-pull"):
                made = blends["x"][np.concatenate([blend_rows[v] for v in members])].astype(np.float64)
                curvature = source_curvature(base, real, fake, diagonal=m.endswith("diagonal"))
                if m.endswith("natural"):  # every target row weighs what a source row does
                    weights = np.r_[np.ones(len(target)), np.full(len(made), len(target) / len(made))]
                else:  # each target group a quarter of the source
                    weights = np.r_[np.full(len(target), 0.25 * source_rows / len(target)),
                                    np.full(len(made), 0.25 * source_rows / len(made))]
                head = pulled(base, curvature, np.concatenate([target, made]),
                              np.r_[np.zeros(len(target)), np.ones(len(made))], weights)
            elif m in ("target-self-blends", "target-sbi"):
                made = blends["x"][np.concatenate([blend_rows[v] for v in members])].astype(np.float64)
                extra, extra_labels = made, np.ones(len(made))
                weight = np.full(len(made), 0.25 * source_rows / len(made))
                if m == "target-sbi":  # and the target's own faces as genuine, as SBI takes them
                    extra, extra_labels = np.concatenate([target, made]), np.r_[np.zeros(len(target)), extra_labels]
                    weight = np.r_[np.full(len(target), 0.25 * source_rows / len(target)), weight]
                head = fit(real, fake, extra, extra_labels, weight)
            elif m == "coral":
                head = coral(base, np.concatenate([real, fake]), target)
            elif m == "entropy":
                head = entropy_minimised(base, target, source_rows)
            # coral aligns the target to the source: the source's calibration videos stay as they are;
            # adapt keeps the model's threshold for self-blend (its calibration videos are not at hand)
            calibrating = base if m == "coral" or m.startswith("target-sbi-pull") else head
            threshold, _ = conformal_threshold(
                list(video_scores(calibrating, [v for v in outside if v in calibration]).values()),
                0.1)
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
