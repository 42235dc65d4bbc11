"""`tfdeepfake detect` and `calibrate` (cli/verdicts.py): options, messages and exit codes,
with the scoring stubbed where a network adds nothing to what is tested."""

import json

import numpy as np
import pytest

from tfdeepfake.cli import build_parser, main


class _StubDetector:
    """Scores a video by the number its stub 'faces' carry (no network)."""

    name, variants, default_variant = "sbi", ("sbi",), "sbi"

    def threshold(self, variant=None):
        return 0.5

    def score_video(self, faces, variant=None):
        return float(faces[0])


class _StubVideoDetector:
    scores: dict = {}

    def __init__(self, model, facenet_weights=None, **_):
        self.detector = _StubDetector()

    def inspect(self, path):
        return None, np.array([self.scores[path.name]])


def _calibration_setup(tmp_path, monkeypatch, scores):
    import tfdeepfake.detect

    model = tmp_path / "model"
    model.mkdir()
    (model / "model.json").write_text(json.dumps({"format_version": 2, "threshold": 0.5}))
    reals = tmp_path / "reals"
    reals.mkdir()
    names = {}
    for i, score in enumerate(scores):
        (reals / f"r{i:03d}.mp4").write_bytes(b"")
        names[f"r{i:03d}.mp4"] = float(score)
    monkeypatch.setattr(_StubVideoDetector, "scores", names)
    monkeypatch.setattr(tfdeepfake.detect, "VideoDetector", _StubVideoDetector)
    return model, reals


def test_calibrate_refuses_saturated_real_scores(tmp_path, monkeypatch, capsys):
    """The issue's case: 30 of 99 real videos at 1.0 and a 10% target: one error line, exit
    2, the model untouched (it used to write threshold 1.0 and print 'at most 31.0%')."""
    scores = np.concatenate([np.ones(30), np.linspace(0.2, 0.9, 69)])
    model, reals = _calibration_setup(tmp_path, monkeypatch, scores)
    before = (model / "model.json").read_text()
    assert main(["-q", "calibrate", str(reals), "--model", str(model), "--in-place"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "30 of 99 real videos score 1.0" in err[0]
    assert "--false-positive-rate 0.31" in err[0]
    assert (model / "model.json").read_text() == before


def test_calibrate_prints_the_guaranteed_bound_ties_and_the_export_note(tmp_path, monkeypatch,
                                                                         capsys):
    scores = [0.9, 0.8, 0.8, 0.8, 0.5, 0.4, 0.3, 0.2, 0.1]  # k = 2 at 0.3; three tie at 0.8
    model, reals = _calibration_setup(tmp_path, monkeypatch, scores)
    assert main(["-q", "calibrate", str(reals), "--model", str(model), "--in-place",
                 "--false-positive-rate", "0.3"]) == 0
    out = capsys.readouterr().out
    assert "at most 30.0%" in out and "1/9" in out
    assert "3 real videos tie at the boundary score 0.8" in out
    assert "re-export" in out and "keep the old threshold" in out
    meta = json.loads((model / "model.json").read_text())
    (t,) = meta["calibration"]["thresholds"]
    assert t["bound"] == pytest.approx(0.3) and t["tied"] == 3 and t["flagged"] == 1
    assert meta["threshold"] == t["threshold"] and float(np.float32(t["threshold"])) == t["threshold"]
    # The genuine videos' scores are kept for detect's genuine_share.
    assert meta["calibration"]["real_scores"] == {"sbi": sorted(scores)}


def test_detect_variant_points_to_classifier(tmp_path, capsys):
    """`--variant` was an alias of --tflite-variant, so `--variant knn` (a model's variant)
    failed as 'invalid choice'; now it names the option meant."""
    assert main(["detect", str(tmp_path / "v.mp4"), "--model", str(tmp_path), "--variant",
                 "knn"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--classifier knn" in err[0] and "--tflite-variant" in err[0]
    detect = build_parser()._subparsers._group_actions[0].choices["detect"]
    assert "--variant" not in detect.format_help()
    assert build_parser().parse_args(["detect", "v.mp4", "--tflite-variant", "float16"]
                                     ).tflite_variant == "float16"


def test_detect_help_and_readme_give_the_exit_statuses():
    from pathlib import Path

    detect = build_parser()._subparsers._group_actions[0].choices["detect"]
    text = " ".join(detect.format_help().split())
    for status in ("0 when every video got a verdict", "0 also when some are unknown",
                   "1 when none did", "2 on"):
        assert status in text, status
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text("utf-8")
    section = readme.split("### evaluate and detect", 1)[1].split("\n### ", 1)[0]
    section = " ".join(section.split())
    assert "exit status is 0 when every video got a verdict" in section
    assert "1 when none did" in section and "--classifier" in section


class _RecordingVideoDetector:
    """Records the model folder detect opens; every video is 'real'."""

    opened: list = []

    def __init__(self, model, **_):
        self.opened.append(model)

    def detect(self, path):
        class _Verdict:
            def to_dict(self):
                return {"verdict": "real", "fake_probability": 0.1, "faces_found": 1,
                        "frames_sampled": 1, "seconds": 0.0}
        return _Verdict()


def test_detect_without_model_uses_the_default_and_says_so(tmp_path, monkeypatch, capsys):
    import tfdeepfake.detect

    from tests.media import write_blank_video

    video = write_blank_video(tmp_path / "v.mp4")
    default = tmp_path / "default"
    default.mkdir()
    (default / "model.json").write_text("{}")
    monkeypatch.setenv("TFDEEPFAKE_DEFAULT_MODEL", str(default))
    monkeypatch.setattr(_RecordingVideoDetector, "opened", [])
    monkeypatch.setattr(tfdeepfake.detect, "VideoDetector", _RecordingVideoDetector)
    assert main(["detect", str(video)]) == 0
    assert _RecordingVideoDetector.opened == [default]
    assert "model: the default model" in capsys.readouterr().err
    assert main(["detect", str(video), "--model", str(tmp_path / "mine")]) == 0
    assert _RecordingVideoDetector.opened[-1] == tmp_path / "mine"
    # No default there: one line that names the folder and the fix.
    monkeypatch.setenv("TFDEEPFAKE_DEFAULT_MODEL", str(tmp_path / "nothing"))
    assert main(["detect", str(video)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nothing" in err[0] and "--model" in err[0]


def test_calibrate_on_an_empty_folder_says_it_has_no_video(tmp_path, monkeypatch, capsys):
    """Issue 22 item 13: the empty folder itself was counted: '1 real videos cannot bound'."""
    model, reals = _calibration_setup(tmp_path, monkeypatch, [])
    assert main(["-q", "calibrate", str(reals), "--model", str(model), "--in-place"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no video files found in" in err[0] and str(reals) in err[0]
    assert "1 real videos" not in err[0]


def test_calibrate_names_a_folder_without_videos_beside_real_ones(tmp_path, monkeypatch, capsys):
    scores = [0.9, 0.8, 0.7, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05]
    model, reals = _calibration_setup(tmp_path, monkeypatch, scores)
    (tmp_path / "clip.mp4").mkdir()  # named like a video, none inside
    assert main(["-q", "calibrate", str(reals), str(tmp_path / "clip.mp4"), "--model",
                 str(model), "--in-place", "--false-positive-rate", "0.3"]) == 0
    out = capsys.readouterr().out
    assert "calibrate: 9 real videos" in out
    assert f"left out {tmp_path / 'clip.mp4'}: a folder with no video file in it" in out


class _PeopleVideoDetector:
    """Two people, the second fake; records whether people were asked for."""

    asked: list = []

    def __init__(self, model, people=False, **_):
        self.asked.append(people)

    def detect(self, path):
        person = {"person": 1, "verdict": "real", "fake_probability": 0.2, "faces_found": 4,
                  "box": [10.0, 20.0, 110.0, 140.0], "genuine_share": 0.5}
        other = {**person, "person": 2, "verdict": "fake", "fake_probability": 0.9,
                 "box": [200.0, 20.0, 260.0, 90.0], "genuine_share": 0.01}

        class _Verdict:
            def to_dict(self):
                return {"verdict": "fake", "fake_probability": 0.9, "faces_found": 4,
                        "frames_sampled": 5, "seconds": 0.0, "people": [person, other]}
        return _Verdict()


def test_detect_people_prints_each_person(
        tmp_path, monkeypatch, capsys):
    import tfdeepfake.detect

    from tests.media import write_blank_video

    video = write_blank_video(tmp_path / "v.mp4")
    (tmp_path / "m").mkdir()
    monkeypatch.setattr(_PeopleVideoDetector, "asked", [])
    monkeypatch.setattr(tfdeepfake.detect, "VideoDetector", _PeopleVideoDetector)
    assert main(["detect", str(video), "--model", str(tmp_path / "m"), "--people"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert _PeopleVideoDetector.asked == [True]
    assert lines[0].startswith("fake ") and "4/5 faces" in lines[0]
    assert lines[1].split() == ["person", "1:", "real", "0.200", "4/5", "faces", "at",
                                "[10,", "20,", "110,", "140]", "genuine", "share", "0.50"]
    assert lines[2].startswith("  person 2: fake 0.900") and len(lines) == 3
