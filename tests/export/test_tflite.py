"""TFLite variants of the face model: builtin ops only, parity, the int8 float classifier."""

import json

import numpy as np
import pytest
import tensorflow as tf

from tfdeepfake.export.graph import FaceScorer
from tfdeepfake.export.tflite import (
    TFLITE_VARIANTS,
    convert_tflite,
    run_tflite,
    tflite_parity_report,
    write_tflite_variants,
)
from tfdeepfake.lite.interpreter import LiteModel


@pytest.fixture(scope="module")
def setup(helpers):
    embedder = helpers.build_tiny_embedder()
    head = helpers.build_tiny_head()
    train_faces = helpers.make_faces(24, seed=0)
    emb = head(embedder(train_faces)).numpy()
    labels = (np.arange(24) % 2).astype(np.int32)
    faces = helpers.make_faces(6, seed=5)
    out = {"embedder": embedder, "head": head, "train_faces": train_faces, "faces": faces}
    for kind in ("sgd", "knn", "rf"):
        _, arrays, meta = helpers.fit_classifier(kind, emb, labels)
        scorer = FaceScorer(embedder, head, kind, arrays, meta)
        p, e = scorer.score(tf.constant(faces))
        out[kind] = (arrays, meta, p.numpy(), e.numpy())
    return out


def _ops(model: bytes) -> set[str]:
    interpreter = tf.lite.Interpreter(model_content=model)
    return {op["op_name"] for op in interpreter._get_ops_details()}


@pytest.mark.parametrize("kind", ["sgd", "knn", "rf"])
def test_float32_parity_under_litert(kind, setup):
    pytest.importorskip("ai_edge_litert", reason="needs ai-edge-litert (requirements.txt)")
    arrays, meta, expected, expected_emb = setup[kind]
    model = convert_tflite(setup["embedder"], setup["head"], arrays, meta, "float32")
    ops = _ops(model)
    assert not any(op.startswith("Flex") or op == "CUSTOM" for op in ops), ops
    lite = LiteModel(model)  # ai-edge-litert, no TensorFlow kernels
    assert lite.input_details["faces"]["dtype"] == np.uint8
    out = lite(faces=setup["faces"])
    assert out["fake_probability"].shape == (6,) and out["fake_probability"].dtype == np.float32
    np.testing.assert_allclose(out["fake_probability"], expected, atol=1e-4)
    np.testing.assert_allclose(out["embedding"], expected_emb, atol=1e-4)
    # The batch dimension is resizable.
    np.testing.assert_allclose(lite(faces=setup["faces"][:1])["fake_probability"], expected[:1], atol=1e-4)


def test_int8_keeps_classifier_float(setup):
    arrays, meta, expected, _ = setup["rf"]
    model = convert_tflite(
        setup["embedder"], setup["head"], arrays, meta, "int8", representative_faces=setup["train_faces"]
    )
    interpreter = tf.lite.Interpreter(model_content=model)
    types = {}
    for op in interpreter._get_ops_details():
        types.setdefault(op["op_name"], set()).update(
            interpreter._get_tensor_details(int(i), 0)["dtype"].__name__ for i in op["outputs"]
        )
    assert "int8" in types["CONV_2D"]  # embedder is integer
    assert types["GATHER"] <= {"float32", "int32"}  # RF walk stays float
    assert types["LESS_EQUAL"] == {np.bool_.__name__}
    prob, _ = run_tflite(model, setup["faces"])
    assert prob.shape == (6,) and np.all((prob >= 0) & (prob <= 1))
    with pytest.raises(ValueError, match="representative"):
        convert_tflite(setup["embedder"], setup["head"], arrays, meta, "int8")


def test_int8_quantize_classifier_too(setup):
    arrays, meta, expected, _ = setup["sgd"]
    model = convert_tflite(
        setup["embedder"], setup["head"], arrays, meta, "int8",
        representative_faces=setup["train_faces"], quantize_classifier=True,
    )
    prob, _ = run_tflite(model, setup["faces"])
    assert prob.shape == (6,) and np.all((prob >= 0) & (prob <= 1))


def test_unknown_variant(setup):
    arrays, meta, _, _ = setup["sgd"]
    with pytest.raises(ValueError, match="float16"):
        convert_tflite(setup["embedder"], setup["head"], arrays, meta, "int4")


def test_write_variants_and_parity_report(setup, tmp_path):
    arrays, meta, expected, _ = setup["sgd"]
    paths = write_tflite_variants(
        tmp_path, setup["embedder"], setup["head"], arrays, meta,
        representative_faces=setup["train_faces"], eval_faces=setup["faces"], threshold=0.4,
    )
    assert list(paths) == list(TFLITE_VARIANTS)
    assert all(p.is_file() and p.name == f"face_model_{v}.tflite" for v, p in paths.items())
    info = json.loads((tmp_path / "tflite_export.json").read_text())
    assert info["threshold"] == 0.4 and info["classifier_kind"] == "sgd" and info["aggregation"] == "mean"
    report = json.loads((tmp_path / "parity.json").read_text())
    assert set(report) == set(TFLITE_VARIANTS)
    assert report["float32"]["max_abs_diff"] <= 1e-4
    assert report["float32"]["verdict_agreement"] == 1.0
    for entry in report.values():
        assert {"size_bytes", "max_abs_diff", "verdict_agreement", "min_embedding_cosine"} <= set(entry)
    sizes = {v: e["size_bytes"] for v, e in report.items()}
    assert sizes["float16"] < sizes["float32"] and sizes["dynamic_int8"] < sizes["float16"]
    # The report function on its own, against the Keras reference.
    again = tflite_parity_report({"float32": paths["float32"]}, expected, setup["faces"], 0.4)
    assert again["float32"]["max_abs_diff"] <= 1e-4


def test_int8_skipped_without_representative_faces(setup, tmp_path):
    arrays, meta, _, _ = setup["sgd"]
    paths = write_tflite_variants(
        tmp_path, setup["embedder"], setup["head"], arrays, meta, variants=["float32", "int8"],
        aggregation="max",
    )
    assert list(paths) == ["float32"]
    assert not (tmp_path / "parity.json").exists()
    assert json.loads((tmp_path / "tflite_export.json").read_text())["aggregation"] == "max"
    with pytest.raises(ValueError, match="unknown aggregation 'mode'"):
        write_tflite_variants(tmp_path, setup["embedder"], setup["head"], arrays, meta, aggregation="mode")
