"""Frame sampling (pure index maths) and decoding to RGB uint8, rotation applied."""

from tfdeepfake.video.reader import (
    VideoInfo,
    VideoReadError,
    keyframe_indices,
    probe_video,
    read_frames,
    read_sampled_frames,
)
from tfdeepfake.video.sampling import SAMPLING_MODES, sample_indices

__all__ = [
    "SAMPLING_MODES",
    "VideoInfo",
    "VideoReadError",
    "keyframe_indices",
    "probe_video",
    "read_frames",
    "read_sampled_frames",
    "sample_indices",
]
