"""Self-blended pseudo-fakes: change only inside the mask's support, respect the blend ratio,
are reproducible from their seeds (per face, whatever the batch), keep shapes and dtypes,
and fall back to canonical keypoints when a face's are unusable."""

import numpy as np
import pytest

from tfdeepfake.faces.crop import crop_face
from tfdeepfake.synthetic.photos import load_photo
from tfdeepfake.synthetic.self_blend import (
    CANONICAL_KEYPOINTS,
    PairAugmentConfig,
    SelfBlendConfig,
    augment_pair,
    blend,
    blend_mask,
    face_outline,
    keypoints_in_crop,
    lower_face_source,
    self_blend,
    usable_keypoints,
)

SIZE = 64


@pytest.fixture(scope="module")
def faces():
    """Real face crops of the shipped photos, cut as the face cache cuts them, with their
    keypoints converted to crop pixels."""
    crops, points = [], []
    for name in ("astronaut", "grace_hopper"):
        photo = load_photo(name)
        crops.append(crop_face(photo.image, photo.box, SIZE, margin=0.33))
        points.append(keypoints_in_crop(photo.keypoints[None], photo.box[None], SIZE, 0.33)[0])
    return np.stack(crops * 2), np.stack(points * 2)


def test_keypoints_in_crop_follow_the_crop():
    # A 100-px box at (50, 20) with no margin: the crop is the box, scaled 0.64.
    box = np.float32([[50, 20, 150, 120]])
    kps = np.float32([[[75, 45], [125, 45], [100, 70], [80, 95], [120, 95]]])
    np.testing.assert_allclose(keypoints_in_crop(kps, box, SIZE, 0.0)[0],
                               (kps[0] - [50, 20]) * 0.64, atol=1e-5)
    # Margin 1.0 doubles the region about the centre: the box centre stays the crop centre.
    centre = keypoints_in_crop(np.float32([[[100, 70]] * 5]), box, SIZE, 1.0)[0, 0]
    np.testing.assert_allclose(centre, [32, 32], atol=1e-5)


def test_photo_keypoints_land_on_the_face(faces):
    crops, points = faces
    assert usable_keypoints(points, SIZE).all()
    # Eyes above the mouth, left eye left of the right one, all inside the crop.
    assert (points[:, 0, 0] < points[:, 1, 0]).all() and (points[:, :2, 1] < points[:, 3:, 1]).all()
    assert ((points > 0) & (points < SIZE)).all()


def test_output_differs_only_inside_the_masks_support(faces):
    crops, points = faces
    out = self_blend(crops, points, seed=0)
    changed = (out.images != crops).any(axis=-1)
    assert changed.any(axis=(1, 2)).all()  # every face was altered somewhere...
    assert not (changed & (out.masks <= 0)).any()  # ...and nowhere outside its mask
    # The mask covers the face (the nose) and leaves the crop's corners alone.
    nose = np.round(points[:, 2]).astype(int)
    assert (out.masks[np.arange(len(crops)), nose[:, 1], nose[:, 0]] > 0.9).all()
    assert (out.masks[:, :3, :3] == 0).all() and (out.masks[:, -3:, -3:] == 0).all()
    assert out.masks.max() == pytest.approx(1.0) and out.masks.min() == 0.0


def test_the_blend_ratio_is_respected(faces):
    crops, points = faces
    out = self_blend(crops, points, seed=5)
    ratios = set(SelfBlendConfig().blend_ratios)
    assert set(out.ratios.tolist()) <= ratios
    expected = blend(crops, out.sources, out.masks, out.ratios)
    np.testing.assert_array_equal(out.images, expected)
    # Where the mask is 1 the output is r * source + (1 - r) * face, exactly.
    for i in range(len(crops)):
        inside = out.masks[i] == 1.0
        want = np.rint(out.ratios[i] * out.sources[i][inside]
                       + (1 - out.ratios[i]) * crops[i][inside].astype(np.float32))
        np.testing.assert_array_equal(out.images[i][inside], np.clip(want, 0, 255))
    # One fixed ratio: the config is obeyed.
    half = self_blend(crops, points, seed=5, config=SelfBlendConfig(blend_ratios=(0.5,)))
    assert (half.ratios == 0.5).all()


def test_blend_by_hand():
    target = np.full((1, 2, 2, 3), 100, np.uint8)
    source = np.full((1, 2, 2, 3), 200.0, np.float32)
    mask = np.array([[[0.0, 1.0], [0.5, 1.0]]], np.float32)
    out = blend(target, source, mask, np.float32([0.5]))
    np.testing.assert_array_equal(out[0, ..., 0], [[100, 150], [125, 150]])
    assert out.dtype == np.uint8


def test_same_seed_same_output_whatever_the_batch(faces):
    crops, points = faces
    seeds = np.arange(len(crops)) + 100
    first = self_blend(crops, points, seeds)
    again = self_blend(crops, points, seeds)
    np.testing.assert_array_equal(first.images, again.images)
    # A face's pseudo-fake depends on its own seed, not on the faces around it.
    alone = self_blend(crops[2:3], points[2:3], seeds[2:3])
    np.testing.assert_array_equal(alone.images[0], first.images[2])
    other = self_blend(crops, points, seeds + 1)
    assert (other.images != first.images).any()
    # One integer for the batch is reproducible too.
    np.testing.assert_array_equal(self_blend(crops, points, 7).images,
                                  self_blend(crops, points, 7).images)


def test_shapes_dtypes_and_input_untouched(faces):
    crops, points = faces
    before = crops.copy()
    out = self_blend(crops, points, seed=1)
    assert out.images.shape == crops.shape and out.images.dtype == np.uint8
    assert out.masks.shape == crops.shape[:3] and out.masks.dtype == np.float32
    assert out.ratios.shape == (len(crops),) and out.sources.shape == crops.shape
    np.testing.assert_array_equal(crops, before)
    empty = self_blend(crops[:0], points[:0], seed=1)
    assert empty.images.shape == (0, SIZE, SIZE, 3)


def test_unusable_keypoints_fall_back_to_the_canonical_face(faces):
    crops, points = faces
    zeros = np.zeros_like(points)
    assert not usable_keypoints(zeros, SIZE).any()
    out = self_blend(crops, zeros, seed=3)
    assert out.canonical.all()
    canonical = self_blend(crops, np.broadcast_to(CANONICAL_KEYPOINTS * SIZE, points.shape), seed=3)
    np.testing.assert_array_equal(out.images, canonical.images)


def test_the_outline_grows_the_five_point_hull():
    kps = CANONICAL_KEYPOINTS[None] * 100
    points = face_outline(kps)
    # Forehead above the eyes, chin below the mouth, temples beyond the eyes.
    assert points[0, :, 1].min() < kps[0, :2, 1].min() - 15
    assert points[0, :, 1].max() > kps[0, 3:, 1].max() + 10
    assert points[0, :, 0].min() < kps[0, 0, 0] - 15 and points[0, :, 0].max() > kps[0, 1, 0] + 15
    rng = np.random.default_rng(0)
    mask = blend_mask(kps[0] * 0.64, 64, rng, SelfBlendConfig(outline_scale=(1, 1), elastic=0,
                                                              blur=(0, 0), outline_jitter=0))
    assert mask.max() == 1.0
    assert 0.2 < (mask > 0.5).mean() < 0.6  # the face, not the whole crop


def test_bad_inputs_are_refused(faces):
    crops, points = faces
    with pytest.raises(ValueError, match="uint8"):
        self_blend(crops.astype(np.float32), points, seed=0)
    with pytest.raises(ValueError, match="square crops"):
        self_blend(crops[:, :, :10], points, seed=0)
    with pytest.raises(ValueError, match="keypoint sets for 4 faces"):
        self_blend(crops, points[:2], seed=0)
    with pytest.raises(ValueError, match="3 seeds for 4 faces"):
        self_blend(crops, points, seed=[1, 2, 3])
    with pytest.raises(ValueError, match="blend_ratios"):
        SelfBlendConfig(blend_ratios=(0.0,))
    with pytest.raises(ValueError, match="unknown self-blend settings"):
        SelfBlendConfig.from_dict({"ratio": 1})
    config = SelfBlendConfig(blur=(0.02, 0.03))
    assert SelfBlendConfig.from_dict(config.to_dict()) == config


def test_a_pair_is_augmented_alike():
    """The same colour / JPEG / blur change on a face and its pseudo-fake: away from the
    mask (outside the blur's reach and the JPEG blocks it touches, and their neighbours) they stay equal, and
    the change is reproducible from the generator's seed."""
    import cv2

    photo = load_photo("astronaut")
    size = 160
    crop = crop_face(photo.image, photo.box, size, margin=0.33)[None]
    points = keypoints_in_crop(photo.keypoints[None], photo.box[None], size, 0.33)
    out = self_blend(crop, points, seed=2, config=SelfBlendConfig(outline_scale=(0.6, 0.6)))
    pair = np.stack([crop[0], out.images[0]])
    config = PairAugmentConfig(jpeg_probability=1.0, blur_probability=1.0)
    first = augment_pair(pair, np.random.default_rng(4), config)
    again = augment_pair(pair, np.random.default_rng(4), config)
    np.testing.assert_array_equal(first, again)
    assert first.shape == pair.shape and first.dtype == np.uint8
    assert (first != pair).any()
    reach = cv2.dilate((out.masks[0] > 0).astype(np.uint8), np.ones((13, 13), np.uint8))
    blocks = reach.reshape(size // 16, 16, size // 16, 16).max(axis=(1, 3))
    # One block more: the decoder's chroma upsampling reads across block edges.
    blocks = cv2.dilate(blocks.astype(np.uint8), np.ones((3, 3), np.uint8))
    near = np.kron(blocks, np.ones((16, 16), np.uint8)) > 0
    assert (~near).sum() > 1000
    np.testing.assert_array_equal(first[0][~near], first[1][~near])
    assert (first[0][near] != first[1][near]).any()


def test_lip_sync_imitations_change_the_lower_face_only(faces):
    """``mouth_probability=1``: every pseudo-fake redraws nose-to-chin (through a bottleneck)
    and leaves the eyes and forehead as they were."""
    crops, points = faces
    config = SelfBlendConfig(mouth_probability=1.0, blend_ratios=(1.0,))
    out = self_blend(crops, points, seed=3, config=config)
    for i in range(len(crops)):
        eyes_y = int(points[i, :2, 1].max())
        mouth_y = int(points[i, 3:, 1].mean())
        assert out.masks[i, : eyes_y - 2].max() == 0.0  # above the eyes: untouched
        assert out.masks[i, mouth_y].max() > 0.9  # the mouth row: replaced
        np.testing.assert_array_equal(out.images[i, : eyes_y - 2], crops[i, : eyes_y - 2])
        assert (out.images[i, mouth_y] != crops[i, mouth_y]).any()
    again = self_blend(crops, points, seed=3, config=config)
    np.testing.assert_array_equal(again.images, out.images)
    # The source is the face through a bottleneck: smoother than the face itself.
    mask, source = lower_face_source(crops[0], points[0], np.random.default_rng(0),
                                     SelfBlendConfig(mouth_bottleneck=(0.3, 0.3), source_shift=0,
                                                     channel_shift=0))
    assert np.abs(np.diff(source, axis=1)).mean() < np.abs(np.diff(crops[0].astype(float),
                                                                  axis=1)).mean()
    with pytest.raises(ValueError, match="mouth_probability"):
        SelfBlendConfig(mouth_probability=1.5)


def test_quality_changes_are_shared_by_the_pair():
    """Resolution drop and noise, when enabled, hit both images of a pair identically (two
    equal images stay equal) and make them differ from the input; off by default."""
    photo = load_photo("astronaut")
    crop = crop_face(photo.image, photo.box, 160, margin=0.33)
    pair = np.stack([crop, crop])
    config = PairAugmentConfig(rescale_probability=1.0, rescale_side=(40, 40),
                               noise_probability=1.0, jpeg_probability=0.0, channel_shift=0,
                               brightness=0, contrast=0, saturation=0, blur_probability=0)
    out = augment_pair(pair, np.random.default_rng(1), config)
    np.testing.assert_array_equal(out[0], out[1])
    assert np.abs(out[0].astype(int) - crop).mean() > 2
    # Enlarged from 40 px: far less fine detail than the 160 px crop had.
    assert np.abs(np.diff(out[0].astype(float), axis=0)).mean() < \
        np.abs(np.diff(crop.astype(float), axis=0)).mean() + 3  # the noise adds a little
    plain = PairAugmentConfig(jpeg_probability=0.0, channel_shift=0, brightness=0, contrast=0,
                              saturation=0, blur_probability=0)
    np.testing.assert_array_equal(augment_pair(pair, np.random.default_rng(1), plain), pair)
