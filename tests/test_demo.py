"""The README's first command, reduced in size: every stage runs and the report says what it is."""

import json

from tfdeepfake.demo import DemoConfig, run_demo


def test_demo_runs_end_to_end_and_labels_itself(tmp_path):
    lines = []
    config = DemoConfig(num_real=4, num_fake=4, seconds=1.0, fps=10, num_frames=5, epochs=3,
                        force_random_init=True)
    summary = run_demo(tmp_path / "demo", config, say=lines.append)
    label = "FaceNet 20180402-114759 (RANDOM INIT, seed 0)"
    # The FaceNet's identity opens and closes the progress lines.
    assert lines[0].startswith(f"tfdeepfake demo: {label}; random weights requested")
    assert label in lines[-1] and "not a benchmark" in lines[-1]
    assert summary["facenet"] == label and summary["random_init_facenet"] is True
    assert summary["facenet_identity"]["random_init"] is True
    assert json.loads(json.dumps(summary)) == summary  # JSON-able as is (demo --json)
    report = tmp_path / "demo" / "report"
    readme = (report / "README.md").read_text()
    assert "NOT a benchmark" in readme and f"FaceNet: {label}" in readme
    assert "| Measure | Triplets + SGD |" in readme or "| Measure | Triplets + KNN |" in readme
    assert "(poster)" not in readme  # generated data is never set beside the poster's numbers
    verdicts = json.loads((report / "detections.json").read_text())
    assert len(verdicts) == summary["detections"] >= 2
    assert all(v["verdict"] in ("real", "fake") for v in verdicts)
    assert all(v["random_init_facenet"] and v["facenet"] == label for v in verdicts)
    results = json.loads((report / "results.json").read_text())
    assert set(results["variants"]) == {"knn", "sgd", "rf"} == set(summary["video_auc"])
    assert results["facenet"] == label and "ci95" in results["headline"]
    for name in ("roc_video.png", "embeddings_before_after.png", "measures_video.json",
                 "video_scores.csv"):
        assert (report / name).exists(), name
    model = json.loads((tmp_path / "demo" / "model" / "model.json").read_text())
    assert model["detector"] == "triplet" and model["facenet"]["random_init"] is True
