"""Pixel drawing shared by the annotated video and the report's images: colours for
probabilities, boxes, text bars. OpenCV on RGB uint8 arrays; no TensorFlow, no matplotlib."""

from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

FONT = cv2.FONT_HERSHEY_SIMPLEX
NO_SCORE = (150, 150, 150)  # grey: no face, or no per-frame score
VERDICT_COLOURS = {"real": (40, 170, 60), "fake": (215, 40, 40), "unknown": NO_SCORE}


def probability_colour(probability: float | None) -> tuple[int, int, int]:
    """RGB from green (0, real) through yellow (0.5) to red (1, fake); grey for None."""
    if probability is None or not np.isfinite(probability):
        return NO_SCORE
    p = float(np.clip(probability, 0.0, 1.0))
    if p <= 0.5:
        return (int(round(40 + 400 * p)), 190, 40)  # green -> yellow
    return (230, int(round(190 - 380 * (p - 0.5))), 40)  # yellow -> red


def text_scale(height: int) -> tuple[float, int]:
    """OpenCV font scale and stroke thickness readable on a frame ``height`` pixels tall."""
    scale = max(0.35, min(1.2, height / 720.0))
    return scale, max(1, int(round(scale * 2)))


def draw_box(image: np.ndarray, box: Sequence[float], colour, thickness: int,
             label: str | None = None) -> None:
    """A rectangle ``[x1, y1, x2, y2]`` (clipped to the image), with ``label`` above it on a
    filled tab of the same colour; draws in place."""
    h, w = image.shape[:2]
    x1, y1, x2, y2 = (int(round(v)) for v in box)
    x1, x2 = max(0, min(w - 1, x1)), max(0, min(w - 1, x2))
    y1, y2 = max(0, min(h - 1, y1)), max(0, min(h - 1, y2))
    cv2.rectangle(image, (x1, y1), (x2, y2), colour, thickness, cv2.LINE_AA)
    if label:
        scale, stroke = text_scale(h)
        (tw, th), base = cv2.getTextSize(label, FONT, scale * 0.8, stroke)
        top = y1 - th - base - 4 if y1 - th - base - 4 >= 0 else y2 + 2
        top = min(top, h - th - base - 2)
        cv2.rectangle(image, (x1, top), (min(w - 1, x1 + tw + 6), top + th + base + 4), colour, -1)
        cv2.putText(image, label, (x1 + 3, top + th + 2), FONT, scale * 0.8, _ink(colour),
                    stroke, cv2.LINE_AA)


def text_bar(width: int, lines: Sequence[str], colour, height_hint: int) -> np.ndarray:
    """A filled bar ``width`` pixels wide holding ``lines`` of text, sized for a frame
    ``height_hint`` tall; RGB uint8."""
    scale, stroke = text_scale(height_hint)
    line_h = int(round(30 * scale)) + 4
    bar = np.empty((line_h * len(lines) + 6, width, 3), np.uint8)
    bar[:] = colour
    ink = _ink(colour)
    for i, line in enumerate(lines):
        cv2.putText(bar, _fit(line, width, scale, stroke), (6, line_h * (i + 1)), FONT, scale,
                    ink, stroke, cv2.LINE_AA)
    return bar


def _fit(text: str, width: int, scale: float, stroke: int) -> str:
    """``text`` shortened with '...' until it fits ``width`` pixels."""
    while text and cv2.getTextSize(text, FONT, scale, stroke)[0][0] > width - 12:
        text = text[:-4] + "..." if len(text) > 4 else ""
    return text


def _ink(colour) -> tuple[int, int, int]:
    """Black or white text, whichever reads better on ``colour``."""
    r, g, b = colour
    return (0, 0, 0) if 0.299 * r + 0.587 * g + 0.114 * b > 140 else (255, 255, 255)


def even_size(frame: np.ndarray) -> np.ndarray:
    """``frame`` padded by one edge row/column where needed: H.264's yuv420p wants even sizes."""
    h, w = frame.shape[:2]
    if h % 2 == 0 and w % 2 == 0:
        return frame
    return cv2.copyMakeBorder(frame, 0, h % 2, 0, w % 2, cv2.BORDER_REPLICATE)


def grid(images: Sequence[np.ndarray], columns: int, background=(255, 255, 255)) -> np.ndarray:
    """Same-sized RGB tiles in rows of ``columns``; the last row padded with ``background``."""
    if not len(images):
        raise ValueError("no images to lay out")
    columns = max(1, min(columns, len(images)))
    blank = np.empty_like(images[0])
    blank[:] = background
    tiles = list(images) + [blank] * (-len(images) % columns)
    rows = [np.concatenate(tiles[i:i + columns], axis=1) for i in range(0, len(tiles), columns)]
    return np.concatenate(rows, axis=0)


def write_png(path, rgb: np.ndarray) -> None:
    # Encoded in memory and written by Python: cv2.imwrite segfaults on a path that is not
    # valid UTF-8 (a surrogate escape, e.g. a folder ``caf\xe9`` from a Latin-1 file system).
    ok, png = cv2.imencode(".png", cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR))
    if not ok:
        raise OSError(f"could not encode {path} as PNG")
    with open(path, "wb") as out:
        out.write(png.tobytes())


def overlay_heat_map(face: np.ndarray, heat: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """A [0, 1] heat map (resized to the face) blended over an RGB face in the JET colours
    Grad-CAM pictures use (``models.gradcam.overlay_heatmap`` without importing TensorFlow)."""
    h, w = face.shape[:2]
    heat = np.clip(np.nan_to_num(np.asarray(heat, np.float32)), 0.0, 1.0)
    heat = cv2.resize(heat, (w, h), interpolation=cv2.INTER_LINEAR)
    colour = cv2.cvtColor(cv2.applyColorMap(np.uint8(np.round(heat * 255)), cv2.COLORMAP_JET),
                          cv2.COLOR_BGR2RGB)
    blended = (1.0 - alpha) * face.astype(np.float32) + alpha * colour.astype(np.float32)
    return np.clip(np.round(blended), 0, 255).astype(np.uint8)
