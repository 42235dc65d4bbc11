"""The shared detector pieces: keep-best, the identity-grouped validation carve, the
model folder's checks."""

import dataclasses
import json
import re

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


def test_a_val_split_that_shares_people_with_training_is_warned_about(caplog):
    """A cache's own val split (folder layouts, Celeb-DF --group-by video) may put a person
    on both sides; keep-best would watch an optimistic score: one warning line, counted."""
    moved = ("celebdf-v2/Celeb-real/id0_0001", "celebdf-v2/Celeb-real/id1_0001",
             "celebdf-v2/Celeb-synthesis/id1_id2_0000")  # people id0 and id1 stay in train too
    rows = [dataclasses.replace(r, split="val") if r.video_id in moved else r
            for r in _celebdf_rows(4)]
    with caplog.at_level("WARNING"):
        train, val, how = carve_validation(rows, 0.25, seed=0)
    assert how == "manifest val split" and len(val) == 3
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "\n" not in warnings[0].getMessage()
    message = warnings[0].getMessage()
    assert "2 identity groups" in message and "3 of 3 validation videos" in message
    assert "celebdf:id0" in message  # an example, so the user can look it up
    caplog.clear()
    apart = [dataclasses.replace(r, split="val") if r.group == "celebdf:id3" else r
             for r in _celebdf_rows(4)]
    with caplog.at_level("WARNING"):
        carve_validation(apart, 0.25, seed=0)
        carve_validation(_celebdf_rows(4), 0.25, seed=0)  # carved by group: apart by design
    assert not [r for r in caplog.records if r.levelname == "WARNING"]


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


# --- issue 14: a model folder reaches nothing outside itself; malformed ones are one line ----



def _load_edited(folder, embedder, tmp_path, edit):
    import shutil

    from tfdeepfake.detectors import load_detector

    copy = tmp_path / "model"
    shutil.copytree(folder, copy)
    edit(copy)
    return lambda: load_detector(copy, embedder=embedder)


def _edit_meta(change):
    def edit(folder):
        meta = json.loads((folder / "model.json").read_text())
        change(meta)
        (folder / "model.json").write_text(json.dumps(meta))
    return edit


def _link_classifier_outside(folder):
    import shutil

    outside = folder.parent / "elsewhere"
    shutil.move(folder / "classifiers" / "knn", outside)
    (folder / "classifiers" / "knn").symlink_to(outside)


ESCAPES = [  # item 1: already refused by the redesign (ModelFolder.path); kept refused
    (_edit_meta(lambda m: m.update(classifiers=["../../elsewhere/x"])),
     r"model.json: key 'classifiers\[0\]' should be one of knn, sgd, rf, found "
     r"'../../elsewhere/x'"),
    (_edit_meta(lambda m: m.update(classifiers=["knn", "svm"])), r"key 'classifiers\[1\]' should be"),
    (_edit_meta(lambda m: m["head"].update(weights="../../elsewhere/head.weights.h5")),
     r"model.json: '../../elsewhere/head.weights.h5' points outside the model folder"),
    (_edit_meta(lambda m: m["head"].update(weights="/etc/passwd")),
     r"model.json: '/etc/passwd' is not a relative path inside the model folder"),
    (_link_classifier_outside, r"model.json: 'classifiers/knn' points outside the model folder"),
]


@pytest.mark.parametrize("edit, message", ESCAPES)
def test_a_model_folder_cannot_load_files_from_outside_itself(triplet_folder, tmp_path, edit,
                                                              message):
    load = _load_edited(*triplet_folder, tmp_path, edit)
    with pytest.raises(ModelFolderError, match=message):
        load()


MALFORMED = [  # item 8: these were TypeError/KeyError tracebacks or lines naming no file
    (_edit_meta(lambda m: m["face_settings"].update(size="abc")), "model.json",
     r"model.json: key 'face_settings.size' should be an integer in 32..1024, found 'abc'"),
    (_edit_meta(lambda m: m["face_settings"].update(evil=1)), "model.json",
     r"model.json \[face_settings\]: unknown key\(s\) 'evil'; valid: num_frames"),
    (_edit_meta(lambda m: m["face_settings"]["detector"].update(min_confidence="high")),
     "model.json", r"key 'face_settings.detector.min_confidence' should be a number in \[0, 1\]"),
    (_edit_meta(lambda m: m.update(threshold="abc")), "model.json",
     r"model.json: key 'threshold' should be a number in \[0, 1\], found 'abc'"),
    (_edit_meta(lambda m: m.pop("head")), "model.json", r"model.json: key 'head' is missing"),
    (_edit_meta(lambda m: m["thresholds"].update(knn="abc")), "model.json",
     r"key 'thresholds.knn' should be a number in \[0, 1\], found 'abc'"),
    (lambda f: (f / "head.weights.h5").write_bytes(b"garbage"), "head.weights.h5",
     r"head.weights.h5: not the weights"),
    (lambda f: _edit_json(f / "classifiers/sgd/classifier.json", lambda m: m["params"].update(evil=1)),
     "classifier.json", r"classifier.json: key 'params' has unknown key\(s\) 'evil'"),
    (lambda f: np.savez(f / "classifiers/sgd/classifier.npz", coef=np.array([object()]),
                        intercept=np.float32(0)),
     "classifier.npz", r"classifier.npz: array 'coef' holds Python objects"),
]


def _edit_json(path, change):
    meta = json.loads(path.read_text())
    change(meta)
    path.write_text(json.dumps(meta))


@pytest.mark.parametrize("edit, file, message", MALFORMED)
def test_a_malformed_model_folder_is_one_line_naming_file_and_key(triplet_folder, tmp_path,
                                                                  edit, file, message):
    load = _load_edited(*triplet_folder, tmp_path, edit)
    with pytest.raises(ModelFolderError) as err:
        load()
    line = str(err.value)
    assert file in line and "\n" not in line and re.search(message, line), line


def test_weights_that_do_not_fit_are_one_line_naming_the_file(tmp_path):
    """xception/lstm loaded weights with a bare `model.load_weights`: h5py's "file signature
    not found" with no file name."""
    folder = ModelFolder(tmp_path / "m").start()
    small = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    other = keras.Sequential([keras.Input((3,)), keras.layers.Dense(5), keras.layers.Dense(1)])
    other.save_weights(str(folder.root / "other.weights.h5"))
    (folder.root / "garbage.weights.h5").write_bytes(b"garbage")
    for name in ("garbage.weights.h5", "other.weights.h5"):
        with pytest.raises(ModelFolderError, match=f"{name}: not the Keras weights of the network"):
            folder.load_weights(small, folder.path(name))
