"""Benchmark the exported detector: TFLite variant sizes, parity and latency on CPU threads.

    python benchmarks/bench_export.py [--threads 2] [--classifier sgd] [--random-init] [--out DIR]

The model is a triplet model folder written as `bench_detect.py` writes it: the real
FaceNet (`load_facenet()`) when its weights are installed, else (or with `--random-init`)
InceptionResNetV1 with RANDOM weights; the output says which. Sizes and latencies are those
of the real architecture either way; parity numbers show what quantisation does to this
graph. The head is the poster's Dense 256-256-128 -> 64 + L2 (random weights); the
classifier is fitted on the head outputs of synthetic faces. The graph exported is the one
`tfdeepfake export` builds (`tfdeepfake.export.from_model.face_scorer`).

Prints one table: per variant the file size, max |probability difference| and verdict
agreement against Keras, the lowest embedding cosine, and the median latency per face
(batch 1) and per video (a batch of 25 faces). A second table times the TFLite MTCNN
(numpy cascade) against the mtcnn package on a 640 px frame.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402


def synthetic_faces(n: int, seed: int) -> np.ndarray:
    """Smooth random RGB 'faces' (upsampled noise), uint8 [n, 160, 160, 3]."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, size=(n, 10, 10, 3)).astype(np.float32)
    faces = np.repeat(np.repeat(small, 16, axis=1), 16, axis=2)
    faces += rng.normal(scale=12, size=faces.shape)
    return np.clip(faces, 0, 255).astype(np.uint8)


def median_ms(fn, repeats: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times))


def bench_mtcnn(out_dir: Path, threads: int, repeats: int) -> list[tuple[str, float]]:
    import cv2
    from skimage import data

    from tfdeepfake.export.mtcnn_tflite import export_mtcnn_tflite
    from tfdeepfake.lite.mtcnn import LiteMTCNN

    mtcnn_dir = out_dir / "mtcnn"
    export_mtcnn_tflite(mtcnn_dir)
    frame = cv2.resize(data.astronaut(), (640, 640), interpolation=cv2.INTER_LINEAR)
    rows = []
    for resize in ("exact", "opencv"):
        lite = LiteMTCNN(mtcnn_dir, num_threads=threads, pyramid_resize=resize)
        rows.append((f"TFLite MTCNN (numpy, {resize} pyramid)", median_ms(lambda: lite.detect(frame), repeats)))
    from mtcnn import MTCNN

    ref = MTCNN()
    rows.append(("mtcnn package (TensorFlow)", median_ms(lambda: ref.detect_faces(frame), repeats)))
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--classifier", choices=["sgd", "knn", "rf"], default="sgd")
    parser.add_argument("--variants", default="float32,float16,dynamic_int8,int8")
    parser.add_argument("--train-faces", type=int, default=64, help="synthetic faces to fit the classifier")
    parser.add_argument("--calibration", type=int, default=32, help="representative faces for int8")
    parser.add_argument("--eval-faces", type=int, default=25)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-mtcnn", action="store_true", help="skip the MTCNN timing")
    parser.add_argument("--random-init", action="store_true", help="random-init FaceNet even when weights are installed")
    parser.add_argument("--out", type=Path, default=None, help="keep the models here (default: temp dir)")
    args = parser.parse_args(argv)

    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)

    # Run as a script, this folder is on sys.path.
    from bench_detect import bench_model

    from tfdeepfake.detectors import load_detector
    from tfdeepfake.export.from_model import face_scorer
    from tfdeepfake.export.tflite import write_scorer_tflite
    from tfdeepfake.lite.interpreter import LiteModel, runtime_name
    from tfdeepfake.provenance import package_versions

    out_dir = args.out or Path(tempfile.mkdtemp(prefix="bench_export_"))
    variants = [v for v in args.variants.split(",") if v]
    train = synthetic_faces(args.train_faces, args.seed)
    folder, embedder = bench_model(out_dir / "model", random_init=args.random_init,
                                   classifier=args.classifier, faces=train, seed=args.seed)
    label = embedder.identity.label()
    if embedder.identity.random_init:
        print(f"NOTE: {label}: sizes and latencies are the real architecture's; parity is for this random graph.")
    scorer = face_scorer(load_detector(folder, embedder=embedder))
    eval_faces = synthetic_faces(args.eval_faces, args.seed + 100)

    start = time.perf_counter()
    paths = write_scorer_tflite(
        out_dir / "tflite", scorer, variants=variants,
        representative_faces=train, eval_faces=eval_faces, num_calibration=args.calibration, seed=args.seed,
    )
    convert_s = time.perf_counter() - start
    parity = json.loads((out_dir / "tflite" / "parity.json").read_text())

    keras_fn = tf.function(lambda f: scorer.score(f)[0], input_signature=[scorer.faces_spec()])
    one, video = eval_faces[:1], eval_faces[: min(25, len(eval_faces))]
    rows = [("keras (TF, float32)", None, None, None, None,
             median_ms(lambda: keras_fn(tf.constant(one)), args.repeats),
             median_ms(lambda: keras_fn(tf.constant(video)), args.repeats))]
    for variant, path in paths.items():
        model = LiteModel(path, num_threads=args.threads)
        p = parity[variant]
        rows.append((
            variant, p["size_bytes"] / 2**20, p["max_abs_diff"], p["verdict_agreement"], p["min_embedding_cosine"],
            median_ms(lambda: model(faces=one), args.repeats),
            median_ms(lambda: model(faces=video), args.repeats),
        ))

    print(f"\n{label}, classifier {args.classifier}, {args.threads} threads, runtime {runtime_name()}, "
          f"{len(eval_faces)} eval faces, conversion {convert_s:.0f} s, models in {out_dir}")
    header = f"{'variant':<22}{'size MB':>9}{'max |dp|':>11}{'agree':>7}{'min cos':>9}{'ms/face':>9}{'ms/video(25)':>14}"
    print(header)
    print("-" * len(header))
    for name, size, dp, agree, cos, face_ms, video_ms in rows:
        fmt = lambda v, f: format(v, f) if v is not None else "-"  # noqa: E731
        print(f"{name:<22}{fmt(size, '.2f'):>9}{fmt(dp, '.2e'):>11}{fmt(agree, '.3f'):>7}{fmt(cos, '.4f'):>9}"
              f"{face_ms:>9.1f}{video_ms:>14.1f}")

    if not args.no_mtcnn:
        print(f"\nface detection, one 640x640 frame (astronaut), {args.threads} threads")
        for name, ms in bench_mtcnn(out_dir, args.threads, args.repeats):
            print(f"{name:<42}{ms:>9.1f} ms/frame   x25 frames: {25 * ms / 1000:.2f} s/video")
    versions = package_versions()
    print(f"\nversions: tensorflow {versions.get('tensorflow')}, numpy {versions.get('numpy')}, seed {args.seed}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
