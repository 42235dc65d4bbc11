import numpy as np
import pytest

from tfdeepfake.faces.boxes import clip_box, expand_box, iou, select_face, select_faces


def test_iou_exact_values():
    assert iou([0, 0, 10, 10], [0, 0, 10, 10]) == 1.0
    assert iou([0, 0, 10, 10], [5, 0, 15, 10]) == pytest.approx(50 / 150)
    assert iou([0, 0, 10, 10], [20, 20, 30, 30]) == 0.0


def test_expand_box_square_and_margin():
    box = expand_box([10, 20, 30, 60], margin=0.5, square=True)
    # side = max(20, 40) = 40, grown by half -> 60, centred on (20, 40)
    np.testing.assert_allclose(box, [-10, 10, 50, 70])
    np.testing.assert_allclose(expand_box([10, 20, 30, 60], margin=0.0, square=False), [10, 20, 30, 60])
    # a negative margin crops inside the box: -0.5 keeps the central half of the side
    np.testing.assert_allclose(expand_box([10, 20, 30, 60], margin=-0.5, square=True), [10, 30, 30, 50])
    with pytest.raises(ValueError, match="margin"):
        expand_box([0, 0, 1, 1], margin=-1.0)


def test_clip_box():
    np.testing.assert_allclose(clip_box([-5, -5, 50, 50], width=40, height=30), [0, 0, 40, 30])


def test_select_face_policies():
    boxes = np.array([[0, 0, 10, 10], [0, 0, 50, 50], [0, 0, 20, 20]], dtype=float)
    confidences = np.array([0.99, 0.91, 0.95])
    assert select_face(boxes, confidences, "largest") == 1
    assert select_face(boxes, confidences, "confident") == 0
    assert select_face(np.zeros((0, 4)), np.zeros(0)) is None
    with pytest.raises(ValueError, match="largest, confident, consistent"):
        select_face(boxes, confidences, "nearest")


def test_consistent_policy_keeps_one_person_when_sizes_alternate():
    presenter = np.array([100, 100, 200, 220], float)  # 100 x 120 in every frame
    guest_big = np.array([400, 100, 505, 222], float)  # 105 x 122: larger in odd frames
    guest_small = np.array([400, 100, 495, 215], float)  # 95 x 115: smaller in even frames
    frames = [np.array([presenter, guest_big if i % 2 else guest_small]) for i in range(5)]
    confidences = [np.array([0.99, 0.95])] * 5
    largest = select_faces(frames, confidences, "largest")
    assert largest == [0, 1, 0, 1, 0]  # flips between the two people
    assert select_faces(frames, confidences, "consistent") == [0, 0, 0, 0, 0]
    assert select_faces([np.zeros((0, 4)), frames[0]], [np.zeros(0), confidences[0]], "consistent")[0] is None
