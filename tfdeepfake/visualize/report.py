"""``detect --report DIR``: per video, PNGs that show which frames and faces drove a verdict.

- ``frames.png``: each sampled frame's fake probability against time, the threshold, the
  video score, and the sampled frames where no face was found (marked on the time axis);
  a video-level detector (lstm) has no frame scores, and the plot says so;
- ``faces.png``: a contact sheet of the face crops the detector scored, each with its
  frame, time and probability;
- ``heatmap.png`` (detectors with ``heat_map_kind``: Grad-CAM for xception, an occlusion
  map for triplet): the faces that looked most fake, next to their heat maps;
- ``verdict.json``: the verdict with every sampled frame, and the names of the images.

The plot is a bare matplotlib ``Figure`` (rendered by Agg: no display, no pyplot state);
the rest is OpenCV.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any, Mapping

import cv2
import numpy as np

from tfdeepfake.visualize.annotate import verdict_dict, verdict_line
from tfdeepfake.visualize.draw import (
    VERDICT_COLOURS,
    grid,
    overlay_heat_map,
    probability_colour,
    text_bar,
    write_png,
)

logger = logging.getLogger(__name__)

TILE = 128  # contact-sheet tile side, pixels
HEAT_MAP_FACES = 4  # heat maps cost a forward pass per patch position: a few faces only


def plot_frame_scores(verdict, path: str | os.PathLike) -> Path:
    """``frames.png``: frame fake probability against time (see the module text)."""
    # A bare Figure renders with Agg and never touches pyplot's global backend.
    from matplotlib.figure import Figure

    v = verdict_dict(verdict)
    frames = v.get("frames") or []
    use_time = bool(frames) and all(f.get("time") is not None for f in frames)
    x_of = (lambda f: f["time"]) if use_time else (lambda f: f["index"])
    fig = Figure(figsize=(8, 3.2), dpi=100)
    ax = fig.add_subplot()
    scored = [f for f in frames if f.get("fake_probability") is not None]
    if scored:
        xs = [x_of(f) for f in scored]
        ps = [f["fake_probability"] for f in scored]
        ax.plot(xs, ps, color="0.6", linewidth=1, zorder=1)
        ax.scatter(xs, ps, c=[np.array(probability_colour(p)) / 255 for p in ps], s=28,
                   edgecolors="0.2", linewidths=0.5, zorder=2, label="frame p(fake)")
    faceless = [x_of(f) for f in frames if not f.get("box")]
    if faceless:
        ax.scatter(faceless, [0.02] * len(faceless), marker="x", color="0.35", s=30, zorder=3,
                   label=f"no face ({len(faceless)} frames)")
    ax.axhline(v.get("threshold", 0.5), color="k", linestyle="--", linewidth=1,
               label=f"threshold {v.get('threshold', 0.5):.2f}")
    prob = v.get("fake_probability")
    if prob is not None:
        rule = v.get("aggregation") or "mean"
        label = (f"video score {prob:.2f} ({rule} of frames)" if v.get("frame_level", True)
                 else f"video score {prob:.2f}")
        ax.axhline(prob, color=np.array(VERDICT_COLOURS.get(v.get("verdict"), (0, 0, 0))) / 255,
                   linewidth=2, label=label)
    if not v.get("frame_level", True):
        ax.text(0.5, 0.5, "video-level model: no per-frame scores", transform=ax.transAxes,
                ha="center", va="center", color="0.3")
    elif not frames:
        ax.text(0.5, 0.5, v.get("reason") or "no frames", transform=ax.transAxes, ha="center",
                va="center", color="0.3")
    ax.set_ylim(-0.03, 1.03)
    ax.set_xlabel("time (s)" if use_time else "frame")
    ax.set_ylabel("p(fake)")
    ax.set_title(f"{Path(v.get('path', '')).name}: {verdict_line(v)}", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    return path


def _tile(face: np.ndarray, caption: str, colour) -> np.ndarray:
    image = cv2.resize(np.asarray(face, np.uint8), (TILE, TILE), interpolation=cv2.INTER_AREA)
    bar = text_bar(TILE, [caption], colour, 260)
    tile = np.concatenate([image, bar], axis=0)
    return cv2.copyMakeBorder(tile, 2, 2, 2, 2, cv2.BORDER_CONSTANT, value=(255, 255, 255))


def _caption(frame: Mapping[str, Any]) -> str:
    time = f" {frame['time']:.1f}s" if frame.get("time") is not None else ""
    prob = frame.get("fake_probability")
    # Hershey fonts have no good '#': "f12" is frame 12.
    return f"f{frame['index']}{time}" + (f" p{prob:.2f}" if prob is not None else "")


def _face_frames(v: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [f for f in v.get("frames") or [] if f.get("box")]


def face_sheet(faces: np.ndarray, verdict, path: str | os.PathLike, columns: int = 6) -> Path:
    """``faces.png``: the scored face crops in frame order, each captioned with its frame
    number, time and probability (bar coloured by it)."""
    v = verdict_dict(verdict)
    rows = _face_frames(v)
    if len(rows) != len(faces):
        raise ValueError(f"{len(faces)} face crops for {len(rows)} frames with a face")
    if not len(faces):
        raise ValueError(f"{v.get('path')}: no face crops to lay out")
    tiles = [_tile(face, _caption(f), probability_colour(f.get("fake_probability")))
             for face, f in zip(faces, rows)]
    path = Path(path)
    write_png(path, grid(tiles, columns))
    return path


def pick_heat_map_faces(v: Mapping[str, Any], count: int = HEAT_MAP_FACES) -> list[int]:
    """Rows (into the face crops) to explain: the most fake-looking faces, in frame order;
    evenly spaced ones when there are no frame scores."""
    rows = _face_frames(v)
    probs = [f.get("fake_probability") for f in rows]
    if not rows:
        return []
    if any(p is None for p in probs):
        spaced = np.linspace(0, len(rows) - 1, min(count, len(rows))).round().astype(int)
        return sorted(set(spaced.tolist()))
    return sorted(np.argsort(-np.asarray(probs), kind="stable")[:count].tolist())


def heat_map_sheet(faces: np.ndarray, maps: np.ndarray, verdict, rows: list[int], kind: str,
                   path: str | os.PathLike) -> Path:
    """``heatmap.png``: for each chosen face, the crop and its heat-map overlay side by side."""
    v = verdict_dict(verdict)
    frames = _face_frames(v)
    tiles = []
    for row, heat in zip(rows, maps):
        caption = _caption(frames[row])
        colour = probability_colour(frames[row].get("fake_probability"))
        tiles.append(_tile(faces[row], caption, colour))
        tiles.append(_tile(overlay_heat_map(faces[row], heat), f"{kind} map",
                           (60, 60, 60)))
    path = Path(path)
    write_png(path, grid(tiles, 4))
    return path


def write_report(verdict, faces: np.ndarray, out_dir: str | os.PathLike, *, detector=None,
                 variant: str | None = None,
                 heat_map_faces: int = HEAT_MAP_FACES) -> dict[str, str]:
    """Write the report of one video into ``out_dir`` (created); returns ``{name: path}``
    for what was written. ``faces``: the crops ``VideoDetector.inspect`` returned with
    ``verdict``; ``detector``: the loaded detector, for heat maps when it offers them."""
    v = verdict_dict(verdict)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = {"frames": str(plot_frame_scores(v, out / "frames.png"))}
    if len(faces):
        written["faces"] = str(face_sheet(faces, v, out / "faces.png"))
        kind = getattr(detector, "heat_map_kind", None)
        if kind and heat_map_faces > 0:
            rows = pick_heat_map_faces(v, heat_map_faces)
            maps = detector.heat_map(np.asarray(faces)[rows], variant)
            sheet = heat_map_sheet(faces, maps, v, rows, kind, out / "heatmap.png")
            written["heatmap"] = str(sheet)
    summary = {**v, "report": {name: Path(p).name for name, p in written.items()}}
    (out / "verdict.json").write_text(json.dumps(summary, indent=2, default=str), "utf-8")
    written["json"] = str(out / "verdict.json")
    logger.info("report of %s -> %s (%s)", v.get("path"), out, ", ".join(sorted(written)))
    return written


__all__ = ["face_sheet", "heat_map_sheet", "pick_heat_map_faces", "plot_frame_scores",
           "write_report"]
