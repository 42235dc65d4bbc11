"""`tfdeepfake detect --annotate / --report` end to end, with a tiny triplet model (random-init
stand-in FaceNet) put in place of the model folder the command would load."""

import json

import pytest

from tests.export.export_helpers import (
    mixed_video_faces,
    tiny_facenet,
    write_mixed_face_video,
    write_triplet_model,
)
from tfdeepfake.cli import main
from tfdeepfake.faces.settings import FaceSettings
from tfdeepfake.video.reader import iter_frames, probe_video

SETTINGS = FaceSettings(num_frames=5)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from tfdeepfake.detect import VideoDetector
    from tfdeepfake.detectors import load_detector

    root = tmp_path_factory.mktemp("visual-cli")
    video = write_mixed_face_video(root / "mixed.mp4")
    embedder = tiny_facenet()
    faces, labels = mixed_video_faces(video, SETTINGS)
    model = write_triplet_model(root / "model", embedder, faces, labels, settings=SETTINGS,
                                threshold=0.3)
    detector = VideoDetector(load_detector(model, embedder=embedder))
    return {"root": root, "video": video, "model": model, "detector": detector}


@pytest.fixture
def use_model(world, monkeypatch):
    import tfdeepfake.detect

    # The folder's FaceNet is the tiny stand-in, which only loads when handed over.
    monkeypatch.setattr(tfdeepfake.detect, "VideoDetector", lambda *a, **k: world["detector"])


def test_annotate_and_report_for_one_video(world, use_model, tmp_path, capsys):
    out, report = tmp_path / "annotated.mp4", tmp_path / "report"
    assert main(["detect", str(world["video"]), "--model", str(world["model"]), "--annotate",
                 str(out), "--report", str(report), "--json"]) == 0
    [result] = json.loads(capsys.readouterr().out)
    assert result["verdict"] == "fake" and len(result["frames"]) == 5
    assert result["outputs"] == {"annotated": str(out), "report": str(report / "mixed")}
    assert sum(1 for _ in iter_frames(out)) == sum(1 for _ in iter_frames(world["video"])) == 5
    assert probe_video(out).fps == pytest.approx(probe_video(world["video"]).fps)
    import cv2

    sizes = {name: cv2.imread(str(report / "mixed" / name)).shape[:2]
             for name in ("frames.png", "faces.png", "heatmap.png")}
    assert sizes["frames.png"] == (320, 800)
    assert sizes["faces.png"][1] == 5 * 132  # one tile per face, one row
    assert sizes["heatmap.png"][1] == 4 * 132  # two faces beside their occlusion maps a row
    summary = json.loads((report / "mixed" / "verdict.json").read_text())
    assert summary["fake_probability"] == pytest.approx(result["fake_probability"])


def test_several_videos_go_to_folders_named_after_them(world, use_model, tmp_path, capsys):
    other = tmp_path / "b" / "mixed.mp4"
    other.parent.mkdir()
    other.write_bytes(world["video"].read_bytes())
    text = tmp_path / "broken.mp4"
    text.write_text("not a video")
    assert main(["detect", str(world["video"]), str(other), str(text), "--model",
                 str(world["model"]), "--annotate", str(tmp_path / "ann"), "-q"]) == 0
    out = capsys.readouterr().out
    assert sorted(p.name for p in (tmp_path / "ann").iterdir()) == [
        "mixed-2.annotated.mp4", "mixed.annotated.mp4"]  # the unreadable one gets none
    assert "annotated:" in out and "broken.mp4" in out


def test_bad_combinations_are_one_line_errors(world, tmp_path, capsys):
    video = str(world["video"])
    assert main(["detect", video, video, "--model", str(world["model"]), "--annotate",
                 str(tmp_path / "one.mp4")]) == 2
    assert "a .mp4 file takes one video" in capsys.readouterr().err
    assert main(["detect", video, "--tflite", str(tmp_path), "--report", str(tmp_path / "r")]) == 2
    assert "need --model" in capsys.readouterr().err
    (tmp_path / "file").write_text("")
    assert main(["detect", video, "--model", str(world["model"]), "--report",
                 str(tmp_path / "file")]) == 2
    assert "not a folder" in capsys.readouterr().err
    assert not list(tmp_path.glob("*.mp4"))  # no half-written output after an error


def test_annotate_refuses_the_input_video_itself(world, use_model, tmp_path, capsys):
    # Issue 22, item 2: `detect V --annotate V` wrote over the video it was asked about.
    video = tmp_path / "in.mp4"
    video.write_bytes(world["video"].read_bytes())
    (tmp_path / "sub").mkdir()
    for target in (video, tmp_path / "sub" / ".." / "in.mp4"):
        for extra in ([], ["--overwrite"]):
            assert main(["detect", str(video), "--model", str(world["model"]), "--annotate",
                         str(target), *extra]) == 2
            err = capsys.readouterr().err
            assert "is the input video" in err and "in.mp4" in err and len(err.splitlines()) == 1
    assert video.read_bytes() == world["video"].read_bytes()
    # A folder holding another input under the name one video's copy would get.
    named = tmp_path / "ann" / "in.annotated.mp4"
    named.parent.mkdir()
    named.write_bytes(video.read_bytes())
    assert main(["detect", str(video), str(named), "--model", str(world["model"]), "--annotate",
                 str(named.parent), "--overwrite"]) == 2
    assert "is the input video" in capsys.readouterr().err


def test_annotate_refuses_an_existing_output_unless_overwrite(world, use_model, tmp_path, capsys):
    out = tmp_path / "out.mp4"
    out.write_bytes(b"keep me")
    folder = tmp_path / "ann"
    folder.mkdir()
    (folder / "mixed.annotated.mp4").write_bytes(b"keep me too")
    for target in (out, folder):
        assert main(["detect", str(world["video"]), "--model", str(world["model"]), "--annotate",
                     str(target)]) == 2
        err = capsys.readouterr().err
        assert "exists" in err and "--overwrite" in err and len(err.splitlines()) == 1
    assert out.read_bytes() == b"keep me"
    assert (folder / "mixed.annotated.mp4").read_bytes() == b"keep me too"
    for target, written in ((out, out), (folder, folder / "mixed.annotated.mp4")):
        assert main(["detect", str(world["video"]), "--model", str(world["model"]), "--annotate",
                     str(target), "--overwrite", "-q"]) == 0
        assert sum(1 for _ in iter_frames(written)) == 5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ann", "out.mp4"]
