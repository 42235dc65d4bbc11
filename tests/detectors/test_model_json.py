"""Issue 22 item 7: every model.json key's type and range is checked when the folder is read
(detectors/model_json.py), so a hand-edited value is one line naming the file and the key,
never a TypeError, a ResourceExhaustedError or a NaN that fails every frame."""

import json
import math
import re
import shutil

import pytest

from tfdeepfake.detectors import ModelFolderError, load_detector
from tfdeepfake.detectors.base import ModelFolder
from tfdeepfake.detectors.model_json import validate_meta



def _edited(folder, tmp_path, change):
    copy = tmp_path / "model"
    shutil.copytree(folder, copy)
    meta = json.loads((copy / "model.json").read_text())
    change(meta)
    (copy / "model.json").write_text(json.dumps(meta))  # NaN / Infinity as json.dumps writes them
    return copy


def _set(path, value):
    """An edit setting the dotted ``path`` ("head.embedding_dim") to ``value``."""
    *parents, last = path.split(".")

    def change(meta):
        for key in parents:
            meta = meta[key]
        meta[last] = value
    return change


NAN, INF = math.nan, math.inf

# (edited key, new value, the key the line names)
BAD_EDITS = [
    # the issue's
    ("detector", ["triplet"], "detector"),
    ("head.embedding_dim", 10**12, "head.embedding_dim"),
    ("head.embedding_dim", 1e12, "head.embedding_dim"),
    ("face_settings.margin", NAN, "face_settings.margin"),
    # NaN / inf floats
    ("face_settings.margin", INF, "face_settings.margin"),
    ("threshold", NAN, "threshold"),
    ("thresholds.knn", -INF, "thresholds.knn"),
    ("head.dropout", NAN, "head.dropout"),
    ("face_settings.detector.min_confidence", NAN, "face_settings.detector.min_confidence"),
    ("facenet.probe", [0.1, NAN], "facenet.probe[1]"),
    # out of range, negative sizes
    ("head.hidden_units", [-16], "head.hidden_units[0]"),
    ("head.input_dim", 0, "head.input_dim"),
    ("head.dropout", 1.0, "head.dropout"),
    ("face_settings.num_frames", -1, "face_settings.num_frames"),
    ("face_settings.size", -160, "face_settings.size"),
    ("face_settings.margin", -1.0, "face_settings.margin"),
    ("face_settings.stride", 0, "face_settings.stride"),
    ("face_settings.detector.batch_size", 0, "face_settings.detector.batch_size"),
    ("face_settings.detector.retry_short_sides", [540, -1],
     "face_settings.detector.retry_short_sides[1]"),
    ("threshold", 1.5, "threshold"),
    ("seed", -1, "seed"),
    ("calibration", {"false_positive_rate": 0}, "calibration.false_positive_rate"),
    ("calibration", {"real_scores": {"knn": [0.2, "x"]}}, "calibration.real_scores.knn[1]"),
    # wrong types, a list for a string and a string for a list
    ("face_settings.square", "yes", "face_settings.square"),
    ("face_settings.sampling", ["uniform"], "face_settings.sampling"),
    ("facenet.random_init", "false", "facenet.random_init"),
    ("seed", "0", "seed"),
    ("default_classifier", ["knn"], "default_classifier"),
    ("aggregation", ["mean"], "aggregation"),
    ("classifiers", "knn", "classifiers"),
    ("training", [], "training"),
    ("backbone", "sbi", "backbone"),
    ("head", "head.weights.h5", "head"),
    ("face_settings", None, "face_settings"),
    # unknown names
    ("detector", "resnet", "detector"),
    ("aggregation", "mode", "aggregation"),
    ("classifiers", ["knn", "svm"], "classifiers[1]"),
    ("facenet.model", "nope", "facenet.model"),
]


def _one_line_naming(error, key):
    line = str(error)
    assert "\n" not in line and "Traceback" not in line, line
    assert re.search(rf"model\.json: key '{re.escape(key)}' should be .+, found ", line), line


@pytest.mark.parametrize("edit, value, key", BAD_EDITS,
                         ids=[f"{e}={v!r}" for e, v, _ in BAD_EDITS])
def test_a_bad_value_is_one_line_naming_model_json_and_the_key(triplet_folder, tmp_path, edit,
                                                               value, key):
    folder, embedder = triplet_folder
    bad = _edited(folder, tmp_path, _set(edit, value))
    with pytest.raises(ModelFolderError) as error:
        load_detector(bad, embedder=embedder)
    _one_line_naming(error.value, key)


def test_the_line_says_what_was_expected_and_found(triplet_folder, tmp_path):
    folder, embedder = triplet_folder
    bad = _edited(folder, tmp_path, _set("head.embedding_dim", 10**12))
    with pytest.raises(ModelFolderError) as error:
        load_detector(bad, embedder=embedder)
    assert str(error.value) == (f"{bad / 'model.json'}: key 'head.embedding_dim' should be an "
                                "integer in 1..4096, found 1000000000000")


def test_unknown_keys_are_let_through_for_newer_versions(triplet_folder, tmp_path):
    folder, embedder = triplet_folder
    newer = _edited(folder, tmp_path, lambda m: m.update(future_key={"anything": [1, NAN]}))
    detector = load_detector(newer, embedder=embedder)
    assert detector.meta["future_key"]["anything"][0] == 1


# Keys of the other detectors: checked on reading, before any file they name is needed, so a
# model.json alone is enough.
OTHER_DETECTORS = [
    ("xception", {"input_size": 10**6}, "input_size"),
    ("xception", {"dropout": NAN}, "dropout"),
    ("xception", {"weights": ["model.weights.h5"]}, "weights"),
    ("lstm", {"units": 10**9}, "units"),
    ("lstm", {"num_frames": 0}, "num_frames"),
    ("lstm", {"feature_dim": -512}, "feature_dim"),
    ("lstm", {"features": ["facenet"]}, "features"),
    ("lstm", {"extractor": {"input_size": "299"}}, "extractor.input_size"),
    ("sbi", {"input_size": 1e12}, "input_size"),
    ("sbi", {"backbone": {"dropout": -0.1}}, "backbone.dropout"),
    ("sbi", {"backbone": {"kind": "resnet"}}, "backbone.kind"),
    ("sbi", {"backbone": {"texture": {"weight": 2}}}, "backbone.texture.weight"),
    ("sbi", {"backbone": {"texture": {"region_layers": ["mouth"]}}}, "backbone.texture.region_layers"),
    ("sbi", {"backbone": {"texture": {"region_layers": {"mouth": 3}}}},
     "backbone.texture.region_layers.mouth"),
    ("sbi", {"weights": {"file": 3}}, "weights.file"),
    ("sbi", {"weights": 3}, "weights"),
]


@pytest.mark.parametrize("detector, keys, key", OTHER_DETECTORS,
                         ids=[f"{d}:{k}" for d, _, k in OTHER_DETECTORS])
def test_every_detectors_keys_are_checked(tmp_path, detector, keys, key):
    folder = ModelFolder(tmp_path / "m").start()
    folder.meta_path.write_text(json.dumps({"format_version": 2, "detector": detector, **keys}))
    with pytest.raises(ModelFolderError) as error:
        load_detector(folder.root)
    _one_line_naming(error.value, key)


def test_the_bundled_default_model_validates():
    from tfdeepfake.detectors.default_model import BUNDLED_MODEL_DIR

    folder = ModelFolder(BUNDLED_MODEL_DIR)
    meta = folder.read_meta()  # validate_meta runs here
    validate_meta(meta, folder.meta_path)
    assert meta["detector"] == "sbi"


def test_what_the_triplet_writer_saves_validates(triplet_folder):
    folder, _ = triplet_folder
    meta = ModelFolder(folder).read_meta()
    validate_meta(meta, "model.json")
    assert {"head", "classifiers", "thresholds", "face_settings", "facenet"} <= set(meta)


@pytest.mark.parametrize("edit, value", [("detector", ["triplet"]),
                                         ("head.embedding_dim", 10**12),
                                         ("face_settings.margin", NAN)])
def test_detect_on_a_bad_model_exits_2_with_one_line(triplet_folder, tmp_path, capsys, edit,
                                                     value):
    """`detect`'s documented exit for a model error is 2 (DETECT_EXIT_STATUS)."""
    from tests.media import write_blank_video
    from tfdeepfake.cli import main

    folder, _ = triplet_folder
    bad = _edited(folder, tmp_path, _set(edit, value))
    video = write_blank_video(tmp_path / "v.mp4")
    assert main(["-q", "detect", str(video), "--model", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert err.startswith("tfdeepfake detect: ") and f"model.json: key '{edit}'" in err
