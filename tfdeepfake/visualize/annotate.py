"""``detect --annotate``: the video again, with what the detector saw drawn on it.

Every frame of the input is decoded upright (rotation metadata applied, as ``detect`` read
it), so a portrait phone video stays portrait and the boxes land where ``detect`` found the
faces. Each frame shows the face box of the nearest sampled frame, coloured by that
frame's fake probability (green 0 .. yellow .. red 1; grey where there is no per-frame
score), a bar with the verdict, and the running video score: the model's aggregation
(mean / median / max) over the sampled frames up to that point. The output is H.264
(yuv420p, web-playable, index first) at the input's frame rate with the same frame count,
so it lasts as long as the input; the audio track is not copied.
"""

from __future__ import annotations

import bisect
import contextlib
import logging
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from tfdeepfake.visualize.draw import (
    VERDICT_COLOURS,
    draw_box,
    even_size,
    probability_colour,
    text_bar,
)

logger = logging.getLogger(__name__)

FALLBACK_FPS = 25.0


def verdict_dict(verdict) -> dict[str, Any]:
    """A ``Verdict`` or its ``to_dict()`` as a dict."""
    return verdict.to_dict() if hasattr(verdict, "to_dict") else dict(verdict)


def running_scores(probabilities, aggregation: str) -> list[float | None]:
    """After each sampled frame, the video score so far: ``aggregation`` over the frames up
    to it that have a score; None until the first one."""
    from tfdeepfake.scoring import aggregate_video_scores

    out, seen = [], []
    for p in probabilities:
        if p is not None:
            seen.append(float(p))
        if not seen:
            out.append(None)
            continue
        _, video = aggregate_video_scores(np.asarray(seen), np.zeros(len(seen), int),
                                          how=aggregation or "mean")
        out.append(float(video[0]))
    return out


def verdict_line(v: Mapping[str, Any]) -> str:
    prob, threshold = v.get("fake_probability"), v.get("threshold", 0.5)
    if v.get("verdict") not in ("real", "fake") or prob is None:
        text = f"UNKNOWN: {v.get('reason') or 'no verdict'}"
    else:
        sign = ">=" if prob >= threshold else "<"
        text = f"{v['verdict'].upper()}  p(fake) {prob:.2f} {sign} threshold {threshold:.2f}"
    if v.get("random_init_facenet"):
        text += "  [RANDOM-INIT FaceNet: demonstration]"
    return text


class _Annotator:
    """Draws frame ``i`` from a verdict's sampled frames."""

    def __init__(self, v: Mapping[str, Any], fps: float):
        self.v = v
        self.fps = fps
        self.frames = [f for f in v.get("frames") or []]
        self.indices = [int(f["index"]) for f in self.frames]
        self.running = running_scores([f["fake_probability"] for f in self.frames],
                                      v.get("aggregation") or "mean")
        self.headline = verdict_line(v)
        self.colour = VERDICT_COLOURS.get(v.get("verdict"), VERDICT_COLOURS["unknown"])
        self.frame_level = bool(v.get("frame_level", True))

    def nearest(self, i: int) -> int | None:
        """Row of the sampled frame nearest to frame ``i`` (ties: the earlier)."""
        if not self.indices:
            return None
        k = bisect.bisect_left(self.indices, i)
        if k == 0:
            return 0
        if k == len(self.indices):
            return k - 1
        return k if self.indices[k] - i < i - self.indices[k - 1] else k - 1

    def draw(self, i: int, frame: np.ndarray) -> np.ndarray:
        image = frame.copy()
        h, w = image.shape[:2]
        row = self.nearest(i)
        sample = self.frames[row] if row is not None else None
        prob = sample["fake_probability"] if sample else None
        if sample and sample.get("box"):
            exact = self.indices[row] == i  # thicker on the frame that was actually scored
            thickness = max(2, h // (120 if exact else 240))
            label = (f"p {prob:.2f}" if prob is not None
                     else "face" if not self.frame_level else None)
            draw_box(image, sample["box"], probability_colour(prob), thickness, label)
        # The running score: over the sampled frames at or before this one.
        done = bisect.bisect_right(self.indices, i) - 1
        running = self.running[done] if done >= 0 else None
        time = f"{i / self.fps:.2f} s" if self.fps else ""
        if not self.frame_level:
            detail = f"frame {i} {time} | video-level model: one score for the whole video"
        else:
            face = "no face" if sample and not sample.get("box") else (
                f"face p {prob:.2f}" if prob is not None else "-")
            rule = self.v.get("aggregation") or "mean"
            so_far = f"{running:.2f}" if running is not None else "-"
            detail = f"frame {i} {time} | {face} | running {rule} {so_far}"
        bar = text_bar(w, [self.headline, detail], self.colour, h)
        bar_h = min(len(bar), h)
        # Blend the bar over the top of the frame: the output keeps the input's size.
        top = image[:bar_h].astype(np.float32)
        image[:bar_h] = np.clip(0.25 * top + 0.75 * bar[:bar_h], 0, 255).astype(np.uint8)
        return image


def _umask() -> int:
    # mkstemp makes the file 0600; the finished video gets the mode any new file would.
    # Read, not set-and-restore: os.umask is process-wide and `serve` writes in threads.
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022


def annotate_video(video_path: str | os.PathLike, verdict, out_path: str | os.PathLike, *,
                   progress: Callable[[int, int], None] | None = None) -> Path:
    """Write the annotated copy of ``video_path`` (see the module text) to ``out_path``
    (``.mp4``). ``verdict``: what ``VideoDetector.detect`` returned for that video (a
    ``Verdict`` or its dict). ``progress(frames_done, frames_total)`` is called as it goes
    (``frames_total`` is the container's count, 0 when unknown). Returns the path."""
    from tfdeepfake.synthetic.videos import write_video
    from tfdeepfake.video.reader import iter_frames, probe_video

    v = verdict_dict(verdict)
    info = probe_video(video_path)
    fps = info.fps or v.get("fps") or 0.0
    if not fps:
        logger.warning("%s: no frame rate in the container; writing at %g fps", video_path,
                       FALLBACK_FPS)
        fps = FALLBACK_FPS
    annotator = _Annotator(v, fps)

    def frames():
        for i, frame in enumerate(iter_frames(video_path)):
            if progress is not None and i % 10 == 0:
                progress(i, info.frame_count)
            yield even_size(annotator.draw(i, frame))

    # A temporary name beside the output, renamed when whole: a failure or an interrupt
    # never leaves half a video where a finished one (or nothing) was.
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{out.stem}.", suffix=".tmp.mp4", dir=out.parent)
    os.close(fd)
    try:
        write_video(temp, frames(), fps, "h264", faststart=True)
        os.chmod(temp, 0o666 & ~_umask())
        os.replace(temp, out)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    if progress is not None:
        progress(info.frame_count, info.frame_count)
    logger.info("annotated %s -> %s", video_path, out)
    return out


__all__ = ["annotate_video", "running_scores", "verdict_dict", "verdict_line"]
