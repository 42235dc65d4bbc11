"""The SBI footage study's bookkeeping (no training): which videos each direction trains and
tests on, the metrics per test set, frame thinning, and the report."""

import numpy as np

from tfdeepfake.cache.embeddings import EmbeddingTable
from tfdeepfake.evaluation.protocols import VideoInfo
from tfdeepfake.experiments.sbi_footage import plan_directions, thin_frames
from tfdeepfake.experiments.sbi_footage_report import evaluate, markdown
from tests.media import toy_face_video


def _infos():
    rows = [("a/real/1", 0, "a"), ("a/real/2", 0, "a"), ("a/fake/3", 1, "a"),
            ("b/real/4", 0, "b"), ("b/fake/5", 1, "b"), ("b/fake/6", 1, "b")]
    return [VideoInfo(v, label, d, frozenset({v})) for v, label, d in rows]


def test_directions_train_on_reals_and_test_elsewhere():
    directions = {d.name: d for d in plan_directions(_infos(), ["real_only/x", "real_only/y"])}
    assert set(directions) == {"real_only", "a", "b"}
    real_only = directions["real_only"]
    assert real_only.train == ("real_only/x", "real_only/y") and not real_only.poster_train
    assert real_only.tests["a"] == ("a/fake/3", "a/real/1", "a/real/2")
    assert len(real_only.tests["all labelled"]) == 6
    a = directions["a"]
    assert a.train == ("a/real/1", "a/real/2")  # reals only, never the fake
    assert a.poster_train == ("a/fake/3", "a/real/1", "a/real/2")
    assert a.tests["b"] == ("b/fake/5", "b/fake/6", "b/real/4")
    assert a.tests["b + real_only reals"][-2:] == ("real_only/x", "real_only/y")
    assert a.tests["real_only reals (false positives)"] == ("real_only/x", "real_only/y")
    assert a.poster_title == "a reals + fakes (2 + 1 videos)"
    # Without real-only videos: one direction per dataset, no false-positive set.
    plain = plan_directions(_infos(), [])
    assert [d.name for d in plain] == ["a", "b"] and set(plain[0].tests) == {"b"}
    # No test set of a direction holds a video it trains on.
    for d in directions.values():
        for ids in d.tests.values():
            assert not set(ids) & set(d.train) and not set(ids) & set(d.poster_train)


def test_evaluate_and_report():
    infos = _infos()
    directions = plan_directions(infos, ["real_only/x"])
    labels = {i.video_id: i.label for i in infos} | {"real_only/x": 0}
    perfect = {v: float(label) for v, label in labels.items()}
    scores = {"a/sbi/0": perfect, "a/sbi/1": {v: 0.5 for v in labels},
              "a/triplet+rf/0": perfect}
    rows = evaluate(directions, scores, labels, seeds=(0, 1), n_boot=20)
    by = {(r["test_set"], r["method"], r["seed"]): r for r in rows if r["direction"] == "a"}
    first = by[("b", "sbi", 0)]
    assert first["metrics"]["auc"] == 1.0 and (first["n_real"], first["n_fake"]) == (1, 2)
    assert first["metrics"]["tp"] == 2 and first["metrics"]["ci"]["auc"]["low"] == 1.0
    assert by[("b", "sbi", 1)]["metrics"]["auc"] == 0.5
    fp = by[("real_only reals (false positives)", "sbi", 1)]["false_positives"]
    assert (fp["n"], fp["false_positives"], fp["rate"]) == (1, 1, 1.0)
    assert by[("b", "triplet+rf", 0)]["trained_on"] == "a reals + fakes (2 + 1 videos)"
    assert by[("b", "sbi", 0)]["trained_on"] == "a reals (2 videos)"
    results = {"title": "t", "quick": True, "seeds": [0, 1], "n_boot": 20, "val_fraction": 0.15,
               "command": "c", "faces_per_video": 8, "caches": {"where": "here"},
               "facenet": {"label": "FaceNet x"}, "machine": {"platform": "p", "cpus": 2},
               "seconds": 1.0, "configs": {"sbi": {"backbone": "facenet", "trainable_from": "x",
                                                   "optimizer": "adam", "learning_rate": 1,
                                                   "epochs": 1, "patience": None,
                                                   "batch_size": 2}, "triplet": {}},
               "evaluations": rows, "fits": {"a/sbi/0": {"seconds": 3.0, "epochs_run": 1}},
               "video_scores": scores, "labels": labels}
    text = markdown(results)
    assert "### Test: b (1 real / 2 fake videos)" in text and "QUICK MODE" in text
    assert "| SBI: FaceNet fine-tuned on real + self-blended faces | a reals (2 videos) | 1.000" in text
    assert "0.750 (0.500–1.000, 2 seeds)" in text


def test_thin_frames_keeps_faces_and_embeddings_aligned():
    faces = np.zeros((10, 8, 8, 3), np.uint8)
    video = toy_face_video("v/1", 0, "train", faces, np.arange(0, 20, 2), 10)
    table = EmbeddingTable(np.arange(10, dtype=np.float32)[:, None], np.zeros(10, int),
                           np.array(["v/1"] * 10), np.arange(0, 20, 2), np.array(["train"] * 10))
    videos, thinned = thin_frames({"v/1": video}, table, 4)
    assert list(videos["v/1"].frame_indices) == [0, 6, 12, 18]
    assert list(thinned.frame_indices) == [0, 6, 12, 18] and thinned.embeddings.shape == (4, 1)
    same, untouched = thin_frames({"v/1": video}, table, None)
    assert untouched is table and same["v/1"] is video


def test_an_interrupted_study_resumes_only_with_the_same_settings(tmp_path):
    from tfdeepfake.experiments.sbi_footage import study_configs, study_fingerprint
    from tfdeepfake.experiments.steps import read_progress, write_progress
    from tfdeepfake.models.facenet import FaceNetIdentity

    identity = FaceNetIdentity(model="20170512-110547", random_init=False, seed=None,
                               weights_sha256="6acd", probe=(0.5, 0.25))
    quick = study_fingerprint(True, study_configs(True), 0.15, identity)
    full = study_fingerprint(False, study_configs(False), 0.15, identity)
    path = tmp_path / "partial.json"
    assert read_progress(path, quick) == {}  # nothing yet
    progress = {"video_scores": {"real_only/sbi/0": {"a": 0.25}},
                "fits": {"real_only/sbi/0": {"best_epoch": 2}}}
    write_progress(path, quick, progress)
    assert read_progress(path, quick) == progress
    assert read_progress(path, full) == {}  # other settings: start afresh
    assert [p.name for p in tmp_path.iterdir()] == ["partial.json"]  # no temp file left
    path.write_text("{half")
    assert read_progress(path, quick) == {}
