"""The main job on a bundled default: generated videos -> every stage -> a report folder.

Real videos are moving, lit, compressed shots of face photographs that installed packages
ship; fakes are landmark-aligned face swaps between them. It shows the machinery working
end to end in a few minutes; its numbers are not a benchmark of anything.
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
    facenet_weights: str | None = None
    force_random_init: bool = False


def facenet_available(weights: str | None) -> bool:
    from tfdeepfake.models.facenet import WeightsNotFoundError, resolve_facenet_weights

    try:
        resolve_facenet_weights(weights)
        return True
    except WeightsNotFoundError:
        return False


def run_demo(output: str | Path, config: DemoConfig = DemoConfig(),
             say: Callable[[str], None] = print) -> dict:
    """Run every stage into ``output``; returns a summary. ``say`` prints progress lines."""
    from tfdeepfake.cache.extract import run_extract
    from tfdeepfake.faces.settings import FaceSettings
    from tfdeepfake.datasets import build_index, write_manifest
    from tfdeepfake.detect import DeepfakeDetector
    from tfdeepfake.bundle import load_bundle
    from tfdeepfake.method import evaluate_bundle, train_method
    from tfdeepfake.models.embed import run_embed
    from tfdeepfake.models.facenet import build_facenet_embedder
    from tfdeepfake.models.train_triplet import TripletTrainingConfig
    from tfdeepfake.synthetic.dataset import make_synthetic_dataset

    started = time.perf_counter()
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    real_weights = not config.force_random_init and facenet_available(config.facenet_weights)
    mode = ("real FaceNet weights (20180402-114759)" if real_weights else
            "RANDOMLY INITIALISED FaceNet (no weights found in ~/.keras-facenet; embeddings "
            "are not face descriptors)")
    say(f"tfdeepfake demo: using {mode}. {DEMO_NOTE}")
    timings = {}

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

    extract_config = FaceSettings(num_frames=config.num_frames)
    faces = output / "faces.h5"
    summary = run_extract(index.records, faces, extract_config)
    t = step(f"extract ({summary.done} videos, {summary.faces} faces, {summary.failed} failed)", t)

    embedder = (build_facenet_embedder(weights_path=config.facenet_weights) if real_weights
                else build_facenet_embedder(random_init=True, seed=config.seed))
    embeddings = output / "embeddings.h5"
    run_embed(faces, embeddings, embedder)
    t = step("embed (FaceNet)", t)

    bundle_dir = output / "model"
    training = TripletTrainingConfig(epochs=config.epochs, seed=config.seed, patience=10)
    train_method(embeddings, bundle_dir, output / "training", embedder, extract_config,
                 training_config=training, default_classifier="rf")
    t = step("train triplet head + KNN/SGD/RF", t)

    bundle = load_bundle(bundle_dir)
    report_dir = output / "report"
    # No poster columns: generated videos are not Celeb-DF, and the table must not read as
    # a comparison with the poster.
    results = evaluate_bundle(bundle, embeddings, report_dir, split="test", note=DEMO_NOTE,
                              poster_comparison=False)
    t = step("evaluate (test videos)", t)

    detector = DeepfakeDetector(bundle)
    test_paths = [r.full_path for r in index.records if r.split == "test"]
    verdicts = [detector.detect(p).to_dict() for p in test_paths]
    (report_dir / "detections.json").write_text(json.dumps(verdicts, indent=2), "utf-8")
    t = step(f"detect ({len(verdicts)} held-out videos)", t)

    total = round(time.perf_counter() - started, 1)
    summary_out = {"output": str(output), "random_init_facenet": not real_weights,
                   "manifest": str(manifest), "report": str(report_dir), "model": str(bundle_dir),
                   "seconds": total, "timings": timings, "note": DEMO_NOTE,
                   "video_auc": {k: v["video"]["auc"] for k, v in results.items()},
                   "detections": len(verdicts)}
    _write_readme(report_dir, summary_out, verdicts)
    (output / "demo_summary.json").write_text(json.dumps(summary_out, indent=2, default=str), "utf-8")
    say(f"tfdeepfake demo: done in {total:.0f} s with {mode}; report in {report_dir} "
        "(a demonstration, not a benchmark)")
    return summary_out


def _write_readme(report_dir: Path, summary: dict, verdicts: list[dict]) -> None:
    table = (report_dir / "measures_video.md").read_text("utf-8")
    lines = [
        "# tfdeepfake demo report", "",
        f"> {DEMO_NOTE}", "",
        f"FaceNet: {'RANDOM INIT (no weights available)' if summary['random_init_facenet'] else 'real weights'}",
        f"Wall time: {summary['seconds']} s", "",
        "## Video-level measures on the held-out test videos", "", table, "",
        "## detect on the held-out test videos", "",
        "| video | verdict | fake probability | faces |", "|---|---|---|---|",
    ]
    for v in verdicts:
        prob = "—" if v["fake_probability"] is None else f"{v['fake_probability']:.3f}"
        lines.append(f"| {Path(v['path']).name} | {v['verdict']} | {prob} | {v['faces_found']} |")
    lines += ["", "Figures: `roc_video.png`, `confusion_*.png`, `embeddings_before_after.png`.", ""]
    (report_dir / "README.md").write_text("\n".join(lines), "utf-8")
