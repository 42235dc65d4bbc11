"""Decode only the packets that sampled frames need (H.264 through PyAV).

Why: 25 frames sampled across a clip cost a full decode with OpenCV, because every
frame is decoded to reach the next wanted one. In H.264 about half the frames of a
dataset clip (x264's B-frames) are marked as references for no other frame
(``nal_ref_idc == 0``): nothing decoded later depends on them, so when they are not
wanted their packets need not reach the decoder at all. Likewise an IDR frame starts
afresh, so reference frames after the last wanted frame before an IDR can go too. The
frames that are decoded are decoded exactly as before: pixels equal OpenCV's, tested.

What it covers: H.264 with length-prefixed NAL units (MP4, MOV, MKV: ``avcC`` extradata),
8-bit pixels, one packet per frame with distinct timestamps, a packet count equal to the container's
frame count, and a clean decode. Anything else (another codec, Annex-B streams, edit
lists that discard packets, damage) returns ``None`` and the caller reads the frames with
OpenCV (``tfdeepfake.video.reader``), which handles those cases.
"""

from __future__ import annotations

import logging
import os

import cv2
import numpy as np

logger = logging.getLogger(__name__)

_SLICE_TYPES = (1, 5)  # coded slice of a non-IDR / an IDR picture
_IDR = 5
# OpenCV turns frames upright this way (capture._ROTATE_CODES); so must we.
# OpenCV converts to RGB with swscale's defaults: BT.601 whatever the stream is tagged
# with. PyAV would honour the tag (BT.709 for HD) and give different pixels from the
# caches and models made so far.
_AS_OPENCV = dict(src_colorspace="ITU601", dst_colorspace="ITU601")
# 8-bit formats only: for deeper ones swscale's dithering differs between the two paths.
_PIXEL_FORMATS = {"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "gray"}
_ROTATE = {90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_COUNTERCLOCKWISE}


def nal_length_size(extradata: bytes) -> int | None:
    """The NAL length-prefix size from ``avcC`` extradata; None for Annex-B or other."""
    if len(extradata) < 7 or extradata[0] != 1:
        return None
    return (extradata[4] & 3) + 1


def slice_kind(packet: bytes, length_size: int) -> tuple[bool, bool] | None:
    """``(is_reference, is_idr)`` of a packet's slices; None when it has no slice or its
    NAL lengths do not add up (then the plan is not trusted)."""
    position, reference, idr, slices = 0, False, False, 0
    while position < len(packet):
        if position + length_size >= len(packet):
            return None
        size = int.from_bytes(packet[position:position + length_size], "big")
        position += length_size
        if size == 0 or position + size > len(packet):
            return None
        header = packet[position]
        if header & 0x1F in _SLICE_TYPES:
            slices += 1
            reference |= (header >> 5) & 3 != 0
            idr |= header & 0x1F == _IDR
        position += size
    return (reference, idr) if slices else None


def decode_plan(kinds: list[tuple[bool, bool]], wanted_positions: list[int]) -> np.ndarray:
    """Which packets (decode order) to decode so that ``wanted_positions`` decode exactly.

    A wanted frame needs itself and the reference frames before it back to the IDR that
    starts its group (an IDR empties the decoder's reference list); non-reference frames
    it does not need.
    """
    needed = np.zeros(len(kinds), bool)
    group_start = np.zeros(len(kinds), np.int64)
    start = 0
    for i, (_, idr) in enumerate(kinds):
        if idr:
            start = i
        group_start[i] = start
    reference = np.array([ref for ref, _ in kinds], bool)
    for position in wanted_positions:
        first = group_start[position]
        needed[first:position] |= reference[first:position]
        needed[position] = True
    return needed


def read_by_packets(path: str | os.PathLike, wanted, frame_count: int,
                    rotation: int = 0) -> dict[int, np.ndarray] | None:
    """``{index: upright RGB frame}`` for every index in ``wanted`` (display order), or
    None when this stream is not one the plan covers (see the module docstring)."""
    try:
        import av
    except ImportError:  # an install without PyAV still reads every video through OpenCV
        return None
    path = os.fspath(path)
    try:
        return _read(av, path, np.asarray(wanted, np.int64), frame_count, rotation)
    except (av.FFmpegError, OSError, ValueError, IndexError) as error:
        logger.debug("%s: packet plan not used (%s)", path, error)
        return None


def _read(av, path: str, wanted: np.ndarray, frame_count: int, rotation: int):
    with av.open(path) as container:
        stream = container.streams.video[0]
        if stream.codec_context.name != "h264" or stream.codec_context.pix_fmt not in _PIXEL_FORMATS:
            return None
        length_size = nal_length_size(bytes(stream.codec_context.extradata or b""))
        if length_size is None:
            return None
        timestamps, kinds = [], []
        for packet in container.demux(stream):
            if packet.size == 0:
                continue
            kind = slice_kind(bytes(packet), length_size)
            if packet.pts is None or packet.is_discard or kind is None:
                return None
            timestamps.append(packet.pts)
            kinds.append(kind)
    order = np.argsort(timestamps, kind="stable")  # display index -> decode position
    if (len(timestamps) != frame_count or len(wanted) == 0 or wanted.max() >= frame_count
            or len(set(timestamps)) != len(timestamps)):
        return None
    sorted_pts = np.asarray(timestamps)[order]
    wanted_pts = {int(sorted_pts[i]): int(i) for i in wanted.tolist()}
    needed = decode_plan(kinds, sorted(int(order[i]) for i in wanted.tolist()))
    frames: dict[int, np.ndarray] = {}
    with av.open(path) as container:
        stream = container.streams.video[0]
        stream.codec_context.thread_type = "AUTO"  # frame threads: the file is decoded ahead
        position = 0
        for packet in container.demux(stream):
            flush = packet.size == 0
            if not flush:
                position += 1
                if not needed[position - 1]:
                    continue
            for frame in packet.decode():
                index = wanted_pts.get(frame.pts)
                if index is not None:
                    rgb = frame.to_ndarray(format="rgb24", **_AS_OPENCV)
                    frames[index] = cv2.rotate(rgb, _ROTATE[rotation]) if rotation in _ROTATE else rgb
            if len(frames) == len(wanted_pts):
                break
    if len(frames) != len(wanted_pts):
        logger.debug("%s: %d of %d wanted frames came out of the plan", path, len(frames), len(wanted_pts))
        return None
    return frames
