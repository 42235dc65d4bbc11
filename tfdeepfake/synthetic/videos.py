"""Render moving, lit, compressed shots of a face photo (or of no face), and encode them
with ``tfdeepfake.synthetic.writer`` (``write_video`` and the codec names are re-exported
here, where callers have always found them).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from tfdeepfake.synthetic.photos import Photo
from tfdeepfake.synthetic.writer import CODECS, DEFAULT_CRF, ffmpeg_exe, write_video

__all__ = ["CODECS", "DEFAULT_CRF", "RenderedVideo", "ffmpeg_exe", "make_background",
           "make_face_video", "make_noface_video", "render_face_frames", "render_noface_frames",
           "smooth_motion", "write_video"]


@dataclass(frozen=True)
class RenderedVideo:
    """A written clip and where its face is in every frame (``None`` for no-face clips).

    ``boxes`` ``[T, 4]`` float ``[x1, y1, x2, y2]`` and ``keypoints`` ``[T, 5, 2]`` are the
    photo's MTCNN landmarks carried through each frame's known transform.
    """

    path: Path
    num_frames: int
    fps: float
    size: tuple[int, int]
    seed: int
    boxes: np.ndarray | None = None
    keypoints: np.ndarray | None = None


def smooth_motion(rng: np.random.Generator, num_frames: int, fps: float, dims: int = 1,
                  max_hz: float = 0.35) -> np.ndarray:
    """A smooth random path in [-1, 1], shape ``[num_frames, dims]``.

    A sum of three slow sinusoids with random frequencies and phases: it wanders like
    a drifting hand-held camera but never leaves its bounds, unlike a raw random walk.
    """
    t = np.arange(num_frames, dtype=np.float64) / max(fps, 1e-6)
    out = np.zeros((num_frames, dims))
    for d in range(dims):
        freqs = rng.uniform(0.03, max_hz, size=3)
        phases = rng.uniform(0, 2 * np.pi, size=3)
        amps = rng.uniform(0.3, 1.0, size=3)
        out[:, d] = (amps[:, None] * np.sin(2 * np.pi * freqs[:, None] * t + phases[:, None])).sum(0) / amps.sum()
    return out


def make_background(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    """A room-like backdrop: a colour gradient plus soft low-frequency blotches, float32 RGB."""
    w, h = size
    # Muted colours, like walls: a grey level plus a modest tint.
    grey = rng.uniform(50, 200)
    base = grey + rng.uniform(-35, 35, size=3)
    tint = rng.uniform(-40, 40, size=3)
    ramp = np.linspace(-0.5, 0.5, h, dtype=np.float32)[:, None, None]
    bg = base[None, None, :] + ramp * tint[None, None, :]
    bg = np.broadcast_to(bg, (h, w, 3)).astype(np.float32)
    # Blotches: a coarse random grid blown up smoothly (cheap at any frame size), mostly
    # in brightness, a little in colour.
    coarse = rng.normal(0, 22, size=(5, 7, 1)) + rng.normal(0, 8, size=(5, 7, 3))
    bg = bg + cv2.resize(coarse.astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    fine = rng.normal(0, 6, size=(max(h // 24, 2), max(w // 24, 2), 1)).repeat(3, axis=2).astype(np.float32)
    bg = bg + cv2.resize(fine, (w, h), interpolation=cv2.INTER_LINEAR)
    return np.clip(bg, 0, 255)


class _NoiseBank:
    """Sensor-like noise: a few fields drawn once, flipped and shifted per frame (fast at 1080p)."""

    def __init__(self, rng: np.random.Generator, shape: tuple[int, int, int], sigma: float, count: int = 3):
        self.rng = rng
        self.fields = [rng.standard_normal(shape, dtype=np.float32) * sigma for _ in range(count)]

    def draw(self) -> np.ndarray:
        f = self.fields[int(self.rng.integers(len(self.fields)))]
        if self.rng.random() < 0.5:
            f = f[::-1]
        if self.rng.random() < 0.5:
            f = f[:, ::-1]
        return f


def _portrait_crop(photo: Photo) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cut head and shoulders around the face; return (crop, soft alpha, offset xy)."""
    image = np.asarray(photo.image)
    h, w = image.shape[:2]
    x1, y1, x2, y2 = (float(v) for v in photo.box)
    fh = y2 - y1
    cx = float(photo.keypoints[:, 0].mean())
    cy = float(photo.keypoints[:, 1].mean())
    left = int(max(0, cx - 1.25 * fh))
    right = int(min(w, cx + 1.25 * fh))
    top = int(max(0, cy - 1.35 * fh))
    bottom = int(min(h, cy + 1.75 * fh))
    crop = np.ascontiguousarray(image[top:bottom, left:right])
    ch, cw = crop.shape[:2]
    # Feathered rounded card: the photo sits on the backdrop with soft edges.
    alpha = np.zeros((ch, cw), np.float32)
    margin = max(2, int(0.04 * min(ch, cw)))
    cv2.rectangle(alpha, (margin, margin), (cw - 1 - margin, ch - 1 - margin), 1.0, thickness=-1)
    k = 2 * margin + 1
    alpha = cv2.GaussianBlur(alpha, (k, k), 0)
    return crop, alpha, np.array([left, top], np.float32)


def _similarity(scale: float, angle_deg: float, src_pt, dst_pt) -> np.ndarray:
    m = cv2.getRotationMatrix2D((float(src_pt[0]), float(src_pt[1])), angle_deg, scale)
    m[:, 2] += np.asarray(dst_pt, np.float64) - np.asarray(src_pt, np.float64)
    return m.astype(np.float32)


def _transform_points(points: np.ndarray, m: np.ndarray) -> np.ndarray:
    return np.asarray(points, np.float32) @ m[:, :2].T + m[:, 2]


def render_face_frames(
    photo: Photo,
    num_frames: int,
    fps: float,
    size: tuple[int, int],
    rng: np.random.Generator,
    *,
    face_fraction: float = 0.38,
    noise_sigma: float = 2.0,
) -> tuple[Iterator[np.ndarray], np.ndarray, np.ndarray]:
    """Frames of ``photo`` moving over a backdrop, with their face boxes and keypoints.

    Returns ``(frames, boxes [T, 4], keypoints [T, 5, 2])``; ``frames`` is a generator of
    RGB uint8 frames, so long high-resolution clips stream to the encoder. All random
    draws happen before the first frame, so the geometry is known up front.
    """
    if photo.keypoints is None or photo.box is None:
        raise ValueError(f"photo {photo.name!r} has no landmarks; detect them first")
    w, h = size
    crop, alpha, offset = _portrait_crop(photo)
    kps_crop = np.asarray(photo.keypoints, np.float32) - offset
    box = np.asarray(photo.box, np.float32)
    box_corners = np.array([[box[0], box[1]], [box[2], box[1]], [box[0], box[3]], [box[2], box[3]]],
                           np.float32) - offset
    face_h = float(box[3] - box[1])
    centre = kps_crop.mean(axis=0)

    background = make_background(rng, (int(w * 1.1) + 2, int(h * 1.1) + 2))
    motion = smooth_motion(rng, num_frames, fps, dims=6)
    base_scale = face_fraction * h / face_h
    anchor = np.array([w * rng.uniform(0.42, 0.58), h * rng.uniform(0.42, 0.52)])
    scales = base_scale * (1.0 + 0.08 * motion[:, 0])
    angles = 4.0 * motion[:, 1]
    shifts = np.stack([0.10 * w * motion[:, 2], 0.06 * h * motion[:, 3]], axis=1)
    gains = 1.0 + 0.12 * motion[:, 4:5] + rng.uniform(-0.04, 0.04, size=(1, 3)) * motion[:, 5:6]
    bg_shift = np.stack([0.04 * w * (motion[:, 2] + 1), 0.04 * h * (motion[:, 3] + 1)], axis=1)
    noise = _NoiseBank(rng, (h, w, 3), noise_sigma)

    matrices = np.stack([_similarity(scales[t], angles[t], centre, anchor + shifts[t]) for t in range(num_frames)])
    keypoints = np.stack([_transform_points(kps_crop, m) for m in matrices])
    corners = np.stack([_transform_points(box_corners, m) for m in matrices])
    boxes = np.concatenate([corners.min(axis=1), corners.max(axis=1)], axis=1).astype(np.float32)

    ch, cw = crop.shape[:2]
    card = np.array([[0, 0], [cw, 0], [0, ch], [cw, ch]], np.float32)

    def frames() -> Iterator[np.ndarray]:
        for t in range(num_frames):
            m = matrices[t]
            bx, by = (int(v) for v in bg_shift[t])
            frame = background[by:by + h, bx:bx + w].copy()
            # Composite only where the photo card lands (a fraction of a large frame).
            pts = _transform_points(card, m)
            x0, y0 = np.maximum(np.floor(pts.min(axis=0)).astype(int) - 1, 0)
            x1, y1 = np.minimum(np.ceil(pts.max(axis=0)).astype(int) + 2, (w, h))
            if x1 > x0 and y1 > y0:
                mm = m.copy()
                mm[:, 2] -= (x0, y0)
                size_roi = (int(x1 - x0), int(y1 - y0))
                person = cv2.warpAffine(crop, mm, size_roi, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
                a = cv2.warpAffine(alpha, mm, size_roi, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
                roi = frame[y0:y1, x0:x1]
                roi += a[..., None] * (person.astype(np.float32) - roi)
            frame *= gains[t].astype(np.float32)
            frame += noise.draw()
            yield np.clip(frame, 0, 255).astype(np.uint8)

    return frames(), boxes, keypoints.astype(np.float32)


def make_face_video(
    photo: Photo,
    out_path: str | os.PathLike,
    seconds: float = 2.0,
    fps: float = 15.0,
    size: tuple[int, int] = (320, 240),
    seed: int = 0,
    *,
    codec: str = "h264",
    crf: int = DEFAULT_CRF,
    face_fraction: float = 0.38,
) -> RenderedVideo:
    """Render and encode a shot of ``photo``: panning/zooming, brightness drift, noise.

    Deterministic for a given ``seed`` (and ffmpeg build). ``size`` is ``(width, height)``.
    """
    num_frames = max(1, int(round(seconds * fps)))
    rng = np.random.default_rng(seed)
    frames, boxes, keypoints = render_face_frames(photo, num_frames, fps, size, rng, face_fraction=face_fraction)
    path = write_video(out_path, frames, fps, codec, crf=crf)
    return RenderedVideo(path, num_frames, float(fps), tuple(size), seed, boxes, keypoints)


def render_noface_frames(num_frames: int, fps: float, size: tuple[int, int],
                         rng: np.random.Generator, noise_sigma: float = 2.0) -> Iterator[np.ndarray]:
    """Frames panning and zooming over a generated texture; no face anywhere."""
    w, h = size
    big = (int(w * 1.6), int(h * 1.6))
    texture = make_background(rng, big)
    # Add some structure (oriented stripes and speckle) so it is not just a gradient.
    yy, xx = np.mgrid[0:big[1], 0:big[0]].astype(np.float32)
    theta = rng.uniform(0, np.pi)
    period = rng.uniform(12, 40) * max(w, h) / 320
    stripes = 18 * np.sin((xx * np.cos(theta) + yy * np.sin(theta)) * 2 * np.pi / period)
    texture = np.clip(texture + stripes[..., None] * rng.uniform(0.4, 1.0, size=3), 0, 255).astype(np.float32)
    motion = smooth_motion(rng, num_frames, fps, dims=4)
    noise = _NoiseBank(rng, (h, w, 3), noise_sigma)
    centre = np.array([big[0] / 2, big[1] / 2])
    for t in range(num_frames):
        scale = 1.0 + 0.1 * motion[t, 0]
        src = centre + np.array([0.15 * w * motion[t, 1], 0.15 * h * motion[t, 2]])
        m = _similarity(scale, 5.0 * motion[t, 3], src, (w / 2, h / 2))
        frame = cv2.warpAffine(texture, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
        frame += noise.draw()
        yield np.clip(frame, 0, 255).astype(np.uint8)


def make_noface_video(
    out_path: str | os.PathLike,
    seconds: float = 2.0,
    fps: float = 15.0,
    size: tuple[int, int] = (320, 240),
    seed: int = 0,
    *,
    codec: str = "h264",
    crf: int = DEFAULT_CRF,
) -> RenderedVideo:
    """Render and encode a textured clip with no face (for "no face found" paths)."""
    num_frames = max(1, int(round(seconds * fps)))
    rng = np.random.default_rng(seed)
    path = write_video(out_path, render_noface_frames(num_frames, fps, size, rng), fps, codec, crf=crf)
    return RenderedVideo(path, num_frames, float(fps), tuple(size), seed)
