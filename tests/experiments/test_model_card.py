"""The default model's card is written from the model's own model.json and the studies' JSON."""

import json
import shutil
from types import SimpleNamespace

import numpy as np

from tfdeepfake.constants import FAKE, REAL
from tfdeepfake.detectors.default_model import BUNDLED_MODEL_DIR
from tfdeepfake.experiments.default_detector import summarise_scores
from tfdeepfake.experiments.model_card import card, head_width_of


def _study(shift: float) -> dict:
    """A texture study's JSON on made-up scores: genuine videos of two collections, modern
    and classic fakes; ``shift`` moves the fakes up."""
    rng = np.random.default_rng(0)
    videos, real, fake = {}, {}, {}
    for i in range(12):
        v = f"shared/real_more/r{i}"
        videos[v] = SimpleNamespace(label=REAL, dataset="shared", attrs={"method": f"c{i % 2}"})
        real[v] = float(rng.uniform(0, 0.6))
    for i, method in enumerate(["modern:A"] * 4 + ["ffpp"] * 2):
        v = f"shared/fake_modern/f{i}" if method.startswith("modern") else f"shared/ffpp/f{i}"
        videos[v] = SimpleNamespace(label=FAKE, dataset="shared", attrs={"method": method})
        fake[v] = float(rng.uniform(0, 0.6) + shift)
    summary = summarise_scores(videos, real, fake, n_boot=50, seed=0)
    return {"cache": "faces.h5", "command": f"study {shift}",
            "combinations": {"texture": {"0.0": summary}}}


def test_the_card_reads_the_crop_margin_from_the_model_and_labels_compared_studies(tmp_path):
    model = tmp_path / "model"
    shutil.copytree(BUNDLED_MODEL_DIR, model)
    meta = json.loads((model / "model.json").read_text())
    meta["face_settings"]["margin"] = 0.1
    (model / "model.json").write_text(json.dumps(meta))
    shipped, other = _study(0.3), _study(0.0)
    text = card(model, shipped, {"recipes": {}}, "texture", "0.0", ["cmd"],
                compared=[(0.33, other)])
    assert "MTCNN crops of 160 px, margin 0.1)" in text
    assert "| texture, w = 0.0, crop margin 0.1 |" in text
    assert "| texture, w = 0.0, crop margin 0.33 |" in text
    # the shipped study's headline, not the compared one's
    auc = shipped["combinations"]["texture"]["0.0"]["families"]["modern"]["auc"]
    assert f"in {auc:.0%} of pairs" in text
    # margin 0.33 needs no extra extract line; another margin names its own
    assert "--margin 0.1 --workers 2" in text


def test_the_card_shows_the_quality_probe_only_when_given(tmp_path):
    model = tmp_path / "model"
    shutil.copytree(BUNDLED_MODEL_DIR, model)
    quality = {"command": "python scripts/quality_probe.py V", "seconds": 8.0, "rows": [
        {"condition": "240p-crf38", "median_genuine": 0.2, "median_fake": 0.6, "genuine_flagged": 0,
         "genuine": 37, "fakes_caught": 10, "fakes": 27, "auc_in_sample": 0.91}]}
    without = card(model, _study(0.3), None, "texture", "0.0", ["cmd"])
    with_quality = card(model, _study(0.3), None, "texture", "0.0", ["cmd"], quality=quality)
    assert "## Image quality" not in without
    assert "| 240p-crf38 | 0.200 | 0.600 | 0 / 37 | 10 / 27 | 0.910 |" in with_quality
    assert "compression removes" in with_quality and "compression removes" not in without


def test_the_card_names_the_regions_the_head_reads(tmp_path):
    """A head on the face and its lower half: the card says so, counts its values, says FaceNet
    runs twice, and labels a compared study of the same margin by its regions."""
    model = tmp_path / "model"
    shutil.copytree(BUNDLED_MODEL_DIR, model)
    meta = json.loads((model / "model.json").read_text())
    meta["backbone"]["texture"]["regions"] = ["face", "lower-face"]
    meta["backbone"]["texture"].pop("region_layers", None)
    (model / "model.json").write_text(json.dumps(meta))
    margin = meta["face_settings"]["margin"]
    shipped = {**_study(0.3), "regions": ["face", "lower-face"]}
    text = card(model, shipped, {"recipes": {}}, "texture", "0.0", ["cmd"],
                compared=[(margin, _study(0.0))])
    assert "again from lower-face" in text and f"({head_width_of(model)} values per face)" in text
    assert "up to the earlier" not in text
    assert "FaceNet runs a second time" in text
    assert f"| texture, w = 0.0, crop margin {margin:g}, face + lower-face |" in text
    assert f"| texture, w = 0.0, crop margin {margin:g} |" in text
    assert text.count(f"--margin {margin:g} --workers 2") == 1
    assert "Rows reading other regions of the face, or reading them at other layers, were measured" in text


def test_the_card_names_the_layer_a_region_is_read_at(tmp_path):
    """The mouth read at an earlier layer than the face: the card says which, counts the
    head's values from its stored weights, and labels the studies apart by it; without the
    sbi and poster studies it points to docs/results.md for their rows."""
    model = tmp_path / "model"
    shutil.copytree(BUNDLED_MODEL_DIR, model)
    meta = json.loads((model / "model.json").read_text())
    meta["backbone"]["texture"].update(regions=["face", "mouth"],
                                       region_layers={"mouth": "Block35_5_Activation"})
    (model / "model.json").write_text(json.dumps(meta))
    margin = meta["face_settings"]["margin"]
    shipped = {**_study(0.3), "regions": ["face", "mouth"],
               "region_layers": {"mouth": "Block35_5_Activation"}}
    text = card(model, shipped, None, "texture", "0.0", ["cmd"],
                compared=[(margin, {**_study(0.0), "regions": ["face", "mouth"]})])
    assert "on its own up to the earlier `Block35_5_Activation` (" in text
    assert f"({head_width_of(model)} values per face)" in text
    assert f"| texture, w = 0.0, crop margin {margin:g}, face + mouth at `Block35_5_Activation` |" in text
    assert f"| texture, w = 0.0, crop margin {margin:g}, face + mouth |" in text
    assert "sbi`) recipes, measured the same way, are in `docs/results.md`" in text
