"""detect: one verdict per video with any detector; a bad video never stops the others."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.export.export_helpers import (
    mixed_video_faces,
    set_aggregation,
    tiny_facenet,
    tiny_lstm_detector,
    tiny_xception_detector,
    write_mixed_face_video,
    write_triplet_model,
)
from tests.media import write_blank_video
from tfdeepfake.detect import VideoDetector, expand_video_paths
from tfdeepfake.faces.settings import FaceSettings

SETTINGS = FaceSettings(num_frames=5)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("detect")
    video = write_mixed_face_video(root / "mixed.mp4")
    embedder = tiny_facenet()
    faces, labels = mixed_video_faces(video, SETTINGS)
    model = write_triplet_model(root / "model", embedder, faces, labels, settings=SETTINGS,
                                threshold=0.3)
    return {"root": root, "video": video, "embedder": embedder, "faces": faces, "model": model}


def _triplet(world, model_dir=None):
    from tfdeepfake.detectors import load_detector

    return load_detector(model_dir or world["model"], embedder=world["embedder"])


@pytest.fixture(scope="module")
def detector(world):
    return VideoDetector(_triplet(world))


def test_a_face_video_gets_a_verdict_and_where_it_came_from(world, detector):
    verdict = detector.detect(world["video"])
    # KNN k=1 fitted on this video: faces 1 1 0 0 0, the mean 0.4, over the 0.3 threshold.
    assert verdict.fake_probability == pytest.approx(0.4)
    assert (verdict.verdict, verdict.threshold, verdict.frames_sampled, verdict.faces_found) == (
        "fake", 0.3, 5, 5)
    assert (verdict.detector, verdict.classifier) == ("triplet", "knn")
    assert verdict.facenet == world["embedder"].identity.label() and verdict.random_init_facenet is True
    assert verdict.to_dict()["facenet"].startswith("FaceNet 20180402-114759 (RANDOM INIT")


def test_the_verdict_names_the_facenet_key_and_weights_hash(world, detector, tmp_path):
    """Random init: the key and no hash; pretrained (a stand-in identity around the same tiny
    network): the key and the weights' SHA-256, in the JSON too, on unknown verdicts too."""
    import dataclasses

    from tfdeepfake.detectors import load_detector
    from tfdeepfake.models.facenet import FaceNetEmbedder

    verdict = detector.detect(world["video"]).to_dict()
    assert (verdict["facenet_model"], verdict["facenet_weights_sha256"]) == ("20180402-114759", None)
    digest = "ab" * 32
    identity = dataclasses.replace(world["embedder"].identity, random_init=False, seed=None,
                                   weights_sha256=digest)
    embedder = FaceNetEmbedder(world["embedder"].model, identity)
    labels = (np.arange(len(world["faces"])) < 2).astype(np.int32)
    model = write_triplet_model(tmp_path / "pretrained", embedder, world["faces"], labels,
                                settings=SETTINGS)
    pretrained = VideoDetector(load_detector(model, embedder=embedder))
    verdict = json.loads(json.dumps(pretrained.detect(world["video"]).to_dict()))
    assert verdict["verdict"] in ("real", "fake") and verdict["random_init_facenet"] is False
    assert (verdict["facenet"], verdict["facenet_model"], verdict["facenet_weights_sha256"]) == (
        "FaceNet 20180402-114759 (pretrained)", "20180402-114759", digest)
    missing = pretrained.detect(tmp_path / "nowhere.mp4")
    assert missing.verdict == "unknown" and missing.facenet_weights_sha256 == digest


@pytest.mark.parametrize("how, expected", [("mean", 0.4), ("median", 0.0), ("max", 1.0)])
def test_the_video_score_follows_the_models_aggregation(world, how, expected):
    model_dir = world["root"] / f"model-{how}"
    if not model_dir.exists():
        shutil.copytree(world["model"], model_dir)
        set_aggregation(model_dir, how)
    result = VideoDetector(_triplet(world, model_dir)).detect(world["video"])
    assert result.fake_probability == pytest.approx(expected)
    assert result.verdict == ("fake" if expected >= 0.3 else "real")


def test_variant_and_threshold_can_be_chosen(world):
    chosen = VideoDetector(_triplet(world), variant="sgd", threshold=0.99)
    verdict = chosen.detect(world["video"])
    face_probs = chosen.detector.score_faces(world["faces"], "sgd")
    assert verdict.classifier == "sgd" and verdict.threshold == 0.99 and verdict.verdict == "real"
    assert verdict.fake_probability == pytest.approx(float(np.mean(face_probs)), abs=1e-6)
    with pytest.raises(ValueError, match="no variant 'svm'; valid: knn, sgd"):
        VideoDetector(_triplet(world), variant="svm")


def test_a_calibrated_model_says_how_unusual_the_score_is_for_genuine_video(world, tmp_path):
    """genuine_share: (1 + calibration reals scoring at least as high) / (n + 1); None for a
    model without calibration scores."""
    from tfdeepfake.detectors.base import ModelFolder

    assert VideoDetector(_triplet(world)).detect(world["video"]).genuine_share is None
    folder = tmp_path / "calibrated"
    shutil.copytree(world["model"], folder)
    meta = ModelFolder(folder).read_meta()
    reals = [0.0, 0.1, 0.2, 0.3, 0.99]
    meta["calibration"] = {"real_scores": {meta["default_classifier"]: reals}}
    ModelFolder(folder).write_meta(meta)
    verdict = VideoDetector(_triplet(world, folder)).detect(world["video"])
    expected = (1 + sum(r >= verdict.fake_probability for r in reals)) / (len(reals) + 1)
    assert verdict.genuine_share == pytest.approx(expected)
    assert "genuine_share" in verdict.to_dict()

def test_no_face_and_unreadable_videos_are_unknown_with_a_reason(tmp_path, detector):
    blank = detector.detect(write_blank_video(tmp_path / "blank.mp4"))
    assert blank.verdict == "unknown" and "no face" in blank.reason and blank.fake_probability is None
    assert blank.frames_sampled == 5 and blank.detector == "triplet"
    (tmp_path / "text.mp4").write_text("hello")
    broken = detector.detect(tmp_path / "text.mp4")
    assert broken.verdict == "unknown" and "text.mp4" in broken.reason
    missing = detector.detect(tmp_path / "nowhere.mp4")
    assert missing.verdict == "unknown" and "nowhere.mp4" in missing.reason


def test_frame_level_and_video_level_detectors_alike(world, tmp_path):
    xception = tiny_xception_detector(tmp_path / "xception", SETTINGS, aggregation="median")
    verdict = VideoDetector(xception).detect(world["video"])
    expected = float(np.median(xception.score_faces(world["faces"])))
    assert verdict.fake_probability == pytest.approx(expected, abs=1e-6)
    assert (verdict.detector, verdict.facenet, verdict.random_init_facenet) == ("xception", None, False)
    assert (verdict.facenet_model, verdict.facenet_weights_sha256) == (None, None)

    lstm = tiny_lstm_detector(tmp_path / "lstm", SETTINGS, num_frames=4)
    assert not lstm.frame_level
    verdict = VideoDetector(lstm).detect(world["video"])
    assert verdict.fake_probability == pytest.approx(lstm.score_video(world["faces"]), abs=1e-6)
    assert (verdict.detector, verdict.classifier, verdict.faces_found) == ("lstm", "lstm", 5)
    # A video-level model: every face has its box, no frame has a score of its own.
    assert not verdict.frame_level and len(verdict.frames) == 5
    assert all(f.box is not None and f.fake_probability is None for f in verdict.frames)


def test_expand_video_paths_finds_videos_in_folders(tmp_path):
    (tmp_path / "d" / "sub").mkdir(parents=True)
    for name in ("d/x.mp4", "d/sub/y.AVI", "d/notes.txt"):
        (tmp_path / name).write_bytes(b"")
    found = [p.name for p in expand_video_paths([tmp_path / "d", tmp_path / "z.mp4"])]
    assert found == ["y.AVI", "x.mp4", "z.mp4"]


def test_each_sampled_frame_has_its_box_time_and_probability(world, detector):
    verdict, faces = detector.inspect(world["video"])
    assert [f.index for f in verdict.frames] == [0, 1, 2, 3, 4]
    assert verdict.fps == pytest.approx(10.0) and verdict.frames[3].time == pytest.approx(0.3)
    # KNN k=1 fitted on these faces: the red-blue swapped frames 0 and 1 are the fakes.
    assert [f.fake_probability for f in verdict.frames] == pytest.approx([1, 1, 0, 0, 0])
    assert verdict.aggregation == "mean" and verdict.frame_level
    for frame in verdict.frames:  # the face is pasted at x = 40 + 4 i, y = 40, 120 px wide
        x1, y1, x2, y2 = frame.box
        assert abs((x1 + x2) / 2 - (100 + 4 * frame.index)) < 15 and abs((y1 + y2) / 2 - 100) < 15
    assert faces.shape == (5, 160, 160, 3) and faces.dtype == np.uint8
    np.testing.assert_array_equal(faces, world["faces"])
    assert json.loads(json.dumps(verdict.to_dict()))["frames"][0]["box"] == verdict.frames[0].box


def test_frames_without_faces_have_no_box_and_no_score(detector, tmp_path):
    blank = detector.detect(write_blank_video(tmp_path / "blank.mp4"))
    assert len(blank.frames) == 5
    assert all(f.box is None and f.fake_probability is None for f in blank.frames)
    assert detector.detect(tmp_path / "nowhere.mp4").frames == []


def test_expand_video_paths_follows_linked_folders_and_names_bad_links(tmp_path, caplog):
    # Issue 22 item 11: as `index folders` does, a symlinked subfolder is searched (once,
    # even through a loop), and a dangling or looping link is one warning, not silence.
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "v.mp4").write_bytes(b"")
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "x.mp4").write_bytes(b"")
    (tmp_path / "d" / "linked").symlink_to(tmp_path / "elsewhere")
    (tmp_path / "d" / "loop").symlink_to(tmp_path / "d")
    (tmp_path / "d" / "gone.mp4").symlink_to(tmp_path / "missing.mp4")
    (tmp_path / "d" / "self.mp4").symlink_to(tmp_path / "d" / "self.mp4")
    with caplog.at_level("WARNING", logger="tfdeepfake.detect"):
        found = list(expand_video_paths([tmp_path / "d"]))
    assert found == [tmp_path / "d" / "linked" / "v.mp4", tmp_path / "d" / "x.mp4"]
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 3 and all("\n" not in line for line in lines)
    assert any(str(tmp_path / "d" / "loop") in line for line in lines)
    assert any(str(tmp_path / "d" / "gone.mp4") in line and "dangling" in line for line in lines)
    assert any(str(tmp_path / "d" / "self.mp4") in line for line in lines)


def _write_two_people_video(path, num_frames=5):
    """Person A (120 px, as fitted) on the left; person B (100 px, red and blue swapped,
    as the fitted fakes) on the right."""
    import cv2

    from tests.media import FACE

    width, height = 400, 240
    background = np.random.RandomState(0).randint(0, 60, (height, width, 3)).astype(np.uint8)
    a, b = cv2.resize(FACE, (120, 120)), cv2.resize(FACE, (100, 100))[..., ::-1]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (width, height))
    try:
        for i in range(num_frames):
            frame = background.copy()
            frame[40:160, 20 + 3 * i:140 + 3 * i] = a
            frame[60:160, 260:360] = b
            writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    finally:
        writer.release()
    return path


def test_people_judges_each_person_and_the_most_fake_decides(world, detector, tmp_path):
    video = _write_two_people_video(tmp_path / "two.mp4")
    # One face per frame (the largest): the swapped face on the right is never seen.
    largest = detector.detect(video)
    assert largest.verdict == "real" and largest.people is None
    assert all(f.box[2] < 200 for f in largest.frames)

    people = VideoDetector(_triplet(world), people=True)
    verdict, faces = people.inspect(video)
    first, second = verdict.people
    assert (first.person, first.verdict, first.faces_found) == (1, "real", 5)
    assert (second.person, second.verdict, second.faces_found) == (2, "fake", 5)
    assert first.box[2] < 200 < second.box[0]  # A on the left, B on the right
    assert first.fake_probability == pytest.approx(largest.fake_probability)
    # The video is B's: verdict, probability, faces and frames.
    assert (verdict.verdict, verdict.fake_probability, verdict.faces_found) == (
        "fake", second.fake_probability, 5)
    assert verdict.frames == second.frames and all(f.box[0] > 200 for f in verdict.frames)
    assert second.fake_probability == pytest.approx(people.score_video(faces))
    assert json.loads(json.dumps(verdict.to_dict()))["people"][1]["verdict"] == "fake"
    with pytest.raises(ValueError, match="every person"):
        people.face_arrays(video)


def test_people_annotate_and_report_the_person_the_verdict_is_about(world, tmp_path):
    """``detect --people --annotate/--report``: the boxes drawn and the report's frames and
    faces are the decisive person's (B, on the right), and the report lists every person."""
    from tfdeepfake.visualize.run import visualize_video

    video = _write_two_people_video(tmp_path / "two.mp4")
    people = VideoDetector(_triplet(world), people=True)
    verdict, written = visualize_video(people, video, report_dir=tmp_path / "report",
                                       annotate_to=tmp_path / "annotated.mp4")
    assert verdict["verdict"] == "fake" and [p["verdict"] for p in verdict["people"]] == ["real", "fake"]
    assert all(f["box"][0] > 200 for f in verdict["frames"])
    assert Path(written["annotated"]).stat().st_size > 0
    report = json.loads(Path(written["json"]).read_text())
    assert [p["person"] for p in report["people"]] == [1, 2]
    assert all(f["box"][0] > 200 for f in report["frames"])


def test_people_on_a_video_without_faces_is_unknown(world, tmp_path):
    people = VideoDetector(_triplet(world), people=True)
    blank = people.detect(write_blank_video(tmp_path / "blank.mp4"))
    assert blank.verdict == "unknown" and "no face" in blank.reason and blank.people == []
    assert len(blank.frames) == 5 and all(f.box is None for f in blank.frames)
