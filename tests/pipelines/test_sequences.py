import logging
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest
import tensorflow as tf
from tensorflow import keras

from tests.media import toy_face_video
from tfdeepfake.pipelines.sequences import (
    SequenceArrays,
    balanced_indices,
    compute_frame_features,
    compute_sequence_features,
    frame_ordered_sequence,
    make_sequence_dataset,
    pad_to_length,
)




def toy_video(video_id, label, values, size=12):
    faces = np.stack([np.full((size, size, 3), v, dtype=np.uint8) for v in values]) if values else \
        np.zeros((0, size, size, 3), np.uint8)
    return toy_face_video(video_id, label, "train", faces, np.arange(len(values)), 5)


def mean_pixel_extractor(size=8):
    """Keras model: feature = [mean pixel, 1]; exact, so features can be checked by value."""
    image = keras.Input((size, size, 3))
    mean = keras.layers.GlobalAveragePooling2D()(image)
    mean = keras.layers.Lambda(lambda x: tf.reduce_mean(x, axis=-1, keepdims=True))(mean)
    ones = keras.layers.Lambda(lambda x: tf.ones_like(x))(mean)
    return keras.Model(image, keras.layers.Concatenate()([mean, ones]))


def test_pad_to_length_fewer_exact_more():
    items = np.arange(6, dtype=np.float32).reshape(3, 2) + 1
    padded, mask = pad_to_length(items, 5)
    assert padded.shape == (5, 2) and padded.dtype == np.float32
    np.testing.assert_array_equal(padded[:3], items)
    np.testing.assert_array_equal(padded[3:], 0)
    np.testing.assert_array_equal(mask, [True, True, True, False, False])
    padded, mask = pad_to_length(items, 3)
    np.testing.assert_array_equal(padded, items)
    assert mask.all()
    padded, mask = pad_to_length(items, 2)
    np.testing.assert_array_equal(padded, items[:2])
    assert mask.all()
    padded, mask = pad_to_length(np.zeros((0, 4, 4, 3), np.uint8), 3)
    assert padded.shape == (3, 4, 4, 3) and not mask.any()
    with pytest.raises(ValueError):
        pad_to_length(items, 0)


def test_compute_frame_features_batches_and_resizes():
    faces = np.stack([np.full((12, 12, 3), v, np.uint8) for v in (10, 20, 30, 40, 50)])
    features = compute_frame_features(faces, mean_pixel_extractor(8), batch_size=2)
    np.testing.assert_allclose(features, [[10, 1], [20, 1], [30, 1], [40, 1], [50, 1]], atol=1e-4)
    callable_features = compute_frame_features(faces, lambda b: b.reshape(len(b), -1)[:, :3], 3)
    assert callable_features.shape == (5, 3)


def test_compute_sequence_features_pads_masks_and_skips_faceless(caplog):
    videos = [toy_video("a", 0, [10, 20]), toy_video("none", 1, []), toy_video("b", 1, [5, 6, 7, 8, 9, 11])]
    with caplog.at_level(logging.WARNING, logger="tfdeepfake.pipelines.sequences"):
        arrays = compute_sequence_features(videos, mean_pixel_extractor(), num_frames=4, batch_size=3)
    assert "none" in caplog.text
    assert list(arrays.video_ids) == ["a", "b"]
    np.testing.assert_array_equal(arrays.labels, [0, 1])
    assert arrays.features.shape == (2, 4, 2)
    np.testing.assert_array_equal(arrays.mask, [[1, 1, 0, 0], [1, 1, 1, 1]])
    np.testing.assert_allclose(arrays.features[0, :, 0], [10, 20, 0, 0], atol=1e-4)
    np.testing.assert_allclose(arrays.features[1, :, 0], [5, 6, 7, 8], atol=1e-4)


def test_frame_ordered_sequence_sorts_by_frame_index():
    embeddings = np.array([[3.0], [1.0], [2.0]], np.float32)
    padded, mask = frame_ordered_sequence(embeddings, [30, 10, 20], num_frames=4)
    np.testing.assert_array_equal(padded[:, 0], [1, 2, 3, 0])
    np.testing.assert_array_equal(mask, [1, 1, 1, 0])
    padded, mask = frame_ordered_sequence(embeddings, [30, 10, 20], num_frames=2)
    np.testing.assert_array_equal(padded[:, 0], [1, 2])  # the earliest frames are kept
    with pytest.raises(ValueError, match="frame indices"):
        frame_ordered_sequence(embeddings, [0, 1], num_frames=4)


def _arrays(labels, num_frames=3, dim=2):
    n = len(labels)
    features = np.arange(n * num_frames * dim, dtype=np.float32).reshape(n, num_frames, dim)
    return SequenceArrays(features, np.ones((n, num_frames), bool), np.array(labels),
                          np.array([f"v{i}" for i in range(n)]))


def test_balanced_indices():
    labels = np.array([0, 1, 1, 1, 1, 1, 1, 1])
    indices = balanced_indices(labels, np.random.default_rng(0))
    assert len(indices) == 14
    assert (labels[indices] == 0).sum() == 7
    assert sorted(indices[labels[indices] == 1].tolist()) == list(range(1, 8))
    with pytest.raises(ValueError, match="absent"):
        balanced_indices(np.array([1, 1]), np.random.default_rng(0))


def test_sequence_dataset_balanced_training_and_ordered_eval():
    arrays = _arrays([0, 0, 1, 1, 1, 1, 1])
    train = make_sequence_dataset(arrays, batch_size=4, seed=0)
    epochs = []
    for _ in range(2):
        labels = np.concatenate([y.numpy() for _, y in train])
        assert len(labels) == 10 and labels.sum() == 5
        epochs.append(labels)
    assert not np.array_equal(epochs[0], epochs[1])
    inputs, _ = next(iter(train))
    assert inputs["features"].shape == (4, 3, 2) and inputs["mask"].dtype == tf.bool

    evaluation = make_sequence_dataset(arrays, batch_size=3, training=False)
    features = np.concatenate([x["features"].numpy() for x, _ in evaluation])
    np.testing.assert_array_equal(features, arrays.features)

    weighted = make_sequence_dataset(arrays, batch_size=7, balance="weights")
    _, labels, weights = next(iter(weighted))
    np.testing.assert_allclose(weights.numpy()[labels.numpy() == 0], 7 / 4)
    np.testing.assert_allclose(weights.numpy()[labels.numpy() == 1], 7 / 10)


def test_sequence_arrays_check_shapes():
    arrays = _arrays([0, 1])
    assert (len(arrays), arrays.num_frames, arrays.feature_dim) == (2, 3, 2)
    subset = arrays.subset([1])
    assert list(subset.video_ids) == ["v1"] and subset.labels.tolist() == [1]
    with pytest.raises(ValueError, match="mask"):
        SequenceArrays(arrays.features, arrays.mask[:, :2], arrays.labels, arrays.video_ids)
    with pytest.raises(ValueError, match="labels"):
        SequenceArrays(arrays.features, arrays.mask, arrays.labels[:1], arrays.video_ids)
