"""Which FaceNet layer the mouth's square should be read at (issue 20): the shipped head reads
the whole face and the mouth both at ``Block17_10``; the mouth's second FaceNet pass is what
makes the default model slower than triplet ``detect``, and an earlier layer would cost less
(the trunk to ``Block35_5`` is about half of the trunk to ``Block17_10``).

    python scripts/mouth_layer_probe.py runs/dd/faces_m0.0.h5 --out runs/mouth_layers.npz

One FaceNet pass per face and per region computes the face's pooled ``Block17_10`` and the
mouth's pooled ``Block35_5``, ``Mixed_6a`` and ``Block17_10`` (the square placed by the
in-graph keypoints, as the shipped model places it), for each face and a degraded copy
(``default_texture.degrade``). Then the shipped recipe's protocol (``default_texture``'s
``texture`` variant: 12 faces per video and their degraded copies, logistic regression at
C 0.001; genuine folds of whole collections, each fake source held out whole; a video's
score the mean of its faces' probabilities, averaged over the fits that did not see it)
for the face joined with each mouth layer, and the face alone. Prints video AUCs [95% CI];
differences paired against the shipped pairing (face + mouth at ``Block17_10``) with
``scripts/compare_studies.py``'s bootstrap.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

MOUTH_LAYERS = ("Block35_5_Activation", "Mixed_6a", "Block17_10_Activation")
FACE_LAYER = "Block17_10_Activation"


def feature_model(network):
    from tensorflow import keras

    from tfdeepfake.models.face_parts import FaceLandmarks, KeypointSquare
    from tfdeepfake.models.sbi_classifier import FACENET_BACKBONE, FACENET_STANDARDIZE

    backbone = network.get_layer(FACENET_BACKBONE)
    standardize = network.get_layer(FACENET_STANDARDIZE)
    trunk = keras.Model(backbone.input, [backbone.get_layer(n).output for n in MOUTH_LAYERS])
    faces = keras.Input((160, 160, 3), dtype="float32")
    pool = keras.layers.GlobalAveragePooling2D
    face = pool()(trunk(standardize(faces), training=False)[-1])
    mouth = KeypointSquare("mouth")([faces, FaceLandmarks()(faces)])
    mouths = [pool()(m) for m in trunk(standardize(mouth), training=False)]
    return keras.Model(faces, [face, *mouths])


def extract(cache, out: Path, seed: int = 0) -> dict:
    import tensorflow as tf

    from tfdeepfake.cache.faces import iter_face_videos
    from tfdeepfake.experiments.default_texture import degrade
    from tfdeepfake.models.facenet import load_facenet

    model = feature_model(load_facenet().model)
    run = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
    rng = np.random.default_rng(seed)
    rows: dict[str, list] = {"ids": []}
    for video in iter_face_videos(cache):
        faces = np.asarray(video.faces)
        if not len(faces):
            continue
        rows["ids"] += [video.video_id] * len(faces)
        for suffix, batch in (("", faces), ("_degraded", np.stack([degrade(f, rng) for f in faces]))):
            outputs = run(tf.constant(batch.astype(np.float32)))
            for name, value in zip(("face", *(f"mouth_{n}" for n in MOUTH_LAYERS)), outputs):
                rows.setdefault(name + suffix, []).append(value.numpy())
    table = {k: (np.asarray(v) if k == "ids" else np.concatenate(v)) for k, v in rows.items()}
    np.savez(out, **table)
    return table


def evaluate(cache, table: dict, columns: list[str], c: float = 0.001, seed: int = 0):
    """Out-of-fold video scores (real, fake) of a head on the joined ``columns``."""
    from tfdeepfake.detectors.texture_head import fit_texture_head
    from tfdeepfake.experiments.default_texture import Protocol

    x = np.concatenate([table[k] for k in columns], axis=1)
    x_degraded = np.concatenate([table[k + "_degraded"] for k in columns], axis=1)
    protocol = Protocol.of(cache, table["ids"], seed=seed)
    scores: dict[str, list] = {v: [] for v in protocol.videos}
    for _, _, real, fake, scored in protocol.splits():
        head = fit_texture_head(np.concatenate([x[real], x_degraded[real]]),
                                np.concatenate([x[fake], x_degraded[fake]]), c=c)
        for v in scored:
            scores[v].append(float(np.mean(1 / (1 + np.exp(-head.logits(x[protocol.rows_of[v]]))))))
    real = {v: float(np.mean(scores[v])) for v in protocol.reals}
    fake = {v: float(np.mean(scores[v])) for v in protocol.source}
    return protocol.videos, real, fake


def main(argv=None) -> int:
    from tfdeepfake.experiments.default_detector import family, summarise_scores

    sys.path.insert(0, str(Path(__file__).resolve().parent))  # scripts/ is not a package
    from compare_studies import paired_difference

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("cache", type=Path)
    p.add_argument("--out", type=Path, required=True, help="the features (.npz), reused when present")
    p.add_argument("--bootstrap", type=int, default=1000)
    args = p.parse_args(argv)
    table = dict(np.load(args.out)) if args.out.exists() else extract(args.cache, args.out)
    variants = {"face": ["face"]}
    variants |= {f"face + mouth at {n}": ["face", f"mouth_{n}"] for n in MOUTH_LAYERS}
    results = {name: evaluate(args.cache, table, columns) for name, columns in variants.items()}
    base = results[f"face + mouth at {MOUTH_LAYERS[-1]}"]
    print("| variant | all | modern | classic | minus face + mouth at Block17_10: all | modern | classic |")
    print("|---|---|---|---|---|---|---|")
    for name, (videos, real, fake) in results.items():
        summary = summarise_scores(videos, real, fake, args.bootstrap, 0)
        cells = [summary["all"], summary["families"]["modern"], summary["families"]["classic"]]
        diffs = []
        for fam in ("all", "modern", "classic"):
            keep = [v for v in fake if fam == "all" or family(videos[v]) == fam]
            diffs.append(paired_difference(
                np.array([base[1][v] for v in real]), np.array([base[2][v] for v in keep]),
                np.array([real[v] for v in real]), np.array([fake[v] for v in keep]),
                args.bootstrap, 0))
        print(f"| {name} | " + " | ".join(f"{m['auc']:.3f} [{m['low']:.2f}, {m['high']:.2f}]" for m in cells)
              + " | " + " | ".join(f"{d:+.3f} [{low:+.3f}, {high:+.3f}]" for d, low, high in diffs) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
