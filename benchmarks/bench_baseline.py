"""The straightforward pipeline that every latency benchmark is compared with.

    python benchmarks/bench_baseline.py [VIDEO ...]

For each of 25 sampled frames (uniform, or as the face settings say): seek to it (``CAP_PROP_POS_FRAMES``), decode it,
run MTCNN (the ``mtcnn`` package) on the full-resolution frame; keep the largest face,
crop it as extract does; then FaceNet (+ the model's head and classifier) on the batch.
This is what a first implementation does. Absolute seconds on a shared machine are noise,
so benchmarks run it in the same process, interleaved with what they measure, and report
the ratio (``bench_detect.py``). Its faces per frame are also the recall reference: every
sampled frame where it finds a face must get one from the fast path.

Run alone, it prints the baseline's seconds per video (wall and CPU).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import cv2  # noqa: E402
import numpy as np  # noqa: E402


def cpu_seconds() -> float:
    """CPU time of this process, all threads (user + system)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclass
class Timed:
    seconds: float
    cpu: float
    frames: int  # sampled frames decoded
    faces: int  # frames with a face
    face_frames: list[int]  # their indices
    probability: float | None


class PackageMTCNN:
    """The ``mtcnn`` package as a first implementation calls it: ``MTCNN().detect_faces`` on
    the whole frame, one frame per call, its networks run eagerly (the project's detector
    traces them, which would make this reference faster than what the ratios were set
    against). ``detect(frames)`` gives the project's ``Face`` lists, so recall compares."""

    def __init__(self, config):
        from mtcnn import MTCNN

        self.config = config
        self.mtcnn = MTCNN(stages="face_and_landmarks_detection", device="CPU:0")

    def detect(self, frames):
        from tfdeepfake.faces.detector import faces_from_rows

        found = []
        for frame in frames:
            rows = np.asarray(self.mtcnn.detect_faces(
                [frame], output_type="numpy", box_format="xyxy", fit_to_image=True,
                min_face_size=self.config.min_face_size), np.float64).reshape(-1, 16)
            found += faces_from_rows(rows, 1, 1.0, self.config.min_confidence)
        return found


def full_resolution_detector(settings) -> PackageMTCNN:
    """MTCNN on whole frames at full size, one frame per call: the reference detector."""
    return PackageMTCNN(replace(settings.detector, detect_short_side=0, batch_size=1,
                                key_frame_interval=1, retry_short_sides=()))


def run_baseline(path: str | os.PathLike, settings, score: Callable[[np.ndarray], float] | None,
                 detector=None) -> Timed:
    """The straightforward pipeline on one video (see the module's description)."""
    from tfdeepfake.faces.crop import crop_face
    from tfdeepfake.faces.boxes import select_face
    from tfdeepfake.video.sampling import sample_indices

    detector = detector or full_resolution_detector(settings)
    started, cpu = time.perf_counter(), cpu_seconds()
    capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    crops, kept, decoded = [], [], 0
    try:
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        for index in sample_indices(max(count, 0), settings.num_frames, settings.sampling, settings.stride):
            capture.set(cv2.CAP_PROP_POS_FRAMES, int(index))
            ok, frame = capture.read()
            if not ok:
                continue
            decoded += 1
            rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            faces = detector.detect([rgb])[0]
            choice = select_face(np.array([f.box for f in faces]).reshape(-1, 4),
                                 np.array([f.confidence for f in faces]), "largest")
            if choice is not None:
                crops.append(crop_face(rgb, faces[choice].box, settings.size, margin=settings.margin,
                                       square=settings.square))
                kept.append(int(index))
    finally:
        capture.release()
    probability = score(np.stack(crops)) if (crops and score is not None) else None
    return Timed(time.perf_counter() - started, cpu_seconds() - cpu, decoded, len(kept), kept, probability)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("videos", nargs="*", type=Path, help="default: ../shared/data/videos")
    parser.add_argument("--random-init", action="store_true", help="random-init FaceNet")
    args = parser.parse_args(argv)

    import tempfile

    from bench_detect import bench_model
    from bench_extract import shared_videos
    from tfdeepfake.detectors import load_detector
    from tfdeepfake.faces.settings import FaceSettings

    videos = args.videos or shared_videos()
    settings = FaceSettings()
    with tempfile.TemporaryDirectory() as tmp:
        folder, embedder = bench_model(Path(tmp) / "model", random_init=args.random_init)
        model = load_detector(folder, embedder=embedder)
        score = lambda faces: float(model.score_video(faces, model.default_variant))  # noqa: E731
        score(np.zeros((1, settings.size, settings.size, 3), np.uint8))  # trace once
        detector = full_resolution_detector(settings)
        detector.detect([np.zeros((64, 64, 3), np.uint8)])
        print("| video | wall s | CPU s | faces | probability |\n|---|---|---|---|---|")
        for path in videos:
            result = run_baseline(path, settings, score, detector)
            print(f"| {path.name} | {result.seconds:.2f} | {result.cpu:.2f} | {result.faces}/{result.frames} | "
                  f"{result.probability if result.probability is None else round(result.probability, 3)} |",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
