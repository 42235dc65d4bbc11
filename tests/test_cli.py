"""The `tfdeepfake` command: help, options read from the code, index, errors (in-process,
via main())."""

import dataclasses
import json

import pytest

from tfdeepfake.cli import build_parser, main


def _subparsers(parser):
    return next(a for a in parser._actions if a.dest == "command").choices


def test_help_lists_every_command(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for command in ("index", "extract", "weights", "embed", "train", "evaluate", "detect",
                    "export", "explain", "convert-model", "reproduce", "demo"):
        assert command in out


def test_every_subcommand_has_help():
    for name, subparser in _subparsers(build_parser()).items():
        assert subparser.format_help().strip(), name


def test_train_has_one_subcommand_per_registered_detector():
    from tfdeepfake.detectors import DETECTOR_NAMES

    train = _subparsers(build_parser())["train"]
    choices = next(a for a in train._actions if a.dest == "detector").choices
    assert tuple(choices) == DETECTOR_NAMES


def test_train_defaults_come_from_the_detectors_configs():
    """No literal in the CLI can drift from the library: every training option's default is
    the config dataclass's own."""
    from tfdeepfake.detectors import DETECTOR_NAMES, TrainOptions, detector_class

    for name in DETECTOR_NAMES:
        cls = detector_class(name)
        args = build_parser().parse_args(["train", name, "cache.h5", "-o", "out"])
        config = cls.config_class()
        for field in dataclasses.fields(cls.config_class):
            if hasattr(args, "cfg_" + field.name):
                assert getattr(args, "cfg_" + field.name) == getattr(config, field.name), (name, field.name)
        assert args.opt_val_fraction == TrainOptions().val_fraction


def test_extract_defaults_come_from_face_settings():
    from tfdeepfake.cli.data import face_settings_from_args
    from tfdeepfake.faces.settings import FaceSettings

    args = build_parser().parse_args(["extract", "m.jsonl", "-o", "f.h5"])
    assert face_settings_from_args(args) == FaceSettings()
    args = build_parser().parse_args(["extract", "m.jsonl", "-o", "f.h5", "--face", "consistent",
                                      "--no-square", "--detect-short-side", "360"])
    settings = face_settings_from_args(args)
    assert settings.face_policy == "consistent" and settings.square is False
    assert settings.detector.detect_short_side == 360


def test_verbosity_flags_are_accepted_after_the_subcommand():
    args = build_parser().parse_args(["index", "folders", "root", "-o", "m.jsonl", "-q"])
    assert args.quiet is True
    args = build_parser().parse_args(["-q", "index", "folders", "root", "-o", "m.jsonl"])
    assert args.quiet is True
    args = build_parser().parse_args(["index", "folders", "root", "-o", "m.jsonl", "-vv"])
    assert args.verbose == 2 and args.quiet is False


def test_index_folders_json_summary(tmp_path, capsys):
    for label in ("real", "fake"):
        (tmp_path / "data" / label).mkdir(parents=True)
        (tmp_path / "data" / label / "x.mp4").write_bytes(b"0")
    assert main(["index", "folders", str(tmp_path / "data"), "-o", str(tmp_path / "m.jsonl"),
                 "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["videos"] == 2 and summary["splits"]["train"] == {"real": 1, "fake": 1, "total": 2}
    rows = [json.loads(line) for line in (tmp_path / "m.jsonl").read_text().splitlines()]
    assert {r["label"] for r in rows} == {0, 1}


def test_errors_are_one_line_with_the_path(tmp_path, capsys):
    assert main(["index", "folders", str(tmp_path / "nowhere"), "-o", str(tmp_path / "m.jsonl")]) == 2
    err = capsys.readouterr().err
    assert "nowhere" in err and "Traceback" not in err
    assert main(["extract", str(tmp_path / "missing.jsonl"), "-o", str(tmp_path / "f.h5")]) == 2
    assert "missing.jsonl" in capsys.readouterr().err


def test_detect_with_a_folder_that_is_not_a_model(tmp_path, capsys):
    video = tmp_path / "v.mp4"
    video.write_bytes(b"not a video")
    assert main(["detect", str(video), "--model", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "model.json" in err and "Traceback" not in err


def test_demo_json_prints_only_json_on_stdout(tmp_path, capsys, monkeypatch):
    import tfdeepfake.demo as demo

    def fake_run_demo(output, config, say=print):
        say("FaceNet 20170512-110547 (pretrained)")  # progress lines must not reach stdout
        return {"output": str(output), "verdicts": []}

    monkeypatch.setattr(demo, "run_demo", fake_run_demo)
    assert main(["demo", "-o", str(tmp_path / "d"), "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out) == {"output": str(tmp_path / "d"), "verdicts": []}
    assert "FaceNet" in captured.err
