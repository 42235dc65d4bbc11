"""Thresholds from real videos (`tfdeepfake calibrate`): the conformal rule, its bound in
simulation, the model folder it writes, and the command on a tiny model."""

import json

import numpy as np
import pytest

from tfdeepfake.detectors.calibrate import (
    calibrate_scores,
    conformal_threshold,
    videos_needed,
    write_calibrated,
)


def test_the_threshold_sits_just_above_the_allowed_real_videos():
    scores = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1]  # n = 9
    threshold, flagged = conformal_threshold(scores, 0.1)  # k = 0: (0+1)/(9+1)
    assert 0.9 < threshold < 0.9 + 1e-7 and flagged == 0  # one float32 step
    threshold, flagged = conformal_threshold(scores, 0.2)  # k = 1: 0.9 stays fake
    assert 0.8 < threshold < 0.8 + 1e-7 and flagged == 1
    assert videos_needed(0.1) == 9 and videos_needed(0.2) == 4 and videos_needed(0.5) == 1
    with pytest.raises(ValueError, match="needs at least 9"):
        conformal_threshold(scores[:8], 0.1)
    with pytest.raises(ValueError, match=r"in \(0, 1\)"):
        conformal_threshold(scores, 1.0)


def test_new_real_videos_are_called_fake_at_most_at_the_bound():
    """Exchangeable scores: over many calibrations, a new real video reaches the threshold
    with probability (k+1)/(n+1) = 0.1 (n = 19, target 0.1, k = 1)."""
    rng = np.random.default_rng(0)
    trials = 4000
    calls = 0
    for _ in range(trials):
        scores = rng.beta(5, 2, size=20)  # real videos scored high, as on unseen footage
        threshold, _ = conformal_threshold(scores[:19], 0.1)
        calls += scores[19] >= threshold
    assert abs(calls / trials - 0.1) < 0.015


def test_calibrate_scores_reports_before_and_after():
    (t,) = calibrate_scores({"sbi": [0.95, 0.9, 0.85, 0.8]}, {"sbi": 0.5}, 0.25)
    assert (t.n, t.flagged_before, t.flagged, t.bound) == (4, 4, 0, 0.2)
    assert 0.95 < t.threshold <= 1.0


def test_written_thresholds_load_back_for_every_variant(tmp_path):
    from tests.export.export_helpers import tiny_facenet, write_triplet_model
    from tfdeepfake.detectors import load_detector
    from tfdeepfake.detectors.calibrate import Threshold
    from tfdeepfake.faces.settings import FaceSettings

    embedder = tiny_facenet()
    faces = np.random.default_rng(0).integers(0, 255, (6, 160, 160, 3), dtype=np.uint8)
    model = write_triplet_model(tmp_path / "m", embedder, faces, np.arange(6) % 2,
                                settings=FaceSettings(num_frames=3))
    new = [Threshold("knn", 0.75, 0.5, 9, 0, 9, 0.1), Threshold("sgd", 0.625, 0.5, 9, 0, 8, 0.1)]
    out = write_calibrated(model, tmp_path / "calibrated", new, {"real_videos": ["a.mp4"]})
    detector = load_detector(out, embedder=embedder)
    assert detector.threshold("knn") == 0.75 and detector.threshold("sgd") == 0.625
    assert detector.threshold() == 0.75  # the default variant's
    meta = json.loads((out / "model.json").read_text())
    assert meta["calibration"]["real_videos"] == ["a.mp4"]
    assert [t["variant"] for t in meta["calibration"]["thresholds"]] == ["knn", "sgd"]
    assert load_detector(model, embedder=embedder).threshold("knn") == 0.5  # untouched
    with pytest.raises(FileExistsError):
        write_calibrated(model, out, new, {})


def test_the_command_calls_the_calibration_videos_real(tmp_path, capsys):
    from tests.detectors.test_self_blended import TINY, VIDEOS, write_cache
    from tests.media import write_face_video
    from tfdeepfake.cli import main
    from tfdeepfake.detectors import TrainOptions
    from tfdeepfake.detectors.self_blended import SelfBlendedDetector

    SelfBlendedDetector.train(write_cache(tmp_path / "faces.h5", VIDEOS), tmp_path / "sbi", TINY,
                              TrainOptions(val_fraction=0.25))
    reals = tmp_path / "reals"
    reals.mkdir()
    for i in range(4):
        write_face_video(reals / f"r{i}.mp4", num_frames=6, face_size=100 + 8 * i)
    (reals / "broken.mp4").write_bytes(b"no video")
    argv = ["calibrate", str(reals), "--model", str(tmp_path / "sbi"), "--false-positive-rate",
            "0.25", "--json"]
    assert main(argv) == 2 and "-o NEW_FOLDER" in capsys.readouterr().err
    assert main(argv + ["-o", str(tmp_path / "calibrated")]) == 0
    result = json.loads(capsys.readouterr().out)
    (t,) = result["thresholds"]
    assert (t["n"], t["flagged"], t["bound"]) == (4, 0, 0.2)
    assert [s["path"].endswith("broken.mp4") for s in result["skipped"]] == [True]
    assert main(["detect", str(reals), "--model", str(tmp_path / "calibrated"), "--json"]) == 0
    verdicts = {v["path"].rsplit("/", 1)[-1]: v for v in json.loads(capsys.readouterr().out)}
    assert all(verdicts[f"r{i}.mp4"]["verdict"] == "real" for i in range(4))
    assert all(verdicts[f"r{i}.mp4"]["threshold"] == pytest.approx(t["threshold"]) for i in range(4))
    assert main(argv[:-3] + ["--false-positive-rate", "0.1", "--in-place"]) == 2
    assert "needs at least 9" in capsys.readouterr().err


def _saturated_reals():
    """The issue's case: 30 genuine videos whose faces all saturate (score 1.0) and 69
    spread over 0.2-0.9; at a 10% target the 10th highest score is 1.0."""
    return np.concatenate([np.ones(30), np.linspace(0.2, 0.9, 69)])


def test_saturated_real_scores_are_refused_not_flagged():
    with pytest.raises(ValueError, match=r"30 of 99 real videos score 1\.0"):
        conformal_threshold(_saturated_reals(), 0.1)
    with pytest.raises(ValueError, match="saturate"):
        calibrate_scores({"sbi": _saturated_reals()}, {"sbi": 0.5}, 0.1)
    # A target that lets all 30 through is still met: the threshold sits above them.
    threshold, flagged = conformal_threshold(_saturated_reals(), 0.35)  # k = 34
    assert 0.858 < threshold < 0.86 and flagged == 34


def test_the_recorded_bound_is_the_guaranteed_one_and_ties_are_apart():
    """Ties at the (k+1)-th highest score leave fewer calibration videos flagged than k, but
    the method guarantees (k+1)/(n+1), not (flagged+1)/(n+1)."""
    scores = [0.9, 0.8, 0.8, 0.8, 0.5, 0.4, 0.3, 0.2, 0.1]  # n = 9; k = 2 at target 0.3
    (t,) = calibrate_scores({"sbi": scores}, {"sbi": 0.5}, 0.3)
    assert t.flagged == 1 and t.bound == pytest.approx(3 / 10)
    assert t.tied == 3  # the three 0.8s tie at the boundary: all called real
    assert 0.8 < t.threshold < 0.9
    for target in (0.1, 0.2, 0.25, 0.3, 0.5):
        for values in (scores, _saturated_reals()[:40] * 0.5, np.linspace(0, 1, 50)):
            (t,) = calibrate_scores({"v": values}, {"v": 0.5}, target)
            assert t.bound <= target + 1e-12
            assert np.mean(np.asarray(values) >= t.threshold) <= t.bound


def test_the_threshold_is_a_float32_above_the_boundary_score():
    """Exports compare in float32: the stored threshold is a float32 value, above the
    boundary score both in float64 and cast to float32."""
    rng = np.random.default_rng(1)
    for _ in range(2000):
        scores = rng.uniform(0, 1, 9)
        threshold, _ = conformal_threshold(scores, 0.1)
        boundary = scores.max()
        assert float(np.float32(threshold)) == threshold
        assert threshold > boundary and np.float32(threshold) > np.float32(boundary)
        assert threshold - boundary < 2e-7  # one or two float32 steps, no more


def test_genuine_share_is_the_conformal_p_value():
    from tfdeepfake.detectors.calibrate import genuine_share

    reals = [0.1, 0.2, 0.3, 0.4]
    assert genuine_share(reals, 0.35) == pytest.approx(2 / 5)  # 0.4 and the video itself
    assert genuine_share(reals, 0.9) == pytest.approx(1 / 5)  # the smallest it can say
    assert genuine_share(reals, 0.0) == pytest.approx(1.0)


@pytest.mark.parametrize("rate", ["0", "1", "-0.5", "nan", "inf"])
def test_a_false_positive_rate_outside_0_1_is_one_line_before_any_video_is_read(tmp_path, capsys,
                                                                                rate):
    """Issue 22 item 7: --false-positive-rate 0 was a ZeroDivisionError traceback (and NaN
    'cannot convert float NaN to integer'); the model folder need not even exist."""
    from tfdeepfake.cli import main

    (tmp_path / "r.mp4").write_bytes(b"")
    argv = ["calibrate", str(tmp_path / "r.mp4"), "--model", str(tmp_path / "no_model"),
            "--false-positive-rate", rate, "-o", str(tmp_path / "out")]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--false-positive-rate must be in (0, 1)" in err
    assert "Traceback" not in err
    for bad in (0.0, float("nan")):  # the library says it too, not ZeroDivisionError
        with pytest.raises(ValueError, match=r"false-positive rate must be in \(0, 1\)"):
            videos_needed(bad)
