"""``results.json`` and ``results.md`` of the footage experiment (``footage.run_footage``)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Mapping

from tfdeepfake.evaluation.report import POSTER_RESULTS, POSTER_SOURCE
from tfdeepfake.provenance import json_ready, package_versions

RESULTS_JSON, RESULTS_MD = "results.json", "results.md"
RANDOM_BANNER = ("**RANDOM INIT FaceNet: these embeddings are not face descriptors; every "
                 "number below measures nothing about the method.**")
QUICK_BANNER = ("**QUICK MODE: few frames, two tiny training epochs, one seed: a smoke test of "
                "the machinery, not a measurement.**")


def _f(value, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:.{digits}f}"


def _ci(metrics: Mapping[str, Any], name: str) -> str:
    ci = metrics.get("ci", {}).get(name, {})
    return f"{_f(metrics.get(name))} [{_f(ci.get('low'), 2)}, {_f(ci.get('high'), 2)}]"


def _seed_range(protocol: Mapping[str, Any], method: str, name: str = "auc") -> str:
    values = [s["methods"][method]["metrics"][name] for s in protocol["seeds"].values()
              if method in s["methods"]]
    values = [v for v in values if v is not None and not math.isnan(v)]
    if len(values) < 2:
        return "—"
    return f"{min(values):.3f}–{max(values):.3f} ({len(values)} seeds)"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
            *("| " + " | ".join(r) + " |" for r in rows)]


def _videos_section(results: Mapping[str, Any]) -> list[str]:
    videos = results["videos"]
    rows = [[v["video_id"], v["dataset"], "fake" if v["label"] else "real", v["method"] or "—",
             ", ".join(v["identities"]), str(v["frames"])] for v in videos]
    counts = {}
    for v in videos:
        c = counts.setdefault(v["dataset"], [0, 0])
        c[v["label"]] += 1
    lines = ["## Videos", "",
             "Labelled: " + "; ".join(f"{d} {r} real / {f} fake"
                                      for d, (r, f) in sorted(counts.items()))
             + f" ({len(videos)} videos, {sum(v['frames'] for v in videos)} face frames).", ""]
    lines += _table(["video", "dataset", "label", "method", "people it carries", "faces"], rows)
    if results.get("missing"):
        lines += ["", f"Left out (no faces / unreadable): {', '.join(results['missing'])}."]
    return lines


def _pair_section(name: str, protocol: Mapping[str, Any], methods: Mapping[str, str],
                  first_seed: str) -> list[str]:
    folds = protocol["folds"]
    seed = protocol["seeds"][first_seed]
    dropped = sum(bool(f["excluded"]) for f in folds)
    lines = [f"### {protocol['title']} (`{name}`)", "",
             f"{len(folds)} folds, one per (real, fake) pair; each trains on the videos that share "
             f"no person with either ({dropped} folds lost videos that way). AUC = the share of "
             "pairs whose fake outscored its real (ties count half) in their own fold; the "
             "interval resamples real and fake videos.", ""]
    if seed["skipped_folds"]:
        lines += [f"Skipped folds: {len(seed['skipped_folds'])} (training lacked a class).", ""]
    rows = [[title, f"{seed['methods'][m]['metrics']['pairs']} "
                    f"({seed['methods'][m]['metrics']['n_real']} x "
                    f"{seed['methods'][m]['metrics']['n_fake']})",
             _ci(seed["methods"][m]["metrics"], "auc"), _seed_range(protocol, m)]
            for m, title in methods.items() if m in seed["methods"]]
    return lines + _table(["method", "pairs (reals x fakes)", "AUC [95% CI]", "AUC over seeds"],
                          rows) + [""]


def _protocol_section(name: str, protocol: Mapping[str, Any], methods: Mapping[str, str],
                      first_seed: str) -> list[str]:
    if protocol.get("pairs"):
        return _pair_section(name, protocol, methods, first_seed)
    folds = protocol["folds"]
    lines = [f"### {protocol['title']} (`{name}`)", ""]
    leaks = sum(len(f["identity_leaks"]) > 0 for f in folds)
    excluded = [f for f in folds if f["excluded"]]
    lines.append(f"{len(folds)} folds; each video is tested once, by a model that never saw it. "
                 f"Folds whose training shares a person with the test video: {leaks}.")
    if excluded:
        lines.append("Left out of training to keep people apart: " + "; ".join(
            f"testing {f['name']} drops {', '.join(f['excluded'])}" for f in excluded) + ".")
    if name == "lodo":
        lines.append("Folds: " + "; ".join(
            f"test {f['name']} ({f['counts']['test']['real']} real / {f['counts']['test']['fake']} "
            f"fake), train on {f['counts']['train']['real']} real / "
            f"{f['counts']['train']['fake']} fake" for f in folds) + ".")
    seed = protocol["seeds"][first_seed]
    if seed["skipped_folds"]:
        lines.append("Skipped folds: " + "; ".join(f"{k} ({v})" for k, v in
                                                   seed["skipped_folds"].items()) + ".")
    header = ["method", "videos (real/fake)", "AUC [95% CI]", "accuracy [95% CI]", "precision",
              "recall", "F1", "TP/FP/TN/FN", "AUC over seeds"]
    if name == "lodo":
        header.insert(-1, "AUC per held-out dataset")
    rows = []
    for method, title in methods.items():
        if method not in seed["methods"]:
            continue
        result = seed["methods"][method]
        m = result["metrics"]
        row = [title, f"{m['n']} ({m['n_real']}/{m['n_fake']})", _ci(m, "auc"),
               _ci(m, "accuracy"), _f(m["precision"]), _f(m["recall"]), _f(m["f1"]),
               f"{m['tp']}/{m['fp']}/{m['tn']}/{m['fn']}", _seed_range(protocol, method)]
        if name == "lodo":
            row.insert(-1, "; ".join(f"{d}: {_f(pm['auc'])} (n={pm['n']})"
                                     for d, pm in result["per_fold"].items()))
        rows.append(row)
    return lines + [""] + _table(header, rows) + [""]


def _real_only_section(results: Mapping[str, Any], first_seed: str) -> list[str]:
    real_only = results.get("real_only") or {}
    if not real_only:
        return []
    seed = real_only[first_seed]
    rows = []
    for method, title in results["methods"].items():
        if method not in seed:
            continue
        r = seed[method]
        rates = [s[method]["rate"] for s in real_only.values() if method in s]
        spread = f"{min(rates):.2f}–{max(rates):.2f}" if len(rates) > 1 else "—"
        rows.append([title, f"{r['false_positives']} / {r['n']}",
                     f"{_f(r['rate'], 2)} [{_f(r['ci']['low'], 2)}, {_f(r['ci']['high'], 2)}]",
                     _f(r["mean_score"]), spread])
    return ["## Real-only videos: false positives", "",
            f"Models trained on every labelled video score the {seed[next(iter(seed))]['n']} "
            "genuine videos of `real_only/` (people who appear nowhere else); a video scored "
            ">= 0.5 is a false positive.", ""] + _table(
        ["method", "called fake", "rate [95% CI]", "mean score", "rate over seeds"], rows) + [""]


def _confound_section(confound: Mapping[str, Any]) -> list[str]:
    nn, pairs = confound["nearest_neighbour"], confound["pairwise"]
    can = nn["same_identity_among_those_that_can"]
    lines = ["## Identity versus label in the FaceNet embeddings", "",
             "Each video is its mean embedding (re-normalised). Its nearest other video shares "
             f"a person for {nn['same_identity']['count']} of {nn['n']} videos "
             f"({can['count']} of the {can['of']} that have another video of one of their people), "
             f"the label for {nn['same_label']['count']} of {nn['n']}, the dataset for "
             f"{nn['same_dataset']['count']} of {nn['n']}.", "",
             f"Over all {pairs['pairs']} pairs of videos, how well closeness tells (AUC of "
             "-distance; 0.5 = not at all):", ""]
    rows = [[k.replace("_", " "), _f(v["auc"]), str(v["positive_pairs"]),
             _f(v["median_distance_positive"]), _f(v["median_distance_negative"])]
            for k, v in pairs.items() if isinstance(v, dict)]
    lines += _table(["pairs sharing", "AUC", "pairs", "median distance (sharing)",
                     "median distance (not)"], rows)
    probe_rows = []
    for key, what in (("probe_label", "label (real/fake)"), ("probe_dataset", "dataset"),
                      ("probe_identity", "person (videos whose person appears twice)")):
        p = confound[key]
        probe_rows.append([what, f"{p['correct']} / {p['n']}", _f(p["accuracy"], 2),
                           _f(p["majority_rate"], 2), str(p["classes"])])
    lines += ["", "Linear probe (logistic regression on frames, leave one video out, a video's "
              "class = highest mean frame probability):", ""]
    lines += _table(["predicts", "correct", "accuracy", "majority-class rate", "classes"],
                    probe_rows)
    lines += ["", "Nearest other video of each video:", ""]
    lines += _table(["video", "nearest", "distance", "same person", "same label"],
                    [[r["video_id"], r["nearest"], _f(r["distance"]),
                      "yes" if r["same_identity"] else "no", "yes" if r["same_label"] else "no"]
                     for r in nn["rows"]])
    return lines + [""]


def _scores_section(results: Mapping[str, Any], first_seed: str) -> list[str]:
    methods = [m for m in ("triplet+rf", "triplet+sgd", "raw+logreg") if m in results["methods"]]
    protocols = {k: p for k, p in results["protocols"].items() if not p.get("pairs")}
    header = ["video", "label"] + [f"{m} {p}" for m in methods for p in protocols]
    rows = []
    for v in results["videos"]:
        row = [v["video_id"], "fake" if v["label"] else "real"]
        for m in methods:
            for p in protocols.values():
                scores = p["seeds"][first_seed]["methods"].get(m, {}).get("scores", {})
                row.append(_f(scores.get(v["video_id"]), 2))
        rows.append(row)
    return [f"## Out-of-fold video scores (seed {first_seed})", ""] + _table(header, rows) + [""]


def markdown(results: Mapping[str, Any]) -> str:
    first = str(results["seeds"][0])
    facenet = results["facenet"]
    lines = [f"# {results['title']}", ""]
    if facenet["random_init"]:
        lines += [RANDOM_BANNER, ""]
    if results["quick"]:
        lines += [QUICK_BANNER, ""]
    faces = results["face_settings"]
    lines += [f"- Command: `{results['command']}`",
              f"- FaceNet: {facenet['label']}, weights SHA-256 {facenet.get('weights_sha256')}",
              f"- Faces: {faces['num_frames']} frames per video, MTCNN, "
              f"{faces['face_policy']} face, {faces['size']} px, margin {faces['margin']}",
              f"- Triplet head: {json.dumps(results['training'], sort_keys=True)}; validation "
              f"carve {results['val_fraction']} of the training videos by identity group",
              f"- Seeds: {', '.join(map(str, results['seeds']))} (tables: seed {first}); "
              f"bootstrap: {results['n_boot']} resamples over videos, percentile 95% intervals",
              f"- Machine: {results['machine']['platform']}, {results['machine']['cpus']} CPUs; "
              f"{results['seconds']:.0f} s",
              "- A video's score is the mean of its frames' fake probabilities; threshold 0.5.", ""]
    lines += _videos_section(results) + [""]
    lines += ["## Video-level results, pooled over folds", ""]
    for name, protocol in results["protocols"].items():
        lines += _protocol_section(name, protocol, results["methods"], first)
    lines += _real_only_section(results, first)
    lines += _confound_section(results["confound"])
    lines += _scores_section(results, first)
    poster = ", ".join(f"{k.upper()}: AUC {v['auc']:.3f}, accuracy {v['accuracy']:.1%}"
                       for k, v in POSTER_RESULTS.items())
    lines += ["## For reference only: the poster", "",
              f"{POSTER_SOURCE} — {poster}. Those are on Celeb-DF (a different dataset, a test "
              "set of about 24 videos, no identity-disjoint protocol), NOT comparable with the "
              "numbers above.", "", "## Steps", ""]
    lines += _table(["step", "status", "seconds", "detail"],
                    [[r["step"], r["status"], f"{r['seconds']:.1f}", r["detail"]]
                     for r in results["steps"]])
    return "\n".join(lines) + "\n"


def write_report(out_dir: str | Path, results: Mapping[str, Any]) -> tuple[Path, Path]:
    out = Path(out_dir)
    payload = {**results, "versions": package_versions(), "poster": POSTER_RESULTS,
               "poster_source": POSTER_SOURCE}
    json_path, md_path = out / RESULTS_JSON, out / RESULTS_MD
    json_path.write_text(json.dumps(json_ready(payload), indent=2, sort_keys=True,
                                    allow_nan=False), "utf-8")
    md_path.write_text(markdown(results), "utf-8")
    return json_path, md_path


__all__ = ["QUICK_BANNER", "RANDOM_BANNER", "RESULTS_JSON", "RESULTS_MD", "markdown",
           "write_report"]
