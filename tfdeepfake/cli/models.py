"""Sub-commands over the detector registry: train, evaluate, export, explain, convert-model
(detect and calibrate: ``cli/verdicts.py``). Nothing here names a detector: options come
from each detector's training config and ``train`` signature."""

from __future__ import annotations

import argparse
import inspect
import logging
import os
from pathlib import Path

from tfdeepfake.cli.common import (
    MODEL_HELP,
    CommandError,
    dataclass_from_args,
    dataclass_options,
    emit,
    flag,
    model_folder,
)
# detect and calibrate live in cli/verdicts.py; their names stay importable from here.
from tfdeepfake.cli.verdicts import add_calibrate, add_detect, cmd_calibrate, cmd_detect
from tfdeepfake.constants import DEFAULT_SEED, SPLITS
from tfdeepfake.export.formats import FORMATS, TFLITE_VARIANTS

logger = logging.getLogger("tfdeepfake")

# Short spellings users of the poster's settings know; the long names come from the configs.
_ALIASES = {"learning_rate": "--lr"}
# Config fields that work but are not offered in --help (tests' stand-ins).
_HIDDEN = ("random_init",)
# What None means for the config numbers that may be None (given as `none`).
_NONE_MEANS = {"patience": "no early stopping", "early_stopping_patience": "no early stopping",
               "max_faces_per_video": "every face", "steps_per_epoch": "one pass over the larger class"}
# train() parameters the CLI fills itself.
_FIXED_TRAIN_PARAMS = ("cls", "source", "out_dir", "config", "options", "kwargs")


def _extra_train_params(cls) -> list[inspect.Parameter]:
    """Keyword parameters of ``cls.train`` beyond the common ones, with simple defaults."""
    params = []
    for param in inspect.signature(cls.train).parameters.values():
        if param.name in _FIXED_TRAIN_PARAMS or param.kind in (param.VAR_KEYWORD, param.VAR_POSITIONAL):
            continue
        if param.default is inspect.Parameter.empty:
            continue
        params.append(param)
    return params


def _add_param_option(group, param: inspect.Parameter, dest: str, choices=None,
                      text: str = "") -> None:
    default = param.default
    text = f"{text} " if text else ""
    if isinstance(default, bool):
        group.add_argument(flag(param.name), dest=dest, action=argparse.BooleanOptionalAction,
                           default=default, help=text + "(default: %(default)s)")
    elif isinstance(default, (tuple, list)):
        group.add_argument(flag(param.name), dest=dest, default=tuple(default), metavar="A,B,...",
                           type=lambda text: tuple(v for v in text.split(",") if v),
                           help=f"{text}(default: {','.join(map(str, default))})")
    else:
        kind = type(default) if isinstance(default, (int, float)) else str
        group.add_argument(flag(param.name), dest=dest, type=kind, default=default,
                           choices=choices, metavar=None if choices else param.name.upper(),
                           help=text + "(default: %(default)s)")


def _raise_disk_full(error: BaseException, out: Path) -> None:
    """A full disk while training writes ``out`` (weights, model.json, run logs) is one
    ``DiskFullError`` naming the folder, not the raw ENOSPC of whichever file it hit. The
    folder keeps no model.json it did not finish (``ModelFolder.start``), so a rerun works."""
    from tfdeepfake.cache.files import DiskFullError, is_disk_full

    if is_disk_full(error):
        unfinished = not (Path(out) / "model.json").exists()
        raise DiskFullError(out, "the folder is left unfinished (no model.json)"
                            if unfinished else "") from error


def cmd_train(args) -> int:
    from tfdeepfake.detectors import TrainOptions, detector_class

    cls = detector_class(args.detector)
    config = dataclass_from_args(cls.config_class, args, prefix="cfg_")
    options = dataclass_from_args(TrainOptions, args, prefix="opt_")
    extra = {p.name: getattr(args, "x_" + p.name) for p in _extra_train_params(cls)}
    try:
        detector = cls.train(args.source, args.output, config, options, **extra)
    except (OSError, RuntimeError) as error:  # RuntimeError: a DiskFullError naming one file
        _raise_disk_full(error, args.output)
        raise
    meta = detector.meta
    line = (f"train {args.detector}: model -> {detector.path}"
            + (f" [{(meta.get('facenet') or {}).get('model')} RANDOM-INIT FaceNet]"
               if detector.random_init_facenet else ""))
    emit(args, meta, line)
    return 0


def add_train(sub, parents, *, detailed: bool = True) -> None:
    """``detailed=False`` lists the detectors without importing them (their training configs
    import TensorFlow), for every command line that is not a ``train``."""
    from tfdeepfake.detectors import DETECTOR_NAMES, TrainOptions, detector_class
    from tfdeepfake.constants import STRATEGIES
    from tfdeepfake.scoring import AGGREGATIONS

    p = sub.add_parser("train", parents=parents, help="train a detector: " + ", ".join(DETECTOR_NAMES),
                       description="Train a detector from a cache into a model folder (model.json "
                                   "+ weights/arrays, no pickle) for evaluate, detect and export.")
    train_sub = p.add_subparsers(dest="detector", metavar="DETECTOR")
    p.set_defaults(func=lambda args, p=p: (p.print_help(), 2)[1])
    for name in DETECTOR_NAMES if detailed else ():
        cls = detector_class(name)
        t = train_sub.add_parser(name, parents=parents, help=cls.description,
                                 description=(cls.__doc__ or cls.description).strip().split("\n\n")[0])
        t.add_argument("source", type=Path,
                       help=f"the {cls.source_kind} cache to train on (`tfdeepfake "
                            f"{'extract' if cls.source_kind == 'faces' else 'embed'}`)")
        t.add_argument("-o", "--output", required=True, type=Path, help="model folder, e.g. saved_models/<name>")
        # The configs of the poster's method and baselines say so in their docstrings; the
        # others (sbi) are not the poster's, and their defaults must not claim to be.
        poster = "poster" in (cls.config_class.__doc__ or "")
        heading = "training (defaults: the poster's where it gives them)" if poster else "training"
        dataclass_options(t.add_argument_group(heading), cls.config_class, prefix="cfg_",
                          aliases=_ALIASES, choices=cls.option_choices, hidden=_HIDDEN,
                          none_means=_NONE_MEANS)
        g = t.add_argument_group("data and run")
        dataclass_options(g, TrainOptions, prefix="opt_",
                          choices={"aggregation": AGGREGATIONS, "strategy": STRATEGIES},
                          helps={"val_fraction": "training videos held out for validation (by "
                                                 "identity group) when the cache has no val split",
                                 "aggregation": "frame scores -> video score (the poster: mean)",
                                 "run_dir": "checkpoints, history.csv, TensorBoard logs; "
                                            "None: OUTPUT/run",
                                 "strategy": "tf.distribute strategy: mirrored uses all local GPUs"})
        for param in _extra_train_params(cls):
            _add_param_option(g, param, "x_" + param.name, cls.option_choices.get(param.name),
                              cls.option_help.get(param.name, ""))
        t.add_argument("--json", action="store_true")
        t.set_defaults(func=cmd_train)


def cmd_evaluate(args) -> int:
    from tfdeepfake.detectors import load_detector
    from tfdeepfake.detectors.evaluate import evaluate_detector, results_table

    detector = load_detector(args.model, facenet_weights=args.facenet_weights)
    out = args.output or Path("reports") / f"{detector.path.name}-{args.split}"
    source = args.source or args.embeddings
    if source is None:
        raise CommandError(f"give --source, the {detector.source_kind} cache to evaluate on")
    results = evaluate_detector(detector, source, out, split=args.split, figures=not args.no_figures)
    note = " [RANDOM-INIT FaceNet: not a real result]" if detector.random_init_facenet else ""
    if args.json:
        emit(args, {"report": str(out), "results": results,
                    "random_init_facenet": detector.random_init_facenet}, "")
    else:
        print(f"Measures, video level ({args.split} split, {detector.aggregation} of frame scores; "
              f"{detector.facenet_label or 'no FaceNet'}){note}")
        print(results_table(results, "video"))
        print(f"report -> {out}")
    return 0


def add_evaluate(sub, parents) -> None:
    p = sub.add_parser("evaluate", parents=parents,
                       help="the poster's Measures table for any model on a split",
                       description="Frame- and video-level AUC, accuracy, precision, recall, F1, "
                                   "EER and AP (with bootstrap intervals over videos) for every "
                                   "variant of a model, with ROC curves and confusion matrices.")
    p.add_argument("--model", required=True, type=Path, help="model folder")
    p.add_argument("--source", type=Path, help="the cache the model reads (faces or embeddings)")
    p.add_argument("--embeddings", type=Path, help=argparse.SUPPRESS)  # the old spelling
    p.add_argument("--split", default="test", choices=SPLITS)
    p.add_argument("-o", "--output", type=Path, help="report folder (default: reports/<model>-<split>)")
    p.add_argument("--facenet-weights", type=Path, help="FaceNet weights, if not in keras-facenet's cache")
    p.add_argument("--no-figures", action="store_true")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_evaluate)


def cmd_export(args) -> int:
    from tfdeepfake.export.from_model import export_model

    formats = FORMATS if args.format == "all" else (args.format,)
    written = export_model(model_folder(args), args.output, formats=formats, variant=args.classifier,
                           facenet_weights=args.facenet_weights, face_cache=args.faces,
                           tflite_variants=args.variants.split(",") if args.variants else None,
                           model_name=args.name, version=args.version_number, seed=args.seed)
    lines = [f"export ({args.classifier or 'default variant'}) -> {args.output}"]
    if "savedmodel" in written:
        lines.append(f"  SavedModel: {written['savedmodel']}")
    for variant, path in written.get("tflite", {}).items():
        lines.append(f"  TFLite {variant}: {path} ({os.path.getsize(path) / 1e6:.1f} MB)")
    if written.get("random_init_facenet"):
        lines.append("  [RANDOM-INIT FaceNet: a demonstration model, not a detector]")
    emit(args, written, "\n".join(lines))
    return 0


def add_export(sub, parents) -> None:
    p = sub.add_parser("export", parents=parents, help="model -> TF Serving SavedModel and/or TFLite (+ MTCNN)",
                       description="Export the face -> fake-probability graph of a model (triplet: "
                                   "FaceNet, head and classifier as TensorFlow ops; xception: the "
                                   "network) as a SavedModel in TF Serving's layout "
                                   "<out>/serving/<name>/<version>/ and as TFLite variants with "
                                   "MTCNN's networks, for `detect --tflite`.")
    p.add_argument("--model", type=Path, help=MODEL_HELP)
    p.add_argument("-o", "--output", required=True, type=Path, help="export folder")
    p.add_argument("--format", choices=FORMATS + ("all",), default="all")
    p.add_argument("--classifier", help="the model's variant (triplet: knn, sgd or rf; default: the model's)")
    p.add_argument("--variants", help=f"TFLite variants, comma-separated (default: "
                                      f"{','.join(TFLITE_VARIANTS)}; int8 needs --faces)")
    p.add_argument("--faces", type=Path, help="face cache: train faces calibrate int8, test faces "
                                              "measure TFLite parity")
    p.add_argument("--name", help="model name in the serving layout (default: the model folder's)")
    p.add_argument("--version-number", type=int, help="serving version (default: next free)")
    p.add_argument("--facenet-weights", type=Path)
    p.add_argument("--seed", type=int, default=DEFAULT_SEED)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_export)


def cmd_explain(args) -> int:
    from tfdeepfake.detectors import load_detector

    detector = load_detector(model_folder(args), facenet_weights=args.facenet_weights)
    if not hasattr(detector, "explain"):
        raise CommandError(f"{detector.path}: a {detector.name} model has no heat maps; explain "
                           "works with models that offer them (xception: Grad-CAM)")
    result = detector.explain(args.video, args.output, num_frames=args.num_frames)
    emit(args, result, f"explain: {len(result['overlays'])} heat-map overlays -> {args.output} "
                       f"(video verdict {result['verdict']}, p(fake) {result['fake_probability']:.3f})")
    return 0


def add_explain(sub, parents) -> None:
    p = sub.add_parser("explain", parents=parents, help="heat maps (Grad-CAM for xception) on one video",
                       description="Sample frames, crop faces at the model's input size and write "
                                   "heat-map overlays (PNG) of what drives the fake score.")
    p.add_argument("video", type=Path)
    p.add_argument("--model", type=Path, help=MODEL_HELP)
    p.add_argument("-o", "--output", type=Path, default=Path("explain"))
    p.add_argument("--num-frames", type=int, default=8)
    p.add_argument("--facenet-weights", type=Path, help="FaceNet weights, if not in keras-facenet's cache")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_explain)


def cmd_convert_model(args) -> int:
    from tfdeepfake.detectors.legacy import convert_model_folder

    path = convert_model_folder(args.folder, facenet_weights=args.facenet_weights)
    emit(args, {"model": str(path)}, f"converted {args.folder} -> {path}")
    return 0


def add_convert_model(sub, parents) -> None:
    p = sub.add_parser("convert-model", parents=parents,
                       help="convert a model folder of tfdeepfake < 0.2 (bundle.json / baseline.json)",
                       description="Rewrite an old bundle (bundle.json) or baseline folder "
                                   "(baseline.json) as a model folder (model.json) in place; the "
                                   "weights and arrays are kept.")
    p.add_argument("folder", type=Path)
    p.add_argument("--facenet-weights", type=Path,
                   help="FaceNet weights, if not in keras-facenet's cache (old triplet bundles)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_convert_model)
