"""The numpy + TFLite MTCNN against the mtcnn package (TensorFlow) it re-implements."""

import numpy as np
import pytest
import tensorflow as tf

pytest.importorskip("ai_edge_litert", reason="needs ai-edge-litert (requirements.txt)")

from tfdeepfake.faces.boxes import iou
from tfdeepfake.lite.mtcnn import (
    LiteMTCNN,
    area_resize,
    crop_and_resize,
    nms,
    pnet_boxes,
    scale_pyramid,
)


@pytest.fixture(scope="module")
def reference():
    from mtcnn import MTCNN

    return MTCNN()


@pytest.fixture(scope="module", params=["exact", "opencv"])
def lite(mtcnn_dir, request):
    return LiteMTCNN(mtcnn_dir, num_threads=2, pyramid_resize=request.param)


def test_area_resize_matches_tensorflow():
    rng = np.random.default_rng(0)
    image = rng.uniform(-1, 1, (97, 131, 3)).astype(np.float32)
    for scale in (0.6, 0.4254, 0.1075):
        h, w = (np.asarray(image.shape[:2]) * scale).astype(int)
        expected = tf.image.resize(image[None], (h, w), method="area").numpy()[0]
        np.testing.assert_allclose(area_resize(image, h, w), expected, atol=1e-5)


def test_crop_and_resize_matches_tensorflow():
    rng = np.random.default_rng(1)
    image = rng.uniform(-1, 1, (60, 80, 3)).astype(np.float32)
    boxes = np.array([[10, 5, 40, 35], [-8, -4, 20, 24], [70, 50, 95, 75], [3.3, 7.7, 50.2, 54.6]])
    ours = crop_and_resize(image, boxes, 24)
    norm = boxes[:, [1, 0, 3, 2]] / np.array([60, 80, 60, 80])
    expected = tf.image.crop_and_resize(image[None], norm.astype(np.float32), np.zeros(4, np.int32), (24, 24))
    np.testing.assert_allclose(ours, expected.numpy(), atol=1e-4)


def test_nms_and_proposals_match_package():
    from mtcnn.utils.bboxes import generate_bounding_box, smart_nms_from_bboxes

    rng = np.random.default_rng(2)
    xy = rng.uniform(0, 100, (40, 2))
    rows = np.column_stack([np.zeros(40), xy, xy + rng.uniform(10, 40, (40, 2)), rng.uniform(0, 1, 40)])
    for method, threshold in (("union", 0.5), ("min", 0.7)):
        expected = smart_nms_from_bboxes(rows.copy(), threshold, method=method, initial_sort=True)
        np.testing.assert_array_equal(nms(rows.copy(), threshold, method, sort=True), expected)
    reg = rng.normal(0, 0.1, (1, 9, 11, 4)).astype(np.float32)
    prob = rng.uniform(0, 1, (1, 9, 11, 2)).astype(np.float32)
    expected = generate_bounding_box(tf.constant(reg), tf.constant(prob), 0.6)
    np.testing.assert_allclose(pnet_boxes(reg[0], prob[0, :, :, 1], 0.6), expected, atol=1e-6)


def test_scale_pyramid_matches_package():
    from mtcnn.utils.images import build_scale_pyramid

    for h, w in ((512, 512), (600, 512), (720, 1280)):
        np.testing.assert_allclose(scale_pyramid(h, w), build_scale_pyramid(w, h, min_face_size=20, scale_factor=0.709))


@pytest.mark.parametrize("name", ["astronaut", "hopper", "pair"])
def test_detections_match_package(name, photos, reference, lite):
    image = photos[name]
    ref = reference.detect_faces(image, box_format="xyxy", output_type="numpy")
    ref = ref[np.argsort(-ref[:, 5])]
    ours = lite.detect(image)
    assert len(ours) == len(ref) >= 1
    assert len(ours) == (2 if name == "pair" else 1)
    for face, row in zip(ours, ref):
        assert face.box.dtype == np.float32 and face.keypoints.shape == (5, 2)
        assert iou(face.box, row[1:5]) > 0.9
        assert abs(face.confidence - row[5]) < 1e-3
        ref_keypoints = np.stack([row[6:11], row[11:16]], axis=1)
        assert np.abs(face.keypoints - ref_keypoints).max() < 2.0


def test_no_face(lite):
    from skimage import data

    assert lite.detect(data.coffee()) == []
    assert lite.detect(np.zeros((40, 40, 3), np.uint8)) == []
    with pytest.raises(ValueError, match="RGB"):
        lite.detect(np.zeros((40, 40), np.uint8))


def test_bad_pyramid_resize(mtcnn_dir):
    with pytest.raises(ValueError, match="exact"):
        LiteMTCNN(mtcnn_dir, pyramid_resize="cubic")


@pytest.mark.parametrize("name", ["astronaut", "pair"])
def test_refine_matches_package(name, photos, lite):
    # RNet + ONet on rough boxes (the faces moved by a tenth of their size): the TFLite
    # cascade gives the package's boxes and scores, so carried boxes confirm alike.
    from tfdeepfake.faces.detector import get_detector

    image = photos[name]
    package = get_detector()
    faces = lite.detect(image)
    rough = np.array([f.box + 0.1 * (f.box[2] - f.box[0]) * np.array([1, -1, 1, -1]) for f in faces])
    ours = lite.refine_rows(image, rough)
    ref = package.refine_rows([image], np.column_stack([np.zeros(len(rough)), rough]))
    assert len(ours) == len(ref) == len(faces)
    ours, ref = ours[np.argsort(-ours[:, 5])], ref[np.argsort(-ref[:, 5])]
    for a, b in zip(ours, ref):
        assert iou(a[1:5], b[1:5]) > 0.95 and abs(a[5] - b[5]) < 1e-3
        assert np.abs(a[6:] - b[6:]).max() < 2.0
    assert lite.refine_rows(image, np.empty((0, 4))).shape == (0, 16)
