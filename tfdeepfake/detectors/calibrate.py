"""Thresholds from genuine videos of the footage a model will judge.

A model's 0.5 threshold holds only on footage like its training data: on the shared footage
every detector here called most unseen real videos fake (docs/results-sbi.md). Given ``n``
videos known to be real, of the kind the model will see, the threshold is set just above
the ``(k+1)``-th highest of their video scores, ``k`` the largest number with
``(k + 1) / (n + 1) <= target``. Then, if new real videos are like these (exchangeable), the
chance that one is called fake is at most ``(k + 1) / (n + 1)`` (the split-conformal bound),
whatever the model. Fakes are not needed, and nothing is said about how many fakes the new
threshold still catches: measure that on labelled videos.

The threshold is stored as the smallest float32 above the boundary score (and above that
score cast to float32): exports compare in float32, and one float64 step above a score is
the score itself in float32, so a boundary video would be real in ``detect`` and fake in the
export. When the boundary score is 1.0 (saturated sigmoids) no threshold up to 1 can call
it real, and calibration refuses rather than write a bound it breaks.
"""

from __future__ import annotations

import dataclasses
import datetime
import math
import os
import shutil
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from tfdeepfake.detectors.base import ModelFolder, ModelFolderError

CALIBRATION_KEY = "calibration"


@dataclasses.dataclass(frozen=True)
class Threshold:
    """A threshold chosen on ``n`` real video scores for one variant."""

    variant: str
    threshold: float
    previous: float
    n: int
    flagged: int  # calibration videos at or above the new threshold
    flagged_before: int  # ... and at or above the previous one
    bound: float  # (k + 1) / (n + 1): false-positive rate on new real videos, at most
    # Calibration videos at the boundary score (the (k+1)-th highest), itself included; all
    # are called real, so with ties fewer than k are flagged while the bound stays (k+1)/(n+1).
    tied: int = 1
    boundary: float | None = None  # the (k+1)-th highest real score, called real

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def videos_needed(target: float) -> int:
    """The fewest real videos that can give a bound of ``target``."""
    _require_rate(target)
    return max(1, math.ceil(1.0 / target - 1.0 - 1e-9))


def _require_rate(target: float) -> None:
    # 0 would divide by zero in videos_needed and NaN fail in ceil: one line instead.
    if not 0.0 < target < 1.0:
        raise ValueError(f"the false-positive rate must be in (0, 1), got {target}")


def float32_above(score: float) -> float:
    """The smallest float32 above ``score`` and above ``float32(score)``: a threshold that
    calls ``score`` real whether it is compared in float64 (detect) or float32 (exports)."""
    return float(np.nextafter(np.float32(score), np.float32(np.inf)))


def _rank(real_scores: Sequence[float], target: float) -> tuple[np.ndarray, int]:
    """Scores, highest first, and ``k``: the largest with ``(k + 1) / (n + 1) <= target``."""
    _require_rate(target)
    scores = np.sort(np.asarray(real_scores, np.float64))[::-1]
    n = len(scores)
    k = math.floor(target * (n + 1) + 1e-9) - 1
    if k < 0:
        raise ValueError(f"{n} real videos cannot bound the false-positive rate at {target:g}: "
                         f"that needs at least {videos_needed(target)} (or a larger "
                         "--false-positive-rate)")
    return scores, k


def conformal_threshold(real_scores: Sequence[float], target: float) -> tuple[float, int]:
    """``(threshold, flagged)``: fake when ``p >= threshold``; ``flagged`` real scores
    reach it (at most ``k``; fewer when scores tie at the boundary)."""
    scores, k = _rank(real_scores, target)
    # Just above the (k+1)-th highest score: that video and all below it are called real.
    threshold = float32_above(scores[k])
    if threshold > 1.0:
        n, saturated = len(scores), int(np.sum(scores.astype(np.float32) >= 1.0))
        raise ValueError(f"{saturated} of {n} real videos score 1.0 (saturated), more than the "
                         f"{k} a false-positive rate of {target:g} lets be called fake: no "
                         "threshold up to 1 bounds it (fake when p >= threshold); use "
                         f"--false-positive-rate {(saturated + 1) / (n + 1):.3g} or more, or a "
                         "model whose real scores do not saturate")
    return threshold, int(np.sum(scores >= threshold))


def calibrate_scores(scores: Mapping[str, Sequence[float]], previous: Mapping[str, float],
                     target: float) -> list[Threshold]:
    """One ``Threshold`` per variant from its real videos' scores."""
    out = []
    for variant, values in scores.items():
        values = np.asarray(values, np.float64)
        threshold, flagged = conformal_threshold(values, target)
        ranked, k = _rank(values, target)
        out.append(Threshold(variant, threshold, float(previous[variant]), len(values), flagged,
                             int(np.sum(values >= previous[variant])),
                             (k + 1) / (len(values) + 1), int(np.sum(ranked == ranked[k])),
                             float(ranked[k])))
    return out


def write_calibrated(model_dir: str | os.PathLike, out_dir: str | os.PathLike | None,
                     thresholds: Sequence[Threshold], record: Mapping[str, Any]) -> Path:
    """The model folder with the new thresholds: a copy at ``out_dir`` (its training run
    left behind), or ``model_dir`` itself when ``out_dir`` is None."""
    source = ModelFolder(model_dir)
    meta = _calibrated_meta(source, thresholds, record)
    if out_dir is None:
        source.write_meta(meta)  # one file, written atomically
        return source.root
    out = Path(out_dir)
    if out.resolve() == source.root.resolve():
        raise ValueError(f"{out}: the model's own folder; use in_place (--in-place) for that")
    if out.exists():
        raise FileExistsError(f"{out}: already exists; choose a new folder")
    return _copy_whole(source, out, meta)


def _copy_whole(source: ModelFolder, out: Path, meta: Mapping[str, Any], *,
                before_rename: Callable[[Path], None] | None = None) -> Path:
    """The copy is built in a temp folder beside ``out`` and renamed when whole: a full disk
    or a kill never leaves a half-written model folder that a rerun calls "already
    exists". ``before_rename(temp)`` may write more files into it (adapted weights)."""
    from tfdeepfake.cache.files import DiskFullError, is_disk_full, pid_alive, temp_pid

    out.parent.mkdir(parents=True, exist_ok=True)
    for stale in out.parent.glob(f".{out.name}.*.tmp"):  # left by a killed run
        pid = temp_pid(stale.name)
        if pid is not None and pid != os.getpid() and not pid_alive(pid):
            shutil.rmtree(stale, ignore_errors=True)
    temp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    shutil.rmtree(temp, ignore_errors=True)
    try:
        shutil.copytree(source.root, temp, ignore=shutil.ignore_patterns("run"))
        if before_rename is not None:
            before_rename(temp)
        ModelFolder(temp).write_meta(meta)
        os.rename(temp, out)
    except BaseException as error:
        shutil.rmtree(temp, ignore_errors=True)
        if is_disk_full(error):
            raise DiskFullError(out, "no folder left there") from error
        if isinstance(error, shutil.Error):  # a list of (source, copy, reason): keep the first
            first = error.args[0][0] if error.args and error.args[0] else ("", "", str(error))
            raise OSError(f"{out}: cannot copy {first[0]}: {first[2]}") from error
        raise
    return out


def _calibrated_meta(source: ModelFolder, thresholds: Sequence[Threshold],
                     record: Mapping[str, Any]) -> dict[str, Any]:
    """``source``'s model.json with the new thresholds and the calibration record."""
    meta = source.read_meta()
    by_variant = {t.variant: t.threshold for t in thresholds}
    if "thresholds" in meta:  # a detector with one threshold per variant (triplet)
        unknown = set(by_variant) - set(meta["thresholds"])
        if unknown:
            raise ModelFolderError(f"{source.meta_path}: no variant(s) {sorted(unknown)}")
        meta["thresholds"] = {**meta["thresholds"], **by_variant}
        meta["threshold"] = meta["thresholds"][meta["default_classifier"]]
    else:
        (meta["threshold"],) = by_variant.values()
    meta[CALIBRATION_KEY] = {**record, "thresholds": [t.to_dict() for t in thresholds],
                             "date": datetime.datetime.now(datetime.timezone.utc).isoformat(
                                 timespec="seconds")}
    return meta


def calibrate_model(model, real_videos: Sequence[str | os.PathLike], target: float = 0.1, *,
                    out_dir: str | os.PathLike | None = None, facenet_weights=None,
                    on_video=None) -> dict[str, Any]:
    """Score ``real_videos`` with every variant of ``model`` (a folder or a loaded
    detector), choose thresholds,
    write them (``write_calibrated``); returns what was done. Videos without a face or that
    cannot be read are listed and left out."""
    from tfdeepfake.detect import VideoDetector
    from tfdeepfake.detectors.base import Detector

    if len(real_videos) < videos_needed(target):
        raise ValueError(f"{len(real_videos)} real videos cannot bound the false-positive rate "
                         f"at {target:g}: that needs at least {videos_needed(target)}")
    video_detector = VideoDetector(model, facenet_weights=facenet_weights)
    detector = video_detector.detector
    scores: dict[str, list[float]] = {v: [] for v in detector.variants}
    used, skipped = [], []
    for path in real_videos:
        verdict, faces = video_detector.inspect(path)
        if not len(faces):
            skipped.append({"path": str(path), "reason": verdict.reason})
        else:
            used.append(str(path))
            for variant in detector.variants:
                scores[variant].append(float(detector.score_video(faces, variant)))
        if on_video is not None:
            on_video(path)
    thresholds = calibrate_scores(scores, {v: detector.threshold(v) for v in detector.variants},
                                  target)
    record = {"false_positive_rate": target, "real_videos": used, "skipped": skipped,
              # Kept so that detect can say how unusual a new score is among these
              # (``genuine_share``, a conformal p-value).
              "real_scores": {v: sorted(values) for v, values in scores.items()},
              "rule": "fake when p >= threshold; at most (k+1)/(n+1) of new real videos like "
                      "these are called fake (split-conformal); the threshold is the float32 "
                      "just above the (k+1)-th highest real score, so exports agree"}
    folder = write_calibrated(model.path if isinstance(model, Detector) else model, out_dir,
                              thresholds, record)
    return {"model": str(folder), "thresholds": [t.to_dict() for t in thresholds],
            "real_videos": len(used), "skipped": skipped, "false_positive_rate": target}


def genuine_share(real_scores: Sequence[float], score: float) -> float:
    """``(1 + #{real scores >= score}) / (n + 1)``: the conformal p-value of ``score`` under
    "this video is like the calibration's genuine videos"; small means unusual for a
    genuine video (0.05: at most 5% of such videos score this high)."""
    values = np.asarray(real_scores, np.float64)
    return float((1 + np.sum(values >= score)) / (len(values) + 1))


__all__ = ["CALIBRATION_KEY", "Threshold", "calibrate_model", "calibrate_scores", "genuine_share",
           "conformal_threshold", "float32_above", "videos_needed", "write_calibrated"]
