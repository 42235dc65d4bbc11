import numpy as np
import pytest

from tfdeepfake.faces.crop import crop_face


def test_crop_takes_the_box_and_resizes():
    frame = np.zeros((100, 200, 3), np.uint8)
    frame[20:60, 50:90] = 255  # a white 40x40 "face"
    crop = crop_face(frame, np.array([50, 20, 90, 60]), size=32, margin=0.0)
    assert crop.shape == (32, 32, 3) and crop.dtype == np.uint8
    assert crop.min() == 255  # nothing but the box


def test_crop_outside_the_frame_is_padded_not_stretched():
    frame = np.zeros((50, 50, 3), np.uint8)
    frame[:, :10] = 200  # a bright strip at the left edge
    crop = crop_face(frame, np.array([-25, 0, 25, 50]), size=50, margin=0.0)
    # the box spans x in [-25, 25): 25 replicated columns, then the 10-px strip, then dark
    assert crop.shape == (50, 50, 3)
    assert crop[:, :33].mean() == pytest.approx(200, abs=1)
    assert crop[:, 37:].mean() < 10


def test_crop_rejects_non_rgb_frames():
    with pytest.raises(ValueError, match="RGB"):
        crop_face(np.zeros((10, 10), np.uint8), np.array([0, 0, 5, 5]), size=8)
