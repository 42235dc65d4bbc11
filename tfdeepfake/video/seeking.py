"""Where seeking pays when OpenCV reads sampled frames: keyframe positions from a
demux-only pass (``CAP_PROP_FORMAT=-1``: packets read, nothing decoded, ~10-20 ms a clip)
and the wanted frames worth reaching by a seek rather than by decoding through (see
``tfdeepfake.video.reader`` for the measurements behind it)."""

from __future__ import annotations

import bisect
import logging
import os

import cv2
import numpy as np

from tfdeepfake.video.capture import VideoInfo, VideoReadError, _open_capture

logger = logging.getLogger(__name__)

# OpenCV's seek asks FFmpeg for the keyframe at or before (target - 16) frames
# (cap_ffmpeg_impl.hpp, CvCapture_FFMPEG::seek), then decodes forward to the target.
_OPENCV_SEEK_BACKOFF = 16
# A seek also flushes the decoder and restarts its threads; below this many skipped
# frames, decoding straight through was measured to be as fast.
MIN_FRAMES_SAVED_BY_SEEK = 24
# Gaps between wanted frames shorter than this cannot contain a useful keyframe, so
# the demux-only keyframe scan is skipped for dense sampling.
_MIN_GAP_FOR_KEYFRAME_SCAN = _OPENCV_SEEK_BACKOFF + MIN_FRAMES_SAVED_BY_SEEK


def _scan_packets(path: str) -> tuple[list[int], int]:
    """Keyframe positions (decode order) and packet count, demuxing without decoding."""
    cap = _open_capture(path, [cv2.CAP_PROP_FORMAT, -1])
    keys = []
    count = 0
    try:
        while cap.grab():
            if cap.get(cv2.CAP_PROP_LRF_HAS_KEY_FRAME):
                keys.append(count)
            count += 1
    finally:
        cap.release()
    return keys, count


def keyframe_indices(path: str | os.PathLike) -> np.ndarray:
    """Indices of keyframes in decode order, from a demux-only pass (no decoding).

    For the usual closed-GOP streams a keyframe's decode position equals its display
    index. Used only to plan seeks, never to decide which frame a pixel array is.
    """
    keys, _ = _scan_packets(os.fspath(path))
    return np.asarray(keys, dtype=np.int64)


def _seek_plan(path: str, wanted: np.ndarray, info: VideoInfo) -> set[int]:
    """Which wanted indices to reach by seeking rather than by decoding through."""
    gaps = np.diff(np.concatenate([[0], wanted]))
    if gaps.max() < _MIN_GAP_FOR_KEYFRAME_SCAN:
        return set()
    if info.frame_count <= 0 or info.fps <= 0:
        return set()
    try:
        keys, packets = _scan_packets(path)
    except VideoReadError:
        return set()
    # OpenCV seeks by timestamp = index / fps. Trust that only when every packet is one
    # frame and the container's count agrees (constant frame rate, nothing missing).
    if not keys or packets != info.frame_count:
        logger.debug("%s: %d packets, container says %d frames; not seeking", path, packets, info.frame_count)
        return set()
    plan = set()
    position = 0  # next frame a grab() would return
    for target in wanted.tolist():
        # The keyframe OpenCV's seek will land on.
        k = bisect.bisect_right(keys, target - _OPENCV_SEEK_BACKOFF) - 1
        landing = keys[k] if k >= 0 else 0
        if landing - position >= MIN_FRAMES_SAVED_BY_SEEK:
            plan.add(target)
        position = target + 1
    return plan
