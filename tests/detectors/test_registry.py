"""The registry: one loader for every kind of model folder."""

import json
import logging

import pytest

import tfdeepfake.detectors as detectors
from tfdeepfake.detectors import ModelFolderError, load_detector


def _folder(root, detector, facenet):
    root.mkdir()
    (root / "model.json").write_text(json.dumps({"format_version": 2, "detector": detector,
                                                 "facenet": facenet}))
    return root


def test_load_detector_passes_facenet_weights_only_where_a_facenet_is_used(tmp_path, monkeypatch,
                                                                          caplog):
    calls = []

    class Recorder:
        @classmethod
        def from_folder(cls, folder, meta, **kwargs):
            calls.append(kwargs)
            return meta["detector"]

    monkeypatch.setattr(detectors, "detector_class", lambda name: Recorder)
    xception = _folder(tmp_path / "xception", "xception", None)
    triplet = _folder(tmp_path / "triplet", "triplet", {"model": "20170512-110547"})
    weights = tmp_path / "facenet.h5"
    with caplog.at_level(logging.WARNING, logger="tfdeepfake.detectors"):
        assert load_detector(xception, facenet_weights=weights) == "xception"
    assert "uses no FaceNet; facenet_weights ignored" in caplog.text
    load_detector(triplet, facenet_weights=weights)
    load_detector(triplet)
    assert calls == [{}, {"facenet_weights": weights}, {}]


def test_load_detector_names_the_file_of_an_unknown_detector(tmp_path):
    folder = _folder(tmp_path / "m", "resnet", None)
    with pytest.raises(ModelFolderError, match=r"model\.json: key 'detector' should be one of "
                                               r"triplet, xception, lstm, sbi, found 'resnet'"):
        load_detector(folder)
