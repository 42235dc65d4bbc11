"""Unsupervised adaptation (``detectors.adapt``) measured leave-one-source-out on the shared
footage (issue 21).

    python -m tfdeepfake.experiments.adapt_study runs/dd/faces.h5 \\
        --features reports/default-texture --out reports/adapt -v

Needs the face cache of ``default_detector`` and the texture features ``default_texture``
cached (``--features``: its ``--out``). Sources: FF++, DFDC and each modern generator whose
genuine inputs are shared (``fake_modern`` beside ``fake_modern_inputs``, grouped by the
repository in the file name) hold both classes; the larger genuine-only collections are
held out too, for false alarms. For each held-out source ``s``:

1. a texture head is fitted as the shipped one is (12 faces per video, a degraded copy of
   each, logistic regression) on every genuine video outside ``s`` and outside the
   calibration fold, and on every labelled fake outside ``s``; it is set into the shipped
   network (``tfdeepfake/default_model``, whose fine-tuned head has weight 0);
2. its threshold is the 10% split-conformal one on the calibration fold's genuine videos
   outside ``s`` (as ``calibrate`` sets it), and those scores are its calibration record;
3. each method of ``detectors.adapt`` is applied with the videos of ``s`` as the target,
   never their labels (transductive: adapted on all of ``s``, scoring all of ``s``;
   inductive: adapted on a random half, scoring the other half, both ways), for each seed.

Then once more with every source that has both classes held out at once and adapted on
together ("pooled"): mixed footage from many cameras and generators, as a user's (or the
hidden test set) is. Reported: per-source video AUC, their mean with a 95% bootstrap interval
(videos resampled within each source), the pooled AUC, and genuine videos of the held-out
sources called fake at the model's (or the recentred) threshold, and fakes caught at it.
Resumable: each (source, seed) is kept in ``adapt_runs.json``. Writes ``adapt.json`` and
``adapt.md``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from tfdeepfake.constants import FAKE, REAL
from tfdeepfake.experiments.default_detector import _auc
from tfdeepfake.experiments.default_texture import TRAIN_FACES_PER_VIDEO
from tfdeepfake.video.sampling import spread_picks

logger = logging.getLogger(__name__)

COMBINATIONS = ("none", "restandardise", "threshold", "adabn", "adabn+restandardise",
                "adabn+threshold", "self-blend", "self-blend+threshold")
FALSE_ALARM_TARGET = 0.1
POOLED = "pooled"
REAL_ONLY_MIN_VIDEOS = 9  # genuine collections at least this large are held out for false alarms


def source_of(video) -> str:
    """A video's source: FF++ / DFDC, or the repository a modern fake or its genuine input
    came from (``fake_modern/LatentSync-ale701__x`` and ``fake_modern_inputs/latentsync__y``
    are both ``latentsync``); other genuine videos keep their collection."""
    from tfdeepfake.experiments.default_detector import collection

    group = collection(video)
    if group in ("ffpp", "dfdc"):
        return group
    folder, _, name = video.video_id.rpartition("/")
    if folder.endswith("fake_modern") or folder.endswith("fake_modern_inputs"):
        return "repo:" + name.split("__")[0].split("-")[0].lower()
    return group


def training_rows(rows: np.ndarray) -> np.ndarray:
    """Up to ``TRAIN_FACES_PER_VIDEO`` of a video's face rows, evenly spread over it (as the
    shipped head's training picks them)."""
    return rows[spread_picks(len(rows), TRAIN_FACES_PER_VIDEO)]


def mean_auc_interval(scores: dict[str, dict[str, float]], labels: dict[str, int],
                      n_boot: int, seed: int) -> dict[str, Any]:
    """Mean over sources of the video AUC, with a bootstrap interval that resamples videos
    within each source (each class separately, so every resample has both)."""
    rng = np.random.default_rng(seed)
    per_source = {}
    arrays = {}
    for s, by_video in scores.items():
        real = np.array([p for v, p in by_video.items() if labels[v] == REAL])
        fake = np.array([p for v, p in by_video.items() if labels[v] == FAKE])
        per_source[s] = _auc(real, fake)
        arrays[s] = (real, fake)
    boots = []
    for _ in range(n_boot):
        boots.append(np.mean([_auc(rng.choice(r, len(r)), rng.choice(f, len(f)))
                              for r, f in arrays.values()]))
    low, high = np.percentile(boots, [2.5, 97.5])
    return {"mean": float(np.mean(list(per_source.values()))), "low": float(low),
            "high": float(high), "sources": per_source}


class Study:
    """The shipped network, with one held-out source's texture head and calibration set in."""

    def __init__(self, cache: Path, features: Path, seed: int):
        from tfdeepfake.cache.faces import iter_face_videos
        from tfdeepfake.detectors import load_detector
        from tfdeepfake.detectors.adapt import _batch_norms, _facenet_parts
        from tfdeepfake.detectors.default_model import BUNDLED_MODEL_DIR
        from tfdeepfake.detectors.xception import face_cache_settings
        from tfdeepfake.experiments.default_detector import real_folds

        self.table = dict(np.load(features / "texture_features.npz"))
        self.videos = {v.video_id: v for v in iter_face_videos(cache) if len(v.faces)}
        self.labels = {v: int(self.videos[v].label) for v in self.videos}
        self.source = {v: source_of(self.videos[v]) for v in self.videos}
        self.calibration_fold = {v for v, k in real_folds(self.videos, 3, seed).items() if k == 0}
        ids = self.table["ids"]
        self.rows = {v: np.flatnonzero(ids == v) for v in self.videos}
        self.detector = load_detector(BUNDLED_MODEL_DIR)
        width = int(self.detector.model.get_layer("texture_pool").output_shape[-1])
        if self.table["x"].shape[1] != width:
            # e.g. a study of the mouth read at another layer than the shipped model reads it
            raise ValueError(f"{features / 'texture_features.npz'}: {self.table['x'].shape[1]} values "
                             f"per face, but {BUNDLED_MODEL_DIR}'s texture head reads {width}: give "
                             "the default_texture study the shipped model was built from")
        self.face_settings = face_cache_settings(cache)
        trunk, _ = _facenet_parts(self.detector)
        self.norms = _batch_norms(trunk)
        self.original = [layer.get_weights() for layer in self.norms]

    def sources(self) -> tuple[list[str], list[str]]:
        """(sources with both classes, genuine-only sources large enough for false alarms)."""
        by = {}
        for v, s in self.source.items():
            by.setdefault(s, []).append(v)
        mixed = sorted(s for s, vs in by.items() if {self.labels[v] for v in vs} == {REAL, FAKE})
        reals = sorted(s for s, vs in by.items() if s not in mixed
                       and all(self.labels[v] == REAL for v in vs) and len(vs) >= REAL_ONLY_MIN_VIDEOS)
        return mixed, reals

    def _every(self, v: str) -> np.ndarray:
        return training_rows(self.rows[v])

    def hold_out(self, held: str | set[str]) -> dict[str, Any]:
        """Fit the head without source(s) ``held``, set it and its calibration into the
        network; returns what was fitted."""
        from tfdeepfake.detectors.calibrate import conformal_threshold
        from tfdeepfake.detectors.texture_head import fit_texture_head

        x, xd = self.table["x"], self.table["x_degraded"]
        held = {held} if isinstance(held, str) else set(held)
        outside = [v for v in self.videos if self.source[v] not in held]
        train_real = np.concatenate([self._every(v) for v in outside
                                     if self.labels[v] == REAL and v not in self.calibration_fold])
        train_fake = np.concatenate([self._every(v) for v in outside if self.labels[v] == FAKE])
        head = fit_texture_head(np.concatenate([x[train_real], xd[train_real]]),
                                np.concatenate([x[train_fake], xd[train_fake]]), c=0.001)
        self.head = head
        self.reset()
        calibration = [v for v in outside if v in self.calibration_fold]
        cal_scores = [float(np.mean(1 / (1 + np.exp(-head.logits(x[self.rows[v]])))))
                      for v in calibration]
        threshold, _ = conformal_threshold(cal_scores, FALSE_ALARM_TARGET)
        self.detector.meta["threshold"] = threshold
        self.detector.meta["calibration"] = {"real_scores": {"sbi": sorted(cal_scores)}}
        return {"threshold": threshold, "calibration_videos": len(calibration),
                "train_real_faces": int(len(train_real)), "train_fake_faces": int(len(train_fake))}

    def reset(self) -> None:
        """The held-out source's head, FaceNet's own BatchNorm statistics."""
        from tfdeepfake.detectors.adapt import drop_traced

        for layer, weights in zip(self.norms, self.original):
            layer.set_weights(weights)
        head = self.head
        norm = self.detector.model.get_layer("texture_norm")
        norm.set_weights([head.mean.astype(np.float32), head.variance.astype(np.float32), np.int64(1)])
        norm.finalize_state()
        self.detector.model.get_layer("texture_logit").set_weights(
            [head.coef.reshape(-1, 1).astype(np.float32), np.float32([head.intercept])])
        drop_traced(self.detector)

    def targets(self, video_ids: Sequence[str]):
        from tfdeepfake.detectors.adapt import TargetVideo, Targets
        from tfdeepfake.synthetic.self_blend import keypoints_in_crops_of

        # Faces and keypoints only: the label stays in this study's own table, never in the targets.
        return Targets([TargetVideo(v, "", np.asarray(self.videos[v].faces),
                                    keypoints_in_crops_of(self.videos[v].keypoints,
                                                          self.videos[v].boxes, self.face_settings))
                        for v in video_ids])

    def scores(self, video_ids: Sequence[str]) -> dict[str, float]:
        return {v: float(self.detector.score_video(np.asarray(self.videos[v].faces)))
                for v in video_ids}

    def run(self, adapt_on: Sequence[str], score: Sequence[str], seed: int,
            combinations: Sequence[str] = COMBINATIONS) -> dict[str, dict]:
        """Scores of ``score`` and the threshold, per combination, adapted on ``adapt_on``."""
        from tfdeepfake.detectors.adapt import adabn, restandardise, self_blend_head, threshold_shift

        targets = self.targets(adapt_on)
        reference = self.detector.meta["calibration"]["real_scores"]["sbi"]
        base_threshold = self.detector.meta["threshold"]
        out = {}

        def record(name: str, shifted_name: str | None = None) -> None:
            """This state's scores; with ``shifted_name``, the same scores again under the
            threshold recentred on ``adapt_on`` (no second scoring pass where they coincide)."""
            scored = self.scores(score)
            out[name] = {"scores": scored, "threshold": base_threshold}
            if shifted_name:
                adapt_scores = scored if list(adapt_on) == list(score) else self.scores(adapt_on)
                threshold = threshold_shift(list(adapt_scores.values()), reference, base_threshold)[0]
                out[shifted_name] = {"scores": scored, "threshold": threshold}

        want = set(combinations)
        self.reset()
        record("none", "threshold")
        if "restandardise" in want:
            restandardise(self.detector, targets)
            record("restandardise")
            self.reset()
        if want & {"adabn", "adabn+threshold", "adabn+restandardise"}:
            adabn(self.detector, targets, seed)
            record("adabn", "adabn+threshold")
            if "adabn+restandardise" in want:
                restandardise(self.detector, targets)
                record("adabn+restandardise")
            self.reset()
        if want & {"self-blend", "self-blend+threshold"}:
            # what a model folder stores beside its head (with_texture_head)
            curvature = (self.head.curvature,
                         self.head.record["real_faces"] + self.head.record["fake_faces"])
            self_blend_head(self.detector, targets, seed, curvature=curvature)
            record("self-blend", "self-blend+threshold")
            self.reset()
        return {c: r for c, r in out.items() if c in want or c == "none"}


def evaluate(cache: Path, features: Path, out: Path, seeds: Sequence[int], n_boot: int = 1000,
             pooled_seeds: Sequence[int] = (), combinations: Sequence[str] = COMBINATIONS
             ) -> dict[str, Any]:
    """``seeds``: every protocol; ``pooled_seeds``: more seeds of the pooled one only;
    ``combinations``: the methods to run (a resumed study keeps the runs it has)."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / "adapt_runs.json"
    runs: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    study = Study(cache, features, 0)
    mixed, real_only = study.sources()
    logger.info("held-out sources with both classes: %s; genuine-only: %s", mixed, real_only)
    # "pooled": every source with both classes held out at once and adapted on together, as
    # a user's mixed footage would be (and the hidden test set is).
    for s in mixed + real_only + [POOLED]:
        group = set(mixed) if s == POOLED else {s}
        members = sorted(v for v in study.videos if study.source[v] in group)
        wanted = sorted(set(seeds) | (set(pooled_seeds) if s == POOLED else set()))
        if all(f"{s}|{seed}" in runs for seed in wanted):
            continue
        fitted = study.hold_out(group)
        for seed in wanted:
            key = f"{s}|{seed}"
            if key in runs:  # resumable: each (source, seed) is written when done
                continue
            started = time.perf_counter()
            transductive = study.run(members, members, seed, combinations)
            halves = np.random.default_rng(seed).permutation(members)
            a, b = sorted(halves[: len(halves) // 2]), sorted(halves[len(halves) // 2:])
            inductive = {}
            if a and b:
                first, second = study.run(a, b, seed, combinations), study.run(b, a, seed, combinations)
                inductive = {c: {"scores": {**first[c]["scores"], **second[c]["scores"]},
                                 "thresholds": [first[c]["threshold"], second[c]["threshold"]],
                                 "threshold_of": {**{v: first[c]["threshold"] for v in b},
                                                  **{v: second[c]["threshold"] for v in a}}}
                             for c in first}
            runs[key] = {"source": s, "seed": seed, "fitted": fitted, "videos": len(members),
                         "transductive": transductive, "inductive": inductive,
                         "seconds": round(time.perf_counter() - started, 1)}
            path.write_text(json.dumps(runs))
            logger.info("%s seed %d: %.0f s", s, seed, runs[key]["seconds"])
    return summarise(runs, study.labels, mixed, real_only, seeds, n_boot,
                     sorted(set(seeds) | set(pooled_seeds)))


def _verdict_counts(run: dict, labels: dict[str, int]) -> dict[str, int]:
    """Genuine videos called fake and fakes caught in one run of one method, each video at
    the threshold it was scored under (an inductive run has one per half)."""
    counts = dict.fromkeys(("false_alarms", "genuine", "fakes_caught", "fakes"), 0)
    for v, p in run["scores"].items():
        called = int(p >= run.get("threshold_of", {}).get(v, run.get("threshold")))
        if labels[v] == REAL:
            counts["false_alarms"] += called
            counts["genuine"] += 1
        else:
            counts["fakes_caught"] += called
            counts["fakes"] += 1
    return counts


def summarise(runs: dict, labels: dict[str, int], mixed: Sequence[str], real_only: Sequence[str],
              seeds: Sequence[int], n_boot: int, pooled_seeds: Sequence[int] | None = None
              ) -> dict[str, Any]:
    pooled_seeds = list(seeds if pooled_seeds is None else pooled_seeds)
    results: dict[str, Any] = {"mixed_sources": list(mixed), "real_only_sources": list(real_only),
                               "seeds": list(seeds), "pooled_seeds": pooled_seeds,
                               "protocols": {}, "pooled": {}}
    present = [c for c in COMBINATIONS if all(c in run[p] for run in runs.values()
                                              for p in ("transductive", "inductive") if run[p])]
    for protocol in ("transductive", "inductive"):
        results["pooled"][protocol] = {}
        for c in present:
            per_seed = []
            for seed in pooled_seeds:
                run = runs[f"{POOLED}|{seed}"][protocol].get(c)
                if run is None:
                    continue
                got = run["scores"]
                summary = mean_auc_interval({POOLED: got}, labels, n_boot, seed)
                summary.update(_verdict_counts(run, labels))
                per_seed.append(summary)
            results["pooled"][protocol][c] = {"mean_auc": float(np.mean([r["mean"] for r in per_seed])),
                                              "seeds": per_seed}
    for protocol in ("transductive", "inductive"):
        table = {}
        for c in present:
            per_seed = []
            for seed in seeds:
                scores, counts = {}, dict.fromkeys(("false_alarms", "genuine", "fakes_caught", "fakes"), 0)
                for s in list(mixed) + list(real_only):
                    run = runs[f"{s}|{seed}"][protocol]
                    if c not in run:
                        continue
                    for key, n in _verdict_counts(run[c], labels).items():
                        counts[key] += n
                    if s in mixed:
                        scores[s] = run[c]["scores"]
                summary = mean_auc_interval(scores, labels, n_boot, seed)
                summary.update(counts)
                per_seed.append(summary)
            table[c] = {"mean_auc": float(np.mean([r["mean"] for r in per_seed])),
                        "seeds": per_seed}
        results["protocols"][protocol] = table
    return results


def markdown(results: dict) -> str:
    mixed = results["mixed_sources"]
    lines = ["# Unsupervised adaptation, leave-one-source-out", "",
             f"Held-out sources with both classes: {', '.join(mixed)}; genuine-only (false "
             f"alarms): {', '.join(results['real_only_sources'])}. Seeds "
             f"{results['seeds']}. Mean over sources of the video AUC [95% bootstrap over "
             "videos, first seed]; genuine videos of held-out sources called fake at the "
             "model's threshold (the recentred one for `threshold`), summed over sources.", ""]
    for protocol, table in results["protocols"].items():
        lines += [f"## {protocol}", "",
                  "| method | mean AUC (seeds) | first seed [95% CI] | " +
                  " | ".join(s.split(":")[-1] for s in mixed) + " | genuine called fake | fakes caught |",
                  "|---|---|---|" + "---|" * len(mixed) + "---|---|"]
        for c, r in table.items():
            first = r["seeds"][0]
            seeds = ", ".join(f"{x['mean']:.3f}" for x in r["seeds"])
            fa = "; ".join(f"{x['false_alarms']} / {x['genuine']}" for x in r["seeds"])
            caught = "; ".join(f"{x['fakes_caught']} / {x['fakes']}" for x in r["seeds"])
            lines.append(f"| {c} | {r['mean_auc']:.3f} ({seeds}) | {first['mean']:.2f} "
                         f"[{first['low']:.2f}, {first['high']:.2f}] | " +
                         " | ".join(f"{first['sources'][s]:.2f}" for s in mixed) + f" | {fa} | {caught} |")
        lines.append("")
    lines += ["## All sources with both classes held out and adapted on together (pooled)", "",
              f"Seeds {results.get('pooled_seeds', results['seeds'])}.", "",
              "| protocol | method | video AUC (seeds) | first seed [95% CI] | genuine called fake | fakes caught |",
              "|---|---|---|---|---|---|"]
    for protocol, table in results["pooled"].items():
        for c, r in table.items():
            first = r["seeds"][0]
            lines.append(f"| {protocol} | {c} | {r['mean_auc']:.3f} ("
                         + ", ".join(f"{x['mean']:.3f}" for x in r["seeds"])
                         + f") | {first['mean']:.2f} [{first['low']:.2f}, {first['high']:.2f}] | "
                         + "; ".join(f"{x['false_alarms']} / {x['genuine']}" for x in r["seeds"]) + " | "
                         + "; ".join(f"{x['fakes_caught']} / {x['fakes']}" for x in r["seeds"]) + " |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    from tfdeepfake.experiments.steps import script_logging, write_study

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("cache", type=Path)
    p.add_argument("--features", type=Path, default=Path("reports/default-texture"),
                   help="default_texture's --out (texture_features.npz)")
    p.add_argument("--out", type=Path, default=Path("reports/adapt"))
    p.add_argument("--seed", type=int, action="append", help="repeat (default: 0 1 2)")
    p.add_argument("--pooled-seed", type=int, action="append", default=[],
                   help="more seeds of the pooled protocol only (repeat)")
    p.add_argument("--combination", action="append", choices=COMBINATIONS,
                   help="repeat; default: all (none is always run, as the reference)")
    p.add_argument("-v", "--verbose", action="store_true")
    args = p.parse_args(argv)
    script_logging(args.verbose)
    started = time.perf_counter()
    results = evaluate(args.cache, args.features, args.out, args.seed or [0, 1, 2],
                       pooled_seeds=args.pooled_seed,
                       combinations=args.combination or COMBINATIONS)
    print(write_study(args.out, "adapt", results, markdown, "tfdeepfake.experiments.adapt_study",
                      argv, started))
    return 0


if __name__ == "__main__":
    sys.exit(main())
