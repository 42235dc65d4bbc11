"""evaluate_detector, the one evaluation path: a stand-in detector with known scores."""

import json

import numpy as np
import pytest

from tfdeepfake.detectors.base import Detector, ModelFolder, Scores, common_meta
from tfdeepfake.detectors.evaluate import (evaluate_detector, measure_columns, read_video_scores,
                                           results_table)
from tfdeepfake.faces.settings import FaceSettings

RANDOM_FACENET = {"model": "20180402-114759", "random_init": True, "seed": 0,
                  "weights_sha256": None, "probe": [0.1, 0.2]}


def frame_scores(threshold=0.5):
    """4 real and 4 fake videos, 3 frames each; one real video scores high (a false positive)."""
    video_means = {"r0": 0.1, "r1": 0.2, "r2": 0.3, "r3": 0.7,
                   "f0": 0.6, "f1": 0.8, "f2": 0.9, "f3": 0.95}
    ids, labels, probs = [], [], []
    for vid, mean in video_means.items():
        for offset in (-0.05, 0.0, 0.05):
            ids.append(vid)
            labels.append(int(vid[0] == "f"))
            probs.append(mean + offset)
    return Scores("frame", np.array(labels), np.array(probs), np.array(ids), threshold)


class StandIn(Detector):
    """Scores fixed in advance; ``name`` set per test to pick headings and poster columns."""

    name = "triplet"
    source_kind = "embeddings"
    config_class = dict

    def __init__(self, folder, meta, scores):
        super().__init__(folder, meta)
        self._scores = scores

    @classmethod
    def train(cls, *args, **kwargs):
        raise NotImplementedError

    @classmethod
    def from_folder(cls, folder, meta, **kwargs):
        raise NotImplementedError

    @property
    def variants(self):
        return tuple(self._scores)

    @property
    def default_variant(self):
        return self.variants[-1]

    def split_scores(self, source, split):
        assert split == "test"
        return self._scores


def stand_in(tmp_path, scores, name="triplet", facenet=None):
    meta = common_meta(name, FaceSettings(), threshold=0.5, aggregation="mean", seed=3,
                       training={}, data={}, facenet=facenet)
    cls = type("StandIn_" + name, (StandIn,), {"name": name})
    return cls(ModelFolder(tmp_path / "model"), meta, scores)


def test_frame_level_detector_gets_frame_and_video_measures_with_ci(tmp_path):
    detector = stand_in(tmp_path, {"sgd": frame_scores(), "rf": frame_scores(0.65)},
                        facenet=RANDOM_FACENET)
    out = tmp_path / "report"
    results = evaluate_detector(detector, "cache.h5", out, note="generated data", n_bootstrap=300)
    rf = results["variants"]["rf"]
    # Video scores are the means above: AUC 15/16 (only r3 0.7 outranks f0 0.6).
    assert rf["video"]["auc"] == pytest.approx(15 / 16)
    assert rf["video"]["accuracy"] == pytest.approx(6 / 8)  # at 0.65: r3 (0.7) and f0 (0.6) wrong
    assert results["variants"]["sgd"]["video"]["accuracy"] == pytest.approx(7 / 8)  # at 0.5: r3
    assert rf["frame"]["n"] == 24 and rf["video"]["n"] == 8
    ci = rf["video"]["ci95"]
    assert ci["auc"]["low"] <= 15 / 16 <= ci["auc"]["high"] and ci["accuracy"]["used"] == 300
    assert results["headline"] == rf["video"] and results["default_variant"] == "rf"
    assert results["facenet"] == "FaceNet 20180402-114759 (RANDOM INIT, seed 0)"
    assert results["random_init_facenet"] is True and results["seed"] == 3

    saved = json.loads((out / "results.json").read_text())
    assert saved["variants"]["rf"]["video"]["auc"] == pytest.approx(15 / 16)
    curves = read_video_scores(out / "video_scores.csv")
    labels, probs = curves["rf"]
    assert labels.tolist() == [1, 1, 1, 1, 0, 0, 0, 0]  # video ids sorted: f0..f3, r0..r3
    assert probs == pytest.approx([0.6, 0.8, 0.9, 0.95, 0.1, 0.2, 0.3, 0.7])
    video_md = (out / "measures_video.md").read_text()
    assert "Triplets + RF (poster)" in video_md and "| AUC 95% CI |" in video_md
    assert "> generated data" in video_md and "RANDOMLY INITIALISED" in video_md
    assert "FaceNet 20180402-114759 (RANDOM INIT, seed 0)" in video_md
    frame_md = (out / "measures_frame.md").read_text()
    assert "(poster)" not in frame_md and "| Triplets + SGD | Triplets + RF |" in frame_md
    for name in ("roc_video.png", "confusion_sgd.png", "confusion_rf.png"):
        assert (out / name).stat().st_size > 1000
    assert not (out / "embeddings_before_after.png").exists()  # the stand-in offers none


def test_video_level_detector_and_no_poster_comparison(tmp_path):
    s = frame_scores()
    ids, labels, probs = s.video_scores()
    video = Scores("video", labels, probs, ids, 0.5)
    detector = stand_in(tmp_path, {"lstm": video}, name="lstm")
    out = tmp_path / "report"
    results = evaluate_detector(detector, "cache.h5", out, figures=False, poster_comparison=False,
                                n_bootstrap=0)
    assert results["level"] == "video" and "frame" not in results["variants"]["lstm"]
    assert "ci95" not in results["variants"]["lstm"]["video"]
    assert results["facenet"] is None and results["random_init_facenet"] is False
    assert not (out / "measures_frame.md").exists() and not (out / "roc_video.png").exists()
    assert "| Measure | LSTM |" in (out / "measures_video.md").read_text()
    columns = measure_columns(results, "video", poster_comparison=True)
    assert [c.heading for c in columns] == ["LSTM"] and columns[0].poster is None
    assert measure_columns(results, "frame") == []
    assert results_table(results).startswith("| Measure | LSTM |\n")
    with pytest.raises(ValueError, match="no frame-level measures"):
        results_table(results, "frame")


def test_no_scores_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="produced no scores"):
        evaluate_detector(stand_in(tmp_path, {}), "cache.h5", tmp_path / "r")
