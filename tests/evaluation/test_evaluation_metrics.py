import math
import warnings

import numpy as np
import pytest
from sklearn import metrics as skm
from sklearn.exceptions import UndefinedMetricWarning

from tfdeepfake.evaluation.metrics import (
    binary_metrics,
    bootstrap_ci,
    choose_threshold,
    equal_error_rate,
    frame_and_video_metrics,
)


def test_hand_written_case_exact_values():
    # real 0.1, 0.6; fake 0.4, 0.8. At 0.5: TP 1 (0.8), FP 1 (0.6), FN 1 (0.4), TN 1.
    m = binary_metrics([0, 0, 1, 1], [0.1, 0.6, 0.4, 0.8], threshold=0.5)
    assert m["auc"] == pytest.approx(3 / 4)  # 3 of 4 (fake, real) pairs ranked right
    assert m["accuracy"] == pytest.approx(0.5)
    assert m["precision"] == pytest.approx(0.5)
    assert m["recall"] == pytest.approx(0.5)
    assert m["f1"] == pytest.approx(0.5)
    assert m["eer"] == pytest.approx(0.5)
    assert m["average_precision"] == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)
    assert (m["n"], m["n_real"], m["n_fake"], m["threshold"]) == (4, 2, 2, 0.5)


def test_posters_measures_are_reproducible_by_hand():
    # 8 videos, 4 fake all caught, 1 of 4 real called fake: the poster's table
    y = [0, 0, 0, 0, 1, 1, 1, 1]
    p = [0.1, 0.2, 0.3, 0.7, 0.6, 0.8, 0.9, 0.95]
    m = binary_metrics(y, p)
    assert m["accuracy"] == 0.875 and m["precision"] == 0.8 and m["recall"] == 1.0
    assert m["f1"] == pytest.approx(0.88889, abs=1e-5)
    assert m["auc"] == pytest.approx(15 / 16)


def test_eer_interpolates_between_roc_points():
    assert equal_error_rate([0, 1], [0.2, 0.8]) == 0.0
    assert equal_error_rate([0, 1], [0.8, 0.2]) == 1.0
    # a tie between one fake and two reals: ROC (0,0) -> (2/3,1) in one straight step;
    # on it FPR = 2s/3 and FNR = 1 - s meet at s = 3/5, so EER = 2/5 (not a ROC point)
    assert equal_error_rate([0, 0, 0, 1], [0.2, 0.6, 0.6, 0.6]) == pytest.approx(0.4)
    # an exact crossing at a ROC point
    assert equal_error_rate([0, 0, 1, 1], [0.3, 0.7, 0.5, 0.9]) == pytest.approx(0.5)


def test_agrees_with_sklearn_on_random_scores():
    rng = np.random.RandomState(0)
    y = rng.randint(0, 2, 200)
    p = np.clip(0.3 * y + 0.7 * rng.rand(200), 0, 1)
    m = binary_metrics(y, p, threshold=0.4)
    pred = (p >= 0.4).astype(int)
    assert m["auc"] == pytest.approx(skm.roc_auc_score(y, p))
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    assert m["precision"] == pytest.approx(skm.precision_score(y, pred))
    assert m["recall"] == pytest.approx(skm.recall_score(y, pred))
    assert m["f1"] == pytest.approx(skm.f1_score(y, pred))
    assert m["average_precision"] == pytest.approx(skm.average_precision_score(y, p))
    fpr, tpr, _ = skm.roc_curve(y, p)
    i = np.argmin(np.abs(1 - tpr - fpr))
    assert abs(m["eer"] - fpr[i]) < 0.02


def test_single_class_gives_nan_auc_with_a_warning():
    with pytest.warns(UndefinedMetricWarning, match="only fake"):
        m = binary_metrics([1, 1, 1], [0.9, 0.2, 0.7])
    assert math.isnan(m["auc"]) and math.isnan(m["eer"])
    assert m["accuracy"] == pytest.approx(2 / 3) and m["recall"] == pytest.approx(2 / 3)
    with pytest.warns(UndefinedMetricWarning, match="only real"):
        m = binary_metrics([0, 0], [0.1, 0.2])
    assert math.isnan(m["average_precision"]) and m["precision"] == 0.0 and m["accuracy"] == 1.0


def test_bad_input():
    with pytest.raises(ValueError, match="no samples"):
        binary_metrics([], [])
    with pytest.raises(ValueError, match="values"):
        binary_metrics([0, 1], [0.5])
    with pytest.raises(ValueError, match="labels must be"):
        binary_metrics([0, 2], [0.5, 0.5])


def test_choose_threshold():
    y = [0, 0, 1, 1]
    assert choose_threshold(y, [0.1, 0.2, 0.7, 0.9]) == 0.7
    assert choose_threshold(y, [0.1, 0.2, 0.7, 0.9], "balanced_accuracy") == 0.7
    t = choose_threshold([0, 0, 1, 1], [0.1, 0.6, 0.4, 0.8], criterion="eer")
    assert t in (0.4, 0.6, 0.8)
    with pytest.raises(ValueError, match="valid: youden"):
        choose_threshold(y, [0.1, 0.2, 0.7, 0.9], "f2")
    with pytest.warns(UndefinedMetricWarning):
        assert choose_threshold([1, 1], [0.2, 0.3]) == 0.5
    # all scores inverted: the best rule calls nothing fake; threshold above every score
    t = choose_threshold([0, 1], [0.9, 0.1])
    assert t > 0.9


def test_frame_and_video_metrics_use_the_mean_rule():
    y = [0, 0, 1, 1, 1, 1]
    p = [0.2, 0.6, 0.3, 0.9, 0.8, 0.7]
    vids = ["r1", "r1", "f1", "f1", "f2", "f2"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = frame_and_video_metrics(y, p, vids, threshold=0.5)
    assert result["frame"]["n"] == 6 and result["video"]["n"] == 3
    # video scores: r1 0.4, f1 0.6, f2 0.75 -> all right at 0.5
    assert result["video"]["accuracy"] == 1.0 and result["video"]["auc"] == 1.0
    assert result["frame"]["accuracy"] == pytest.approx(4 / 6)
    assert result["video"]["aggregation"] == "mean"
    by_max = frame_and_video_metrics(y, p, vids, how="max")
    assert by_max["video"]["accuracy"] == pytest.approx(2 / 3)


def _videos(n, seed):
    """``n`` videos per class whose scores overlap (AUC about 0.85)."""
    rng = np.random.default_rng(seed)
    labels = np.repeat([0, 1], n)
    probs = np.clip(np.concatenate([rng.normal(0.35, 0.2, n), rng.normal(0.65, 0.2, n)]), 0, 1)
    return labels, probs


@pytest.mark.parametrize("metric", ["auc", "accuracy"])
def test_bootstrap_ci_contains_the_estimate_and_narrows_with_more_videos(metric):
    widths = []
    for n in (12, 300):
        labels, probs = _videos(n, seed=n)
        point = binary_metrics(labels, probs)[metric]
        ci = bootstrap_ci(labels, probs, metric, n=500, seed=0)
        assert ci["low"] <= point <= ci["high"], (n, ci, point)
        assert ci["used"] == 500 and ci["level"] == 0.95
        widths.append(ci["high"] - ci["low"])
    assert widths[1] < widths[0] / 2.5  # ~1/sqrt(25) of the width with 25x the videos


def test_bootstrap_ci_is_seeded_and_drops_one_class_resamples():
    labels, probs = _videos(5, seed=1)
    assert bootstrap_ci(labels, probs, n=200, seed=3) == bootstrap_ci(labels, probs, n=200, seed=3)
    assert bootstrap_ci(labels, probs, n=200, seed=3) != bootstrap_ci(labels, probs, n=200, seed=4)
    # Two videos: half the resamples hold one class only; they are not counted.
    ci = bootstrap_ci([0, 1], [0.2, 0.8], "auc", n=400, seed=0)
    assert 100 < ci["used"] < 300 and ci["low"] == ci["high"] == 1.0
    perfect = bootstrap_ci([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9], "accuracy", n=50, seed=0)
    assert perfect["low"] == perfect["high"] == 1.0
    with pytest.raises(ValueError, match="valid: auc, accuracy"):
        bootstrap_ci([0, 1], [0.2, 0.8], "f1")
    with pytest.raises(ValueError, match="n must be >= 1"):
        bootstrap_ci([0, 1], [0.2, 0.8], n=0)
