import numpy as np
import pytest
import tensorflow as tf

from tfdeepfake.faces.crop import crop_face
from tfdeepfake.models.face_parts import FaceLandmarks, KeypointSquare
from tfdeepfake.synthetic.photos import FRONTAL_PHOTOS, load_photo
from tfdeepfake.synthetic.self_blend import keypoints_in_crop

SIZE = 160


def _keypoints(eyes_y: float, mouth_y: float, x: float = 80.0) -> np.ndarray:
    """Five keypoints on a vertical line: both eyes at ``eyes_y``, both mouth corners at
    ``mouth_y`` (so the eye-to-mouth distance is their difference)."""
    return np.array([[[x - 20, eyes_y], [x + 20, eyes_y], [x, (eyes_y + mouth_y) / 2],
                      [x - 15, mouth_y], [x + 15, mouth_y]]], np.float32)


def test_mouth_square_enlarges_the_region_the_keypoints_place():
    rng = np.random.default_rng(0)
    face = rng.uniform(0, 255, (1, SIZE, SIZE, 3)).astype(np.float32)
    # d = 61.54 makes the square 1.3 d = 80 px wide, centred 0.1 d below the mouth: on
    # row 107, so it covers rows 67-146 and columns 40-119 exactly
    d = 80 / 1.3
    keypoints = _keypoints(107.0 - 1.1 * d, 107.0 - 0.1 * d)
    top, left = 67, 40
    out = KeypointSquare("mouth")([tf.constant(face), tf.constant(keypoints)]).numpy()[0]
    expected = tf.image.resize(face[:, top:top + 80, left:left + 80], (SIZE, SIZE)).numpy()[0]
    # the same half-pixel sampling; the outermost rows differ only in which pixels are clamped
    np.testing.assert_allclose(out[2:-2, 2:-2], expected[2:-2, 2:-2], atol=0.5)


def test_square_leaving_the_crop_replicates_its_border():
    face = np.tile(np.arange(SIZE, dtype=np.float32)[:, None, None], (1, SIZE, 3))[None]
    keypoints = _keypoints(90.0, 150.0)  # the square reaches far below the crop
    out = KeypointSquare("mouth")([tf.constant(face), tf.constant(keypoints)]).numpy()[0]
    assert out.max() == pytest.approx(SIZE - 1)  # never beyond the last row
    assert (out[-10:] == SIZE - 1).all()  # the last row, repeated
    assert np.all(np.diff(out[:, 80, 0]) >= 0)  # rows still in order


def test_degenerate_keypoints_give_a_bounded_square():
    face = np.random.default_rng(1).uniform(0, 255, (1, SIZE, SIZE, 3)).astype(np.float32)
    same_point = np.full((1, 5, 2), 80.0, np.float32)  # eyes on the mouth: no face geometry
    out = KeypointSquare("mouth")([tf.constant(face), tf.constant(same_point)]).numpy()
    assert np.isfinite(out).all() and out.shape == (1, SIZE, SIZE, 3)
    # the square is at least 1.3 * DISTANCE_RANGE[0] of the crop wide: not a single pixel
    assert out.std() > 0.25 * face.std()


def test_unknown_part_is_refused():
    with pytest.raises(ValueError, match="unknown face part"):
        KeypointSquare("ear")


@pytest.mark.parametrize("name", FRONTAL_PHOTOS)
def test_landmarks_match_mtcnn_on_a_real_face(name):
    photo = load_photo(name)
    crop = crop_face(np.asarray(photo.image), photo.box, SIZE)
    expected = keypoints_in_crop(photo.keypoints[None], photo.box[None], SIZE, 0.0)[0]
    found = FaceLandmarks()(tf.constant(crop[None].astype(np.float32))).numpy()[0]
    d = np.linalg.norm(expected[3:].mean(0) - expected[:2].mean(0))
    # MTCNN found these on the whole photo; ONet alone on the crop agrees within a tenth of d
    assert np.linalg.norm(found - expected, axis=1).max() < 0.1 * d
