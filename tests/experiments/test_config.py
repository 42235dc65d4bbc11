"""Experiment configs: the poster's settings, registry model names, unknown keys refused."""

import pytest
import yaml

from tfdeepfake.detectors import detector_class
from tfdeepfake.experiments import (
    EXPERIMENTS,
    apply_overrides,
    config_dir,
    experiment_configs,
    load_experiment_config,
    load_quick_overrides,
    parse_experiment_config,
)
from tfdeepfake.experiments.steps import Steps, check_record

# The poster's experiments table (../shared/docs/field.md).
POSTER = {
    "xception_celebdf": ("XceptionNet (frames only)", "Celeb-DF", 0.05, 30, 64, 0.50),
    "lstm_celebdf": ("LSTM + frames", "Celeb-DF", 0.01, 30, 64, 0.52),
    "xception_merged": ("XceptionNet (30k frames)", "Celeb-DF + Celeb-DF-v2", 0.05, 30, 64, 0.70),
    "facenet_triplet_merged": ("FaceNet + metric learning", "Celeb-DF + Celeb-DF-v2", 0.0003, 50, 32,
                               0.875),
}


def shipped(name):
    return yaml.safe_load((config_dir() / f"{name}.yaml").read_text())


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_shipped_configs_carry_the_poster_settings(name):
    config = load_experiment_config(name)
    poster = config.poster
    assert (poster.architecture, poster.dataset, poster.learning_rate, poster.epochs,
            poster.batch_size, poster.accuracy) == POSTER[name]
    training = config.training_config()
    assert isinstance(training, detector_class(config.model).config_class)
    assert (training.learning_rate, training.epochs, training.batch_size) == POSTER[name][2:5]
    settings = config.face_settings()
    assert settings.num_frames == 25
    assert settings.size == (160 if config.model == "triplet" else 299)


def test_config_specifics():
    merged = load_experiment_config("xception_merged")
    assert merged.train["max_train_frames"] == 30000 and merged.xception_weights
    assert load_experiment_config("xception_celebdf").dataset == "celebdf-v1"
    lstm = load_experiment_config("lstm_celebdf")
    assert (lstm.model, lstm.source, lstm.train["features"]) == ("lstm", "faces", "xception")
    assert lstm.training_config().num_frames == 25
    triplet = load_experiment_config("facenet_triplet_merged")
    assert (triplet.model, triplet.source, triplet.dataset) == ("triplet", "embeddings",
                                                                "celebdf-merged")
    assert triplet.train["default_classifier"] == "rf" and not triplet.xception_weights


def test_unknown_keys_name_the_valid_ones(tmp_path):
    data = shipped("xception_celebdf")
    with pytest.raises(ValueError, match=r"unknown key\(s\) colour; valid: name, description"):
        parse_experiment_config({**data, "colour": "red"})
    with pytest.raises(ValueError, match=r"training: unknown key\(s\) lr; valid: learning_rate"):
        parse_experiment_config({**data, "training": {"lr": 0.1}})
    with pytest.raises(ValueError, match=r"extract: unknown key\(s\) frames; valid: num_frames"):
        parse_experiment_config({**data, "extract": {"frames": 3}})
    with pytest.raises(ValueError, match="model: unknown value 'facenet_triplet'; valid: triplet, "
                                         "xception, lstm"):
        parse_experiment_config({**data, "model": "facenet_triplet"})
    with pytest.raises(ValueError, match="source: unknown value 'frames'; valid: faces, embeddings"):
        parse_experiment_config({**data, "source": "frames"})
    with pytest.raises(ValueError, match="poster: missing key"):
        parse_experiment_config({**data, "poster": {"accuracy": 0.5}})
    with pytest.raises(ValueError, match=r"train \(arguments of xception's train\): unknown key\(s\) "
                                         r"features; valid: max_train_frames"):
        parse_experiment_config({**data, "train": {"features": "xception"}})
    with pytest.raises(ValueError, match=r"data: unknown key\(s\) max_train_frames; valid: val_fraction"):
        parse_experiment_config({**data, "data": {"max_train_frames": 10}})
    with pytest.raises(ValueError, match="xception_weights should be true or false"):
        parse_experiment_config({**data, "xception_weights": "imagenet"})
    with pytest.raises(ValueError, match="extract: size must be >= 32"):
        parse_experiment_config({**data, "extract": {"size": 8}})
    with pytest.raises(ValueError, match="unknown experiment 'nope'; valid: facenet_triplet_merged"):
        load_experiment_config("nope")
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({**data, "training": {**data["training"], "epoch": 3}}))
    with pytest.raises(ValueError, match=f"{bad}: training: unknown key"):
        load_experiment_config(bad)


def test_quick_overrides_are_valid_and_small(tmp_path):
    overrides = load_quick_overrides()
    configs = experiment_configs(EXPERIMENTS, quick=True, quick_overrides=overrides)
    for config in configs:
        assert config.training_config().epochs < 10
        assert config.face_settings().num_frames < 25
        if config.source == "faces":
            assert config.face_settings().size == 71
        assert config.poster.accuracy == POSTER[config.name][5]  # the poster's column stays
    merged = apply_overrides(load_experiment_config("xception_merged"), {"training": {"epochs": 1}})
    assert merged.training["epochs"] == 1 and merged.training["learning_rate"] == 0.05
    assert merged.train["max_train_frames"] == 30000
    bad = tmp_path / "quick.yaml"
    bad.write_text(yaml.safe_dump({"experiments": {"xception_celebdf": {"trainin": {}}}}))
    with pytest.raises(ValueError, match="experiments.xception_celebdf: unknown key"):
        load_quick_overrides(bad)
    bad.write_text(yaml.safe_dump({"synthetic": {"videos": 3}}))
    with pytest.raises(ValueError, match=r"synthetic: unknown key\(s\) videos; valid: num_real"):
        load_quick_overrides(bad)


def test_steps_record_status_and_records_refuse_other_settings(tmp_path):
    seen = []
    steps = Steps(seen.append)
    with steps.run("one") as row:
        row["detail"] = "ok"
    with steps.run("two") as row:
        row["status"] = "skipped"
    with pytest.raises(RuntimeError):
        with steps.run("three"):
            raise RuntimeError("boom")
    assert [(r["step"], r["status"]) for r in steps.rows] == [
        ("one", "done"), ("two", "skipped"), ("three", "failed")]
    assert seen == steps.rows and steps.rows[0]["detail"] == "ok"
    record = tmp_path / "run.json"
    check_record(record, {"seed": 0, "quick": True}, "here")
    check_record(record, {"seed": 0, "quick": True}, "here")  # the same: accepted
    with pytest.raises(ValueError, match=r"other settings \(seed differ\)"):
        check_record(record, {"seed": 1, "quick": True}, "here")
