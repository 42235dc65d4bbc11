"""Key frames, carried boxes and retries (faces/tracking.py) over a detector whose answers
are known: a "face" is a bright square, which the cascade finds when it is at least
``min_side`` pixels in the image it sees, and RNet/ONet confirm when a box overlaps it."""

import json
from dataclasses import replace

import cv2
import numpy as np
import pytest

from tfdeepfake.faces.boxes import iou
from tfdeepfake.faces.detector import BatchFaceDetector, DetectorConfig
from tfdeepfake.faces.pipeline import faces_from_frames
from tfdeepfake.faces.settings import FaceSettings
from tfdeepfake.faces.tracking import (
    TrackStats,
    key_frames,
    match_faces,
    predict_boxes,
    square_boxes,
    track_faces,
)


def square_of(image):
    """Bounding box of the pixels above 128, or None."""
    ys, xs = np.nonzero(image[..., 0] > 128)
    if not len(xs):
        return None
    return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], dtype=np.float64)


def row(index, box, confidence=0.99):
    x1, y1, x2, y2 = box
    return [index, x1, y1, x2, y2, confidence, *np.full(5, (x1 + x2) / 2), *np.full(5, (y1 + y2) / 2)]


class SquareDetector(BatchFaceDetector):
    can_refine = True

    def __init__(self, config, min_side=0, refines=True):
        self.config = config
        self.min_side = min_side
        self.can_refine = refines
        self.cascades = []  # per call: (image shape, count)
        self.refined = 0  # images refine_rows was given

    def detect_rows(self, images):
        self.cascades.append((images[0].shape, len(images)))
        rows = []
        for i, image in enumerate(images):
            box = square_of(image)
            if box is not None and box[2] - box[0] >= self.min_side:
                rows.append(row(i, box))
        return np.array(rows, dtype=np.float64).reshape(-1, 16)

    def refine_rows(self, images, rows):
        self.refined += len(images)
        found = []
        for r in rows:
            box = square_of(images[int(r[0])])
            if box is not None and box[2] - box[0] >= self.min_side and iou(r[1:5], box) > 0.3:
                found.append(row(r[0], box, 0.98))
        return np.array(found, dtype=np.float64).reshape(-1, 16)


def moving_square(count, shape=(120, 160), side=30, step=3, absent=()):
    frames = []
    for t in range(count):
        frame = np.zeros((*shape, 3), np.uint8)
        if t not in absent:
            x = 10 + step * t
            frame[40:40 + side, x:x + side] = 200
        frames.append(frame)
    return frames


def config(**kw):
    return DetectorConfig(**{"detect_short_side": 0, "retry_short_sides": (), **kw})


def test_key_frames_include_the_last():
    assert key_frames(25, 4) == [0, 4, 8, 12, 16, 20, 24]
    assert key_frames(10, 4) == [0, 4, 8, 9]
    assert key_frames(3, 1) == [0, 1, 2]
    assert key_frames(0, 4) == []


def test_match_and_predict_interpolate_the_same_face():
    a = np.array([[0, 0, 10, 10], [100, 100, 120, 120]], float)
    b = np.array([[6, 0, 16, 10], [300, 300, 310, 310]], float)
    assert match_faces(a, b) == [(0, 0)]  # the second faces are too far apart to be one
    predicted, matched = predict_boxes(a, b, 0.5)
    np.testing.assert_allclose(predicted[0], [3, 0, 13, 10])
    assert len(predicted) == 3 and matched.tolist() == [True, False, False]  # unmatched stay put
    np.testing.assert_allclose(square_boxes([[0, 0, 10, 20]]), [[-5, 0, 15, 20]])


def test_cascade_runs_on_key_frames_only_and_boxes_follow_the_face():
    frames = moving_square(9)
    detector = SquareDetector(config(key_frame_interval=4))
    stats = TrackStats()
    faces = track_faces(detector, frames, stats)
    assert sum(count for _, count in detector.cascades) == 3  # frames 0, 4, 8
    assert (stats.key_frames, stats.confirmed, stats.redetected) == (3, 6, 0)
    for t, found in enumerate(faces):
        np.testing.assert_allclose(found[0].box, [10 + 3 * t, 40, 40 + 3 * t, 70])


def test_a_frame_the_boxes_miss_gets_the_full_cascade():
    # The square jumps away in frame 2 and back: the carried box does not confirm there.
    frames = moving_square(5)
    frames[2][:] = 0
    frames[2][60:90, 120:150] = 200
    detector = SquareDetector(config(key_frame_interval=4))
    stats = TrackStats()
    faces = track_faces(detector, frames, stats)
    assert stats.redetected == 1 and stats.confirmed == 2
    np.testing.assert_allclose(faces[2][0].box, [120, 60, 150, 90])


def test_a_lost_face_sends_the_frame_to_the_cascade_even_if_another_confirms():
    # Two faces in every frame; in frame 1 the big one has moved where no carried box is:
    # confirming only the small one would hand the policy the wrong face.
    frames = []
    for t in range(3):
        frame = np.zeros((120, 240, 3), np.uint8)
        frame[10:30, 10:30] = 200  # small, still
        x = 150 if t == 1 else 100
        frame[50:100, x:x + 50] = 200
        frames.append(frame)

    class Labelled(SquareDetector):
        def detect_rows(self, images):
            self.cascades.append((images[0].shape, len(images)))
            found = [row(i, box) for i, image in enumerate(images) for box in squares(image)]
            return np.array(found).reshape(-1, 16)

        def refine_rows(self, images, rows):
            self.refined += len(images)
            return np.array([row(r[0], box, 0.98) for r in rows for box in squares(images[int(r[0])])
                             if iou(r[1:5], box) > 0.3]).reshape(-1, 16)

    detector = Labelled(config(key_frame_interval=2))
    stats = TrackStats()
    faces = track_faces(detector, frames, stats)
    assert stats.redetected == 1 and stats.confirmed == 0
    assert sorted(tuple(f.box) for f in faces[1]) == [(10, 10, 30, 30), (150, 50, 200, 100)]


def squares(image):
    """Boxes of the separate bright squares in an image (rows of blocks, left to right)."""
    count, _, stats, _ = cv2.connectedComponentsWithStats((image[..., 0] > 128).astype(np.uint8))
    return [np.array([x, y, x + w, y + h], float) for x, y, w, h, _ in stats[1:count]]


def test_retries_at_higher_resolution_find_what_shrinking_hid():
    # 30-px squares in 480 x 640 frames; at a 120-px short side they are 7.5 px, under the
    # detector's 12 px; at 240 px they are 15 px.
    frames = moving_square(6, shape=(480, 640), side=30)
    cfg = DetectorConfig(detect_short_side=120, retry_short_sides=(240, 0), key_frame_interval=3)
    detector = SquareDetector(cfg, min_side=12)
    stats = TrackStats()
    faces = track_faces(detector, frames, stats)
    assert all(faces)
    assert stats.retried == {240: 3} and stats.found_by_retry == {240: 3}  # key frames 0, 3, 5
    assert stats.confirmed == 3  # the others confirmed at 240 too, with no cascade
    assert [shape for shape, _ in detector.cascades] == [(120, 160, 3), (240, 320, 3)]
    np.testing.assert_allclose(faces[1][0].box, [13, 40, 43, 70], atol=2)  # full-res pixels


def test_no_face_anywhere_costs_every_retry_once():
    frames = [np.zeros((480, 640, 3), np.uint8)] * 5
    cfg = DetectorConfig(detect_short_side=120, retry_short_sides=(240, 480, 0), key_frame_interval=2)
    detector = SquareDetector(cfg)
    stats = TrackStats()
    assert track_faces(detector, frames, stats) == [[]] * 5
    # 480 is the full size here, so the retry at 0 is skipped as already done.
    assert stats.retried == {240: 5, 480: 5}
    assert sum(count for _, count in detector.cascades) == 15


def test_without_refinement_or_with_mixed_sizes_every_frame_gets_the_cascade():
    frames = moving_square(5)
    detector = SquareDetector(config(key_frame_interval=4), refines=False)
    assert all(track_faces(detector, frames))
    assert sum(count for _, count in detector.cascades) == 5 and detector.refined == 0
    mixed = moving_square(4) + moving_square(1, shape=(100, 100))
    detector = SquareDetector(config(key_frame_interval=4))
    assert all(track_faces(detector, mixed))
    assert sum(count for _, count in detector.cascades) == 5


def test_recall_is_never_below_full_resolution_detection():
    # Squares of several sizes, some frames empty: every frame where the cascade at full
    # resolution finds the square keeps a face through key frames, shrinking and retries.
    rng = np.random.default_rng(0)
    lost_without_retry = 0
    for trial in range(20):
        count = int(rng.integers(2, 12))
        absent = set(rng.choice(count, size=int(rng.integers(0, count)), replace=False).tolist())
        frames = moving_square(count, shape=(240, 320), side=int(rng.integers(8, 40)),
                               step=int(rng.integers(0, 12)), absent=absent)
        cfg = DetectorConfig(detect_short_side=int(rng.choice([60, 120, 240])), retry_short_sides=(0,),
                             key_frame_interval=int(rng.integers(1, 6)))
        full = SquareDetector(config(), min_side=12).detect(frames)
        tracked = track_faces(SquareDetector(cfg, min_side=12), frames)
        lost = [i for i, (t, f) in enumerate(zip(tracked, full)) if f and not t]
        assert not lost, (trial, cfg, lost)
        plain = track_faces(SquareDetector(replace(cfg, retry_short_sides=()), min_side=12), frames)
        lost_without_retry += sum(1 for p, f in zip(plain, full) if f and not p)
    assert lost_without_retry > 0  # the trials include faces that shrinking hides


def test_faces_from_frames_goes_through_tracking():
    frames = moving_square(9)
    settings = FaceSettings(num_frames=9, size=32, detector=config(key_frame_interval=4))
    detector = SquareDetector(settings.detector)
    arrays = faces_from_frames(frames, np.arange(9) * 10, settings, detector)
    assert arrays["frame_indices"].tolist() == list(range(0, 90, 10))
    assert sum(count for _, count in detector.cascades) == 3


def test_settings_record_new_keys_and_read_legacy_records():
    default = DetectorConfig()
    saved = json.loads(json.dumps(default.to_dict()))
    assert saved["key_frame_interval"] == 4 and saved["retry_short_sides"] == [540, 0]
    assert DetectorConfig.from_dict(saved) == default
    # A record written before these settings existed meant every frame, no retry; one
    # written now with those values is the same record, so such caches still match.
    legacy = {"min_confidence": 0.9, "detect_short_side": 270, "min_face_size": 20, "batch_size": 32}
    old = DetectorConfig.from_dict(legacy)
    assert (old.key_frame_interval, old.retry_short_sides) == (1, ())
    assert old.to_dict() == legacy
    # A partial config (a file naming a few keys) gets the defaults.
    assert DetectorConfig.from_dict({"min_confidence": 0.8}).key_frame_interval == 4
    assert FaceSettings.from_dict(FaceSettings().to_dict()) == FaceSettings()
    with pytest.raises(ValueError, match="key_frame_interval"):
        DetectorConfig(key_frame_interval=0)
    with pytest.raises(ValueError, match="retry_short_sides"):
        DetectorConfig(retry_short_sides=(-1,))
