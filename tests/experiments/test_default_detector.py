"""The default-model studies' pure parts: folds of collections, the AUC and its interval,
out-of-fold conformal false alarms, the shared videos' CSV, the degraded copies."""

import csv

import numpy as np
import pytest

from tfdeepfake.experiments.default_detector import (
    assign_folds,
    auc_interval,
    conformal_false_alarms,
    folds_of_collections,
    write_csv,
)
from tfdeepfake.experiments.default_texture import degrade


def test_folds_keep_collections_whole_and_balanced():
    sizes = {"a": 13, "b": 12, "c": 10, "d": 9, "e": 4, "f": 3, "g": 1, "h": 1}
    folds = assign_folds(sizes, 3, seed=0)
    assert set(folds) == set(sizes) and set(folds.values()) == {0, 1, 2}
    per_fold = [sum(n for g, n in sizes.items() if folds[g] == k) for k in range(3)]
    assert max(per_fold) - min(per_fold) <= 3
    assert assign_folds(sizes, 3, seed=0) == folds  # reproducible


def test_videos_of_one_collection_share_a_fold():
    collection_of = {f"{g}{i}": g for g, n in {"a": 5, "b": 4, "c": 3, "d": 1}.items() for i in range(n)}
    fold = folds_of_collections(collection_of, 3, seed=0)
    assert set(fold) == set(collection_of)
    for group in "abcd":
        assert len({fold[v] for v, g in collection_of.items() if g == group}) == 1
    by_size = assign_folds({"a": 5, "b": 4, "c": 3, "d": 1}, 3, seed=0)
    assert all(fold[v] == by_size[g] for v, g in collection_of.items())


def test_auc_and_its_interval():
    perfect = auc_interval([0.1, 0.2, 0.3], [0.8, 0.9], n_boot=50)
    assert perfect["auc"] == 1.0 and perfect["low"] == 1.0 and perfect["fake"] == 2
    ties = auc_interval([0.5, 0.5], [0.5], n_boot=10)
    assert ties["auc"] == 0.5
    mixed = auc_interval([0.1, 0.6, 0.3, 0.8], [0.5, 0.7, 0.9], n_boot=200, seed=1)
    assert mixed["auc"] == pytest.approx(9 / 12)  # 9 of 12 pairs ordered right
    assert mixed["low"] <= mixed["auc"] <= mixed["high"]


def test_conformal_false_alarms_calibrate_on_one_half_and_count_the_other():
    scores = {f"v{i}": s for i, s in enumerate(np.linspace(0, 1, 40))}
    groups = {v: f"g{i % 8}" for i, v in enumerate(scores)}
    result = conformal_false_alarms(scores, groups, 0.1, seed=0)
    assert result["tested"] == 40 and len(result["thresholds"]) == 2
    assert result["flagged"] == len(result["flagged_videos"]) <= 8
    assert set(result["flagged_videos"]) <= set(scores)


def test_write_csv_names_collections_and_generators(tmp_path):
    root = tmp_path / "videos"
    for path in ("ffpp_c23/real/a.mp4", "ffpp_c23/fake/b.mp4", "dfdc/real/c.mp4",
                 "real_only/liveportrait_d0.mp4", "real_more/x.mp4", "fake_modern/y.mp4",
                 "fake_modern_inputs/z.mp4"):
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(b"0")
    (root / "real_more" / "SOURCES.csv").write_text(
        "file,source_repo\nx.mp4,someone/repo\nmissing.mp4,someone/repo\n")
    (root / "fake_modern" / "SOURCES.csv").write_text(
        "file,label,generator\nfake_modern/y.mp4,fake,EDTalk (audio)\n")
    assert write_csv(root, tmp_path / "all.csv") == 7
    rows = {r["path"]: r for r in csv.DictReader(open(tmp_path / "all.csv"))}
    assert rows["fake_modern/y.mp4"]["method"] == "modern:EDTalk"
    assert rows["real_more/x.mp4"]["method"] == "real_more:someone/repo"
    assert rows["ffpp_c23/fake/b.mp4"] == {"path": "ffpp_c23/fake/b.mp4", "label": "fake",
                                          "split": "test", "method": "ffpp", "source": ""}
    assert rows["real_only/liveportrait_d0.mp4"]["method"] == "real_only:liveportrait"
    assert rows["fake_modern_inputs/z.mp4"]["label"] == "real"
    assert "real_more/missing.mp4" not in rows


def test_degraded_copies_lose_detail_and_keep_shape():
    rng = np.random.default_rng(0)
    face = rng.integers(0, 256, (160, 160, 3)).astype(np.uint8)
    out = degrade(face, rng)
    assert out.shape == face.shape and out.dtype == np.uint8
    assert np.abs(np.diff(out.astype(float), axis=0)).mean() < np.abs(np.diff(face.astype(float), axis=0)).mean()
