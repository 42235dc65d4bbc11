"""`detect` latency after loading, as a ratio to the straightforward pipeline run in the
same process, interleaved; face recall against full-resolution MTCNN; folder throughput.

    python benchmarks/bench_detect.py [--model saved_models/<name>] [--repeat 3] [--quick]

Without --model it writes a triplet model folder with the triplet detector's own code
(`save_triplet_model`): the real FaceNet (`load_facenet()`) when its weights are installed
(`tfdeepfake weights install`), else a randomly initialised one (`--random-init` forces
it), the poster's head (Dense 256-256-128 -> 64) and a classifier fitted on random head
outputs. The networks, shapes and arithmetic are those of a trained model, so the latency
is the same; the verdicts mean nothing. Videos: a 298x298 24-frame clip, generated 10-s
H.264 clips at 480p, 720p and 1080p, and ../shared/data/videos when present.

For each video: `detect` runs --repeat times with the baseline (benchmarks/bench_baseline.py:
seek to each of 25 frames, MTCNN on the full frame, FaceNet on the batch) run once between
them, so both see the same load. The ratio is baseline seconds / detect seconds (median),
for wall time and for CPU time of the process (on a machine shared with other work, CPU
seconds are the steadier of the two). Recall: frames where `detect` found a face against
frames where the baseline's full-resolution MTCNN did. Then every video once more through
`VideoDetector.detect_many` (the next video decoded and its faces found while one is scored) against one
`detect` after another, twice each in the order A B B A: folder throughput. --previous also times the face
path before key frames and retries (every frame at 270 px), in the same interleaving.
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


def square_clip(frames: int = 24) -> Path:
    """A 298x298 clip of ``frames`` frames, the size of many cropped-face datasets."""
    from tfdeepfake.synthetic.photos import load_photo
    from tfdeepfake.synthetic.videos import make_face_video

    path = CACHE / f"bench_298x298_{frames}f.mp4"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        make_face_video(load_photo("astronaut"), path, seconds=frames / 30.0, fps=30.0, size=(298, 298),
                        seed=0, face_fraction=0.6)
    return path


def video_class(width: int, height: int) -> str:
    short = min(width, height)
    kind = "<=300 px" if short <= 300 else "480p" if short <= 540 else "720p" if short <= 720 else "1080p"
    return kind + (" portrait" if height > width else "")


def benchmark_videos(resolutions: list[str], *, shared: bool = True, one_per_class: bool = False) -> list[Path]:
    """The 298x298 clip, generated clips at ``resolutions``, then ../shared/data/videos
    (all, or the first of each size class)."""
    videos = [square_clip()] + generated_videos(resolutions)
    if shared:
        found = shared_videos()
        if one_per_class:
            seen = set()
            found = [p for p in found if (c := video_class(*_size(p))) not in seen and not seen.add(c)]
        videos += found
    return videos


def table(header: list[str], rows: list[list]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    fmt = "| " + " | ".join(f"{{:{w}}}" for w in widths) + " |"
    lines = [fmt.format(*header), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    return "\n".join(lines + [fmt.format(*map(str, row)) for row in rows])


def bench_model(directory: Path, *, random_init: bool = False, classifier: str = "rf",
                faces: np.ndarray | None = None, seed: int = 0, face_settings=None):
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
    folder = save_triplet_model(directory, face_settings=face_settings or FaceSettings(), facenet=embedder.identity.to_dict(),
                                head=head, classifiers={classifier: clf.fit(outputs, labels)},
                                default_classifier=classifier, seed=seed,
                                data={"note": "benchmark model: random head, classifier on unrelated data"})
    return folder, embedder


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, help="model folder to load (default: a benchmark triplet model)")
    parser.add_argument("--facenet-weights", type=Path, help="FaceNet weights for --model")
    parser.add_argument("--random-init", action="store_true", help="benchmark model: random-init FaceNet")
    parser.add_argument("--repeat", type=int, default=3, help="detect runs per video (median)")
    parser.add_argument("--resolutions", default="480p,720p,1080p")
    parser.add_argument("--no-shared", action="store_true")
    parser.add_argument("--quick", action="store_true", help="generated clips and one shared video per class")
    parser.add_argument("--no-folder", action="store_true", help="skip the folder-throughput passes")
    parser.add_argument("--sampling", choices=("uniform", "first"), default="uniform",
                        help="benchmark model's frame sampling (first: the first 25 frames, the "
                             "reference code's choice; the baseline samples the same way)")
    parser.add_argument("--previous", action="store_true",
                        help="also time the previous face path (every frame at 270 px, no retry)")
    args = parser.parse_args(argv)

    from bench_baseline import cpu_seconds, full_resolution_detector, run_baseline

    from tfdeepfake.detect import VideoDetector
    from tfdeepfake.detectors import load_detector
    from tfdeepfake.video.reader import probe_video

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        if args.model:
            detector = VideoDetector(args.model, facenet_weights=args.facenet_weights)
        else:
            from tfdeepfake.faces.settings import FaceSettings

            folder, embedder = bench_model(Path(tmp) / "bench-model", random_init=args.random_init,
                                           face_settings=FaceSettings(sampling=args.sampling))
            detector = VideoDetector(load_detector(folder, embedder=embedder))
        load_seconds = time.perf_counter() - t0
        settings = detector.settings
        previous = None
        if args.previous:
            from dataclasses import replace

            from tfdeepfake.faces.detector import get_detector

            previous = VideoDetector(detector.detector)
            previous.settings = replace(settings, detector=replace(settings.detector, key_frame_interval=1,
                                                                   retry_short_sides=()))
            previous.face_detector = get_detector(previous.settings.detector)
            previous.warm_up()
        full = full_resolution_detector(settings)
        full.detect([np.zeros((64, 64, 3), np.uint8)])
        videos = benchmark_videos([r for r in args.resolutions.split(",") if r], shared=not args.no_shared,
                                  one_per_class=args.quick)

        rows, per_class = [], {}
        for path in videos:
            info = probe_video(path)
            runs, before = [], []
            baseline = None
            for k in range(args.repeat):
                cpu = cpu_seconds()
                verdict = detector.detect(path)
                runs.append((verdict.seconds, cpu_seconds() - cpu))
                if previous is not None:
                    cpu = cpu_seconds()
                    old = previous.detect(path)
                    before.append((old.seconds, cpu_seconds() - cpu))
                if k == 0:  # interleaved: detect, baseline, detect, ...
                    baseline = run_baseline(path, settings, detector.score_video, full)
            wall = statistics.median(r[0] for r in runs)
            cpu = statistics.median(r[1] for r in runs)
            name = path.name if path.parent == CACHE else str(path.relative_to(SHARED_VIDEOS))
            cls = video_class(info.width, info.height)
            found = sorted(f.index for f in verdict.frames if f.box is not None) if verdict.frames else None
            lost = (len(set(baseline.face_frames) - set(found)) if found is not None else
                    max(0, baseline.faces - verdict.faces_found))
            row = [name, f"{info.width}x{info.height}", f"{wall:.2f}", f"{cpu:.2f}", f"{baseline.seconds:.2f}",
                   f"{baseline.cpu:.2f}", f"{baseline.seconds / wall:.1f}", f"{baseline.cpu / cpu:.1f}",
                   f"{verdict.faces_found}/{verdict.frames_sampled}", f"{baseline.faces}/{baseline.frames}",
                   lost, verdict.verdict, _p(verdict.fake_probability), _p(baseline.probability)]
            if previous is not None:
                old_wall = statistics.median(r[0] for r in before)
                old_cpu = statistics.median(r[1] for r in before)
                row += [f"{old_wall:.2f}", f"{old_cpu:.2f}", f"{old_wall / wall:.1f}", f"{old_cpu / cpu:.1f}", _p(old.fake_probability)]
            rows.append(row)
            print("  ".join(map(str, row)), file=sys.stderr, flush=True)
            c = per_class.setdefault(cls, {"n": 0, "wall": 0.0, "cpu": 0.0, "bwall": 0.0, "bcpu": 0.0,
                                            "faces": 0, "frames": 0, "bfaces": 0, "lost": 0})
            for key, value in (("n", 1), ("wall", wall), ("cpu", cpu), ("bwall", baseline.seconds),
                               ("bcpu", baseline.cpu), ("faces", verdict.faces_found),
                               ("frames", verdict.frames_sampled), ("bfaces", baseline.faces), ("lost", lost)):
                c[key] += value

        folder_line = ""
        if not args.no_folder and len(videos) > 1:
            # One video after another against detect_many, in the order A B B A so that a
            # load that drifts during the run weighs on both alike.
            def one_by_one():
                for path in videos:
                    detector.detect(path)

            def folder_mode():
                for _ in detector.detect_many(videos):
                    pass

            spent = {one_by_one: 0.0, folder_mode: 0.0}
            for run in (one_by_one, folder_mode, folder_mode, one_by_one):
                t = time.perf_counter()
                run()
                spent[run] += time.perf_counter() - t
            folder_line = (f"{len(videos)} videos, twice each way (A B B A): one after another "
                           f"{spent[one_by_one]:.1f} s, detect_many (next video decoded and its faces found while one is scored) "
                           f"{spent[folder_mode]:.1f} s: throughput x{spent[one_by_one] / spent[folder_mode]:.2f}")

    what = f"{detector.detector.name} ({detector.facenet or 'no FaceNet'})"
    kind = f"{args.model}: {what}" if args.model else f"benchmark {what}, random head (latency only; verdicts meaningless)"
    d = settings.detector
    print(f"\ndetect benchmark: model {kind}; load {load_seconds:.1f} s; {args.repeat} detect runs per video "
          f"(median), baseline once, interleaved; {os.cpu_count()} CPUs; face settings: {settings.num_frames} "
          f"{settings.sampling} frames, detect_short_side {d.detect_short_side}, key_frame_interval "
          f"{d.key_frame_interval}, retry_short_sides {list(d.retry_short_sides)}\n")
    summary = [[cls, c["n"], f"{c['wall'] / c['n']:.2f}", f"{c['bwall'] / c['n']:.2f}", f"{c['bwall'] / c['wall']:.1f}",
                f"{c['cpu'] / c['n']:.2f}", f"{c['bcpu'] / c['n']:.2f}", f"{c['bcpu'] / c['cpu']:.1f}",
                f"{c['faces']}/{c['frames']}", f"{c['bfaces']}/{c['frames']}", c["lost"]]
               for cls, c in sorted(per_class.items())]
    print(table(["class", "videos", "detect s", "baseline s", "ratio", "detect CPU s", "baseline CPU s",
                 "CPU ratio", "faces (detect)", "faces (full-res)", "lost"], summary))
    print("\nratio: baseline / detect, per class from the summed seconds; faces: sampled frames with a face; "
          "lost: frames where full-resolution MTCNN found a face and detect did not\n")
    extra = ["previous s", "CPU s", "speed-up", "CPU speed-up", "previous p"] if previous is not None else []
    print(table(["video", "WxH", "detect s", "CPU s", "baseline s", "CPU s", "ratio", "CPU ratio", "faces",
                 "full-res", "lost", "verdict", "p", "baseline p"] + extra, rows))
    if folder_line:
        print("\n" + folder_line)
    return 0


def _size(path: Path) -> tuple[int, int]:
    from tfdeepfake.video.reader import probe_video

    info = probe_video(path)
    return info.width, info.height


def _p(value) -> str:
    return "-" if value is None else f"{value:.3f}"


if __name__ == "__main__":
    sys.exit(main())
