"""TFLite variants of the face -> fake-probability graph, with a parity report.

Variants (``TFLITE_VARIANTS``):

- ``float32``: plain conversion; matches Keras/SavedModel to ~1e-6.
- ``float16``: float16 weights (embedder, head), float32 compute.
- ``dynamic_int8``: int8 weights (embedder, head), float activations ("dynamic range").
- ``int8``: full-integer quantisation of the embedder and head (int8 weights *and*
  activations, calibrated on representative training faces). The classifier ops are
  kept in float32 (``quantize_classifier=False``, the default: every op computed from
  the embedding is excluded from quantisation), because int8 RF comparisons, KNN
  distances and top-k wreck parity. The input stays ``uint8`` faces and the outputs
  float32. ``quantize_classifier=True`` quantises everything it can.

In every variant the classifier's parameters stay exact float32: they are stored as
int32 bit patterns the converter does not touch (see
:mod:`tfdeepfake.export.tf_classifiers`), since float16 and dynamic-range conversion
otherwise round every float constant, RF thresholds and KNN points included. Any
difference from the Keras probabilities therefore comes from the quantised embedder;
:func:`tflite_parity_report` measures it (probability and embedding cosine).

Every variant uses ``tf.lite.OpsSet.TFLITE_BUILTINS`` only (no SELECT_TF_OPS / Flex), so
it runs under ``ai-edge-litert`` or ``tflite-runtime`` without TensorFlow. The TFLite
signature is ``serving_default``: input ``faces`` uint8 ``[N, 160, 160, 3]`` (batch
resizable), outputs ``fake_probability [N]`` and ``embedding [N, D]``.

The face model scores faces only; the video rule (``aggregation``: mean, median or max of
the face probabilities) is written to ``tflite_export.json`` for
:mod:`tfdeepfake.lite.detector` to apply. :func:`convert_scorer` and
:func:`write_scorer_tflite` take any face scorer of :mod:`tfdeepfake.export.graph`;
:func:`convert_tflite` and :func:`write_tflite_variants` are the triplet method's shortcuts.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from tfdeepfake.constants import DEFAULT_SEED
from tfdeepfake.export.formats import TFLITE_VARIANTS
from tfdeepfake.export.graph import (
    FaceScorer,
    FaceScorerBase,
    check_aggregation,
    classifier_kind_from_meta,
    verdict_is_fake,
)
from tfdeepfake.provenance import json_ready

logger = logging.getLogger(__name__)

SIGNATURE_KEY = "serving_default"
DEFAULT_NUM_CALIBRATION = 100


def _check_variant(variant: str) -> None:
    if variant not in TFLITE_VARIANTS:
        raise ValueError(f"unknown TFLite variant {variant!r}; valid variants: {list(TFLITE_VARIANTS)}")


def _scorer_function(scorer: FaceScorerBase):
    @tf.function(input_signature=[scorer.faces_spec()])
    def serving_default(faces):
        probability, embedding = scorer.score(faces)
        return {"fake_probability": probability, "embedding": embedding}

    return serving_default.get_concrete_function()


def _converter(scorer: FaceScorerBase) -> tf.lite.TFLiteConverter:
    concrete = _scorer_function(scorer)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete], scorer)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    return converter


def _representative(faces: np.ndarray, num: int, seed: int) -> Callable[[], Iterable[list[np.ndarray]]]:
    faces = np.asarray(faces)
    if faces.ndim != 4 or faces.dtype != np.uint8:
        raise ValueError(f"representative faces must be uint8 [N, S, S, 3]; got {faces.dtype} {faces.shape}")
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(faces), size=min(num, len(faces)), replace=False)

    def dataset():
        for i in np.sort(chosen):
            yield [faces[i : i + 1]]

    return dataset


def _downstream_tensor_names(model: bytes, start_output: str) -> list[str]:
    """Names of every tensor computed from the signature output ``start_output``."""
    interpreter = tf.lite.Interpreter(model_content=model)
    start = interpreter.get_signature_runner(SIGNATURE_KEY).get_output_details()[start_output]["index"]
    tainted = {start}
    names = []
    # Ops are stored in execution order, so one pass suffices.
    for op in interpreter._get_ops_details():  # noqa: SLF001 - only public listing of ops
        if any(int(i) in tainted for i in op["inputs"]):
            for out in op["outputs"]:
                tainted.add(int(out))
                names.append(interpreter._get_tensor_details(int(out), 0)["name"])  # noqa: SLF001
    return names


def convert_tflite(
    embedder: tf.keras.Model,
    head: tf.keras.Model,
    classifier_arrays: Mapping[str, Any],
    classifier_meta: Mapping[str, Any],
    variant: str = "float32",
    *,
    classifier_kind: str | None = None,
    **options,
) -> bytes:
    """The triplet method (embedder + head + classifier) as one TFLite flatbuffer; see
    :func:`convert_scorer` for ``variant`` and the ``options``."""
    kind = classifier_kind_from_meta(classifier_meta, classifier_kind)
    return convert_scorer(FaceScorer(embedder, head, kind, classifier_arrays, classifier_meta), variant, **options)


def convert_scorer(
    scorer: FaceScorerBase,
    variant: str = "float32",
    *,
    representative_faces: np.ndarray | None = None,
    num_calibration: int = DEFAULT_NUM_CALIBRATION,
    quantize_classifier: bool = False,
    seed: int = DEFAULT_SEED,
    float_model: bytes | None = None,
) -> bytes:
    """Convert a face scorer to one TFLite flatbuffer of ``variant``.

    ``representative_faces`` (uint8 ``[N, S, S, 3]`` training faces) is required for
    ``int8``; ``num_calibration`` of them, drawn with ``seed``, calibrate activations.
    ``float_model`` (the ``float32`` conversion of the same graph) saves the int8 path
    one conversion.
    """
    _check_variant(variant)
    converter = _converter(scorer)
    start = time.perf_counter()
    if variant == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif variant == "dynamic_int8":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    elif variant == "int8":
        if representative_faces is None:
            raise ValueError("the int8 variant needs representative_faces (training faces) to calibrate")
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = _representative(representative_faces, num_calibration, seed)
        if quantize_classifier:
            converter.target_spec.supported_ops = [
                tf.lite.OpsSet.TFLITE_BUILTINS_INT8,
                tf.lite.OpsSet.TFLITE_BUILTINS,
            ]
        else:
            model = _quantize_embedder_only(
                scorer, converter, representative_faces, num_calibration, seed, float_model
            )
            elapsed = time.perf_counter() - start
            logger.info("converted int8 (float classifier) in %.1f s, %d bytes", elapsed, len(model))
            return model
    model = converter.convert()
    logger.info("converted %s in %.1f s, %d bytes", variant, time.perf_counter() - start, len(model))
    return model


def _quantize_embedder_only(scorer, converter, faces, num_calibration, seed, float_model=None) -> bytes:
    """Full-integer embedder/head, float32 classifier: denylist every op after the embedding.

    The op names come from the float conversion of the same graph (the calibrated model
    the quantiser works on has the same names).
    """
    if float_model is None:
        float_model = _converter(scorer).convert()
    denylisted = _downstream_tensor_names(float_model, "embedding")
    logger.debug("int8: keeping %d classifier tensors in float", len(denylisted))
    options = tf.lite.experimental.QuantizationDebugOptions(
        denylisted_nodes=denylisted, fully_quantize=False
    )
    debugger = tf.lite.experimental.QuantizationDebugger(
        converter=converter,
        debug_dataset=_representative(faces, min(num_calibration, 4), seed),
        debug_options=options,
    )
    return debugger.get_nondebug_quantized_model()


def run_tflite(model: bytes | str | Path, faces: np.ndarray, num_threads: int | None = None, batch_size: int = 32):
    """Run a converted face model (TensorFlow's interpreter); returns (probability, embedding)."""
    if isinstance(model, (str, Path)):
        interpreter = tf.lite.Interpreter(model_path=str(model), num_threads=num_threads)
    else:
        interpreter = tf.lite.Interpreter(model_content=model, num_threads=num_threads)
    runner = interpreter.get_signature_runner(SIGNATURE_KEY)
    probs, embs = [], []
    for i in range(0, len(faces), batch_size):
        out = runner(faces=np.ascontiguousarray(faces[i : i + batch_size], dtype=np.uint8))
        probs.append(np.asarray(out["fake_probability"], np.float32).reshape(-1))
        embs.append(np.asarray(out["embedding"], np.float32))
    return np.concatenate(probs), np.concatenate(embs)


def tflite_parity_report(
    models: Mapping[str, bytes | str | Path],
    reference_probability: np.ndarray,
    faces: np.ndarray,
    threshold: float = 0.5,
    reference_embedding: np.ndarray | None = None,
    num_threads: int | None = None,
) -> dict[str, dict[str, Any]]:
    """Per variant: size, max |dp| vs the reference, verdict agreement at ``threshold``.

    The reference is the Keras / SavedModel probability of the same ``faces``.
    """
    ref = np.asarray(reference_probability, np.float32).reshape(-1)
    report = {}
    for variant, model in models.items():
        size = Path(model).stat().st_size if isinstance(model, (str, Path)) else len(model)
        prob, emb = run_tflite(model, faces, num_threads=num_threads)
        diff = np.abs(prob - ref)
        entry = {
            "size_bytes": int(size),
            "num_faces": int(len(ref)),
            "max_abs_diff": float(diff.max()) if len(diff) else 0.0,
            "mean_abs_diff": float(diff.mean()) if len(diff) else 0.0,
            "verdict_agreement": float(np.mean(verdict_is_fake(prob, threshold) == verdict_is_fake(ref, threshold)))
            if len(ref)
            else 1.0,
            "threshold": float(threshold),
        }
        if reference_embedding is not None:
            a = np.asarray(reference_embedding, np.float32)
            cos = np.sum(a * emb, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(emb, axis=1) + 1e-12)
            entry["min_embedding_cosine"] = float(cos.min())
        report[variant] = entry
    return report


def write_tflite_variants(
    out_dir: str | Path,
    embedder: tf.keras.Model,
    head: tf.keras.Model,
    classifier_arrays: Mapping[str, Any],
    classifier_meta: Mapping[str, Any],
    *,
    classifier_kind: str | None = None,
    **options,
) -> dict[str, Path]:
    """The triplet method's TFLite variants; see :func:`write_scorer_tflite`."""
    kind = classifier_kind_from_meta(classifier_meta, classifier_kind)
    scorer = FaceScorer(embedder, head, kind, classifier_arrays, classifier_meta)
    return write_scorer_tflite(out_dir, scorer, **options)


def write_scorer_tflite(
    out_dir: str | Path,
    scorer: FaceScorerBase,
    *,
    variants: Iterable[str] = TFLITE_VARIANTS,
    representative_faces: np.ndarray | None = None,
    eval_faces: np.ndarray | None = None,
    threshold: float = 0.5,
    aggregation: str = "mean",
    num_calibration: int = DEFAULT_NUM_CALIBRATION,
    quantize_classifier: bool = False,
    seed: int = DEFAULT_SEED,
    extra_info: Mapping[str, Any] | None = None,
) -> dict[str, Path]:
    """Write ``<out_dir>/face_model_<variant>.tflite`` for each variant.

    Also writes ``tflite_export.json`` (variants, threshold, aggregation, the graph's
    description, seed, plus ``extra_info``) and, when ``eval_faces`` is given,
    ``parity.json`` from :func:`tflite_parity_report` against the TensorFlow graph.
    ``int8`` is skipped with a warning when no ``representative_faces`` are given.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    variants = list(variants)
    for v in variants:
        _check_variant(v)
    check_aggregation(aggregation)
    paths: dict[str, Path] = {}
    converted: dict[str, bytes] = {}
    for variant in variants:
        if variant == "int8" and representative_faces is None:
            logger.warning("skipping int8 TFLite: no representative faces given")
            continue
        model = convert_scorer(
            scorer,
            variant,
            representative_faces=representative_faces,
            num_calibration=num_calibration,
            quantize_classifier=quantize_classifier,
            seed=seed,
            float_model=converted.get("float32"),
        )
        if variant == "float32":
            converted[variant] = model
        path = out_dir / f"face_model_{variant}.tflite"
        path.write_bytes(model)
        paths[variant] = path
    info = {
        "variants": {v: p.name for v, p in paths.items()},
        "threshold": float(threshold),
        "aggregation": aggregation,
        "decision_rule": "fake when fake_probability >= threshold",
        "video_rule": f"video fake_probability = {aggregation} of its face probabilities",
        **scorer.describe(),
        "int8_classifier_quantized": bool(quantize_classifier),
        "signature": {
            "name": SIGNATURE_KEY,
            "inputs": {"faces": "uint8 [N, S, S, 3]"},
            "outputs": {"fake_probability": "float32 [N]", "embedding": "float32 [N, D]"},
        },
        "seed": seed,
        **dict(extra_info or {}),
    }
    (out_dir / "tflite_export.json").write_text(json.dumps(json_ready(info), indent=2))
    if eval_faces is not None and paths:
        probability, embedding = scorer.score(tf.constant(eval_faces))
        report = tflite_parity_report(
            paths, probability.numpy(), eval_faces, threshold, reference_embedding=embedding.numpy()
        )
        (out_dir / "parity.json").write_text(json.dumps(report, indent=2))
        for variant, entry in report.items():
            logger.info(
                "%s: %.1f kB, max |dp| %.2e, verdict agreement %.3f",
                variant,
                entry["size_bytes"] / 1024,
                entry["max_abs_diff"],
                entry["verdict_agreement"],
            )
    return paths
