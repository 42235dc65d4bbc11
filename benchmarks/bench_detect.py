"""`detect` latency per video after the model is loaded, by resolution.

    python benchmarks/bench_detect.py [--model saved_models/<name>] [--repeat 3]

Without --model it builds a bundle around a randomly initialised FaceNet (no weights can be
downloaded here): the networks, shapes and arithmetic are those of the real model, so the
latency is the same; the verdicts mean nothing. Videos: generated 10-s H.264 clips at
480p, 720p and 1080p and a 298x298 clip, plus ../shared/data/videos when present.
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


def random_init_bundle(directory: Path) -> Path:
    from tfdeepfake.bundle import save_bundle
    from tfdeepfake.faces.settings import FaceSettings
    from tfdeepfake.classifiers import make_classifier
    from tfdeepfake.models.facenet import build_facenet_embedder
    from tfdeepfake.models.triplet_head import build_triplet_head

    embedder = build_facenet_embedder(random_init=True, seed=0)
    head = build_triplet_head()
    rng = np.random.RandomState(0)
    x, y = rng.normal(size=(200, 64)), np.repeat([0, 1], 100)
    return save_bundle(directory, extract_config=FaceSettings(), embedder=embedder, head=head,
                       head_config={"input_dim": 512, "hidden_units": [256, 256, 128], "embedding_dim": 64},
                       classifiers={"rf": make_classifier("rf").fit(x, y)}, default_classifier="rf")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, help="bundle to load (default: a random-init bundle)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--resolutions", default="480p,720p,1080p")
    parser.add_argument("--no-shared", action="store_true")
    args = parser.parse_args(argv)

    from tfdeepfake.detect import DeepfakeDetector
    from tfdeepfake.video.reader import probe_video

    with tempfile.TemporaryDirectory() as tmp:
        model = args.model or random_init_bundle(Path(tmp) / "random-init")
        t0 = time.perf_counter()
        detector = DeepfakeDetector(model)
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
    kind = "random-init FaceNet (latency only; verdicts meaningless)" if not args.model else str(args.model)
    print(f"\ndetect benchmark: model {kind}; load {load_seconds:.1f} s; {args.repeat} runs per video; "
          f"{os.cpu_count()} CPUs\n")
    print(fmt.format(*header))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        print(fmt.format(*row))
    return 0


if __name__ == "__main__":
    sys.exit(main())
