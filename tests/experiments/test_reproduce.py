"""`reproduce --quick` end to end: the poster's tables on generated data, and a rerun that
continues instead of redoing."""

import json
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest

from tfdeepfake.experiments import EXPERIMENTS, QUICK_NOTE, reproduce

POSTER_ROWS = {  # experiment -> (architecture, the poster's accuracy cell)
    "xception_celebdf": ("XceptionNet (frames only)", "50.0%"),
    "lstm_celebdf": ("LSTM + frames", "52.0%"),
    "xception_merged": ("XceptionNet (30k frames)", "70.0%"),
    "facenet_triplet_merged": ("FaceNet + metric learning", "87.5%"),
}


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("reproduce")
    steps = []
    summary = reproduce(None, None, out, quick=True, on_step=steps.append)
    return out, summary, steps


def test_quick_reproduce_writes_the_poster_tables(quick_run):
    out, summary, _ = quick_run
    tables = (out / "poster_tables.md").read_text()
    assert "Accuracy (poster)" in tables and "Accuracy (ours)" in tables
    assert "Video AUC (ours)" in tables
    assert QUICK_NOTE.split(":")[1].strip()[:40] in tables and "NOT a reproduction" in tables
    rows = {line.split("|")[1].strip(): line for line in tables.splitlines() if line.startswith("| ")}
    for architecture, accuracy in POSTER_ROWS.values():
        row = next(r for name, r in rows.items() if name.startswith(architecture))
        assert row.split("|")[6].strip() == accuracy
    assert "2 (poster 30)" in tables  # quick epochs differ from the poster's and say so
    assert "FaceNet + metric learning ¹" in tables and "¹ Ours: Triplets + RF" in tables
    # The Measures table: ours beside the poster's for SGD and RF, with bootstrap intervals.
    assert "Triplets + SGD (poster)" in tables and "Triplets + RF (poster)" in tables
    assert "| AUC |" in tables and "0.95833" in tables and "| AUC 95% CI |" in tables
    # The FaceNet that made the embeddings is named, and flagged when random.
    assert f"Embeddings: {summary['facenet']}." in tables
    assert ("RANDOMLY INITIALISED" in tables) == summary["random_init_facenet"]
    assert "## Steps and timings" in tables


def test_quick_reproduce_json_has_everything(quick_run):
    out, summary, steps = quick_run
    saved = json.loads((out / "poster_results.json").read_text())
    assert saved["quick"] is True and saved["seed"] == 0
    assert saved["versions"]["tensorflow"].startswith("2.")
    assert set(saved["experiments"]) == set(EXPERIMENTS)
    for name, experiment in saved["experiments"].items():
        assert 0.0 <= experiment["ours"]["accuracy"] <= 1.0, name
        assert experiment["model"]["detector"] == experiment["config"]["model"]
        ci = experiment["results"]["headline"]["ci95"]["accuracy"]
        assert ci["low"] <= experiment["ours"]["accuracy"] <= ci["high"], name
    triplet = saved["experiments"]["facenet_triplet_merged"]
    assert set(triplet["results"]["variants"]) == {"knn", "sgd", "rf"}
    assert triplet["ours"]["variant"] == "rf"
    assert saved["experiments"]["lstm_celebdf"]["results"]["level"] == "video"
    names = [row["step"] for row in saved["timings"]]
    for expected in ("generate videos (quick)", "index celebdf-v1", "index celebdf-merged",
                     "train xception_celebdf", "evaluate lstm_celebdf",
                     "train facenet_triplet_merged", "grad-cam (xception_merged)",
                     "figures and tables"):
        assert expected in names
    assert sum(1 for n in names if n.startswith("extract ")) == 3  # v1 71 px, merged 71 + 160 px
    assert sum(1 for n in names if n.startswith("embed ")) == 1  # only the triplet needs them
    assert all(row["seconds"] >= 0 and row["status"] == "done" for row in saved["timings"])
    assert [row["step"] for row in steps] == names
    for figure in saved["figures"].values():
        assert Path(figure).is_file(), figure
    assert any("Grad-CAM" in name for name in saved["figures"])
    assert any("embeddings_before_after" in name for name in saved["figures"])


def test_quick_reproduce_continues_and_refuses_other_settings(quick_run):
    out, first, _ = quick_run
    again = reproduce(None, None, out, quick=True)
    status = {row["step"]: row["status"] for row in again["timings"]}
    for name in EXPERIMENTS:
        assert status[f"train {name}"] == "skipped" and status[f"evaluate {name}"] == "skipped"
    assert all(status[s] == "skipped" for s in status if s.startswith(("extract", "embed", "grad")))
    assert status["generate videos (quick)"] == "skipped"
    for name in EXPERIMENTS:
        assert again["experiments"][name]["ours"] == first["experiments"][name]["ours"]
    with pytest.raises(ValueError, match="other settings"):
        reproduce(out / "quick_data" / "Celeb-DF", out / "quick_data" / "Celeb-DF-v2", out)
