"""How much the fast face path moves video probabilities against the previous path.

    python benchmarks/bench_parity.py [--model saved_models/<name>] [--videos DIR]

Faces of every video in ../shared/data/videos (or --videos) are found three ways:

- previous: every sampled frame through MTCNN at 270 px, no retry (the path before key
  frames and retries: `key_frame_interval 1`, `retry_short_sides ()`);
- fast: the current default settings (key frames, carried boxes, retries);
- previous at 300 px: the previous path with `detect_short_side 300`, a 10% change of one
  detection setting, to show how much the previous path itself moves;
- first 25 frames: the fast path on `--sampling first` (25 consecutive frames from the
  start, the reference code's choice) instead of 25 spread over the video.

With --model, each video's fake probability under that model (its detector, variant and
aggregation) for each way. Without it, there is no trained model here, so classifiers
(sgd, knn, rf; the triplet detector's parameters) are fitted on head outputs (real FaceNet,
random head) of the previous path's faces labelled by their folder (fake/real), two-fold
by video so that every video is scored out of sample. Prints the largest and mean
|probability change| against the previous path, verdict flips at 0.5 (or the model's
threshold), and the FaceNet cosine between the two crops of each frame.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from bench_baseline import cpu_seconds  # noqa: E402
from bench_detect import table  # noqa: E402
from bench_extract import SHARED_VIDEOS  # noqa: E402


def ways(settings):
    previous = replace(settings, detector=replace(settings.detector, key_frame_interval=1, retry_short_sides=()))
    return {"previous": previous, "fast": settings,
            "previous at 300 px": replace(previous, detector=replace(previous.detector, detect_short_side=300)),
            "first 25 frames": replace(settings, sampling="first", stride=None)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, help="a trained model folder")
    parser.add_argument("--facenet-weights", type=Path)
    parser.add_argument("--videos", type=Path, default=SHARED_VIDEOS)
    args = parser.parse_args(argv)

    from tfdeepfake.faces.detector import get_detector
    from tfdeepfake.faces.pipeline import faces_from_frames
    from tfdeepfake.faces.settings import FaceSettings
    from tfdeepfake.video.reader import read_sampled_frames

    model = None
    if args.model:
        from tfdeepfake.detectors import load_detector

        model = load_detector(args.model, args.facenet_weights)
        settings = model.face_settings
        embed = model.embedder.embed if hasattr(model, "embedder") else None
    else:
        from tfdeepfake.models.facenet import load_facenet

        settings = FaceSettings()
        embed = load_facenet().embed
    paths = sorted(p for p in args.videos.rglob("*.mp4"))
    if not paths:
        print(f"no videos under {args.videos}", file=sys.stderr)
        return 1
    variants = ways(settings)
    records = []
    for path in paths:
        sampled = {}  # sampling -> (frames, indices)
        record = {"name": str(path.relative_to(args.videos)), "label": int("fake" in path.parts)}
        for name, cfg in variants.items():
            if cfg.sampling not in sampled:
                sampled[cfg.sampling] = read_sampled_frames(path, cfg.num_frames, cfg.sampling, cfg.stride)[:2]
            frames, indices = sampled[cfg.sampling]
            cpu = cpu_seconds()
            arrays = faces_from_frames(frames, indices, cfg, get_detector(cfg.detector))
            record[name] = {"faces": arrays["faces"], "frames": arrays["frame_indices"].tolist(),
                            "cpu": cpu_seconds() - cpu}
            if embed is not None and len(arrays["faces"]):
                record[name]["emb"] = embed(arrays["faces"])
        records.append(record)
        print(record["name"], {n: len(record[n]["frames"]) for n in variants}, file=sys.stderr, flush=True)

    scorers = {}
    if model is not None:
        variant = model.default_variant
        scorers[f"{model.name}:{variant}"] = lambda r, way: (
            float(model.score_video(r[way]["faces"], variant)) if len(r[way]["faces"]) else None)
        threshold = model.threshold(variant)
    else:
        threshold = 0.5
        scorers.update(fitted_scorers(records, settings))

    rows = []
    for label, score in scorers.items():
        for way in [w for w in variants if w != "previous"]:
            diffs, flips = [], 0
            for r in records:
                a, b = score(r, "previous"), score(r, way)
                if a is None or b is None:
                    continue
                diffs.append((abs(a - b), r["name"], a, b))
                flips += (a >= threshold) != (b >= threshold)
            worst = max(diffs)
            rows.append([label, way, f"{worst[0]:.4f}", f"{worst[1]} {worst[2]:.3f}->{worst[3]:.3f}",
                         f"{np.mean([d[0] for d in diffs]):.4f}", f"{sum(d[0] < 0.02 for d in diffs)}/{len(diffs)}",
                         flips])
    print(f"\nprobability change against the previous path, {len(records)} videos; "
          + (f"model {args.model}" if model is not None else
             "classifiers on a random head over real FaceNet, fitted two-fold out of sample") + "\n")
    print(table(["scorer", "path", "max abs dp", "worst video", "mean abs dp", "abs dp < 0.02", "flips"], rows))
    if embed is not None:
        lines = []
        for way in [w for w in variants if w != "previous"]:
            cos = []
            for r in records:
                a, b = r["previous"], r[way]
                common = set(a["frames"]) & set(b["frames"])
                cos += [float(a["emb"][a["frames"].index(i)] @ b["emb"][b["frames"].index(i)]) for i in common]
            faces = sum(len(r[way]["frames"]) for r in records)
            if not cos:  # other frames altogether (first 25 against spread out)
                lines.append([way, "-", "-", "-", f"{faces}/{sum(len(r['previous']['frames']) for r in records)}",
                              f"{sum(r[way]['cpu'] for r in records):.1f}/{sum(r['previous']['cpu'] for r in records):.1f}"])
                continue
            lines.append([way, f"{min(cos):.3f}", f"{np.mean(cos):.4f}", f"{np.mean(np.array(cos) < 0.9):.1%}",
                          f"{faces}/{sum(len(r['previous']['frames']) for r in records)}",
                          f"{sum(r[way]['cpu'] for r in records):.1f}/{sum(r['previous']['cpu'] for r in records):.1f}"])
        print("\nFaceNet cosine between the crops of the same frame (previous path vs this one)\n")
        print(table(["path", "min", "mean", "< 0.9", "faces vs previous", "face CPU s vs previous"], lines))
    return 0


def fitted_scorers(records, settings) -> dict:
    from tfdeepfake.classifiers import make_classifier
    from tfdeepfake.detectors.triplet import CLASSIFIER_PARAMS
    from tfdeepfake.models.triplet_head import build_triplet_head

    dim = next(r["previous"]["emb"].shape[1] for r in records if "emb" in r["previous"])
    head = build_triplet_head(dim, (256, 256, 128), 64, seed=0)
    features = {}
    for i, r in enumerate(records):
        for way, found in r.items():
            if isinstance(found, dict) and "emb" in found:
                features[i, way] = np.asarray(head(found["emb"], training=False))
    folds = [list(range(0, len(records), 2)), list(range(1, len(records), 2))]
    scorers = {}
    for kind, params in CLASSIFIER_PARAMS.items():
        fitted = []
        for k in (0, 1):
            train = [i for i in folds[1 - k] if (i, "previous") in features]
            x = np.concatenate([features[i, "previous"] for i in train])
            y = np.concatenate([np.full(len(features[i, "previous"]), records[i]["label"]) for i in train])
            clf = make_classifier(kind, **params)
            if "seed" in clf.get_params():
                clf.set_params(seed=0)
            fitted.append(clf.fit(x, y))
        fold_of = {i: k for k in (0, 1) for i in folds[k]}
        index = {id(r): i for i, r in enumerate(records)}

        def score(r, way, fitted=fitted, fold_of=fold_of, index=index):
            i = index[id(r)]
            if (i, way) not in features:
                return None
            return float(np.mean(fitted[fold_of[i]].predict_proba_fake(features[i, way])))

        scorers[kind] = score
    return scorers


if __name__ == "__main__":
    sys.exit(main())
