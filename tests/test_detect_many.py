"""detect_many / prefetching: the next video decoded while one is scored, same verdicts."""

import pytest

from tests.export.export_helpers import mixed_video_faces, tiny_facenet, write_mixed_face_video, write_triplet_model
from tests.media import write_blank_video
from tfdeepfake.detect import VideoDetector
from tfdeepfake.faces.settings import FaceSettings

SETTINGS = FaceSettings(num_frames=5)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    from tfdeepfake.detectors import load_detector

    root = tmp_path_factory.mktemp("detect_many")
    video = write_mixed_face_video(root / "mixed.mp4")
    embedder = tiny_facenet()
    faces, labels = mixed_video_faces(video, SETTINGS)
    model = write_triplet_model(root / "model", embedder, faces, labels, settings=SETTINGS, threshold=0.3)
    detector = VideoDetector(load_detector(model, embedder=embedder))
    blank = write_blank_video(root / "blank.mp4")
    missing = root / "missing.mp4"
    return detector, [video, missing, blank, video]


def summary(verdict):
    return (verdict.path, verdict.verdict, verdict.fake_probability, verdict.faces_found, verdict.reason)


def test_detect_many_gives_the_verdicts_detect_gives(setup):
    detector, paths = setup
    one_by_one = [summary(detector.detect(p)) for p in paths]
    assert [s[1] for s in one_by_one] == ["fake", "unknown", "unknown", "fake"]
    assert "file not found" in one_by_one[1][4]
    assert [summary(v) for v in detector.detect_many(paths)] == one_by_one


def test_out_of_order_calls_while_prefetching_read_the_right_video(setup):
    detector, paths = setup
    expected = summary(detector.detect(paths[2]))
    with detector.prefetching(paths):
        assert summary(detector.detect(paths[2])) == expected  # not the next one: read directly
        assert summary(detector.detect(paths[0]))[1] == "fake"
    assert detector._ahead is None
