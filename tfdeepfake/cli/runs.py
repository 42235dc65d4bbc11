"""Sub-commands that run whole pipelines: demo and reproduce."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tfdeepfake.cli.common import CommandError
from tfdeepfake.constants import DEFAULT_SEED


def _add_facenet_model(parser) -> None:
    from tfdeepfake.models.facenet_specs import FACENET_MODELS

    parser.add_argument("--facenet-model", choices=tuple(FACENET_MODELS),
                        help="FaceNet model key (default: the poster's 512-d model when its weights "
                             "are present, else the installed 128-d one)")


def cmd_demo(args) -> int:
    from tfdeepfake.demo import DemoConfig, run_demo

    config = DemoConfig(facenet_model=args.facenet_model, facenet_weights=args.facenet_weights,
                        force_random_init=args.random_init,
                        seed=args.seed, **({"num_real": 6, "num_fake": 6, "epochs": 10}
                                           if args.small else {}))
    # With --json only the summary goes to stdout; progress lines go to stderr.
    say = (lambda line: print(line, file=sys.stderr)) if args.json else print
    summary = run_demo(args.output, config, say=say)
    if args.json:
        print(json.dumps(summary, default=str))
    return 0


def add_demo(sub, parents) -> None:
    p = sub.add_parser("demo", parents=parents, help="the whole pipeline on generated videos, in minutes",
                       description="Generates labelled videos from face photos that installed "
                                   "packages ship (real: moving shots; fake: landmark-aligned face "
                                   "swaps), then runs index, extract, embed, train triplet, "
                                   "evaluate and detect, and writes a report. A demonstration, "
                                   "not a benchmark. Uses the pretrained FaceNet that `tfdeepfake "
                                   "weights install` put in keras-facenet's cache, random init "
                                   "otherwise, and says which in its first and last lines.")
    p.add_argument("-o", "--output", type=Path, default=Path("demo_output"))
    p.add_argument("--small", action="store_true", help="fewer videos and epochs (CI)")
    _add_facenet_model(p)
    p.add_argument("--facenet-weights", type=Path, help="FaceNet weights, if not in keras-facenet's cache")
    p.add_argument("--random-init", action="store_true", help="ignore available FaceNet weights")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED)
    p.add_argument("--json", action="store_true", help="print only the JSON summary on stdout")
    p.set_defaults(func=cmd_demo)


def cmd_reproduce(args) -> int:
    from tfdeepfake.experiments import reproduce

    if not args.quick and args.celebdf_v1 is None:
        raise CommandError("give --celebdf-v1 ROOT and --celebdf-v2 ROOT (the merged experiments "
                           "need both), or --quick")
    try:
        summary = reproduce(args.celebdf_v1, args.celebdf_v2, args.output,
                            facenet_weights=args.facenet_weights, facenet_model=args.facenet_model,
                            quick=args.quick,
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


def add_reproduce(sub, parents) -> None:
    from tfdeepfake.experiments.config import EXPERIMENTS
    from tfdeepfake.constants import STRATEGIES

    p = sub.add_parser("reproduce", parents=parents,
                       help="the poster's experiments and Measures tables, ours beside theirs",
                       description="Run the poster's four experiments (Xception on Celeb-DF, LSTM + "
                                   "frames, Xception on 30k frames of Celeb-DF + v2, FaceNet + triplet "
                                   "metric learning) from index to evaluation and write "
                                   "OUT/poster_tables.md with the poster's numbers beside ours. Every "
                                   "step reuses work already done, so rerunning continues.")
    p.add_argument("--celebdf-v1", type=Path, metavar="ROOT", help="Celeb-DF (v1) folder")
    p.add_argument("--celebdf-v2", type=Path, metavar="ROOT", help="Celeb-DF-v2 folder")
    p.add_argument("-o", "--output", type=Path, required=True)
    _add_facenet_model(p)
    p.add_argument("--facenet-weights", type=Path, metavar="PATH")
    p.add_argument("--xception-weights", metavar="PATH", help="'imagenet' or a local no-top file")
    p.add_argument("--quick", action="store_true",
                   help="smoke test on generated videos in a few minutes; NOT a reproduction")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--strategy", choices=STRATEGIES, default=STRATEGIES[0])
    p.add_argument("--seed", type=int, default=DEFAULT_SEED)
    p.add_argument("--only", metavar="NAME", action="append", choices=EXPERIMENTS,
                   help="run only this experiment (repeatable): " + ", ".join(EXPERIMENTS))
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_reproduce)
