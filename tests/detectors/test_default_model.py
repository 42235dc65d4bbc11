"""The bundled default model (tfdeepfake/default_model): small, calibrated as its card says,
and usable with the installed FaceNet (those tests skip, saying so, where the weights are not
installed: `tfdeepfake weights install`)."""

import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest

from tfdeepfake.detectors.default_model import BUNDLED_MODEL_DIR, MODEL_CARD, resolve_model

MAX_BYTES = 40 * 2**20


@pytest.fixture(scope="module")
def meta():
    return json.loads((BUNDLED_MODEL_DIR / "model.json").read_text())


def test_the_folder_is_small_and_complete(meta):
    files = {p.name for p in BUNDLED_MODEL_DIR.iterdir()}
    assert {"model.json", meta["weights"]["file"], MODEL_CARD} <= files
    assert sum(p.stat().st_size for p in BUNDLED_MODEL_DIR.iterdir()) < MAX_BYTES
    assert meta["detector"] == "sbi" and meta["weights"]["base"] == "facenet"
    assert not meta["facenet"]["random_init"]
    assert resolve_model(None) == (BUNDLED_MODEL_DIR, True) or os.environ.get(
        "TFDEEPFAKE_DEFAULT_MODEL")


def test_the_threshold_is_the_conformal_one_the_card_states(meta):
    (t,) = meta["calibration"]["thresholds"]
    reals = meta["calibration"]["real_scores"][t["variant"]]
    assert meta["threshold"] == t["threshold"] == float(np.float32(t["threshold"]))
    assert t["n"] == len(reals) >= 9 and t["bound"] <= meta["calibration"]["false_positive_rate"]
    assert sum(r >= meta["threshold"] for r in reals) == t["flagged"]
    assert t["bound"] == pytest.approx((t["flagged"] + t["tied"]) / (t["n"] + 1))
    card = (BUNDLED_MODEL_DIR / MODEL_CARD).read_text()
    assert f"{meta['threshold']:.4f}" in card and "leave-one-generator-out" in card


def _require_facenet(meta):
    from tfdeepfake.models.facenet import weights_path_for

    if not weights_path_for(meta["facenet"]["model"]).is_file():
        pytest.skip("FaceNet weights not installed (tfdeepfake weights install)")


def test_it_loads_on_the_installed_facenet_and_scores_faces(meta):
    from tfdeepfake.detectors import load_detector

    _require_facenet(meta)
    detector = load_detector(BUNDLED_MODEL_DIR)
    faces = np.random.default_rng(0).integers(0, 256, (3, 160, 160, 3)).astype(np.uint8)
    scores = detector.score_faces(faces)
    assert scores.shape == (3,) and ((scores >= 0) & (scores <= 1)).all()
    assert detector.backbone["texture"]["layer"] == "Block17_10_Activation"
    # the head's curvature, for adapt --method self-blend: symmetric, ridge on the diagonal
    from tfdeepfake.detectors.texture_head import load_curvature

    curvature, rows = load_curvature(detector)
    width = detector.model.get_layer("texture_pool").output_shape[-1]  # every region's channels
    assert curvature.shape == (width + 1,) * 2 and rows == meta["texture_head"]["real_faces"] + \
        meta["texture_head"]["fake_faces"]
    np.testing.assert_allclose(curvature, curvature.T, rtol=1e-6)
    assert (np.diag(curvature)[:-1] >= 1 / meta["texture_head"]["c"]).all()


@pytest.mark.shared_data
def test_it_reproduces_its_calibration_scores(meta, shared_data_dir):
    """Two of the calibration's genuine videos, through detect, score what model.json says
    (the bound is only as good as this)."""
    from tfdeepfake.detect import VideoDetector

    _require_facenet(meta)
    detector = VideoDetector(BUNDLED_MODEL_DIR)
    reals = meta["calibration"]["real_scores"]["sbi"]
    for name in meta["calibration"]["real_videos"][:2]:
        verdict = detector.detect(shared_data_dir / "videos" / name)
        assert min(abs(verdict.fake_probability - r) for r in reals) < 1e-4
        assert verdict.genuine_share is not None
