"""The one Measures writer: columns as data, poster columns beside ours, CI rows, JSON."""

import json
import math

import pytest

from tfdeepfake.evaluation.metrics import binary_metrics, bootstrap_ci, frame_and_video_metrics
from tfdeepfake.evaluation.report import (
    POSTER_RESULTS,
    Column,
    column_order,
    heading_of,
    measures_markdown,
    measures_table,
    poster_measures,
    write_measures,
)

Y = [0, 0, 0, 0, 1, 1, 1, 1]
P = [0.1, 0.2, 0.3, 0.7, 0.6, 0.8, 0.9, 0.95]


def video_metrics():
    return frame_and_video_metrics(Y, P, [f"v{i}" for i in range(8)])["video"]


def triplet_columns(poster=True):
    m = video_metrics()
    return [Column(name, heading_of("triplet", name), m,
                   poster_measures("triplet", name) if poster else None)
            for name in ("sgd", "rf", "knn")]


def test_table_layout_rows_and_values():
    table = measures_table(triplet_columns(poster=False))
    lines = table.strip().splitlines()
    assert lines[0] == "| Measure | Triplets + SGD | Triplets + RF | Triplets + KNN |"
    assert [line.split("|")[1].strip() for line in lines[2:]] == [
        "AUC", "Accuracy", "Precision", "Recall", "F1", "EER", "AP"]
    assert "| Accuracy | 0.87500 | 0.87500 | 0.87500 |" in lines
    with pytest.raises(ValueError, match="at least one column"):
        measures_table([])


def test_poster_columns_sit_beside_ours():
    table = measures_table(triplet_columns(), poster_comparison=True)
    header = table.splitlines()[0]
    assert header == ("| Measure | Triplets + SGD | Triplets + SGD (poster) | Triplets + RF "
                      "| Triplets + RF (poster) | Triplets + KNN |")
    auc = next(line for line in table.splitlines() if line.startswith("| AUC"))
    assert auc.split("|")[3].strip() == "0.95138" and auc.split("|")[5].strip() == "0.95833"
    eer = next(line for line in table.splitlines() if line.startswith("| EER"))
    assert eer.split("|")[3].strip() == "—"  # the poster gives no EER
    # Without poster_comparison the poster values are carried but not shown.
    assert "(poster)" not in measures_table(triplet_columns())
    assert POSTER_RESULTS["sgd"]["f1"] == 0.88889
    assert column_order("triplet", ["knn", "rf", "sgd", "svm"]) == ["sgd", "rf", "knn", "svm"]
    assert poster_measures("xception", "xception") is None and heading_of("lstm", "lstm") == "LSTM"


def test_confidence_interval_rows():
    m = dict(video_metrics())
    m["ci95"] = {"auc": bootstrap_ci(Y, P, "auc", 200, 0), "accuracy": bootstrap_ci(Y, P, "accuracy", 200, 0)}
    columns = [Column("rf", "Triplets + RF", m, POSTER_RESULTS["rf"])]
    lines = measures_table(columns, poster_comparison=True).splitlines()
    ci = next(line for line in lines if line.startswith("| AUC 95% CI"))
    low, high = (float(x) for x in ci.split("|")[2].strip().split("–"))
    assert low <= m["auc"] <= high and ci.split("|")[3].strip() == "—"
    assert any(line.startswith("| Accuracy 95% CI") for line in lines)


def test_nan_cells_and_markdown_document():
    with pytest.warns(Warning):
        single = binary_metrics([1, 1], [0.9, 0.8])
    table = measures_table([Column("sgd", "SGD", single)])
    assert "| AUC | n/a |" in table
    text = measures_markdown(triplet_columns(), title="Measures (video)", poster_comparison=True,
                             notes=["generated data"], footer=["24 videos"])
    assert text.startswith("# Measures (video)\n\n> generated data\n")
    assert "Poster numbers:" in text and text.rstrip().endswith("24 videos")


def test_write_measures_json_has_columns_provenance_and_no_nan(tmp_path):
    with pytest.warns(Warning):
        single = binary_metrics([1, 1], [0.9, 0.8])
    columns = [Column("sgd", "Triplets + SGD", single, POSTER_RESULTS["sgd"]),
               Column("rf", "Triplets + RF", video_metrics(), POSTER_RESULTS["rf"])]
    md, js = write_measures(tmp_path, "measures_video", columns, title="Measures, video level",
                            level="video", seed=7, poster_comparison=True, extra={"split": "test"})
    loaded = json.loads(js.read_text())
    assert loaded["seed"] == 7 and loaded["split"] == "test" and loaded["level"] == "video"
    assert [c["name"] for c in loaded["columns"]] == ["sgd", "rf"]
    assert loaded["columns"][0]["metrics"]["auc"] is None  # NaN written as null
    assert loaded["columns"][1]["poster"]["auc"] == 0.95833
    assert {"tensorflow", "scikit-learn"} <= set(loaded["package_versions"])
    assert "(poster)" in loaded["table_markdown"] and "poster_source" in loaded
    text = md.read_text()
    assert text.startswith("# Measures, video level") and "| F1 |" in text
    assert not math.isnan(loaded["columns"][1]["metrics"]["accuracy"])
    with pytest.raises(ValueError, match="valid: frame, video"):
        write_measures(tmp_path, "x", columns, title="t", level="clip")
