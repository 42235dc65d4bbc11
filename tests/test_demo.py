"""The README's first command, reduced in size: every stage runs and the report says what it is."""

import json

from tfdeepfake.demo import DemoConfig, run_demo


def test_demo_runs_end_to_end_and_labels_itself(tmp_path):
    lines = []
    config = DemoConfig(num_real=4, num_fake=4, seconds=1.0, fps=10, num_frames=5, epochs=3,
                        force_random_init=True)
    summary = run_demo(tmp_path / "demo", config, say=lines.append)
    assert "RANDOMLY INITIALISED" in lines[0] and "RANDOMLY INITIALISED" in lines[-1]
    assert "not a benchmark" in lines[-1]
    report = tmp_path / "demo" / "report"
    readme = (report / "README.md").read_text()
    assert "NOT a benchmark" in readme and "RANDOM INIT" in readme
    assert "(poster)" not in readme  # generated data is never set beside the poster's numbers
    verdicts = json.loads((report / "detections.json").read_text())
    assert len(verdicts) == summary["detections"] >= 2
    assert all(v["verdict"] in ("real", "fake") for v in verdicts)
    assert all(v["random_init_facenet"] for v in verdicts)
    for name in ("roc_video.png", "embeddings_before_after.png", "measures_video.json"):
        assert (report / name).exists()
    bundle = json.loads((tmp_path / "demo" / "model" / "bundle.json").read_text())
    assert bundle["embedder"]["random_init"] is True
