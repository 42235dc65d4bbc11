"""``reproduce``: the poster's experiments from data to side-by-side tables, as steps.

Every step skips work already done (caches are resumable; a model is finished once its
``model.json`` is written, an evaluation once its ``results.json`` is), so rerunning the same
call after a crash continues where it stopped. A model interrupted mid-training is trained
again from the start, and its stale evaluation is removed.

The runner knows no detector: it trains ``detector_class(config.model)`` on the cache the
config names and evaluates it with ``evaluate_detector``; Grad-CAM figures come from the last
experiment whose detector offers ``explain``.
"""

from __future__ import annotations

import dataclasses
import gc
import json
import logging
import os
import shutil
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from tfdeepfake.constants import DEFAULT_SEED, FAKE, REAL
from tfdeepfake.detectors import detector_class, load_detector
from tfdeepfake.detectors.base import MODEL_FILE, TrainOptions
from tfdeepfake.detectors.evaluate import (RESULTS_FILE, SCORES_FILE, evaluate_detector,
                                           read_video_scores)
from tfdeepfake.evaluation.report import heading_of
from tfdeepfake.experiments.config import (EXPERIMENTS, ExperimentConfig, check_choice,
                                           experiment_configs, load_quick_overrides)
from tfdeepfake.experiments.data import RunData, generate_quick_data, prepare_data
from tfdeepfake.experiments.steps import Steps, check_record, read_json
from tfdeepfake.experiments.tables import (QUICK_NOTE, RANDOM_XCEPTION_NOTE, TABLES_FILE,
                                           poster_summary, write_tables)
from tfdeepfake.provenance import json_ready, package_versions

logger = logging.getLogger(__name__)

RESULTS_JSON = "poster_results.json"
# Index settings of a full run: validation carved out of Celeb-DF's train videos, whole
# target identities at a time (a fake goes with the real footage it reuses).
DEFAULT_INDEX_OPTIONS = {"val_fraction": 0.1, "group_by": "identity"}
EXPLAIN_FRAMES = 8


@dataclasses.dataclass
class _Context:
    out_dir: Path
    steps: Steps
    data: RunData
    seed: int
    strategy: str
    xception_weights: str | None
    note: str | None


def _training_detail(meta: dict) -> str:
    training = meta.get("training") or {}
    epochs, best = training.get("epochs_run"), training.get("best_epoch")
    text = f"{epochs} epochs" if epochs is not None else "trained"
    return text + (f" (best {best})" if best is not None else "")


def run_experiment(config: ExperimentConfig, ctx: _Context) -> dict[str, Any]:
    """Train (unless finished) and evaluate (unless finished) one experiment."""
    exp_dir = ctx.out_dir / "experiments" / config.name
    model_dir, eval_dir = exp_dir / "model", exp_dir / "evaluation"
    source = ctx.data.sources[config.name]
    weights = ctx.xception_weights if config.xception_weights else None
    check_record(exp_dir / "experiment.json",
                 {"config": config.to_dict(), "source": source.name, "xception_weights": weights,
                  "seed": ctx.seed}, config.name)
    with ctx.steps.run(f"train {config.name}") as row:
        if (model_dir / MODEL_FILE).is_file():
            row.update(status="skipped", detail="finished by an earlier run")
        else:
            for stale in (eval_dir, exp_dir / "explain"):  # made from an unfinished model
                if stale.exists():
                    shutil.rmtree(stale)
            options = TrainOptions(val_fraction=config.val_fraction, seed=ctx.seed,
                                   strategy=ctx.strategy, run_dir=str(exp_dir / "run"))
            kwargs = dict(config.train)
            if weights is not None:
                kwargs["weights"] = weights
            trained = detector_class(config.model).train(source, model_dir,
                                                         config.training_config(), options,
                                                         **kwargs)
            row["detail"] = _training_detail(trained.meta)
            del trained
    with ctx.steps.run(f"evaluate {config.name}") as row:
        if (eval_dir / RESULTS_FILE).is_file():
            row.update(status="skipped", detail="finished by an earlier run")
            results = read_json(eval_dir / RESULTS_FILE)
        else:
            # Quick runs keep the poster's columns too: the tables say loudly what they are.
            results = evaluate_detector(load_detector(model_dir), source, eval_dir, split="test",
                                        note=ctx.note, poster_comparison=True)
        video = results["headline"]
        row["detail"] = (f"{heading_of(config.model, results['default_variant'])}: video accuracy "
                         f"{video['accuracy']:.3f} on {video['n']} test videos")
    gc.collect()
    return {"meta": read_json(model_dir / MODEL_FILE), "results": results,
            "model_dir": str(model_dir), "evaluation_dir": str(eval_dir)}


def explain_step(configs: Sequence[ExperimentConfig], ctx: _Context) -> dict | None:
    """Grad-CAM of one fake and one real test video with the last experiment whose detector
    can explain itself (the poster's XceptionNet figures)."""
    candidates = [c for c in configs if callable(getattr(detector_class(c.model), "explain", None))]
    if not candidates:
        return None
    config = candidates[-1]
    model_dir = ctx.out_dir / "experiments" / config.name / "model"
    out = ctx.out_dir / "experiments" / config.name / "explain"
    test = [r for r in ctx.data.manifests[config.dataset] if r.split == "test"]
    firsts = (next((r for r in test if r.label == label), None) for label in (FAKE, REAL))
    chosen = [r for r in firsts if r is not None]
    outputs = []
    with ctx.steps.run(f"grad-cam ({config.name})") as row:
        done = out / "explained.json"
        if done.is_file():
            outputs = read_json(done)["videos"]
            row.update(status="skipped", detail=f"{len(outputs)} videos, by an earlier run")
            return {"experiment": config.name, "videos": outputs}
        detector = load_detector(model_dir)
        num_frames = min(EXPLAIN_FRAMES, int(config.extract.get("num_frames", EXPLAIN_FRAMES)))
        for record in chosen:
            try:
                outputs.append(detector.explain(record.full_path, out, num_frames=num_frames))
            except (OSError, RuntimeError, ValueError) as error:
                logger.warning("Grad-CAM of %s failed: %s", record.full_path, error)
        if not outputs:
            row.update(status="failed", detail="no face could be explained")
            return {"experiment": config.name, "videos": []}
        done.write_text(json.dumps(json_ready({"videos": outputs}), indent=2), "utf-8")
        row["detail"] = f"{len(outputs)} videos -> {out}"
    return {"experiment": config.name, "videos": outputs}


def _figures(configs: Sequence[ExperimentConfig], runs: dict, explained: dict | None,
             out_dir: Path, steps: Steps) -> dict[str, str]:
    from tfdeepfake.evaluation.plots import plot_roc_curves

    figures: dict[str, str] = {}
    for video in (explained or {}).get("videos", []):
        figures[f"Grad-CAM, {Path(video['video']).name} ({explained['experiment']}, "
                f"p(fake) {video['fake_probability']:.2f})"] = video["grid"]
    with steps.run("figures and tables") as row:
        curves = {}
        for config in configs:
            eval_dir = Path(runs[config.name]["evaluation_dir"])
            scores = read_video_scores(eval_dir / SCORES_FILE)
            for variant, curve in scores.items():
                name = config.poster.architecture
                if len(scores) > 1:
                    name += f": {heading_of(config.model, variant)}"
                curves[name] = curve
            for name, path in runs[config.name]["results"].get("figures", {}).items():
                if name in ("roc", "embeddings"):
                    figures[f"{config.name}: {Path(path).name}"] = path
        roc = plot_roc_curves(curves, out_dir / "figures" / "roc_video_all.png",
                              title="ROC on the test videos, every experiment")
        figures["ROC of every experiment (videos)"] = str(roc)
        row["detail"] = f"{TABLES_FILE}, {RESULTS_JSON}, {len(figures)} figures"
    return figures


def reproduce(
    celebdf_v1_root: str | os.PathLike | None,
    celebdf_v2_root: str | os.PathLike | None,
    out_dir: str | os.PathLike,
    facenet_weights: str | os.PathLike | None = None,
    quick: bool = False,
    workers: int = 1,
    strategy: str = "default",
    *,
    seed: int = DEFAULT_SEED,
    xception_weights: str | os.PathLike | None = None,
    experiments: Sequence[str] | None = None,
    facenet_model: str | None = None,
    on_step: Callable[[dict], None] | None = None,
) -> dict:
    """Run the poster's experiments and write ``out_dir/poster_tables.md``; returns the summary
    (also in ``out_dir/poster_results.json``).

    ``celebdf_v1_root`` / ``celebdf_v2_root``: the Celeb-DF (v1) and Celeb-DF-v2 folders
    (ignored with ``quick``, which runs on generated videos laid out like them, with the tiny
    sizes of ``configs/quick.yaml``: a smoke test, NOT a reproduction). ``facenet_model`` /
    ``facenet_weights``: the FaceNet that embeds the faces (default: installed weights, else a
    random-init network, reported). ``xception_weights``: ``"imagenet"`` or Keras' no-top
    ImageNet file for the experiments whose config says ``xception_weights: true`` (default
    random init). ``workers``: face-extraction processes. ``strategy``: ``default``,
    ``mirrored`` or ``multiworker``. ``experiments``: a subset of ``EXPERIMENTS``.
    ``on_step`` is called with each finished step's timing row.
    """
    from tfdeepfake.constants import STRATEGIES

    started = time.perf_counter()
    names = tuple(experiments or EXPERIMENTS)
    for name in names:
        check_choice(name, EXPERIMENTS, "experiments")
    check_choice(strategy, STRATEGIES, "strategy")
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    overrides = load_quick_overrides() if quick else {}
    configs = experiment_configs(names, quick=quick, quick_overrides=overrides)
    index_options = {**DEFAULT_INDEX_OPTIONS, **(overrides.get("index") or {})}
    check_record(out_dir / "run.json", {"quick": bool(quick), "seed": int(seed),
                                        "index": index_options}, "this output folder")
    steps = Steps(on_step)
    logger.info("reproducing %s into %s%s", ", ".join(names), out_dir,
                " (QUICK smoke test)" if quick else "")

    if quick:
        synthetic = dict(overrides.get("synthetic") or {})
        v1_root, v2_root = generate_quick_data(out_dir, steps, synthetic, seed, workers)
    else:
        datasets = {c.dataset for c in configs}
        if celebdf_v1_root is None or ("celebdf-merged" in datasets and celebdf_v2_root is None):
            raise ValueError("give the Celeb-DF (v1) root and the Celeb-DF-v2 root (or quick=True)")
        v1_root = Path(celebdf_v1_root)
        v2_root = Path(celebdf_v2_root) if celebdf_v2_root is not None else None
    data = prepare_data(configs, out_dir, steps, v1_root=v1_root, v2_root=v2_root,
                        index_options=index_options, seed=seed, workers=workers,
                        facenet_model=facenet_model, facenet_weights=facenet_weights)
    notes = ([QUICK_NOTE] if quick else []) + data.notes
    weights = None if xception_weights is None else str(xception_weights)
    if weights is None and any(c.xception_weights for c in configs):
        notes.append(RANDOM_XCEPTION_NOTE)

    ctx = _Context(out_dir=out_dir, steps=steps, data=data, seed=int(seed), strategy=strategy,
                   xception_weights=weights, note=" ".join(notes) or None)
    runs = {config.name: run_experiment(config, ctx) for config in configs}
    explained = explain_step(configs, ctx)
    figures = _figures(configs, runs, explained, out_dir, steps)

    tables, json_path = out_dir / TABLES_FILE, out_dir / RESULTS_JSON
    summary = {
        "quick": bool(quick),
        "notes": notes,
        "facenet": data.facenet_label,
        "random_init_facenet": (data.facenet.identity.random_init if data.facenet is not None
                                else None),
        "xception_weights": weights,
        "seed": int(seed),
        "strategy": strategy,
        "workers": int(workers),
        "roots": data.roots,
        "index": data.index,
        "extract": data.extract,
        "embeddings": data.embeddings,
        "experiments": {
            c.name: {"config": c.to_dict(), "poster": dataclasses.asdict(c.poster),
                     "ours": {"variant": runs[c.name]["results"]["default_variant"],
                              "accuracy": runs[c.name]["results"]["headline"].get("accuracy"),
                              "video_auc": runs[c.name]["results"]["headline"].get("auc")},
                     "results": runs[c.name]["results"], "model": runs[c.name]["meta"],
                     "model_dir": runs[c.name]["model_dir"],
                     "evaluation_dir": runs[c.name]["evaluation_dir"]}
            for c in configs},
        "measures_poster": poster_summary(),
        "gradcam": explained,
        "figures": figures,
        "versions": package_versions(),
        "timings": steps.rows,
        "seconds": round(time.perf_counter() - started, 2),
        "tables": str(tables),
        "json": str(json_path),
    }
    write_tables(tables, summary, configs, runs)
    json_path.write_text(json.dumps(json_ready(summary), indent=2, sort_keys=True, default=str),
                         "utf-8")
    logger.info("poster tables -> %s (%.0f s)%s", tables, summary["seconds"],
                " [QUICK smoke test, not a reproduction]" if quick else "")
    return json_ready(summary)


__all__ = ["DEFAULT_INDEX_OPTIONS", "RESULTS_JSON", "explain_step", "reproduce", "run_experiment"]
