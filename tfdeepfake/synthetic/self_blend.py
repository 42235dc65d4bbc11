"""Self-blended images (SBI, Shiohara & Yamasaki, CVPR 2022): a pseudo-fake made from one
real face crop by blending a slightly altered copy of the face into the face itself.

Real and pseudo-fake then differ only by what every face swap leaves behind (a blending
boundary, a colour and sharpness mismatch, a small misalignment), never by who the person
is, so a detector trained on them cannot learn identities. numpy and OpenCV only, no
TensorFlow; ``tfdeepfake.pipelines.self_blend`` runs it inside tf.data.

One pseudo-fake, for a face crop ``I`` and its five MTCNN keypoints (crop pixels):

1. **Source** ``S``: a copy of ``I`` with colour jitter (per-channel shift, brightness,
   contrast), a sharpness change (down-and-up resize, which blurs, or an unsharp mask, each
   with probability 1/2) and a small geometric change (scale about the face centre, shift).
   Only the source is altered, so the output equals ``I`` wherever the mask is 0.
2. **Mask** ``M``: five points only span eyes to mouth, far less than the region a swap
   replaces, so the hull is taken over the keypoints plus a face outline extrapolated from
   them (``FACE_OUTLINE``): in a frame whose origin is the eye centre, whose x unit is the
   vector from the left to the right eye and whose y unit the vector from the eye centre to
   the mouth centre, the outline reaches 0.9 units above the eye line (forehead), 1.2 units
   to each side at the eye line (temples), 1.1 at y = 0.8 (cheeks) and 1.6 units below the
   eye line (chin; the mouth is at 1). Being built on the face's own axes, it follows the
   face's size, roll and (roughly) yaw. Each outline point is jittered, the outline is
   scaled about the face centre by a random factor (``outline_scale``: mostly inward, as
   swaps that replace the inner face do), the convex hull is filled, warped by a smooth
   random displacement field (``elastic``, an elastic deformation) and blurred with a
   Gaussian of random width (``blur``), then rescaled to a maximum of 1.
3. **Blend**: ``out = r M S + (1 - r M) I`` with ``r`` drawn from ``blend_ratios`` (the
   paper's {0.25, 0.5, 0.75, 1, 1, 1}).

Keypoints that cannot describe a face in the crop (missing, collapsed, far outside) are
replaced by ``CANONICAL_KEYPOINTS``: the mean positions of the five points in 700 crops of
the shared real footage (margin 0.33, square), as fractions of the crop side.

Everything is drawn from one ``numpy.random.Generator`` per face, seeded from the face's own
seed, so a pseudo-fake depends only on the face, its keypoints, its seed and the config:
the same seed gives the same output, whatever the batch it is made in.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any, Mapping, Sequence

import cv2
import numpy as np

from tfdeepfake.faces.boxes import expand_box

logger = logging.getLogger(__name__)

# Mean keypoints (x, y) of 700 real face crops (margin 0.33, square) as fractions of the
# crop side: left eye, right eye, nose, mouth left, mouth right.
CANONICAL_KEYPOINTS = np.array([[0.384, 0.414], [0.636, 0.412], [0.512, 0.557],
                                [0.407, 0.697], [0.613, 0.695]], np.float32)
# The face outline in the eye/mouth frame (see the module docs): forehead, temples,
# cheeks, jaw and chin.
FACE_OUTLINE = np.array([[-0.9, -0.75], [0.0, -0.9], [0.9, -0.75],
                         [-1.2, 0.0], [1.2, 0.0],
                         [-1.1, 0.8], [1.1, 0.8],
                         [-0.6, 1.45], [0.0, 1.6], [0.6, 1.45]], np.float32)
# The region a lip-sync generator redraws, in the same frame: from between the eyes and the
# mouth down to the chin, cheek to cheek.
LOWER_FACE = np.array([[-1.0, 0.45], [1.0, 0.45], [-1.1, 0.8], [1.1, 0.8],
                       [-0.6, 1.45], [0.0, 1.6], [0.6, 1.45]], np.float32)
# Keypoints describe a face when the eyes are this far apart and the mouth this far from
# them (fractions of the crop side), and every point lies within this margin of the crop.
MIN_FEATURE_DISTANCE = 0.08
KEYPOINT_MARGIN = 0.25


@dataclasses.dataclass(frozen=True)
class SelfBlendConfig:
    """How pseudo-fakes are made; every range is sampled uniformly per face. Lengths are
    fractions of the crop side, colour values are in pixel levels (0..255)."""

    blend_ratios: tuple[float, ...] = (0.25, 0.5, 0.75, 1.0, 1.0, 1.0)
    outline_scale: tuple[float, float] = (0.8, 1.05)
    outline_jitter: float = 0.08  # per outline point, in eye/mouth frame units
    elastic: float = 0.02  # largest displacement of the mask's warp
    elastic_grid: int = 4  # control points per side of the warp
    blur: tuple[float, float] = (0.01, 0.04)  # Gaussian sigma of the mask's edge
    source_scale: tuple[float, float] = (0.95, 1.05)
    source_shift: float = 0.03
    channel_shift: float = 20.0
    brightness: float = 0.1  # +- this fraction of 255
    contrast: float = 0.1  # factor 1 +- this
    downscale: tuple[float, float] = (0.4, 0.9)  # the blurring branch: resize by this and back
    sharpen: tuple[float, float] = (0.2, 1.0)  # the sharpening branch: unsharp-mask amount
    # Lip-sync imitations (``lower_face_source``): this share of pseudo-fakes replaces only
    # the lower face with the face passed through a bottleneck of this side (crop fraction).
    mouth_probability: float = 0.0
    mouth_bottleneck: tuple[float, float] = (0.25, 0.6)

    def __post_init__(self):
        for name in ("blend_ratios", "outline_scale", "blur", "source_scale", "downscale",
                     "sharpen", "mouth_bottleneck"):
            object.__setattr__(self, name, tuple(float(v) for v in getattr(self, name)))
        if not self.blend_ratios or not all(0.0 < r <= 1.0 for r in self.blend_ratios):
            raise ValueError(f"blend_ratios must be in (0, 1], got {self.blend_ratios}")
        for name in ("outline_scale", "blur", "source_scale", "downscale", "sharpen"):
            low, high = _pair(getattr(self, name), name)
            if low > high or low < 0:
                raise ValueError(f"{name} must be (low, high) with 0 <= low <= high, got "
                                 f"{getattr(self, name)}")
        if self.outline_scale[0] <= 0 or self.source_scale[0] <= 0:
            raise ValueError("outline_scale and source_scale must be > 0")
        if self.downscale[1] > 1.0 or self.downscale[0] <= 0:
            raise ValueError(f"downscale must lie in (0, 1], got {self.downscale}")
        if self.mouth_bottleneck[1] > 1.0 or self.mouth_bottleneck[0] <= 0:
            raise ValueError(f"mouth_bottleneck must lie in (0, 1], got {self.mouth_bottleneck}")
        if not 0.0 <= self.mouth_probability <= 1.0:
            raise ValueError(f"mouth_probability must be in [0, 1], got {self.mouth_probability}")
        if self.elastic_grid < 2:
            raise ValueError(f"elastic_grid must be >= 2, got {self.elastic_grid}")
        for name in ("outline_jitter", "elastic", "source_shift", "channel_shift", "brightness",
                     "contrast"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v
                for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "SelfBlendConfig":
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(data) - set(names))
        if unknown:
            raise ValueError(f"unknown self-blend settings {unknown}; valid: {', '.join(names)}")
        return cls(**dict(data))


def _pair(value: Sequence[float], name: str) -> tuple[float, float]:
    if len(value) != 2:
        raise ValueError(f"{name} must be (low, high), got {value}")
    return float(value[0]), float(value[1])


# The texture head's pseudo-fakes (issue 20) and adapt --method self-blend: self-blends of the
# whole face, and lip-sync imitations (only the lower face replaced).
PSEUDO_FAKE_RECIPES = (SelfBlendConfig(), SelfBlendConfig(mouth_probability=1.0))


@dataclasses.dataclass
class SelfBlended:
    """Pseudo-fakes and how they were made, row-aligned with the input faces."""

    images: np.ndarray  # [N, S, S, 3] uint8
    masks: np.ndarray  # [N, S, S] float32 in [0, 1], before the blend ratio
    ratios: np.ndarray  # [N] float32
    sources: np.ndarray  # [N, S, S, 3] float32, the altered copies (0..255)
    canonical: np.ndarray  # [N] bool: keypoints replaced by the canonical ones


# -- keypoints ------------------------------------------------------------------------------


def keypoints_in_crop(keypoints: np.ndarray, boxes: np.ndarray, size: int, margin: float,
                      square: bool = True) -> np.ndarray:
    """Full-frame keypoints ``[N, 5, 2]`` -> the pixels of the face crops cut from ``boxes``
    ``[N, 4]`` the way ``tfdeepfake.faces.crop.crop_face`` cuts them (the box expanded by
    ``margin``, made square, rounded to whole pixels, resized to ``size``)."""
    keypoints = np.asarray(keypoints, np.float64).reshape(-1, 5, 2)
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    if len(keypoints) != len(boxes):
        raise ValueError(f"{len(keypoints)} keypoint sets for {len(boxes)} boxes")
    regions = np.round(np.array([expand_box(b, margin=margin, square=square) for b in boxes]))
    regions = regions.reshape(-1, 4)
    origin = regions[:, None, :2]
    extent = np.maximum(regions[:, None, 2:] - regions[:, None, :2], 1.0)
    return ((keypoints - origin) * (size / extent)).astype(np.float32)


def keypoints_in_crops_of(keypoints: np.ndarray, boxes: np.ndarray, settings) -> np.ndarray:
    """``keypoints_in_crop`` for crops cut with ``settings`` (a ``FaceSettings``: its size,
    margin and squaring), as every face cache and ``detect`` cut them."""
    return keypoints_in_crop(np.asarray(keypoints), np.asarray(boxes), settings.size,
                             settings.margin, settings.square)


def usable_keypoints(keypoints: np.ndarray, size: int) -> np.ndarray:
    """``[N]`` bool: keypoints that can anchor the face outline in a ``size`` crop."""
    k = np.asarray(keypoints, np.float64).reshape(-1, 5, 2) / float(size)
    finite = np.isfinite(k).all(axis=(1, 2))
    k = np.nan_to_num(k)
    inside = ((k >= -KEYPOINT_MARGIN) & (k <= 1 + KEYPOINT_MARGIN)).all(axis=(1, 2))
    eyes = np.linalg.norm(k[:, 1] - k[:, 0], axis=1)
    mouth = np.linalg.norm(k[:, 3:5].mean(1) - k[:, 0:2].mean(1), axis=1)
    return finite & inside & (eyes >= MIN_FEATURE_DISTANCE) & (mouth >= MIN_FEATURE_DISTANCE)


def face_outline(keypoints: np.ndarray, jitter: np.ndarray | None = None,
                 scale: np.ndarray | None = None) -> np.ndarray:
    """``[N, 5 + P, 2]``: the keypoints and the outline points (``FACE_OUTLINE`` plus
    ``jitter [N, P, 2]`` in frame units), every point scaled about the face centre by
    ``scale [N]``."""
    k = np.asarray(keypoints, np.float32).reshape(-1, 5, 2)
    outline = np.broadcast_to(FACE_OUTLINE, (len(k),) + FACE_OUTLINE.shape)
    if jitter is not None:
        outline = outline + np.asarray(jitter, np.float32)
    eyes = k[:, 0:2].mean(axis=1)
    across = k[:, 1] - k[:, 0]
    down = k[:, 3:5].mean(axis=1) - eyes
    points = eyes[:, None] + outline[..., :1] * across[:, None] + outline[..., 1:] * down[:, None]
    points = np.concatenate([k, points], axis=1)
    if scale is not None:
        centre = points.mean(axis=1, keepdims=True)
        points = centre + (points - centre) * np.asarray(scale, np.float32).reshape(-1, 1, 1)
    return points.astype(np.float32)


# -- the transform --------------------------------------------------------------------------


def _uniform(rng: np.random.Generator, bounds: Sequence[float]) -> float:
    return float(rng.uniform(bounds[0], bounds[1])) if bounds[1] > bounds[0] else float(bounds[0])


def hull_mask(points: np.ndarray, size: int) -> np.ndarray:
    """``[size, size]`` float32: 1 inside the convex hull of ``points [K, 2]``, else 0."""
    mask = np.zeros((size, size), np.float32)
    hull = cv2.convexHull(np.round(np.asarray(points) * 16).astype(np.int32))
    cv2.fillConvexPoly(mask, hull, 1.0, lineType=cv2.LINE_AA, shift=4)
    return mask


def _elastic(mask: np.ndarray, rng: np.random.Generator, amplitude: float, grid: int) -> np.ndarray:
    """The mask warped by a smooth random displacement field (``grid`` x ``grid`` control
    displacements of up to ``amplitude`` pixels, cubic-interpolated)."""
    size = mask.shape[0]
    if amplitude <= 0:
        return mask
    field = rng.uniform(-amplitude, amplitude, (2, grid, grid)).astype(np.float32)
    dx = cv2.resize(field[0], (size, size), interpolation=cv2.INTER_CUBIC)
    dy = cv2.resize(field[1], (size, size), interpolation=cv2.INTER_CUBIC)
    xs, ys = np.meshgrid(np.arange(size, dtype=np.float32), np.arange(size, dtype=np.float32))
    return cv2.remap(mask, xs + dx, ys + dy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                     borderValue=0.0)


def blend_mask(keypoints: np.ndarray, size: int, rng: np.random.Generator,
               config: SelfBlendConfig) -> np.ndarray:
    """One face's soft mask ``[size, size]`` in [0, 1] (module docs, step 2)."""
    jitter = rng.uniform(-config.outline_jitter, config.outline_jitter, FACE_OUTLINE.shape)
    scale = _uniform(rng, config.outline_scale)
    points = face_outline(keypoints[None], jitter[None], np.array([scale]))[0]
    mask = _elastic(hull_mask(points, size), rng, config.elastic * size, config.elastic_grid)
    sigma = _uniform(rng, config.blur) * size
    if sigma > 0:
        mask = cv2.GaussianBlur(mask, (0, 0), sigmaX=sigma, sigmaY=sigma,
                                borderType=cv2.BORDER_CONSTANT)
    peak = float(mask.max())
    return (mask / peak).astype(np.float32) if peak > 0 else mask


def altered_source(face: np.ndarray, centre: np.ndarray, rng: np.random.Generator,
                   config: SelfBlendConfig) -> np.ndarray:
    """The altered copy ``[S, S, 3]`` float32 (module docs, step 1)."""
    size = face.shape[0]
    x = face.astype(np.float32)
    shift = rng.uniform(-config.channel_shift, config.channel_shift, 3).astype(np.float32)
    brightness = rng.uniform(-config.brightness, config.brightness) * 255.0
    contrast = 1.0 + rng.uniform(-config.contrast, config.contrast)
    mean = x.mean(axis=(0, 1), keepdims=True)
    x = np.clip((x - mean) * contrast + mean + brightness + shift, 0, 255)
    if rng.random() < 0.5:
        factor = _uniform(rng, config.downscale)
        small = max(4, int(round(size * factor)))
        x = cv2.resize(cv2.resize(x, (small, small), interpolation=cv2.INTER_AREA),
                       (size, size), interpolation=cv2.INTER_LINEAR)
    else:
        amount = _uniform(rng, config.sharpen)
        x = np.clip(x + amount * (x - cv2.GaussianBlur(x, (0, 0), 1.0)), 0, 255)
    scale = _uniform(rng, config.source_scale)
    dx, dy = rng.uniform(-config.source_shift, config.source_shift, 2) * size
    matrix = np.array([[scale, 0, (1 - scale) * centre[0] + dx],
                       [0, scale, (1 - scale) * centre[1] + dy]], np.float32)
    return cv2.warpAffine(x, matrix, (size, size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REFLECT101)


def lower_face_source(face: np.ndarray, keypoints: np.ndarray, rng: np.random.Generator,
                      config: SelfBlendConfig) -> tuple[np.ndarray, np.ndarray]:
    """A lip-sync imitation: ``(mask [S, S], source [S, S, 3] float32)``. Lip-sync generators
    (Wav2Lip's 96 px, diffusion ones at 256-512 px) redraw the mouth and jaw at a lower
    resolution than the frame and paste them back, so the mask covers nose-to-chin only
    and the source is the face through a bottleneck (down, then up), slightly moved."""
    size = face.shape[0]
    jitter = rng.uniform(-config.outline_jitter, config.outline_jitter, LOWER_FACE.shape)
    k = np.asarray(keypoints, np.float32)
    eyes, mouth = k[0:2].mean(axis=0), k[3:5].mean(axis=0)
    across, down = k[1] - k[0], mouth - eyes
    outline = LOWER_FACE + jitter
    points = eyes + outline[:, :1] * across + outline[:, 1:] * down
    mask = _elastic(hull_mask(np.concatenate([points, k[2:]]), size), rng,
                    config.elastic * size, config.elastic_grid)
    sigma = _uniform(rng, config.blur) * size
    if sigma > 0:
        mask = cv2.GaussianBlur(mask, (0, 0), sigmaX=sigma, sigmaY=sigma,
                                borderType=cv2.BORDER_CONSTANT)
    peak = float(mask.max())
    mask = (mask / peak).astype(np.float32) if peak > 0 else mask
    small = max(8, int(round(size * _uniform(rng, config.mouth_bottleneck))))
    x = cv2.resize(face.astype(np.float32), (small, small), interpolation=cv2.INTER_AREA)
    x = cv2.resize(x, (size, size), interpolation=(cv2.INTER_LINEAR, cv2.INTER_CUBIC)[
        int(rng.integers(2))])
    shift = rng.uniform(-config.channel_shift, config.channel_shift, 3).astype(np.float32) / 2
    dx, dy = rng.uniform(-config.source_shift, config.source_shift, 2) * size / 2
    x = cv2.warpAffine(np.clip(x + shift, 0, 255), np.float32([[1, 0, dx], [0, 1, dy]]),
                       (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)
    return mask, x


def blend(target: np.ndarray, source: np.ndarray, mask: np.ndarray, ratio) -> np.ndarray:
    """``round(r M S + (1 - r M) T)`` as uint8, over a batch ``[N, S, S, 3]`` (or one face);
    ``mask`` is ``[..., S, S]``, ``ratio`` a scalar or ``[N]``."""
    target = np.asarray(target, np.float32)
    weight = np.asarray(mask, np.float32)[..., None]
    ratio = np.asarray(ratio, np.float32)
    weight = weight * ratio.reshape(ratio.shape + (1,) * (weight.ndim - ratio.ndim))
    out = weight * np.asarray(source, np.float32) + (1.0 - weight) * target
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def face_seeds(seed: int | Sequence[int] | np.ndarray, count: int) -> np.ndarray:
    """One seed per face: given as ``[count]``, or derived from one integer."""
    if np.ndim(seed) == 0:
        return np.random.default_rng(int(seed)).integers(0, 2**62, count, dtype=np.int64)
    seeds = np.asarray(seed, np.int64).reshape(-1)
    if len(seeds) != count:
        raise ValueError(f"{len(seeds)} seeds for {count} faces")
    return seeds


def self_blend(faces: np.ndarray, keypoints: np.ndarray, seed: int | Sequence[int] | np.ndarray,
               config: SelfBlendConfig = SelfBlendConfig()) -> SelfBlended:
    """Pseudo-fakes of ``faces [N, S, S, 3]`` uint8 with keypoints ``[N, 5, 2]`` in crop
    pixels (``keypoints_in_crop`` converts a face cache's). ``seed``: one integer for the
    batch, or one per face (then a face's output does not depend on its batch)."""
    faces = np.asarray(faces)
    if faces.ndim != 4 or faces.shape[-1] != 3 or faces.shape[1] != faces.shape[2]:
        raise ValueError(f"faces must be square crops [N, S, S, 3], got shape {faces.shape}")
    if faces.dtype != np.uint8:
        raise ValueError(f"faces must be uint8, got {faces.dtype}")
    count, size = len(faces), int(faces.shape[1])
    keypoints = np.asarray(keypoints, np.float32).reshape(-1, 5, 2)
    if len(keypoints) != count:
        raise ValueError(f"{len(keypoints)} keypoint sets for {count} faces")
    seeds = face_seeds(seed, count)
    canonical = ~usable_keypoints(keypoints, size)
    keypoints = np.where(canonical[:, None, None], CANONICAL_KEYPOINTS * size, keypoints)
    masks = np.zeros((count, size, size), np.float32)
    sources = np.zeros(faces.shape, np.float32)
    ratios = np.zeros(count, np.float32)
    for i in range(count):
        rng = np.random.default_rng(int(seeds[i]))
        # Drawn only when enabled, so configs without lip-sync imitations keep their outputs.
        if config.mouth_probability > 0 and rng.random() < config.mouth_probability:
            masks[i], sources[i] = lower_face_source(faces[i], keypoints[i], rng, config)
        else:
            masks[i] = blend_mask(keypoints[i], size, rng, config)
            centre = face_outline(keypoints[i][None])[0].mean(axis=0)
            sources[i] = altered_source(faces[i], centre, rng, config)
        ratios[i] = config.blend_ratios[int(rng.integers(len(config.blend_ratios)))]
    return SelfBlended(blend(faces, sources, masks, ratios), masks, ratios, sources, canonical)


# The pair augmentation lives in synthetic/pair_augment.py; its names stay importable here.
from tfdeepfake.synthetic.pair_augment import PairAugmentConfig, augment_pair  # noqa: E402


__all__ = ["CANONICAL_KEYPOINTS", "FACE_OUTLINE", "PSEUDO_FAKE_RECIPES", "PairAugmentConfig", "SelfBlendConfig",
           "SelfBlended", "altered_source", "augment_pair", "blend", "blend_mask", "face_outline", "face_seeds", "hull_mask",
           "keypoints_in_crop", "keypoints_in_crops_of", "lower_face_source", "self_blend",
           "usable_keypoints"]
