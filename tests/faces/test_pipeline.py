"""faces_from_frames / faces_of_video over a detector with fixed answers (no MTCNN)."""

import numpy as np
import pytest

from tests.media import write_blank_video
from tfdeepfake.faces.detector import BatchFaceDetector, DetectorConfig
from tfdeepfake.faces.pipeline import NoFaceError, faces_from_frames, faces_of_video
from tfdeepfake.faces.settings import FaceSettings


class BoxDetector(BatchFaceDetector):
    """Finds one face, the centre quarter of every image with a pixel above ``threshold``."""

    def __init__(self, config, threshold=0):
        self.config = config
        self.threshold = threshold
        self.calls = []

    def detect_rows(self, images):
        self.calls.append([image.shape for image in images])
        rows = []
        for i, image in enumerate(images):
            if image.max() > self.threshold:
                h, w = image.shape[:2]
                box = [w / 4, h / 4, 3 * w / 4, 3 * h / 4]
                rows.append([i, *box, 0.99, *np.full(5, w / 2), *np.full(5, h / 2)])
        return np.array(rows, dtype=np.float64).reshape(-1, 16)


def test_batches_and_mixed_sizes_keep_frame_order():
    config = DetectorConfig(batch_size=2, detect_short_side=0)
    detector = BoxDetector(config)
    frames = [np.full((40, 60, 3), 9, np.uint8)] * 3 + [np.full((80, 80, 3), 9, np.uint8),
                                                        np.zeros((40, 60, 3), np.uint8)]
    faces = detector.detect(frames)
    # Batches of two; the batch with two sizes goes one frame at a time.
    assert detector.calls == [[(40, 60, 3)] * 2, [(40, 60, 3)], [(80, 80, 3)], [(40, 60, 3)]]
    assert [len(f) for f in faces] == [1, 1, 1, 1, 0]
    np.testing.assert_allclose(faces[3][0].box, [20, 20, 60, 60])


def test_faces_from_frames_keeps_frames_with_faces():
    settings = FaceSettings(num_frames=3, size=32, detector=DetectorConfig(detect_short_side=0))
    frames = [np.full((64, 64, 3), v, np.uint8) for v in (100, 0, 200)]
    arrays = faces_from_frames(frames, np.array([2, 4, 6]), settings, BoxDetector(settings.detector))
    assert arrays["frame_indices"].tolist() == [2, 6]
    assert arrays["sampled_indices"].tolist() == [2, 4, 6]
    assert arrays["faces"].shape == (2, 32, 32, 3) and arrays["faces"].dtype == np.uint8
    assert arrays["faces"][1].min() == 200


def test_faces_of_video_without_faces_names_the_file(tmp_path):
    path = write_blank_video(tmp_path / "blank.mp4")
    settings = FaceSettings(num_frames=4)
    with pytest.raises(NoFaceError, match="blank.mp4: no face found in any of 4"):
        faces_of_video(path, settings, BoxDetector(settings.detector, threshold=255))
    arrays, attrs = faces_of_video(path, settings, BoxDetector(settings.detector))
    assert len(arrays["faces"]) == 4 and attrs["frame_count"] == 8
