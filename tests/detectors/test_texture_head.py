"""The texture head (``detectors.texture_head``): a linear head on a frozen middle layer of
FaceNet, fitted with scikit-learn and stored as Keras weights, combined with the sbi head."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest

from tfdeepfake.detectors.texture_head import fit_texture_head


def test_fit_separates_and_standardises():
    rng = np.random.default_rng(0)
    real = rng.normal(0.0, 1.0, (200, 6)) + [0, 0, 0, 0, 0, 50]
    fake = rng.normal(0.0, 1.0, (150, 6)) + [2, 0, 0, 0, 0, 50]
    head = fit_texture_head(real, fake, c=1.0, record={"note": "toy"})
    assert head.logits(fake).mean() > 0 > head.logits(real).mean()
    assert abs(head.coef[0]) > 5 * np.abs(head.coef[1:]).max()  # the informative feature
    np.testing.assert_allclose(head.mean[5], 50, atol=0.3)
    assert head.record["real_faces"] == 200 and head.record["fake_faces"] == 150
    with pytest.raises(ValueError, match="real and fake"):
        fit_texture_head(real, fake[:0])


@pytest.mark.slow
def test_the_network_combines_the_two_heads_as_documented(tmp_path):
    """A random-init FaceNet sbi model plus a texture head: the folder stores trained layers
    only, reloads, and its probability is sigmoid(w logit(p_sbi) + (1 - w) t) computed from
    the texture features in numpy."""
    from tfdeepfake.detectors import load_detector
    from tfdeepfake.detectors.sbi_training import SBITrainingConfig
    from tfdeepfake.detectors.self_blended import save_sbi_model
    from tfdeepfake.detectors.texture_head import (
        texture_feature_model,
        texture_features,
        with_texture_head,
    )
    from tfdeepfake.faces.settings import FaceSettings
    from tfdeepfake.models.facenet import load_facenet
    from tfdeepfake.models.sbi_classifier import build_sbi_classifier

    embedder = load_facenet("20170512-110547", random_init=True, seed=0)
    model = build_sbi_classifier("facenet", trainable_from="Block8_6", dropout=0.0,
                                 facenet_network=embedder.model)
    config = SBITrainingConfig(trainable_from="Block8_6", dropout=0.0)
    sbi = save_sbi_model(tmp_path / "sbi", model, config, face_settings=FaceSettings(),
                         facenet=embedder.identity.to_dict(), aggregation="mean", seed=0,
                         training={}, data={})
    faces = np.random.default_rng(1).integers(0, 256, (6, 160, 160, 3)).astype(np.uint8)
    features = texture_features(texture_feature_model(embedder.model), faces)
    head = fit_texture_head(features[:3], features[3:], c=1.0)
    combined = with_texture_head(sbi, head, tmp_path / "combined", weight=0.3)
    again = load_detector(tmp_path / "combined")
    assert again.backbone["texture"] == {"layer": "Block17_10_Activation", "weight": 0.3}
    p_sbi = np.clip(sbi.score_faces(faces), 1e-6, 1 - 1e-6)
    expected = 1 / (1 + np.exp(-(0.3 * np.log(p_sbi / (1 - p_sbi)) + 0.7 * head.logits(features))))
    np.testing.assert_allclose(again.score_faces(faces), expected, atol=5e-3)
    np.testing.assert_allclose(combined.score_faces(faces), again.score_faces(faces), atol=1e-6)


def test_the_folder_carries_the_crops_the_head_was_fitted_on(tmp_path):
    """``face_settings`` reach the new folder's model.json; a fine-tuned head with any weight
    refuses crops of another margin than its own. Untrained random-init network: fast."""
    from dataclasses import replace

    from tfdeepfake.detectors import load_detector
    from tfdeepfake.detectors.sbi_training import SBITrainingConfig
    from tfdeepfake.detectors.self_blended import save_sbi_model
    from tfdeepfake.detectors.texture_head import TextureHead, with_texture_head
    from tfdeepfake.faces.settings import FaceSettings
    from tfdeepfake.models.facenet import load_facenet
    from tfdeepfake.models.sbi_classifier import build_sbi_classifier

    embedder = load_facenet("20170512-110547", random_init=True, seed=0)
    model = build_sbi_classifier("facenet", trainable_from="none", dropout=0.0,
                                 facenet_network=embedder.model)
    sbi = save_sbi_model(tmp_path / "sbi", model, SBITrainingConfig(trainable_from="none", dropout=0.0),
                         face_settings=FaceSettings(margin=0.33), facenet=embedder.identity.to_dict(),
                         aggregation="mean", seed=0, training={}, data={})
    head = TextureHead("Block17_10_Activation", np.zeros(896), np.ones(896), np.zeros(896), 0.0, {})
    tight = replace(FaceSettings(), margin=0.0)
    with pytest.raises(ValueError, match="margin 0, but .* margin 0.33"):
        with_texture_head(sbi, head, tmp_path / "mixed", weight=0.3, face_settings=tight)
    with_texture_head(sbi, head, tmp_path / "tight", weight=0.0, face_settings=tight)
    assert load_detector(tmp_path / "tight").face_settings.margin == 0.0
    with_texture_head(sbi, head, tmp_path / "same", weight=0.3)
    assert load_detector(tmp_path / "same").face_settings.margin == 0.33
