"""Real-only training with self-blended pseudo-fakes (SBI), measured across datasets on the
shared footage, side by side with the poster's method trained on real fakes.

    python -m tfdeepfake.experiments.sbi_footage --videos ../shared/data/videos --out reports/sbi

Directions (``plan_directions``): train on the real videos of one source (``real_only/``,
the FF++ c23 originals, the DFDC reals), test on the labelled videos of the datasets not
trained on, and count false positives on the real-only videos not trained on. Methods:

- ``sbi``: the ``sbi`` detector (pretrained FaceNet, upper blocks fine-tuned on real faces
  and their pseudo-fakes; ``fit_sbi``), saved as a model folder per fit;
- ``sbi-xception`` (``--with-xception``): the same with Xception from random weights;
- ``sbi-triplet+{knn,sgd,rf}``: the poster's method (pretrained FaceNet -> triplet head ->
  classifier, ``fit_triplet``) with pseudo-fakes as the fake class;
- ``tuned-triplet+{knn,sgd,rf}``: the same on the fine-tuned ``sbi`` backbone's features
  (the direction's ``sbi`` model of the same seed, ``SelfBlendedDetector.embed``);
- ``triplet+{knn,sgd,rf}``: the poster's method on the training dataset's real AND fake
  videos (``footage_methods.FoldFitter``, the footage study's leave-one-dataset-out fits),
  only where the training source has fakes.

A video's score is the mean of its faces' scores. Metrics per test set with bootstrap 95%
intervals over videos (``evaluation.protocols.pooled_video_metrics``). The face and
embedding caches of the footage study (``--footage``, default ``reports/footage``) are read,
never written, when they hold every video; otherwise they are made under ``--out``.
Writes ``results.json`` and ``results.md`` into ``--out`` (``sbi_footage_report``); one
direction's fits are ``sbi_fits``'s.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from tfdeepfake.constants import FAKE, REAL
from tfdeepfake.experiments.sbi_fits import (
    TRIPLET_CLASSIFIERS,
    fit_sbi_direction,
    fit_sbi_triplet_direction,
    tuned_embeddings,
)
from tfdeepfake.experiments.steps import Steps, read_progress, script_logging, write_progress

logger = logging.getLogger(__name__)

REAL_ONLY = "real_only"
FRAMES = 25  # the footage study's full face settings, so its caches can be reused
QUICK_FACES_PER_VIDEO = 8
FULL_SEEDS, QUICK_SEEDS = (0, 1, 2), (0,)


@dataclasses.dataclass(frozen=True)
class Direction:
    """Train on ``train`` (real videos of one source), test on ``tests`` (named sets)."""

    name: str
    title: str
    train: tuple[str, ...]
    tests: dict  # test-set name -> tuple of video ids
    poster_train: tuple[str, ...] = ()  # the source's labelled videos, when it has fakes
    poster_title: str = ""


def study_configs(quick: bool, with_xception: bool = False) -> dict[str, Any]:
    """The training settings of every method; quick: minutes on 2 CPU cores."""
    from tfdeepfake.detectors.sbi_training import SBITrainingConfig
    from tfdeepfake.experiments.footage import training_config

    if quick:
        sbi = SBITrainingConfig(trainable_from="Block8_1", epochs=3, batch_size=16,
                                learning_rate=3e-4, patience=None)
    else:
        sbi = SBITrainingConfig(trainable_from="Mixed_7a", epochs=12, batch_size=16,
                                learning_rate=2e-4, patience=4)
    configs = {"sbi": sbi, "triplet": training_config(quick)}
    if with_xception:
        configs["sbi-xception"] = dataclasses.replace(
            sbi, backbone="xception", trainable_from="all", learning_rate=1e-3)
    return configs


def plan_directions(infos, real_only_ids: Sequence[str]) -> list[Direction]:
    by_dataset: dict[str, list] = {}
    for info in infos:
        by_dataset.setdefault(info.dataset, []).append(info)
    datasets = sorted(by_dataset)
    extra = tuple(sorted(real_only_ids))
    out = []
    if extra:
        labelled = tuple(sorted(v.video_id for v in infos))
        tests = {d: tuple(sorted(v.video_id for v in by_dataset[d])) for d in datasets}
        tests["all labelled"] = labelled
        out.append(Direction(REAL_ONLY, f"real_only/ reals ({len(extra)} videos)", extra, tests))
    for d in datasets:
        reals = tuple(sorted(v.video_id for v in by_dataset[d] if v.label == REAL))
        others = [o for o in datasets if o != d]
        if not reals or not others:
            continue
        tests = {}
        for o in others:
            ids = tuple(sorted(v.video_id for v in by_dataset[o]))
            tests[o] = ids
            if extra:
                tests[f"{o} + real_only reals"] = ids + extra
        if extra:
            tests["real_only reals (false positives)"] = extra
        poster = tuple(sorted(v.video_id for v in by_dataset[d]))
        has_fakes = any(v.label == FAKE for v in by_dataset[d])
        fakes = len(poster) - len(reals)
        out.append(Direction(d, f"{d} reals ({len(reals)} videos)", reals, tests,
                             poster if has_fakes else (),
                             f"{d} reals + fakes ({len(reals)} + {fakes} videos)"))
    return out


# -- faces ----------------------------------------------------------------------------------


def thin_frames(videos: dict, table, per_video: int | None):
    """Keep ``per_video`` faces of each video (evenly spaced), in the face videos and in
    the embedding table alike (matched by frame index)."""
    if per_video is None:
        return videos, table
    keep_rows = np.zeros(len(table.labels), bool)
    thinned = {}
    for vid, video in videos.items():
        n = len(video.faces)
        keep = np.unique(np.round(np.linspace(0, n - 1, per_video)).astype(int)) if n > per_video \
            else np.arange(n)
        thinned[vid] = dataclasses.replace(video, faces=video.faces[keep],
                                           frame_indices=video.frame_indices[keep],
                                           boxes=video.boxes[keep], keypoints=video.keypoints[keep],
                                           confidences=video.confidences[keep])
        rows = table.video_ids == vid
        keep_rows |= rows & np.isin(table.frame_indices, video.frame_indices[keep])
    return thinned, table.select(keep_rows)


# -- the run --------------------------------------------------------------------------------


def run_sbi_footage(videos_root, out_dir, *, quick: bool = False, seeds: Sequence[int] | None = None,
                    footage_dir: str | os.PathLike | None = "reports/footage",
                    strategy: str = "default", n_boot: int | None = None,
                    val_fraction: float = 0.15, workers: int = 1, with_xception: bool = False,
                    facenet_weights=None, command: str | None = None) -> dict[str, Any]:
    """Run every direction x method x seed; write ``results.json`` / ``results.md``."""
    from tfdeepfake.cache.embeddings import load_embedding_table
    from tfdeepfake.cache.faces import iter_face_videos
    from tfdeepfake.experiments.footage import find_caches, index_footage
    from tfdeepfake.experiments.footage_methods import FoldFitter
    from tfdeepfake.experiments.sbi_footage_report import evaluate, write_report
    from tfdeepfake.faces.settings import FaceSettings
    from tfdeepfake.models.facenet import load_facenet
    from tfdeepfake.models.strategy import shared_strategy

    started = time.time()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    seeds = tuple(seeds) if seeds else (QUICK_SEEDS if quick else FULL_SEEDS)
    n_boot = n_boot if n_boot is not None else (200 if quick else 1000)
    configs = study_configs(quick, with_xception)
    steps = Steps()
    with steps.run("index videos") as row:
        labelled, extra, infos = index_footage(videos_root)
        row["detail"] = f"{len(labelled)} labelled videos, {len(extra)} real-only"
    embedder = load_facenet(weights_path=facenet_weights)
    if embedder.identity.random_init:
        raise ValueError("the study needs pretrained FaceNet weights")
    settings = FaceSettings(num_frames=FRAMES)
    faces_path, emb_path, where = find_caches(labelled + extra, Path(footage_dir) if footage_dir
                                              else None, out, settings, embedder, steps, workers)
    with steps.run("load faces and embeddings") as row:
        videos = {v.video_id: v for v in iter_face_videos(faces_path) if len(v.faces)}
        table = load_embedding_table(emb_path)
        videos, table = thin_frames(videos, table, QUICK_FACES_PER_VIDEO if quick else None)
        row["detail"] = f"{len(videos)} videos, {len(table.labels)} faces ({where})"
    infos = [i for i in infos if i.video_id in videos]
    extra_ids = [r.video_id for r in extra if r.video_id in videos]
    directions = plan_directions(infos, extra_ids)
    fitter = FoldFitter(table.select(np.isin(table.video_ids, list(videos))), infos,
                        configs["triplet"], val_fraction=val_fraction, run_root=out / "runs" / "poster")
    dist = shared_strategy(strategy)
    fingerprint = study_fingerprint(quick, configs, val_fraction, embedder.identity)
    # "<direction>/<method>/<seed>" -> {video: score}; fits done by an interrupted run are kept
    progress = read_progress(out / PARTIAL, fingerprint)
    scores, fits = progress.get("video_scores", {}), progress.get("fits", {})

    def step(name: str, key: str, fit) -> None:
        """``fit()`` fills ``scores``/``fits`` and returns the step's detail line; skipped
        when an interrupted run finished it; progress saved after each."""
        if key in fits:
            return
        with steps.run(name) as row:
            row["detail"] = fit()
        write_progress(out / PARTIAL, fingerprint, {"video_scores": scores, "fits": fits})

    def keep(direction, method: str, seed: int, by_clf: dict, record: dict) -> str:
        for clf, values in by_clf.items():
            scores[f"{direction.name}/{method}+{clf}/{seed}"] = values
        fits[f"{direction.name}/{method}/{seed}"] = record
        return f"{record.get('head_videos', len(direction.poster_train))} training videos"

    def sbi(direction, method, seed, scored):
        key = f"{direction.name}/{method}/{seed}"
        scores[key], fits[key] = fit_sbi_direction(
            direction, videos, settings, configs[method], scored, seed=seed,
            val_fraction=val_fraction, out=out, name=method, strategy=dist,
            facenet_weights=facenet_weights)
        return (f"{fits[key]['faces']['train_real']} real faces, {fits[key]['epochs_run']} "
                f"epochs, best {fits[key]['best_epoch']}")

    def sbi_triplet(direction, seed, scored):
        test = table.select(np.isin(table.video_ids, scored))
        return keep(direction, "sbi-triplet", seed, *fit_sbi_triplet_direction(
            direction, videos, settings, test, embedder, configs["triplet"], seed=seed,
            val_fraction=val_fraction, run_dir=out / "runs" / f"sbi-triplet-{direction.name}-seed{seed}"))

    def tuned_triplet(direction, seed, scored):
        from tfdeepfake.detectors import load_detector

        backbone = out / "models" / f"sbi-{direction.name}-seed{seed}"
        tuned = load_detector(backbone)
        by_clf, record = fit_sbi_triplet_direction(
            direction, videos, settings, tuned_embeddings(tuned, videos, scored), tuned,
            configs["triplet"], seed=seed, val_fraction=val_fraction,
            run_dir=out / "runs" / f"tuned-triplet-{direction.name}-seed{seed}")
        return keep(direction, "tuned-triplet", seed, by_clf, {**record, "backbone": str(backbone)})

    def poster(direction, seed, scored):
        fit = fitter.scores(direction.poster_train, seed)
        by_clf = {}
        for clf in TRIPLET_CLASSIFIERS:
            found = fit["methods"].get(f"triplet+{clf}", {})
            by_clf[clf] = {v: found[v] for v in scored if v in found}
        return keep(direction, "triplet", seed, by_clf, fit["fit"])

    for seed in seeds:
        for direction in directions:
            scored = sorted({v for ids in direction.tests.values() for v in ids})
            d = direction.name
            for method in [m for m in configs if m.startswith("sbi")]:
                step(f"{method} {d} seed {seed}", f"{d}/{method}/{seed}",
                     lambda: sbi(direction, method, seed, scored))
            step(f"sbi-triplet {d} seed {seed}", f"{d}/sbi-triplet/{seed}",
                 lambda: sbi_triplet(direction, seed, scored))
            if "sbi" in configs:  # the fine-tuned backbone is the sbi fit's
                step(f"tuned-triplet {d} seed {seed}", f"{d}/tuned-triplet/{seed}",
                     lambda: tuned_triplet(direction, seed, scored))
            if direction.poster_train:
                step(f"poster (real fakes) {d} seed {seed}", f"{d}/triplet/{seed}",
                     lambda: poster(direction, seed, scored))
    labels = {i.video_id: i.label for i in infos} | {v: REAL for v in extra_ids}
    results = {
        "title": "Real-only training with self-blended fakes (SBI) across datasets",
        "command": command or (f"python -m tfdeepfake.experiments.sbi_footage --videos "
                               f"{videos_root} --out {out_dir}{' --quick' if quick else ''}"),
        "quick": quick, "seeds": list(seeds), "n_boot": n_boot, "val_fraction": val_fraction,
        "strategy": strategy, "caches": {"faces": str(faces_path), "embeddings": str(emb_path),
                                         "where": where},
        "faces_per_video": QUICK_FACES_PER_VIDEO if quick else FRAMES,
        "facenet": {"label": embedder.identity.label(), **embedder.identity.to_dict()},
        "configs": {k: v.to_dict() for k, v in configs.items()},
        "directions": [dataclasses.asdict(d) for d in directions],
        "labels": labels, "video_scores": scores, "fits": fits,
        "evaluations": evaluate(directions, scores, labels, seeds, n_boot),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        "seconds": round(time.time() - started, 1), "steps": steps.rows,
    }
    write_report(out, results)
    return results


PARTIAL = "partial.json"


def study_fingerprint(quick: bool, configs: dict, val_fraction: float, identity) -> dict:
    """What a finished fit depends on besides its direction and seed: a rerun reuses fits
    from ``partial.json`` only when this matches."""
    from tfdeepfake.provenance import json_ready

    return json_ready({"quick": quick, "val_fraction": val_fraction,
                       "configs": {k: v.to_dict() for k, v in configs.items()},
                       "facenet": identity.to_dict()})


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m tfdeepfake.experiments.sbi_footage",
                                description="Train on real videos only with self-blended fakes; "
                                            "test across datasets beside the poster's method.")
    p.add_argument("--videos", type=Path, required=True, help="folder of <dataset>/{real,fake}/ "
                                                              "and real_only/")
    p.add_argument("--out", type=Path, default=Path("reports/sbi"))
    p.add_argument("--footage", type=Path, default=Path("reports/footage"),
                   help="the footage study's output, whose caches are reused read-only")
    p.add_argument("--quick", action="store_true",
                   help=f"{QUICK_FACES_PER_VIDEO} faces per video, 3 epochs, last blocks only, "
                        "one seed: minutes on 2 CPU cores")
    p.add_argument("--seeds", type=int, nargs="+")
    p.add_argument("--strategy", default="default", help="tf.distribute strategy (mirrored: all GPUs)")
    p.add_argument("--bootstrap", type=int, help="bootstrap resamples (default 1000; quick 200)")
    p.add_argument("--with-xception", action="store_true", help="also Xception from scratch")
    p.add_argument("--workers", type=int, default=1, help="face-extraction processes")
    p.add_argument("--facenet-weights", type=Path)
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    script_logging(args.verbose)
    command = "python -m tfdeepfake.experiments.sbi_footage " + " ".join(
        sys.argv[1:] if argv is None else argv)
    try:
        results = run_sbi_footage(args.videos, args.out, quick=args.quick, seeds=args.seeds,
                                  footage_dir=args.footage, strategy=args.strategy,
                                  n_boot=args.bootstrap, workers=args.workers,
                                  with_xception=args.with_xception,
                                  facenet_weights=args.facenet_weights, command=command)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {args.out / 'results.md'} and results.json in {results['seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
