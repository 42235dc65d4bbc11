"""The `tfdeepfake` command. Nothing imports this module; it imports each stage lazily so
`--help` and light subcommands start without loading TensorFlow."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import warnings
from pathlib import Path

from tfdeepfake import __version__
from tfdeepfake.constants import DEFAULT_NUM_FRAMES, DEFAULT_SEED, FACENET_INPUT_SIZE

logger = logging.getLogger("tfdeepfake")


class CommandError(Exception):
    """A user-facing failure: printed as one line, exit status 2."""


def _configure_logging(verbosity: int) -> None:
    level = {-1: logging.WARNING, 0: logging.INFO}.get(verbosity, logging.DEBUG)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    # 3: TensorFlow's C++ start-up errors about CUDA plugins are noise on a CPU machine.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    # TFA's end-of-life banner; the README states the pin and why.
    warnings.filterwarnings("ignore", message=r"(?s).*TensorFlow Addons \(TFA\) has ended development")
    # TensorFlow and its add-ons are chatty at INFO; their warnings still show.
    for noisy in ("tensorflow", "absl", "h5py"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))


def _emit(args, payload: dict, line: str) -> None:
    """Machine output with --json, one human line otherwise (both on stdout)."""
    if getattr(args, "json", False):
        print(json.dumps(payload, sort_keys=True, default=str))
    else:
        print(line)


def _progress(total: int, unit: str, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, unit=unit, disable=not enabled, dynamic_ncols=True, file=sys.stderr)


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
    if not result.records:
        raise CommandError(f"{args.root}: no videos found for layout {args.layout!r}"
                           + (f" ({len(result.skipped)} skipped)" if result.skipped else ""))
    write_manifest(args.output, result.records)
    for skip in result.skipped:
        logger.warning("skipped %s: %s", skip.path, skip.reason)
    counts = split_counts(result.records)
    summary = {"manifest": str(args.output), "videos": len(result.records),
               "skipped": [{"path": str(s.path), "reason": s.reason} for s in result.skipped],
               "splits": counts}
    parts = ", ".join(f"{split} {c['real']} real/{c['fake']} fake" for split, c in counts.items() if c["total"])
    _emit(args, summary, f"indexed {len(result.records)} videos into {args.output} ({parts}; "
                         f"{len(result.skipped)} skipped)")
    return 0


# -- extract --------------------------------------------------------------------------

def _extract_config(args):
    from tfdeepfake.faces.settings import FaceSettings
    from tfdeepfake.faces.detector import DetectorConfig

    return FaceSettings(
        num_frames=args.num_frames, sampling=args.sampling, stride=args.stride,
        face_policy=args.face, margin=args.margin, square=not args.no_square, size=args.size,
        detector=DetectorConfig(min_confidence=args.min_confidence,
                                detect_short_side=args.detect_short_side))


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

    config = _extract_config(args)
    records = _selected_records(args)
    show = not args.json and not args.no_progress
    failed = 0
    with _progress(len(records), "video", show) as bar:
        def on_video(outcome):
            nonlocal failed
            failed += outcome.status == "failed"
            bar.set_postfix(failed=failed, refresh=False)
            bar.update(1)

        try:
            summary = run_extract(records, args.output, config, workers=args.workers,
                                  retry_failed=args.retry_failed, on_video=on_video)
        except KeyboardInterrupt:
            bar.close()
            print(f"interrupted: finished videos are saved in {args.output}; "
                  f"run the same command again to resume", file=sys.stderr)
            return 130
    payload = {**summary.to_dict(), "cache": str(args.output)}
    _emit(args, payload,
          f"extract: {summary.videos} videos, {summary.done} done, {summary.skipped} skipped, "
          f"{summary.failed} failed, {summary.frames} frames, {summary.faces} faces, "
          f"{summary.seconds:.1f} s -> {args.output}")
    return 0


# -- embed / train / evaluate / detect / demo --------------------------------------------

def _build_embedder(args):
    from tfdeepfake.models.facenet import build_facenet_embedder

    if args.random_init:
        logger.warning("FaceNet with RANDOM weights (--random-init): for tests and the demo only; "
                       "every output made with it says so")
        return build_facenet_embedder(random_init=True, seed=args.seed)
    return build_facenet_embedder(weights_path=args.facenet_weights)


def cmd_embed(args) -> int:
    from tfdeepfake.models.embed import run_embed

    embedder = _build_embedder(args)
    summary = run_embed(args.faces, args.output, embedder, batch_size=args.batch_size)
    payload = {**summary.to_dict(), "cache": str(args.output)}
    _emit(args, payload, f"embed: {summary.videos} videos, {summary.done} embedded, "
                         f"{summary.skipped} already done, {summary.frames} faces, "
                         f"{summary.seconds:.1f} s -> {args.output}"
                         + (" [RANDOM-INIT FaceNet]" if summary.random_init else ""))
    return 0


def cmd_train_triplet(args) -> int:
    from tfdeepfake.cache.embeddings import embedding_store
    from tfdeepfake.faces.settings import FaceSettings
    from tfdeepfake.method import train_method
    from tfdeepfake.models.train_triplet import TripletTrainingConfig

    settings = embedding_store(args.embeddings).stored_settings()
    extract_config = FaceSettings.from_dict(settings["face_settings"])
    if settings.get("random_init"):
        from tfdeepfake.models.facenet import build_facenet_embedder
        embedder = build_facenet_embedder(random_init=True, seed=int(settings["seed"]))
    else:
        args.random_init = False
        embedder = _build_embedder(args)
    config = TripletTrainingConfig(
        learning_rate=args.lr, epochs=args.epochs, batch_size=args.batch_size,
        margin=args.margin, hidden_units=tuple(int(u) for u in args.hidden.split(",") if u),
        embedding_dim=args.embedding_dim, patience=args.patience, seed=args.seed)
    run_dir = args.run_dir or Path("runs") / Path(args.output).name
    result = train_method(args.embeddings, args.output, run_dir, embedder, extract_config,
                          training_config=config, default_classifier=args.classifier,
                          val_fraction=args.val_fraction, threshold=args.threshold,
                          aggregation=args.aggregation)
    epochs = len(next(iter(result.history.values()), []))
    _emit(args, {"bundle": str(result.bundle_dir), "run_dir": str(result.run_dir),
                 "epochs": epochs, "thresholds": result.thresholds,
                 "validation": result.validation, "history": result.history},
          f"train triplet: {epochs} epochs; bundle -> {result.bundle_dir}; logs -> {result.run_dir}")
    return 0


def cmd_evaluate(args) -> int:
    from tfdeepfake.bundle import load_bundle
    from tfdeepfake.evaluation.report import measures_table
    from tfdeepfake.method import evaluate_bundle

    bundle = load_bundle(args.model)
    out = args.output or Path("reports") / f"{bundle.path.name}-{args.split}"
    results = evaluate_bundle(bundle, args.embeddings, out, split=args.split,
                              figures=not args.no_figures)
    note = " [RANDOM-INIT FaceNet: not a real result]" if bundle.random_init else ""
    if args.json:
        _emit(args, {"report": str(out), "results": results, "random_init_facenet": bundle.random_init}, "")
    else:
        print(f"Measures, video level ({args.split} split, {bundle.aggregation} of frame scores){note}")
        print(measures_table(results, level="video", poster_comparison=True))
        print(f"report -> {out}")
    return 0


def cmd_detect(args) -> int:
    from tfdeepfake.detect import DeepfakeDetector, expand_video_paths

    paths = list(expand_video_paths(args.videos))
    if not paths:
        raise CommandError("no video files found in " + ", ".join(map(str, args.videos)))
    if args.tflite:
        from tfdeepfake.lite.detector import detect_video, open_export

        lite = open_export(args.tflite, variant=args.variant)
        detector = None
    else:
        if not args.model:
            raise CommandError("give --model saved_models/<name> (or --tflite DIR)")
        detector = DeepfakeDetector(args.model, classifier=args.classifier,
                                    facenet_weights=args.facenet_weights, threshold=args.threshold)
    results = []
    with _progress(len(paths), "video", not args.json and len(paths) > 1) as bar:
        for path in paths:
            verdict = (detect_video(lite, path, args.variant) if detector is None
                       else detector.detect(path).to_dict())
            results.append(verdict)
            bar.update(1)
            if not args.json:
                prob = verdict["fake_probability"]
                bar.write(f"{verdict['verdict']:7s} {'' if prob is None else f'{prob:.3f}':>6s}  "
                          f"{verdict['faces_found']}/{verdict['frames_sampled']} faces  "
                          f"{verdict['seconds']:.2f} s  {path}"
                          + (f"  ({verdict['reason']})" if verdict["reason"] else "")
                          + ("  [RANDOM-INIT FaceNet]" if verdict.get("random_init_facenet") else ""))
    if args.json:
        print(json.dumps(results, indent=None, default=str))
    return 0


def cmd_demo(args) -> int:
    from tfdeepfake.demo import DemoConfig, run_demo

    config = DemoConfig(facenet_weights=args.facenet_weights, force_random_init=args.random_init,
                        seed=args.seed, **({"num_real": 6, "num_fake": 6, "epochs": 10}
                                           if args.small else {}))
    summary = run_demo(args.output, config)
    if args.json:
        print(json.dumps(summary, default=str))
    return 0


def cmd_export(args) -> int:
    from tfdeepfake.export.from_bundle import export_bundle

    formats = ("savedmodel", "tflite") if args.format == "all" else (args.format,)
    written = export_bundle(args.model, args.output, formats=formats, classifier=args.classifier,
                            facenet_weights=args.facenet_weights, face_cache=args.faces,
                            variants=args.variants.split(",") if args.variants else None,
                            model_name=args.name, version=args.version_number, seed=args.seed)
    lines = [f"export ({args.classifier or 'default classifier'}) -> {args.output}"]
    if "savedmodel" in written:
        lines.append(f"  SavedModel: {written['savedmodel']}")
    for variant, path in written.get("tflite", {}).items():
        lines.append(f"  TFLite {variant}: {path} ({os.path.getsize(path) / 1e6:.1f} MB)")
    if written.get("random_init_facenet"):
        lines.append("  [RANDOM-INIT FaceNet: a demonstration model, not a detector]")
    _emit(args, written, "\n".join(lines))
    return 0


def cmd_train_baseline(args) -> int:
    from tfdeepfake.baselines import train_lstm_baseline, train_xception_baseline
    from tfdeepfake.models.train_baselines import LSTMTrainingConfig, XceptionTrainingConfig

    common = dict(epochs=args.epochs, batch_size=args.batch_size, optimizer=args.optimizer,
                  seed=args.seed)
    if args.lr is not None:
        common["learning_rate"] = args.lr
    if args.model_kind == "xception":
        config = XceptionTrainingConfig(input_size=args.input_size, **common)
        meta = train_xception_baseline(args.source, args.output, config, strategy_name=args.strategy,
                                       val_fraction=args.val_fraction, weights=args.weights,
                                       max_train_frames=args.max_train_frames)
    else:
        config = LSTMTrainingConfig(extractor_input_size=args.input_size, **common)
        meta = train_lstm_baseline(args.source, args.output, config, features=args.features,
                                   strategy_name=args.strategy, val_fraction=args.val_fraction,
                                   weights=args.weights)
    epochs = len(next(iter(meta.get("history", {}).values()), []))
    _emit(args, meta, f"train {args.model_kind}: {epochs} epochs -> {args.output}")
    return 0


def cmd_evaluate_baseline(args) -> int:
    from tfdeepfake.baselines import evaluate_baseline

    out = args.output or Path("reports") / f"{Path(args.model).name}-{args.split}"
    results = evaluate_baseline(args.model, args.source, out, split=args.split,
                                figures=not args.no_figures)
    _emit(args, results, f"evaluate baseline: report -> {out}")
    return 0


def cmd_explain(args) -> int:
    from tfdeepfake.baselines import explain_video

    result = explain_video(args.video, args.model, args.output, num_frames=args.num_frames)
    _emit(args, result, f"explain: {len(result['overlays'])} Grad-CAM overlays -> {args.output} "
                        f"(video verdict {result['verdict']}, p(fake) {result['fake_probability']:.3f})")
    return 0


def cmd_reproduce(args) -> int:
    from tfdeepfake.reproduce import reproduce

    if not args.quick and args.celebdf_v1 is None:
        raise CommandError("give --celebdf-v1 ROOT and --celebdf-v2 ROOT (the merged experiments "
                           "need both), or --quick")
    try:
        summary = reproduce(args.celebdf_v1, args.celebdf_v2, args.output,
                            facenet_weights=args.facenet_weights, quick=args.quick,
                            workers=args.workers, strategy=args.strategy, seed=args.seed,
                            xception_weights=args.xception_weights, experiments=args.only)
    except KeyboardInterrupt:
        print(f"interrupted: finished work is saved in {args.output}; run the same command "
              "again to continue", file=sys.stderr)
        return 130
    if args.json:
        print(json.dumps(summary, default=str))
    else:
        print(Path(summary["tables"]).read_text("utf-8"))
        print(f"tables -> {summary['tables']}\neverything -> {summary['json']}")
    return 0


# -- parser ---------------------------------------------------------------------------

def _add_extract_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("frames and faces")
    g.add_argument("--num-frames", type=int, default=DEFAULT_NUM_FRAMES,
                   help="frames sampled per video (default: %(default)s, as the poster)")
    g.add_argument("--sampling", choices=("uniform", "first", "stride"), default="uniform",
                   help="uniform: spread over the video; first: the first N frames (the reference "
                        "code of arXiv 2003.08645); stride: every --stride-th frame (default: %(default)s)")
    g.add_argument("--stride", type=int, default=None, help="frame step for --sampling stride")
    g.add_argument("--face", choices=("largest", "confident", "consistent"), default="largest",
                   help="which face to keep when a frame has several: the largest, the most "
                        "confident, or consistent (one person through the video) "
                        "(default: %(default)s)")
    g.add_argument("--min-confidence", type=float, default=0.9,
                   help="MTCNN confidence below which a detection is ignored (default: %(default)s)")
    g.add_argument("--margin", type=float, default=0.33,
                   help="fraction of the face box added around it (default: %(default)s)")
    g.add_argument("--no-square", action="store_true", help="keep the box's aspect ratio")
    g.add_argument("--size", type=int, default=FACENET_INPUT_SIZE,
                   help="crop size in pixels (default: %(default)s for FaceNet; 299 for Xception)")
    g.add_argument("--detect-short-side", type=int, default=270,
                   help="frames are shrunk so their shorter side is this for detection only; "
                        "crops come from the full frame; 0 disables (default: %(default)s)")


def _add_facenet_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--facenet-weights", type=Path,
                   help="FaceNet weights file 20180402-114759-weights.h5 (default: keras-facenet's "
                        "cache ~/.keras-facenet/20180402-114759/)")
    p.add_argument("--random-init", action="store_true",
                   help="random FaceNet weights: tests and demos only; outputs say so")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help="seed for --random-init")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tfdeepfake",
        description="Tell real face videos from deepfakes: FaceNet embeddings, semi-hard triplet "
                    "metric learning and KNN/SGD/RF classifiers (the poster 'Model to Detect Deep "
                    "Fakes'), with Xception/LSTM baselines and TF Serving/TFLite export.")
    parser.add_argument("--version", action="version", version=f"tfdeepfake {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    parser.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("index", help="dataset on disk -> manifest (JSON Lines, label 1 = fake)",
                       description="Read a dataset layout and write a manifest with one row per "
                                   "video: video_id, root, path, label (0 real, 1 fake), split, "
                                   "dataset, method, source.")
    p.add_argument("layout", choices=("celebdf", "faceforensics", "dfdc", "folders", "csv"))
    p.add_argument("root", help="dataset root (for csv: the CSV file with path,label[,split])")
    p.add_argument("-o", "--output", required=True, type=Path, help="manifest path (.jsonl)")
    p.add_argument("--version", dest="version", choices=("v1", "v2", "merged"),
                   help="celebdf: which release; merged = v1 + v2 as the poster (needs --v1-root)")
    p.add_argument("--v1-root", help="celebdf --version merged: the Celeb-DF v1 root")
    p.add_argument("--test-list", help="celebdf: another List_of_testing_videos.txt")
    p.add_argument("--val-fraction", type=float, help="carve a validation split out of train")
    p.add_argument("--test-fraction", type=float, help="folders/csv: carve a test split")
    p.add_argument("--seed", type=int, help=f"seed for carved splits (default {DEFAULT_SEED})")
    p.add_argument("--group-by", choices=("identity", "video"),
                   help="celebdf: keep an identity's videos on one side of a carved split")
    p.add_argument("--compression", choices=("raw", "c23", "c40"), help="faceforensics quality")
    p.add_argument("--methods", help="faceforensics: comma-separated manipulation methods")
    p.add_argument("--actors-split", help="faceforensics: split for actors/DeepFakeDetection videos")
    p.add_argument("--splits-dir", help="faceforensics: folder with train/val/test.json")
    p.add_argument("--labels-split", help="dfdc: split of videos listed in labels.csv")
    p.add_argument("--dataset-name", help="folders/csv: dataset name used in video ids")
    p.add_argument("--csv-root", help="csv: folder the CSV's paths are relative to")
    p.add_argument("--json", action="store_true", help="print a JSON summary")
    p.set_defaults(func=cmd_index)

    p = sub.add_parser("extract", help="videos of a manifest -> HDF5 cache of MTCNN face crops",
                       description="Sample frames, detect faces with MTCNN and store crops, boxes, "
                                   "keypoints and confidences per video in HDF5. Resumable: "
                                   "finished videos are skipped, failures recorded with a reason.")
    p.add_argument("manifest", type=Path, help="manifest written by `tfdeepfake index`")
    p.add_argument("-o", "--output", required=True, type=Path, help="face cache (.h5)")
    _add_extract_options(p)
    p.add_argument("--split", action="append", choices=("train", "val", "test"),
                   help="only these splits (repeatable)")
    p.add_argument("--limit", type=int, help="only the first N videos")
    p.add_argument("--workers", type=int, default=1, help="processes (default: %(default)s)")
    p.add_argument("--retry-failed", action="store_true", help="retry videos that failed before")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print a JSON summary")
    p.set_defaults(func=cmd_extract)

    p = sub.add_parser("embed", help="face cache -> FaceNet 512-d embeddings cache",
                       description="Embed every face of a face cache with keras-facenet's model "
                                   "20180402-114759 (160x160 in, 512-d L2-normalised out). Resumable.")
    p.add_argument("faces", type=Path, help="face cache from `tfdeepfake extract`")
    p.add_argument("-o", "--output", required=True, type=Path, help="embedding cache (.h5)")
    _add_facenet_options(p)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--json", action="store_true", help="print a JSON summary")
    p.set_defaults(func=cmd_embed)

    p = sub.add_parser("train", help="train a model: triplet (the poster's method), xception, lstm")
    train_sub = p.add_subparsers(dest="model_kind", metavar="MODEL")
    p.set_defaults(func=lambda args, p=p: (p.print_help(), 2)[1])
    t = train_sub.add_parser(
        "triplet", help="semi-hard triplet head + KNN/SGD/RF on FaceNet embeddings -> bundle",
        description="Train the metric-learning head with tfa.losses.TripletSemiHardLoss on balanced "
                    "P x K batches (both classes in every batch), validating on held-out training "
                    "videos, then fit KNN (k=10), SGD (logistic) and Random Forest (100 trees) on "
                    "its outputs and save a bundle for `detect`, `evaluate` and `export`.")
    t.add_argument("embeddings", type=Path, help="embedding cache from `tfdeepfake embed`")
    t.add_argument("-o", "--output", required=True, type=Path, help="bundle folder, e.g. saved_models/celebdf")
    t.add_argument("--run-dir", type=Path, help="checkpoints, history.csv, TensorBoard logs "
                                                "(default: runs/<bundle name>)")
    t.add_argument("--lr", type=float, default=3e-4, help="Adam learning rate (poster: %(default)s)")
    t.add_argument("--epochs", type=int, default=50, help="(poster: %(default)s)")
    t.add_argument("--batch-size", type=int, default=32, help="(poster: %(default)s)")
    t.add_argument("--margin", type=float, default=1.0, help="triplet margin (default: %(default)s)")
    t.add_argument("--hidden", default="256,256,128", help="head Dense sizes (default: %(default)s)")
    t.add_argument("--embedding-dim", type=int, default=64, help="head output size (default: %(default)s)")
    t.add_argument("--patience", type=int, default=10, help="early-stopping patience in epochs")
    t.add_argument("--val-fraction", type=float, default=0.15,
                   help="held-out training videos for validation when the manifest has no val split")
    t.add_argument("--classifier", choices=("knn", "sgd", "rf"), default="rf",
                   help="the bundle's default classifier for detect (default: %(default)s)")
    t.add_argument("--threshold", choices=("fixed", "validation"), default="fixed",
                   help="fixed 0.5 (the poster) or chosen on validation videos")
    t.add_argument("--aggregation", choices=("mean", "median", "max"), default="mean",
                   help="frame scores -> video score (poster: mean)")
    t.add_argument("--facenet-weights", type=Path, help=argparse.SUPPRESS)
    t.add_argument("--seed", type=int, default=DEFAULT_SEED)
    t.add_argument("--json", action="store_true")
    t.set_defaults(func=cmd_train_triplet)

    for kind, what in (("xception", "XceptionNet on face crops (the poster's frame baseline)"),
                       ("lstm", "an LSTM over the per-frame features of each video")):
        t = train_sub.add_parser(
            kind, help=what,
            description=f"Train {what} from a face cache (for lstm --features facenet: an embedding "
                        "cache). Poster settings by default; validation on held-out training videos. "
                        "Writes model.weights.h5, baseline.json, history.csv, TensorBoard logs.")
        t.add_argument("source", type=Path, help="face cache (extract --size 299 for Xception)")
        t.add_argument("-o", "--output", required=True, type=Path, help="baseline folder")
        t.add_argument("--lr", type=float, help=f"learning rate (poster: {'0.05' if kind == 'xception' else '0.01'})")
        t.add_argument("--epochs", type=int, default=30, help="(poster: %(default)s)")
        t.add_argument("--batch-size", type=int, default=64, help="(poster: %(default)s)")
        t.add_argument("--optimizer", choices=("sgd", "adam"), default="sgd",
                       help="the poster gives no optimizer; SGD with momentum 0.9 suits lr 0.05")
        t.add_argument("--input-size", type=int, default=299, help="Xception input (>= 71)")
        t.add_argument("--weights", help="Xception weights: 'imagenet' or a local no-top .h5 "
                                         "(default: random init)")
        t.add_argument("--strategy", choices=("default", "mirrored", "multiworker"), default="default",
                       help="tf.distribute strategy: mirrored = all local GPUs")
        t.add_argument("--val-fraction", type=float, default=0.15)
        t.add_argument("--seed", type=int, default=DEFAULT_SEED)
        t.add_argument("--json", action="store_true")
        if kind == "xception":
            t.add_argument("--max-train-frames", type=int,
                           help="cap on training frames, whole videos (the poster used 30k)")
        else:
            t.add_argument("--features", choices=("xception", "facenet"), default="xception",
                           help="per-frame features (default: %(default)s)")
        t.set_defaults(func=cmd_train_baseline)

    p = sub.add_parser("evaluate-baseline", help="video-level measures of an Xception/LSTM baseline",
                       description="Frame (Xception) and video measures of a baseline on a split.")
    p.add_argument("--model", required=True, type=Path, help="baseline folder")
    p.add_argument("--source", required=True, type=Path, help="the face (or embedding) cache")
    p.add_argument("--split", default="test", choices=("train", "val", "test"))
    p.add_argument("-o", "--output", type=Path)
    p.add_argument("--no-figures", action="store_true")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_evaluate_baseline)

    p = sub.add_parser("explain", help="Grad-CAM heat maps of an Xception baseline on one video",
                       description="Sample frames, crop faces at the model's input size and write "
                                   "Grad-CAM overlays (PNG) of what drives the fake score.")
    p.add_argument("video", type=Path)
    p.add_argument("--model", required=True, type=Path, help="Xception baseline folder")
    p.add_argument("-o", "--output", type=Path, default=Path("explain"))
    p.add_argument("--num-frames", type=int, default=8)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_explain)

    p = sub.add_parser("reproduce", help="the poster's experiments and Measures tables, ours beside theirs",
                       description="Run the poster's four experiments (Xception on Celeb-DF, LSTM + "
                                   "frames, Xception on 30k frames of Celeb-DF + v2, FaceNet + triplet "
                                   "metric learning) from index to evaluation and write "
                                   "OUT/poster_tables.md with the poster's numbers beside ours. Every "
                                   "step reuses work already done, so rerunning continues.")
    p.add_argument("--celebdf-v1", type=Path, metavar="ROOT", help="Celeb-DF (v1) folder")
    p.add_argument("--celebdf-v2", type=Path, metavar="ROOT", help="Celeb-DF-v2 folder")
    p.add_argument("-o", "--output", type=Path, required=True)
    p.add_argument("--facenet-weights", type=Path, metavar="PATH")
    p.add_argument("--xception-weights", metavar="PATH", help="'imagenet' or a local no-top file")
    p.add_argument("--quick", action="store_true",
                   help="smoke test on generated videos in a few minutes; NOT a reproduction")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--strategy", choices=("default", "mirrored", "multiworker"), default="default")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED)
    p.add_argument("--only", metavar="NAME", action="append",
                   help="run only this experiment (repeatable): xception_celebdf, lstm_celebdf, "
                        "xception_merged, facenet_triplet_merged")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_reproduce)

    p = sub.add_parser("evaluate", help="the poster's Measures table for a bundle on a split",
                       description="Frame- and video-level AUC, accuracy, precision, recall, F1, "
                                   "EER and AP for every classifier of a bundle, with ROC curves, "
                                   "confusion matrices and before/after embedding scatter plots.")
    p.add_argument("--model", required=True, type=Path, help="bundle folder")
    p.add_argument("--embeddings", required=True, type=Path, help="embedding cache")
    p.add_argument("--split", default="test", choices=("train", "val", "test"))
    p.add_argument("-o", "--output", type=Path, help="report folder (default: reports/<bundle>-<split>)")
    p.add_argument("--no-figures", action="store_true")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("detect", help="real or fake? for videos or folders of videos",
                       description="Per video: verdict (real/fake, or unknown with a reason when no "
                                   "face is found or the file cannot be read), fake probability "
                                   "(mean of frame probabilities), frames sampled, faces found, "
                                   "seconds. A bad video never stops the others.")
    p.add_argument("videos", nargs="+", help="video files or folders")
    p.add_argument("--model", type=Path, help="bundle folder (saved_models/<name>)")
    p.add_argument("--tflite", type=Path, help="TFLite folder from `export` (<out>/tflite): MTCNN and "
                                               "the face model run on the TFLite runtime")
    p.add_argument("--variant", default="float32", choices=("float32", "float16", "dynamic_int8", "int8"),
                   help="which TFLite face model with --tflite (default: %(default)s)")
    p.add_argument("--classifier", choices=("knn", "sgd", "rf"), help="default: the bundle's")
    p.add_argument("--threshold", type=float, help="default: the bundle's")
    p.add_argument("--facenet-weights", type=Path, help="FaceNet weights file, if not in keras-facenet's cache")
    p.add_argument("--json", action="store_true", help="print a JSON list")
    p.set_defaults(func=cmd_detect)

    p = sub.add_parser("export", help="bundle -> TF Serving SavedModel and/or TFLite (+ MTCNN)",
                       description="Export the face -> fake-probability graph of a bundle (FaceNet, "
                                   "head and classifier as TensorFlow ops) as a SavedModel in TF "
                                   "Serving's layout <out>/serving/<name>/<version>/ and as TFLite "
                                   "variants with MTCNN's networks, for `detect --tflite`.")
    p.add_argument("--model", required=True, type=Path, help="bundle folder")
    p.add_argument("-o", "--output", required=True, type=Path, help="export folder")
    p.add_argument("--format", choices=("savedmodel", "tflite", "all"), default="all")
    p.add_argument("--classifier", choices=("knn", "sgd", "rf"), help="default: the bundle's")
    p.add_argument("--variants", help="TFLite variants, comma-separated (default: float32,float16,"
                                      "dynamic_int8,int8; int8 needs --faces)")
    p.add_argument("--faces", type=Path, help="face cache: train faces calibrate int8, test faces "
                                              "measure TFLite parity")
    p.add_argument("--name", help="model name in the serving layout (default: the bundle's)")
    p.add_argument("--version-number", type=int, help="serving version (default: next free)")
    p.add_argument("--facenet-weights", type=Path)
    p.add_argument("--seed", type=int, default=DEFAULT_SEED)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("demo", help="the whole pipeline on generated videos, in minutes",
                       description="Generates labelled videos from face photos that installed "
                                   "packages ship (real: moving shots; fake: landmark-aligned face "
                                   "swaps), then runs index, extract, embed, train triplet, "
                                   "evaluate and detect, and writes a report. A demonstration, "
                                   "not a benchmark. Uses real FaceNet weights when keras-facenet's "
                                   "cache has them, random init otherwise, and says which.")
    p.add_argument("-o", "--output", type=Path, default=Path("demo_output"))
    p.add_argument("--small", action="store_true", help="fewer videos and epochs (CI)")
    p.add_argument("--facenet-weights", type=Path)
    p.add_argument("--random-init", action="store_true", help="ignore available FaceNet weights")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_demo)

    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    _configure_logging(-1 if args.quiet else args.verbose)
    # A plain `kill` should save finished work like Ctrl-C does.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        return args.func(args)
    except CommandError as error:
        print(f"tfdeepfake {args.command}: {error}", file=sys.stderr)
        return 2
    except (ValueError, OSError, RuntimeError) as error:
        logger.debug("details", exc_info=True)
        print(f"tfdeepfake {args.command}: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
