"""Changes made alike to a real face and its pseudo-fake while training on self-blended
images (``tfdeepfake.synthetic.self_blend``): colour, saturation, JPEG, blur and, when
enabled, resolution and sensor noise. Changing both images of a pair the same way leaves the
blend as their only difference, and makes image quality a nuisance of both classes rather
than a cue for one.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import cv2
import numpy as np


@dataclasses.dataclass(frozen=True)
class PairAugmentConfig:
    """Global changes applied identically to a real face and its pseudo-fake (SBI trains
    with them): with few training videos, a network otherwise learns "looks exactly like a
    training face = real" and calls every unseen face fake; changing both images of a pair
    the same way leaves the blend as their only difference."""

    channel_shift: float = 20.0
    brightness: float = 0.15
    contrast: float = 0.2
    saturation: float = 0.3
    jpeg_quality: tuple[int, int] = (40, 100)
    jpeg_probability: float = 0.5
    blur_probability: float = 0.2
    blur_sigma: tuple[float, float] = (0.5, 1.5)
    # Resolution and sensor noise as nuisances of both classes (off by default, as landed):
    # the pair shrunk to a face side in ``rescale_side`` px and enlarged back, and the same
    # Gaussian noise field added to both.
    rescale_probability: float = 0.0
    rescale_side: tuple[int, int] = (64, 160)
    noise_probability: float = 0.0
    noise_sigma: tuple[float, float] = (1.0, 6.0)

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v
                for k, v in dataclasses.asdict(self).items()}


def augment_pair(images: np.ndarray, rng: np.random.Generator,
                 config: PairAugmentConfig = PairAugmentConfig()) -> np.ndarray:
    """``images [K, S, S, 3]`` uint8 (a real face and its pseudo-fake) changed by the same
    random colour jitter, saturation change, JPEG compression and blur."""
    x = np.asarray(images, np.float32)
    shift = rng.uniform(-config.channel_shift, config.channel_shift, 3).astype(np.float32)
    brightness = rng.uniform(-config.brightness, config.brightness) * 255.0
    contrast = 1.0 + rng.uniform(-config.contrast, config.contrast)
    saturation = 1.0 + rng.uniform(-config.saturation, config.saturation)
    grey = x.mean(axis=-1, keepdims=True)
    x = grey + (x - grey) * saturation
    mean = float(x.mean())  # one mean for the pair: the same change at every pixel
    x = np.clip((x - mean) * contrast + mean + brightness + shift, 0, 255)
    blur = rng.random() < config.blur_probability
    sigma = rng.uniform(*config.blur_sigma)
    jpeg = rng.random() < config.jpeg_probability
    quality = int(rng.integers(config.jpeg_quality[0], config.jpeg_quality[1] + 1))
    # Drawn only when enabled, so the landed configs keep their outputs.
    if config.rescale_probability > 0 and rng.random() < config.rescale_probability:
        size = x.shape[1]
        side = int(rng.integers(config.rescale_side[0], config.rescale_side[1] + 1))
        if side < size:
            up = (cv2.INTER_LINEAR, cv2.INTER_CUBIC)[int(rng.integers(2))]
            x = np.stack([cv2.resize(cv2.resize(im, (side, side), interpolation=cv2.INTER_AREA),
                                     (size, size), interpolation=up) for im in x])
            x = np.clip(x, 0, 255)  # cubic enlargement overshoots
    if config.noise_probability > 0 and rng.random() < config.noise_probability:
        noise = rng.normal(0.0, rng.uniform(*config.noise_sigma), x.shape[1:]).astype(np.float32)
        x = np.clip(x + noise, 0, 255)
    out = np.rint(x).astype(np.uint8)
    for i in range(len(out)):
        if blur:
            out[i] = cv2.GaussianBlur(out[i], (0, 0), sigma)
        if jpeg:
            ok, data = cv2.imencode(".jpg", out[i][..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
            if ok:
                out[i] = cv2.imdecode(data, cv2.IMREAD_COLOR)[..., ::-1]
    return out


__all__ = ["PairAugmentConfig", "augment_pair"]
