"""Metrics, ``results.json`` and ``results.md`` of the SBI footage study
(``sbi_footage.run_sbi_footage``)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from tfdeepfake.constants import FAKE, REAL
from tfdeepfake.provenance import json_ready, package_versions

RESULTS_JSON, RESULTS_MD = "results.json", "results.md"
QUICK_BANNER = ("**QUICK MODE: 8 faces per video, 3 epochs of the last FaceNet blocks, one "
                "seed: a smoke test of the machinery, not a measurement.**")
METHOD_TITLES = {
    "sbi": "SBI: FaceNet fine-tuned on real + self-blended faces",
    "sbi-xception": "SBI: Xception from scratch on real + self-blended faces",
    "sbi-triplet+rf": "poster's method, self-blended fakes (RF)",
    "sbi-triplet+sgd": "poster's method, self-blended fakes (SGD)",
    "sbi-triplet+knn": "poster's method, self-blended fakes (KNN)",
    "tuned-triplet+rf": "poster's method on the fine-tuned SBI backbone, self-blended fakes (RF)",
    "tuned-triplet+sgd": "poster's method on the fine-tuned SBI backbone, self-blended fakes (SGD)",
    "tuned-triplet+knn": "poster's method on the fine-tuned SBI backbone, self-blended fakes (KNN)",
    "triplet+rf": "poster's method, real fakes (RF)",
    "triplet+sgd": "poster's method, real fakes (SGD)",
    "triplet+knn": "poster's method, real fakes (KNN)",
}


def _fp_stats(scores: Sequence[float], n_boot: int, seed: int) -> dict:
    """Real videos called fake at 0.5, with a bootstrap interval of the rate."""
    from tfdeepfake.evaluation.metrics import bootstrap_ci

    probs = np.asarray(scores, np.float64)
    flagged = int(np.sum(probs >= 0.5))
    ci = bootstrap_ci(np.zeros(len(probs), int), probs, "accuracy", n=n_boot, seed=seed)
    return {"n": len(probs), "false_positives": flagged, "rate": flagged / len(probs),
            "ci": {"low": 1.0 - ci["high"], "high": 1.0 - ci["low"], "level": ci["level"]},
            "mean_score": float(probs.mean())}


def evaluate(directions, scores: Mapping[str, Mapping[str, float]], labels: Mapping[str, int],
             seeds: Sequence[int], n_boot: int) -> list[dict]:
    """One row per direction x test set x method x seed: pooled video metrics with intervals
    (``pooled_video_metrics``), or false-positive counts on a set of real videos only."""
    from tfdeepfake.evaluation.protocols import pooled_video_metrics

    rows = []
    for direction in directions:
        methods = sorted({k.split("/")[1] for k in scores if k.startswith(direction.name + "/")})
        for test_set, ids in direction.tests.items():
            for method in methods:
                for seed in seeds:
                    found = scores.get(f"{direction.name}/{method}/{seed}")
                    if not found:
                        continue
                    vids = [v for v in ids if v in found]
                    y = [labels[v] for v in vids]
                    poster = method.startswith("triplet+")
                    row = {"direction": direction.name,
                           "trained_on": direction.poster_title if poster else direction.title,
                           "test_set": test_set, "method": method, "seed": int(seed),
                           "n_real": y.count(REAL), "n_fake": y.count(FAKE)}
                    if row["n_real"] and row["n_fake"]:
                        row["metrics"] = pooled_video_metrics(y, [found[v] for v in vids],
                                                              n_boot=n_boot, seed=int(seed))
                    elif vids:
                        row["false_positives"] = _fp_stats([found[v] for v in vids], n_boot,
                                                           int(seed))
                    rows.append(row)
    return rows


def _f(value, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:.{digits}f}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
            *("| " + " | ".join(r) + " |" for r in rows)]


def _spread(values: list[float]) -> str:
    values = [v for v in values if v is not None and not math.isnan(v)]
    if len(values) < 2:
        return "—"
    return f"{np.mean(values):.3f} ({min(values):.3f}–{max(values):.3f}, {len(values)} seeds)"


def _test_set_section(test_set: str, rows: list[dict], first: int) -> list[str]:
    first_rows = [r for r in rows if r["seed"] == first]
    if not first_rows:
        return []
    sample = first_rows[0]
    lines = [f"### Test: {test_set} ({sample['n_real']} real / {sample['n_fake']} fake videos)", ""]
    order = list(METHOD_TITLES)
    first_rows.sort(key=lambda r: (order.index(r["method"]) if r["method"] in order else 99,
                                   r["direction"]))
    table = []
    for r in first_rows:
        same = [x for x in rows if x["method"] == r["method"] and x["direction"] == r["direction"]]
        title = METHOD_TITLES.get(r["method"], r["method"])
        if "metrics" in r:
            m = r["metrics"]
            ci_auc, ci_acc = m["ci"]["auc"], m["ci"]["accuracy"]
            table.append([title, r["trained_on"],
                          f"{_f(m['auc'])} [{_f(ci_auc['low'], 2)}, {_f(ci_auc['high'], 2)}]",
                          f"{_f(m['accuracy'])} [{_f(ci_acc['low'], 2)}, {_f(ci_acc['high'], 2)}]",
                          f"{m['tp']}/{m['fp']}/{m['tn']}/{m['fn']}",
                          _spread([x["metrics"]["auc"] for x in same])])
        else:
            fp = r["false_positives"]
            table.append([title, r["trained_on"], f"{fp['false_positives']} / {fp['n']}",
                          f"{_f(fp['rate'], 2)} [{_f(fp['ci']['low'], 2)}, {_f(fp['ci']['high'], 2)}]",
                          _f(fp["mean_score"]),
                          _spread([x["false_positives"]["rate"] for x in same])])
    if "metrics" in sample:
        header = ["method", "trained on", "video AUC [95% CI]", "accuracy @0.5 [95% CI]",
                  "TP/FP/TN/FN", "AUC mean (range) over seeds"]
    else:
        header = ["method", "trained on", "called fake", "rate [95% CI]", "mean score",
                  "rate mean (range) over seeds"]
    return lines + _table(header, table) + [""]


def _costs_section(results: Mapping[str, Any]) -> list[str]:
    rows = []
    for key, fit in results["fits"].items():
        direction, method, seed = key.split("/")
        seconds = fit.get("seconds")
        rows.append([method, direction, seed, str(fit.get("epochs_run", "—")),
                     str(fit.get("best_epoch", "—")),
                     str((fit.get("faces") or {}).get("train_real", "—")),
                     _f(seconds, 0) if isinstance(seconds, (int, float)) else "—"])
    return ["## What the fits cost", ""] + _table(
        ["method", "trained on", "seed", "epochs run", "best epoch", "real training faces",
         "seconds"], rows) + [""]


def _scores_section(results: Mapping[str, Any], first: int) -> list[str]:
    keys = sorted(k for k in results["video_scores"] if k.endswith(f"/{first}"))
    videos = sorted(results["labels"])
    header = ["video", "label"] + [k.rsplit("/", 1)[0] for k in keys]
    rows = []
    for v in videos:
        row = [v, "fake" if results["labels"][v] == FAKE else "real"]
        row += [_f(results["video_scores"][k].get(v), 2) for k in keys]
        rows.append(row)
    return [f"## Video scores (seed {first}; — = not tested by that fit)", ""] + _table(
        header, rows) + [""]


def markdown(results: Mapping[str, Any]) -> str:
    first = int(results["seeds"][0])
    lines = [f"# {results['title']}", ""]
    if results["quick"]:
        lines += [QUICK_BANNER, ""]
    sbi = results["configs"]["sbi"]
    lines += [
        f"- Command: `{results['command']}`",
        f"- FaceNet: {results['facenet']['label']} (weights SHA-256 "
        f"{results['facenet'].get('weights_sha256')})",
        f"- Faces: {results['faces_per_video']} per video; caches {results['caches']['where']}",
        f"- SBI network: {sbi['backbone']} trained from {sbi['trainable_from']}, "
        f"{sbi['optimizer']} lr {sbi['learning_rate']}, {sbi['epochs']} epochs (patience "
        f"{sbi['patience']}), batch {sbi['batch_size']} real + {sbi['batch_size']} self-blended",
        f"- Triplet head: {json.dumps(results['configs']['triplet'], sort_keys=True)}",
        f"- Validation: {results['val_fraction']} of the training videos by identity group; "
        f"seeds {', '.join(map(str, results['seeds']))} (tables: seed {first}, with the spread "
        f"over seeds); bootstrap {results['n_boot']} resamples over videos",
        f"- Machine: {results['machine']['platform']}, {results['machine']['cpus']} CPUs; "
        f"{results['seconds']:.0f} s in all",
        "- A video's score is the mean of its faces' fake probabilities; threshold 0.5.", ""]
    by_set: dict[str, list[dict]] = {}
    for row in results["evaluations"]:
        by_set.setdefault(row["test_set"], []).append(row)
    lines += ["## Results by test set", ""]
    for test_set in sorted(by_set, key=lambda s: ("false positives" in s, "+" in s, s)):
        lines += _test_set_section(test_set, by_set[test_set], first)
    lines += _costs_section(results)
    lines += _scores_section(results, first)
    return "\n".join(lines) + "\n"


def write_report(out: str | Path, results: Mapping[str, Any]) -> tuple[Path, Path]:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    data = dict(results, versions=package_versions())
    json_path, md_path = out / RESULTS_JSON, out / RESULTS_MD
    json_path.write_text(json.dumps(json_ready(data), indent=2, sort_keys=True), "utf-8")
    md_path.write_text(markdown(data), "utf-8")
    return json_path, md_path


__all__ = ["METHOD_TITLES", "evaluate", "markdown", "write_report"]
