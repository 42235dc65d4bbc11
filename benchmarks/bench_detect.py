"""`detect` latency per video after the model is loaded, by resolution.

    python benchmarks/bench_detect.py [--model saved_models/<name>] [--random-init] [--repeat 3]

Without --model it writes a triplet model folder with the triplet detector's own code
(`save_triplet_model`): the real FaceNet (`load_facenet()`) when its weights are installed
(`tfdeepfake weights install`), else a randomly initialised one (`--random-init` forces
it), the poster's head (Dense 256-256-128 -> 64) and a classifier fitted on random head
outputs. The networks, shapes and arithmetic are those of a trained model, so the latency
is the same; the verdicts mean nothing. The table says which FaceNet ran. Videos:
generated 10-s H.264 clips at 480p, 720p and 1080p and a 298x298 clip, plus
../shared/data/videos when present.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

# Run as a script, this folder is on sys.path.
from bench_extract import CACHE, SHARED_VIDEOS, generated_videos, shared_videos  # noqa: E402


def square_clip() -> Path:
    """A 298x298 10-s clip, the size of many cropped-face datasets."""
    from tfdeepfake.synthetic.photos import load_photo
    from tfdeepfake.synthetic.videos import make_face_video

    path = CACHE / "bench_298x298_10s.mp4"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        make_face_video(load_photo("astronaut"), path, seconds=10.0, fps=30.0, size=(298, 298), seed=0,
                        face_fraction=0.6)
    return path


def bench_model(directory: Path, *, random_init: bool = False, classifier: str = "rf",
                faces: np.ndarray | None = None, seed: int = 0):
    """A triplet model folder for benchmarks: ``(folder, embedder)``.

    FaceNet is ``load_facenet()`` when weights are installed (else, or with
    ``random_init``, seeded random weights); ``classifier`` (the detector's usual
    parameters) is fitted on the head outputs of ``faces`` with alternating labels, or on
    random unit vectors when no faces are given.
    """
    from tfdeepfake.classifiers import make_classifier
    from tfdeepfake.detectors.triplet import CLASSIFIER_PARAMS, save_triplet_model
    from tfdeepfake.faces.settings import FaceSettings
    from tfdeepfake.models.facenet import WeightsNotFoundError, load_facenet
    from tfdeepfake.models.triplet_head import build_triplet_head

    embedder = None
    if not random_init:
        try:
            embedder = load_facenet()
        except WeightsNotFoundError as error:
            print(f"NOTE: {error}; using a random-init FaceNet", file=sys.stderr)
    if embedder is None:
        embedder = load_facenet(random_init=True, seed=seed)
    head = build_triplet_head(embedder.embedding_dim, (256, 256, 128), 64, seed=seed)
    rng = np.random.RandomState(seed)
    if faces is not None:
        outputs = np.asarray(head(embedder.embed(faces), training=False), np.float32)
    else:
        outputs = rng.normal(size=(200, 64)).astype(np.float32)
        outputs /= np.linalg.norm(outputs, axis=1, keepdims=True)
    labels = np.arange(len(outputs)) % 2
    clf = make_classifier(classifier, **CLASSIFIER_PARAMS[classifier])
    if "seed" in clf.get_params():
        clf.set_params(seed=seed)
    folder = save_triplet_model(directory, face_settings=FaceSettings(), facenet=embedder.identity.to_dict(),
                                head=head, classifiers={classifier: clf.fit(outputs, labels)},
                                default_classifier=classifier, seed=seed,
                                data={"note": "benchmark model: random head, classifier on unrelated data"})
    return folder, embedder


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, help="model folder to load (default: a benchmark triplet model)")
    parser.add_argument("--facenet-weights", type=Path, help="FaceNet weights for --model")
    parser.add_argument("--random-init", action="store_true", help="benchmark model: random-init FaceNet")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--resolutions", default="480p,720p,1080p")
    parser.add_argument("--no-shared", action="store_true")
    args = parser.parse_args(argv)

    from tfdeepfake.detect import VideoDetector
    from tfdeepfake.detectors import load_detector
    from tfdeepfake.video.reader import probe_video

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        if args.model:
            detector = VideoDetector(args.model, facenet_weights=args.facenet_weights)
        else:
            folder, embedder = bench_model(Path(tmp) / "bench-model", random_init=args.random_init)
            detector = VideoDetector(load_detector(folder, embedder=embedder))
        load_seconds = time.perf_counter() - t0
        videos = [square_clip()] + generated_videos([r for r in args.resolutions.split(",") if r])
        if not args.no_shared:
            videos += shared_videos()
        rows = []
        for path in videos:
            times, verdict = [], None
            for _ in range(args.repeat):
                verdict = detector.detect(path)
                times.append(verdict.seconds)
            name = path.name if path.parent == CACHE else str(path.relative_to(SHARED_VIDEOS))
            info = probe_video(path)
            rows.append([name, f"{info.width}x{info.height}", f"{statistics.median(times):.2f}",
                         f"{min(times):.2f}", f"{verdict.faces_found}/{verdict.frames_sampled}", verdict.verdict])
            print("  ".join(rows[-1]), file=sys.stderr)

    header = ["video", "WxH", "median s", "best s", "faces", "verdict"]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    fmt = "| " + " | ".join(f"{{:{w}}}" for w in widths) + " |"
    what = f"{detector.detector.name} ({detector.facenet or 'no FaceNet'})"
    kind = f"{args.model}: {what}" if args.model else f"benchmark {what}, random head (latency only; verdicts meaningless)"
    print(f"\ndetect benchmark: model {kind}; load {load_seconds:.1f} s; {args.repeat} runs per video; "
          f"{os.cpu_count()} CPUs\n")
    print(fmt.format(*header))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        print(fmt.format(*row))
    return 0


if __name__ == "__main__":
    sys.exit(main())
