"""The pure-TensorFlow semi-hard triplet loss against tensorflow-addons' (faithful stack).

Values and gradients within 1e-5 on seeded batches (one, two and many classes, ties, one
class only), the stored reference values are TFA's, and the same seeded training run of
the triplet head gives the same classifier verdicts with either loss.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tfdeepfake import compat

pytestmark = pytest.mark.skipif(not compat.tfa_available(),
                                reason="tensorflow-addons is not installed (modern stack)")

from tests.models.triplet_loss_cases import loss_and_gradient, loss_cases  # noqa: E402

REFERENCE = Path(__file__).with_name("triplet_loss_reference.json")
TOL = 1e-5


def _losses(margin=1.0):
    return (compat.triplet_semihard_loss(margin, implementation="tfa"),
            compat.triplet_semihard_loss(margin, implementation="tensorflow"))


def test_getter_picks_tfa_on_the_faithful_stack(monkeypatch):
    import tensorflow_addons as tfa

    from tfdeepfake.models.triplet_head import make_triplet_loss
    from tfdeepfake.models.triplet_loss import TripletSemiHardLoss

    monkeypatch.delenv(compat.TRIPLET_LOSS_ENV, raising=False)
    assert isinstance(make_triplet_loss(1.0), tfa.losses.TripletSemiHardLoss)
    monkeypatch.setenv(compat.TRIPLET_LOSS_ENV, "tensorflow")
    assert isinstance(make_triplet_loss(1.0), TripletSemiHardLoss)


@pytest.mark.parametrize("margin", [1.0, 0.2])
@pytest.mark.parametrize("name", sorted(loss_cases()))
def test_values_and_gradients_match_tfa(name, margin):
    labels, embeddings = loss_cases()[name]
    tfa_loss, pure_loss = _losses(margin)
    value_tfa, grad_tfa = loss_and_gradient(tfa_loss, labels, embeddings)
    value_pure, grad_pure = loss_and_gradient(pure_loss, labels, embeddings)
    assert np.isfinite(value_tfa)
    assert abs(value_pure - value_tfa) <= TOL
    np.testing.assert_allclose(grad_pure, grad_tfa, atol=TOL, rtol=0)


def test_random_batches_match_tfa():
    tfa_loss, pure_loss = _losses()
    rng = np.random.default_rng(2023)
    worst_value = worst_grad = 0.0
    for _ in range(20):
        n = int(rng.integers(2, 40))
        labels = rng.integers(0, int(rng.integers(1, 6)), n).astype(np.int32)
        if len(np.unique(labels)) == n:  # no positive pair: 0/0 in both
            labels[0] = labels[1]
        x = rng.normal(size=(n, int(rng.integers(2, 16)))).astype(np.float32)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        v1, g1 = loss_and_gradient(tfa_loss, labels, x)
        v2, g2 = loss_and_gradient(pure_loss, labels, x)
        worst_value = max(worst_value, abs(v1 - v2))
        worst_grad = max(worst_grad, float(np.abs(g1 - g2).max()))
    assert worst_value <= TOL and worst_grad <= TOL, (worst_value, worst_grad)


def test_no_positive_pair_is_nan_in_both():
    tfa_loss, pure_loss = _losses()
    x = np.eye(3, dtype=np.float32)
    labels = np.arange(3, dtype=np.int32)
    assert np.isnan(float(tfa_loss(labels, x))) and np.isnan(float(pure_loss(labels, x)))


def test_float16_embeddings_computed_in_float32_as_tfa():
    import tensorflow as tf

    labels, x = loss_cases()["two_classes_0"]
    tfa_loss, pure_loss = _losses()
    a = tfa_loss(labels, tf.constant(x, tf.float16))
    b = pure_loss(labels, tf.constant(x, tf.float16))
    assert a.dtype == b.dtype == tf.float16
    assert abs(float(a) - float(b)) <= 1e-3


def test_reference_values_are_tfas():
    """tests/models/triplet_loss_reference.json (checked on both stacks) holds TFA's values."""
    reference = json.loads(REFERENCE.read_text("utf-8"))
    tfa_loss, _ = _losses()
    cases = loss_cases()
    assert sorted(reference) == sorted(cases)
    for name, (labels, x) in cases.items():
        value, grad = loss_and_gradient(tfa_loss, labels, x)
        assert abs(value - reference[name]["loss"]) <= TOL, name
        np.testing.assert_allclose(np.asarray(reference[name]["gradient"], np.float32), grad,
                                   atol=TOL, rtol=0)


def test_seeded_training_gives_the_same_verdicts(tmp_path, monkeypatch):
    """The triplet head trained (seeded) with TFA's loss and with the pure loss: the same
    losses epoch by epoch, weights within tolerance, the same classifier verdicts."""
    from tfdeepfake.cache.embeddings import EmbeddingTable
    from tfdeepfake.detectors.triplet_training import TripletTrainingConfig, fit_triplet

    def table(seed, videos):
        rng = np.random.default_rng(seed)
        rows, labels, ids = [], [], []
        for v in range(videos):
            label = v % 2
            centre = rng.normal(size=12) + (1.5 if label else -1.5) * np.eye(12)[0]
            rows.append(centre + 0.7 * rng.normal(size=(8, 12)))
            labels += [label] * 8
            ids += [f"v{seed}_{v}"] * 8
        n = len(labels)
        return EmbeddingTable(np.concatenate(rows).astype(np.float32), np.asarray(labels),
                              np.asarray(ids), np.tile(np.arange(8), n // 8),
                              np.asarray(["train"] * n))

    train, test = table(1, 10), table(2, 6)
    config = TripletTrainingConfig(epochs=4, batch_size=16, hidden_units=(16,), embedding_dim=4,
                                   frames_per_video=4, steps_per_epoch=5, patience=10)
    fitted = {}
    for impl in ("tfa", "tensorflow"):
        monkeypatch.setenv(compat.TRIPLET_LOSS_ENV, impl)
        fitted[impl] = fit_triplet(train, None, config, seed=3, run_dir=tmp_path / impl)
    a, b = fitted["tfa"], fitted["tensorflow"]
    np.testing.assert_allclose(a.training.history["loss"], b.training.history["loss"], atol=1e-5)
    for wa, wb in zip(a.head.get_weights(), b.head.get_weights()):
        np.testing.assert_allclose(wa, wb, atol=1e-4)
    out_a = a.head.predict(test.embeddings, verbose=0)
    out_b = b.head.predict(test.embeddings, verbose=0)
    assert set(a.classifiers) == set(b.classifiers) and a.classifiers
    for name in a.classifiers:
        verdict_a = a.classifiers[name].predict_proba_fake(out_a) >= 0.5
        verdict_b = b.classifiers[name].predict_proba_fake(out_b) >= 0.5
        np.testing.assert_array_equal(verdict_a, verdict_b, err_msg=name)
