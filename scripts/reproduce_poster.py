#!/usr/bin/env python
"""Regenerate the poster's tables: ``python scripts/reproduce_poster.py --celebdf-v1 ROOT
--celebdf-v2 ROOT -o OUT`` (or ``--quick -o OUT`` for a smoke test on generated videos).

A thin wrapper around ``tfdeepfake.reproduce.reproduce`` with the options of the
``tfdeepfake reproduce`` command. Rerun the same command after an interruption to continue.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Run the poster's four experiments (XceptionNet on Celeb-DF, LSTM + frames, "
                    "XceptionNet on 30k frames of Celeb-DF + v2, FaceNet + triplet metric "
                    "learning) and write OUT/poster_tables.md with the poster's numbers beside "
                    "ours. Every step skips work already done, so rerunning continues.")
    parser.add_argument("--celebdf-v1", type=Path, metavar="ROOT",
                        help="Celeb-DF (v1) folder: Celeb-real/, YouTube-real/, Celeb-synthesis/, "
                             "List_of_testing_videos.txt")
    parser.add_argument("--celebdf-v2", type=Path, metavar="ROOT", help="Celeb-DF-v2 folder")
    parser.add_argument("-o", "--output", type=Path, required=True, help="output folder")
    parser.add_argument("--facenet-weights", type=Path, metavar="PATH",
                        help="keras-facenet's 20180402-114759-weights.h5 (default: its cache "
                             "~/.keras-facenet; random init, reported as such, when absent)")
    parser.add_argument("--xception-weights", metavar="PATH",
                        help="'imagenet' or Keras' Xception no-top ImageNet file "
                             "(default: random init, reported as such)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke test on generated videos in a few minutes; NOT a reproduction")
    parser.add_argument("--workers", type=int, default=1, help="face-extraction processes (default: 1)")
    parser.add_argument("--strategy", choices=("default", "mirrored", "multiworker"), default="default",
                        help="tf.distribute strategy for Xception/LSTM training (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="seed for splits, models and data (default: 0)")
    parser.add_argument("--only", metavar="NAME", action="append",
                        help="run only this experiment (repeatable): xception_celebdf, lstm_celebdf, "
                             "xception_merged, facenet_triplet_merged")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug log output")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not args.quick and args.celebdf_v1 is None:
        print("reproduce_poster: give --celebdf-v1 ROOT and --celebdf-v2 ROOT (the merged "
              "experiments need both), or --quick", file=sys.stderr)
        return 2
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    for noisy in ("tensorflow", "absl", "h5py", "matplotlib"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

    from tfdeepfake.reproduce import reproduce

    try:
        summary = reproduce(args.celebdf_v1, args.celebdf_v2, args.output,
                            facenet_weights=args.facenet_weights, quick=args.quick,
                            workers=args.workers, strategy=args.strategy, seed=args.seed,
                            xception_weights=args.xception_weights, experiments=args.only)
    except KeyboardInterrupt:
        print(f"interrupted: finished work is saved in {args.output}; run the same command "
              "again to continue", file=sys.stderr)
        return 130
    except (ValueError, OSError, RuntimeError) as error:
        print(f"reproduce_poster: {error}", file=sys.stderr)
        return 2
    print(Path(summary["tables"]).read_text("utf-8"))
    print(f"tables -> {summary['tables']}\neverything -> {summary['json']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
