import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest
import tensorflow as tf

from tfdeepfake.pipelines.augment import AugmentConfig, augment_dataset, augment_face


@pytest.fixture
def face():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(24, 20, 3), dtype=np.uint8)


def test_keeps_shape_and_dtype_uint8(face):
    out = augment_face(face, tf.constant([1, 2]))
    assert out.dtype == tf.uint8
    assert out.shape == face.shape


def test_float_input_stays_float_in_0_255(face):
    out = augment_face(face.astype(np.float32), tf.constant([1, 2])).numpy()
    assert out.dtype == np.float32
    assert out.shape == face.shape
    assert out.min() >= 0.0 and out.max() <= 255.0


def test_same_seed_same_output_different_seed_different(face):
    a = augment_face(face, tf.constant([3, 4])).numpy()
    b = augment_face(face, tf.constant([3, 4])).numpy()
    c = augment_face(face, tf.constant([5, 6])).numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_all_off_is_identity(face):
    config = AugmentConfig(flip=False, max_brightness_delta=0.0, contrast_range=(1.0, 1.0),
                           jpeg_quality_range=None)
    np.testing.assert_array_equal(augment_face(face, tf.constant([0, 0]), config).numpy(), face)


def test_flip_only_flips_or_keeps(face):
    config = AugmentConfig(flip=True, max_brightness_delta=0.0, contrast_range=(1.0, 1.0),
                           jpeg_quality_range=None)
    outcomes = set()
    for s in range(20):
        out = augment_face(face, tf.constant([s, 7]), config).numpy()
        if np.array_equal(out, face):
            outcomes.add("kept")
        else:
            np.testing.assert_array_equal(out, face[:, ::-1])
            outcomes.add("flipped")
    assert outcomes == {"kept", "flipped"}


def test_jpeg_only_changes_pixels_a_little(face):
    smooth = np.tile(np.linspace(0, 255, 20, dtype=np.uint8)[None, :, None], (24, 1, 3))
    config = AugmentConfig(flip=False, max_brightness_delta=0.0, contrast_range=(1.0, 1.0),
                           jpeg_quality_range=(50, 60))
    out = augment_face(smooth, tf.constant([1, 1]), config).numpy()
    assert np.abs(out.astype(int) - smooth.astype(int)).mean() < 10


def _collect(dataset):
    return [image.numpy() for image, _ in dataset]


def test_augment_dataset_reproducible_and_new_each_epoch(face):
    images = np.stack([face] * 4)
    base = tf.data.Dataset.from_tensor_slices((images, np.arange(4)))
    first = augment_dataset(base, seed=11)
    again = augment_dataset(base, seed=11)
    epoch1, epoch2 = _collect(first), _collect(first)
    np.testing.assert_array_equal(np.stack(epoch1), np.stack(_collect(again)))
    assert not np.array_equal(np.stack(epoch1), np.stack(epoch2))
    labels = [int(label) for _, label in first]
    assert labels == [0, 1, 2, 3]


def test_config_validation():
    with pytest.raises(ValueError):
        AugmentConfig(contrast_range=(1.2, 0.8))
    with pytest.raises(ValueError):
        AugmentConfig(jpeg_quality_range=(90, 20))
    with pytest.raises(ValueError):
        AugmentConfig(max_brightness_delta=-0.1)
