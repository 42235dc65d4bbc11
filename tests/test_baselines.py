"""Baselines from caches: train Xception / LSTM into a folder, load it back, evaluate, explain."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import cv2
import numpy as np
import pytest

from tfdeepfake import baselines
from tfdeepfake.baselines import (
    BaselineError,
    evaluate_baseline,
    explain_video,
    load_baseline,
    load_feature_extractor,
    train_lstm_baseline,
    train_xception_baseline,
)
from tfdeepfake.cache.embeddings import embedding_store
from tfdeepfake.cache.faces import face_store
from tfdeepfake.faces.settings import FaceSettings
from tests.media import write_face_video

SIZE = 71  # Xception's smallest input
FRAMES = 4
REPO = Path(__file__).resolve().parents[1]


def write_face_cache(path, counts=(("train", 3, 3), ("test", 2, 2)), frames=FRAMES, seed=0):
    """Dark noisy faces are real, bright ones fake; one HDF5 group per video."""
    rng = np.random.default_rng(seed)
    store = face_store(path, FaceSettings(size=SIZE, num_frames=frames))
    for split, n_real, n_fake in counts:
        for i, label in enumerate([0] * n_real + [1] * n_fake):
            base = 50 if label == 0 else 190
            faces = np.clip(rng.normal(base, 20, (frames, SIZE, SIZE, 3)), 0, 255).astype(np.uint8)
            store.stage_video(
                f"toy/{split}_{i}",
                {"faces": faces, "frame_indices": np.arange(frames, dtype=np.int32),
                 "sampled_indices": np.arange(frames, dtype=np.int32),
                 "boxes": np.tile(np.float32([10, 10, 60, 60]), (frames, 1)),
                 "keypoints": np.zeros((frames, 5, 2), np.float32),
                 "confidences": np.ones(frames, np.float32)},
                {"label": label, "split": split, "dataset": "toy"})
    store.commit()
    return path


def write_embedding_cache(path, dim=8, frames=FRAMES, seed=0):
    rng = np.random.default_rng(seed)
    store = embedding_store(path, {"model": "test", "random_init": True, "seed": 0,
                                   "weights_sha256": None, "face_settings": {}})
    for split, n in (("train", 4), ("val", 2), ("test", 2)):
        for label in (0, 1):
            for v in range(n):
                x = rng.normal(loc=2.0 * label, size=(frames, dim)).astype(np.float32)
                store.stage_video(f"emb/{split}/{label}/{v}",
                                  {"embeddings": x, "frame_indices": np.arange(frames, dtype=np.int32)},
                                  {"label": label, "split": split, "dataset": "emb"})
    store.commit()
    return path


def spy(monkeypatch, module, name, captured):
    original = getattr(module, name)

    def wrapper(*args, **kwargs):
        result = original(*args, **kwargs)
        captured.setdefault(name, (args, kwargs, result))
        return result

    monkeypatch.setattr(module, name, wrapper)


@pytest.fixture(scope="module")
def xception_run(tmp_path_factory):
    from tfdeepfake.models import train_baselines
    from tfdeepfake.models.train_baselines import XceptionTrainingConfig

    root = tmp_path_factory.mktemp("xception")
    cache = write_face_cache(root / "faces.h5")
    config = XceptionTrainingConfig(input_size=SIZE, epochs=2, batch_size=8, tensorboard=False,
                                    shuffle_buffer=64, seed=1)
    captured = {}
    with pytest.MonkeyPatch.context() as mp:
        spy(mp, train_baselines, "train_xception", captured)
        meta = train_xception_baseline(cache, root / "model", config, val_fraction=0.34)
    return root, cache, meta, captured["train_xception"][2].model


def test_xception_baseline_folder(xception_run):
    root, cache, meta, _ = xception_run
    folder = root / "model"
    for name in ("baseline.json", "model.weights.h5", "history.csv", "config.json"):
        assert (folder / name).is_file(), name
    assert not (folder / "xception_best.h5").exists()  # folded into model.weights.h5
    saved = json.loads((folder / "baseline.json").read_text())
    assert saved["kind"] == "xception" and saved["input_size"] == SIZE
    assert saved["weights_source"]["init"] == "random"
    assert saved["training"]["learning_rate"] == 0.05 and saved["training"]["epochs"] == 2
    assert saved["strategy"] == {"name": "default", "class": "_DefaultDistributionStrategy",
                                 "num_replicas": 1}
    assert saved["versions"]["tensorflow"].startswith("2.")
    assert saved["face_settings"]["size"] == SIZE
    # Validation is held-out train videos, by video; the 4 test videos are never used.
    data = saved["data"]
    assert data["validation"].startswith("0.34 of the train videos")
    assert data["train"]["videos"] == {"real": 2, "fake": 2}
    assert data["val"]["videos"] == {"real": 1, "fake": 1}
    assert data["train"]["frames"] == {"real": 2 * FRAMES, "fake": 2 * FRAMES}
    assert saved["epochs_run"] == 2 and saved["best_epoch"] in (1, 2)
    assert meta["history"]["loss"] and "val_loss" in meta["history"]


def test_xception_save_load_round_trip(xception_run):
    root, _, _, trained = xception_run
    model, meta = load_baseline(root / "model")
    faces = np.random.default_rng(5).integers(0, 256, (3, SIZE, SIZE, 3)).astype(np.float32)
    np.testing.assert_allclose(model.predict(faces, verbose=0), trained.predict(faces, verbose=0),
                               atol=1e-6)
    assert meta["kind"] == "xception"
    assert load_feature_extractor(root / "model", meta) is None


def test_xception_evaluate_writes_results(xception_run, tmp_path):
    root, cache, _, _ = xception_run
    results = evaluate_baseline(root / "model", cache, tmp_path / "eval", note="toy data")
    assert results["split"] == "test" and results["kind"] == "xception"
    assert results["video"]["n"] == 4 and results["video"]["n_real"] == 2
    assert results["frame"]["n"] == 4 * FRAMES
    for key in ("auc", "accuracy", "precision", "recall", "f1", "eer", "average_precision"):
        assert key in results["video"] and key in results["frame"]
    for name in ("results.json", "results.md", "video_scores.csv", "roc_video.png",
                 "confusion_video.png"):
        assert (tmp_path / "eval" / name).is_file(), name
    saved = json.loads((tmp_path / "eval" / "results.json").read_text())
    assert saved["video"]["accuracy"] == pytest.approx(results["video"]["accuracy"])
    assert saved["seed"] == 1 and saved["note"] == "toy data"
    table = (tmp_path / "eval" / "results.md").read_text()
    assert "| AUC |" in table and "video level" in table and "frame level" in table
    rows = (tmp_path / "eval" / "video_scores.csv").read_text().splitlines()
    assert rows[0] == "video_id,label,fake_probability" and len(rows) == 5
    assert all(row.startswith("toy/test_") for row in rows[1:])


def test_explain_video_writes_gradcam_pngs(xception_run, tmp_path):
    root, _, _, _ = xception_run
    video = write_face_video(tmp_path / "face.mp4", num_frames=8)
    summary = explain_video(video, root / "model", tmp_path / "explain", num_frames=3)
    assert summary["faces_found"] == len(summary["overlays"]) >= 1
    assert summary["frames_sampled"] == 3
    for path in summary["overlays"] + [summary["grid"]]:
        image = cv2.imread(path)
        assert image is not None and Path(path).suffix == ".png"
    assert cv2.imread(summary["overlays"][0]).shape == (SIZE, SIZE, 3)
    assert 0.0 <= summary["fake_probability"] <= 1.0
    assert summary["verdict"] in ("real", "fake")
    assert json.loads(Path(summary["json"]).read_text())["overlays"] == summary["overlays"]


@pytest.mark.shared_data
def test_explain_a_real_deepfake_video(xception_run, shared_data_dir, tmp_path):
    """A FaceForensics++ FaceSwap clip (real footage, real codec): faces found, maps drawn."""
    root, _, _, _ = xception_run
    video = shared_data_dir / "videos" / "ffpp_c23" / "fake" / "FaceSwap_c23_634_660.mp4"
    summary = explain_video(video, root / "model", tmp_path, num_frames=2)
    assert summary["faces_found"] >= 1 and all(Path(p).is_file() for p in summary["overlays"])


def test_max_train_frames_keeps_whole_videos_balanced():
    metas = [baselines._VideoMeta(f"v{i}", i % 2, "train", 10) for i in range(20)]
    train = {m.video_id for m in metas}
    chosen = baselines._cap_frames(metas, train, 60, seed=0)
    per_label = [sum(m.frames for m in metas if m.video_id in chosen and m.label == c) for c in (0, 1)]
    assert per_label == [30, 30]


def test_validation_split_prefers_the_manifest_and_never_takes_test():
    metas = ([baselines._VideoMeta(f"t{i}", i % 2, "train", 3) for i in range(6)]
             + [baselines._VideoMeta(f"x{i}", i % 2, "test", 3) for i in range(4)])
    train, val, how = baselines._split_train_val(metas, 0.34, seed=0)
    assert not (train | val) & {f"x{i}" for i in range(4)} and not train & val
    assert len(val) == 2 and how.startswith("0.34")
    metas.append(baselines._VideoMeta("v0", 0, "val", 3))
    train, val, how = baselines._split_train_val(metas, 0.34, seed=0)
    assert val == {"v0"} and how == "manifest val split" and len(train) == 6


def test_lstm_over_facenet_embeddings(tmp_path, monkeypatch):
    from tfdeepfake.models import train_baselines
    from tfdeepfake.models.train_baselines import LSTMTrainingConfig
    from tfdeepfake.pipelines.sequences import FEATURES_KEY, MASK_KEY

    cache = write_embedding_cache(tmp_path / "emb.h5")
    captured = {}
    spy(monkeypatch, train_baselines, "train_lstm", captured)
    config = LSTMTrainingConfig(num_frames=FRAMES, units=4, epochs=2, batch_size=4,
                                learning_rate=0.05, tensorboard=False)
    meta = train_lstm_baseline(cache, tmp_path / "lstm", config, features="facenet")
    assert meta["kind"] == "lstm" and meta["features"] == "facenet" and meta["feature_dim"] == 8
    assert meta["data"]["validation"] == "manifest val split"
    assert meta["data"]["train"]["videos"] == {"real": 4, "fake": 4}
    assert meta["embedder"]["random_init"] is True
    assert not (tmp_path / "lstm" / "extractor.weights.h5").exists()

    model, loaded_meta = load_baseline(tmp_path / "lstm")
    trained = captured["train_lstm"][2].model
    inputs = {FEATURES_KEY: np.random.default_rng(0).normal(size=(3, FRAMES, 8)).astype(np.float32),
              MASK_KEY: np.array([[True] * FRAMES, [True, True, False, False], [True] + [False] * 3])}
    np.testing.assert_allclose(model.predict(inputs, verbose=0), trained.predict(inputs, verbose=0),
                               atol=1e-6)

    results = evaluate_baseline(tmp_path / "lstm", cache, tmp_path / "eval", figures=False)
    assert results["video"]["n"] == 4 and "frame" not in results
    assert (tmp_path / "eval" / "results.md").is_file()


def test_lstm_over_xception_features_saves_its_extractor(tmp_path, monkeypatch):
    from tfdeepfake.models.train_baselines import LSTMTrainingConfig
    from tfdeepfake.pipelines import sequences

    cache = write_face_cache(tmp_path / "faces.h5")
    captured = {}
    spy(monkeypatch, sequences, "compute_sequence_features", captured)
    config = LSTMTrainingConfig(num_frames=FRAMES, units=4, epochs=1, batch_size=4,
                                extractor_input_size=SIZE, tensorboard=False)
    meta = train_lstm_baseline(cache, tmp_path / "lstm", config, features="xception")
    assert meta["feature_dim"] == 2048 and meta["extractor"]["input_size"] == SIZE
    assert meta["extractor"]["weights_source"]["init"] == "random"
    extractor = load_feature_extractor(tmp_path / "lstm")
    used = captured["compute_sequence_features"][0][1]
    faces = np.random.default_rng(1).integers(0, 256, (2, SIZE, SIZE, 3)).astype(np.float32)
    np.testing.assert_allclose(extractor.predict(faces, verbose=0), used.predict(faces, verbose=0),
                               atol=1e-5)
    results = evaluate_baseline(tmp_path / "lstm", cache, tmp_path / "eval", figures=False)
    assert results["video"]["n"] == 4
    with pytest.raises(ValueError, match="needs an Xception baseline"):
        explain_video(tmp_path / "any.mp4", tmp_path / "lstm", tmp_path / "x")


def test_errors_name_the_problem(tmp_path):
    with pytest.raises(BaselineError, match="not a finished baseline"):
        load_baseline(tmp_path)
    with pytest.raises(FileNotFoundError, match="face cache not found"):
        train_xception_baseline(tmp_path / "missing.h5", tmp_path / "out")
    with pytest.raises(ValueError, match="valid: xception, facenet"):
        train_lstm_baseline(tmp_path / "none.h5", tmp_path / "out", features="resnet")
    cache = write_face_cache(tmp_path / "faces.h5", counts=(("train", 3, 0), ("test", 1, 1)))
    from tfdeepfake.models.train_baselines import XceptionTrainingConfig

    with pytest.raises(ValueError, match="no fake training videos"):
        train_xception_baseline(cache, tmp_path / "out", XceptionTrainingConfig(input_size=SIZE))


def test_lstm_baseline_trains_under_a_mirrored_strategy(tmp_path):
    """Two logical CPU devices stand in for two GPUs; TensorFlow must split them before any op."""
    cache = write_embedding_cache(tmp_path / "emb.h5")
    script = textwrap.dedent(f"""
        import json, os
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
        from tfdeepfake.models.strategy import split_cpu_into_logical_devices
        split_cpu_into_logical_devices(2)
        from tfdeepfake.baselines import train_lstm_baseline
        from tfdeepfake.models.train_baselines import LSTMTrainingConfig
        config = LSTMTrainingConfig(num_frames={FRAMES}, units=4, epochs=1, batch_size=4,
                                    tensorboard=False)
        meta = train_lstm_baseline({str(cache)!r}, {str(tmp_path / 'lstm')!r}, config,
                                   features="facenet", strategy_name="mirrored")
        print(json.dumps(meta["strategy"]))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=REPO, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    strategy = json.loads(done.stdout.strip().splitlines()[-1])
    assert strategy == {"name": "mirrored", "class": "MirroredStrategy", "num_replicas": 2}
    saved = json.loads((tmp_path / "lstm" / "baseline.json").read_text())
    assert saved["strategy"]["num_replicas"] == 2


def test_cli_train_evaluate_and_explain(xception_run, tmp_path, capsys):
    from tfdeepfake.cli import main

    _, cache, _, _ = xception_run
    assert main(["train", "xception", str(cache), "-o", str(tmp_path / "m"), "--input-size", str(SIZE),
                 "--epochs", "1", "--batch-size", "8", "--json"]) == 0
    meta = json.loads(capsys.readouterr().out)
    assert meta["kind"] == "xception" and (tmp_path / "m" / "baseline.json").exists()
    assert main(["evaluate-baseline", "--model", str(tmp_path / "m"), "--source", str(cache),
                 "-o", str(tmp_path / "report"), "--no-figures", "--json"]) == 0
    capsys.readouterr()
    video = write_face_video(tmp_path / "v.mp4")
    assert main(["explain", str(video), "--model", str(tmp_path / "m"), "-o", str(tmp_path / "cam"),
                 "--num-frames", "2"]) == 0
    assert len(list((tmp_path / "cam").glob("*.png"))) >= 2
