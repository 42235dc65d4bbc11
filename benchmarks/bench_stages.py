"""Where `detect`'s time goes, stage by stage, and how fast it could be on this machine.

    python benchmarks/bench_stages.py [--repeat 3] [--all-shared]

For each video (the clips of bench_detect.py --quick: a 298x298 24-frame clip, generated
10-s 480p/720p/1080p clips, one ../shared/data/videos video per size class, or all of them
with --all-shared): the three stages of one `detect` run alone, each --repeat times
(median wall and CPU seconds of the process):

- decode: `read_sampled_frames` (the sampled frames, upright RGB);
- faces: `faces_from_frames` (MTCNN key frames, carried boxes, retries, crops);
- score: FaceNet, the head and the classifier on the crops (`VideoDetector._scores`).

Then `detect` itself (median) and the straightforward pipeline once (bench_baseline.py).
The **floor** is the stages' CPU seconds over the cores: no overlap of the stages can make
one video faster than that on this machine without making a stage cheaper. `ratio at
floor` = baseline / floor is the most any scheduling of today's stages could reach;
`detect / floor` says how near `detect` already is.
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
from bench_baseline import cpu_seconds, full_resolution_detector, run_baseline  # noqa: E402
from bench_detect import bench_model, benchmark_videos, table, video_class  # noqa: E402
from bench_extract import CACHE, SHARED_VIDEOS  # noqa: E402


def timed(run, repeat: int) -> tuple[float, float, object]:
    """``(median wall s, median CPU s, last result)`` of ``repeat`` calls of ``run``."""
    walls, cpus, result = [], [], None
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), cpu_seconds()
        result = run()
        walls.append(time.perf_counter() - wall)
        cpus.append(cpu_seconds() - cpu)
    return statistics.median(walls), statistics.median(cpus), result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each stage and of detect (median)")
    parser.add_argument("--all-shared", action="store_true", help="every ../shared/data video, not one per class")
    parser.add_argument("--no-shared", action="store_true")
    parser.add_argument("--random-init", action="store_true", help="benchmark model: random-init FaceNet")
    args = parser.parse_args(argv)

    from tfdeepfake.detect import VideoDetector
    from tfdeepfake.detectors import load_detector
    from tfdeepfake.faces.pipeline import faces_from_frames
    from tfdeepfake.video.reader import probe_video, read_sampled_frames

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    with tempfile.TemporaryDirectory() as tmp:
        folder, embedder = bench_model(Path(tmp) / "bench-model", random_init=args.random_init)
        detector = VideoDetector(load_detector(folder, embedder=embedder))
        settings = detector.settings
        full = full_resolution_detector(settings)
        full.detect([np.zeros((64, 64, 3), np.uint8)])
        videos = benchmark_videos(["480p", "720p", "1080p"], shared=not args.no_shared,
                                  one_per_class=not args.all_shared)

        rows, per_class = [], {}
        for path in videos:
            info = probe_video(path)
            read = timed(lambda: read_sampled_frames(path, settings.num_frames, settings.sampling,
                                                     settings.stride), args.repeat)
            frames, indices, _ = read[2]
            faces = timed(lambda: faces_from_frames(frames, indices, settings, detector.face_detector),
                          args.repeat)
            crops = faces[2]["faces"]
            score = timed(lambda: detector._scores(crops), args.repeat)
            detect = timed(lambda: detector.detect(path), args.repeat)
            baseline = run_baseline(path, settings, detector.score_video, full)
            cpu = read[1] + faces[1] + score[1]
            floor = cpu / cores
            name = path.name if path.parent == CACHE else str(path.relative_to(SHARED_VIDEOS))
            row = [name, f"{info.width}x{info.height}", len(crops)]
            for stage in (read, faces, score):
                row.append(f"{stage[0]:.2f} / {stage[1]:.2f}")
            row += [f"{detect[0]:.2f}", f"{cpu:.2f}", f"{floor:.2f}", f"{baseline.seconds:.2f}",
                    f"{baseline.seconds / detect[0]:.1f}", f"{baseline.seconds / floor:.1f}",
                    f"{detect[0] / floor:.2f}"]
            rows.append(row)
            print("  ".join(map(str, row)), file=sys.stderr, flush=True)
            c = per_class.setdefault(video_class(info.width, info.height),
                                     {"n": 0, "detect": 0.0, "floor": 0.0, "baseline": 0.0})
            for key, value in (("n", 1), ("detect", detect[0]), ("floor", floor), ("baseline", baseline.seconds)):
                c[key] += value

    print(f"\nstage benchmark: {detector.facenet}; {args.repeat} runs per stage and of detect "
          f"(median); baseline once; {cores} cores for this process\n")
    print(table(["class", "videos", "detect s", "floor s", "baseline s", "ratio", "ratio at floor", "detect / floor"],
                [[cls, c["n"], f"{c['detect'] / c['n']:.2f}", f"{c['floor'] / c['n']:.2f}",
                  f"{c['baseline'] / c['n']:.2f}", f"{c['baseline'] / c['detect']:.1f}",
                  f"{c['baseline'] / c['floor']:.1f}", f"{c['detect'] / c['floor']:.2f}"]
                 for cls, c in sorted(per_class.items())]))
    print(f"\nfloor: the three stages' CPU seconds / {cores} cores (one video cannot finish sooner "
          "without a cheaper stage); ratio: baseline / detect; stage cells: wall s / CPU s\n")
    print(table(["video", "WxH", "crops", "decode", "faces", "score", "detect s", "CPU s", "floor s",
                 "baseline s", "ratio", "ratio at floor", "detect / floor"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
