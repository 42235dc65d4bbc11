"""Decode frames from a video file with OpenCV's FFmpeg backend, as RGB uint8.

Design, from measurements on 2 cores:

- H.264 files from datasets have long GOPs (x264's default keyframe interval is 250, so a
  10-s clip has 1-2 keyframes). OpenCV's ``CAP_PROP_POS_FRAMES`` seek jumps to the
  keyframe before the target and decodes forward from there, so seeking to each of 25
  uniform frames of such a clip costs ~10x a single sequential pass. We therefore read
  sequentially with ``grab()`` (decode only) and ``retrieve()`` (colour conversion) only
  the wanted frames, and seek only when a keyframe lies far enough past the current
  position to skip real decoding work. Keyframe positions come from a demux-only pass
  (``CAP_PROP_FORMAT=-1``), which reads packets without decoding (~10-20 ms per clip).
  Measured here: on a 30-s 720p clip with 1-s GOPs, 5 uniform frames cost 0.5 s CPU
  with seeks against 2.0 s decoding through; on 10-s clips with x264's GOP of 250 no
  seek pays, and 25 uniform frames cost about one full decode (1080p: ~1.5-1.9 s CPU,
  ~0.9-1.2 s wall with FFmpeg's two decoder threads on 2 cores).
- Container frame counts can be wrong (estimated from duration, truncated files). The
  sampled reader checks the count while reading and resamples when it was wrong.
- A damaged stretch in the middle (FFmpeg gives up on a run of packets) is stepped over
  by seeking past it, and named (``VideoInfo.unreadable``), instead of ending the read.
- A file OpenCV opens but decodes nothing of (AV1: the wheels' FFmpeg lacks a software
  decoder) is read through PyAV instead: ``tfdeepfake.video.pyav_frames``.
- Opening files, the container's figures and rotation: ``tfdeepfake.video.capture``.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from typing import Sequence

import cv2
import numpy as np

from tfdeepfake.constants import DEFAULT_NUM_FRAMES
# VideoInfo, VideoReadError and probe_video are this module's public names too.
from tfdeepfake.video.capture import (  # noqa: F401
    NOTHING_DECODED,
    VideoInfo,
    VideoReadError,
    _Capture,
    _count_frames,
    _open_capture,
    _probe_at,
    _reopen,
    probe_video,
)
from tfdeepfake.video.packets import read_by_packets
from tfdeepfake.video.pyav_frames import (iter_pyav_frames, opencv_decoded_nothing, pyav_available,
                                         read_pyav_frames, read_sampled_pyav)
from tfdeepfake.video.sampling import sample_indices
# keyframe_indices is this module's public name too.
from tfdeepfake.video.seeking import _seek_plan, keyframe_indices  # noqa: F401

logger = logging.getLogger(__name__)

# Seeks tried per read to step over damaged stretches (each reopens the file): enough to
# find where decoding resumes and narrow the stretch to a few frames.
_MAX_RESUME_PROBES = 32


def _normalise_indices(indices) -> np.ndarray:
    arr = np.asarray(indices)
    if arr.ndim != 1:
        arr = arr.reshape(-1)
    if arr.size == 0:
        raise ValueError("no frame indices given")
    if not np.issubdtype(arr.dtype, np.integer):
        if np.issubdtype(arr.dtype, np.floating) and np.all(arr == np.floor(arr)):
            arr = arr.astype(np.int64)
        else:
            raise ValueError(f"frame indices must be integers, got dtype {arr.dtype}")
    if arr.min() < 0:
        raise ValueError(f"frame indices must be >= 0, got {int(arr.min())}")
    return np.unique(arr.astype(np.int64))


@dataclasses.dataclass
class _ReadResult:
    frames: dict[int, np.ndarray]
    # Frames that exist: exact when the stream ended while reading, else a lower bound.
    frames_seen: int
    reached_end: bool
    # Frame ranges (first, last) that could not be decoded, with readable frames after them.
    unreadable: list[tuple[int, int]] = dataclasses.field(default_factory=list)


class _Cursor:
    """Sequential ``grab()`` over a capture that steps over damaged stretches.

    OpenCV's ``grab()`` returns False both at the end of the stream and when FFmpeg gives up
    on a run of undecodable packets, so a corrupt middle looked like a short video. When a
    grab fails before the frame count the container states, we seek past the failure (to
    the frames still wanted, then the container's last frame): if frames decode there, the
    stretch between is recorded as unreadable and reading goes on; if none do, the stream
    really ends there.
    """

    def __init__(self, capture: _Capture, expected: int, wanted: Sequence[int] = ()):
        self.capture = capture
        self.expected = expected  # the container's frame count; 0 when it gives none
        self.wanted = wanted  # frames the caller wants: where to try resuming first
        self.position = 0  # the index of the frame the next grab() returns
        self.unreadable: list[tuple[int, int]] = []
        self.probes_left = _MAX_RESUME_PROBES

    def grab(self) -> int | None:
        """Grab the next decodable frame and return its index; None at the end of the stream."""
        if self.capture.cap.grab():
            self.position += 1
            return self.position - 1
        resumed = self._resume()
        if resumed is None:
            return None
        self.unreadable.append((self.position, resumed - 1))
        logger.warning("%s: frames %d-%d cannot be decoded; reading goes on at frame %d",
                       self.capture.path, self.position, resumed - 1, resumed)
        self.position = resumed + 1
        return resumed

    def _resume(self) -> int | None:
        start = self.position
        if self.expected <= start + 1 or self.probes_left <= 0:
            return None
        candidates = sorted({t for t in self.wanted if start < t < self.expected}
                            | {self.expected - 1})
        good = None
        for target in candidates:
            if self.probes_left <= 0:
                break
            self.probes_left -= 1
            good = _probe_at(self.capture.path, target)
            if good is not None:
                found, bad = target, start
                break
        if good is None:
            return None
        # The damage ends somewhere in (bad, found]: narrow it down so the recorded range is
        # close to what FFmpeg itself cannot decode.
        while found - bad > 1 and self.probes_left > 0:
            self.probes_left -= 1
            middle = (bad + found) // 2
            nearer = _probe_at(self.capture.path, middle)
            if nearer is None:
                bad = middle
            else:
                good.release()
                good, found = nearer, middle
        self.capture.release()
        self.capture.cap = good.cap  # callers release the object they hold
        return found


def _read_wanted(
    capture: _Capture,
    wanted: np.ndarray,
    *,
    seek_at: set[int] = frozenset(),
    check_beyond: int | None = None,
) -> _ReadResult:
    """Read the frames at sorted unique ``wanted`` from an open capture.

    With ``check_beyond`` = n, keep grabbing until frame n-1 and try one more, so the
    caller learns whether the stream has more than n frames; if it does, grab to the end
    to count them. Damaged stretches are stepped over (see ``_Cursor``); wanted frames
    inside them are missing from the result.
    """
    cap, path = capture.cap, capture.path
    frames: dict[int, np.ndarray] = {}
    targets = wanted.tolist()
    cursor = _Cursor(capture, capture.info.frame_count, targets)
    wanted_set = set(targets)
    reached_end = False
    for target in targets:
        if target < cursor.position:
            continue  # inside a stretch that could not be decoded
        if target in seek_at and target > cursor.position:
            cap = capture.cap
            cap.set(cv2.CAP_PROP_POS_FRAMES, target)
            landed = int(round(cap.get(cv2.CAP_PROP_POS_FRAMES)))
            if landed != target:
                # Timestamps do not map to frame numbers in this file: restart and
                # decode through, which is always right.
                logger.warning("%s: seek to frame %d landed on %d; reading sequentially", path, target, landed)
                return _read_wanted(_reopen(capture), wanted, check_beyond=check_beyond)
            cursor.position = target
        while cursor.position <= target:
            index = cursor.grab()
            if index is None:
                reached_end = True
                break
            if index in wanted_set:
                ok, frame = capture.cap.retrieve()
                if ok and frame is not None:
                    frames[index] = capture.to_rgb(frame)
                else:
                    logger.warning("%s: frame %d decoded but could not be converted; skipped", path, index)
        if reached_end:
            break
    if not reached_end and check_beyond is not None:
        while cursor.position < check_beyond + 1:
            if cursor.grab() is None:
                reached_end = True
                break
        if not reached_end:
            # More frames than the container said: count them all.
            while capture.cap.grab():
                cursor.position += 1
            reached_end = True
    return _ReadResult(frames=frames, frames_seen=cursor.position, reached_end=reached_end,
                       unreadable=cursor.unreadable)


def _merge_ranges(ranges) -> tuple[tuple[int, int], ...]:
    merged: list[list[int]] = []
    for first, last in sorted(ranges):
        if merged and first <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], last)
        else:
            merged.append([first, last])
    return tuple((a, b) for a, b in merged)


def read_frames(path: str | os.PathLike, indices) -> tuple[list[np.ndarray], np.ndarray]:
    """Decode the frames at ``indices`` (0-based, display order).

    Returns ``(frames, read_indices)``: RGB uint8 HxWx3 arrays, upright, for the sorted
    unique indices that exist. Indices past the end of the stream are dropped with a
    warning. Raises ``VideoReadError`` when the file cannot be opened or none of the
    frames can be decoded, ``ValueError`` for negative or non-integer indices.
    """
    path = os.fspath(path)
    wanted = _normalise_indices(indices)
    try:
        return _read_frames_opencv(path, wanted)
    except VideoReadError as error:
        info = opencv_decoded_nothing(path, error)
        try:
            frames, _ = read_pyav_frames(path, wanted, info.rotation)
        except OSError as pyav_error:  # PyAV cannot open it either: OpenCV's error stands
            raise error from pyav_error
        if not frames:
            raise
        read = np.asarray(sorted(frames), dtype=np.int64)
        if len(read) < len(wanted):
            logger.warning("%s: %d of %d frames not read", path, len(wanted) - len(read), len(wanted))
        return [frames[i] for i in read.tolist()], read


def _read_frames_opencv(path: str, wanted: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    capture = _Capture(path)
    try:
        plan = _seek_plan(path, wanted, capture.info)
        result = _read_wanted(capture, wanted, seek_at=plan)
    finally:
        capture.release()
    if not result.frames:
        raise VideoReadError(path, f"{NOTHING_DECODED} (asked for {len(wanted)}, stream gave {result.frames_seen})")
    read = np.asarray(sorted(result.frames), dtype=np.int64)
    if len(read) < len(wanted):
        missing = np.setdiff1d(wanted, read)
        logger.warning("%s: %d of %d frames not read (first missing: %s)", path, len(missing), len(wanted), missing[:5].tolist())
    return [result.frames[i] for i in read.tolist()], read


def read_sampled_frames(
    path: str | os.PathLike,
    num_frames: int = DEFAULT_NUM_FRAMES,
    mode: str = "uniform",
    stride: int | None = None,
) -> tuple[list[np.ndarray], np.ndarray, VideoInfo]:
    """Sample ``num_frames`` frames with ``sample_indices`` and decode them in one pass.

    Returns ``(frames, indices, info)``. The container's frame count is checked: if the
    stream ends early or runs past it, the indices are recomputed from the true count
    (so ``uniform`` spans the real video) and the missing frames read again; ``info``
    then carries the true count. A damaged stretch in the middle is stepped over, not
    taken for the end: ``info.unreadable`` names it, and sampled frames inside it are
    missing from ``indices``.
    """
    path = os.fspath(path)
    # Validate the mode and arguments before touching the file.
    sample_indices(1, num_frames, mode, stride)
    try:
        return _read_sampled_opencv(path, num_frames, mode, stride)
    except VideoReadError as error:
        info = opencv_decoded_nothing(path, error)
        try:
            found = read_sampled_pyav(path, num_frames, mode, stride, info)
        except OSError as pyav_error:
            raise error from pyav_error
        if found is None:
            raise
        return found


def _read_sampled_opencv(path: str, num_frames: int, mode: str,
                         stride: int | None) -> tuple[list[np.ndarray], np.ndarray, VideoInfo]:
    capture = _Capture(path)
    try:
        info = capture.info
        reported = info.frame_count
        if reported <= 0 and mode == "uniform":
            logger.warning("%s: container gives no frame count; counting frames first", path)
            reported = _count_frames(capture)
            _reopen(capture)
            if reported == 0:
                raise VideoReadError(path, NOTHING_DECODED)
            info = dataclasses.replace(info, frame_count=reported)
        if reported > 0:
            wanted = sample_indices(reported, num_frames, mode, stride)
        else:
            # first / stride need no count: ask for the full pattern, the end of the
            # stream cuts it short.
            wanted = sample_indices((stride or 1) * num_frames, num_frames, mode, stride)
        if len(wanted) == 0:
            raise VideoReadError(path, "video has no frames")
        # Only uniform sampling depends on the total; checking it costs decoding the
        # last half-segment (about 1/(2*num_frames) of the video).
        check = reported if (mode == "uniform" and reported > 0) else None
        # Most dataset clips are H.264: decode only the packets the wanted frames need.
        planned = read_by_packets(path, wanted, reported, info.rotation) if reported > 0 else None
        if planned is not None:
            result = _ReadResult(frames=planned, frames_seen=reported, reached_end=True)
        else:
            plan = _seek_plan(path, wanted, info)
            result = _read_wanted(capture, wanted, seek_at=plan, check_beyond=check)

        true_count = result.frames_seen if result.reached_end else None
        if true_count is not None and true_count != reported and reported > 0:
            if true_count == 0:  # nothing decoded: PyAV may read it (read_sampled_frames)
                raise VideoReadError(path, NOTHING_DECODED)
            logger.warning("%s: container says %d frames, stream has %d; resampling", path, reported, true_count)
            info = dataclasses.replace(info, frame_count=true_count)
            wanted = sample_indices(true_count, num_frames, mode, stride)
            missing = np.asarray([i for i in wanted.tolist() if i not in result.frames], dtype=np.int64)
            if len(missing):
                _reopen(capture)
                again = _read_wanted(capture, missing, seek_at=_seek_plan(path, missing, info))
                result.frames.update(again.frames)
                result.unreadable += again.unreadable
        if result.unreadable:
            info = dataclasses.replace(info, unreadable=_merge_ranges(result.unreadable))
    finally:
        capture.release()

    read = np.asarray([i for i in wanted.tolist() if i in result.frames], dtype=np.int64)
    if len(read) == 0:
        raise VideoReadError(path, NOTHING_DECODED)
    if len(read) < len(wanted):
        logger.warning("%s: read %d of %d sampled frames", path, len(read), len(wanted))
    return [result.frames[i] for i in read.tolist()], read, info


def iter_frames(path: str | os.PathLike):
    """Every frame of ``path`` in display order, upright RGB uint8: frame ``i`` here is the
    frame ``read_sampled_frames`` calls index ``i`` (for drawing on a whole video).

    The count and timing stay the stream's: a frame that decodes but cannot be converted
    repeats the previous one, and a damaged stretch, stepped over as ``read_sampled_frames``
    does, is filled with the last good frame. Raises ``VideoReadError`` naming the file."""
    capture = _Capture(os.fspath(path))
    cursor = _Cursor(capture, capture.info.frame_count)
    previous = None
    try:
        while True:
            expected = cursor.position
            index = cursor.grab()
            if index is None:
                break
            # cursor.grab() may have moved to a new capture to step over damage.
            ok, frame = capture.cap.retrieve()
            current = capture.to_rgb(frame) if ok and frame is not None else None
            if current is None and previous is None:
                raise VideoReadError(path, "the first frame could not be converted")
            if index > expected:
                # expected..index-1 did not decode (the cursor logged it): keep their places.
                filler = previous if previous is not None else current
                for _ in range(index - expected):
                    yield filler
            if current is None:
                logger.warning("%s: frame %d could not be converted; the previous one repeats", path, index)
                current = previous
            previous = current
            yield previous
    finally:
        capture.release()
    if previous is None and pyav_available():
        # Opened but nothing decoded (AV1 and other codecs OpenCV's FFmpeg lacks).
        logger.info("%s: OpenCV decoded no frame; decoding with PyAV", path)
        try:
            yield from iter_pyav_frames(path, capture.info.rotation)
        except OSError as pyav_error:
            raise VideoReadError(path, NOTHING_DECODED) from pyav_error
