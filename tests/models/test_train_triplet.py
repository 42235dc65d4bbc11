import dataclasses
import json
import math

import numpy as np
import pytest
from tensorflow import keras

from tfdeepfake.models.train_triplet import (
    COLLAPSE_HINT,
    EmbeddingCollapseError,
    EmbeddingCollapseMonitor,
    TripletTrainingConfig,
    check_embedding_collapse,
    holdout_validation,
    load_triplet_head,
    train_triplet_head,
)
from tfdeepfake.models.triplet_head import build_triplet_head

TINY = dict(
    hidden_units=(16,), embedding_dim=8, batch_size=16, frames_per_video=2, steps_per_epoch=4
)


def make_table(n_videos=6, frames=5, dim=16, offset=0, seed=0, separation=2.0, split="train"):
    """Two classes of videos; each video's frames sit around its own centre."""
    rng = np.random.default_rng(seed)
    emb, labels, vids = [], [], []
    for label in (0, 1):
        for v in range(n_videos):
            centre = rng.normal(size=dim) * 0.5
            centre[0] += separation if label else -separation
            emb.append(centre + 0.1 * rng.normal(size=(frames, dim)))
            labels += [label] * frames
            vids += [f"{'fake' if label else 'real'}/{v + offset}"] * frames
    n = len(labels)
    return {
        "embeddings": np.concatenate(emb).astype(np.float32),
        "labels": np.asarray(labels),
        "video_ids": np.asarray(vids),
        "frame_indices": np.tile(np.arange(frames), n // frames),
        "splits": np.asarray([split] * n),
    }


def test_config_defaults_are_the_posters():
    config = TripletTrainingConfig()
    assert config.learning_rate == 3e-4
    assert config.epochs == 50 and config.batch_size == 32 and config.margin == 1.0
    assert config.hidden_units == (256, 256, 128) and config.embedding_dim == 64
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.epochs = 3
    assert TripletTrainingConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="unknown config keys"):
        TripletTrainingConfig.from_dict({"lr": 1})
    with pytest.raises(ValueError, match="batch_size"):
        TripletTrainingConfig(batch_size=1)


def test_triplet_loss_falls_and_artefacts_are_written(tmp_path):
    train = make_table(seed=0)
    val = make_table(n_videos=4, offset=100, seed=1)
    config = TripletTrainingConfig(learning_rate=1e-2, epochs=4, seed=0, **TINY)
    model, history = train_triplet_head(train, val, config, tmp_path)
    losses = history.history["loss"]
    assert len(losses) == 4 and "val_loss" in history.history
    assert losses[-1] < 0.5 * losses[0]
    for name in ("best.weights.h5", "triplet_head.weights.h5", "history.csv", "triplet_head.json"):
        assert (tmp_path / name).is_file(), name
    assert any((tmp_path / "tensorboard").rglob("events.out.tfevents.*"))
    assert (tmp_path / "history.csv").read_text().splitlines()[0].startswith("epoch")
    meta = json.loads((tmp_path / "triplet_head.json").read_text())
    assert meta["seed"] == 0 and meta["config"]["learning_rate"] == 1e-2
    assert "tensorflow" in meta["package_versions"] and meta["collapsed"] is False
    reloaded = load_triplet_head(tmp_path)
    x = val["embeddings"][:5]
    np.testing.assert_allclose(reloaded(x).numpy(), model(x).numpy(), atol=1e-6)


def test_check_embedding_collapse():
    assert check_embedding_collapse(np.eye(3)) is None
    assert "equal within" in check_embedding_collapse(np.ones((4, 3)) / math.sqrt(3))
    assert "NaN" in check_embedding_collapse(np.array([[np.nan, 0.0], [0.0, 1.0]]))


def test_collapse_monitor_stops_a_collapsed_model():
    model = build_triplet_head(input_dim=4, hidden_units=(4,), embedding_dim=3)
    final = model.get_layer("embedding")
    final.set_weights([np.zeros_like(final.kernel.numpy()), np.array([1.0, 0.0, 0.0], np.float32)])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.0), loss="mse")
    x = np.random.default_rng(0).normal(size=(8, 4)).astype(np.float32)
    monitor = EmbeddingCollapseMonitor(x)
    history = model.fit(x, np.zeros((8, 3), np.float32), epochs=5, verbose=0, callbacks=[monitor])
    assert monitor.collapsed and "equal within" in monitor.reason
    assert len(history.epoch) == 1


def test_collapse_monitor_stops_on_nan_loss():
    model = build_triplet_head(input_dim=4, hidden_units=(4,), embedding_dim=3)
    monitor = EmbeddingCollapseMonitor(np.eye(4, dtype=np.float32))
    monitor.set_model(model)
    monitor.on_train_batch_end(0, {"loss": 0.5})
    assert not monitor.collapsed
    monitor.on_train_batch_end(1, {"loss": float("nan")})
    assert monitor.collapsed and model.stop_training and "nan" in monitor.reason


def test_training_on_constant_inputs_raises_with_hint(tmp_path):
    train = make_table(seed=0)
    train["embeddings"][:] = 1.0  # every frame identical: nothing to learn
    config = TripletTrainingConfig(learning_rate=1e-3, epochs=3, **TINY)
    with pytest.raises(EmbeddingCollapseError) as info:
        train_triplet_head(train, None, config, tmp_path)
    assert COLLAPSE_HINT in str(info.value) and "both classes" in str(info.value)
    assert json.loads((tmp_path / "triplet_head.json").read_text())["collapsed"] is True


def test_validation_must_be_held_out_training_videos(tmp_path):
    train = make_table(seed=0)
    config = TripletTrainingConfig(epochs=1, **TINY)
    with pytest.raises(ValueError, match="both train and validation"):
        train_triplet_head(train, make_table(n_videos=2, seed=1), config, tmp_path)
    with pytest.raises(ValueError, match="test split"):
        train_triplet_head(train, make_table(n_videos=2, offset=50, split="test"), config, tmp_path)


def test_holdout_validation_splits_train_rows_by_video():
    table = make_table(n_videos=10)
    table["splits"][table["video_ids"] == "real/0"] = "test"
    train, val = holdout_validation(table, val_fraction=0.2, seed=0)
    assert not set(train["video_ids"]) & set(val["video_ids"])
    assert "real/0" not in set(train["video_ids"]) | set(val["video_ids"])
    assert set(val["labels"].tolist()) == {0, 1}
    assert len(train["labels"]) + len(val["labels"]) == len(table["labels"]) - 5
