"""`tfdeepfake extract --runner direct`: the CLI on Beam, and --help without Beam or TF."""

import importlib.util
import json
import subprocess
from pathlib import Path
import sys

import pytest

from tfdeepfake.cli import main
from tfdeepfake.datasets.manifest import write_manifest
from tfdeepfake.datasets.records import make_record
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


def test_embed_on_the_direct_runner_equals_the_local_embed(tmp_path, capsys):
    pytest.importorskip("apache_beam")
    import numpy as np

    from tfdeepfake.cache.embeddings import load_embedding_table

    write_face_video(tmp_path / "a.mp4", num_frames=4)
    write_manifest(tmp_path / "m.jsonl", [make_record(tmp_path, "a.mp4", 0, "train", "t")])
    assert main(["extract", str(tmp_path / "m.jsonl"), "-o", str(tmp_path / "f.h5"),
                 "--num-frames", "2", "--size", "160"]) == 0
    common = [str(tmp_path / "f.h5"), "--random-init", "--facenet-model", "20170512-110547",
              "--json"]
    assert main(["embed", *common, "-o", str(tmp_path / "local.h5")]) == 0
    capsys.readouterr()
    assert main(["embed", *common, "-o", str(tmp_path / "beam.h5"), "--runner", "direct"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert (payload["done"], payload["runner"], payload["beam_counters"]["videos_done"]) == \
        (1, "direct", 1)
    local, beam = (load_embedding_table(tmp_path / f"{n}.h5") for n in ("local", "beam"))
    np.testing.assert_allclose(beam.embeddings, local.embeddings, atol=1e-5)
    assert main(["embed", str(tmp_path / "f.h5"), "-o", str(tmp_path / "x.h5"), "--workers",
                 "2"]) == 2
    assert "--workers is for --runner" in capsys.readouterr().err


def test_detect_on_the_direct_runner_appends_json_lines(tmp_path, capsys):
    pytest.importorskip("apache_beam")
    from tests.detectors.test_self_blended import TINY, VIDEOS, write_cache
    from tfdeepfake.detectors import TrainOptions
    from tfdeepfake.detectors.self_blended import SelfBlendedDetector

    model = tmp_path / "sbi"
    SelfBlendedDetector.train(write_cache(tmp_path / "faces.h5", VIDEOS), model, TINY,
                              TrainOptions(val_fraction=0.25))
    (tmp_path / "videos").mkdir()
    write_face_video(tmp_path / "videos" / "a.mp4", num_frames=6)
    (tmp_path / "videos" / "broken.mp4").write_bytes(b"not a video")
    out = tmp_path / "verdicts.jsonl"
    argv = ["detect", str(tmp_path / "videos"), "--model", str(model), "--runner", "direct",
            "--output", str(out)]
    assert main(argv) == 0
    assert "detect: 2 videos, 2 scored, 0 already" in capsys.readouterr().out
    rows = {Path(r["path"]).name: r for r in map(json.loads, out.read_text().splitlines())}
    assert rows["broken.mp4"]["verdict"] == "unknown"
    local = main(["detect", str(tmp_path / "videos" / "a.mp4"), "--model", str(model), "--json"])
    assert local == 0
    want = json.loads(capsys.readouterr().out)[0]
    assert rows["a.mp4"]["verdict"] == want["verdict"]
    assert rows["a.mp4"]["fake_probability"] == pytest.approx(want["fake_probability"], abs=1e-5)
    # a.mp4 is skipped; broken.mp4 (unknown) is scored again and its line replaced.
    assert main(argv) == 0 and "1 scored, 1 already" in capsys.readouterr().out
    assert len(out.read_text().splitlines()) == 2
    assert main(argv[:-2]) == 2  # --runner without --output
    assert "--output FILE.jsonl" in capsys.readouterr().err
    assert main(argv + ["--report", str(tmp_path / "r")]) == 2
    assert "run locally" in capsys.readouterr().err
    # --people on the runner: every person judged on the workers, as locally.
    people = tmp_path / "people.jsonl"
    assert main(argv[:-1] + [str(people), "--people"]) == 0
    rows = {Path(r["path"]).name: r for r in map(json.loads, people.read_text().splitlines())}
    assert [p["person"] for p in rows["a.mp4"]["people"]] == [1]
    assert rows["a.mp4"]["fake_probability"] == pytest.approx(want["fake_probability"], abs=1e-5)
