"""Heat maps through the Detector interface: Grad-CAM for xception, occlusion for triplet,
none for lstm (tiny networks standing in for the real ones)."""

import numpy as np
import pytest

from tests.export.export_helpers import (
    make_faces,
    tiny_facenet,
    tiny_lstm_detector,
    tiny_xception_detector,
    write_triplet_model,
)
from tfdeepfake.faces.settings import FaceSettings

SETTINGS = FaceSettings(num_frames=4, size=64)


def _check_maps(maps, faces):
    assert maps.shape == faces.shape[:3] and maps.dtype == np.float32
    assert np.isfinite(maps).all() and maps.min() >= 0.0 and maps.max() <= 1.0


def test_xception_heat_maps_are_grad_cam_at_the_faces_size(tmp_path):
    from tfdeepfake.models.gradcam import grad_cam
    from tfdeepfake.pipelines.frames import resize_faces

    detector = tiny_xception_detector(tmp_path / "x", SETTINGS, input_size=96)
    faces = make_faces(3, size=80)
    maps = detector.heat_map(faces)
    assert detector.heat_map_kind == "Grad-CAM"
    _check_maps(maps, faces)
    direct = grad_cam(detector.model, np.asarray(resize_faces(faces, 96)), output_size=(80, 80))
    np.testing.assert_allclose(maps, direct, atol=1e-5)


def test_triplet_heat_maps_are_occlusion_maps_of_the_head_output(tmp_path):
    from tfdeepfake.detectors import load_detector
    from tfdeepfake.models.occlusion import occlusion_maps

    embedder = tiny_facenet()
    faces = make_faces(6)
    model = write_triplet_model(tmp_path / "t", embedder, faces, np.array([0, 1] * 3),
                                settings=FaceSettings(num_frames=4))
    detector = load_detector(model, embedder=embedder)
    assert detector.heat_map_kind == "occlusion"
    maps = detector.heat_map(faces[:2], "sgd")
    _check_maps(maps, faces[:2])
    assert (maps.max(axis=(1, 2)) == pytest.approx(1.0))  # the head's output moves somewhere
    expected = occlusion_maps(faces[:2], lambda x: detector.head_outputs(embedder.embed(x)))
    np.testing.assert_allclose(maps, expected, atol=1e-5)
    with pytest.raises(ValueError, match="no classifier 'svm'"):
        detector.heat_map(faces[:1], "svm")


def test_video_level_detectors_offer_no_heat_maps(tmp_path):
    lstm = tiny_lstm_detector(tmp_path / "l", SETTINGS)
    assert lstm.heat_map_kind is None
    with pytest.raises(NotImplementedError, match="lstm offers no heat maps"):
        lstm.heat_map(make_faces(1, size=64))
