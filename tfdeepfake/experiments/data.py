"""The data steps of a run: generated videos (quick mode), index, face caches, FaceNet
embeddings. Every step reuses what an earlier run finished (the caches are resumable)."""

from __future__ import annotations

import dataclasses
import inspect
import logging
from pathlib import Path
from typing import Any, Mapping, Sequence

from tfdeepfake.experiments.config import SYNTHETIC_KEYS, ExperimentConfig
from tfdeepfake.experiments.steps import Steps, short_hash
from tfdeepfake.faces.settings import FaceSettings

logger = logging.getLogger(__name__)

RANDOM_FACENET_NOTE = (
    "FaceNet was RANDOMLY INITIALISED (no weights file was found): its embeddings are not face "
    "descriptors, so the 'FaceNet + metric learning' numbers do not measure the poster's method. "
    "Install the weights with `tfdeepfake weights install` or pass --facenet-weights.")


@dataclasses.dataclass
class RunData:
    """What the data steps made: the cache each experiment trains and is tested on."""

    roots: dict[str, str | None]
    manifests: dict[str, list]  # dataset -> VideoRecords
    index: dict[str, Any]
    sources: dict[str, Path]  # experiment -> the cache of its ``source`` kind
    extract: dict[str, dict]
    embeddings: dict[str, str]  # face cache -> embedding cache
    facenet: Any = None  # the FaceNetEmbedder, when an experiment needs embeddings
    notes: list[str] = dataclasses.field(default_factory=list)

    @property
    def facenet_label(self) -> str | None:
        return self.facenet.identity.label() if self.facenet is not None else None


def load_run_facenet(model: str | None, weights, seed: int):
    """The FaceNet a run embeds with: the given weights file, else installed weights, else a
    seeded random-init network (flagged in every report)."""
    from tfdeepfake.models.facenet import WeightsNotFoundError, load_facenet

    if weights is not None:
        return load_facenet(model, weights)
    try:
        return load_facenet(model)
    except WeightsNotFoundError as error:
        logger.warning("no FaceNet weights (%s); using a RANDOMLY INITIALISED FaceNet", error)
        return load_facenet(model, random_init=True, seed=seed)


def generate_quick_data(out_dir: Path, steps: Steps, synthetic: Mapping[str, Any], seed: int,
                        workers: int) -> tuple[Path, Path]:
    from tfdeepfake.synthetic.celebdf import make_quick_celebdf, quick_layout_is_current

    with steps.run("generate videos (quick)") as row:
        parameters = inspect.signature(make_quick_celebdf).parameters
        defaults = {k: p.default for k, p in parameters.items() if k in SYNTHETIC_KEYS}
        if quick_layout_is_current(out_dir / "quick_data", {**defaults, **synthetic, "seed": seed}):
            row["status"] = "skipped"
        v1_root, v2_root = make_quick_celebdf(out_dir / "quick_data", seed=seed, workers=workers,
                                              **synthetic)
        row["detail"] = f"Celeb-DF-like trees in {out_dir / 'quick_data'}"
    return v1_root, v2_root


def _index(datasets: Sequence[str], v1_root, v2_root, out_dir: Path, steps: Steps,
           index_options: Mapping[str, Any], seed: int) -> tuple[dict, dict]:
    from tfdeepfake.datasets import build_index, split_counts, write_manifest

    manifests, summary = {}, {}
    for dataset in datasets:
        with steps.run(f"index {dataset}") as row:
            if dataset == "celebdf-v1":
                result = build_index("celebdf", v1_root, version="v1", seed=seed, **index_options)
            else:
                result = build_index("celebdf", v2_root, version="merged", v1_root=v1_root,
                                     seed=seed, **index_options)
            if not result.records:
                raise ValueError(f"{dataset}: no videos found ({len(result.skipped)} skipped)")
            manifest = write_manifest(out_dir / "manifests" / f"{dataset}.jsonl", result.records)
            counts = split_counts(result.records)
            manifests[dataset] = result.records
            summary[dataset] = {"manifest": str(manifest), "splits": counts,
                                "skipped": len(result.skipped)}
            row["detail"] = ", ".join(f"{s} {c['real']}/{c['fake']}" for s, c in counts.items()
                                      if c["total"]) + " (real/fake)"
    return manifests, summary


def _extract(configs: Sequence[ExperimentConfig], manifests: dict, out_dir: Path, steps: Steps,
             index_options: Mapping[str, Any], seed: int, workers: int) -> tuple[dict, dict]:
    """One face cache per dataset and face settings, shared by the experiments that agree."""
    from tfdeepfake.cache.extract import run_extract

    caches: dict[str, Path] = {}
    summaries: dict[str, dict] = {}
    for config in configs:
        settings: FaceSettings = config.face_settings()
        key = short_hash({"dataset": config.dataset, "extract": settings.to_dict(),
                          "index": dict(index_options), "seed": seed})
        cache = out_dir / "caches" / f"faces-{config.dataset}-{settings.size}px-{key}.h5"
        caches[config.name] = cache
        if str(cache) in summaries:
            continue
        with steps.run(f"extract {cache.name}") as row:
            summary = run_extract(manifests[config.dataset], cache, settings, workers=workers)
            summaries[str(cache)] = {k: v for k, v in summary.to_dict().items() if k != "failures"}
            summaries[str(cache)]["failures"] = summary.failures[:50]
            if summary.done == 0 and summary.failed == 0:
                row["status"] = "skipped"
            row["detail"] = (f"{summary.videos} videos: {summary.done} done, {summary.skipped} "
                             f"already there, {summary.failed} failed, {summary.faces} faces")
    return caches, summaries


def _embed(face_caches: Sequence[Path], steps: Steps, facenet, seed: int) -> dict[str, str]:
    """One embedding cache per face cache, named after the FaceNet that made it."""
    from tfdeepfake.models.embed import run_embed

    identity = facenet.identity
    tag = (f"{identity.model}-random-seed{identity.seed}" if identity.random_init
           else f"{identity.model}-{(identity.weights_sha256 or 'weights')[:8]}")
    out = {}
    for face_cache in sorted(set(face_caches)):
        embeddings = face_cache.with_name(f"embeddings-{face_cache.stem}-{tag}.h5")
        with steps.run(f"embed {face_cache.name} (FaceNet)") as row:
            summary = run_embed(face_cache, embeddings, facenet)
            if summary.done == 0:
                row["status"] = "skipped"
            row["detail"] = (f"{summary.done} videos embedded, {summary.skipped} already there "
                             f"with {identity.label()}")
        out[str(face_cache)] = str(embeddings)
    return out


def prepare_data(configs: Sequence[ExperimentConfig], out_dir: Path, steps: Steps, *,
                 v1_root, v2_root, index_options: Mapping[str, Any], seed: int, workers: int,
                 facenet_model: str | None = None, facenet_weights=None) -> RunData:
    """Index the datasets the experiments use, extract their faces and embed them where an
    experiment trains on embeddings; the roots are the Celeb-DF trees (real or generated)."""
    datasets = sorted({c.dataset for c in configs})
    manifests, index_summary = _index(datasets, v1_root, v2_root, out_dir, steps, index_options,
                                      seed)
    face_caches, extract_summary = _extract(configs, manifests, out_dir, steps, index_options,
                                            seed, workers)
    facenet, embeddings, notes = None, {}, []
    needing = [c for c in configs if c.source == "embeddings"]
    if needing:
        facenet = load_run_facenet(facenet_model, facenet_weights, seed)
        if facenet.identity.random_init:
            notes.append(RANDOM_FACENET_NOTE)
        embeddings = _embed([face_caches[c.name] for c in needing], steps, facenet, seed)
    sources = {c.name: Path(embeddings[str(face_caches[c.name])]) if c.source == "embeddings"
               else face_caches[c.name] for c in configs}
    roots = {"celebdf_v1": str(v1_root), "celebdf_v2": str(v2_root) if v2_root else None}
    return RunData(roots=roots,
                   manifests=manifests, index={"options": dict(index_options), **index_summary},
                   sources=sources, extract=extract_summary, embeddings=embeddings,
                   facenet=facenet, notes=notes)


__all__ = ["RANDOM_FACENET_NOTE", "RunData", "generate_quick_data", "load_run_facenet",
           "prepare_data"]
