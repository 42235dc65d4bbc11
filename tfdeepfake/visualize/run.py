"""One video through a ``VideoDetector`` and into the pictures: what ``detect --annotate /
--report`` and ``tfdeepfake serve`` both run, so they draw the same things."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Callable

logger = logging.getLogger(__name__)

# progress(stage, fraction done of that stage or None)
Progress = Callable[[str, float | None], None]


def visualize_video(video_detector, path: str | os.PathLike, *,
                    report_dir: str | os.PathLike | None = None,
                    annotate_to: str | os.PathLike | None = None,
                    progress: Progress | None = None,
                    name: str | None = None,
                    on_error: Callable[[str, OSError], None] | None = None
                    ) -> tuple[dict[str, Any], dict[str, str]]:
    """``(verdict dict, {what: path written})`` for one video: the verdict with its frames;
    the report's PNGs and JSON in ``report_dir``; the annotated video at ``annotate_to``.
    ``name`` replaces the verdict's ``path`` (a web upload's own name, not where it was kept).

    A video that could not be read gets neither; one without faces gets the plot and the
    annotated video (showing "unknown") but no face sheet or heat maps. With ``on_error``,
    an output that cannot be written (a full disk, a file where a folder should be) is
    ``on_error("report" or "annotated", error)`` and the rest goes on: the verdict is not
    lost with it; without, the error is raised."""
    from tfdeepfake.visualize.annotate import annotate_video
    from tfdeepfake.visualize.report import write_report

    say = progress or (lambda stage, fraction: None)
    say("finding and scoring faces", None)
    verdict, faces = video_detector.inspect(path)
    v = verdict.to_dict()
    if name is not None:
        v["path"], v["reason"] = name, v["reason"].replace(str(path), name)
    written: dict[str, str] = {}
    if not v["frames"]:  # unreadable: nothing to draw on
        return v, written
    if report_dir is not None:
        say("drawing the report", None)
        try:
            written.update(write_report(v, faces, report_dir, detector=video_detector.detector,
                                        variant=video_detector.variant))
        except OSError as error:
            if on_error is None:
                raise
            on_error("report", error)
    if annotate_to is not None:
        say("writing the annotated video", 0.0)
        try:
            written["annotated"] = str(annotate_video(
                path, v, annotate_to,
                progress=lambda done, total: say("writing the annotated video",
                                                 done / total if total else None)))
        except OSError as error:
            if on_error is None:
                raise
            on_error("annotated", error)
    return v, written


def unique_names(paths) -> dict[Path, str]:
    """A file-system-safe, distinct name per path (its stem; ``-2``, ``-3`` ... on clashes)."""
    names: dict[Path, str] = {}
    taken: set[str] = set()
    for path in paths:
        stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in Path(path).stem) or "video"
        name, k = stem, 2
        while name.lower() in taken:
            name, k = f"{stem}-{k}", k + 1
        taken.add(name.lower())
        names[Path(path)] = name
    return names


__all__ = ["unique_names", "visualize_video"]
