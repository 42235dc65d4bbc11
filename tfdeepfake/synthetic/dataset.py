"""Labelled synthetic datasets in the folders layout: ``root/real/*.mp4``, ``root/fake/*.mp4``.

Identities are the shipped frontal photos and variants of them (flip, face-shape
stretch, recolouring). A real clip is a rendered shot of one identity; a fake clip is a
rendered shot of one identity with another identity's face swapped in, frame by frame.
Every clip has its own seed derived from ``(seed, kind, index)``, so clip ``i`` is the
same whatever the counts asked for, and the whole dataset is the same for the same seed.
``root/synthetic.json`` records what was made and with which versions.
"""

from __future__ import annotations

import json
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tfdeepfake.constants import DEFAULT_SEED, FAKE, REAL
from tfdeepfake.synthetic.faceswap import make_swapped_video
from tfdeepfake.synthetic.photos import FRONTAL_PHOTOS, Photo, load_photo, make_identity
from tfdeepfake.synthetic.videos import DEFAULT_CRF, RenderedVideo, make_face_video

logger = logging.getLogger(__name__)

# Frame sizes (width, height) for benchmark clips; 480p as in FaceForensics++'s 640x480.
RESOLUTIONS = {
    "240p": (320, 240),
    "480p": (640, 480),
    "720p": (1280, 720),
    "1080p": (1920, 1080),
}
METADATA_FILE = "synthetic.json"

_REAL_STREAM, _FAKE_STREAM, _IDENTITY_STREAM = 0, 1, 2


def _child_seed(seed: int, stream: int, index: int) -> int:
    return int(np.random.SeedSequence([int(seed), stream, index]).generate_state(1)[0])


def make_identities(count: int, seed: int = DEFAULT_SEED) -> list[Photo]:
    """``count`` identities: the frontal photos themselves, then seeded variants of them."""
    if count < 1:
        raise ValueError(f"count must be >= 1, got {count}")
    bases = [load_photo(n) for n in FRONTAL_PHOTOS]
    out: list[Photo] = []
    for j in range(count):
        base = bases[j % len(bases)]
        if j < len(bases):
            out.append(base)
        else:
            rng = np.random.default_rng(_child_seed(seed, _IDENTITY_STREAM, j))
            out.append(make_identity(base, rng, name=f"{base.name}-{j:02d}"))
    return out


def _base_name(photo: Photo) -> str:
    return photo.name.split("-")[0]


@dataclass(frozen=True)
class _Job:
    label: int
    index: int
    path: Path
    target: Photo
    source: Photo | None
    seed: int


def _run(job: _Job, seconds, fps, size, codec, crf, face_fraction) -> RenderedVideo:
    if job.source is None:
        return make_face_video(job.target, job.path, seconds, fps, size, job.seed,
                               codec=codec, crf=crf, face_fraction=face_fraction)
    return make_swapped_video(job.target, job.source, job.path, seconds, fps, size, job.seed,
                              codec=codec, crf=crf, face_fraction=face_fraction)


def make_synthetic_dataset(
    root: str | os.PathLike,
    num_real: int = 12,
    num_fake: int = 12,
    seconds: float = 2.0,
    fps: float = 15.0,
    size: tuple[int, int] = (320, 240),
    seed: int = DEFAULT_SEED,
    *,
    num_identities: int = 6,
    codec: str = "h264",
    crf: int = DEFAULT_CRF,
    face_fraction: float = 0.38,
    workers: int = 2,
) -> Path:
    """Write ``num_real`` real and ``num_fake`` face-swapped clips under ``root``; return it.

    Fakes always take the swapped-in face from a different base photo than the target's,
    so every fake shows a face that does not belong to its head. Existing files of the
    same names are overwritten. ``workers`` threads render in parallel (the encoder runs
    as a separate ffmpeg process, so threads overlap rendering and encoding).
    """
    if num_real < 0 or num_fake < 0:
        raise ValueError("num_real and num_fake must be >= 0")
    root = Path(root)
    (root / "real").mkdir(parents=True, exist_ok=True)
    (root / "fake").mkdir(parents=True, exist_ok=True)
    identities = make_identities(max(num_identities, 2), seed)

    jobs: list[_Job] = []
    for i in range(num_real):
        jobs.append(_Job(REAL, i, root / "real" / f"real_{i:03d}.mp4", identities[i % len(identities)],
                         None, _child_seed(seed, _REAL_STREAM, i)))
    for i in range(num_fake):
        clip_seed = _child_seed(seed, _FAKE_STREAM, i)
        # Offset the target cycle so fakes do not use the same target order as reals.
        target = identities[(i + 1) % len(identities)]
        others = [p for p in identities if _base_name(p) != _base_name(target)]
        source = others[int(np.random.default_rng(clip_seed).integers(len(others)))]
        jobs.append(_Job(FAKE, i, root / "fake" / f"fake_{i:03d}.mp4", target, source, clip_seed))

    started = time.perf_counter()
    args = (seconds, fps, tuple(size), codec, crf, face_fraction)
    if workers > 1 and len(jobs) > 1:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(lambda j: _run(j, *args), jobs))
    else:
        results = [_run(j, *args) for j in jobs]
    logger.info("wrote %d real + %d fake clips to %s in %.1f s", num_real, num_fake, root,
                time.perf_counter() - started)

    _write_metadata(root, jobs, results, dict(
        num_real=num_real, num_fake=num_fake, seconds=seconds, fps=fps, size=list(size), seed=seed,
        num_identities=len(identities), codec=codec, crf=crf, face_fraction=face_fraction))
    return root


def _write_metadata(root: Path, jobs, results, settings: dict) -> None:
    from tfdeepfake.provenance import package_versions

    videos = []
    for job, res in zip(jobs, results):
        videos.append({
            "path": job.path.relative_to(root).as_posix(),
            "label": job.label,
            "identity": job.target.name,
            "source_identity": None if job.source is None else job.source.name,
            "seed": job.seed,
            "num_frames": res.num_frames,
        })
    doc = {"generator": "tfdeepfake.synthetic.dataset.make_synthetic_dataset", "settings": settings,
           "versions": package_versions(), "videos": videos}
    (root / METADATA_FILE).write_text(json.dumps(doc, indent=2) + "\n")


def make_benchmark_video(
    out_path: str | os.PathLike,
    resolution: str = "1080p",
    seconds: float = 10.0,
    fps: float = 30.0,
    seed: int = DEFAULT_SEED,
    *,
    fake: bool = False,
    crf: int = DEFAULT_CRF,
) -> RenderedVideo:
    """One large H.264 clip (real, or face-swapped with ``fake=True``) for timing runs.

    ``resolution`` is a key of ``RESOLUTIONS``. A 10-s 1080p clip takes tens of seconds
    on 2 cores (rendering plus x264 ``veryfast``); make it once and reuse it.
    """
    if resolution not in RESOLUTIONS:
        raise ValueError(f"unknown resolution {resolution!r}; valid: {', '.join(RESOLUTIONS)}")
    size = RESOLUTIONS[resolution]
    target, source = load_photo(FRONTAL_PHOTOS[0]), load_photo(FRONTAL_PHOTOS[1])
    # Faces in dataset footage fill a smaller part of large frames.
    face_fraction = 0.38 if size[1] <= 240 else 0.3
    if fake:
        return make_swapped_video(target, source, out_path, seconds, fps, size, seed,
                                  crf=crf, face_fraction=face_fraction)
    return make_face_video(target, out_path, seconds, fps, size, seed, crf=crf, face_fraction=face_fraction)


def make_benchmark_videos(
    root: str | os.PathLike,
    resolutions: tuple[str, ...] = ("480p", "720p", "1080p"),
    seconds: float = 10.0,
    fps: float = 30.0,
    seed: int = DEFAULT_SEED,
    *,
    with_fakes: bool = True,
) -> Path:
    """``root/real/bench_<res>.mp4`` (and ``root/fake/bench_<res>.mp4``) for each resolution."""
    root = Path(root)
    for res in resolutions:
        make_benchmark_video(root / "real" / f"bench_{res}.mp4", res, seconds, fps, seed)
        if with_fakes:
            make_benchmark_video(root / "fake" / f"bench_{res}.mp4", res, seconds, fps, seed, fake=True)
    return root
