"""Photos, writers and renders; nothing here runs MTCNN (see test_synthetic_faces.py)."""

import json
import subprocess

import numpy as np
import pytest

from tfdeepfake.synthetic.dataset import make_identities, make_synthetic_dataset
from tfdeepfake.synthetic.faceswap import face_mask, match_colours, swap_face
from tfdeepfake.synthetic.photos import (
    PHOTO_NAMES,
    flip_keypoints,
    load_photo,
    make_identity,
    shipped_photos,
)
from tfdeepfake.synthetic.videos import (
    CODECS,
    ffmpeg_exe,
    make_face_video,
    make_noface_video,
    render_face_frames,
    smooth_motion,
    write_video,
)
from tfdeepfake.video.reader import probe_video, read_frames, read_sampled_frames

SMALL = (160, 120)


# --- photos ------------------------------------------------------------------------------


def test_shipped_photos_are_rgb_faces_with_landmarks():
    photos = shipped_photos()
    assert [p.name for p in photos] == list(PHOTO_NAMES)
    for p in photos:
        assert p.image.dtype == np.uint8 and p.image.ndim == 3 and p.image.shape[2] == 3
        assert not p.image.flags.writeable
        x1, y1, x2, y2 = p.box
        assert (p.keypoints[:, 0] > x1).all() and (p.keypoints[:, 0] < x2).all()
        assert (p.keypoints[:, 1] > y1).all() and (p.keypoints[:, 1] < y2).all()
        assert p.keypoints[0, 0] < p.keypoints[1, 0]  # left eye is image-left
    assert [p.name for p in shipped_photos(frontal_only=True)] == ["astronaut", "grace_hopper"]
    with pytest.raises(ValueError, match="valid names"):
        load_photo("mona_lisa")


def test_flip_keypoints_keeps_left_on_the_left():
    kps = load_photo("astronaut").keypoints
    flipped = flip_keypoints(kps, 512)
    assert flipped[0, 0] < flipped[1, 0] and flipped[3, 0] < flipped[4, 0]
    np.testing.assert_allclose(flip_keypoints(flipped, 512), kps)


def test_make_identity_is_seeded_and_moves_landmarks_with_pixels():
    photo = load_photo("astronaut")
    a = make_identity(photo, np.random.default_rng(3), name="x")
    b = make_identity(photo, np.random.default_rng(3), name="x")
    c = make_identity(photo, np.random.default_rng(4), name="x")
    assert np.array_equal(a.image, b.image) and np.array_equal(a.keypoints, b.keypoints)
    assert not np.array_equal(a.image, c.image)
    assert a.keypoints[0, 0] < a.keypoints[1, 0]
    assert a.image.shape == photo.image.shape


def test_identities_cover_both_photos():
    ids = make_identities(6, seed=0)
    assert [i.name for i in ids[:2]] == ["astronaut", "grace_hopper"]
    assert len({i.name for i in ids}) == 6
    assert {i.name.split("-")[0] for i in ids} == {"astronaut", "grace_hopper"}


# --- writing ------------------------------------------------------------------------------


@pytest.mark.parametrize("codec, suffix", [("h264", ".mp4"), ("mp4v", ".mp4"), ("mjpg", ".avi"), ("ffv1", ".avi")])
def test_write_video_round_trip(tmp_path, codec, suffix):
    rng = np.random.default_rng(0)
    frames = [np.full((48, 64, 3), (40 * i, 100, 200 - 20 * i), np.uint8) for i in range(8)]
    frames = [np.clip(f + rng.integers(0, 3, f.shape), 0, 255).astype(np.uint8) for f in frames]
    path = write_video(tmp_path / f"v{suffix}", iter(frames), 12, codec)
    info = probe_video(path)
    assert (info.frame_count, info.width, info.height) == (8, 64, 48)
    assert info.fps == pytest.approx(12, rel=1e-3)
    got, idx = read_frames(path, np.arange(8))
    tolerance = 1 if codec == "ffv1" else 12
    for a, b in zip(got, frames):
        assert np.abs(a.astype(int) - b).mean() < tolerance


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(codec="vp9"), ValueError, "valid codecs: h264, mp4v, mjpg, ffv1"),
        (dict(codec="mjpg", display_rotation=90), ValueError, "needs an ffmpeg codec"),
        (dict(display_rotation=45), ValueError, "multiple of 90"),
        (dict(fps=0), ValueError, "fps"),
    ],
)
def test_write_video_bad_arguments(tmp_path, kwargs, error, message):
    args = dict(fps=10, codec="h264") | kwargs
    with pytest.raises(error, match=message):
        write_video(tmp_path / "x.mp4", [np.zeros((8, 8, 3), np.uint8)], **args)


def test_write_video_checks_frames(tmp_path):
    with pytest.raises(ValueError, match="no frames"):
        write_video(tmp_path / "a.mp4", [], 10)
    with pytest.raises(ValueError, match="even width and height"):
        write_video(tmp_path / "b.mp4", [np.zeros((9, 8, 3), np.uint8)], 10)
    with pytest.raises(ValueError, match="frame 1 has shape"):
        write_video(tmp_path / "c.mp4", [np.zeros((8, 8, 3), np.uint8), np.zeros((8, 10, 3), np.uint8)], 10)
    assert CODECS == ("h264", "mp4v", "mjpg", "ffv1")


def test_display_rotation_is_what_ffmpeg_shows(tmp_path):
    stored = np.zeros((48, 64, 3), np.uint8)
    stored[:16, :16] = (255, 0, 0)
    path = write_video(tmp_path / "r.mp4", [stored] * 3, 10, "h264", display_rotation=90)
    shown = subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-i", str(path), "-frames:v", "1",
                            "-f", "rawvideo", "-pix_fmt", "rgb24", "-"], capture_output=True, check=True).stdout
    shown = np.frombuffer(shown, np.uint8).reshape(64, 48, 3)
    # Turned 90 degrees clockwise: the red corner moves from top-left to top-right.
    assert shown[:16, -16:, 0].mean() > 200 and shown[-16:, :16, 0].mean() < 60


# --- rendering ----------------------------------------------------------------------------


def test_smooth_motion_is_bounded_and_smooth():
    m = smooth_motion(np.random.default_rng(0), 300, 30, dims=3)
    assert m.shape == (300, 3) and np.abs(m).max() <= 1
    assert np.abs(np.diff(m, axis=0)).max() < 0.1


def test_render_keeps_the_face_inside_the_frame():
    frames, boxes, kps = render_face_frames(load_photo("grace_hopper"), 30, 15, SMALL, np.random.default_rng(1))
    frames = list(frames)
    assert len(frames) == 30 and frames[0].shape == (120, 160, 3) and frames[0].dtype == np.uint8
    assert boxes.shape == (30, 4) and kps.shape == (30, 5, 2)
    assert (kps[..., 0] > 0).all() and (kps[..., 0] < 160).all()
    assert (kps[..., 1] > 0).all() and (kps[..., 1] < 120).all()
    # It moves.
    assert np.abs(kps[-1] - kps[0]).max() > 1


def test_face_video_is_deterministic_by_seed(tmp_path):
    photo = load_photo("astronaut")
    a = make_face_video(photo, tmp_path / "a.mp4", 1.0, 10, SMALL, seed=5)
    b = make_face_video(photo, tmp_path / "b.mp4", 1.0, 10, SMALL, seed=5)
    c = make_face_video(photo, tmp_path / "c.mp4", 1.0, 10, SMALL, seed=6)
    assert a.path.read_bytes() == b.path.read_bytes()
    assert a.path.read_bytes() != c.path.read_bytes()
    np.testing.assert_array_equal(a.keypoints, b.keypoints)
    assert a.num_frames == probe_video(a.path).frame_count == 10


def test_noface_video(tmp_path):
    clip = make_noface_video(tmp_path / "n.mp4", 1.0, 10, SMALL, seed=1)
    frames, idx, info = read_sampled_frames(clip.path, 5)
    assert len(frames) == 5 and clip.boxes is None
    assert np.std(frames[0]) > 5  # textured, not flat


# --- swapping (geometry and blending, with known keypoints) ------------------------------


def test_face_mask_shapes():
    kps = load_photo("astronaut").keypoints
    for kind in ("ellipse", "hull"):
        mask = face_mask(kps, (512, 512), kind)
        assert mask.dtype == np.uint8 and set(np.unique(mask)) == {0, 255}
        assert all(mask[int(y), int(x)] == 255 for x, y in kps)
    ellipse = face_mask(kps, (512, 512))
    assert (ellipse > 0).sum() > (face_mask(kps, (512, 512), "hull") > 0).sum()
    with pytest.raises(ValueError, match="valid shapes: ellipse, hull"):
        face_mask(kps, (512, 512), "square")


def test_match_colours_moves_statistics_inside_the_mask():
    rng = np.random.default_rng(0)
    src = rng.integers(0, 120, (40, 40, 3)).astype(np.uint8)
    tgt = rng.integers(100, 255, (40, 40, 3)).astype(np.uint8)
    mask = np.zeros((40, 40), np.uint8)
    mask[10:30, 10:30] = 255
    out = match_colours(src, tgt, mask)
    sel = mask > 0
    assert np.abs(out[sel].mean(0) - tgt[sel].mean(0)).max() < 6


def test_swap_face_changes_the_face_and_nothing_else():
    target_photo, source_photo = load_photo("astronaut"), load_photo("grace_hopper")
    frames, boxes, kps = render_face_frames(target_photo, 3, 15, (320, 240), np.random.default_rng(2))
    frame = next(frames)
    out, mask = swap_face(frame, kps[0], np.asarray(source_photo.image), source_photo.keypoints)
    inside = mask > 0
    diff = np.abs(out.astype(int) - frame).sum(axis=2)
    assert diff[inside].mean() > 15
    assert diff[~inside].max() == 0
    # The manipulated region covers the inner face and not much more.
    x1, y1, x2, y2 = boxes[0].astype(int)
    assert inside[y1:y2, x1:x2].mean() > 0.4
    assert inside.sum() < 2.5 * (x2 - x1) * (y2 - y1)
    ellipse = face_mask(kps[0], frame.shape[:2])
    assert (inside | (ellipse == 0)).all()


def test_swap_face_near_the_border_does_not_crash():
    photo = load_photo("astronaut")
    img = np.asarray(photo.image)
    shifted = photo.keypoints - photo.keypoints.mean(0) + [3, 3]  # face centred on the corner
    out, mask = swap_face(img, shifted, img, photo.keypoints)
    assert out.shape == img.shape


# --- dataset ------------------------------------------------------------------------------


def test_dataset_layout_and_determinism(tmp_path):
    kwargs = dict(num_real=2, num_fake=2, seconds=0.6, fps=10, size=SMALL)
    a = make_synthetic_dataset(tmp_path / "a", seed=7, **kwargs)
    b = make_synthetic_dataset(tmp_path / "b", seed=7, **kwargs)
    c = make_synthetic_dataset(tmp_path / "c", seed=8, num_real=1, num_fake=1, seconds=0.6, fps=10, size=SMALL)
    names = sorted(p.relative_to(a).as_posix() for p in a.rglob("*.mp4"))
    assert names == ["fake/fake_000.mp4", "fake/fake_001.mp4", "real/real_000.mp4", "real/real_001.mp4"]
    for name in names:
        assert (a / name).read_bytes() == (b / name).read_bytes()
    assert (a / "real/real_000.mp4").read_bytes() != (c / "real/real_000.mp4").read_bytes()
    meta = json.loads((a / "synthetic.json").read_text())
    assert meta["settings"]["seed"] == 7 and "opencv-python-headless" in meta["versions"]
    by_path = {v["path"]: v for v in meta["videos"]}
    assert by_path["real/real_000.mp4"]["label"] == 0 and by_path["real/real_000.mp4"]["source_identity"] is None
    fake = by_path["fake/fake_000.mp4"]
    assert fake["label"] == 1
    assert fake["identity"].split("-")[0] != fake["source_identity"].split("-")[0]
    assert probe_video(a / "fake/fake_001.mp4").frame_count == 6
