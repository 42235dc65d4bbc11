"""FaceNet on one video's faces: Keras (what `detect --model` runs) against TFLite builds of
the same network (XNNPACK), float32, float16 and dynamic-range int8, on 1 and 2 threads.

    python benchmarks/bench_facenet.py [--faces 25] [--repeat 5]

FaceNet is the floor under `detect`'s latency on small videos: the ≤ 0.4 s target for a
298x298 clip cannot be met while 25 faces through FaceNet take longer than that.
Uses the installed pretrained weights (`tfdeepfake weights install`), else random ones
(same arithmetic, same time); the faces are random pixels (time does not depend on them).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402


def _median_seconds(run, repeat: int) -> float:
    run()  # warm-up: tracing, allocation
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _tflite_runner(content: bytes, faces: np.ndarray, threads: int):
    import tensorflow as tf

    interpreter = tf.lite.Interpreter(model_content=content, num_threads=threads)
    index = interpreter.get_input_details()[0]["index"]
    interpreter.resize_tensor_input(index, list(faces.shape))
    interpreter.allocate_tensors()
    x = faces.astype(np.float32)

    def run():
        interpreter.set_tensor(index, x)
        interpreter.invoke()
    return run


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--faces", type=int, default=25)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)

    import tensorflow as tf

    from tfdeepfake.models.facenet import WeightsNotFoundError, load_facenet

    try:
        embedder = load_facenet()
    except WeightsNotFoundError as error:
        print(f"NOTE: {error}; random weights (same time)", file=sys.stderr)
        embedder = load_facenet(random_init=True)
    size = embedder.input_size
    faces = np.random.RandomState(0).randint(0, 256, (args.faces, size, size, 3)).astype(np.uint8)
    rows = [("Keras (detect --model)", "TF threads",
             _median_seconds(lambda: embedder.embed(faces), args.repeat))]
    builds = {"float32": [], "float16": [tf.float16], "dynamic int8": None}
    for name, types in builds.items():
        converter = tf.lite.TFLiteConverter.from_keras_model(embedder.model)
        if name != "float32":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if types:
            converter.target_spec.supported_types = types
        content = converter.convert()
        for threads in (1, 2):
            rows.append((f"TFLite {name}", str(threads),
                         _median_seconds(_tflite_runner(content, faces, threads), args.repeat)))
    keras_seconds = rows[0][2]
    print(f"\nFaceNet ({embedder.identity.label()}), {args.faces} faces of {size} px, median of "
          f"{args.repeat}; {os.cpu_count()} CPUs\n")
    print("| build | threads | seconds | faces/s | vs Keras |")
    print("|---|---|---|---|---|")
    for name, threads, seconds in rows:
        print(f"| {name} | {threads} | {seconds:.3f} | {args.faces / seconds:.0f} | "
              f"{keras_seconds / seconds:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
