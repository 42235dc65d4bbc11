"""Frames of streams that OpenCV opens but cannot decode, read through PyAV instead.

Why: the FFmpeg inside the opencv-python wheels has no software AV1 decoder (its own
``av1`` decoder needs hardware acceleration), so an AV1 file (web downloads, newer
datasets) opens, reports its size and frame count, and then decodes nothing. PyAV
bundles dav1d. The readers in ``tfdeepfake.video.reader`` come here only when OpenCV
decoded no frame of a file, so every stream OpenCV reads keeps exactly its pixels.

Frames are counted by decoding (a packet is not always a shown frame), in display order,
upright as the caller's rotation says; a decode error ends the read with what came before.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from typing import Collection, Iterator

import cv2
import numpy as np

from tfdeepfake.video.capture import NOTHING_DECODED, VideoInfo, VideoReadError, probe_video
from tfdeepfake.video.sampling import sample_indices

logger = logging.getLogger(__name__)

_ROTATE = {90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_COUNTERCLOCKWISE}


def pyav_available() -> bool:
    try:
        import av  # noqa: F401
    except ImportError:
        return False
    return True


def opencv_decoded_nothing(path: str, error: VideoReadError) -> VideoInfo:
    """The container's info (as OpenCV reads it) when ``error`` says OpenCV opened ``path``
    and decoded no frame, and PyAV is installed to try; otherwise ``error`` is raised again."""
    if not error.reason.startswith(NOTHING_DECODED) or not pyav_available():
        raise error
    logger.info("%s: OpenCV decoded no frame; decoding with PyAV", path)
    return probe_video(path)


def _decoded(path: str | os.PathLike):
    """``(index, av.VideoFrame)`` in display order; a decode error ends it (logged)."""
    import av

    with av.open(os.fspath(path)) as container:
        stream = container.streams.video[0]
        stream.codec_context.thread_type = "AUTO"
        try:
            yield from enumerate(container.decode(stream))
        except av.FFmpegError as error:
            logger.warning("%s: PyAV stopped decoding: %s", path, error)


def _upright_rgb(frame, rotation: int) -> np.ndarray:
    rgb = frame.to_ndarray(format="rgb24")
    return cv2.rotate(rgb, _ROTATE[rotation]) if rotation in _ROTATE else rgb


def iter_pyav_frames(path: str | os.PathLike, rotation: int = 0) -> Iterator[np.ndarray]:
    """Every decodable frame of the first video stream, upright RGB uint8, in display
    order. Raises ``av.FFmpegError`` (an ``OSError``) when the file cannot be opened."""
    for _, frame in _decoded(path):
        yield _upright_rgb(frame, rotation)


def read_pyav_frames(path: str | os.PathLike, wanted: Collection[int], rotation: int = 0,
                     *, count_all: bool = False) -> tuple[dict[int, np.ndarray], int]:
    """``({index: frame}, frames decoded)`` for the ``wanted`` display indices. Decoding
    stops after the last wanted frame unless ``count_all`` (then the count is the stream's)."""
    wanted = set(int(i) for i in wanted)
    last = max(wanted, default=-1)
    frames: dict[int, np.ndarray] = {}
    seen = 0
    for index, frame in _decoded(path):
        seen = index + 1
        if index in wanted:
            frames[index] = _upright_rgb(frame, rotation)
        if index >= last and not count_all:
            break
    return frames, seen


def read_sampled_pyav(path: str, num_frames: int, mode: str, stride: int | None,
                       info: VideoInfo) -> tuple[list[np.ndarray], np.ndarray, VideoInfo] | None:
    """``read_sampled_frames`` through PyAV, given what OpenCV read of the container
    (``info``), the frame count checked as there; None if nothing decodes."""
    reported = info.frame_count
    wanted = sample_indices(reported if reported > 0 else (stride or 1) * num_frames, num_frames, mode, stride)
    uniform = mode == "uniform"
    frames, seen = read_pyav_frames(path, wanted, info.rotation, count_all=uniform)
    if uniform and seen and seen != reported:
        logger.warning("%s: container says %d frames, stream has %d; resampling", path, reported, seen)
        info = dataclasses.replace(info, frame_count=seen)
        wanted = sample_indices(seen, num_frames, mode, stride)
        missing = [i for i in wanted.tolist() if i not in frames]
        if missing:
            frames.update(read_pyav_frames(path, missing, info.rotation)[0])
    read = np.asarray([i for i in wanted.tolist() if i in frames], dtype=np.int64)
    if len(read) == 0:
        return None
    return [frames[i] for i in read.tolist()], read, info


__all__ = ["iter_pyav_frames", "opencv_decoded_nothing", "pyav_available", "read_pyav_frames",
           "read_sampled_pyav"]
