"""SavedModel export: TF Serving layout, signatures, model card, and REST JSON round trips."""

import json
import re
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from tfdeepfake.export.graph import FaceScorer
from tfdeepfake.export.savedmodel import (
    export_savedmodel,
    load_and_predict,
    read_model_card,
    serving_request,
)

DOCS = Path(__file__).resolve().parents[2] / "docs" / "serving.md"


def documented_requests() -> dict[str, str]:
    """The :predict bodies exactly as docs/serving.md shows them, by form."""
    blocks = re.findall(r"```json\n(.*?)\n```", DOCS.read_text("utf-8"), flags=re.S)
    requests = [b for b in blocks if '"signature_name"' in b]
    found = {}
    for body in requests:
        kind = ("video" if '"score_video"' in body else
                "row" if '"instances"' in body else "columnar")
        found[kind] = body
    assert set(found) == {"row", "columnar", "video"}, found
    return found


def render(template, faces, mask=None):
    """The documented body with each FACE placeholder replaced by a real face, in order."""
    faces = iter(np.asarray(faces).tolist())
    body = re.sub(r"\bFACE\b", lambda _: json.dumps(next(faces)), template)
    if mask is not None:
        body = re.sub(r'"mask": \[[^\]]*\]', f'"mask": {json.dumps(np.asarray(mask).tolist())}', body)
    return body


def _faces_in(template) -> int:
    return len(re.findall(r"\bFACE\b", template))


def tf_serving_predict(loaded, body: str) -> dict:
    """Decode a :predict body the way TF Serving's REST API does, run it, encode the answer.

    Row form: ``instances`` is a list with one entry per example, either a bare value
    (single-input signatures) or an object of named inputs; entries are stacked into
    batch tensors and every output is split back into one entry per example
    (``predictions``). Columnar form: ``inputs`` is an object of named tensors (or a bare
    value for a single input); the answer is ``outputs`` (an object, or a bare value for
    a single output).
    """
    request = json.loads(body)
    fn = loaded.signatures[request.get("signature_name", "serving_default")]
    specs = fn.structured_input_signature[1]
    if "instances" in request:
        rows = request["instances"]
        if all(isinstance(r, dict) for r in rows):
            named = {k: [r[k] for r in rows] for k in specs}
        else:
            (only,) = specs
            named = {only: rows}
    else:
        inputs = request["inputs"]
        named = inputs if isinstance(inputs, dict) else {next(iter(specs)): inputs}
    tensors = {k: tf.constant(np.asarray(v), dtype=specs[k].dtype) for k, v in named.items()}
    outputs = {k: np.asarray(v.numpy()) for k, v in fn(**tensors).items()}
    if "instances" in request:
        sizes = {v.shape[0] if v.ndim else None for v in outputs.values()}
        if len(sizes) != 1 or None in sizes:
            raise ValueError("row format needs every output batched with the same size")
        (n,) = sizes
        preds = [{k: _to_json(v[i]) for k, v in outputs.items()} for i in range(n)]
        return json.loads(json.dumps({"predictions": preds}))
    return json.loads(json.dumps({"outputs": {k: _to_json(v) for k, v in outputs.items()}}))


def _to_json(value):
    value = np.asarray(value)
    if value.dtype.kind in ("S", "O"):
        return value.astype(str).tolist()
    return value.tolist()


@pytest.fixture(scope="module")
def setup(helpers, tmp_path_factory):
    embedder = helpers.build_tiny_embedder()
    head = helpers.build_tiny_head()
    train_faces = helpers.make_faces(24, seed=0)
    emb = head(embedder(train_faces)).numpy()
    labels = (np.arange(24) % 2).astype(np.int32)
    model, arrays, meta = helpers.fit_classifier("knn", emb, labels)
    base = tmp_path_factory.mktemp("serving")
    path = export_savedmodel(
        embedder, head, arrays, meta, base, "deepfake", threshold=0.4,
        model_card={"training": {"dataset": "tiny synthetic"}},
    )
    faces = helpers.make_faces(5, seed=7)
    expected_emb = head(embedder(faces)).numpy()
    expected = model.predict_proba(expected_emb)[:, 1]
    return {
        "path": path, "base": base, "faces": faces, "expected": expected, "expected_emb": expected_emb,
        "embedder": embedder, "head": head, "arrays": arrays, "meta": meta,
        "loaded": tf.saved_model.load(str(path)),
    }


def test_layout_versions_and_model_card(setup):
    path, base = setup["path"], setup["base"]
    assert path == base / "deepfake" / "1"
    assert (path / "saved_model.pb").is_file() and (path / "variables").is_dir()
    card = read_model_card(path)
    assert card["decision"]["threshold"] == 0.4 and card["decision"]["aggregation"] == "mean"
    assert card["classifier"]["kind"] == "knn" and card["classifier"]["k"] == 5
    assert card["training"] == {"dataset": "tiny synthetic"}
    assert "tensorflow" in card["packages"]
    md = (path / "assets.extra" / "model_card.md").read_text()
    assert md.startswith("# Model card: deepfake") and "threshold" in md
    # No staging leftovers, and the next export takes version 2.
    assert sorted(p.name for p in (base / "deepfake").iterdir()) == ["1"]
    second = export_savedmodel(setup["embedder"], setup["head"], setup["arrays"], setup["meta"], base, "deepfake")
    assert second.name == "2"
    with pytest.raises(FileExistsError):
        export_savedmodel(setup["embedder"], setup["head"], setup["arrays"], setup["meta"], base, "deepfake", version=1)


def test_signatures(setup):
    sigs = setup["loaded"].signatures
    assert set(sigs) == {"serving_default", "score_video"}
    spec = sigs["serving_default"].structured_input_signature[1]["faces"]
    assert spec.dtype == tf.uint8 and spec.shape.as_list() == [None, 160, 160, 3]
    video = sigs["score_video"].structured_input_signature[1]
    assert video["mask"].dtype == tf.bool and video["mask"].shape.as_list() == [None]
    outs = sigs["score_video"].structured_outputs
    assert outs["fake_probability"].dtype == tf.float32 and outs["fake_probability"].shape.rank == 0
    assert outs["verdict"].dtype == tf.string and outs["is_fake"].dtype == tf.bool


def test_serving_default_matches_python_path(setup):
    out = load_and_predict(setup["path"], setup["faces"])
    assert out["fake_probability"].dtype == np.float32 and out["fake_probability"].shape == (5,)
    assert out["embedding"].shape == (5, 16)
    np.testing.assert_allclose(out["fake_probability"], setup["expected"], atol=1e-5)
    np.testing.assert_allclose(out["embedding"], setup["expected_emb"], atol=1e-5)


def test_score_video_mask_and_verdict(setup):
    faces, expected = setup["faces"], setup["expected"]
    mask = np.array([True, False, True, True, False])
    out = load_and_predict(setup["path"], faces, mask)
    assert out["fake_probability"].shape == () and out["fake_probability"].dtype == np.float32
    p = expected[mask].mean()
    np.testing.assert_allclose(out["fake_probability"], p, atol=1e-5)
    assert bool(out["is_fake"]) == (p >= 0.4)
    assert out["verdict"].decode() == ("fake" if p >= 0.4 else "real")
    assert int(out["num_faces"]) == 3
    none = load_and_predict(setup["path"], faces, np.zeros(5, bool))
    assert np.isnan(none["fake_probability"]) and none["verdict"] == b"no_face" and not none["is_fake"]


@pytest.mark.parametrize("how, reduce", [("median", np.median), ("max", np.max)])
def test_score_video_uses_the_aggregation_given(setup, tmp_path, how, reduce):
    faces, expected = setup["faces"], setup["expected"]
    path = export_savedmodel(setup["embedder"], setup["head"], setup["arrays"], setup["meta"], tmp_path,
                             "m", threshold=0.4, aggregation=how)
    card = read_model_card(path)
    assert card["decision"]["aggregation"] == how and card["decision"]["video_score"].startswith(how)
    for mask in (np.ones(5, bool), np.array([True, False, True, True, False]), np.array([True, True] + [False] * 3)):
        out = load_and_predict(path, faces, mask)
        np.testing.assert_allclose(out["fake_probability"], reduce(expected[mask]), atol=1e-5)
        assert int(out["num_faces"]) == mask.sum()
    assert np.isnan(load_and_predict(path, faces, np.zeros(5, bool))["fake_probability"])


def test_rest_row_and_columnar_payloads(setup):
    loaded, faces, expected = setup["loaded"], setup["faces"][:2], setup["expected"][:2]
    docs = documented_requests()
    n = _faces_in(docs["row"])
    for body in (render(docs["row"], faces[:n]), serving_request(faces[:n], form="instances")):
        answer = tf_serving_predict(loaded, body)
        probs = [row["fake_probability"] for row in answer["predictions"]]
        np.testing.assert_allclose(probs, expected[:n], atol=1e-5)
        assert len(answer["predictions"][0]["embedding"]) == 16
    n = _faces_in(docs["columnar"])
    for body in (render(docs["columnar"], faces[:n]), serving_request(faces[:n], form="inputs")):
        answer = tf_serving_predict(loaded, body)
        np.testing.assert_allclose(answer["outputs"]["fake_probability"], expected[:n], atol=1e-5)
        assert np.asarray(answer["outputs"]["embedding"]).shape == (n, 16)


def test_rest_score_video_payload(setup):
    loaded, faces, expected = setup["loaded"], setup["faces"], setup["expected"]
    template = documented_requests()["video"]
    n = _faces_in(template)
    documented_mask = json.loads(re.search(r'"mask": (\[[^\]]*\])', template).group(1))
    mask = np.array(documented_mask)
    for body in (
        render(template, faces[:n]),
        serving_request(faces[:n], mask, signature_name="score_video", form="inputs"),
    ):
        out = tf_serving_predict(loaded, body)["outputs"]
        np.testing.assert_allclose(out["fake_probability"], expected[:n][mask].mean(), atol=1e-5)
        assert out["num_faces"] == mask.sum() and out["verdict"] in ("fake", "real")
        assert set(out) == {"fake_probability", "is_fake", "verdict", "num_faces"}
    with pytest.raises(ValueError, match="columnar"):
        serving_request(faces, mask, signature_name="score_video", form="instances")
    # The row form cannot carry score_video's scalar outputs (TF Serving rejects it too).
    with pytest.raises(ValueError, match="batched"):
        body = json.dumps({"signature_name": "score_video",
                           "instances": [{"faces": f.tolist(), "mask": True} for f in faces]})
        tf_serving_predict(loaded, body)


@pytest.mark.parametrize("kind", ["sgd", "rf"])
def test_other_classifiers_export(kind, helpers, setup, tmp_path):
    emb = setup["head"](setup["embedder"](helpers.make_faces(24, seed=0))).numpy()
    model, arrays, meta = helpers.fit_classifier(kind, emb, (np.arange(24) % 2).astype(np.int32))
    path = export_savedmodel(setup["embedder"], setup["head"], arrays, meta, tmp_path, "m", version=7)
    assert path.name == "7"
    out = load_and_predict(path, setup["faces"])
    np.testing.assert_allclose(out["fake_probability"], model.predict_proba(setup["expected_emb"])[:, 1], atol=1e-5)


def test_bad_arguments(setup, tmp_path):
    args = (setup["embedder"], setup["head"], setup["arrays"])
    with pytest.raises(ValueError, match="kind"):
        export_savedmodel(*args, {"k": 5}, tmp_path, "m")
    with pytest.raises(ValueError, match="threshold"):
        export_savedmodel(*args, setup["meta"], tmp_path, "m", threshold=2.0)
    with pytest.raises(ValueError, match="model_name"):
        export_savedmodel(*args, setup["meta"], tmp_path, "a/b")
    with pytest.raises(ValueError, match="unknown aggregation 'mode'"):
        export_savedmodel(*args, setup["meta"], tmp_path, "m", aggregation="mode")
    with pytest.raises(ValueError, match="3-d embeddings"):
        FaceScorer(setup["embedder"], setup["head"], "sgd", {"coef": np.zeros(3, np.float32), "intercept": 0.0})


def test_a_calibrated_threshold_gives_detects_verdicts_at_the_boundary(helpers, setup, tmp_path):
    """Calibrate on 'videos' (subsets of 12 faces) scored as `detect` scores them (float64
    mean of the graph's float32 face probabilities), export with that threshold: the
    SavedModel's score_video calls every video what `detect` calls it, the boundary
    videos (real, one float32 step below the threshold) included."""
    from itertools import combinations

    from tfdeepfake.detectors.calibrate import conformal_threshold
    from tfdeepfake.scoring import aggregate_video_scores

    emb = setup["head"](setup["embedder"](helpers.make_faces(24, seed=0))).numpy()
    _, arrays, meta = helpers.fit_classifier("sgd", emb, (np.arange(24) % 2).astype(np.int32))
    faces = helpers.make_faces(12, seed=3)
    probe = export_savedmodel(setup["embedder"], setup["head"], arrays, meta, tmp_path, "probe")
    probs = load_and_predict(probe, faces)["fake_probability"]  # float32, as detect gets them
    masks = [np.isin(np.arange(12), c) for n in (2, 3, 5) for c in combinations(range(12), n)][::7]
    scores = np.array([aggregate_video_scores(probs[m], np.zeros(m.sum(), int))[1][0] for m in masks])
    threshold, flagged = conformal_threshold(scores, 0.2)
    path = export_savedmodel(setup["embedder"], setup["head"], arrays, meta, tmp_path, "m",
                             threshold=threshold)
    score_video = tf.saved_model.load(str(path)).signatures["score_video"]
    exported = [bool(score_video(faces=tf.constant(faces), mask=tf.constant(m))["is_fake"])
                for m in masks]
    assert exported == [bool(s >= threshold) for s in scores]
    assert sum(exported) == flagged
