import numpy as np
import pytest
import tensorflow as tf

from tfdeepfake.export.tf_classifiers import (
    CLASSIFIER_KINDS,
    build_tf_classifier,
)


@pytest.fixture(scope="module")
def data(helpers):
    x, y = helpers.make_embeddings(n=200, dim=16, seed=0)
    x_test, _ = helpers.make_embeddings(n=100, dim=16, seed=1)
    return x, y, x_test


@pytest.mark.parametrize("kind", CLASSIFIER_KINDS)
def test_parity_with_scikit_learn(kind, data, helpers):
    x, y, x_test = data
    model, arrays, meta = helpers.fit_classifier(kind, x, y)
    clf = build_tf_classifier(kind, arrays, meta)
    for inputs in (x_test, x):  # unseen points, and training points (ties with RF splits)
        p = clf(tf.constant(inputs)).numpy()
        assert p.dtype == np.float32 and p.shape == (len(inputs),)
        np.testing.assert_allclose(p, model.predict_proba(inputs)[:, 1], atol=1e-5, rtol=0)


def test_unknown_kind_names_valid_ones():
    with pytest.raises(ValueError, match="sgd.*knn.*rf"):
        build_tf_classifier("svm", {}, {})


def test_missing_arrays_and_bad_k():
    with pytest.raises(ValueError, match="intercept"):
        build_tf_classifier("sgd", {"coef": np.zeros(3, np.float32)}, {})
    arrays = {"train_embeddings": np.zeros((3, 2), np.float32), "train_labels": np.zeros(3, np.int32)}
    with pytest.raises(ValueError, match="'k'"):
        build_tf_classifier("knn", arrays, {})
    with pytest.raises(ValueError, match="k must be"):
        build_tf_classifier("knn", arrays, {"k": 4})


def test_sgd_exact_value():
    clf = build_tf_classifier("sgd", {"coef": np.array([1.0, -2.0], np.float32), "intercept": np.float32(0.5)})
    p = clf(tf.constant([[1.0, 0.0], [0.0, 0.25]])).numpy()
    np.testing.assert_allclose(p, 1 / (1 + np.exp(-np.array([1.5, 0.0]))), rtol=1e-6)


def test_knn_ties_keep_lowest_training_index():
    # Four training points all at distance 1 from the origin; k = 2 takes indices 0, 1.
    train = np.array([[1, 0], [0, 1], [-1, 0], [0, -1]], np.float32)
    labels = np.array([1, 1, 0, 0], np.int32)
    clf = build_tf_classifier("knn", {"train_embeddings": train, "train_labels": labels}, {"k": 2})
    assert clf(tf.zeros((1, 2))).numpy().tolist() == [1.0]
    reverse = {"train_embeddings": train[::-1].copy(), "train_labels": labels[::-1].copy()}
    clf = build_tf_classifier("knn", reverse, {"k": 2})
    assert clf(tf.zeros((1, 2))).numpy().tolist() == [0.0]


def test_rf_hand_written_forest():
    # Tree 0: x0 <= 0.5 ? leaf 0.0 : (x1 <= 0.0 ? leaf 0.25 : leaf 1.0); tree 1: one leaf 0.5.
    arrays = {
        "children_left": np.array([[1, -1, 3, -1, -1], [-1, -1, -1, -1, -1]], np.int32),
        "children_right": np.array([[2, -1, 4, -1, -1], [-1, -1, -1, -1, -1]], np.int32),
        "feature": np.array([[0, -2, 1, -2, -2], [-2, -2, -2, -2, -2]], np.int32),
        "threshold": np.array([[0.5, 0, 0.0, 0, 0], [0, 0, 0, 0, 0]], np.float32),
        "leaf_fake_probability": np.array([[0.6, 0.0, 0.7, 0.25, 1.0], [0.5, 0, 0, 0, 0]], np.float32),
    }
    clf = build_tf_classifier("rf", arrays, {"kind": "rf"})
    assert clf.depth == 2
    x = tf.constant([[0.5, 9.0], [0.6, 0.0], [0.6, 0.1]], tf.float32)  # == threshold goes left
    np.testing.assert_allclose(clf(x).numpy(), [0.25, 0.375, 0.75])


@pytest.mark.parametrize("kind", CLASSIFIER_KINDS)
def test_converts_to_tflite_builtins(kind, data, helpers):
    pytest.importorskip("ai_edge_litert", reason="needs ai-edge-litert (requirements.txt)")
    from tfdeepfake.lite.interpreter import LiteModel

    x, y, x_test = data
    model, arrays, meta = helpers.fit_classifier(kind, x, y)
    clf = build_tf_classifier(kind, arrays, meta)
    fn = tf.function(lambda e: {"p": clf(e)}, input_signature=[tf.TensorSpec([None, 16], tf.float32, name="e")])
    converter = tf.lite.TFLiteConverter.from_concrete_functions([fn.get_concrete_function()], clf)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    lite = LiteModel(converter.convert())
    np.testing.assert_allclose(lite(e=x_test)["p"], model.predict_proba(x_test)[:, 1], atol=1e-5, rtol=0)


@pytest.mark.parametrize("kind", ["knn", "rf"])
@pytest.mark.parametrize("mode", ["float16", "dynamic_int8"])
def test_parameters_survive_weight_quantisation(kind, mode, data, helpers):
    """float16 / dynamic-range conversion must not round thresholds or training points."""
    x, y, x_test = data
    model, arrays, meta = helpers.fit_classifier(kind, x, y)
    expected = model.predict_proba(x_test)[:, 1]
    errors = {}
    for protect in (True, False):
        clf = build_tf_classifier(kind, arrays, meta, protect_params=protect)
        fn = tf.function(lambda e: {"p": clf(e)}, input_signature=[tf.TensorSpec([None, 16], tf.float32, name="e")])
        converter = tf.lite.TFLiteConverter.from_concrete_functions([fn.get_concrete_function()], clf)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if mode == "float16":
            converter.target_spec.supported_types = [tf.float16]
        interpreter = tf.lite.Interpreter(model_content=converter.convert())
        p = interpreter.get_signature_runner()(e=x_test)["p"]
        errors[protect] = float(np.abs(p - expected).max())
    assert errors[True] <= 1e-5
    if kind == "knn" and mode == "dynamic_int8":
        # Unprotected, the 16 x 200 training matrix is stored int8 and the votes change.
        assert errors[False] > 1e-5, errors
