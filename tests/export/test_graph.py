"""The shared export graphs: the video rule as TensorFlow ops, and a Keras face classifier
(the Xception baseline's shape) as a face scorer."""

import numpy as np
import pytest
import tensorflow as tf

from tfdeepfake.export.graph import KerasFaceScorer, aggregate_faces
from tfdeepfake.scoring import AGGREGATIONS, aggregate_video_scores


@pytest.mark.parametrize("how", AGGREGATIONS)
def test_aggregate_faces_matches_the_numpy_rule(how):
    rng = np.random.RandomState(0)
    for n in (1, 2, 5, 6, 25):
        probs = rng.uniform(size=n).astype(np.float32)
        _, expected = aggregate_video_scores(probs, np.zeros(n, int), how=how)
        assert float(aggregate_faces(tf.constant(probs), how)) == pytest.approx(expected[0], abs=1e-6)
    assert np.isnan(float(aggregate_faces(tf.zeros([0]), how)))


def test_median_and_max_are_not_the_mean():
    probs = tf.constant([1.0, 1.0, 0.0, 0.0, 0.0])
    assert [float(aggregate_faces(probs, how)) for how in AGGREGATIONS] == pytest.approx([0.4, 0.0, 1.0])
    assert float(aggregate_faces(tf.constant([0.2, 0.9, 0.4, 0.3]), "median")) == pytest.approx(0.35)
    with pytest.raises(ValueError, match="unknown aggregation 'mode'; valid: mean, median, max"):
        aggregate_faces(probs, "mode")


def _tiny_classifier(size=96):
    from tests.export.export_helpers import build_tiny_classifier

    return build_tiny_classifier(size)


@pytest.mark.parametrize("face_size", [80, 160])
def test_keras_face_scorer_resizes_inside_like_the_training_pipeline(helpers, face_size):
    """Enlarged or shrunk, a face reaches the model as `resize_faces` (antialiased) gives
    it, and the graph still converts to TFLite with builtin ops only."""
    from tfdeepfake.export.tflite import convert_scorer, run_tflite
    from tfdeepfake.pipelines.frames import resize_faces

    model = _tiny_classifier(96)
    faces = helpers.make_faces(3, size=face_size, seed=2)
    scorer = KerasFaceScorer(model, "avg_pool", face_size=face_size)
    assert scorer.faces_spec().shape.as_list() == [None, face_size, face_size, 3]
    probability, embedding = scorer.score(tf.constant(faces))
    expected = model(resize_faces(faces, 96)).numpy().reshape(-1)
    np.testing.assert_allclose(probability.numpy(), expected, atol=1e-5)
    assert probability.shape == (3,) and embedding.shape == (3, 6) and scorer.embedding_dim == 6

    lite = convert_scorer(scorer)
    ops = {op["op_name"] for op in tf.lite.Interpreter(model_content=lite)._get_ops_details()}
    assert not any(op.startswith("Flex") or op == "CUSTOM" for op in ops), ops
    np.testing.assert_allclose(run_tflite(lite, faces)[0], expected, atol=1e-5)


def test_keras_face_scorer_needs_the_embedding_layer():
    with pytest.raises(ValueError, match="no layer 'pool5'"):
        KerasFaceScorer(_tiny_classifier(96), "pool5")


@pytest.mark.parametrize("how", AGGREGATIONS)
def test_the_graph_and_detect_agree_at_a_calibrated_threshold(how):
    """`calibrate` sets the threshold just above a real video's score (float64, as `detect`
    computes it); the exported graph aggregates and compares in float32. Over many simulated
    boundary videos both must call every calibration video real (one float64 step above
    the score used to be the score itself in float32: fake in the export)."""
    from tfdeepfake.detectors.calibrate import conformal_threshold

    rng = np.random.default_rng(0)
    graph = tf.function(lambda p: aggregate_faces(p, how),
                        input_signature=[tf.TensorSpec([None], tf.float32)])
    disagree = 0
    for _ in range(400):
        videos = [rng.beta(5, 2, rng.integers(1, 40)).astype(np.float32) for _ in range(9)]
        scores = np.array([aggregate_video_scores(v, np.zeros(len(v), int), how=how)[1][0]
                           for v in videos])
        threshold, _ = conformal_threshold(scores, 0.1)  # k = 0: all nine called real
        for video, score in zip(videos, scores):
            export = bool(graph(tf.constant(video)) >= tf.constant(threshold, tf.float32))
            disagree += export != bool(score >= threshold)
    assert disagree == 0
