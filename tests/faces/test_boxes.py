import numpy as np
import pytest

from tfdeepfake.faces.boxes import clip_box, expand_box, iou, select_face


def test_iou_exact_values():
    assert iou([0, 0, 10, 10], [0, 0, 10, 10]) == 1.0
    assert iou([0, 0, 10, 10], [5, 0, 15, 10]) == pytest.approx(50 / 150)
    assert iou([0, 0, 10, 10], [20, 20, 30, 30]) == 0.0


def test_expand_box_square_and_margin():
    box = expand_box([10, 20, 30, 60], margin=0.5, square=True)
    # side = max(20, 40) = 40, grown by half -> 60, centred on (20, 40)
    np.testing.assert_allclose(box, [-10, 10, 50, 70])
    np.testing.assert_allclose(expand_box([10, 20, 30, 60], margin=0.0, square=False), [10, 20, 30, 60])
    with pytest.raises(ValueError, match="margin"):
        expand_box([0, 0, 1, 1], margin=-0.1)


def test_clip_box():
    np.testing.assert_allclose(clip_box([-5, -5, 50, 50], width=40, height=30), [0, 0, 40, 30])


def test_select_face_policies():
    boxes = np.array([[0, 0, 10, 10], [0, 0, 50, 50], [0, 0, 20, 20]], dtype=float)
    confidences = np.array([0.99, 0.91, 0.95])
    assert select_face(boxes, confidences, "largest") == 1
    assert select_face(boxes, confidences, "confident") == 0
    assert select_face(np.zeros((0, 4)), np.zeros(0)) is None
    with pytest.raises(ValueError, match="largest, confident"):
        select_face(boxes, confidences, "nearest")
