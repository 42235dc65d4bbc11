"""Sub-commands that judge videos with a model: detect (verdicts, locally, on TFLite or on
Apache Beam) and calibrate (thresholds from known-real videos)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tfdeepfake.cli.common import (
    MODEL_HELP,
    CommandError,
    add_beam_options,
    beam_counter_lines,
    beam_pipeline_module,
    emit,
    model_folder,
    names_print_as_bytes,
    progress,
)
from tfdeepfake.export.formats import TFLITE_VARIANTS


DETECT_EXIT_STATUS = ("exit status: 0 when every video got a verdict (real or fake), and 0 "
                      "also when some are unknown (no face, unreadable: check the verdicts); "
                      "1 when none did; 2 on a usage or model error, or when an --annotate "
                      "or --report output could not be written (the verdicts are still "
                      "printed). With --runner the same, counting the videos --output "
                      "already judged.")


def _verdict_line(verdict: dict, path) -> str:
    prob = verdict["fake_probability"]
    return (f"{verdict['verdict']:7s} {'' if prob is None else f'{prob:.3f}':>6s}  "
            f"{verdict['faces_found']}/{verdict['frames_sampled']} faces  "
            f"{verdict['seconds']:.2f} s  {path}"
            + (f"  genuine share {verdict['genuine_share']:.2f}"
               if verdict.get("genuine_share") is not None else "")
            + (f"  ({verdict['reason']})" if verdict.get("reason") else "")
            + ("  [RANDOM-INIT FaceNet]" if verdict.get("random_init_facenet") else ""))


def _people_lines(verdict: dict) -> str:
    """With --people and several people in the video, one indented line per person."""
    people = verdict.get("people") or ()
    if len(people) < 2:
        return ""
    lines = []
    for person in people:
        box = ", ".join(f"{v:.0f}" for v in person["box"])
        lines.append(f"  person {person['person']}: {person['verdict']:4s} "
                     f"{person['fake_probability']:.3f}  {person['faces_found']}/"
                     f"{verdict['frames_sampled']} faces  at [{box}]"
                     + (f"  genuine share {person['genuine_share']:.2f}"
                        if person.get("genuine_share") is not None else ""))
    return "".join("\n" + line for line in lines)


def cmd_detect(args) -> int:
    from tfdeepfake.detect import expand_video_paths

    if args.old_variant is not None:
        raise CommandError(f"--variant is ambiguous: a model's variant is --classifier "
                           f"{args.old_variant}; the TFLite face model is --tflite-variant "
                           f"({', '.join(TFLITE_VARIANTS)})")
    names_print_as_bytes()
    paths = list(expand_video_paths(args.videos))
    if not paths:
        raise CommandError("no video files found in " + ", ".join(map(str, args.videos)))
    from tfdeepfake.cli.visuals import annotate_targets, outputs_line, report_targets

    annotate = annotate_targets(args.annotate, paths, overwrite=args.overwrite)
    report = report_targets(args.report, paths)
    beam = beam_pipeline_module(args, "detect")
    if beam is not None:
        return _detect_on_beam(args, beam, paths, bool(annotate or report))
    if args.output or args.workers != 1:
        raise CommandError("--output and --workers are for --runner; a local detect prints its "
                           "verdicts (--json for JSON)")
    if (annotate or report) and args.tflite:
        raise CommandError("--annotate and --report need --model: the TFLite path keeps no "
                           "per-frame detail")
    if args.tflite:
        from tfdeepfake.lite.detector import detect_video, open_export

        lite = open_export(args.tflite, variant=args.tflite_variant)
        score = lambda path: detect_video(lite, path, args.tflite_variant, people=args.people)  # noqa: E731
    else:
        from tfdeepfake.detect import VideoDetector

        detector = VideoDetector(model_folder(args), variant=args.classifier, threshold=args.threshold,
                                 facenet_weights=args.facenet_weights, people=args.people)
        score = lambda path: detector.detect(path).to_dict()  # noqa: E731
        if annotate or report:
            from tfdeepfake.cli.visuals import visual_scorer

            score = visual_scorer(detector, annotate, report)
    results = []
    with progress(len(paths), "video", not args.json and not args.quiet and len(paths) > 1) as bar:
        for path in paths:
            verdict = score(path)
            results.append(verdict)
            bar.update(1)
            if not args.json:
                bar.write(_verdict_line(verdict, path) + outputs_line(verdict)
                          + _people_lines(verdict))
            for error in verdict.get("output_errors", ()):
                print(f"tfdeepfake detect: {error}", file=sys.stderr)
    if args.json:
        print(json.dumps(results, default=str))
    if not any(r["verdict"] in ("real", "fake") for r in results):
        return 1
    # The verdicts are out; an --annotate or --report output asked for is missing.
    return 2 if any(r.get("output_errors") for r in results) else 0


def _detect_on_beam(args, beam, paths, visuals: bool) -> int:
    if args.tflite or visuals:
        raise CommandError("--runner scores with --model; --tflite, --annotate and --report run "
                           "locally")
    if not args.output:
        raise CommandError("--runner needs --output FILE.jsonl (verdicts are appended; a rerun "
                           "skips videos already judged there)")
    counts, counters = beam.run_beam_detect(
        paths, args.output, beam.DetectorFromFolder(model_folder(args), args.classifier, args.threshold,
                                                    args.facenet_weights, people=args.people),
        runner=args.runner, workers=args.workers, beam_options=args.beam_option or ())
    emit(args, {**counts, "output": str(args.output), "runner": args.runner,
                "beam_counters": counters},
         f"detect: {counts['videos']} videos, {counts['done']} scored, {counts['skipped']} "
         f"already in {args.output}" + beam_counter_lines(counters))
    # The local path's rule: a run in which no video got a verdict is a failure.
    return 0 if counts["verdicts"] else 1


def add_detect(sub, parents) -> None:
    p = sub.add_parser("detect", parents=parents, help="real or fake? for videos or folders of videos",
                       description="Per video: verdict (real/fake, or unknown with a reason when no "
                                   "face is found or the file cannot be read), fake probability "
                                   "(the model's aggregation of frame probabilities; the poster: "
                                   "mean), frames sampled, faces found, seconds. A bad video never "
                                   "stops the others.",
                       epilog=DETECT_EXIT_STATUS)
    p.add_argument("videos", nargs="+", help="video files or folders")
    p.add_argument("--model", type=Path, help=MODEL_HELP)
    p.add_argument("--tflite", type=Path, help="TFLite folder from `export` (<out>/tflite): MTCNN and "
                                               "the face model run on the TFLite runtime")
    p.add_argument("--tflite-variant", dest="tflite_variant",
                   default=TFLITE_VARIANTS[0], choices=TFLITE_VARIANTS,
                   help="which TFLite face model with --tflite (default: %(default)s)")
    # Once an alias of --tflite-variant, which users took for the model's variant
    # (--classifier): kept only to say which of the two they mean.
    p.add_argument("--variant", dest="old_variant", help=argparse.SUPPRESS)
    p.add_argument("--classifier", help="the model's variant (triplet: knn, sgd or rf; default: the model's)")
    p.add_argument("--threshold", type=float, help="default: the model's")
    p.add_argument("--people", action="store_true",
                   help="judge every person seen in at least a fifth of the frames with faces, "
                        "each on their own (the largest face is person 1); the video's verdict "
                        "is that of the person who looks most fake. Each extra person is one "
                        "more chance to call a genuine video fake: the threshold bounds false "
                        "alarms per person, not per video. With --annotate or --report they "
                        "show the person the verdict is about")
    p.add_argument("--facenet-weights", type=Path, help="FaceNet weights, if not in keras-facenet's cache")
    p.add_argument("--annotate", type=Path, metavar="OUT",
                   help="write the video with each sampled frame's face box coloured by its fake "
                        "probability, the running video score and the verdict (H.264, same fps "
                        "and length): OUT.mp4 for one video, else a folder; never the input "
                        "itself, nor an existing file without --overwrite")
    p.add_argument("--overwrite", action="store_true",
                   help="let --annotate replace existing files (the copy is written under a "
                        "temporary name and renamed when whole)")
    p.add_argument("--report", type=Path, metavar="DIR",
                   help="per video a folder DIR/<name>/ with frames.png (frame probability over "
                        "time), faces.png (the scored faces), heatmap.png (Grad-CAM for "
                        "xception, occlusion for triplet) and verdict.json")
    p.add_argument("--json", action="store_true", help="print a JSON list")
    g = p.add_argument_group("at scale (Apache Beam)")
    g.add_argument("--output", type=Path, metavar="FILE.jsonl",
                   help="with --runner: append one verdict per line here (a rerun skips the "
                        "videos that have a real or fake verdict in it, by resolved path, and "
                        "scores the unknown ones again, replacing their lines)")
    g.add_argument("--workers", type=int, default=1,
                   help="with --runner direct: worker processes (default: %(default)s)")
    add_beam_options(g, "one model load per worker")
    p.set_defaults(func=cmd_detect)


def cmd_calibrate(args) -> int:
    from tfdeepfake.detect import expand_video_paths
    from tfdeepfake.detectors.calibrate import calibrate_model

    if (args.output is None) == (not args.in_place):
        raise CommandError("give -o NEW_FOLDER (a calibrated copy) or --in-place")
    if not 0.0 < args.false_positive_rate < 1.0:  # NaN too; checked before any video is read
        raise CommandError(f"--false-positive-rate must be in (0, 1), got {args.false_positive_rate}")
    # expand_video_paths yields a folder with no video as itself (detect reports it as
    # unknown); here it would be counted as a real video ("1 real videos"): it gets a "left
    # out" line instead.
    found = list(expand_video_paths(args.videos))
    paths = [p for p in found if not p.is_dir()]
    folders = [{"path": str(p), "reason": "a folder with no video file in it"}
               for p in found if p.is_dir()]
    if not paths:
        raise CommandError("no video files found in " + ", ".join(map(str, args.videos)))
    with progress(len(paths), "video", not args.json and not args.quiet and len(paths) > 1) as bar:
        result = calibrate_model(args.model, paths, args.false_positive_rate, out_dir=args.output,
                                 facenet_weights=args.facenet_weights,
                                 on_video=lambda path: bar.update(1))
    result["skipped"] = folders + result["skipped"]
    lines = [f"calibrate: {result['real_videos']} real videos -> {result['model']}"]
    for t in result["thresholds"]:
        lines.append(f"  {t['variant']}: threshold {t['previous']:.3f} -> {t['threshold']:.7g}; "
                     f"real videos called fake {t['flagged_before']}/{t['n']} -> "
                     f"{t['flagged']}/{t['n']}; on new real videos like these at most "
                     f"{t['bound']:.1%}")
        if t["tied"] > 1:
            lines.append(f"    {t['tied']} real videos tie at the boundary score "
                         f"{t['boundary']:.7g}: all called real, so fewer are flagged here than "
                         "the bound allows")
    lines += [f"  left out {s['path']}: {s['reason']}" for s in result["skipped"]]
    lines.append("  exports made before this (SavedModel, TFLite) keep the old threshold: "
                 "re-export the calibrated model (`tfdeepfake export`)")
    emit(args, result, "\n".join(lines))
    return 0


def add_calibrate(sub, parents) -> None:
    p = sub.add_parser("calibrate", parents=parents,
                       help="thresholds from genuine videos of the footage the model will judge",
                       description="Score videos known to be REAL, of the kind the model will see, "
                                   "and set each variant's threshold so that at most "
                                   "--false-positive-rate of new real videos like them are called "
                                   "fake ((k+1)/(n+1), split-conformal). Needs no fakes; says "
                                   "nothing about how many fakes are still caught.")
    p.add_argument("videos", nargs="+", help="real video files or folders")
    p.add_argument("--model", type=Path, required=True, help="model folder")
    p.add_argument("-o", "--output", type=Path, help="write a calibrated copy of the model here")
    p.add_argument("--in-place", action="store_true", help="change the model folder itself")
    p.add_argument("--false-positive-rate", type=float, default=0.1,
                   help="bound on real videos called fake (default: %(default)s; needs at "
                        "least 1/rate - 1 videos)")
    p.add_argument("--facenet-weights", type=Path, help="FaceNet weights, if not in keras-facenet's cache")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_calibrate)
