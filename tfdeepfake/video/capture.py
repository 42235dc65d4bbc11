"""Opening a video file with OpenCV's FFmpeg backend: what the container says
(``VideoInfo``), frames turned upright RGB, and errors that name the file.

Rotation metadata (phone videos): OpenCV >= 4.5 turns frames upright itself
(``CAP_PROP_ORIENTATION_AUTO``); when a backend does not, we rotate here.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import shutil
import tempfile
from typing import Sequence

import cv2
import numpy as np

from tfdeepfake.datasets.records import utf8_encodable

logger = logging.getLogger(__name__)

_ROTATE_CODES = {
    90: cv2.ROTATE_90_CLOCKWISE,
    180: cv2.ROTATE_180,
    270: cv2.ROTATE_90_COUNTERCLOCKWISE,
}


# The reason the OpenCV readers give when a file opened but no frame decoded; they then
# try PyAV (``tfdeepfake.video.pyav_frames``: AV1 and other codecs OpenCV lacks).
NOTHING_DECODED = "no frames could be decoded"


class VideoReadError(OSError):
    """A video file could not be opened or decoded. The message names the file.

    ``transient``: the file may well read later (permission denied), so callers should not
    remember the failure as a property of the video."""

    def __init__(self, path: str | os.PathLike, reason: str, transient: bool = False):
        self.path = str(path)
        self.reason = reason
        self.transient = transient
        super().__init__(f"cannot read video {self.path}: {reason}")

    def __reduce__(self):
        # Workers raise this across process boundaries; the default reduce would call
        # the constructor with the message alone.
        return (type(self), (self.path, self.reason, self.transient))


@dataclasses.dataclass(frozen=True)
class VideoInfo:
    """What the container says about a video stream.

    ``width`` and ``height`` are the displayed size (after rotation). ``rotation`` is the
    clockwise angle, in degrees, that the metadata asks a player to apply (0, 90, 180,
    270); frames returned by this module already have it applied. ``frame_count`` is the
    container's figure (0 when it gives none) and may be wrong; ``read_sampled_frames``
    checks it.
    """

    frame_count: int
    fps: float
    width: int
    height: int
    rotation: int
    # (first, last) frame ranges FFmpeg could not decode, with readable frames after them
    # (a corrupt middle); set by the readers, empty from ``probe_video``.
    unreadable: tuple[tuple[int, int], ...] = ()

    @property
    def unreadable_note(self) -> str:
        """``"partly unreadable: frames 345–374"`` (every range), or ``""``."""
        if not self.unreadable:
            return ""
        ranges = ", ".join(f"{a}–{b}" if b > a else f"{a}" for a, b in self.unreadable)
        return f"partly unreadable: frames {ranges}"


class _Capture:
    """An open ``cv2.VideoCapture`` plus what we need to turn its frames upright RGB."""

    def __init__(self, path: str):
        self.path = path
        self.cap = _open_capture(path)
        try:
            self.info, self.manual_rotation = _read_info(self.cap, path)
        except BaseException:
            self.cap.release()
            raise

    def release(self) -> None:
        self.cap.release()

    def to_rgb(self, frame: np.ndarray) -> np.ndarray:
        rgb = _to_rgb(frame)
        if self.manual_rotation:
            rgb = cv2.rotate(rgb, _ROTATE_CODES[self.manual_rotation])
        return rgb


def _check_file(path: str) -> None:
    if not os.path.exists(path):
        raise VideoReadError(path, "file not found")
    if os.path.isdir(path):
        raise VideoReadError(path, "is a directory, not a video file")
    if not os.path.isfile(path):
        # FFmpeg would wait forever on a pipe, or read a device without end.
        raise VideoReadError(path, "not a regular file (a pipe, socket or device)")
    if os.path.getsize(path) == 0:
        raise VideoReadError(path, "file is empty (0 bytes)")
    try:
        os.close(os.open(path, os.O_RDONLY))
    except PermissionError:
        # FFmpeg would only say it cannot open the file.
        raise VideoReadError(path, "permission denied", transient=True) from None


def _open_capture(path: str, params: Sequence[int] = ()) -> cv2.VideoCapture:
    _check_file(path)
    # Ask for FFmpeg explicitly: with CAP_ANY, OpenCV may hand a name containing '%' to
    # its image-sequence backend and "open" something that is not this file.
    if utf8_encodable(path):
        cap = cv2.VideoCapture(path, cv2.CAP_FFMPEG, list(params))
    else:
        cap = _open_through_ascii_link(path, params)
    if not cap.isOpened():
        cap.release()
        raise VideoReadError(path, "not a readable video (FFmpeg could not open it)")
    return cap


def _open_through_ascii_link(path: str, params: Sequence[int]) -> cv2.VideoCapture:
    """OpenCV segfaults on a name that is not valid UTF-8 (``caf\\xe9.mp4`` from a Latin-1
    file system arrives as a surrogate escape): open the file through a symbolic link with
    an ASCII name. FFmpeg holds the file open from then on, so the link goes at once."""
    suffix = os.path.splitext(path)[1]
    if not (suffix.isascii() and suffix[1:].isalnum()):
        suffix = ""  # FFmpeg probes the content; the extension is only a hint
    folder = tempfile.mkdtemp(prefix="tfdeepfake-video-")
    link = os.path.join(folder, "video" + suffix)
    try:
        os.symlink(os.path.abspath(path), link)
        return cv2.VideoCapture(link, cv2.CAP_FFMPEG, list(params))
    except OSError as error:
        raise VideoReadError(path, f"file name is not valid UTF-8 and a link to it could not be "
                                   f"made ({error.strerror or error})") from None
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _read_info(cap: cv2.VideoCapture, path: str) -> tuple[VideoInfo, int]:
    cap.set(cv2.CAP_PROP_ORIENTATION_AUTO, 1)
    auto_rotates = bool(cap.get(cv2.CAP_PROP_ORIENTATION_AUTO))
    rotation = int(round(cap.get(cv2.CAP_PROP_ORIENTATION_META))) % 360
    if rotation not in (0, 90, 180, 270):
        logger.warning("%s: rotation %d is not a multiple of 90 degrees; ignored", path, rotation)
        rotation = 0
    width = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH))
    height = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    if width <= 0 or height <= 0:
        raise VideoReadError(path, "no video stream")
    manual_rotation = 0 if auto_rotates else rotation
    if manual_rotation in (90, 270):
        # Without auto-rotation the capture reports the stored size.
        width, height = height, width
    frame_count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    counted = _counted_frames(path)
    if 0 < counted and (frame_count <= 0 or counted < frame_count):
        # OpenCV's figure for such a file is duration x fps: a WebM, MKV, TS or FLV of a
        # variable-rate source said 184 for 135 frames, and the readers then looked for
        # frames past the end (slow rereads, or "damage" stepped over where there was none).
        frame_count = counted
    fps = float(cap.get(cv2.CAP_PROP_FPS))
    info = VideoInfo(
        frame_count=max(frame_count, 0),
        fps=fps if np.isfinite(fps) and fps > 0 else 0.0,
        width=width,
        height=height,
        rotation=rotation,
    )
    return info, manual_rotation


def _counted_frames(path: str) -> int:
    """Video packets in ``path`` when its container stores no frame count (Matroska/WebM,
    MPEG-TS/PS, FLV, ASF: one packet per frame), else 0 (also without PyAV). Counting
    demuxes the file without decoding it, once per file version."""
    try:
        stat = os.stat(path)
    except OSError:
        return 0
    return _counted_frames_of(path, stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=256)
def _counted_frames_of(path: str, size: int, mtime_ns: int) -> int:
    try:
        import av
    except ImportError:
        return 0
    try:
        with av.open(path) as container:
            if not container.streams.video:
                return 0
            stream = container.streams.video[0]
            if stream.frames > 0:
                return 0  # the container keeps a count; OpenCV reports it
            return sum(1 for packet in container.demux(stream) if packet.size)
    except (av.FFmpegError, OSError, ValueError):
        return 0


def _to_rgb(frame: np.ndarray) -> np.ndarray:
    """BGR, BGRA or grayscale from OpenCV -> contiguous RGB uint8, HxWx3."""
    if frame.dtype != np.uint8:
        # 16-bit sources (only when conversion to 8-bit BGR is turned off): keep the
        # high byte rather than clipping.
        frame = (frame >> 8).astype(np.uint8) if frame.dtype == np.uint16 else frame.astype(np.uint8)
    if frame.ndim == 2 or (frame.ndim == 3 and frame.shape[2] == 1):
        return cv2.cvtColor(frame, cv2.COLOR_GRAY2RGB)
    if frame.shape[2] == 4:
        return cv2.cvtColor(frame, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)


def probe_video(path: str | os.PathLike) -> VideoInfo:
    """Open ``path`` and return what its container says; decodes nothing."""
    path = os.fspath(path)
    capture = _Capture(path)
    try:
        return capture.info
    finally:
        capture.release()


def _probe_at(path: str, target: int) -> _Capture | None:
    """A fresh capture positioned so that ``grab()`` has just returned frame ``target``, or
    None when the seek does not land there or nothing decodes from there."""
    try:
        probe = _Capture(path)
    except VideoReadError:
        return None
    probe.cap.set(cv2.CAP_PROP_POS_FRAMES, target)
    if int(round(probe.cap.get(cv2.CAP_PROP_POS_FRAMES))) == target and probe.cap.grab():
        return probe
    probe.release()
    return None


def _reopen(capture: _Capture) -> _Capture:
    capture.release()
    fresh = _Capture(capture.path)
    # Callers hold the old object; move the new capture into it so their finally
    # releases the right one.
    capture.cap, capture.info, capture.manual_rotation = fresh.cap, fresh.info, fresh.manual_rotation
    return capture


def _count_frames(capture: _Capture) -> int:
    count = 0
    while capture.cap.grab():
        count += 1
    return count
