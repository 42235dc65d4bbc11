"""Cutting a face out of a frame at a fixed output size."""

from __future__ import annotations

import cv2
import numpy as np

from tfdeepfake.faces.boxes import expand_box


def crop_face(frame: np.ndarray, box: np.ndarray, size: int, margin: float = 0.0,
              square: bool = True) -> np.ndarray:
    """Crop ``box`` (expanded by ``margin``) from an RGB frame and resize to ``size``.

    Parts of the expanded box outside the frame are filled by replicating the border, so
    a face at the edge keeps its position and scale in the crop instead of being stretched.
    """
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"expected an RGB frame [H, W, 3], got shape {frame.shape}")
    height, width = frame.shape[:2]
    x1, y1, x2, y2 = np.round(expand_box(box, margin=margin, square=square)).astype(int)
    if x2 <= x1 or y2 <= y1:
        raise ValueError(f"empty face box {box}")
    pad_left, pad_top = max(0, -x1), max(0, -y1)
    pad_right, pad_bottom = max(0, x2 - width), max(0, y2 - height)
    region = frame[max(0, y1):min(height, y2), max(0, x1):min(width, x2)]
    if pad_left or pad_top or pad_right or pad_bottom:
        region = cv2.copyMakeBorder(region, pad_top, pad_bottom, pad_left, pad_right,
                                    cv2.BORDER_REPLICATE)
    # INTER_AREA avoids aliasing when shrinking; cubic keeps detail when enlarging.
    interpolation = cv2.INTER_AREA if region.shape[0] > size else cv2.INTER_CUBIC
    return cv2.resize(region, (size, size), interpolation=interpolation)
