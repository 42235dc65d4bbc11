"""Speed of `extract` per video resolution, and whether the fast path loses detections.

    python benchmarks/bench_extract.py [--quality] [--baseline] [--repeat 3]

Videos: 10-s H.264 clips (--seconds) generated at 480p, 720p and 1080p (cached under
~/.cache/tfdeepfake/bench), plus ../shared/data/videos when present. For each video it
times the pipeline `extract` runs (one decoding pass, MTCNN on shrunk frames, crops from
full-resolution frames) on 25 uniformly sampled frames, after a warm-up.

--quality  also runs MTCNN on every sampled frame at full resolution and reports the face
           detection rate of both paths and the IoU between their boxes.
--baseline also times the straightforward pipeline (seek to each frame, MTCNN on each
           full-resolution frame one by one).
--workers N  then runs `extract` itself (`run_extract`: processes, HDF5 cache) over all the
           videos with N workers and reports videos/s, frames/s and the hours a
           Celeb-DF-v2-sized set (6,529 videos) would take at that rate.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from tfdeepfake.faces.pipeline import faces_from_frames  # noqa: E402
from tfdeepfake.faces.settings import FaceSettings  # noqa: E402
from tfdeepfake.faces.boxes import iou, select_faces  # noqa: E402
from tfdeepfake.faces.detector import get_detector  # noqa: E402
from tfdeepfake.video.reader import read_sampled_frames  # noqa: E402
from tfdeepfake.video.sampling import sample_indices  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHARED_VIDEOS = ROOT.parent / "shared" / "data" / "videos"
CACHE = Path(os.environ.get("TFDEEPFAKE_BENCH_CACHE", Path.home() / ".cache" / "tfdeepfake" / "bench"))


def generated_videos(resolutions, seconds: float = 10.0) -> list[Path]:
    from tfdeepfake.synthetic.dataset import make_benchmark_video

    paths = []
    for res in resolutions:
        path = CACHE / f"bench_{res}_{seconds:g}s.mp4"
        if not path.exists():
            print(f"generating {path} ...", file=sys.stderr)
            path.parent.mkdir(parents=True, exist_ok=True)
            make_benchmark_video(path, res, seconds=seconds, fps=30.0)
        paths.append(path)
    return paths


def shared_videos() -> list[Path]:
    if not SHARED_VIDEOS.is_dir():
        return []
    return sorted(SHARED_VIDEOS.rglob("*.mp4"))


def time_fast_path(path: Path, config: FaceSettings, repeat: int) -> dict:
    detector = get_detector(config.detector)
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        frames, indices, info = read_sampled_frames(path, config.num_frames, config.sampling)
        t1 = time.perf_counter()
        arrays = faces_from_frames(frames, indices, config, detector)
        t2 = time.perf_counter()
        runs.append((t2 - t0, t1 - t0, t2 - t1))
    total, decode, detect = (statistics.median(r[i] for r in runs) for i in range(3))
    return {"seconds": total, "decode": decode, "detect": detect, "frames": len(indices),
            "faces": len(arrays["faces"]), "info": info, "frames_rgb": frames, "indices": indices,
            "boxes": dict(zip(arrays["frame_indices"].tolist(), arrays["boxes"]))}


def full_resolution_boxes(frames, indices, config: FaceSettings) -> tuple[dict, dict]:
    """Per frame: the face full-resolution detection would choose, and all its faces."""
    detector = get_detector(replace(config.detector, detect_short_side=0, batch_size=1))
    detections = [detector.detect([frame])[0] for frame in frames]
    # The same choice over the video that faces_from_frames makes (policy "consistent" too).
    choices = select_faces([np.array([f.box for f in faces]).reshape(-1, 4) for faces in detections],
                           [np.array([f.confidence for f in faces]) for faces in detections],
                           config.face_policy)
    chosen, every = {}, {}
    for index, faces, choice in zip(indices, detections, choices):
        if choice is not None:
            chosen[int(index)] = faces[choice].box
            every[int(index)] = [f.box for f in faces]
    return chosen, every


def time_baseline(path: Path, config: FaceSettings) -> float:
    """Seek to each sampled frame and run MTCNN on it at full resolution, one at a time."""
    detector = get_detector(replace(config.detector, detect_short_side=0, batch_size=1))
    t0 = time.perf_counter()
    capture = cv2.VideoCapture(str(path))
    try:
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        for index in sample_indices(count, config.num_frames, "uniform"):
            capture.set(cv2.CAP_PROP_POS_FRAMES, int(index))
            ok, frame = capture.read()
            if ok:
                detector.detect([cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)])
    finally:
        capture.release()
    return time.perf_counter() - t0


CELEB_DF_V2_VIDEOS = 6529


def extract_throughput(videos: list[Path], config: FaceSettings, workers: int) -> str:
    """`extract` (run_extract, a fresh cache) over ``videos`` with ``workers`` processes."""
    import tempfile

    from tfdeepfake.cache.extract import run_extract
    from tfdeepfake.datasets.records import make_record

    records = [make_record(path.parent, path.name, 0, "test", f"bench{i}") for i, path in enumerate(videos)]
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        summary = run_extract(records, Path(tmp) / "faces.h5", config, workers=workers)
        seconds = time.perf_counter() - t0
    per_second = summary.done / seconds
    hours = CELEB_DF_V2_VIDEOS / max(per_second, 1e-9) / 3600
    return (f"\nextract --workers {workers}: {summary.done}/{summary.videos} videos, {summary.frames} frames in "
            f"{seconds:.1f} s (model loading and process start included): {per_second:.2f} videos/s, "
            f"{summary.frames / seconds:.1f} frames/s; a Celeb-DF-v2-sized set ({CELEB_DF_V2_VIDEOS} videos) "
            f"at this rate and mix of resolutions: {hours:.1f} h")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quality", action="store_true", help="compare with full-resolution detection")
    parser.add_argument("--baseline", action="store_true", help="also time the straightforward pipeline")
    parser.add_argument("--repeat", type=int, default=3, help="runs per video (median reported)")
    parser.add_argument("--resolutions", default="480p,720p,1080p")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the generated clips")
    parser.add_argument("--no-shared", action="store_true", help="skip ../shared/data/videos")
    parser.add_argument("--detect-short-side", type=int, default=FaceSettings().detector.detect_short_side)
    parser.add_argument("--workers", type=int, default=0, help="also time `extract` with this many workers")
    args = parser.parse_args(argv)

    config = FaceSettings()
    if args.detect_short_side != config.detector.detect_short_side:
        config = FaceSettings(detector=replace(config.detector, detect_short_side=args.detect_short_side))
    videos = generated_videos([r for r in args.resolutions.split(",") if r], args.seconds)
    if not args.no_shared:
        videos += shared_videos()
    # Warm-up: the first MTCNN call traces its graphs.
    time_fast_path(videos[0], config, 1)

    header = ["video", "WxH", "s/video", "decode s", "detect s", "frames/s", "faces"]
    if args.quality:
        # IoU of our box with the matching full-resolution box; "same face": whether
        # full-resolution detection would have chosen the same person.
        header += ["faces full-res", "min IoU", "mean IoU", "same face"]
    if args.baseline:
        header += ["baseline s"]
    rows = []
    totals = {"frames": 0, "faces": 0, "full": 0, "ious": [], "same": 0, "compared": 0}
    for path in videos:
        result = time_fast_path(path, config, args.repeat)
        info = result["info"]
        name = path.name if path.parent == CACHE else str(path.relative_to(SHARED_VIDEOS))
        row = [name, f"{info.width}x{info.height}", f"{result['seconds']:.2f}", f"{result['decode']:.2f}",
               f"{result['detect']:.2f}", f"{result['frames'] / result['seconds']:.1f}",
               f"{result['faces']}/{result['frames']}"]
        totals["frames"] += result["frames"]
        totals["faces"] += result["faces"]
        if args.quality:
            full, every = full_resolution_boxes(result["frames_rgb"], result["indices"], config)
            ours = result["boxes"]
            ious = [max(iou(ours[i], b) for b in every[i]) for i in every if i in ours]
            same = [iou(ours[i], full[i]) >= 0.5 for i in full if i in ours]
            totals["full"] += len(full)
            totals["ious"] += ious
            totals["same"] += sum(same)
            totals["compared"] += len(same)
            row += [f"{len(full)}/{result['frames']}", f"{min(ious):.3f}" if ious else "-",
                    f"{np.mean(ious):.3f}" if ious else "-", f"{sum(same)}/{len(same)}"]
        if args.baseline:
            row += [f"{time_baseline(path, config):.2f}"]
        rows.append(row)
        print("  ".join(row), file=sys.stderr)

    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    fmt = "| " + " | ".join(f"{{:{w}}}" for w in widths) + " |"
    print(f"\nextract benchmark: {config.num_frames} uniform frames, detect_short_side "
          f"{config.detector.detect_short_side}, median of {args.repeat} runs, {os.cpu_count()} CPUs\n")
    print(fmt.format(*header))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        print(fmt.format(*row))
    rate = totals["faces"] / max(1, totals["frames"])
    print(f"\nfaces found in {totals['faces']}/{totals['frames']} sampled frames ({rate:.1%})")
    if args.workers:
        print(extract_throughput(videos, config, args.workers))
    if args.quality and totals["ious"]:
        ious = np.array(totals["ious"])
        print(f"full-resolution detection found {totals['full']}/{totals['frames']}; IoU of our box "
              f"with the matching full-resolution box: min {ious.min():.3f}, mean {ious.mean():.3f}, "
              f"{np.mean(ious >= 0.8):.1%} >= 0.8; same face chosen in "
              f"{totals['same']}/{totals['compared']} frames")
    return 0


if __name__ == "__main__":
    sys.exit(main())
