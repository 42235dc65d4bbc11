"""Measures of the footage run on the generated face swaps that the footage report does not
make (``python -m tfdeepfake.experiments.generated_swaps ... --analyse FOOTAGE_OUT``):

- ``face_confound``: the footage report probes a fake's *target* (whose clip it is); a
  generated fake's face is its *source*'s, known from ``generated.json``. Which of face
  person, footage person and label do the FaceNet embeddings follow?
- ``per_set_auc``: leaving one photo set out, each held-out set's video AUC with a
  bootstrap interval (the footage report gives the AUC alone);
- ``within_dataset_pairs``: leave-pair-out AUC over the pairs whose real and fake come from
  one dataset. Identity-disjoint folds drop more fakes with a real (the two fakes carrying
  its person) than reals with a fake, which lowers the fake share of the real's dataset in
  training: the featureless ``dataset_prior`` scores every cross-dataset pair right (AUC
  0.79 here). Within a dataset it ties, so these pairs show whether a method rides that.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from tfdeepfake.constants import FAKE
from tfdeepfake.experiments.generated_swaps import MANIFEST

ANALYSIS_FILE = "generated_analysis.json"


def face_confound(videos_root: str | os.PathLike, embedding_cache: str | os.PathLike) -> dict:
    """Does FaceNet follow the face in the frame, the footage around it, or the label? The
    footage study's probes name a fake by its target (the footage's person); here each fake
    also has a *face* person (its source), known from ``generated.json``. For the face
    person, the footage person and the label: leave-one-video-out linear-probe accuracy,
    nearest-other-video agreement and pairwise closeness AUC (``evaluation.protocols``) on
    the labelled videos' frame embeddings in ``embedding_cache``."""
    from tfdeepfake.cache.embeddings import load_embedding_table

    manifest = json.loads((Path(videos_root) / MANIFEST).read_text("utf-8"))
    table = load_embedding_table(embedding_cache)
    if not np.isin(table.video_ids, [str(Path(v["path"]).with_suffix(""))
                                     for v in manifest["videos"]]).any():
        raise ValueError(f"{embedding_cache}: none of the videos of {videos_root}")
    return confound_of(manifest, table.embeddings, table.video_ids)


def confound_of(manifest: Mapping[str, Any], features, video_ids) -> dict:
    """``face_confound`` on frame ``features`` of ``video_ids`` (the labelled videos of
    ``manifest`` among them; others are ignored)."""
    from tfdeepfake.evaluation.protocols import (VideoInfo, linear_probe_lovo,
                                                 nearest_neighbour_confound, pairwise_confound,
                                                 video_means)

    from tfdeepfake.experiments.footage import REAL_ONLY

    videos = {str(Path(v["path"]).with_suffix("")): v for v in manifest["videos"]
              if v["dataset"] != REAL_ONLY}
    keep = np.isin(np.asarray(video_ids).astype(str), sorted(videos))
    features, ids = np.asarray(features)[keep], np.asarray(video_ids).astype(str)[keep]
    targets = {
        "face person": {k: v["source"] or v["target"] for k, v in videos.items()},
        "footage person": {k: v["target"] for k, v in videos.items()},
        "label": {k: "fake" if v["label"] == FAKE else "real" for k, v in videos.items()},
    }
    order, means = video_means(features, ids)
    out = {"videos": len(order), "frames": int(len(ids))}
    for name, target in targets.items():
        infos = [VideoInfo(i, videos[i]["label"], videos[i]["dataset"],
                           frozenset({target[i]})) for i in order]
        probe = linear_probe_lovo(features, ids, target)
        nearest = nearest_neighbour_confound(means, infos)["same_identity"]
        pairs = pairwise_confound(means, infos)["same_identity"]
        out[name] = {"probe": {k: probe[k] for k in ("n", "correct", "accuracy", "classes",
                                                      "majority_rate")},
                     "nearest_shares": nearest, "pairwise_auc": pairs["auc"],
                     "pairs_sharing": pairs["positive_pairs"]}
        out[name]["probe"]["ci"] = share_ci(probe["correct"], probe["n"])
        out[name]["nearest_shares"]["ci"] = share_ci(nearest["count"], len(order))
    return out


def share_ci(count: int, n: int, *, n_boot: int = 1000) -> dict:
    """Bootstrap interval over videos of ``count`` of ``n`` (one yes/no per video), as the
    footage study gives its rates (``evaluation.metrics.bootstrap_ci``)."""
    from tfdeepfake.evaluation.metrics import bootstrap_ci

    outcomes = (np.arange(n) < count).astype(np.float64)
    return bootstrap_ci(np.ones(n, int), outcomes, "accuracy", n=n_boot, seed=0)


def per_set_auc(results: Mapping[str, Any], manifest: Mapping[str, Any], *,
                n_boot: int = 1000) -> dict:
    """``{seed: {method: {set: {n, auc, ci}}}}``: leaving one photo set out, the video AUC
    on each held-out set with its bootstrap interval (the footage report gives the AUC
    alone). Empty without the ``lodo`` protocol."""
    from sklearn.metrics import roc_auc_score

    from tfdeepfake.evaluation.metrics import bootstrap_ci

    protocol = results.get("protocols", {}).get("lodo")
    if not protocol:
        return {}
    labels = {str(Path(v["path"]).with_suffix("")): v["label"] for v in manifest["videos"]}
    out: dict[str, dict] = {}
    for seed, entry in protocol["seeds"].items():
        out[seed] = {}
        for method, result in entry["methods"].items():
            by_set: dict[str, list[str]] = {}
            for video in result["scores"]:
                by_set.setdefault(video.split("/")[0], []).append(video)
            out[seed][method] = {}
            for name, videos in sorted(by_set.items()):
                y = np.array([labels[v] for v in videos])
                p = np.array([result["scores"][v] for v in videos], np.float64)
                if len(set(y.tolist())) < 2:
                    continue
                out[seed][method][name] = {
                    "n": len(videos), "auc": float(roc_auc_score(y, p)),
                    "ci": bootstrap_ci(y, p, "auc", n=n_boot, seed=int(seed))}
    return out


def within_dataset_pairs(results: Mapping[str, Any], *, n_boot: int = 1000) -> dict:
    """``{seed: {method: pair_auc over same-dataset pairs}}`` from the footage results'
    ``identity_lpo`` (a video id starts with its dataset). Empty without that protocol."""
    from tfdeepfake.evaluation.protocols import pair_auc

    protocol = results.get("protocols", {}).get("identity_lpo")
    if not protocol:
        return {}
    out: dict[str, dict] = {}
    for seed, entry in protocol["seeds"].items():
        out[seed] = {}
        for method, result in entry["methods"].items():
            wins = np.array(result["wins"], np.float64)
            same = np.array([[r.split("/")[0] == f.split("/")[0] for f in result["fakes"]]
                             for r in result["reals"]])
            wins[~same] = np.nan
            out[seed][method] = pair_auc(wins, n_boot=n_boot, seed=int(seed))
    return out


def analyse(videos_root: str | os.PathLike, footage_dir: str | os.PathLike,
            *, n_boot: int = 1000) -> dict:
    """Both measures for the footage run in ``footage_dir`` on the set in ``videos_root``;
    written to ``footage_dir/generated_analysis.json`` and returned."""
    path = Path(footage_dir) / "results.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no footage results there (run "
                                "python -m tfdeepfake.experiments.footage first)")
    results = json.loads(path.read_text("utf-8"))
    cache = Path(results["data"]["embedding_cache"])
    manifest = json.loads((Path(videos_root) / MANIFEST).read_text("utf-8"))
    out = {"footage_results": str(path), "embedding_cache": str(cache),
           "confound": face_confound(videos_root, cache),
           "within_dataset_pairs": within_dataset_pairs(results, n_boot=n_boot),
           "per_set_auc": per_set_auc(results, manifest, n_boot=n_boot)}
    (Path(footage_dir) / ANALYSIS_FILE).write_text(json.dumps(out, indent=2, allow_nan=False)
                                                   + "\n", "utf-8")
    return out


def describe(result: Mapping[str, Any]) -> str:
    """A few lines for the command line."""
    confound = result["confound"]
    lines = []
    for name in ("face person", "footage person", "label"):
        r = confound[name]
        lines.append(f"{name}: probe {r['probe']['correct']}/{r['probe']['n']}, nearest video "
                     f"shares it {r['nearest_shares']['count']}/{confound['videos']}, pairwise "
                     f"AUC {r['pairwise_auc']:.3f}")
    for seed, methods in result["within_dataset_pairs"].items():
        lines.append(f"seed {seed}, pair-out AUC within datasets: " + ", ".join(
            f"{m} {v['auc']:.2f}" for m, v in methods.items()))
    for seed, methods in result.get("per_set_auc", {}).items():
        for method, sets in methods.items():
            lines.append(f"seed {seed}, {method}, AUC per photo set held out: " + ", ".join(
                f"{s} ({v['n']}) {v['auc']:.2f} [{v['ci']['low']:.2f}, {v['ci']['high']:.2f}]"
                for s, v in sets.items()))
    return "\n".join(lines)


__all__ = ["ANALYSIS_FILE", "analyse", "confound_of", "describe", "face_confound",
           "per_set_auc", "share_ci", "within_dataset_pairs"]
