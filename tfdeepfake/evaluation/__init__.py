"""Frame and video metrics, the Measures report, and figures."""

from tfdeepfake.scoring import aggregate_video_labels, aggregate_video_scores
from tfdeepfake.evaluation.metrics import (
    binary_metrics,
    bootstrap_ci,
    choose_threshold,
    equal_error_rate,
    frame_and_video_metrics,
)

__all__ = [
    "aggregate_video_labels",
    "aggregate_video_scores",
    "binary_metrics",
    "bootstrap_ci",
    "choose_threshold",
    "equal_error_rate",
    "frame_and_video_metrics",
]
