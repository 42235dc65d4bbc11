"""``detect --annotate`` / ``--report``: where each video's pictures go."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from tfdeepfake.cli.common import CommandError


def annotate_targets(annotate: Path | None, paths: list[Path],
                     overwrite: bool = False) -> dict[Path, Path]:
    """Output video per input: ``--annotate OUT.mp4`` with one video is that file; otherwise
    ``--annotate`` is a folder receiving ``<name>.annotated.mp4`` per video.

    Checked before any video is read: an output that is one of the inputs is refused (even
    with ``overwrite``), an existing one unless ``overwrite``."""
    if annotate is None:
        return {}
    from tfdeepfake.visualize.run import unique_names

    if annotate.suffix.lower() == ".mp4":
        if len(paths) != 1:
            raise CommandError(f"--annotate {annotate}: a .mp4 file takes one video, and "
                               f"{len(paths)} were given; give a folder instead")
        targets = {paths[0]: annotate}
    else:
        targets = {path: annotate / f"{name}.annotated.mp4"
                   for path, name in unique_names(paths).items()}
    inputs = {path.resolve() for path in paths}
    for target in targets.values():
        if target.resolve() in inputs or any(_same_file(target, path) for path in paths):
            raise CommandError(f"--annotate {target}: is the input video itself; give another "
                               "name")
        if target.is_dir():
            raise CommandError(f"--annotate {target}: exists and is a folder")
        if (target.exists() or target.is_symlink()) and not overwrite:
            raise CommandError(f"--annotate {target}: exists; pass --overwrite to replace it")
    return targets


def _same_file(a: Path, b: Path) -> bool:
    # Hard links and links by another name: resolve() alone does not see those.
    try:
        return a.exists() and b.exists() and a.samefile(b)
    except OSError:
        return False


def report_targets(report: Path | None, paths: list[Path]) -> dict[Path, Path]:
    """``--report DIR``: one sub-folder per video, named after it."""
    if report is None:
        return {}
    from tfdeepfake.visualize.run import unique_names

    if report.exists() and not report.is_dir():
        raise CommandError(f"--report {report}: exists and is not a folder")
    return {path: report / name for path, name in unique_names(paths).items()}


def visual_scorer(detector, annotate: dict[Path, Path], report: dict[Path, Path]) -> Callable:
    """``path -> verdict dict`` that also writes the pictures, recording them under
    ``outputs`` (``annotated``: the video; ``report``: the folder). One that cannot be
    written is a line under ``output_errors`` instead: the verdict is kept."""
    from tfdeepfake.visualize.run import visualize_video

    def score(path: Path) -> dict:
        errors = []

        def failed(what: str, error: OSError) -> None:
            option, target = (("--annotate", annotate[path]) if what == "annotated"
                              else ("--report", report[path]))
            errors.append(f"{option} {target}: {write_error(target, error)}")

        verdict, written = visualize_video(detector, path, report_dir=report.get(path),
                                           annotate_to=annotate.get(path), on_error=failed)
        outputs = {}
        if "annotated" in written:
            outputs["annotated"] = written["annotated"]
        if path in report and "json" in written:
            outputs["report"] = str(report[path])
        return {**verdict, "outputs": outputs, **({"output_errors": errors} if errors else {})}

    return score


def write_error(target: Path, error: OSError) -> str:
    """Why ``target`` (or a folder on its way) could not be written, said plainly."""
    import errno

    if error.errno in (errno.EEXIST, errno.ENOTDIR):
        # mkdir's "[Errno 17] File exists" when a parent is a file: name that file.
        for parent in Path(target).parents:
            if parent.exists() or parent.is_symlink():
                if not parent.is_dir():
                    return f"{parent} is a file, not a folder; not written"
                break
    if error.errno == errno.ENOSPC:
        return "disk full; not written"
    where = f" ({error.filename})" if error.filename else ""
    return f"{error.strerror or error}{where}; not written"


def outputs_line(verdict: dict) -> str:
    outputs = verdict.get("outputs") or {}
    return "  -> " + ", ".join(f"{k}: {v}" for k, v in outputs.items()) if outputs else ""


__all__ = ["annotate_targets", "outputs_line", "report_targets", "visual_scorer",
           "write_error"]
