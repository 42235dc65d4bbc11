"""Build the bundled default model (``tfdeepfake/default_model``) from the studies' parts and
calibrate its threshold on genuine videos it never saw (issue 20).

    python -m tfdeepfake.experiments.ship_default runs/dd/faces.h5 --videos ../shared/data/videos \\
        --sbi reports/default --texture reports/default-texture --recipe landed --weight 0.0

- The network: fold 0's ``sbi`` network of ``--recipe`` (``default_detector``: trained on the
  reals of folds 1 and 2 only) with a texture head (``detectors.texture_head``) fitted on the
  same reals and on **every** labelled shared fake (with degraded copies of both classes;
  ``--pseudo-fakes`` adds self-blended / lip-sync ones), combined with weight ``--weight`` on
  the fine-tuned head's logit. Stored as trained layers only, float16; FaceNet comes from
  ``tfdeepfake weights install``. Its face settings (margin included) are the cache's.
  ``--sbi-model tfdeepfake/default_model`` re-ships the bundled model with a new texture head
  when the sbi study's fold models are not at hand (its sbi network is the same fold 0's).
- The threshold: split-conformal at ``--false-positive-rate`` on fold 0's genuine videos,
  none of which any part of the model saw, scored through ``detect``'s own path (decoding,
  MTCNN, the float16 model), so the bound holds for the shipped files.

Quality numbers for the card come from the leave-one-out studies (``default_detector``,
``default_texture``), never from this model's own training fakes.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
from pathlib import Path
from typing import Sequence

import numpy as np

from tfdeepfake.constants import FAKE, REAL

logger = logging.getLogger(__name__)


def build(cache, videos_root: Path, sbi_dir: Path, texture_dir: Path, out: Path, *,
          recipe: str, weight: float, pseudo_fakes: bool, target: float = 0.1,
          seed: int = 0, c: float = 0.001, sbi_model: Path | None = None) -> dict:
    from tfdeepfake.cache.faces import iter_face_videos
    from tfdeepfake.detect import VideoDetector
    from tfdeepfake.detectors import load_detector
    from tfdeepfake.detectors.base import ModelFolder
    from tfdeepfake.detectors.calibrate import calibrate_scores
    from tfdeepfake.detectors.face_caches import face_cache_settings
    from tfdeepfake.detectors.texture_head import fit_texture_head, with_texture_head
    from tfdeepfake.experiments.default_detector import collection, real_folds
    from tfdeepfake.experiments.default_texture import TRAIN_FACES_PER_VIDEO, texture_table
    from tfdeepfake.video.sampling import spread_picks

    videos = {v.video_id: v for v in iter_face_videos(cache) if len(v.faces)}
    reals = sorted(v for v in videos if videos[v].label == REAL)
    fold_of = real_folds(videos, 3, seed)
    held = [v for v in reals if fold_of[v] == 0]
    train_reals = [v for v in reals if v not in set(held)]
    fakes = sorted(v for v in videos if videos[v].label == FAKE)
    # The head reads the parts of the face the study measured (its texture.json).
    study = json.loads((texture_dir / "texture.json").read_text())
    regions = tuple(study.get("regions", ["face"]))
    region_layers = dict(study.get("region_layers") or {})
    table = texture_table(cache, texture_dir, seed, regions=regions, region_layers=region_layers)
    ids = table["ids"]
    rows = {v: np.flatnonzero(ids == v) for v in videos}
    pick = {v: r[spread_picks(len(r), TRAIN_FACES_PER_VIDEO)] for v, r in rows.items()}
    real_rows = np.concatenate([pick[v] for v in train_reals])
    fake_rows = np.concatenate([pick[v] for v in fakes])
    real = [table["x"][real_rows], table["x_degraded"][real_rows]]
    fake = [table["x"][fake_rows], table["x_degraded"][fake_rows]]
    if pseudo_fakes:
        mine = np.isin(table["pf_ids"], train_reals)
        real.append(table["pf_real"][mine])
        fake.append(table["pf_fake"][mine])
    head = fit_texture_head(np.concatenate(real), np.concatenate(fake), c=c, record={
        "real_videos": len(train_reals), "fake_videos": len(fakes),
        "fake_sources": sorted({collection(videos[v]) for v in fakes}),
        "pseudo_fakes": bool(pseudo_fakes), "degraded_copies": True}, regions=regions,
        region_layers=region_layers)
    sbi = load_detector(sbi_model or sbi_dir / "models" / f"{recipe}-fold0-seed0")
    # A default model shipped before (--sbi-model): its sbi network's records are nested.
    shipped_before = "texture_head" in sbi.meta
    sbi_data = sbi.meta["data"]["sbi_training_reals"] if shipped_before else sbi.meta.get("data", {})
    sbi_training = sbi.meta["training"]["sbi"] if shipped_before else sbi.meta.get("training", {})
    if shipped_before:
        recipe = sbi.meta["training"]["recipe"]
    staging = out.with_name(out.name + ".partial")
    if staging.exists():
        shutil.rmtree(staging)
    # The head was fitted on the cache's crops (its margin): detect must crop the same way.
    detector = with_texture_head(sbi, head, staging, weight=weight,
                                 face_settings=face_cache_settings(cache))
    # The threshold from genuine videos no part of the model saw, through detect's path.
    video_detector = VideoDetector(detector)
    scores, used = [], []
    for v in held:
        attrs = videos[v].attrs
        verdict, faces = video_detector.inspect(videos_root / attrs["path"])
        if len(faces):
            scores.append(float(detector.score_video(faces)))
            used.append(str(attrs["path"]))
    (threshold,) = calibrate_scores({detector.default_variant: scores},
                                    {detector.default_variant: detector.threshold()}, target)
    meta = ModelFolder(staging).read_meta()
    meta["threshold"] = threshold.threshold
    meta["calibration"] = {
        "false_positive_rate": target, "real_videos": used,
        "real_scores": {detector.default_variant: sorted(scores)},
        "thresholds": [threshold.to_dict()],
        "rule": "fake when p >= threshold; at most (k+1)/(n+1) of new genuine videos like "
                "these are called fake (split-conformal)"}
    meta["data"] = {"sbi_training_reals": sbi_data, "calibration_reals": len(used),
                    "texture_head": head.record, "recipe": recipe, "weight": weight}
    meta["training"] = {"sbi": sbi_training, "recipe": recipe}
    ModelFolder(staging).write_meta(meta)
    if out.exists():
        shutil.rmtree(out)
    staging.rename(out)
    return {"model": str(out), "threshold": threshold.to_dict(), "calibration_videos": len(used),
            "texture_head": head.record}


def main(argv: Sequence[str] | None = None) -> int:
    from tfdeepfake.experiments.steps import script_logging

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("cache", type=Path)
    p.add_argument("--videos", type=Path, required=True, help="the folder the cache's paths are in")
    p.add_argument("--sbi", type=Path, default=Path("reports/default"))
    p.add_argument("--texture", type=Path, default=Path("reports/default-texture"))
    p.add_argument("--recipe", default="landed")
    p.add_argument("--sbi-model", type=Path,
                   help="take the sbi network from this model folder instead of --sbi's fold 0 "
                        "(e.g. the bundled default, whose texture head is then replaced)")
    p.add_argument("--weight", type=float, default=0.0)
    p.add_argument("--pseudo-fakes", action="store_true")
    p.add_argument("--false-positive-rate", type=float, default=0.1)
    p.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "default_model")
    p.add_argument("-v", "--verbose", action="store_true")
    args = p.parse_args(argv)
    script_logging(args.verbose)
    result = build(args.cache, args.videos, args.sbi, args.texture, args.out, recipe=args.recipe,
                   weight=args.weight, pseudo_fakes=args.pseudo_fakes,
                   target=args.false_positive_rate, sbi_model=args.sbi_model)
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
