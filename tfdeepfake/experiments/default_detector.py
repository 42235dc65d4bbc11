"""Choosing the default detector: ``sbi`` recipes trained on genuine videos only, measured on
every labelled shared video they never saw (issue 20).

    python -m tfdeepfake.experiments.default_detector runs/dd/faces.h5 --out reports/default -v

The face cache is any cache of labelled videos whose manifest ``method`` column names each
video's collection: for real videos the group they came from (a repository, a dataset), for
fakes their generator (``modern:<generator>``, ``ffpp``, ``dfdc``). Protocol:

- The real videos are split into ``--folds`` folds by collection (a collection, and so its
  people and camera, is never on both sides). For fold ``k``, a recipe trains on the reals
  of the other folds (pseudo-fakes made from them; 15% held out by identity group for
  keep-best) and scores the reals of fold ``k`` and **every** fake. No fake is ever trained
  on, so every fake source is unseen by construction: leave-one-source-out for all sources
  at once.
- A real video's score comes from the one model that did not see it; a fake's score is the
  mean over the fold models. Video AUC (bootstrap 95% interval over videos) overall, for
  classic datasets, for modern generators and per generator.
- False alarms: at 0.5, and at a split-conformal threshold (10%) set on one half of a fold's
  held-out reals (by collection) and counted on the other half, both ways round.

Writes ``results.json`` and ``results.md`` (and the fold models) into ``--out``; a rerun
reuses finished fits (``fits/<recipe>-fold<k>.json``).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from tfdeepfake.constants import FAKE, REAL

logger = logging.getLogger(__name__)

# The recipes compared. "landed": the README's `train sbi` settings; "quality-mouth": the
# same plus resolution/noise as nuisances of both classes and lip-sync imitations.
RECIPES: dict[str, dict[str, Any]] = {
    "landed": {},
    "quality-mouth": {"quality_augment": True, "mouth_fakes": 0.3},
}
BASE = {"trainable_from": "Mixed_7a", "learning_rate": 2e-4, "epochs": 8, "patience": 3}
FALSE_ALARM_TARGET = 0.1


def collection(video) -> str:
    return str(video.attrs.get("method") or video.dataset)


def assign_folds(groups: Mapping[str, int], folds: int, seed: int) -> dict[str, int]:
    """Collections -> folds, largest first onto the fold with fewest videos (seeded order
    among equals), so folds hold about as many videos each."""
    rng = np.random.default_rng(seed)
    names = sorted(groups)
    rng.shuffle(names)
    names.sort(key=lambda g: -groups[g])
    sizes = [0] * folds
    out = {}
    for name in names:
        k = int(np.argmin(sizes))
        out[name] = k
        sizes[k] += groups[name]
    return out


def folds_of_collections(collection_of: Mapping[str, str], folds: int, seed: int) -> dict[str, int]:
    """``{video_id: fold}`` for ``{video_id: collection}``: whole collections per fold,
    ``assign_folds``."""
    sizes: dict[str, int] = {}
    for group in collection_of.values():
        sizes[group] = sizes.get(group, 0) + 1
    fold_of_group = assign_folds(sizes, folds, seed)
    return {v: fold_of_group[group] for v, group in collection_of.items()}


def real_folds(videos: Mapping, folds: int, seed: int) -> dict[str, int]:
    """``{video_id: fold}`` of the real videos among ``videos`` (``{video_id: FaceVideo}``):
    whole collections per fold, ``assign_folds``."""
    return folds_of_collections({v: collection(videos[v]) for v in videos
                                 if videos[v].label == REAL}, folds, seed)


def family(video) -> str:
    name = collection(video)
    if video.label == REAL:
        return "real"
    return "modern" if name.startswith("modern:") else "classic"


def _auc(real: Sequence[float], fake: Sequence[float]) -> float:
    # P(fake > real) + 0.5 P(tie): the Mann-Whitney form of the ROC AUC; pairwise, fast for
    # the bootstrap's many small resamples.
    diff = np.asarray(fake, np.float64)[:, None] - np.asarray(real, np.float64)[None, :]
    return float(np.mean((diff > 0) + 0.5 * (diff == 0)))


def auc_interval(real: Sequence[float], fake: Sequence[float], n_boot: int = 1000,
                 seed: int = 0) -> dict[str, Any]:
    """Video AUC with a percentile bootstrap 95% interval (videos resampled within class)."""
    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    rng = np.random.default_rng(seed)
    boots = [_auc(rng.choice(real, len(real)), rng.choice(fake, len(fake)))
             for _ in range(n_boot)]
    low, high = np.percentile(boots, [2.5, 97.5])
    return {"auc": _auc(real, fake), "low": float(low), "high": float(high),
            "real": int(len(real)), "fake": int(len(fake))}


def conformal_false_alarms(scores: Mapping[str, float], groups: Mapping[str, str],
                           target: float, seed: int) -> dict[str, int]:
    """Split-conformal thresholds on half of the real videos (by collection), false alarms
    counted on the other half, both ways round."""
    from tfdeepfake.detectors.calibrate import conformal_threshold

    names = sorted(set(groups.values()))
    np.random.default_rng(seed).shuffle(names)
    half = set(names[::2])
    sides = [[v for v in scores if groups[v] in half], [v for v in scores if groups[v] not in half]]
    flagged, tested, thresholds = [], [], []
    for cal, test in (sides, sides[::-1]):
        if not cal or not test:
            continue
        try:
            threshold, _ = conformal_threshold([scores[v] for v in cal], target)
        except ValueError:
            continue
        thresholds.append(threshold)
        flagged += [v for v in test if scores[v] >= threshold]
        tested += list(test)
    return {"flagged": len(flagged), "tested": len(tested), "thresholds": thresholds,
            "flagged_videos": sorted(flagged), "tested_videos": sorted(tested)}


def run(cache: str | Path, out: str | Path, *, recipes: Sequence[str], folds: int = 3,
        seed: int = 0, faces_per_video: int = 8, n_boot: int = 1000) -> dict[str, Any]:
    from tensorflow import keras

    from tfdeepfake.cache.faces import iter_face_videos
    from tfdeepfake.detectors.sbi_training import SBITrainingConfig
    from tfdeepfake.detectors.xception import face_cache_settings
    from tfdeepfake.experiments.sbi_fits import fit_sbi_direction
    from tfdeepfake.experiments.sbi_footage import Direction

    out = Path(out)
    (out / "fits").mkdir(parents=True, exist_ok=True)
    settings = face_cache_settings(cache)
    videos = {v.video_id: v for v in iter_face_videos(cache) if len(v.faces)}
    reals = sorted(v for v in videos if videos[v].label == REAL)
    fakes = sorted(v for v in videos if videos[v].label == FAKE)
    fold_of = real_folds(videos, folds, seed)
    logger.info("%d real videos, %d fakes; folds of %s reals", len(reals), len(fakes),
                [sum(f == k for f in fold_of.values()) for k in range(folds)])
    results: dict[str, Any] = {"cache": str(cache), "folds": folds, "seed": seed,
                               "faces_per_video": faces_per_video, "base": BASE,
                               "fold_of": fold_of, "recipes": {}}
    for name in recipes:
        config = SBITrainingConfig(**{**BASE, **RECIPES[name],
                                      "max_faces_per_video": faces_per_video})
        real_scores: dict[str, float] = {}
        fake_scores: dict[str, list[float]] = {v: [] for v in fakes}
        records = []
        for k in range(folds):
            done = out / "fits" / f"{name}-fold{k}.json"
            if done.exists():
                fit = json.loads(done.read_text())
            else:
                held = [v for v in reals if fold_of[v] == k]
                direction = Direction(f"fold{k}", f"genuine folds other than {k}",
                                      tuple(v for v in reals if fold_of[v] != k), {})
                scores, record = fit_sbi_direction(
                    direction, videos, settings, config, held + fakes, seed=seed,
                    val_fraction=0.15, out=out, name=name, strategy=None)
                fit = {"scores": scores, "record": record}
                done.write_text(json.dumps(fit, indent=1))
                keras.backend.clear_session()
            records.append(fit["record"])
            for v, s in fit["scores"].items():
                if videos[v].label == REAL:
                    real_scores[v] = s
                else:
                    fake_scores[v].append(s)
        results["recipes"][name] = summarise(name, config, videos, real_scores,
                                             {v: float(np.mean(s)) for v, s in fake_scores.items()},
                                             records, n_boot, seed)
        (out / "results.json").write_text(json.dumps(results, indent=1))
    return results


def summarise(name: str, config, videos: Mapping, real_scores: Mapping[str, float],
              fake_scores: Mapping[str, float], records: Sequence[dict], n_boot: int,
              seed: int) -> dict[str, Any]:
    return {"config": config.to_dict(),
            **summarise_scores(videos, real_scores, fake_scores, n_boot, seed),
            "fits": list(records)}


def summarise_scores(videos: Mapping, real_scores: Mapping[str, float],
                     fake_scores: Mapping[str, float], n_boot: int, seed: int) -> dict[str, Any]:
    """Video AUCs (all fakes, by family, by source) and false alarms of out-of-fold scores."""
    real = np.array([real_scores[v] for v in sorted(real_scores)])
    by_family: dict[str, list[float]] = {}
    by_source: dict[str, list[float]] = {}
    for v, s in fake_scores.items():
        by_family.setdefault(family(videos[v]), []).append(s)
        by_source.setdefault(collection(videos[v]), []).append(s)
    groups = {v: collection(videos[v]) for v in real_scores}
    return {
        "all": auc_interval(real, list(fake_scores.values()), n_boot, seed),
        "families": {f: auc_interval(real, s, n_boot, seed) for f, s in sorted(by_family.items())},
        "sources": {g: auc_interval(real, s, n_boot, seed) for g, s in sorted(by_source.items())},
        "false_alarms_at_0.5": {"flagged": int(np.sum(real >= 0.5)), "of": int(len(real))},
        "fakes_caught_at_0.5": {"caught": int(sum(s >= 0.5 for s in fake_scores.values())),
                                "of": len(fake_scores)},
        "conformal": conformal_false_alarms(real_scores, groups, FALSE_ALARM_TARGET, seed),
        "real_scores": dict(real_scores), "fake_scores": dict(fake_scores),
    }


def _row(label: str, m: Mapping[str, Any]) -> str:
    return (f"| {label} | {m['real']} / {m['fake']} | {m['auc']:.2f} "
            f"[{m['low']:.2f}, {m['high']:.2f}] |")


def markdown(results: Mapping[str, Any]) -> str:
    lines = ["# Default-detector recipes, genuine videos only, every fake unseen", "",
             f"Cache `{results['cache']}`; {results['folds']} folds of real collections; seed "
             f"{results['seed']}; {results['faces_per_video']} training faces per video.", ""]
    for name, r in results["recipes"].items():
        lines += [f"## {name}", "", "| fakes | real / fake videos | video AUC [95% CI] |",
                  "|---|---|---|", _row("all", r["all"])]
        lines += [_row(f, m) for f, m in r["families"].items()]
        lines += [_row(s, m) for s, m in r["sources"].items()]
        fa, c = r["false_alarms_at_0.5"], r["conformal"]
        lines += ["", f"Real videos called fake at 0.5: {fa['flagged']} / {fa['of']}; at a "
                      f"10% split-conformal threshold (half calibrates, half tested): "
                      f"{c['flagged']} / {c['tested']}. Fakes caught at 0.5: "
                      f"{r['fakes_caught_at_0.5']['caught']} / {r['fakes_caught_at_0.5']['of']}.", ""]
    return "\n".join(lines) + "\n"


def write_csv(videos_root: str | Path, out: str | Path) -> int:
    """The CSV (``path,label,split,method,source``) of every labelled shared video for
    ``tfdeepfake index csv``: ``method`` names a real video's collection (its dataset or
    the repository it came from, per ``SOURCES.csv``) and a fake's generator. Returns the
    row count."""
    import csv

    root = Path(videos_root)
    rows: list[dict[str, str]] = []

    def add(path: str, label: str, method: str) -> None:
        if (root / path).is_file():
            rows.append({"path": path, "label": label, "split": "test", "method": method,
                         "source": ""})

    for folder, label in (("ffpp_c23/real", "real"), ("ffpp_c23/fake", "fake"),
                          ("dfdc/real", "real"), ("dfdc/fake", "fake")):
        for f in sorted((root / folder).glob("*.mp4")):
            add(f"{folder}/{f.name}", label, folder.split("/")[0].replace("_c23", ""))
    for f in sorted((root / "real_only").glob("*.mp4")):
        add(f"real_only/{f.name}", "real", "real_only:" + f.name.split("_")[0])
    with open(root / "real_more" / "SOURCES.csv", newline="") as listing:
        for row in csv.DictReader(listing):
            add(f"real_more/{row['file']}", "real", "real_more:" + row["source_repo"])
    with open(root / "fake_modern" / "SOURCES.csv", newline="") as listing:
        for row in csv.DictReader(listing):
            fake = row["label"] == "fake"
            add(row["file"], row["label"],
                "modern:" + row["generator"].split(" (")[0] if fake else "modern_inputs")
    listed = {r["path"] for r in rows}
    for f in sorted((root / "fake_modern_inputs").glob("*.mp4")):
        if f"fake_modern_inputs/{f.name}" not in listed:
            add(f"fake_modern_inputs/{f.name}", "real", "modern_inputs")
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["path", "label", "split", "method", "source"])
        writer.writeheader()
        writer.writerows(rows)
    return len(rows)


def main(argv: Sequence[str] | None = None) -> int:
    from tfdeepfake.experiments.steps import script_logging, write_study

    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--write-csv"]:
        if len(argv) != 3:
            print("usage: --write-csv VIDEOS_ROOT OUT.csv", file=sys.stderr)
            return 2
        print(f"{write_csv(argv[1], argv[2])} videos -> {argv[2]}")
        return 0
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                epilog="--write-csv VIDEOS_ROOT OUT.csv: the shared videos' "
                                       "CSV for `tfdeepfake index csv` (and nothing else)")
    p.add_argument("cache", type=Path)
    p.add_argument("--out", type=Path, default=Path("reports/default"))
    p.add_argument("--recipe", action="append", choices=sorted(RECIPES))
    p.add_argument("--folds", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--faces-per-video", type=int, default=8)
    p.add_argument("-v", "--verbose", action="store_true")
    args = p.parse_args(argv)
    script_logging(args.verbose)
    started = time.perf_counter()
    results = run(args.cache, args.out, recipes=args.recipe or list(RECIPES), folds=args.folds,
                  seed=args.seed, faces_per_video=args.faces_per_video)
    print(write_study(args.out, "results", results, markdown, "tfdeepfake.experiments.default_detector", argv, started))
    return 0


if __name__ == "__main__":
    sys.exit(main())
