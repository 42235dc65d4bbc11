"""MTCNN on real photographs that installed packages ship (weights are in mtcnn's wheel)."""

import cv2
import numpy as np
import pytest
import skimage.data

from tfdeepfake.faces.boxes import iou
from tfdeepfake.faces.detector import DetectorConfig, detection_scale, get_detector


@pytest.fixture(scope="module")
def astronaut():
    return skimage.data.astronaut()


def test_detection_scale():
    assert detection_scale(1080, 1920, 270) == pytest.approx(1 / 4)
    assert detection_scale(1920, 1080, 270) == pytest.approx(1 / 4)  # portrait: the same cost
    assert detection_scale(240, 320, 270) == 1.0
    assert detection_scale(1080, 1920, 0) == 1.0


def test_config_validation():
    with pytest.raises(ValueError, match="min_confidence"):
        DetectorConfig(min_confidence=1.5)
    with pytest.raises(ValueError, match="min_face_size"):
        DetectorConfig(min_face_size=4)
    with pytest.raises(ValueError, match="detect_short_side"):
        DetectorConfig(min_face_size=40)  # mtcnn 1.0.0 finds nothing above 20


def test_detector_is_built_once_per_settings():
    assert get_detector() is get_detector(DetectorConfig())


def test_finds_the_face_with_keypoints_in_order(astronaut):
    (face,) = get_detector().detect([astronaut])[0][:1]
    x1, y1, x2, y2 = face.box
    assert face.confidence > 0.95
    left_eye, right_eye, nose, mouth_left, mouth_right = face.keypoints
    assert x1 < left_eye[0] < right_eye[0] < x2  # eyes left to right
    assert left_eye[1] < nose[1] < mouth_left[1] < y2  # eyes above nose above mouth
    assert mouth_left[0] < mouth_right[0]


def test_downscaled_detection_maps_back_to_full_resolution(astronaut):
    full = get_detector(detect_short_side=0).detect([astronaut])[0][0]
    big = cv2.resize(astronaut, (2048, 2048), interpolation=cv2.INTER_CUBIC)  # a 4-MP frame
    shrunk = get_detector(detect_short_side=512).detect([big])[0][0]  # 1/4 scale
    assert iou(shrunk.box / 4, full.box) > 0.8


def test_batch_of_frames_and_empty_frames(astronaut):
    blank = np.full_like(astronaut, 127)
    results = get_detector().detect([astronaut, blank, astronaut])
    assert [len(r) > 0 for r in results] == [True, False, True]


def test_grayscale_photo_as_rgb(astronaut):
    gray = cv2.cvtColor(cv2.cvtColor(astronaut, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
    assert get_detector().detect([gray])[0]


def test_refine_moves_a_rough_box_onto_the_face(astronaut):
    # RNet and ONet on a box off by a tenth of the face give the cascade's face back.
    detector = get_detector()
    (face,) = detector.detect([astronaut])[0][:1]
    x1, y1, x2, y2 = face.box
    shift = 0.1 * (x2 - x1)
    rough = np.array([[0, x1 + shift, y1 - shift, x2 + shift, y2 - shift]])
    rows = detector.refine_rows([astronaut], rough)
    assert len(rows) == 1 and rows[0, 5] > 0.95
    assert iou(rows[0, 1:5], face.box) > 0.85
    assert rows.shape == (1, 16)
    # A box on a face-free region is refused.
    assert len(detector.refine_rows([astronaut], np.array([[0, 300, 400, 380, 480]]))) == 0
    assert detector.refine_rows([astronaut], np.empty((0, 5))).shape == (0, 16)


def test_video_frames_through_key_frames_find_the_face_everywhere(astronaut):
    from tfdeepfake.faces.tracking import TrackStats, track_faces

    frames = [np.roll(astronaut, shift=(4 * i, 6 * i), axis=(0, 1)) for i in range(9)]
    cascade = get_detector(key_frame_interval=1, retry_short_sides=()).detect(frames)
    stats = TrackStats()
    tracked = track_faces(get_detector(key_frame_interval=4), frames, stats)
    assert stats.key_frames == 3 and stats.confirmed == 6 and stats.redetected == 0
    for full, ours in zip(cascade, tracked):
        assert iou(full[0].box, ours[0].box) > 0.85


def test_traced_networks_give_the_packages_own_numbers(astronaut):
    # The detector runs mtcnn's networks as traced graphs: same rows as the package eager.
    from mtcnn import MTCNN

    frames = [astronaut, cv2.resize(astronaut, (300, 200)), np.ascontiguousarray(astronaut[::-1])]
    detector = get_detector()
    eager = MTCNN(stages="face_and_landmarks_detection", device="CPU:0")
    for size_group in ([frames[0], frames[2]], [frames[1]]):
        ours = detector.detect_rows(size_group)
        theirs = np.asarray(eager.detect_faces(size_group, output_type="numpy", box_format="xyxy",
                                               fit_to_image=True, min_face_size=20)).reshape(-1, 16)
        assert len(ours) and ours.shape == theirs.shape
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-3)
