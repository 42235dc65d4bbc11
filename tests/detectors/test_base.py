"""The shared detector pieces: keep-best, the identity-grouped validation carve, the
model folder's checks."""

import json

import numpy as np
import pytest
from tensorflow import keras

from tfdeepfake.datasets.records import identity_group
from tfdeepfake.detectors.base import (
    KeepBest,
    ModelFolder,
    ModelFolderError,
    VideoRow,
    best_epoch,
    carve_validation,
    counts_of,
    require,
    require_both_classes,
)


def _rising_validation_run(callbacks):
    """One weight, zero at the start, trained towards +1 while validation wants -1: every
    epoch's validation loss is higher than the one before, so epoch 1 is the best."""
    model = keras.Sequential([keras.Input((1,)),
                              keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros")])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1), loss="mse")
    seen = []
    record = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: seen.append(float(model.get_weights()[0][0, 0])))
    x = np.ones((4, 1), np.float32)
    history = model.fit(x, x, validation_data=(x, -x), epochs=5, batch_size=4, verbose=0,
                        callbacks=[record, *callbacks])
    return model, seen, history.history["val_loss"]


def test_keep_best_restores_the_best_epoch_when_training_runs_to_the_end():
    keep = KeepBest("val_loss")
    model, seen, val_loss = _rising_validation_run([keep])
    assert np.all(np.diff(val_loss) > 0)
    assert keep.best_epoch == 1
    assert float(model.get_weights()[0][0, 0]) == seen[0] != seen[-1]


def test_early_stopping_alone_keeps_the_last_epoch():
    """The bug the old triplet training had: restore_best_weights only acts when
    EarlyStopping stops training itself; with patience left it keeps the last epoch."""
    stop = keras.callbacks.EarlyStopping("val_loss", patience=10, restore_best_weights=True)
    model, seen, _ = _rising_validation_run([stop])
    assert float(model.get_weights()[0][0, 0]) == seen[-1] != seen[0]


def test_keep_best_ignores_missing_and_nan_values():
    keep = KeepBest("val_loss")
    keep.set_model(keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)]))
    keep.on_epoch_end(0, {"loss": 1.0})
    keep.on_epoch_end(1, {"val_loss": float("nan")})
    assert keep.best_epoch is None
    keep.on_epoch_end(2, {"val_loss": 0.5})
    assert keep.best_epoch == 3
    assert best_epoch({"val_loss": [np.nan, 0.4, 0.3, 0.9]}, "val_loss") == 3
    assert best_epoch({"val_loss": [np.nan]}, "val_loss") is None


def _celebdf_rows(people=12):
    rows = []
    for p in range(people):
        for label, vid in ((0, f"celebdf-v2/Celeb-real/id{p}_0000"),
                           (0, f"celebdf-v2/Celeb-real/id{p}_0001"),
                           (1, f"celebdf-v2/Celeb-synthesis/id{p}_id{(p + 1) % people}_0000")):
            rows.append(VideoRow(vid, label, "train", 5, identity_group(vid)))
    rows.append(VideoRow("celebdf-v2/Celeb-real/id99_0000", 0, "test", 5,
                         identity_group("celebdf-v2/Celeb-real/id99_0000")))
    return rows


def test_carve_keeps_each_identity_group_on_one_side():
    rows = _celebdf_rows()
    train, val, how = carve_validation(rows, 0.25, seed=0)
    assert "identity group" in how
    assert val and train and not train & val
    groups = {}
    for row in rows:
        if row.split == "train":
            side = "val" if row.video_id in val else "train"
            groups.setdefault(row.group, set()).add(side)
    assert all(len(sides) == 1 for sides in groups.values()), groups
    assert "celebdf-v2/Celeb-real/id99_0000" not in train | val  # the test split is never read
    counts = counts_of(rows, val)["videos"]
    assert counts["real"] > 0 and counts["fake"] > 0
    assert carve_validation(rows, 0.25, seed=0) == (train, val, how)


def test_carve_prefers_the_manifest_val_split_and_skips_faceless_videos():
    rows = [VideoRow("a", 0, "train", 3, "a"), VideoRow("b", 1, "train", 3, "b"),
            VideoRow("c", 0, "val", 3, "c"), VideoRow("d", 1, "val", 0, "d")]
    assert carve_validation(rows, 0.5, seed=0) == ({"a", "b"}, {"c"}, "manifest val split")
    with pytest.raises(ValueError, match="no fake training videos"):
        require_both_classes(counts_of(rows, {"a"}), "cache.h5")


def test_require_names_the_file_and_key(tmp_path):
    where = tmp_path / "model.json"
    assert require({"k": 3}, "k", int, where) == 3
    with pytest.raises(ModelFolderError, match=r"model.json: key 'k' is missing"):
        require({}, "k", int, where)
    with pytest.raises(ModelFolderError, match=r"key 'k' should be int, found True"):
        require({"k": True}, "k", int, where)


def test_model_folder_refuses_escapes_and_names_legacy_folders(tmp_path):
    folder = ModelFolder(tmp_path / "m").start()
    (folder.root / "w.h5").write_bytes(b"x")
    assert folder.path("w.h5") == (folder.root / "w.h5").resolve()
    for bad in ("../w.h5", str(tmp_path / "w.h5"), ""):
        with pytest.raises(ModelFolderError, match="model.json"):
            folder.path(bad)
    with pytest.raises(ModelFolderError, match="missing from the model folder"):
        folder.path("nothing.h5")
    (folder.root / "bundle.json").write_text("{}")
    with pytest.raises(ModelFolderError, match="convert-model"):
        folder.read_meta()
    folder.write_meta({"format_version": 1})
    with pytest.raises(ModelFolderError, match="'format_version' is 1"):
        folder.read_meta()
    assert json.loads(folder.meta_path.read_text())["format_version"] == 1
