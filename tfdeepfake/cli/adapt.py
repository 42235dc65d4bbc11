"""`tfdeepfake adapt`: a model folder adapted to unlabelled footage of the user's own
(``detectors.adapt``)."""

from __future__ import annotations

from pathlib import Path

from tfdeepfake.cli.common import MODEL_HELP, CommandError, emit, model_folder, progress


def cmd_adapt(args) -> int:
    from tfdeepfake.detect import expand_video_paths
    from tfdeepfake.detectors.adapt import (AdaptError, adapt_model, targets_from_cache,
                                            targets_from_videos)
    from tfdeepfake.detectors.base import ModelFolderError

    model = model_folder(args)
    if args.output.resolve() == model.resolve():
        raise CommandError(f"{args.output}: the model's own folder; the source model stays untouched")
    if args.output.exists():
        raise CommandError(f"{args.output}: already exists; choose a new folder")
    caches = [Path(p) for p in args.inputs if str(p).endswith(".h5")]
    videos = [p for p in args.inputs if not str(p).endswith(".h5")]
    if caches and videos:
        raise CommandError("give videos or face caches (.h5), not both")
    if not args.method:
        raise CommandError("choose --method (repeat to combine): measured on the shared footage, "
                           "none improved the default model reliably (docs/results.md, "
                           "Unsupervised adaptation); compare with `evaluate` on labelled videos "
                           "of your footage")
    methods = args.method
    try:
        if caches:
            from tfdeepfake.detectors import load_detector

            detector = load_detector(model, facenet_weights=args.facenet_weights)
            targets = targets_from_cache(caches[0], detector.face_settings)
            for extra in caches[1:]:
                more = targets_from_cache(extra, detector.face_settings)
                targets.videos += more.videos
                targets.skipped += more.skipped
        else:
            from tfdeepfake.detect import VideoDetector

            paths = list(expand_video_paths(videos))
            if not paths:
                raise CommandError("no video files found in " + ", ".join(map(str, videos)))
            detector = VideoDetector(model, facenet_weights=args.facenet_weights)
            with progress(len(paths), "video", not args.json and not args.quiet and len(paths) > 1) as bar:
                targets = targets_from_videos(paths, detector, on_video=lambda path: bar.update(1))
            detector = detector.detector
        record = adapt_model(detector, targets, args.output, methods=methods, seed=args.seed,
                             min_videos=args.min_videos, facenet_weights=args.facenet_weights,
                             inputs=[str(p) for p in args.inputs], reuse_loaded=True)
    except (AdaptError, ModelFolderError, FileExistsError) as error:
        raise CommandError(str(error)) from None
    lines = [f"adapt: {record['target_videos']} target videos ({record['target_faces']} faces), "
             f"{', '.join(record['methods'])} -> {args.output}"]
    steps = record["steps"]
    if "adabn" in steps:
        lines.append(f"  adabn: {steps['adabn']['layers']} BatchNorm layers re-estimated; means moved "
                     f"{steps['adabn']['mean_shift_sd']:.3f} SD on average "
                     f"(at most {steps['adabn']['max_layer_shift_sd']:.3f} in one layer)")
    if "restandardise" in steps:
        lines.append(f"  restandardise: texture features' means moved "
                     f"{steps['restandardise']['mean_shift_sd']:.3f} SD on average")
    if "self-blend" in steps:
        step = steps["self-blend"]
        lines.append(f"  self-blend: head refitted on {step['target_faces_as_genuine']} target faces "
                     f"and {step['pseudo_fakes']} pseudo-fakes of them (cosine to the source "
                     f"weights {step['weights_cosine']:.3f})")
    for variant, t in (steps.get("threshold") or {}).get("variants", {}).items():
        lines.append(f"  threshold ({variant}): {t['previous']:.4f} -> {t['threshold']:.4f} "
                     f"(target median score {t['target_median']:.3f}, calibration genuine "
                     f"{t['calibration_median']:.3f}; assumes at most half the targets are fake)")
    lines += [f"  left out {s['path']}: {s['reason']}" for s in record["skipped"]]
    lines.append("  no label was read; the source model is unchanged. " + record["note"])
    lines.append("  measured on the shared footage, no method improved the default model reliably "
                 "(docs/results.md): compare both models with `evaluate` on labelled videos of "
                 "your footage before keeping this one")
    emit(args, {"model": str(args.output), **record}, "\n".join(lines))
    return 0


def add_adapt(sub, parents) -> None:
    from tfdeepfake.detectors.adapt import METHODS, MIN_TARGET_VIDEOS

    p = sub.add_parser(
        "adapt", parents=parents,
        help="adapt a model to your own unlabelled footage (unsupervised domain adaptation)",
        description="Read faces of unlabelled videos from the footage the model will judge "
                    "(or face caches made with the model's face settings; their labels are "
                    "never read) and write a new model folder adapted to them: "
                    "adabn re-estimates FaceNet's BatchNorm statistics on them, restandardise "
                    "the texture head's feature standardisation, self-blend refits the texture "
                    "head with their faces as genuine and pseudo-fakes blended from them as "
                    "fake (the source's part held by its stored curvature; it scores the "
                    "target lower: calibrate again after it), threshold shifts the decision "
                    "threshold by how far their median score lies from the calibration's "
                    "genuine videos (assumes at most half of them are fake). The source model "
                    "is left as it was; model.json records the methods, settings, seed, and the "
                    "targets' count and hashes. Measured gains: docs/results.md.")
    p.add_argument("inputs", nargs="+", type=Path,
                   help="target video files or folders, or face caches (.h5)")
    p.add_argument("--model", type=Path, help=MODEL_HELP)
    p.add_argument("-o", "--output", type=Path, required=True, help="new model folder to write")
    p.add_argument("--method", action="append", choices=METHODS,
                   help="required; repeat to combine; no method is chosen for you: on the shared "
                        "footage none improved the face + mouth default reliably (restandardise "
                        "and adabn lowered its ranking and raised false alarms; self-blend ranked "
                        "better by a margin that swung with the seed, lost on pooled footage and "
                        "caught fewer fakes at the kept threshold; threshold caught fewer too): "
                        "docs/results.md. restandardise and self-blend need the default model's "
                        "texture head")
    p.add_argument("--min-videos", type=int, default=MIN_TARGET_VIDEOS,
                   help="refuse with fewer target videos with faces (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0,
                   help="order of the statistics pass (adabn); the pseudo-fakes (self-blend)")
    p.add_argument("--facenet-weights", type=Path, help="FaceNet weights, if not in keras-facenet's cache")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_adapt)
