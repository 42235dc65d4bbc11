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


def test_the_stored_curvature_is_the_fitting_objectives_hessian():
    """``curvature``: the Hessian of the balanced log loss plus ``|w|^2 / 2C`` (what
    scikit-learn minimises, divided by C), checked against finite differences of its
    gradient; at the fitted weights that gradient is zero."""
    rng = np.random.default_rng(1)
    real, fake = rng.normal(0, 1, (60, 3)), rng.normal(0.7, 1, (40, 3))
    c = 0.5
    head = fit_texture_head(real, fake, c=c)
    z = (np.concatenate([real, fake]) - head.mean) / np.sqrt(head.variance)
    y = np.r_[np.zeros(60), np.ones(40)]
    weight = np.where(y == 1, 100 / 80, 100 / 120)

    def gradient(w):
        p = 1 / (1 + np.exp(-(z @ w[:-1] + w[-1])))
        return np.r_[z.T @ (weight * (p - y)) + w[:-1] / c, weight @ (p - y)]

    w = np.r_[head.coef, head.intercept]
    assert np.abs(gradient(w)).max() < 1e-2  # lbfgs stops near, not at, the optimum
    numeric = np.stack([(gradient(w + e) - gradient(w - e)) / 2e-5 for e in np.eye(4) * 1e-5])
    assert head.curvature.shape == (4, 4)
    np.testing.assert_allclose(head.curvature, numeric, rtol=1e-4, atol=1e-6)


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
    # a fitted head's curvature is stored beside it, for adapt --method self-blend
    from tfdeepfake.detectors.texture_head import load_curvature

    with pytest.raises(ValueError, match="no stored curvature"):
        load_curvature(load_detector(tmp_path / "same"))
    curvature = np.diag(np.arange(1.0, 898.0))
    head = replace(head, curvature=curvature, record={"real_faces": 30, "fake_faces": 20})
    with_texture_head(sbi, head, tmp_path / "curved", weight=0.0, face_settings=tight)
    stored, rows = load_curvature(load_detector(tmp_path / "curved"))
    np.testing.assert_array_equal(stored, curvature)
    assert rows == 50


def test_pulled_fit_stops_where_the_pulled_objective_is_flat():
    """``pulled_fit`` (what ``adapt --method self-blend`` refits with): at its result the
    gradient of the weighted log loss plus the curvature's quadratic is zero; with no rows
    nothing moves."""
    from tfdeepfake.detectors.texture_head import pulled_fit

    rng = np.random.default_rng(0)
    z, labels = rng.normal(size=(40, 5)), rng.integers(0, 2, 40).astype(float)
    weights, curvature = np.full(40, 0.5), np.eye(6) * 3.0
    coef, intercept = pulled_fit(np.ones(5), 0.2, curvature, z, labels, weights)
    w = np.r_[coef, intercept]
    rows = np.c_[z, np.ones(40)]
    p = 1 / (1 + np.exp(-rows @ w))
    gradient = rows.T @ (weights * (p - labels)) + curvature @ (w - np.r_[np.ones(5), 0.2])
    assert np.abs(gradient).max() < 1e-6
    same = pulled_fit(np.ones(5), 0.2, curvature, z[:0], labels[:0], weights[:0])
    np.testing.assert_allclose(np.r_[same[0], same[1]], np.r_[np.ones(5), 0.2])


def _regions_folder(tmp_path, regions=("face", "lower-face"), region_layers=None):
    """A random-init FaceNet sbi folder with a head on ``regions`` (each beyond the face at
    its layer in ``region_layers``) fitted on six faces (two real photos' crops, four of
    noise): (FaceNet embedder, the faces, their features, the head, the folder)."""
    from tfdeepfake.detectors.sbi_training import SBITrainingConfig
    from tfdeepfake.detectors.self_blended import save_sbi_model
    from tfdeepfake.detectors.texture_head import (
        texture_feature_model,
        texture_features,
        with_texture_head,
    )
    from tfdeepfake.faces.crop import crop_face
    from tfdeepfake.faces.settings import FaceSettings
    from tfdeepfake.models.facenet import load_facenet
    from tfdeepfake.models.sbi_classifier import build_sbi_classifier
    from tfdeepfake.synthetic.photos import shipped_photos

    embedder = load_facenet("20170512-110547", random_init=True, seed=0)
    faces = np.random.default_rng(2).integers(0, 256, (6, 160, 160, 3)).astype(np.uint8)
    faces[:2] = [crop_face(np.asarray(p.image), p.box, 160) for p in shipped_photos(frontal_only=True)]
    both = texture_features(texture_feature_model(embedder.model, regions=regions,
                                                  region_layers=region_layers), faces)
    model = build_sbi_classifier("facenet", trainable_from="none", dropout=0.0,
                                 facenet_network=embedder.model)
    sbi = save_sbi_model(tmp_path / "sbi", model, SBITrainingConfig(trainable_from="none", dropout=0.0),
                         face_settings=FaceSettings(margin=0.0), facenet=embedder.identity.to_dict(),
                         aggregation="mean", seed=0, training={}, data={})
    head = fit_texture_head(both[:3], both[3:], c=1.0, regions=regions, region_layers=region_layers)
    with_texture_head(sbi, head, tmp_path / "regions", weight=0.0)
    return embedder, faces, both, head, tmp_path / "regions"


def test_a_head_on_the_face_and_its_lower_half_scores_both_as_documented(tmp_path):
    """``regions=("face", "lower-face")``: the features are the face's pooled layer joined with
    that of the crop's lower half (rows 80-160, columns 40-120 of 160) enlarged bilinearly to
    160 px; the folder records the regions, reloads, and scores with the head's logits of those
    features. Untrained random-init network: fast."""
    import tensorflow as tf

    from tfdeepfake.detectors import load_detector
    from tfdeepfake.detectors.texture_head import texture_feature_model, texture_features

    embedder, faces, both, head, folder = _regions_folder(tmp_path)
    face_only = texture_features(texture_feature_model(embedder.model), faces)
    lower = tf.image.resize(faces[:, 80:, 40:120].astype(np.float32), (160, 160)).numpy()
    assert both.shape == (6, 2 * face_only.shape[1])
    np.testing.assert_allclose(both[:, :896], face_only, atol=1e-5)
    np.testing.assert_allclose(both[:, 896:], texture_features(texture_feature_model(embedder.model), lower),
                               atol=1e-4)
    with pytest.raises(ValueError, match="texture regions"):
        texture_feature_model(embedder.model, regions=("face", "chin"))
    again = load_detector(folder)
    assert again.backbone["texture"]["regions"] == ["face", "lower-face"]
    expected = 1 / (1 + np.exp(-head.logits(both)))
    np.testing.assert_allclose(again.score_faces(faces), expected, atol=5e-3)


def test_a_head_on_the_face_and_its_mouth_finds_the_mouth_in_each_face(tmp_path):
    """``regions=("face", "mouth")``: the second half of the features is the pooled layer of
    the square MTCNN's landmark network places on the mouth of each crop (``face_parts``),
    enlarged to 160 px; the folder reloads with it and scores those features' logits. The
    landmark network's weights come from the mtcnn wheel, never from the folder."""
    import tensorflow as tf

    from tfdeepfake.detectors import load_detector
    from tfdeepfake.detectors.texture_head import texture_feature_model, texture_features
    from tfdeepfake.detectors.trained_layers import trained_layers
    from tfdeepfake.models.face_parts import FaceLandmarks, KeypointSquare

    embedder, faces, both, head, folder = _regions_folder(tmp_path, ("face", "mouth"))
    face_only = texture_features(texture_feature_model(embedder.model), faces)
    x = tf.constant(faces.astype(np.float32))
    mouths = KeypointSquare("mouth")([x, FaceLandmarks()(x)]).numpy()
    np.testing.assert_allclose(both[:, :896], face_only, atol=1e-5)
    np.testing.assert_allclose(both[:, 896:], texture_features(texture_feature_model(embedder.model), mouths),
                               atol=1e-4)
    again = load_detector(folder)
    assert again.backbone["texture"]["regions"] == ["face", "mouth"]
    assert not any(isinstance(layer, FaceLandmarks) for layer in trained_layers(again.model))
    expected = 1 / (1 + np.exp(-head.logits(both)))
    np.testing.assert_allclose(again.score_faces(faces), expected, atol=5e-3)


def test_the_mouth_read_at_an_earlier_layer_costs_one_shorter_pass(tmp_path):
    """``region_layers={"mouth": "Block35_5_Activation"}``: the mouth's square goes through
    FaceNet only up to that layer (256 channels), the face is read at ``Block17_10`` on its
    way through the network as before; the folder records it and reloads the same graph."""
    import tensorflow as tf

    from tfdeepfake.detectors import load_detector
    from tfdeepfake.detectors.texture_head import texture_features
    from tfdeepfake.models.face_parts import FaceLandmarks, KeypointSquare
    from tfdeepfake.models.sbi_classifier import FACENET_BACKBONE, FACENET_STANDARDIZE

    layers = {"mouth": "Block35_5_Activation"}
    embedder, faces, both, head, folder = _regions_folder(tmp_path, ("face", "mouth"), layers)
    assert both.shape == (6, 896 + 256)
    backbone = embedder.model.get_layer(FACENET_BACKBONE)
    early = tf.keras.Model(backbone.input, backbone.get_layer("Block35_5_Activation").output)
    x = tf.constant(faces.astype(np.float32))
    mouths = KeypointSquare("mouth")([x, FaceLandmarks()(x)])
    pooled = tf.reduce_mean(early(embedder.model.get_layer(FACENET_STANDARDIZE)(mouths)), axis=(1, 2))
    np.testing.assert_allclose(both[:, 896:], pooled.numpy(), atol=1e-4)
    again = load_detector(folder)
    assert again.backbone["texture"]["region_layers"] == layers
    trunks = [layer.name for layer in again.model.layers if layer.name.startswith("facenet_texture_trunk")]
    assert trunks == ["facenet_texture_trunk_Block35_5_Activation"]
    expected = 1 / (1 + np.exp(-head.logits(both)))
    np.testing.assert_allclose(again.score_faces(faces), expected, atol=5e-3)
    features = texture_features(tf.keras.Model(again.model.input, again.model.get_layer("texture_pool").output), faces)
    np.testing.assert_allclose(features, both, atol=1e-3)


def test_a_folder_with_a_texture_head_can_take_a_new_one(tmp_path):
    """Re-shipping the default model: its sbi network is kept, its texture head replaced by
    one of another width (the mouth read at an earlier layer)."""
    from tfdeepfake.detectors import load_detector
    from tfdeepfake.detectors.texture_head import with_texture_head

    _, faces, _, _, folder = _regions_folder(tmp_path / "old", ("face", "mouth"))
    embedder, _, both, head, _ = _regions_folder(tmp_path / "new", ("face", "mouth"),
                                                 {"mouth": "Block35_5_Activation"})
    old = load_detector(folder)
    sbi_head = old.model.get_layer("sbi_probability")
    sbi_head.set_weights([w + 0.5 for w in sbi_head.get_weights()])  # unlike a fresh head's
    again = with_texture_head(old, head, tmp_path / "replaced", weight=0.0)
    assert again.backbone["texture"]["region_layers"] == {"mouth": "Block35_5_Activation"}
    for kept, was in zip(again.model.get_layer("sbi_probability").get_weights(),
                         sbi_head.get_weights()):
        np.testing.assert_allclose(kept, was, rtol=1e-3)  # stored as float16
    expected = 1 / (1 + np.exp(-head.logits(both)))
    np.testing.assert_allclose(load_detector(tmp_path / "replaced").score_faces(faces), expected, atol=5e-3)


def test_region_layers_name_regions_beyond_the_face_only():
    from tfdeepfake.models.sbi_classifier import region_layers

    texture = {"layer": "Block17_10_Activation", "regions": ["face", "mouth"]}
    assert region_layers(texture) == {"face": "Block17_10_Activation", "mouth": "Block17_10_Activation"}
    assert region_layers({**texture, "region_layers": {"mouth": "Mixed_6a"}})["mouth"] == "Mixed_6a"
    for wrong in ({"face": "Mixed_6a"}, {"lower-face": "Mixed_6a"}):
        with pytest.raises(ValueError, match="beyond the face only"):
            region_layers({**texture, "region_layers": wrong})


@pytest.mark.slow
@pytest.mark.parametrize("regions, layers", [(("face", "lower-face"), None), (("face", "mouth"), None),
                                             (("face", "mouth"), {"mouth": "Block35_5_Activation"})])
def test_a_head_on_regions_exports_to_tflite_with_the_same_probabilities(tmp_path, regions, layers):
    """The lower face, or the mouth its landmarks place, is cut and enlarged inside the graph
    (and run to its own layer), so the TFLite face model (one uint8 input, as for every sbi
    model) scores as Keras does."""
    from tfdeepfake.detectors import load_detector
    from tfdeepfake.export.from_model import export_model
    from tfdeepfake.lite.interpreter import LiteModel

    _, faces, _, _, folder = _regions_folder(tmp_path, regions, layers)
    detector = load_detector(folder)
    written = export_model(detector, tmp_path / "export", formats=("tflite",),
                           tflite_variants=("float32",))
    out = LiteModel(written["tflite"]["float32"])(faces=faces)
    np.testing.assert_allclose(out["fake_probability"].ravel(), detector.score_faces(faces), atol=1e-4)
    assert out["embedding"].shape[0] == len(faces)
