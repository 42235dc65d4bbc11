import json
import math

import pytest

from tfdeepfake.evaluation.metrics import binary_metrics, frame_and_video_metrics
from tfdeepfake.evaluation.report import (
    POSTER_RESULTS,
    build_report,
    measures_table,
    write_report,
)


def results():
    y = [0, 0, 0, 0, 1, 1, 1, 1]
    p = [0.1, 0.2, 0.3, 0.7, 0.6, 0.8, 0.9, 0.95]
    vids = [f"v{i}" for i in range(8)]
    m = frame_and_video_metrics(y, p, vids)
    return {"sgd": m, "rf": m, "knn": m}


def test_measures_table_layout():
    table = measures_table(results())
    lines = table.strip().splitlines()
    assert lines[0] == "| Measure | Triplets + SGD | Triplets + RF | Triplets + KNN |"
    assert [line.split("|")[1].strip() for line in lines[2:]] == [
        "AUC", "Accuracy", "Precision", "Recall", "F1", "EER", "AP",
    ]
    assert "| Accuracy | 0.87500 | 0.87500 | 0.87500 |" in lines
    with pytest.raises(ValueError, match="valid: frame, video"):
        measures_table(results(), level="clip")
    with pytest.raises(ValueError, match="unknown classifiers"):
        measures_table({"svm": {}})


def test_poster_comparison_columns():
    table = measures_table(results(), poster_comparison=True)
    header = table.splitlines()[0]
    assert "Triplets + SGD (poster)" in header and "Triplets + RF (poster)" in header
    assert "KNN (poster)" not in header
    assert "0.95138" in table and "0.95833" in table
    eer_row = [line for line in table.splitlines() if line.startswith("| EER")][0]
    assert "—" in eer_row
    assert POSTER_RESULTS["sgd"]["f1"] == 0.88889


def test_flat_metrics_and_nan_cells():
    with pytest.warns(Warning):
        single = binary_metrics([1, 1], [0.9, 0.8])
    table = measures_table({"sgd": single})
    assert "| AUC | n/a |" in table


def test_report_json_has_provenance_and_no_nan(tmp_path):
    with pytest.warns(Warning):
        single = binary_metrics([1, 1], [0.9, 0.8])
    res = {"sgd": single, "rf": results()["rf"]}
    config = {"lr": 3e-4, "hidden": (1, 2)}
    report = build_report(res, seed=7, config=config, level="video", poster_comparison=True)
    assert report["seed"] == 7 and report["config"]["hidden"] == [1, 2]
    assert {"tensorflow", "scikit-learn"} <= set(report["package_versions"])
    assert report["results"]["sgd"]["auc"] is None
    assert report["poster"]["results"]["rf"]["auc"] == 0.95833
    md, js = write_report(tmp_path, res, seed=7, config={"lr": 3e-4}, poster_comparison=True)
    loaded = json.loads(js.read_text())
    assert loaded["seed"] == 7 and loaded["results"]["rf"]["video"]["accuracy"] == 0.875
    text = md.read_text()
    assert text.startswith("# Measures (video level, seed 7)") and "| F1 |" in text
    assert not math.isnan(loaded["results"]["rf"]["frame"]["auc"])
