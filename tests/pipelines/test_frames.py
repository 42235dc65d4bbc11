import logging
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest

from tests.media import toy_face_video
from tfdeepfake.pipelines.frames import (
    count_frames_by_label,
    make_frame_dataset,
    resize_face,
    resize_faces,
    steps_per_epoch,
)




def toy_video(video_id, label, num_faces, size=8, split="train", value=None):
    fill = (label * 200 + 20) if value is None else value
    faces = np.full((num_faces, size, size, 3), fill, dtype=np.uint8)
    return toy_face_video(video_id, label, split, faces, np.arange(num_faces), max(num_faces, 4))


@pytest.fixture
def imbalanced():
    # 2 real videos x 3 frames, 4 fake videos x 4 frames: 6 real vs 16 fake frames.
    return [toy_video(f"r{i}", 0, 3) for i in range(2)] + [toy_video(f"f{i}", 1, 4) for i in range(4)]


def _labels(dataset):
    return np.concatenate([batch[1].numpy() for batch in dataset])


def test_count_frames_by_label(imbalanced):
    assert count_frames_by_label(imbalanced) == {0: 6, 1: 16}
    assert steps_per_epoch({0: 6, 1: 16}, batch_size=5) == 7


def test_oversampled_epochs_are_exactly_balanced(imbalanced):
    dataset = make_frame_dataset(imbalanced, input_size=12, batch_size=4, seed=0, augment=False)
    for _ in range(2):
        labels = _labels(dataset)
        assert len(labels) == 32
        assert labels.sum() == 16
    images, labels = next(iter(dataset))
    assert images.shape == (4, 12, 12, 3)
    assert images.dtype.name == "float32"
    assert labels.dtype.name == "float32"


def test_oversample_uses_every_frame_of_both_classes():
    videos = [toy_video("r0", 0, 3, value=10), toy_video("r1", 0, 2, value=20)]
    videos += [toy_video(f"f{i}", 1, 5, value=100 + 10 * i) for i in range(3)]
    dataset = make_frame_dataset(videos, input_size=8, batch_size=6, augment=False, seed=1)
    values = np.concatenate([b[0].numpy()[:, 0, 0, 0] for b in dataset])
    assert set(np.round(values).astype(int)) == {10, 20, 100, 110, 120}


def test_same_seed_same_batches(imbalanced):
    first = [b[0].numpy() for b in make_frame_dataset(imbalanced, input_size=10, batch_size=4, seed=3)]
    again = [b[0].numpy() for b in make_frame_dataset(imbalanced, input_size=10, batch_size=4, seed=3)]
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)


def test_weights_balance_adds_class_weights(imbalanced):
    dataset = make_frame_dataset(imbalanced, input_size=8, batch_size=5, balance="weights", augment=False)
    labels, weights = [], []
    for _, label, weight in dataset:
        labels.append(label.numpy())
        weights.append(weight.numpy())
    labels, weights = np.concatenate(labels), np.concatenate(weights)
    assert len(labels) == 22
    np.testing.assert_allclose(weights[labels == 0], 22 / 12)
    np.testing.assert_allclose(weights[labels == 1], 22 / 32)
    assert weights[labels == 0].sum() == pytest.approx(weights[labels == 1].sum())


def test_cannot_oversample_a_missing_class():
    with pytest.raises(ValueError, match="label 0"):
        make_frame_dataset([toy_video("f", 1, 2)], input_size=8)
    with pytest.raises(ValueError, match="balance"):
        make_frame_dataset([toy_video("f", 1, 2)], input_size=8, balance="smote")


def test_validation_dataset_keeps_order_and_pixels():
    videos = [toy_video("a", 0, 2, value=30), toy_video("b", 1, 1, value=90)]
    batches = list(make_frame_dataset(videos, input_size=8, batch_size=2, training=False))
    images = np.concatenate([b[0].numpy() for b in batches])
    np.testing.assert_allclose(images[:, 0, 0, 0], [30, 30, 90])
    np.testing.assert_array_equal(np.concatenate([b[1].numpy() for b in batches]), [0, 0, 1])


def test_callable_source_streams_each_epoch_and_split_filter():
    calls = []

    def source():
        calls.append(1)
        yield toy_video("r", 0, 2)
        yield toy_video("f", 1, 2)
        yield toy_video("t", 1, 7, split="test")

    dataset = make_frame_dataset(source, input_size=8, batch_size=8, training=False, split="train")
    assert len(_labels(dataset)) == 4
    assert len(_labels(dataset)) == 4
    assert len(calls) == 2


def test_one_shot_iterator_warns(caplog):
    with caplog.at_level(logging.WARNING, logger="tfdeepfake.pipelines.frames"):
        make_frame_dataset(iter([toy_video("r", 0, 1)]), input_size=8, training=False)
    assert "one pass" in caplog.text


def test_resize_faces_is_the_training_resize():
    faces = np.random.default_rng(0).integers(0, 256, (3, 20, 20, 3), dtype=np.uint8)
    batch = resize_faces(faces, 12).numpy()
    assert batch.shape == (3, 12, 12, 3) and batch.dtype == np.float32
    for face, resized in zip(faces, batch):
        np.testing.assert_allclose(resize_face(face, 12).numpy(), resized, atol=1e-4)
    assert batch.min() >= 0 and batch.max() <= 255
    flat = resize_faces(np.full((1, 20, 20, 3), 77, np.uint8), 9).numpy()
    np.testing.assert_allclose(flat, 77, atol=1e-3)
