"""The bundled default model: Keras against its TFLite exports, and its speed against the
poster's triplet detect on the same videos.

    python benchmarks/bench_default_model.py [--export DIR] [--triplet saved_models/<name>]
                                             [--no-parity]

On a chosen subset of ../shared/data/videos (every FF++ c23 and DFDC clip, the first 8
modern fakes and the first 8 `real_more/` videos by name: classic, generated and genuine,
480p to 1080p), prints per TFLite variant the largest and mean |video probability change|
against `detect` with the Keras model and the verdicts that flip at the model's threshold;
then the median seconds per video of `detect` with the default model and with a triplet
model (--triplet, or bench_detect's benchmark triplet model on the real FaceNet), and with
the default model judging every person (``detect --people``), run interleaved in this
process (issue 20 asks for at most 1.3x); last, where the model's scoring time goes (its
FaceNet passes timed alone on 25 random crops). The export is made into a temporary folder when --export is not given (float32 and
float16; about 3 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from bench_detect import table  # noqa: E402
from bench_extract import SHARED_VIDEOS  # noqa: E402

VARIANTS = ("float32", "float16")


def chosen_videos(root: Path) -> list[Path]:
    classic = sorted(root.glob("ffpp_c23/*/*.mp4")) + sorted(root.glob("dfdc/*/*.mp4"))
    return classic + sorted(root.glob("fake_modern/*.mp4"))[:8] + sorted(root.glob("real_more/*.mp4"))[:8]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--videos", type=Path, default=SHARED_VIDEOS)
    parser.add_argument("--export", type=Path, help="an export of the default model (tflite/ inside)")
    parser.add_argument("--triplet", type=Path, help="a triplet model folder to time against")
    parser.add_argument("--no-parity", action="store_true", help="timing only")
    args = parser.parse_args(argv)
    if not args.videos.is_dir():
        print(f"skipped: no videos at {args.videos}")
        return 0
    from tfdeepfake.detect import VideoDetector
    from tfdeepfake.detectors.default_model import default_model_dir

    videos = chosen_videos(args.videos)
    model = default_model_dir()
    keras_detector = VideoDetector(model)
    threshold = keras_detector.threshold
    if not args.no_parity:
        parity(args, model, videos, keras_detector, threshold)
    with tempfile.TemporaryDirectory() as tmp:
        if args.triplet:
            triplet = VideoDetector(args.triplet)
        else:
            from bench_detect import bench_model

            triplet = VideoDetector(bench_model(Path(tmp) / "triplet")[0])
        # --people shares the loaded model; it costs one more scoring pass per extra person.
        people = VideoDetector(keras_detector.detector, people=True)
        seconds = {"default": [], "default --people": [], "triplet": []}
        for v in videos:
            for name, detector in (("default", keras_detector), ("default --people", people),
                                   ("triplet", triplet)):
                started = time.perf_counter()
                detector.detect(v)
                seconds[name].append(time.perf_counter() - started)
    median = {k: float(np.median(s)) for k, s in seconds.items()}
    print(table(["detector", "median s / video", "ratio to triplet"],
                [[k, f"{m:.2f}", f"{m / median['triplet']:.2f}"] for k, m in median.items()]))
    print(table(["scoring 25 faces", "median s"], scoring_parts(keras_detector.detector.model)))
    return 0


def scoring_parts(model, faces: int = 25, repeats: int = 8) -> list[list[str]]:
    """Where the default model's scoring time goes: the whole network, and each of its
    FaceNet passes alone (the face's, whole; the mouth's square's, to the layer it is read
    at), on the same random crops."""
    import tensorflow as tf

    x = np.random.default_rng(0).integers(0, 256, (faces, 160, 160, 3)).astype(np.float32)
    standardised = model.get_layer("facenet_standardize")(x)
    parts = {"whole model": (model, x)}
    for layer in model.layers:  # the face's pass, and each region's to its own layer
        if layer.name == "facenet_trunk" or layer.name.startswith("facenet_texture_trunk"):
            parts[layer.name] = (layer, standardised)
    rows = []
    for name, (network, inputs) in parts.items():
        run = tf.function(lambda batch, network=network: network(batch, training=False))
        run(inputs)
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            run(inputs)
            times.append(time.perf_counter() - started)
        rows.append([name, f"{np.median(times):.2f}"])
    return rows


def parity(args, model, videos, keras_detector, threshold) -> None:
    from tfdeepfake.lite.detector import detect_video, open_export

    export = args.export
    if export is None:
        from tfdeepfake.export.from_model import export_model

        export = Path(tempfile.mkdtemp(prefix="default-export-"))
        export_model(model, export, formats=("tflite",), tflite_variants=VARIANTS)
    keras = {v: keras_detector.detect(v).fake_probability for v in videos}
    rows = []
    for variant in VARIANTS:
        lite = open_export(export / "tflite", variant=variant)
        probs = {v: detect_video(lite, v, variant)["fake_probability"] for v in videos}
        both = [v for v in videos if keras[v] is not None and probs[v] is not None]
        diff = np.abs([probs[v] - keras[v] for v in both])
        flips = sum((probs[v] >= threshold) != (keras[v] >= threshold) for v in both)
        rows.append([variant, str(len(both)), f"{diff.max():.4f}", f"{diff.mean():.4f}",
                     f"{flips}/{len(both)}"])
    print(f"default model {model}, threshold {threshold:.4f}, {len(videos)} videos")
    print(table(["TFLite variant", "videos", "max |dp|", "mean |dp|", "verdict flips"], rows))


if __name__ == "__main__":
    sys.exit(main())
