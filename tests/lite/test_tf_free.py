"""tfdeepfake.lite and the stages it uses import neither TensorFlow nor h5py, and lite
chooses faces with the same code (and the same detection rescale) as extract and detect."""

import json
import subprocess
import sys

import numpy as np
import pytest

from tests.lite.tf_blocker import BLOCKER
from tfdeepfake.faces.detector import DetectorConfig
from tfdeepfake.faces.pipeline import faces_from_frames
from tfdeepfake.faces.settings import FaceSettings
from tfdeepfake.lite.mtcnn import LiteFaceDetector

IMPORTS = [
    "tfdeepfake.lite", "tfdeepfake.lite.detector", "tfdeepfake.lite.mtcnn",
    "tfdeepfake.lite.interpreter", "tfdeepfake.faces.pipeline", "tfdeepfake.faces.settings",
    "tfdeepfake.faces.detector", "tfdeepfake.faces.crop", "tfdeepfake.faces.boxes",
    "tfdeepfake.video", "tfdeepfake.scoring",
]


def test_lite_imports_without_tensorflow_or_h5py():
    script = BLOCKER + (
        "import importlib, json\n"
        f"for name in {IMPORTS!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps({'attempts': ATTEMPTS, 'loaded': loaded_blocked()}))\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out == {"attempts": [], "loaded": []}


def test_blocked_import_fails_loudly():
    # The check above can fail: code that needs TensorFlow makes the script exit non-zero.
    script = BLOCKER + "from tfdeepfake.faces.detector import FaceDetector\nFaceDetector()\n"
    proc = subprocess.run([sys.executable, "-c", script],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "is blocked" in proc.stderr


class FakeLiteMTCNN:
    """LiteMTCNN's interface with fixed detections, in the pixels of the image it is given."""

    min_face_size = 20

    def __init__(self, rows_by_call):
        self.rows_by_call = list(rows_by_call)
        self.shapes = []

    def detect_rows(self, image):
        self.shapes.append(image.shape)
        return np.array(self.rows_by_call.pop(0), dtype=np.float64).reshape(-1, 16)


def row(x1, y1, x2, y2, confidence):
    xs = np.linspace(x1, x2, 5)
    ys = np.linspace(y1, y2, 5)
    return [0, x1, y1, x2, y2, confidence, *xs, *ys]


def test_lite_face_detector_shrinks_and_maps_back_like_extract():
    # 1080 x 1920 frames are shrunk to a 270-px short side (scale 1/4) before detection.
    frames = [np.zeros((1080, 1920, 3), np.uint8) for _ in range(3)]
    for i, frame in enumerate(frames):
        frame[400:800, 800:1200] = 50 + 100 * i  # the face region, a different shade per frame
    fake = FakeLiteMTCNN([
        [row(200, 100, 300, 200, 0.99), row(10, 10, 30, 30, 0.5)],  # the second below 0.9
        [],
        [row(10, 10, 40, 40, 0.95), row(200, 100, 300, 200, 0.97)],  # largest is the second
    ])
    # Every frame through the cascade, no retry: this test is about the rescale.
    settings = FaceSettings(num_frames=3, margin=0.0, size=32,
                            detector=DetectorConfig(key_frame_interval=1, retry_short_sides=()))
    detector = LiteFaceDetector(fake, settings.detector)
    arrays = faces_from_frames(frames, np.array([0, 5, 10]), settings, detector)

    assert fake.shapes == [(270, 480, 3)] * 3
    assert arrays["frame_indices"].tolist() == [0, 10]  # frame 5 had no face
    np.testing.assert_allclose(arrays["boxes"], [[800, 400, 1200, 800]] * 2)
    np.testing.assert_allclose(arrays["confidences"], [0.99, 0.97], rtol=1e-6)
    assert arrays["keypoints"][0, 0].tolist() == [800, 400]  # keypoints scaled back too
    assert arrays["faces"].shape == (2, 32, 32, 3)
    assert arrays["faces"][0].min() == arrays["faces"][0].max() == 50  # cropped at full size
    assert arrays["faces"][1].min() == arrays["faces"][1].max() == 250


def test_lite_face_detector_refuses_other_min_face_size():
    fake = FakeLiteMTCNN([])
    fake.min_face_size = 12
    with pytest.raises(ValueError, match="min_face_size"):
        LiteFaceDetector(fake, DetectorConfig())


class FakeRefiningMTCNN(FakeLiteMTCNN):
    """Also confirms any box it is given, moved 2 px right, at confidence 0.95."""

    def __init__(self, rows_by_call):
        super().__init__(rows_by_call)
        self.refined = []

    def refine_rows(self, image, boxes):
        self.refined.append((image.shape, np.asarray(boxes).copy()))
        return np.array([row(x1 + 2, y1, x2 + 2, y2, 0.95) for x1, y1, x2, y2 in boxes]).reshape(-1, 16)


def test_lite_face_detector_tracks_with_the_shared_code():
    # Key frames 0 and 2 through the cascade at 270 px; frame 1 gets their interpolated
    # box, squared, in the shrunk frame's pixels, confirmed by RNet/ONet.
    frames = [np.zeros((1080, 1920, 3), np.uint8) for _ in range(3)]
    fake = FakeRefiningMTCNN([[row(200, 100, 300, 220, 0.99)], [row(220, 100, 320, 220, 0.99)]])
    settings = FaceSettings(num_frames=3, margin=0.0, size=32, detector=DetectorConfig(key_frame_interval=2))
    arrays = faces_from_frames(frames, np.array([0, 5, 10]), settings, LiteFaceDetector(fake, settings.detector))
    assert fake.shapes == [(270, 480, 3)] * 2
    ((shape, boxes),) = fake.refined
    assert shape == (270, 480, 3)
    np.testing.assert_allclose(boxes, [[200, 100, 320, 220]], atol=1e-3)
    assert arrays["frame_indices"].tolist() == [0, 5, 10]
    np.testing.assert_allclose(arrays["boxes"][1], [808, 400, 1288, 880], atol=1e-2)
