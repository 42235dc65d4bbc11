"""Which frames to take from a video: pure index maths, no I/O.

Three modes, as in DeepfakeBench's preprocessing plus the one the reference code used:

- ``uniform``: one frame at the centre of each of ``num_frames`` equal segments, so the
  sample spans the whole video (DeepfakeBench's ``linspace`` mode).
- ``first``: the first ``num_frames`` frames (what arXiv 2003.08645's code did).
- ``stride``: every ``stride``-th frame from frame 0, at most ``num_frames`` of them.

A video with fewer frames than asked for gives all its frames (uniform, first) or all the
stride positions that exist (stride).
"""

from __future__ import annotations

import operator

import numpy as np

from tfdeepfake.constants import DEFAULT_NUM_FRAMES

SAMPLING_MODES = ("uniform", "first", "stride")


def _as_int(value, name: str) -> int:
    # operator.index accepts Python and NumPy integers but rejects floats and strings,
    # so 12.5 frames is an error rather than silently truncated.
    if isinstance(value, bool):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    try:
        return operator.index(value)
    except TypeError:
        raise ValueError(f"{name} must be an integer, got {value!r}") from None


def spread_picks(count: int, keep: int) -> np.ndarray:
    """Up to ``keep`` of ``count`` items (faces of a video, rows of a table), evenly spread
    from the first to the last, as sorted unique positions."""
    return np.unique(np.round(np.linspace(0, count - 1, min(keep, count))).astype(int))


def sample_indices(
    frame_count: int,
    num_frames: int = DEFAULT_NUM_FRAMES,
    mode: str = "uniform",
    stride: int | None = None,
) -> np.ndarray:
    """Frame indices to read, sorted, unique, as an ``int64`` array.

    ``stride`` is required for ``mode="stride"`` and ignored by the other modes (so one
    config can carry it whatever the mode). ``frame_count`` 0 gives an empty array.
    """
    if mode not in SAMPLING_MODES:
        raise ValueError(f"unknown sampling mode {mode!r}; valid modes: {', '.join(SAMPLING_MODES)}")
    frame_count = _as_int(frame_count, "frame_count")
    num_frames = _as_int(num_frames, "num_frames")
    if frame_count < 0:
        raise ValueError(f"frame_count must be >= 0, got {frame_count}")
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}")

    if mode == "stride":
        if stride is None:
            raise ValueError("mode 'stride' needs stride (a positive integer)")
        stride = _as_int(stride, "stride")
        if stride < 1:
            raise ValueError(f"stride must be >= 1, got {stride}")
        return np.arange(0, frame_count, stride, dtype=np.int64)[:num_frames]

    if frame_count <= num_frames:
        return np.arange(frame_count, dtype=np.int64)
    if mode == "first":
        return np.arange(num_frames, dtype=np.int64)

    # Centre of each of num_frames equal segments, floor((k + 1/2) * frame_count / num_frames):
    # the same points as linspace(0, frame_count, num_frames, endpoint=False) plus half a
    # segment, but in integers so a centre that falls exactly on a frame is never rounded
    # down by float error. Segments are at least one frame long here, so indices are distinct.
    k = np.arange(num_frames, dtype=np.int64)
    return ((2 * k + 1) * frame_count) // (2 * num_frames)
