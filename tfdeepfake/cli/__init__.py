"""The `tfdeepfake` command. Nothing imports this package; it imports each stage lazily so
`--help` and light sub-commands start without loading TensorFlow."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import warnings

from tfdeepfake import __version__
from tfdeepfake.cli import adapt, data, models, runs, serve
from tfdeepfake.cli.common import CommandError, verbosity_parent

logger = logging.getLogger("tfdeepfake")

# The order of `--help`: the pipeline's own order.
_COMMANDS = (data.add_index, data.add_extract, data.add_weights, data.add_embed, models.add_train,
             models.add_evaluate, models.add_calibrate, adapt.add_adapt, models.add_detect, models.add_export, models.add_explain,
             serve.add_serve, models.add_convert_model, runs.add_reproduce, runs.add_demo)


def configure_logging(verbosity: int) -> None:
    level = {-1: logging.WARNING, 0: logging.INFO}.get(verbosity, logging.DEBUG)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    # 3: TensorFlow's C++ start-up errors about CUDA plugins are noise on a CPU machine.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    # TFA's end-of-life banner; the README states the pin and why.
    warnings.filterwarnings("ignore", message=r"(?s).*TensorFlow Addons \(TFA\) has ended development")
    # TensorFlow and its add-ons are chatty at INFO; their warnings still show.
    for noisy in ("tensorflow", "absl", "h5py"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
    if verbosity < 0:
        # -q: FFmpeg's and OpenCV's own warnings too (they print from C, past Python logging).
        # Worker processes inherit the environment; FFmpeg's level is read when the first
        # video opens.
        os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
        os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
        # OpenCV reads its own level once, at import, and building the options may have
        # imported it already (cap.cpp's "[ WARN:0@...]" lines).
        cv2 = sys.modules.get("cv2")
        if cv2 is not None and hasattr(cv2, "setLogLevel") and \
                os.environ["OPENCV_LOG_LEVEL"].upper() == "ERROR":
            cv2.setLogLevel(2)  # ERROR


def build_parser(*, detailed_train: bool = True) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tfdeepfake",
        description="Tell real face videos from deepfakes: FaceNet embeddings, semi-hard triplet "
                    "metric learning and KNN/SGD/RF classifiers (the poster 'Model to Detect Deep "
                    "Fakes'), with Xception/LSTM baselines and TF Serving/TFLite export.")
    parser.add_argument("--version", action="version", version=f"tfdeepfake {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    parser.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    parents = [verbosity_parent()]
    for add in _COMMANDS:
        if add is models.add_train:
            add(sub, parents, detailed=detailed_train)
        else:
            add(sub, parents)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(detailed_train="train" in argv)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    configure_logging(-1 if args.quiet else args.verbose)
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


__all__ = ["CommandError", "build_parser", "main"]
