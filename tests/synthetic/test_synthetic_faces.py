"""Generated media as MTCNN sees it. One MTCNN per process (faceswap's own), ~10 s here."""

import numpy as np
import pytest

from tfdeepfake.synthetic import faceswap
from tfdeepfake.synthetic.faceswap import detect_keypoints, make_swapped_video, swap_video, with_landmarks
from tfdeepfake.synthetic.photos import Photo, load_photo
from tfdeepfake.synthetic.videos import make_face_video, make_noface_video
from tfdeepfake.video.reader import read_frames, read_sampled_frames

SIZE = (320, 240)


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """A real clip of the astronaut and its fake (Grace Hopper's face), same render seed."""
    root = tmp_path_factory.mktemp("pair")
    target, source = load_photo("astronaut"), load_photo("grace_hopper")
    real = make_face_video(target, root / "real.mp4", 1.5, 10, SIZE, seed=11)
    fake = make_swapped_video(target, source, root / "fake.mp4", 1.5, 10, SIZE, seed=11)
    return real, fake


@pytest.mark.parametrize("name", ["astronaut", "grace_hopper"])
def test_stored_landmarks_match_mtcnn(name):
    photo = load_photo(name)
    box, kps = detect_keypoints(np.asarray(photo.image))
    np.testing.assert_allclose(kps, photo.keypoints, atol=3)
    np.testing.assert_allclose(box, photo.box, atol=4)


def test_detect_keypoints_builds_one_detector():
    detect_keypoints(np.zeros((64, 64, 3), np.uint8))
    first = faceswap._get_mtcnn()
    assert detect_keypoints(np.zeros((64, 64, 3), np.uint8)) is None
    assert faceswap._get_mtcnn() is first
    with pytest.raises(ValueError, match="RGB uint8"):
        detect_keypoints(np.zeros((64, 64), np.uint8))


def test_with_landmarks_fills_in_a_plain_photo():
    photo = load_photo("astronaut")
    plain = Photo("mine", photo.image)
    filled = with_landmarks(plain)
    np.testing.assert_allclose(filled.keypoints, photo.keypoints, atol=3)


def _detections(path, n=8):
    frames, idx, _ = read_sampled_frames(path, n)
    return idx, [detect_keypoints(f) for f in frames]


def test_mtcnn_finds_the_face_in_nearly_every_real_frame(pair):
    real, _ = pair
    idx, found = _detections(real.path)
    hits = [(i, f) for i, f in zip(idx, found) if f is not None]
    assert len(hits) >= 7
    for i, (box, kps) in hits:
        eye_dist = np.linalg.norm(real.keypoints[i, 1] - real.keypoints[i, 0])
        # Detected landmarks agree with where the render put them.
        assert np.linalg.norm(kps - real.keypoints[i], axis=1).mean() < 0.2 * eye_dist


def test_mtcnn_finds_the_face_in_nearly_every_fake_frame(pair):
    _, fake = pair
    idx, found = _detections(fake.path)
    assert sum(f is not None for f in found) >= 7


def test_swap_changes_the_face_region_and_keeps_the_background(pair):
    real, fake = pair
    idx = [0, 7, 14]
    a, _ = read_frames(real.path, idx)
    b, _ = read_frames(fake.path, idx)
    for t, ra, fb in zip(idx, a, b):
        diff = np.abs(ra.astype(int) - fb).mean(axis=2)
        x1, y1, x2, y2 = real.boxes[t].astype(int)
        face = diff[y1:y2, x1:x2].mean()
        # Background: everything outside a generous margin around the face box.
        pad = int(0.6 * (x2 - x1))
        outside = np.ones_like(diff, bool)
        outside[max(0, y1 - pad):y2 + pad, max(0, x1 - pad):x2 + pad] = False
        background = diff[outside].mean()
        assert face > 12, f"frame {t}: face barely changed ({face:.1f})"
        assert background < 2.0, f"frame {t}: background changed ({background:.1f})"


def test_noface_video_has_no_face(tmp_path):
    clip = make_noface_video(tmp_path / "n.mp4", 1.0, 10, SIZE, seed=3)
    _, found = _detections(clip.path, 5)
    assert all(f is None for f in found)


def test_swap_video_detects_faces_itself(pair, tmp_path):
    real, _ = pair
    short = tmp_path / "short.mp4"
    frames, _ = read_frames(real.path, [0, 1, 2])
    from tfdeepfake.synthetic.videos import write_video

    write_video(short, frames, 10)
    out = swap_video(short, load_photo("grace_hopper"), tmp_path / "swapped.mp4")
    swapped, _ = read_frames(out, [0, 1, 2])
    for ra, fb, kps in zip(frames, swapped, real.keypoints[:3]):
        x, y = kps[2].astype(int)  # the nose
        assert np.abs(ra[y - 8:y + 8, x - 8:x + 8].astype(int) - fb[y - 8:y + 8, x - 8:x + 8]).mean() > 8
