"""Write videos: H.264 and FFV1 through ffmpeg, MP4V and MJPG through OpenCV.

H.264 goes through the ffmpeg binary that ``imageio-ffmpeg`` ships (with libx264), fed
raw RGB frames through a pipe, so frames can come from a generator and a 10-s 1080p
clip never sits in memory whole. ``mp4v`` and ``mjpg`` use ``cv2.VideoWriter``.
"""

from __future__ import annotations

import logging
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Iterable, Iterator

import cv2
import numpy as np

logger = logging.getLogger(__name__)

CODECS = ("h264", "mp4v", "mjpg", "ffv1")
_FFMPEG_CODECS = ("h264", "ffv1")
_CV2_FOURCC = {"mp4v": "mp4v", "mjpg": "MJPG"}
# x264's CRF 23 is FaceForensics++'s "c23" quality.
DEFAULT_CRF = 23


def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary shipped by imageio-ffmpeg."""
    try:
        import imageio_ffmpeg
    except ImportError as exc:  # pragma: no cover - it is a declared dependency
        raise ImportError("writing H.264 needs imageio-ffmpeg (pip install imageio-ffmpeg)") from exc
    return imageio_ffmpeg.get_ffmpeg_exe()


def _first_and_rest(frames: Iterable[np.ndarray]) -> tuple[np.ndarray, Iterator[np.ndarray]]:
    it = iter(frames)
    try:
        first = next(it)
    except StopIteration:
        raise ValueError("no frames to write") from None
    return np.asarray(first), it


def _check_frame(frame: np.ndarray, shape: tuple[int, ...], index: int) -> np.ndarray:
    frame = np.asarray(frame)
    if frame.shape != shape:
        raise ValueError(f"frame {index} has shape {frame.shape}, expected {shape}")
    if frame.dtype != np.uint8:
        raise ValueError(f"frame {index} has dtype {frame.dtype}, expected uint8")
    return np.ascontiguousarray(frame)


def write_video(
    path: str | os.PathLike,
    frames: Iterable[np.ndarray],
    fps: float,
    codec: str = "h264",
    *,
    crf: int = DEFAULT_CRF,
    preset: str = "veryfast",
    keyint: int | None = None,
    display_rotation: int = 0,
    faststart: bool = False,
) -> Path:
    """Encode ``frames`` (RGB uint8 HxWx3, or HxW grayscale) to ``path``; return the path.

    - ``h264``: libx264 via ffmpeg, yuv420p (gray for 2-D frames), ``crf``/``preset``;
      ``keyint`` sets the GOP length (x264's default is 250). Width and height must be even.
    - ``ffv1``: lossless, via ffmpeg (use an ``.avi`` or ``.mkv`` name).
    - ``mp4v`` / ``mjpg``: ``cv2.VideoWriter`` (MJPG belongs in ``.avi``).

    ``display_rotation`` (0/90/180/270, ffmpeg codecs only) stores rotation metadata
    asking players to turn the stored frames that many degrees clockwise, as phones do.
    ``faststart`` puts the MP4 index first (a truncated file then still opens).
    """
    if codec not in CODECS:
        raise ValueError(f"unknown codec {codec!r}; valid codecs: {', '.join(CODECS)}")
    if display_rotation % 90 != 0:
        raise ValueError(f"display_rotation must be a multiple of 90, got {display_rotation}")
    display_rotation %= 360
    if display_rotation and codec not in _FFMPEG_CODECS:
        raise ValueError(f"display_rotation needs an ffmpeg codec ({', '.join(_FFMPEG_CODECS)}), got {codec!r}")
    if not fps or fps <= 0:
        raise ValueError(f"fps must be > 0, got {fps}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    first, rest = _first_and_rest(frames)
    if first.ndim == 2:
        gray = True
    elif first.ndim == 3 and first.shape[2] == 3:
        gray = False
    else:
        raise ValueError(f"frames must be HxWx3 RGB or HxW gray, got shape {first.shape}")

    if codec in _FFMPEG_CODECS:
        if display_rotation:
            with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
                plain = Path(tmp) / ("plain" + (path.suffix or ".mp4"))
                n = _write_ffmpeg(plain, first, rest, fps, codec, gray, crf, preset, keyint, faststart)
                _set_rotation(plain, path, display_rotation, faststart)
        else:
            n = _write_ffmpeg(path, first, rest, fps, codec, gray, crf, preset, keyint, faststart)
    else:
        n = _write_cv2(path, first, rest, fps, codec, gray)
    logger.debug("wrote %s: %d frames, %s, %.3g fps", path, n, codec, fps)
    return path


def _write_ffmpeg(path, first, rest, fps, codec, gray, crf, preset, keyint, faststart) -> int:
    h, w = first.shape[:2]
    if codec == "h264" and (w % 2 or h % 2):
        raise ValueError(f"h264 (yuv420p) needs even width and height, got {w}x{h}")
    cmd = [ffmpeg_exe(), "-y", "-hide_banner", "-loglevel", "error", "-nostdin",
           "-f", "rawvideo", "-pix_fmt", "gray" if gray else "rgb24",
           "-s", f"{w}x{h}", "-r", f"{fps:g}", "-i", "-", "-an"]
    if codec == "h264":
        cmd += ["-c:v", "libx264", "-preset", preset, "-crf", str(int(crf)),
                "-pix_fmt", "gray" if gray else "yuv420p"]
        if keyint:
            # Fixed GOP: keyframes exactly every keyint frames, no scene-cut extras.
            cmd += ["-g", str(int(keyint)), "-keyint_min", str(int(keyint)), "-sc_threshold", "0"]
    else:
        cmd += ["-c:v", "ffv1", "-pix_fmt", "gray" if gray else "bgr0"]
    if faststart:
        cmd += ["-movflags", "+faststart"]
    cmd.append(str(path))
    shape = first.shape
    count = 0
    # stderr goes to a file: a pipe we do not read could fill and stall ffmpeg.
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=err)
        try:
            for frame in _chain(first, rest):
                proc.stdin.write(_check_frame(frame, shape, count).tobytes())
                count += 1
            proc.stdin.close()
        except BrokenPipeError:
            pass  # ffmpeg died; its message is read below
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        code = proc.wait()
        if code != 0:
            err.seek(0)
            message = err.read().decode(errors="replace").strip()[-2000:]
            raise RuntimeError(f"ffmpeg failed writing {path} (exit {code}): {message}")
    return count


def _chain(first, rest):
    yield first
    yield from rest


def _set_rotation(src: Path, dst: Path, display_rotation: int, faststart: bool) -> None:
    # The ffmpeg 4.2 shipped by imageio-ffmpeg writes a "rotate=R" tag as a display
    # matrix that players (and ffmpeg itself) read as a turn of 360-R degrees clockwise;
    # tests/synthetic checks the result with ffmpeg's own auto-rotating decoder.
    tag = (360 - display_rotation) % 360
    cmd = [ffmpeg_exe(), "-y", "-hide_banner", "-loglevel", "error", "-nostdin", "-i", str(src),
           "-c", "copy", "-map", "0", "-metadata:s:v:0", f"rotate={tag}"]
    if faststart:
        cmd += ["-movflags", "+faststart"]
    cmd.append(str(dst))
    done = subprocess.run(cmd, capture_output=True)
    if done.returncode != 0:
        raise RuntimeError(f"ffmpeg failed setting rotation on {dst}: {done.stderr.decode(errors='replace')[-2000:]}")


def _write_cv2(path, first, rest, fps, codec, gray) -> int:
    h, w = first.shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.CAP_FFMPEG, cv2.VideoWriter_fourcc(*_CV2_FOURCC[codec]),
                             float(fps), (w, h), not gray)
    if not writer.isOpened():
        raise RuntimeError(f"cv2.VideoWriter could not open {path} with codec {codec!r}")
    count = 0
    try:
        for frame in _chain(first, rest):
            frame = _check_frame(frame, first.shape, count)
            writer.write(frame if gray else cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
            count += 1
    finally:
        writer.release()
    return count
