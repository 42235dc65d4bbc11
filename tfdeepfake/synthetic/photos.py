"""Real face photographs that installed packages ship, with their face landmarks.

Nothing is downloaded: scikit-image and matplotlib carry these files in their wheels.
Faces found in their sample data (checked for scikit-image 0.24 / matplotlib 3.9):

- ``astronaut``: Eileen Collins, NASA portrait (public domain), ``skimage.data.astronaut``.
- ``grace_hopper``: Grace Hopper, US Navy portrait (public domain), matplotlib's
  ``sample_data/grace_hopper.jpg``.
- ``cameraman``: ``skimage.data.camera``; grayscale, face turned to the side and half
  hidden by a camera. Kept for tests of hard cases; not a good swap source or target.

``skimage.data.lfw_subset`` (25x25 grayscale crops) is too small to render or swap.

Each photo carries the face box and five keypoints MTCNN 1.0.0 finds on it (measured
once; ``tests/synthetic`` checks them against MTCNN), so rendering a video of a shipped
photo needs no detector.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import cv2
import numpy as np

# Keypoint order used everywhere in the project (DEVELOPERS.md, "Faces").
KEYPOINT_NAMES = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")
# The keypoint rows that trade places under a horizontal flip ("left" means image-left).
_FLIP_ORDER = (1, 0, 2, 4, 3)

FRONTAL_PHOTOS = ("astronaut", "grace_hopper")
PHOTO_NAMES = ("astronaut", "grace_hopper", "cameraman")

# MTCNN 1.0.0 on the untouched photos: box [x1, y1, x2, y2], keypoints in KEYPOINT_NAMES order.
_LANDMARKS = {
    "astronaut": (
        (182.0, 64.0, 265.0, 171.0),
        ((204, 100), (245, 102), (224, 126), (202, 139), (244, 140)),
    ),
    "grace_hopper": (
        (178.0, 110.0, 351.0, 330.0),
        ((220, 190), (308, 186), (268, 237), (232, 277), (304, 273)),
    ),
    "cameraman": (
        (197.0, 116.0, 255.0, 197.0),
        ((234, 147), (251, 149), (250, 167), (228, 179), (243, 180)),
    ),
}

_SOURCES = {
    "astronaut": "skimage.data.astronaut() - NASA, public domain",
    "grace_hopper": "matplotlib sample_data/grace_hopper.jpg - US Navy, public domain",
    "cameraman": "skimage.data.camera() - MIT, used with permission (scikit-image)",
}


@dataclass(frozen=True, eq=False)
class Photo:
    """An RGB uint8 face photo with its face box ``[x1, y1, x2, y2]`` and ``[5, 2]`` keypoints.

    ``box`` / ``keypoints`` are None when unknown (a user's image before detection).
    """

    name: str
    image: np.ndarray
    box: np.ndarray | None = None
    keypoints: np.ndarray | None = None
    source: str = ""
    tags: tuple[str, ...] = field(default_factory=tuple)


def _load_image(name: str) -> np.ndarray:
    if name == "astronaut":
        from skimage import data

        return np.ascontiguousarray(data.astronaut())
    if name == "grace_hopper":
        from matplotlib import cbook

        path = cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is None:
            raise FileNotFoundError(f"matplotlib sample image not readable: {path}")
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    if name == "cameraman":
        from skimage import data

        return cv2.cvtColor(data.camera(), cv2.COLOR_GRAY2RGB)
    raise ValueError(f"unknown photo {name!r}; valid names: {', '.join(PHOTO_NAMES)}")


@lru_cache(maxsize=None)
def _cached(name: str) -> Photo:
    image = _load_image(name)
    image.setflags(write=False)  # shared between callers: nobody may draw on it
    box, kps = _LANDMARKS[name]
    return Photo(
        name=name,
        image=image,
        box=np.asarray(box, dtype=np.float32),
        keypoints=np.asarray(kps, dtype=np.float32),
        source=_SOURCES[name],
        tags=("frontal",) if name in FRONTAL_PHOTOS else (),
    )


def load_photo(name: str) -> Photo:
    """One shipped photo by name (see ``PHOTO_NAMES``). The image array is read-only."""
    if name not in PHOTO_NAMES:
        raise ValueError(f"unknown photo {name!r}; valid names: {', '.join(PHOTO_NAMES)}")
    return _cached(name)


def shipped_photos(frontal_only: bool = False) -> list[Photo]:
    """All shipped face photos (or only the frontal ones, good for rendering and swaps)."""
    names = FRONTAL_PHOTOS if frontal_only else PHOTO_NAMES
    return [load_photo(n) for n in names]


def flip_keypoints(keypoints: np.ndarray, width: int) -> np.ndarray:
    """Keypoints of the horizontally flipped image, relabelled so left stays image-left."""
    flipped = np.asarray(keypoints, dtype=np.float32).copy()
    flipped[:, 0] = (width - 1) - flipped[:, 0]
    return flipped[list(_FLIP_ORDER)]


def make_identity(photo: Photo, rng: np.random.Generator, name: str | None = None) -> Photo:
    """A new "identity" from ``photo``: random flip, face-shape stretch and colouring.

    Geometry changes (flip, a horizontal/vertical stretch of up to ~12%) move the
    landmarks with the pixels; colour changes (skin tone in LAB, saturation, gamma) give
    the face a different look. With two frontal photos this yields enough distinct faces
    for the demo's identities.
    """
    if photo.keypoints is None or photo.box is None:
        raise ValueError(f"photo {photo.name!r} has no landmarks; detect them first")
    image = np.asarray(photo.image)
    h, w = image.shape[:2]
    flip = bool(rng.random() < 0.5)
    sx = float(rng.uniform(0.9, 1.12))
    sy = float(rng.uniform(0.92, 1.08))

    # Stretch about the face centre so the face stays inside the photo.
    cx, cy = photo.keypoints.mean(axis=0)
    m = np.array([[sx, 0.0, cx * (1 - sx)], [0.0, sy, cy * (1 - sy)]], dtype=np.float32)
    out = cv2.warpAffine(image, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    kps = _apply_affine(photo.keypoints, m)
    box = _apply_affine(photo.box.reshape(2, 2), m).reshape(4)
    if flip:
        out = np.ascontiguousarray(out[:, ::-1])
        kps = flip_keypoints(kps, w)
        box = np.array([(w - 1) - box[2], box[1], (w - 1) - box[0], box[3]], dtype=np.float32)

    out = recolour(out, rng)
    tag = name or f"{photo.name}-v{int(rng.integers(0, 1_000_000)):06d}"
    return Photo(name=tag, image=out, box=box.astype(np.float32), keypoints=kps.astype(np.float32),
                 source=photo.source, tags=photo.tags + ("augmented",))


def recolour(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Random skin-tone shift (LAB a/b), saturation and gamma change of an RGB image."""
    lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB).astype(np.float32)
    lab[..., 1] += rng.uniform(-8, 8)
    lab[..., 2] += rng.uniform(-10, 10)
    # Saturation: scale chroma about neutral (128 in OpenCV's 8-bit LAB).
    chroma = rng.uniform(0.8, 1.2)
    lab[..., 1:] = 128 + (lab[..., 1:] - 128) * chroma
    rgb = cv2.cvtColor(np.clip(lab, 0, 255).astype(np.uint8), cv2.COLOR_LAB2RGB)
    gamma = rng.uniform(0.85, 1.18)
    lut = np.clip(255.0 * (np.arange(256) / 255.0) ** gamma, 0, 255).astype(np.uint8)
    return cv2.LUT(rgb, lut)


def _apply_affine(points: np.ndarray, m: np.ndarray) -> np.ndarray:
    pts = np.asarray(points, dtype=np.float32).reshape(-1, 2)
    return pts @ m[:, :2].T + m[:, 2]
