"""Occlusion maps (Zeiler and Fergus, 2014): which parts of a face move a model's output.

A grey square slides over the face; at each position the model scores the occluded face,
and every pixel under the square is charged with how far the output moved from the
unoccluded face's (the Euclidean distance, so a vector output such as an embedding works
as well as a probability). Each pixel's value is the mean over the positions covering it;
each map is scaled to [0, 1] by its peak. It needs only forward passes, so it works for
any model, including ones with no gradient path (the triplet method's KNN / random forest).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

GREY = 128


def patch_positions(size: int, patch: int, stride: int) -> list[int]:
    """Top-left offsets along one side so that the patches cover it to the edge."""
    if not 0 < patch <= size or stride < 1:
        raise ValueError(f"need 0 < patch <= size and stride >= 1, got patch {patch}, "
                         f"size {size}, stride {stride}")
    starts = list(range(0, size - patch + 1, stride))
    if starts[-1] != size - patch:
        starts.append(size - patch)
    return starts


def occlusion_maps(faces: np.ndarray, score: Callable[[np.ndarray], np.ndarray], *,
                   patch: float = 0.25, stride: float = 0.125, fill: int = GREY,
                   batch_size: int = 64) -> np.ndarray:
    """Maps ``[N, H, W]`` float32 in [0, 1] for faces ``[N, H, W, 3]`` uint8.

    ``score(images [M, H, W, 3] uint8) -> [M] or [M, D]``; ``patch`` and ``stride`` are
    fractions of the face side. A face whose output no patch moves gets an all-zero map.
    """
    faces = np.asarray(faces)
    if faces.ndim != 4 or faces.shape[-1] != 3:
        raise ValueError(f"faces must be [N, H, W, 3], got shape {faces.shape}")
    n, h, w, _ = faces.shape
    ph, pw = max(1, int(round(patch * h))), max(1, int(round(patch * w)))
    ys = patch_positions(h, ph, max(1, int(round(stride * h))))
    xs = patch_positions(w, pw, max(1, int(round(stride * w))))
    positions = [(y, x) for y in ys for x in xs]
    maps = np.zeros((n, h, w), np.float32)
    for k, face in enumerate(faces):
        reference = np.asarray(score(face[None]), np.float64).reshape(1, -1)
        moved = []
        for start in range(0, len(positions), batch_size):
            chunk = positions[start:start + batch_size]
            occluded = np.repeat(face[None], len(chunk), axis=0)
            for j, (y, x) in enumerate(chunk):
                occluded[j, y:y + ph, x:x + pw] = fill
            out = np.asarray(score(occluded), np.float64).reshape(len(chunk), -1)
            moved.extend(np.linalg.norm(out - reference, axis=1).tolist())
        total = np.zeros((h, w), np.float64)
        count = np.zeros((h, w), np.float64)
        for (y, x), value in zip(positions, moved):
            total[y:y + ph, x:x + pw] += value
            count[y:y + ph, x:x + pw] += 1
        heat = total / np.maximum(count, 1)
        peak = heat.max()
        maps[k] = heat / peak if peak > 0 else 0.0
    return maps


__all__ = ["occlusion_maps", "patch_positions"]
