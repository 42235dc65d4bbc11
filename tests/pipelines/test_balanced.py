import numpy as np
import pytest
import tensorflow as tf

from tfdeepfake.pipelines.balanced import (
    balanced_batch_indices,
    default_steps_per_epoch,
    group_by_class_and_video,
    make_balanced_dataset,
)


def imbalanced_rows(n_real_videos=3, n_fake_videos=21, frames=5):
    """7:1 fake:real videos, like Celeb-DF-v2's training split."""
    labels, vids = [], []
    for label, n in ((0, n_real_videos), (1, n_fake_videos)):
        for v in range(n):
            labels += [label] * frames
            vids += [f"{label}/{v}"] * frames
    return np.asarray(labels), np.asarray(vids)


def test_group_by_class_and_video():
    groups = group_by_class_and_video([0, 1, 0, 1], ["a", "b", "a", "c"])
    assert sorted(groups) == [0, 1]
    np.testing.assert_array_equal(groups[0]["a"], [0, 2])
    assert sorted(groups[1]) == ["b", "c"]
    with pytest.raises(ValueError, match="video 'a'"):
        group_by_class_and_video([0, 1], ["a", "a"])


def test_every_batch_has_both_classes_several_videos_and_a_cap():
    labels, vids = imbalanced_rows()
    plan = balanced_batch_indices(
        labels, vids, batch_size=8, frames_per_video=2, num_batches=30, seed=0
    )
    assert plan.shape == (30, 8)
    for rows in plan:
        assert np.count_nonzero(labels[rows] == 0) == 4
        assert np.count_nonzero(labels[rows] == 1) == 4
        videos, counts = np.unique(vids[rows], return_counts=True)
        assert len(videos) >= 4 and counts.max() <= 2
        assert len(set(rows.tolist())) == 8  # no frame twice in a batch
    # the minority class is oversampled: 15 real frames appear as often as fakes
    real_rows = plan[labels[plan] == 0]
    assert len(np.unique(real_rows)) == 15
    assert len(real_rows) == len(plan[labels[plan] == 1])


def test_plan_is_deterministic_by_seed():
    labels, vids = imbalanced_rows()
    a = balanced_batch_indices(labels, vids, 8, 2, 5, seed=1)
    np.testing.assert_array_equal(a, balanced_batch_indices(labels, vids, 8, 2, 5, seed=1))
    assert not np.array_equal(a, balanced_batch_indices(labels, vids, 8, 2, 5, seed=2))


def test_plan_rejects_single_class_and_bad_options():
    labels, vids = imbalanced_rows()
    fake = labels == 1
    with pytest.raises(ValueError, match="no real"):
        balanced_batch_indices(labels[fake], vids[fake], 8, 2, 1)
    with pytest.raises(ValueError, match="batch_size"):
        balanced_batch_indices(labels, vids, 1, 2, 1)
    with pytest.raises(ValueError, match="frames_per_video"):
        balanced_batch_indices(labels, vids, 8, 0, 1)


def test_dataset_yields_balanced_batches():
    labels, vids = imbalanced_rows()
    # column 0 holds the row number, so each batch can be traced back to its videos
    embeddings = np.stack([np.arange(len(labels)), np.ones(len(labels))], axis=1).astype(np.float32)
    ds = make_balanced_dataset(
        embeddings, labels, vids, batch_size=8, frames_per_video=2, seed=0, steps_per_epoch=6
    )
    assert ds.cardinality().numpy() == 6
    assert ds.element_spec[0].shape == (8, 2) and ds.element_spec[1].dtype == tf.int32
    first = [(x.numpy(), y.numpy()) for x, y in ds]
    assert len(first) == 6
    for x, y in first:
        rows = x[:, 0].astype(int)
        np.testing.assert_array_equal(y, labels[rows])
        assert set(y.tolist()) == {0, 1}
        assert len(np.unique(vids[rows])) >= 4
    second = [x.numpy() for x, _ in ds]
    assert not all(np.array_equal(a[0], b) for a, b in zip(first, second))  # reshuffled


def test_dataset_without_reshuffle_repeats_batches():
    labels, vids = imbalanced_rows()
    emb = np.arange(len(labels), dtype=np.float32)[:, None]
    ds = make_balanced_dataset(
        emb, labels, vids, batch_size=8, frames_per_video=2, steps_per_epoch=3,
        reshuffle_each_iteration=False,
    )
    a = np.concatenate([x.numpy() for x, _ in ds])
    b = np.concatenate([x.numpy() for x, _ in ds])
    np.testing.assert_array_equal(a, b)


def test_default_steps_cover_the_larger_class():
    labels, _ = imbalanced_rows()  # 15 real, 105 fake
    assert default_steps_per_epoch(labels, batch_size=8) == 27  # ceil(105 / 4)

