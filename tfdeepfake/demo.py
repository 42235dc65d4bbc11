"""The main job on a bundled default: generated videos -> every stage -> a report folder.

Real videos are moving, lit, compressed shots of face photographs that installed packages
ship; fakes are landmark-aligned face swaps between them. It shows the machinery working
end to end in a few minutes; its numbers are not a benchmark of anything.

FaceNet is the installed one (``tfdeepfake weights install``), else a seeded random-init
network; the first and the last progress line name it (``identity.label()``). Progress goes
only through the ``say`` callback, so ``demo --json`` can keep stdout for the summary.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

logger = logging.getLogger(__name__)

DEMO_NOTE = ("Demonstration on generated videos (face photos shipped with scikit-image and "
             "matplotlib, face-swapped). It exercises every stage; it is NOT a benchmark and "
             "its numbers say nothing about real deepfake datasets.")
RANDOM_INIT_HINTS = {
    "requested": "random weights requested: embeddings are not face descriptors",
    "missing": ("no FaceNet weights installed: embeddings are not face descriptors (install "
                "them with `tfdeepfake weights install`)"),
}


@dataclass(frozen=True)
class DemoConfig:
    num_real: int = 12
    num_fake: int = 12
    seconds: float = 2.0
    fps: int = 12
    width: int = 320
    height: int = 240
    num_frames: int = 10
    epochs: int = 30
    seed: int = 0
    facenet_model: str | None = None  # a key of FACENET_MODELS; None: whichever is installed
    facenet_weights: str | None = None
    force_random_init: bool = False


def demo_facenet(config: DemoConfig):
    """The demo's FaceNet: the given or installed weights, else a random-init network."""
    from tfdeepfake.models.facenet import WeightsNotFoundError, load_facenet

    if config.force_random_init:
        return load_facenet(config.facenet_model, random_init=True, seed=config.seed)
    try:
        return load_facenet(config.facenet_model, config.facenet_weights)
    except WeightsNotFoundError as error:
        if config.facenet_weights is not None:
            raise
        logger.warning("%s; the demo uses a RANDOMLY INITIALISED FaceNet", error)
        return load_facenet(config.facenet_model, random_init=True, seed=config.seed)


def run_demo(output: str | Path, config: DemoConfig = DemoConfig(),
             say: Callable[[str], None] | None = None) -> dict:
    """Run every stage into ``output``; returns a JSON-able summary (also written to
    ``output/demo_summary.json``). ``say`` receives the progress lines (default: the log)."""
    from tfdeepfake.cache.extract import run_extract
    from tfdeepfake.datasets import build_index, write_manifest
    from tfdeepfake.detect import VideoDetector
    from tfdeepfake.detectors import detector_class, load_detector
    from tfdeepfake.detectors.base import TrainOptions
    from tfdeepfake.detectors.evaluate import evaluate_detector, results_table
    from tfdeepfake.faces.settings import FaceSettings
    from tfdeepfake.models.embed import run_embed
    from tfdeepfake.synthetic.dataset import make_synthetic_dataset

    say = say or logger.info
    started = time.perf_counter()
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    embedder = demo_facenet(config)
    identity = embedder.identity
    hint = (RANDOM_INIT_HINTS["requested" if config.force_random_init else "missing"]
            if identity.random_init else None)
    mode = identity.label() + (f"; {hint}" if hint else "")
    say(f"tfdeepfake demo: {mode}. {DEMO_NOTE}")
    timings: dict[str, float] = {}

    def step(name: str, since: float) -> float:
        now = time.perf_counter()
        timings[name] = round(now - since, 2)
        say(f"  {name}: {timings[name]:.1f} s")
        return now

    t = time.perf_counter()
    videos = make_synthetic_dataset(output / "videos", num_real=config.num_real,
                                    num_fake=config.num_fake, seconds=config.seconds,
                                    fps=config.fps, size=(config.width, config.height),
                                    seed=config.seed)
    t = step("generate videos", t)

    index = build_index("folders", videos, val_fraction=0.2, test_fraction=0.3, seed=config.seed,
                        dataset="demo")
    manifest = write_manifest(output / "manifest.jsonl", index.records)
    t = step("index", t)

    settings = FaceSettings(num_frames=config.num_frames, size=identity.input_size)
    faces = output / "faces.h5"
    extracted = run_extract(index.records, faces, settings)
    t = step(f"extract ({extracted.done} videos, {extracted.faces} faces, "
             f"{extracted.failed} failed)", t)

    embeddings = output / "embeddings.h5"
    run_embed(faces, embeddings, embedder)
    t = step(f"embed ({identity.label()})", t)

    model_dir = output / "model"
    triplet = detector_class("triplet")
    triplet.train(embeddings, model_dir,
                  triplet.config_class(epochs=config.epochs, patience=10),
                  TrainOptions(seed=config.seed, run_dir=str(output / "training")),
                  default_classifier="rf")
    # The FaceNet already built serves detect too (no second build, same identity checked).
    detector = load_detector(model_dir, embedder=embedder)
    t = step("train triplet head + KNN/SGD/RF", t)

    report_dir = output / "report"
    # No poster columns: generated videos are not Celeb-DF, and the table must not read as
    # a comparison with the poster.
    results = evaluate_detector(detector, embeddings, report_dir, split="test", note=DEMO_NOTE,
                                poster_comparison=False)
    t = step("evaluate (test videos)", t)

    video_detector = VideoDetector(detector)
    test_paths = [r.full_path for r in index.records if r.split == "test"]
    verdicts = [video_detector.detect(p).to_dict() for p in test_paths]
    (report_dir / "detections.json").write_text(json.dumps(verdicts, indent=2), "utf-8")
    t = step(f"detect ({len(verdicts)} held-out videos)", t)

    total = round(time.perf_counter() - started, 1)
    summary = {"output": str(output), "facenet": identity.label(),
               "facenet_identity": identity.to_dict(), "random_init_facenet": identity.random_init,
               "facenet_note": hint,
               "manifest": str(manifest), "report": str(report_dir), "model": str(model_dir),
               "seconds": total, "timings": timings, "note": DEMO_NOTE,
               "video_auc": {k: v["video"]["auc"] for k, v in results["variants"].items()},
               "detections": len(verdicts)}
    table = results_table(results, "video")
    _write_readme(report_dir, summary, table, verdicts)
    (output / "demo_summary.json").write_text(json.dumps(summary, indent=2, default=str), "utf-8")
    say(f"tfdeepfake demo: done in {total:.0f} s with {mode}; report in {report_dir} "
        "(a demonstration, not a benchmark)")
    return summary


def _write_readme(report_dir: Path, summary: dict, table: str, verdicts: list[dict]) -> None:
    lines = [
        "# tfdeepfake demo report", "",
        f"> {DEMO_NOTE}", "",
        f"FaceNet: {summary['facenet']}"
        + (f" ({summary['facenet_note']})" if summary["facenet_note"] else ""),
        f"Wall time: {summary['seconds']} s", "",
        "## Video-level measures on the held-out test videos", "", table, "",
        "## detect on the held-out test videos", "",
        "| video | verdict | fake probability | faces |", "|---|---|---|---|",
    ]
    for v in verdicts:
        prob = "—" if v["fake_probability"] is None else f"{v['fake_probability']:.3f}"
        lines.append(f"| {Path(v['path']).name} | {v['verdict']} | {prob} | {v['faces_found']} |")
    lines += ["", "Figures: `roc_video.png`, `confusion_*.png`, `embeddings_before_after.png`.",
              "Everything: `results.json`, `measures_video.md`, `video_scores.csv`.", ""]
    (report_dir / "README.md").write_text("\n".join(lines), "utf-8")


__all__ = ["DEMO_NOTE", "DemoConfig", "demo_facenet", "run_demo"]
