"""Face recall of extract, detect and the TFLite path against full-resolution MTCNN.

    python benchmarks/bench_recall.py [--no-lite] [--no-shared] [--no-hard]

Videos: ../shared/data/videos and generated hard cases (cached under
~/.cache/tfdeepfake/bench): faces of 30-45 px in 1080p frames, a dark 1080p and a dark
480p shot, and the side-turned, half-hidden face of skimage's cameraman. For each video's
sampled frames it counts the frames with a face for:

- full res: MTCNN on every full-resolution frame, one at a time (the reference; cached);
- extract/detect: `faces_from_frames` with the TensorFlow MTCNN, the code both commands
  run (key frames, carried boxes, retries at higher resolution);
- lite: the same function over the TFLite MTCNN (`tfdeepfake.lite`), with --lite;
- 270 px, no retry: every frame through the cascade at 270 px (the path before key
  frames and retries), for comparison.

"lost" counts frames where full-resolution MTCNN finds a face and the path does not; the
fast paths must lose none. Also prints the detection CPU seconds of each path.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from bench_baseline import cpu_seconds, full_resolution_detector  # noqa: E402
from bench_detect import table  # noqa: E402
from bench_extract import CACHE, SHARED_VIDEOS, shared_videos  # noqa: E402

# name -> (photo, (width, height), face fraction of the height, brightness gain)
HARD_CASES = {
    "small_faces_1080p": ("astronaut", (1920, 1080), 0.03, 1.0),
    "small_faces_1080p_b": ("grace_hopper", (1920, 1080), 0.04, 1.0),
    "dark_1080p": ("astronaut", (1920, 1080), 0.12, 0.1),
    "dark_480p": ("grace_hopper", (640, 480), 0.3, 0.08),
    "side_face_720p": ("cameraman", (1280, 720), 0.3, 1.0),
}


def hard_videos(frames: int = 30) -> list[Path]:
    """The generated hard cases (written once, then reused)."""
    from tfdeepfake.synthetic.photos import load_photo
    from tfdeepfake.synthetic.videos import render_face_frames, write_video

    paths = []
    for name, (photo, size, fraction, gain) in HARD_CASES.items():
        path = CACHE / "hard" / f"{name}_{frames}f.mp4"
        if not path.exists():
            print(f"generating {path} ...", file=sys.stderr)
            path.parent.mkdir(parents=True, exist_ok=True)
            rendered, _, _ = render_face_frames(load_photo(photo), frames, 10.0, size,
                                                np.random.default_rng(len(paths)), face_fraction=fraction)
            dimmed = (np.clip(f.astype(np.float32) * gain, 0, 255).astype(np.uint8) for f in rendered)
            write_video(path, dimmed, 10.0, "h264")
        paths.append(path)
    return paths


def full_resolution_faces(path: Path, frames, indices, settings) -> list[bool]:
    """Per sampled frame: does full-resolution MTCNN find a face (cached on disk)."""
    stat = path.stat()
    key = json.dumps([str(path.resolve()), stat.st_size, stat.st_mtime_ns, indices.tolist(),
                      settings.detector.min_confidence, settings.detector.min_face_size])
    cached = CACHE / "fullres" / (hashlib.sha1(key.encode()).hexdigest() + ".json")
    if cached.exists():
        return json.loads(cached.read_text())
    detector = full_resolution_detector(settings)
    found = [bool(detector.detect([frame])[0]) for frame in frames]
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_text(json.dumps(found))
    return found


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lite", action="store_true", help="also the TFLite MTCNN (exports it first)")
    parser.add_argument("--no-shared", action="store_true")
    parser.add_argument("--no-hard", action="store_true")
    args = parser.parse_args(argv)

    from tfdeepfake.faces.detector import get_detector
    from tfdeepfake.faces.pipeline import faces_from_frames
    from tfdeepfake.faces.settings import FaceSettings
    from tfdeepfake.faces.tracking import TrackStats, track_faces
    from tfdeepfake.video.reader import read_sampled_frames

    settings = FaceSettings()
    previous = replace(settings, detector=replace(settings.detector, key_frame_interval=1, retry_short_sides=()))
    paths = ([] if args.no_hard else hard_videos()) + ([] if args.no_shared else shared_videos())
    detectors = {"extract/detect": get_detector(settings.detector), "270 px, no retry": get_detector(previous.detector)}
    if args.lite:
        from tfdeepfake.export.mtcnn_tflite import export_mtcnn_tflite
        from tfdeepfake.lite.mtcnn import LiteFaceDetector, LiteMTCNN

        mtcnn_dir = Path(tempfile.mkdtemp(prefix="bench_recall_")) / "mtcnn"
        export_mtcnn_tflite(mtcnn_dir)
        lite = LiteMTCNN(mtcnn_dir, min_face_size=settings.detector.min_face_size, num_threads=2)
        detectors["lite"] = LiteFaceDetector(lite, settings.detector)
    for detector in detectors.values():
        detector.detect([np.zeros((64, 64, 3), np.uint8)])

    rows, totals = [], {"frames": 0, "full": 0, **{name: [0, 0, 0.0] for name in detectors}}
    for path in paths:
        frames, indices, info = read_sampled_frames(path, settings.num_frames, settings.sampling)
        full = full_resolution_faces(path, frames, indices, settings)
        name = str(path.relative_to(SHARED_VIDEOS)) if SHARED_VIDEOS in path.parents else path.name
        row = [name, f"{info.width}x{info.height}", f"{sum(full)}/{len(frames)}"]
        totals["frames"] += len(frames)
        totals["full"] += sum(full)
        for label, detector in detectors.items():
            cfg = previous if label.startswith("270") else settings
            cpu = cpu_seconds()
            arrays = faces_from_frames(frames, indices, cfg, detector)
            cpu = cpu_seconds() - cpu
            have = set(arrays["frame_indices"].tolist())
            found = [int(i) in have for i in indices]
            lost = sum(1 for f, h in zip(full, found) if f and not h)
            row += [f"{sum(found)}/{len(frames)}", lost, f"{cpu:.2f}"]
            totals[label][0] += sum(found)
            totals[label][1] += lost
            totals[label][2] += cpu
        stats = TrackStats()
        track_faces(detectors["extract/detect"], frames, stats)
        retries = ",".join(f"{side or 'full'}:{stats.found_by_retry.get(side, 0)}/{n}" for side, n in stats.retried.items())
        row += [f"{stats.key_frames}/{stats.confirmed}/{stats.redetected}", retries or "-"]
        rows.append(row)
        print("  ".join(map(str, row)), file=sys.stderr, flush=True)

    header = ["video", "WxH", "full res"]
    for label in detectors:
        header += [label, "lost", "CPU s"]
    header += ["keys/carried/re-detected", "retries found/tried"]
    print(f"\nface recall: {settings.num_frames} {settings.sampling} frames per video; full res = MTCNN on "
          f"each full-resolution frame; lost = frames it finds a face in and the path does not; "
          f"{os.cpu_count()} CPUs\n")
    print(table(header, rows))
    n = max(1, totals["frames"])
    print(f"\nframes with a face: full res {totals['full']}/{totals['frames']} ({totals['full'] / n:.1%})"
          + "".join(f"; {label} {t[0]}/{totals['frames']} ({t[0] / n:.1%}), lost {t[1]}, CPU {t[2]:.1f} s"
                    for label, t in ((lb, totals[lb]) for lb in detectors)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
