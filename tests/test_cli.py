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


def test_index_detect_and_export_choices_come_from_the_code():
    """No literal in the CLI can drift from the library: the choices and defaults of
    `index`, `detect` and `export` are the readers', exporter's and TFLite runner's own."""
    import inspect

    from tfdeepfake.datasets.celebdf import GROUP_BY, VERSIONS
    from tfdeepfake.datasets.faceforensics import COMPRESSIONS
    from tfdeepfake.export.from_model import FORMATS, export_model
    from tfdeepfake.export.tflite import TFLITE_VARIANTS
    from tfdeepfake.lite.detector import open_export

    commands = _subparsers(build_parser(detailed_train=False))

    def option(command, flag):
        return next(a for a in commands[command]._actions if flag in a.option_strings)

    assert tuple(option("index", "--version").choices) == VERSIONS
    assert tuple(option("index", "--group-by").choices) == GROUP_BY
    assert tuple(option("index", "--compression").choices) == COMPRESSIONS
    assert tuple(option("export", "--format").choices) == FORMATS + ("all",)
    assert option("export", "--seed").default == inspect.signature(export_model).parameters["seed"].default
    variant = option("detect", "--tflite-variant")
    assert tuple(variant.choices) == TFLITE_VARIANTS
    assert variant.default == inspect.signature(open_export).parameters["variant"].default


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


def test_index_csv_with_csv_root(tmp_path):
    # --csv-root is the csv reader's own `root` keyword: it once collided with the
    # dataset-location argument of build_index (TypeError before any video was read).
    videos = tmp_path / "videos"
    videos.mkdir()
    (videos / "a.mp4").write_bytes(b"0")
    (videos / "b.mp4").write_bytes(b"0")
    listing = tmp_path / "lists" / "all.csv"
    listing.parent.mkdir()
    listing.write_text("path,label,split,method\na.mp4,real,test,cam\nb.mp4,fake,test,gen\n")
    assert main(["index", "csv", str(listing), "--csv-root", str(videos), "-o",
                 str(tmp_path / "m.jsonl")]) == 0
    rows = [json.loads(line) for line in (tmp_path / "m.jsonl").read_text().splitlines()]
    assert {(r["path"], r["label"], r["method"]) for r in rows} == {("a.mp4", 0, "cam"),
                                                                     ("b.mp4", 1, "gen")}

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


# --- issue 14 ---------------------------------------------------------------------------------


def test_extract_refuses_a_manifest_row_outside_its_root(tmp_path, capsys):
    """Item 2: a hand-edited row `path: "../../../etc/passwd"` was opened."""
    row = {"video_id": "d/../../../etc/passwd", "root": str(tmp_path), "label": 0,
           "path": "../../../etc/passwd", "split": "train", "dataset": "d"}
    (tmp_path / "m.jsonl").write_text(json.dumps(row) + "\n")
    assert main(["extract", str(tmp_path / "m.jsonl"), "-o", str(tmp_path / "f.h5")]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "m.jsonl line 1: path '../../../etc/passwd' is not inside the dataset root" in line
    assert not (tmp_path / "f.h5").exists()


def test_embed_given_a_manifest_says_what_it_is(tmp_path, capsys, monkeypatch):
    """Item 12: it said "move it away or choose another output path" about its input."""
    import tfdeepfake.cli.data as data_commands
    from tests.export.export_helpers import tiny_facenet

    monkeypatch.setattr(data_commands, "build_embedder", lambda args: tiny_facenet())
    row = {"video_id": "d/a", "root": str(tmp_path), "path": "a.mp4", "label": 0,
           "split": "train", "dataset": "d", "method": None, "source": None}
    (tmp_path / "m.jsonl").write_text(json.dumps(row) + "\n")
    assert main(["embed", str(tmp_path / "m.jsonl"), "-o", str(tmp_path / "e.h5")]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line == (f"tfdeepfake embed: {tmp_path / 'm.jsonl'}: a manifest (JSON Lines from "
                    "`tfdeepfake index`); expected a faces cache (HDF5 from `tfdeepfake extract`)")


# What FFmpeg, OpenCV and the progress bar print without -q.
NOISE = ("moov atom", "WARN:", "cap.cpp", "[mov,", "video/s", "%|")


def _noisy_videos(tmp_path):
    """Two files that make FFmpeg and OpenCV warn: an MP4 cut before its index, and text."""
    from tests.conftest import write_index_video

    write_index_video(tmp_path / "whole.mp4", 40, codec="h264")
    data = (tmp_path / "whole.mp4").read_bytes()
    (tmp_path / "cut.mp4").write_bytes(data[: len(data) // 2])  # moov atom not found
    (tmp_path / "text.mp4").write_text("not a video\n")
    return tmp_path / "cut.mp4", tmp_path / "text.mp4"


def test_quiet_silences_ffmpeg_opencv_and_the_progress_bar(tmp_path):
    """Item 12: with -q, `moov atom not found`, cap.cpp's `[ WARN:...]` and the progress bar
    still reached the terminal (OpenCV was imported, reading its log level, before -q was
    applied)."""
    import subprocess
    import sys

    from tfdeepfake.datasets import make_record, write_manifest

    _noisy_videos(tmp_path)
    manifest = write_manifest(tmp_path / "m.jsonl", [
        make_record(tmp_path, name, 0, "train", "d") for name in ("cut.mp4", "text.mp4")])
    result = subprocess.run([sys.executable, "-m", "tfdeepfake.cli", "-q", "extract",
                             str(manifest), "-o", str(tmp_path / "f.h5"), "--num-frames", "2"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    for noise in NOISE:
        assert noise not in result.stderr, result.stderr
    assert "cut.mp4: not a readable video" in result.stderr  # our own warnings stay


# `detect` in a fresh process, its model on the stand-in FaceNet it was written with (the
# folder alone refuses a stand-in); importing the helpers imports OpenCV before -q applies.
_DETECT_WITH_STAND_IN = """
import sys
from tests.export.export_helpers import tiny_facenet
import tfdeepfake.detect
from tfdeepfake.detectors import load_detector
embedder = tiny_facenet()
tfdeepfake.detect.load_detector = lambda path, facenet_weights=None: load_detector(
    path, embedder=embedder)
from tfdeepfake.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_quiet_detect_silences_ffmpeg_opencv_and_the_progress_bar(tmp_path):
    """Item 12 for `detect`: the same noise, and its progress bar over several videos."""
    import subprocess
    import sys

    import numpy as np

    from tests.conftest import REPO_ROOT, clean_environment
    from tests.export.export_helpers import make_faces, tiny_facenet, write_triplet_model
    from tests.media import write_face_video
    from tfdeepfake.faces.settings import FaceSettings

    cut, text = _noisy_videos(tmp_path)
    good = write_face_video(tmp_path / "good.mp4", num_frames=6)
    model = write_triplet_model(tmp_path / "model", tiny_facenet(), make_faces(6),
                                np.array([0, 1] * 3), settings=FaceSettings(num_frames=2))

    def detect(*flags):
        return subprocess.run(
            [sys.executable, "-c", _DETECT_WITH_STAND_IN, *flags, "detect", str(cut), str(text),
             str(good), "--model", str(model)],
            capture_output=True, text=True, timeout=300, cwd=REPO_ROOT, env=clean_environment())

    loud = detect()  # without -q the noise is there: the quiet run's check can fail
    assert loud.returncode == 0, loud.stderr
    assert all(noise in loud.stderr for noise in ("moov atom", "WARN:", "%|")), loud.stderr
    quiet = detect("-q")
    assert quiet.returncode == 0, quiet.stderr
    for noise in NOISE:
        assert noise not in quiet.stderr, quiet.stderr
    assert "good.mp4" in quiet.stdout and "not a readable video" in quiet.stdout  # verdicts stay
