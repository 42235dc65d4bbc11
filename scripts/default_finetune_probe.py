"""Does fine-tuning pretrained FaceNet on labelled fakes carry to unseen generators? A probe
under the default-model studies' data (docs/results.md, "The default model"), coarser than
their protocol: 3 paired folds. Exploratory: one seed.

    python scripts/default_finetune_probe.py runs/dd/faces.h5 --out runs/finetune.json

Fold ``k`` holds out one fold of genuine collections (``default_detector.real_folds``) and
one third of the fake sources (FF++, DFDC, each modern generator; whole sources, assigned by
size as the collections are), so each video is scored once, by the one fit that never saw
its collection or its generator. Each fit trains on the rest (12 faces per video, each also
once degraded to 56-112 px and JPEG 30-80, in both classes; classes balanced) and scores every
face of the held-out videos (a video's score: the mean). Variants, all on the same folds:

- ``texture``: the shipped recipe (logistic regression on frozen ``Block17_10``, pooled);
- ``finetune``: FaceNet trained from ``--trainable-from`` with a new head on its pool;
- ``texture+finetune``: the texture head fitted first and kept fixed, the fine-tuned head
  learning what it misses (``CombinedLogits``, weight ``--weight``).

``--pseudo-fakes``: the fits also train on pseudo-fakes of their genuine training videos (8
faces per video; self-blended and lip-sync imitations, each with its real partner after the
same quality augmentation, as ``default_texture`` makes them), labelled fakes and pseudo-fakes
together: the issue's "labelled fakes with pseudo-fakes, the backbone unfrozen".

Prints video AUC [95% CI] for all fakes, modern generators and classic FF++ / DFDC, and
writes every video's score to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from tfdeepfake.video.sampling import spread_picks  # noqa: E402

VARIANTS = ("texture", "finetune", "texture+finetune")


def fake_source_folds(videos: dict, folds: int, seed: int) -> dict[str, int]:
    from tfdeepfake.constants import FAKE
    from tfdeepfake.experiments.default_detector import collection, folds_of_collections

    return folds_of_collections({vid: collection(v) for vid, v in videos.items() if v.label == FAKE},
                                folds, seed)


def _with_pseudo_fakes(faces: list, labels: list, train: list, cache: Path, rng) -> tuple[list, list]:
    from tfdeepfake.constants import REAL
    from tfdeepfake.detectors.xception import face_cache_settings
    from tfdeepfake.experiments.default_texture import PSEUDO_FAKES_PER_VIDEO, augmented_pseudo_fakes
    from tfdeepfake.pipelines.self_blend import real_faces
    from tfdeepfake.synthetic.self_blend import PSEUDO_FAKE_RECIPES

    data = real_faces([v for v in train if v.label == REAL], face_cache_settings(cache),
                      PSEUDO_FAKES_PER_VIDEO)
    faces, labels = list(faces), list(labels)
    for recipe in PSEUDO_FAKE_RECIPES:
        seeds = rng.integers(0, 2**62, len(data))
        for real, fake in zip(*augmented_pseudo_fakes(data.faces, data.keypoints, seeds, recipe)):
            faces += [real, fake]
            labels += [0, 1]
    return faces, labels


def fit_and_score(variant: str, train: list, scored: list, videos: dict, args) -> dict[str, float]:
    import tensorflow as tf

    from tfdeepfake.detectors.texture_head import fit_texture_head, texture_feature_model, texture_features
    from tfdeepfake.experiments.default_texture import degrade
    from tfdeepfake.models.facenet import load_facenet
    from tfdeepfake.models.sbi_classifier import build_sbi_classifier

    rng = np.random.default_rng(args.seed)
    faces, labels = [], []
    for vid in train:
        v = videos[vid]
        picked = np.asarray(v.faces)[spread_picks(len(v.faces), args.faces)]
        faces += list(picked) + [degrade(f, rng) for f in picked]
        labels += [int(v.label)] * (2 * len(picked))
    if args.pseudo_fakes:
        faces, labels = _with_pseudo_fakes(faces, labels, [videos[v] for v in train], args.cache, rng)
    faces, labels = np.stack(faces).astype(np.uint8), np.asarray(labels, np.float32)
    weight = np.where(labels == 1, 0.5 / labels.mean(), 0.5 / (1 - labels.mean())).astype(np.float32)
    tf.keras.utils.set_random_seed(args.seed)
    network = load_facenet().model
    # "texture" alone: the untrained head gets weight 0, as in the shipped model.
    texture = ({"layer": "Block17_10_Activation",
                "weight": 0.0 if variant == "texture" else args.weight}
               if variant != "finetune" else None)
    model = build_sbi_classifier("facenet", trainable_from=args.trainable_from, seed=args.seed,
                                 facenet_network=network, texture=texture)
    if texture:
        extractor = texture_feature_model(network)
        x = texture_features(extractor, faces)
        head = fit_texture_head(x[labels == 0], x[labels == 1], c=0.001)
        norm = model.get_layer("texture_norm")
        norm.set_weights([head.mean.astype(np.float32), head.variance.astype(np.float32), np.int64(1)])
        norm.finalize_state()
        model.get_layer("texture_logit").set_weights(
            [head.coef.reshape(-1, 1).astype(np.float32), np.float32([head.intercept])])
        model.get_layer("texture_logit").trainable = False
    if variant != "texture":
        model.compile(optimizer=tf.keras.optimizers.Adam(args.lr), loss="binary_crossentropy")
        order = rng.permutation(len(faces))
        flipped = faces[order].copy()
        flip = rng.random(len(flipped)) < 0.5
        flipped[flip] = flipped[flip, :, ::-1]
        model.fit(flipped, labels[order], sample_weight=weight[order], batch_size=32,
                  epochs=args.epochs, verbose=2)
    return {vid: float(np.mean(model.predict(np.asarray(videos[vid].faces, np.float32),
                                             batch_size=64, verbose=0)))
            for vid in scored}


def main(argv=None) -> int:
    from tfdeepfake.cache.faces import iter_face_videos
    from tfdeepfake.constants import FAKE, REAL
    from tfdeepfake.experiments.default_detector import auc_interval, collection, real_folds

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("cache", type=Path)
    p.add_argument("--out", type=Path, required=True, help="JSON of every video's score (resumable)")
    p.add_argument("--variant", action="append", choices=VARIANTS)
    p.add_argument("--trainable-from", default="Mixed_7a")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--weight", type=float, default=0.5, help="the fine-tuned head's weight beside the texture head")
    p.add_argument("--faces", type=int, default=12, help="training faces per video")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--pseudo-fakes", action="store_true",
                   help="also train on pseudo-fakes of the genuine training videos")
    args = p.parse_args(argv)
    videos = {v.video_id: v for v in iter_face_videos(args.cache) if len(v.faces)}
    genuine_fold = real_folds(videos, 3, args.seed)
    fold = {**genuine_fold, **fake_source_folds(videos, 3, args.seed)}
    done = json.loads(args.out.read_text()) if args.out.exists() else {}

    def key(variant: str, k: int) -> str:  # one fit's entry in --out
        return (f"{variant}|{args.trainable_from}|{args.epochs}|{args.lr}|{args.weight}|{k}"
                + "|pseudo-fakes" * args.pseudo_fakes)

    for variant in args.variant or VARIANTS:
        for k in range(3):
            if key(variant, k) in done:
                continue
            started = time.perf_counter()
            train = [v for v in videos if fold[v] != k]
            scored = [v for v in videos if fold[v] == k]
            done[key(variant, k)] = fit_and_score(variant, train, scored, videos, args)
            args.out.write_text(json.dumps(done))
            print(f"{key(variant, k)}: {time.perf_counter() - started:.0f} s", flush=True)
        scores = {}
        for k in range(3):
            scores.update(done[key(variant, k)])
        real = [s for v, s in scores.items() if videos[v].label == REAL]
        fakes = {v: s for v, s in scores.items() if videos[v].label == FAKE}
        parts = {"all": list(fakes.values()),
                 "modern": [s for v, s in fakes.items() if collection(videos[v]).startswith("modern")],
                 "classic": [s for v, s in fakes.items() if not collection(videos[v]).startswith("modern")]}
        row = ", ".join(f"{name} {r['auc']:.3f} [{r['low']:.2f}, {r['high']:.2f}] ({len(f)})"
                        for name, f in parts.items() for r in [auc_interval(real, f)])
        print(f"{variant} (from {args.trainable_from}, {args.epochs} epochs, lr {args.lr}, "
              f"w {args.weight}{', pseudo-fakes' * args.pseudo_fakes}; {len(real)} genuine): {row}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
