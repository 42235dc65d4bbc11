"""`tfdeepfake extract --runner direct`: the CLI on Beam, and --help without Beam or TF."""

import importlib.util
import json
import subprocess
import sys

import pytest

from tfdeepfake.cli import main
from tfdeepfake.datasets.records import make_record, write_manifest
from tests.media import write_face_video


def test_help_imports_neither_beam_nor_tensorflow():
    code = ("import sys\nfrom tfdeepfake.cli import main\n"
            "for argv in (['--help'], ['extract', '--help']):\n"
            "    try:\n        main(argv)\n    except SystemExit:\n        pass\n"
            "print(sorted(m for m in ('apache_beam', 'tensorflow') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60)
    assert "--runner" in result.stdout and "--beam-option" in result.stdout
    assert result.stdout.strip().splitlines()[-1] == "[]", result.stderr[-2000:]


def test_beam_option_without_runner_is_refused(tmp_path, capsys):
    write_manifest(tmp_path / "m.jsonl", [])
    assert main(["extract", str(tmp_path / "m.jsonl"), "-o", str(tmp_path / "f.h5"),
                 "--beam-option", "flink_master=x:1"]) == 2
    assert "--beam-option needs --runner" in capsys.readouterr().err
    assert main(["extract", str(tmp_path / "m.jsonl"), "-o", str(tmp_path / "f.h5"),
                 "--runner", "direct", "--beam-option", "=1"]) == 2
    assert "KEY=VALUE" in capsys.readouterr().err
    if importlib.util.find_spec("apache_beam"):
        assert main(["extract", str(tmp_path / "m.jsonl"), "-o", str(tmp_path / "f.h5"),
                     "--runner", "flink", "--beam-option", "flink_mastr=x:1"]) == 2
        assert "unknown Beam pipeline option(s) --flink_mastr=x:1" in capsys.readouterr().err
    assert not (tmp_path / "f.h5").exists()


def test_extract_on_the_direct_runner(tmp_path, capsys):
    pytest.importorskip("apache_beam")
    write_face_video(tmp_path / "a.mp4", num_frames=6)
    (tmp_path / "bad.mp4").write_bytes(b"")
    records = [make_record(tmp_path, "a.mp4", 0, "train", "t"),
               make_record(tmp_path, "bad.mp4", 1, "train", "t")]
    write_manifest(tmp_path / "m.jsonl", records)
    argv = ["extract", str(tmp_path / "m.jsonl"), "-o", str(tmp_path / "f.h5"), "--num-frames",
            "3", "--size", "64", "--runner", "direct", "--json"]
    assert main(argv) == 0
    payload = json.loads(capsys.readouterr().out)
    assert (payload["done"], payload["failed"], payload["faces"]) == (1, 1, 3)
    assert payload["runner"] == "direct"
    assert payload["beam_counters"]["videos_done"] == 1
    assert payload["beam_counters"]["videos_failed"] == 1
    assert "bad.mp4" in payload["failures"][0]["reason"]
    assert main(argv[:-1]) == 0  # the rerun skips both, and says so
    assert "2 skipped" in capsys.readouterr().out
