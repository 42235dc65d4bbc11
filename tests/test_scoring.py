import numpy as np
import pytest

from tfdeepfake.scoring import aggregate_video_labels, aggregate_video_scores


def test_mean_median_max_per_video():
    probs = [0.2, 0.9, 0.4, 0.1, 0.3, 0.8]
    vids = ["b", "a", "b", "b", "a", "c"]
    ids, mean = aggregate_video_scores(probs, vids)
    assert ids.tolist() == ["a", "b", "c"]
    np.testing.assert_allclose(mean, [0.6, 0.7 / 3, 0.8])
    np.testing.assert_allclose(aggregate_video_scores(probs, vids, "median")[1], [0.6, 0.2, 0.8])
    np.testing.assert_allclose(aggregate_video_scores(probs, vids, "max")[1], [0.9, 0.4, 0.8])


def test_errors_and_labels():
    with pytest.raises(ValueError, match="valid: mean, median, max"):
        aggregate_video_scores([0.1], ["a"], how="vote")
    with pytest.raises(ValueError, match="values"):
        aggregate_video_scores([0.1, 0.2], ["a"])
    ids, labels = aggregate_video_labels([1, 0, 1], ["x", "y", "x"])
    assert ids.tolist() == ["x", "y"] and labels.tolist() == [1, 0]
    with pytest.raises(ValueError, match="video 'x'"):
        aggregate_video_labels([1, 0], ["x", "x"])
