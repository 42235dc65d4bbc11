"""Issue 14's bad-input matrix, end to end: one folder of generated files (zero bytes, text
named .mp4, truncated, a damaged middle, no face, portrait, one frame, a folder named .mp4, a
unicode name) beside good face videos, through `detect` and through `index` + `extract`.
Every item gets a verdict or a recorded failure with the right reason; nothing crashes."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from tests.media import FACE, write_blank_video, write_face_video

NUM_FRAMES = 5


def face_frames(num_frames: int, size=(320, 240), face_size: int = 120):
    """A face moving right over a fixed textured background, RGB frames."""
    width, height = size
    background = np.random.RandomState(0).randint(0, 60, (height, width, 3)).astype(np.uint8)
    face = cv2.resize(FACE, (face_size, face_size))
    for i in range(num_frames):
        frame = background.copy()
        frame[20:20 + face_size, 10 + i:10 + i + face_size] = face
        yield frame


def write_damaged_face_video(path, num_frames: int = 60):
    """An H.264 face video (a keyframe every 5 frames) with a tenth of its bytes overwritten
    in the middle: FFmpeg cannot decode a stretch of frames, and decodes the frames after it."""
    from tfdeepfake.synthetic.videos import write_video

    write_video(path, face_frames(num_frames), 25, "h264", keyint=5)
    data = bytearray(path.read_bytes())
    start, size = len(data) // 2, 30000
    data[start:start + size] = np.random.RandomState(1).randint(0, 256, size).astype(np.uint8).tobytes()
    path.write_bytes(bytes(data))
    return path


# name under data/ -> (what detect says, what extract says); None: a verdict / faces stored
MATRIX = {
    "real/good.mp4": (None, None),
    "fake/good.avi": (None, None),
    "real/zero.mp4": ("file is empty (0 bytes)", "file is empty (0 bytes)"),
    "fake/text.mp4": ("not a readable video", "not a readable video"),
    "real/truncated.mp4": ("not a readable video", "not a readable video"),
    "fake/damaged.mp4": ("partly unreadable: frames ", None),
    "real/noface.mp4": ("no face found in any of 5 sampled frames",
                        "no face found in any of 5 sampled frames"),
    "fake/portrait.mp4": (None, None),
    "real/one_frame.mp4": (None, None),
    "fake/clip.mp4": ("is a directory, not a video file",
                      "a folder named like a video, with no video in it"),
    "real/vidéo 日本.mp4": (None, None),
}


@pytest.fixture(scope="module")
def matrix(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad inputs")
    data = root / "data"
    for folder in ("real", "fake"):
        (data / folder).mkdir(parents=True)
    write_face_video(data / "real/good.mp4")
    writer = cv2.VideoWriter(str(data / "fake/good.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 10,
                             (320, 240))
    for frame in face_frames(8):
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    (data / "real/zero.mp4").write_bytes(b"")
    (data / "fake/text.mp4").write_text("this is not a video\n" * 10)
    whole = write_face_video(root / "whole.mp4", num_frames=20).read_bytes()
    (data / "real/truncated.mp4").write_bytes(whole[: len(whole) // 3])  # its index is at the end
    write_damaged_face_video(data / "fake/damaged.mp4")
    write_blank_video(data / "real/noface.mp4")
    write_face_video(data / "fake/portrait.mp4", size=(240, 320))
    write_face_video(data / "real/one_frame.mp4", num_frames=1)
    (data / "fake/clip.mp4").mkdir()
    write_face_video(data / "real/vidéo 日本.mp4")
    return root


@pytest.fixture(scope="module")
def model(matrix):
    from tests.export.export_helpers import make_faces, tiny_facenet, write_triplet_model
    from tfdeepfake.faces.settings import FaceSettings

    embedder = tiny_facenet()
    folder = write_triplet_model(matrix / "model", embedder, make_faces(6), np.array([0, 1] * 3),
                                 settings=FaceSettings(num_frames=NUM_FRAMES))
    return folder, embedder


@pytest.fixture
def tiny_facenet_models(model, monkeypatch):
    """`detect --model` on the folder above with its stand-in FaceNet (a real FaceNet would
    take minutes to build here; the folder alone refuses the stand-in, as it should)."""
    import tfdeepfake.detect as detect_module
    from tfdeepfake.detectors import load_detector

    folder, embedder = model
    monkeypatch.setattr(detect_module, "load_detector",
                        lambda path, facenet_weights=None: load_detector(path, embedder=embedder))
    return folder


def test_detect_gives_every_item_a_verdict_or_a_reason(matrix, tiny_facenet_models, capsys):
    from tfdeepfake.cli import main

    status = main(["-q", "detect", str(matrix / "data"), "--model", str(tiny_facenet_models),
                   "--json"])
    captured = capsys.readouterr()
    verdicts = {str(v["path"]).split("/data/", 1)[1]: v for v in json.loads(captured.out)}
    assert status == 0 and "Traceback" not in captured.err
    assert sorted(verdicts) == sorted(MATRIX)  # the folder named .mp4 is not dropped
    for name, (reason, _) in MATRIX.items():
        verdict = verdicts[name]
        if reason is None or reason.startswith("partly unreadable"):
            assert verdict["verdict"] in ("real", "fake"), (name, verdict)
            assert verdict["faces_found"] > 0 and verdict["fake_probability"] is not None
            assert verdict["reason"].startswith(reason or ""), (name, verdict["reason"])
        else:
            assert verdict["verdict"] == "unknown" and verdict["fake_probability"] is None
            assert reason in verdict["reason"], (name, verdict["reason"])
    damaged = verdicts["fake/damaged.mp4"]["reason"]
    first, last = (int(n) for n in damaged.rsplit(" ", 1)[1].split("–"))
    assert 0 < first <= last < 59  # named, and frames after it were read


def test_detect_exits_non_zero_when_no_video_gets_a_verdict(matrix, tiny_facenet_models, capsys):
    from tfdeepfake.cli import main

    data = matrix / "data"
    status = main(["detect", str(data / "fake/clip.mp4"), str(data / "real/zero.mp4"),
                   str(matrix / "nowhere.mp4"), "--model", str(tiny_facenet_models), "--json"])
    verdicts = json.loads(capsys.readouterr().out)
    assert status == 1
    assert [v["verdict"] for v in verdicts] == ["unknown"] * 3
    assert ["directory" in verdicts[0]["reason"], "empty" in verdicts[1]["reason"],
            "file not found" in verdicts[2]["reason"]] == [True] * 3


def test_index_and_extract_record_every_item(matrix, capsys):
    from tfdeepfake.cache.faces import face_store, iter_face_videos
    from tfdeepfake.cli import main

    manifest, cache = matrix / "m.jsonl", matrix / "faces.h5"
    assert main(["-q", "index", "folders", str(matrix / "data"), "-o", str(manifest),
                 "--json"]) == 0
    index = json.loads(capsys.readouterr().out)
    assert [s["path"].split("/data/", 1)[1] for s in index["skipped"]] == ["fake/clip.mp4"]
    assert index["skipped"][0]["reason"] == MATRIX["fake/clip.mp4"][1]
    assert main(["-q", "extract", str(manifest), "-o", str(cache), "--num-frames",
                 str(NUM_FRAMES), "--size", "64", "--json"]) == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert "Traceback" not in captured.err
    failures = face_store(cache).failures()
    stored = {v.video_id: v for v in iter_face_videos(cache)}
    for name, (_, reason) in MATRIX.items():
        if name == "fake/clip.mp4":
            continue  # not a video file: the index skipped it, with its reason
        video_id = f"data/{name.rsplit('.', 1)[0]}"
        if reason is None:
            assert video_id in stored and len(stored[video_id].faces) > 0, (name, failures.get(video_id))
        else:
            assert reason in failures[video_id].reason, (name, failures[video_id].reason)
            assert name.rsplit("/", 1)[1] in failures[video_id].reason  # names its file
    assert (summary["done"], summary["failed"]) == (6, 4)
    assert stored["data/fake/damaged"].attrs["frame_count"] == 60  # not the 29 it stopped at


# --- issue 22 ---------------------------------------------------------------------------

# Run in a subprocess: OpenCV segfaulted on such a name, which would kill pytest itself.
_DETECT_WITH_TINY_FACENET = """
import sys
from pathlib import Path

import numpy as np

from tests.export.export_helpers import make_faces, tiny_facenet, write_triplet_model
import tfdeepfake.detect as detect_module
from tfdeepfake.cli import main
from tfdeepfake.detectors import load_detector
from tfdeepfake.faces.settings import FaceSettings

embedder = tiny_facenet()
folder = write_triplet_model(Path(sys.argv[1]), embedder, make_faces(6), np.array([0, 1] * 3),
                             settings=FaceSettings(num_frames=%d))
detect_module.load_detector = lambda path, facenet_weights=None: load_detector(path, embedder=embedder)
sys.exit(main(sys.argv[2:] + ["--model", str(folder)]))
""" % NUM_FRAMES


def _latin1_folder(root):
    """``data/real/good.mp4`` and ``data/real/caf\\xe9.mp4`` (a name that is not UTF-8)."""
    import os

    data = root / "data" / "real"
    data.mkdir(parents=True)
    good = write_face_video(data / "good.mp4")
    try:
        with open(os.path.join(os.fsencode(data), b"caf\xe9.mp4"), "wb") as out:
            out.write(good.read_bytes())
    except (OSError, UnicodeError):
        pytest.skip("this file system does not take non-UTF-8 names")
    return root / "data"


def _run(args, cwd):
    import subprocess
    import sys

    from tests.conftest import REPO_ROOT, clean_environment

    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True,
                          env={**clean_environment(), "PYTHONPATH": str(REPO_ROOT)}, timeout=300)


def test_detect_reads_a_file_whose_name_is_not_utf8_and_goes_on(tmp_path):
    data = _latin1_folder(tmp_path)
    result = _run(["-c", _DETECT_WITH_TINY_FACENET, str(tmp_path / "model"), "-q", "detect",
                   str(data), "--json"], tmp_path)
    assert result.returncode == 0, (result.returncode, result.stderr[-2000:])
    verdicts = {v["path"].rsplit("/", 1)[1]: v for v in json.loads(result.stdout)}
    assert sorted(verdicts) == ["caf\udce9.mp4", "good.mp4"]
    for verdict in verdicts.values():
        assert verdict["verdict"] in ("real", "fake") and verdict["faces_found"] > 0, verdict


def test_index_and_extract_go_on_past_a_name_that_is_not_utf8(tmp_path):
    data = _latin1_folder(tmp_path)
    cli = ["-m", "tfdeepfake.cli", "-q"]
    index = _run([*cli, "index", "folders", str(data), "-o", "m.jsonl"], tmp_path)
    assert index.returncode == 0, index.stderr[-2000:]
    from tfdeepfake.datasets.manifest import read_manifest

    assert sorted(r.path for r in read_manifest(tmp_path / "m.jsonl")) == [
        "real/caf\udce9.mp4", "real/good.mp4"]
    extract = _run([*cli, "extract", "m.jsonl", "-o", "faces.h5", "--num-frames", "3",
                    "--size", "32", "--json"], tmp_path)
    assert extract.returncode == 0 and "Traceback" not in extract.stderr, extract.stderr[-2000:]
    summary = json.loads(extract.stdout)
    assert (summary["done"], summary["failed"]) == (1, 1)
    reason = summary["failures"][0]["reason"]
    assert "caf\udce9.mp4" in reason and "not valid UTF-8" in reason


def test_annotate_never_writes_over_its_input_or_an_existing_file(matrix, capsys):
    from tfdeepfake.cli import main

    good = matrix / "data" / "real" / "good.mp4"
    before = good.read_bytes()
    for target, extra, says in ((good, ["--overwrite"], "is the input video"),
                                (matrix / "whole.mp4", [], "exists; pass --overwrite")):
        kept = target.read_bytes()
        assert main(["detect", str(good), "--model", str(matrix / "model"), "--annotate",
                     str(target), *extra]) == 2
        assert says in capsys.readouterr().err
        assert target.read_bytes() == kept
    assert good.read_bytes() == before


def test_a_manifest_row_with_a_nul_is_one_line_naming_file_and_line(matrix, tmp_path, capsys):
    from tfdeepfake.cli import main
    from tfdeepfake.datasets.records import video_id_for

    row = {"video_id": video_id_for("data", "real/ba\x00d.mp4"), "root": str(matrix / "data"),
           "path": "real/ba\x00d.mp4", "label": 0, "split": "train", "dataset": "data",
           "method": None, "source": None}
    good = {**row, "video_id": "data/real/good", "path": "real/good.mp4"}
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(json.dumps(good) + "\n" + json.dumps(row) + "\n")
    assert main(["-q", "extract", str(manifest), "-o", str(tmp_path / "c.h5")]) == 2
    err = capsys.readouterr().err
    assert f"{manifest} line 2: field path holds a control character (U+0000)" in err
    assert len(err.strip().splitlines()) == 1 and not list(tmp_path.glob("c.h5*"))


def test_detect_on_the_direct_runner_exits_1_without_a_verdict_and_retries_unknown(
        matrix, tiny_facenet_models, tmp_path, capsys):
    """Item 5: the local exit rule, and a video unreadable on one run (here: absent) gets its
    verdict on the next instead of keeping its ``unknown`` line for ever."""
    pytest.importorskip("apache_beam")
    import shutil
    from pathlib import Path

    from tfdeepfake.cli import main

    later, out = tmp_path / "later.mp4", tmp_path / "v.jsonl"
    argv = ["-q", "detect", str(matrix / "data" / "real" / "zero.mp4"), str(later), "--model",
            str(tiny_facenet_models), "--runner", "direct", "--output", str(out)]
    assert main(argv) == 1
    assert [json.loads(line)["verdict"] for line in out.read_text().splitlines()] == \
        ["unknown"] * 2
    shutil.copyfile(matrix / "data" / "real" / "good.mp4", later)
    capsys.readouterr()
    assert main(argv) == 0
    assert "2 scored, 0 already" in capsys.readouterr().out
    rows = {Path(v["path"]).name: v for v in map(json.loads, out.read_text().splitlines())}
    assert len(out.read_text().splitlines()) == 2  # the retried rows replace their old lines
    assert rows["later.mp4"]["verdict"] in ("real", "fake")
    assert rows["zero.mp4"]["verdict"] == "unknown"


def test_calibrate_on_a_full_disk_leaves_no_folder_and_a_rerun_works(
        model, tiny_facenet_models, matrix, tmp_path, monkeypatch, capsys):
    """Item 6: the disk fills while the calibrated copy is written (the second file copied
    gets a few bytes): one line, no half-written folder, and the same command works once
    there is room."""
    import errno
    import shutil

    from tests.export.export_helpers import make_faces, write_triplet_model
    from tfdeepfake.cli import main
    from tfdeepfake.faces.settings import FaceSettings

    # SGD alone: the matrix model's KNN (k=1) scores 0 or 1, and 1.0 cannot be calibrated.
    sgd = write_triplet_model(tmp_path / "model", model[1], make_faces(6), np.array([0, 1] * 3),
                              settings=FaceSettings(num_frames=NUM_FRAMES), classifiers=("sgd",),
                              default="sgd")

    copyfile, copied = shutil.copyfile, []

    def fills_up(src, dst, *args, **kwargs):
        copied.append(src)
        if len(copied) == 2:
            with open(dst, "wb") as out:
                out.write(open(src, "rb").read()[:10])
            raise OSError(errno.ENOSPC, "No space left on device", str(dst))
        return copyfile(src, dst, *args, **kwargs)

    (tmp_path / "out").mkdir()
    out = tmp_path / "out" / "calibrated"
    argv = ["-q", "calibrate", str(matrix / "data" / "real" / "good.mp4"), "--model", str(sgd),
            "--false-positive-rate", "0.5", "-o", str(out)]
    with monkeypatch.context() as full:
        full.setattr(shutil, "copyfile", fills_up)
        assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(copied) >= 2 and len(err.strip().splitlines()) == 1, err
    assert f"disk full writing {out}" in err and "Traceback" not in err
    assert list((tmp_path / "out").iterdir()) == []  # nothing, not even a temp folder
    assert main(argv) == 0
    assert json.loads((out / "model.json").read_text())["calibration"]["real_videos"] == [
        str(matrix / "data" / "real" / "good.mp4")]


def test_detect_output_knows_a_video_named_by_another_path(
        matrix, tiny_facenet_models, tmp_path, monkeypatch, capsys):
    """Item 8: a rerun naming the same video relatively (twice, spelt two ways) adds no line."""
    pytest.importorskip("apache_beam")
    from tfdeepfake.cli import main

    out = tmp_path / "v.jsonl"
    common = ["-q", "detect", "--model", str(tiny_facenet_models), "--runner", "direct",
              "--output", str(out)]
    assert main([*common, str(matrix / "data" / "real" / "good.mp4")]) == 0
    monkeypatch.chdir(matrix / "data")
    capsys.readouterr()
    assert main([*common, "real/good.mp4", "./real//good.mp4"]) == 0
    assert "0 scored, 2 already" in capsys.readouterr().out
    assert len(out.read_text().splitlines()) == 1


@pytest.fixture(scope="module")
def quiet_beam_detect(matrix, tmp_path_factory):
    """``-q detect --runner direct`` in a process of its own (Beam's loggers, its import-time
    notice and its job server are per process) with a temp dir of its own."""
    import subprocess
    import sys

    from tests.conftest import REPO_ROOT, clean_environment

    root = tmp_path_factory.mktemp("quiet beam")
    (root / "tmp").mkdir()
    env = {**clean_environment(), "PYTHONPATH": str(REPO_ROOT), "TMPDIR": str(root / "tmp"),
           # The script imports TensorFlow before the CLI can quiet its C++ start-up lines.
           "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run(
        [sys.executable, "-c", _DETECT_WITH_TINY_FACENET, str(root / "model"), "-q", "detect",
         str(matrix / "data" / "real" / "good.mp4"), "--runner", "direct", "--output",
         str(root / "v.jsonl")], cwd=root, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    return result, root / "tmp"


def test_quiet_beam_run_prints_no_beam_lines(quiet_beam_detect):
    """Item 10: -q is quiet on Beam too: no INFO:apache_beam lines, no "apitools not found"."""
    result, _ = quiet_beam_detect
    noise = [line for line in result.stderr.splitlines()
             if "apache_beam" in line or "apitools" in line]
    assert noise == [], result.stderr[-2000:]
    assert "1 scored" in result.stdout


def test_beam_runs_leave_nothing_in_the_temp_dir(quiet_beam_detect, matrix, tmp_path,
                                                 monkeypatch, capsys):
    """Item 13: each Beam run left an empty beam-temp* folder (and tmp* staging folders) in
    the temp dir: detect (its own process, where Beam's job server starts) and extract."""
    import tempfile

    from tfdeepfake.cli import main
    from tfdeepfake.datasets.manifest import write_manifest
    from tfdeepfake.datasets.records import make_record

    _, detect_tmp = quiet_beam_detect
    assert sorted(p.name for p in detect_tmp.iterdir()) == []
    pytest.importorskip("apache_beam")
    temp = tmp_path / "tmp"
    temp.mkdir()
    write_manifest(tmp_path / "m.jsonl", [make_record(matrix / "data", "real/good.mp4", 0,
                                                      "train", "data")])
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    assert main(["-q", "extract", str(tmp_path / "m.jsonl"), "-o", str(tmp_path / "f.h5"),
                 "--num-frames", "2", "--size", "32", "--runner", "direct"]) == 0
    assert "1 done" in capsys.readouterr().out
    assert sorted(p.name for p in temp.iterdir()) == []


def test_annotate_under_a_file_is_one_line_and_the_verdict_is_kept(
        matrix, tiny_facenet_models, tmp_path, capsys):
    """Item 13: ``--annotate A/x.mp4/out.mp4`` where A/x.mp4 is a file said "[Errno 17] File
    exists" and lost the verdict."""
    from tfdeepfake.cli import main

    (tmp_path / "A").mkdir()
    (tmp_path / "A" / "x.mp4").write_bytes(b"a file")
    target = tmp_path / "A" / "x.mp4" / "out.mp4"
    good = matrix / "data" / "real" / "good.mp4"
    assert main(["-q", "detect", str(good), "--model", str(tiny_facenet_models), "--annotate",
                 str(target)]) == 2
    out, err = capsys.readouterr()
    assert len(out.strip().splitlines()) == 1 and str(good) in out
    assert out.split()[0] in ("real", "fake")
    assert err.strip() == (f"tfdeepfake detect: --annotate {target}: {tmp_path / 'A' / 'x.mp4'} "
                           "is a file, not a folder; not written")
    assert (tmp_path / "A" / "x.mp4").read_bytes() == b"a file"


def test_a_manifest_naming_one_file_two_ways_is_a_duplicate(matrix, tmp_path, capsys):
    """Item 13: ``fake/./x.mp4`` and ``fake//x.mp4`` (hand-edited) are one file listed
    twice: the duplicate rule's one line, and the path read as the index writes it."""
    from tfdeepfake.cli import main
    from tfdeepfake.datasets.manifest import read_manifest
    from tfdeepfake.datasets.records import video_id_for

    def row(path):
        return {"video_id": video_id_for("data", path), "root": str(matrix / "data"),
                "path": path, "label": 1, "split": "train", "dataset": "data", "method": None,
                "source": None}

    manifest = tmp_path / "m.jsonl"
    manifest.write_text(json.dumps(row("fake/./good.avi")) + "\n")
    [record] = read_manifest(manifest)
    assert (record.path, record.video_id) == ("fake/good.avi", "data/fake/good")
    manifest.write_text("".join(json.dumps(row(p)) + "\n"
                                for p in ("fake/./good.avi", "fake//good.avi")))
    assert main(["-q", "extract", str(manifest), "-o", str(tmp_path / "c.h5")]) == 2
    err = capsys.readouterr().err
    assert f"{manifest} line 2: duplicate video_id 'data/fake/good' (first on line 1" in err
    assert len(err.strip().splitlines()) == 1 and not list(tmp_path.glob("c.h5*"))


def test_report_on_a_full_disk_keeps_the_verdict(matrix, tiny_facenet_models, tmp_path,
                                                 monkeypatch, capsys):
    """Item 13: ``--report`` on a full disk lost the verdict line (and --json's list)."""
    import errno

    import tfdeepfake.visualize.report as report_module
    from tfdeepfake.cli import main

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(report_module, "plot_frame_scores", full)
    good = matrix / "data" / "real" / "good.mp4"
    argv = ["-q", "detect", str(good), "--model", str(tiny_facenet_models), "--report",
            str(tmp_path / "r")]
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert str(good) in out and out.split()[0] in ("real", "fake")
    assert err.strip() == f"tfdeepfake detect: --report {tmp_path / 'r' / 'good'}: disk full; " \
                          "not written"
    assert main(argv + ["--json"]) == 2
    out, err = capsys.readouterr()
    [verdict] = json.loads(out)
    assert verdict["verdict"] in ("real", "fake") and verdict["outputs"] == {}
    assert verdict["output_errors"] == [err.strip().removeprefix("tfdeepfake detect: ")]


def test_a_file_moved_from_real_to_fake_is_refused_then_reextracted(matrix, tmp_path, capsys):
    """Item 3: a re-indexed folder where a file moved from real/ to fake/ gave one cache
    holding the same file under both labels."""
    import shutil

    from tfdeepfake.cache.faces import iter_face_videos
    from tfdeepfake.cli import main

    data = tmp_path / "d"
    (data / "real").mkdir(parents=True)
    (data / "fake").mkdir()
    shutil.copy(matrix / "data" / "real" / "good.mp4", data / "real" / "a.mp4")
    manifest, cache = tmp_path / "m.jsonl", tmp_path / "c.h5"
    assert main(["-q", "index", "folders", str(data), "-o", str(manifest)]) == 0
    assert main(["-q", "extract", str(manifest), "-o", str(cache)]) == 0
    shutil.move(data / "real" / "a.mp4", data / "fake" / "a.mp4")
    manifest.unlink()
    assert main(["-q", "index", "folders", str(data), "-o", str(manifest)]) == 0
    capsys.readouterr()
    assert main(["-q", "extract", str(manifest), "-o", str(cache)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert "d/fake/a: same file as cached d/real/a" in err and "--reextract-changed" in err
    assert {v.video_id: v.label for v in iter_face_videos(cache)} == {"d/real/a": 0}
    assert main(["-q", "extract", str(manifest), "-o", str(cache), "--reextract-changed"]) == 0
    assert {v.video_id: v.label for v in iter_face_videos(cache)} == {"d/fake/a": 1}


@pytest.mark.parametrize("key, value, named", [
    ("detector", ["triplet"], "detector"),
    ("threshold", float("inf"), "threshold"),
    ("face_settings.margin", float("nan"), "face_settings.margin"),
    ("head.embedding_dim", 10**12, "head.embedding_dim"),
])
def test_a_bad_model_json_value_is_one_line_naming_the_key(matrix, model, tmp_path, capsys,
                                                           key, value, named):
    """Item 7: wrong types and ranges in model.json were tracebacks (TypeError,
    ResourceExhaustedError) or accepted (a NaN margin failed every frame)."""
    import shutil

    from tfdeepfake.cli import main

    folder = tmp_path / "model"
    shutil.copytree(model[0], folder)
    meta = json.loads((folder / "model.json").read_text())
    section, _, leaf = key.rpartition(".")
    (meta[section] if section else meta)[leaf] = value
    (folder / "model.json").write_text(json.dumps(meta))
    assert main(["-q", "detect", str(matrix / "data" / "real" / "good.mp4"),
                 "--model", str(folder)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert "model.json" in err and f"key '{named}'" in err


def cache_with_a_damaged_video(cache, video_ids, damaged="toy/fake/b"):
    """A face cache of two faces per video (label 1 when the id says fake) whose video
    ``damaged`` has lost its ``faces`` array."""
    import h5py

    from tests.export.export_helpers import make_faces, write_face_cache
    from tfdeepfake.cache.faces import face_store
    from tfdeepfake.faces.settings import FaceSettings

    faces = make_faces(2 * len(video_ids))
    write_face_cache(cache, FaceSettings(), {
        v: ("train", int("/fake/" in v), faces[2 * i:2 * i + 2]) for i, v in enumerate(video_ids)})
    face_store(cache).commit()
    with h5py.File(cache, "a") as f:
        group = next(g for g in f["videos"].values() if g.attrs["video_id"] == damaged)
        del group["faces"]
    return cache


def test_embed_passes_over_a_damaged_video_naming_it(tmp_path, capsys, caplog):
    """Item 7: ``embed`` on a cache whose video lacks ``faces`` was a KeyError; now one
    warning naming the cache and the video, and the other videos are embedded."""
    from tfdeepfake.cache.embeddings import load_embedding_table
    from tfdeepfake.cli import main

    cache = cache_with_a_damaged_video(tmp_path / "faces.h5", ["toy/real/a", "toy/fake/b"])
    out = tmp_path / "emb.h5"
    assert main(["embed", str(cache), "-o", str(out), "--random-init"]) == 0
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    assert f"{cache}: video 'toy/fake/b' has no 'faces' array" in caplog.text
    assert "1 damaged" in captured.out
    assert set(load_embedding_table(out).video_ids) == {"toy/real/a"}


# --- issue 22, last checks ----------------------------------------------------------------


@pytest.mark.parametrize("fills", ["weights", "model.json"])
def test_train_on_a_full_disk_is_one_line_naming_the_folder_and_a_rerun_works(
        tmp_path, monkeypatch, capsys, fills):
    """Item 6 for ``train``: the disk fills while the head's weights or model.json are
    written: was the raw "[Errno 28] No space left on device" (naming neither the folder
    nor a full disk); now one line naming the folder, exit 2, no model.json, and the same
    command works once there is room."""
    import errno
    from pathlib import Path

    import tensorflow as tf

    import tfdeepfake.cache.files as files
    from tests.detectors.test_triplet import write_cache
    from tfdeepfake.cli import main

    cache = write_cache(tmp_path / "emb.h5")
    out = tmp_path / "model"
    argv = ["-q", "train", "triplet", str(cache), "-o", str(out), "--epochs", "1",
            "--batch-size", "16", "--hidden-units", "32", "--embedding-dim", "8",
            "--frames-per-video", "2", "--steps-per-epoch", "2", "--classifiers", "sgd",
            "--default-classifier", "sgd"]
    atomic_write_text = files.atomic_write_text

    def weights_full(self, path, *args, **kwargs):
        with open(path, "wb") as half:
            half.write(b"\x89HDF")
        raise OSError(errno.ENOSPC, "No space left on device")

    def meta_full(path, text):
        if Path(path).name == "model.json":
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return atomic_write_text(path, text)

    with monkeypatch.context() as full:
        if fills == "weights":
            full.setattr(tf.keras.Model, "save_weights", weights_full)
        else:
            full.setattr(files, "atomic_write_text", meta_full)
        assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert err.startswith(f"tfdeepfake train: disk full writing {out}; "), err
    assert not (out / "model.json").exists()
    assert main(argv) == 0
    assert json.loads((out / "model.json").read_text())["detector"] == "triplet"


def test_report_and_annotate_into_a_folder_whose_name_is_not_utf8(tmp_path):
    """Items 1 and 13: ``--report caf\\xe9/`` died of SIGSEGV in OpenCV's imwrite (the face
    sheet) and every verdict was lost; ``--annotate caf\\xe9/x.mp4`` must work too. Run in
    a subprocess (a segfault would kill pytest), output read back as the bytes it is."""
    import os
    import subprocess
    import sys

    from tests.conftest import REPO_ROOT, clean_environment

    good = write_face_video(tmp_path / "good.mp4")
    folder = os.fsdecode(os.path.join(os.fsencode(tmp_path), b"caf\xe9"))
    try:
        os.mkdir(folder)
        os.rmdir(folder)
    except (OSError, UnicodeError):
        pytest.skip("this file system does not take non-UTF-8 names")
    report, annotated = os.path.join(folder, "r"), os.path.join(folder, "x.mp4")
    result = subprocess.run(
        [sys.executable, "-c", _DETECT_WITH_TINY_FACENET, str(tmp_path / "model"), "-q",
         "detect", str(good), "--json", "--report", report, "--annotate", annotated],
        cwd=tmp_path, capture_output=True, text=True, errors="surrogateescape", timeout=300,
        env={**clean_environment(), "PYTHONPATH": str(REPO_ROOT)})
    assert result.returncode == 0, (result.returncode, result.stderr[-2000:])
    [verdict] = json.loads(result.stdout)
    assert verdict["verdict"] in ("real", "fake") and verdict["faces_found"] > 0, verdict
    written = os.path.join(report, "good")
    assert sorted(os.listdir(written)) == ["faces.png", "frames.png", "heatmap.png",
                                          "verdict.json"]
    assert verdict["outputs"] == {"annotated": annotated, "report": written}, verdict
    assert cv2.imdecode(np.fromfile(os.path.join(written, "faces.png"), np.uint8),
                        cv2.IMREAD_COLOR) is not None
    assert os.path.getsize(annotated) > 0
    # The verdict line names the output: under a strict UTF-8 locale (en_US.UTF-8) printing
    # the surrogate was a UnicodeEncodeError and the verdict was lost.
    again = os.path.join(folder, "y.mp4")
    result = subprocess.run(
        [sys.executable, "-c", _DETECT_WITH_TINY_FACENET, str(tmp_path / "model"), "-q",
         "detect", str(good), "--annotate", again],
        cwd=tmp_path, capture_output=True, text=True, errors="surrogateescape", timeout=300,
        env={**clean_environment(), "PYTHONPATH": str(REPO_ROOT),
             "PYTHONIOENCODING": "utf-8:strict"})
    assert result.returncode == 0, (result.returncode, result.stderr[-2000:])
    [line] = result.stdout.strip().splitlines()
    assert line.split()[0] in ("real", "fake") and line.endswith(f"-> annotated: {again}"), line
    assert os.path.getsize(again) > 0


def test_beam_embed_passes_over_a_damaged_video_naming_it(tmp_path, caplog):
    """Item 7 on Beam: ``embed --runner direct`` on a cache whose video lacks ``faces``
    failed the whole pipeline with DamagedVideoError; now as the local embed: one warning
    naming the cache and the video, the others embedded, the summary counts it."""
    pytest.importorskip("apache_beam")
    from tests.export.export_helpers import tiny_facenet
    from tfdeepfake.cache.embeddings import load_embedding_table
    from tfdeepfake.scale.embed import run_beam_embed

    cache = cache_with_a_damaged_video(tmp_path / "faces.h5",
                                       ["toy/real/a", "toy/fake/b", "toy/real/c"])
    out = tmp_path / "emb.h5"
    summary, counters = run_beam_embed(cache, out, tiny_facenet(seed=0),
                                       make_embedder=lambda: tiny_facenet(seed=0),
                                       videos_per_batch=3)
    assert f"{cache}: video 'toy/fake/b' has no 'faces' array" in caplog.text
    assert (summary.done, summary.failed, summary.frames) == (2, 1, 4)
    assert counters["videos_damaged"] == 1
    assert set(load_embedding_table(out).video_ids) == {"toy/real/a", "toy/real/c"}
