"""Seeing why: the annotated video (``detect --annotate``) and the per-video report
(``detect --report``: frame-probability plot, face contact sheet, heat maps), drawn from a
``tfdeepfake.detect.Verdict``. Imports no TensorFlow itself; heat maps come from the
detector (``Detector.heat_map``)."""

from tfdeepfake.visualize.annotate import annotate_video, running_scores
from tfdeepfake.visualize.report import face_sheet, plot_frame_scores, write_report

__all__ = ["annotate_video", "face_sheet", "plot_frame_scores", "running_scores", "write_report"]
