"""Which layer of pretrained FaceNet separates genuine from generated faces: linear probes
on its pooled layers, under the default-model studies' protocol (docs/results.md, "The
default model"). Exploratory: one seed; bootstrap 95% intervals over videos.

    python scripts/default_layer_probe.py runs/dd/faces.h5 --features runs/dd/feats.npz
    python scripts/default_layer_probe.py runs/dd/faces.h5 --features runs/dd/feats.npz \\
        --layer Mixed_6a --c 0.01
    python scripts/default_layer_probe.py ... --video meandiff   # video-level, temporal

Features (every face, and a degraded copy: 56-112 px and JPEG 30-80) of four layers are
computed once into --features. Then, for each genuine fold k (default_detector's folds of
collections) and each fake source g, a logistic regression (balanced, standardised) is fitted
on the genuine videos outside k and the fakes outside g (12 faces per video, with their
degraded copies), and scores the genuine videos of k and the fakes of g; prints video AUC
for all fakes, modern generators and classic FF++ / DFDC. ``--video MODE`` fits on video
features instead (``mean``, ``std``, ``diff``: mean absolute frame-to-frame change,
``meandiff``).

``--pooling gram`` computes second-order statistics instead (``Block35_gram``, ``Block17_gram``:
Gram matrices of projected channels over the face's positions, signed square root).

``--pooling sharpness`` computes, instead of FaceNet layers, where a face's fine detail is
(``Sharp``, 80 values): on a 4x4 grid of the face, the log energy of a Laplacian and of two
difference-of-Gaussians bands, each relative to its mean over the face, and fine against
coarse band per cell (a blended or generated region is smoother than the frame around it,
whatever the video's quality). Several ``--features`` files (same faces) are joined, e.g.
``--features runs/dd/sharpness.npz --features runs/dd/feats.npz --layer Sharp+Block17_10_Activation``.

``--pooling colour`` computes colour statistics of the face's centre (``Colour``, 31 values).
``--nap K`` projects out the K directions along which the training genuine videos differ most
before the classifier. ``--texture reports/default-texture-m0/texture.json`` also reports the
shipped recipe's out-of-fold scores and both added 1:1 (late fusion).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

LAYERS = ("Block35_5_Activation", "Mixed_6a", "Block17_10_Activation", "AvgPool")
# --pooling grid: Block17_10 pooled over a 2x2 grid of the face (upper/lower, left/right:
# a lip-sync edit is local to the mouth) and its spatial standard deviation.
GRID_LAYERS = ("Block17_grid", "Block17_std")
# --pooling gram: second-order texture statistics (the Gram matrix of a layer's channels over
# the face's positions, as in texture synthesis), channels first projected to GRAM_DIM by a
# fixed random orthonormal matrix (no data seen), upper triangle, signed square root.
GRAM_TAPS = {"Block35_gram": "Block35_5_Activation", "Block17_gram": "Block17_10_Activation"}
GRAM_DIM = 48


def gram_features(maps: np.ndarray, projection: np.ndarray) -> np.ndarray:
    """[B, H, W, C] activations -> [B, d(d+1)/2] signed-root Gram statistics."""
    x = maps.reshape(len(maps), -1, maps.shape[-1]) @ projection
    gram = np.einsum("bpc,bpd->bcd", x, x) / x.shape[1]
    upper = gram[:, *np.triu_indices(projection.shape[1])]
    return (np.sign(upper) * np.sqrt(np.abs(upper))).astype(np.float32)


def _pooled(output, pooling: str):
    from tensorflow import keras

    if pooling == "average":
        return [keras.layers.GlobalAveragePooling2D()(o) if len(o.shape) == 4 else o for o in output]
    (middle,) = output
    half = int(middle.shape[1]) // 2
    cells = [keras.layers.GlobalAveragePooling2D()(middle[:, r:r + half, c:c + half])
             for r in (0, half) for c in (0, half)]
    std = keras.layers.Lambda(lambda t: keras.backend.std(t, axis=(1, 2)))(middle)
    return [keras.layers.Concatenate()(cells), std]


SHARPNESS_GRID = 4


def sharpness_features(face: np.ndarray) -> np.ndarray:
    """``--pooling sharpness``: where the fine detail of a face is (module docs)."""
    import cv2

    gray = cv2.cvtColor(face.astype(np.uint8), cv2.COLOR_RGB2GRAY).astype(np.float32)
    b1, b2, b4 = (cv2.GaussianBlur(gray, (0, 0), s) for s in (1, 2, 4))
    maps = [np.abs(cv2.Laplacian(gray, cv2.CV_32F)), np.abs(b1 - b2), np.abs(b2 - b4)]
    side = gray.shape[0] // SHARPNESS_GRID
    cells = np.log(np.array([[m[r * side:(r + 1) * side, c * side:(c + 1) * side].mean() + 1e-3
                              for r in range(SHARPNESS_GRID) for c in range(SHARPNESS_GRID)]
                             for m in maps]))
    relative = cells - cells.mean(axis=1, keepdims=True)
    fine_to_coarse = cells[:2] - cells[2:3]
    return np.concatenate([relative.ravel(), fine_to_coarse.ravel()]).astype(np.float32)


def colour_features(face: np.ndarray) -> np.ndarray:
    """``--pooling colour``: colour statistics of the face's central region (generated faces
    are known to differ in saturation and chroma; McCloskey and Albright 2018). 31 values."""
    import cv2

    face = face.astype(np.uint8)
    side = face.shape[0]
    centre = slice(side // 8, side - side // 8)
    ycc = cv2.cvtColor(face, cv2.COLOR_RGB2YCrCb)[centre, centre].reshape(-1, 3).astype(np.float32)
    hsv = cv2.cvtColor(face, cv2.COLOR_RGB2HSV)[centre, centre].reshape(-1, 3).astype(np.float32)
    values = []
    for channel in (ycc[:, 0], ycc[:, 1], ycc[:, 2], hsv[:, 1], hsv[:, 2]):
        mean, std = channel.mean(), channel.std() + 1e-3
        skew = (((channel - mean) / std) ** 3).mean()
        values += [mean, np.log(std), skew, *np.percentile(channel, (5, 50, 95))]
    # how much of the face is clipped dark or bright, or fully saturated
    values += [np.mean(ycc[:, 0] < 16), np.mean(ycc[:, 0] > 235), np.mean(hsv[:, 1] > 240)]
    # chroma against luma: a generated face's colour need not follow its shading
    values += [np.corrcoef(ycc[:, 0], ycc[:, 1])[0, 1] if ycc[:, 1].std() > 0 else 0.0]
    return np.nan_to_num(np.asarray(values, np.float32))


def compute_face_statistics(cache: Path, out: Path, describe, name: str) -> None:
    """``describe(face)`` of every cached face and of its degraded copy, stored as ``name``."""
    from tfdeepfake.cache.faces import iter_face_videos
    from tfdeepfake.experiments.default_texture import degrade

    rng = np.random.default_rng(0)
    rows = {"ids": [], "labels": [], "methods": []}
    feats, degraded = [], []
    for video in iter_face_videos(cache):
        if not len(video.faces):
            continue
        faces = np.asarray(video.faces)
        feats += [describe(f) for f in faces]
        degraded += [describe(degrade(f, rng)) for f in faces]
        rows["ids"] += [video.video_id] * len(faces)
        rows["labels"] += [video.label] * len(faces)
        rows["methods"] += [str(video.attrs.get("method"))] * len(faces)
    np.savez(out, **{k: np.asarray(v) for k, v in rows.items()}, **{name: np.stack(feats),
             "deg_" + name: np.stack(degraded)})


def compute_features(cache: Path, out: Path, pooling: str = "average") -> None:
    if pooling == "sharpness":
        return compute_face_statistics(cache, out, sharpness_features, "Sharp")
    if pooling == "colour":
        return compute_face_statistics(cache, out, colour_features, "Colour")
    import tensorflow as tf
    from tensorflow import keras

    from tfdeepfake.cache.faces import iter_face_videos
    from tfdeepfake.experiments.default_texture import degrade
    from tfdeepfake.models.facenet import load_facenet

    network = load_facenet().model
    backbone = network.get_layer("inception_resnet_v1")
    names = {"average": LAYERS, "grid": GRID_LAYERS, "gram": tuple(GRAM_TAPS)}[pooling]
    taps = {"average": LAYERS, "grid": ("Block17_10_Activation",),
            "gram": tuple(GRAM_TAPS.values())}[pooling]
    trunk = keras.Model(backbone.input, [backbone.get_layer(n).output for n in taps])
    faces_in = keras.Input((160, 160, 3))
    outputs = trunk(network.get_layer("facenet_standardize")(faces_in), training=False)
    outputs = outputs if isinstance(outputs, list) else [outputs]
    model = keras.Model(faces_in, outputs if pooling == "gram" else _pooled(outputs, pooling))
    infer = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
    projections = [np.linalg.qr(np.random.default_rng(7).standard_normal((int(o.shape[-1]), GRAM_DIM)))[0]
                   for o in outputs]
    rng = np.random.default_rng(0)
    rows = {"ids": [], "labels": [], "methods": []}
    feats = {n: [] for n in names}
    degraded = {n: [] for n in names}
    for video in iter_face_videos(cache):
        if not len(video.faces):
            continue
        faces = np.asarray(video.faces)
        for store, batch in ((feats, faces), (degraded, np.stack([degrade(f, rng) for f in faces]))):
            values = [v.numpy() for v in infer(tf.constant(batch.astype(np.float32)))]
            if pooling == "gram":
                values = [gram_features(v, q) for v, q in zip(values, projections)]
            for name, value in zip(names, values):
                store[name].append(value.astype(np.float16))
        rows["ids"] += [video.video_id] * len(faces)
        rows["labels"] += [video.label] * len(faces)
        rows["methods"] += [str(video.attrs.get("method"))] * len(faces)
    np.savez(out, **{k: np.asarray(v) for k, v in rows.items()},
             **{n: np.concatenate(feats[n]) for n in names},
             **{"deg_" + n: np.concatenate(degraded[n]) for n in names})


def nuisance_projection(x, ids, genuine, k):
    """Removes the k leading directions of the genuine videos' mean features, standardised
    (what varies between genuine videos is who, where and which camera, not manipulation)."""
    if not k:
        return lambda rows: rows
    means = np.stack([x[ids == v].mean(0) for v in genuine])
    centre, scale = means.mean(0), x.std(0) + 1e-6
    _, _, vt = np.linalg.svd((means - centre) / scale, full_matrices=False)
    basis = vt[:k]
    return lambda rows: rows - ((rows / scale) @ basis.T @ basis) * scale


def main(argv=None) -> int:
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from tfdeepfake.experiments.default_detector import auc_interval, folds_of_collections

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("cache", type=Path)
    p.add_argument("--features", type=Path, action="append",
                   help="computed with --pooling when absent; several are joined (same faces); "
                        "default runs/dd/feats.npz")
    p.add_argument("--layer", default="Block17_10_Activation", help="a layer, or several joined by +")
    p.add_argument("--c", type=float, default=0.01)
    p.add_argument("--faces", type=int, default=12)
    p.add_argument("--classifier", choices=("logistic", "lda"), default="logistic",
                   help="lda: shrinkage LDA (equal priors) in place of the logistic regression")
    p.add_argument("--no-degraded", action="store_true")
    p.add_argument("--video", choices=("mean", "std", "diff", "meandiff"))
    p.add_argument("--pooling", choices=("average", "grid", "gram", "sharpness", "colour"), default="average",
                   help="features to compute when --features is absent (grid: layers "
                        + " and ".join(GRID_LAYERS) + "; gram: " + " and ".join(GRAM_TAPS)
                        + "; sharpness: Sharp; colour: Colour)")
    p.add_argument("--nap", type=int, default=0,
                   help="project out the K directions along which the training genuine videos' "
                        "mean features differ most (people, cameras, light: nuisance attribute "
                        "projection) before the classifier")
    p.add_argument("--region-features", action="append", default=[], metavar="NAME=FILE",
                   help="a texture_variants_probe --region file (same faces) joined as layer NAME, "
                        "e.g. Mouth=runs/regions/region-mouth-from-face.npz")
    p.add_argument("--texture", type=Path,
                   help="a default_texture texture.json: also report its out-of-fold scores "
                        "and the two standardised and added 1:1 (late fusion)")
    args = p.parse_args(argv)
    d = {}
    for path in args.features or [Path("runs/dd/feats.npz")]:
        if not path.exists():
            compute_features(args.cache, path, args.pooling)
        loaded = dict(np.load(path))
        if "ids" in d and not np.array_equal(d["ids"], loaded["ids"]):
            raise SystemExit(f"{path}: not the same faces as the other --features")
        d.update(loaded)
    for item in args.region_features:
        name, path = item.split("=", 1)
        region = np.load(path)
        if not np.array_equal(region["ids"], d["ids"]):
            raise SystemExit(f"{path}: not the same faces as --features")
        d[name], d["deg_" + name] = region[LAYERS[2]], region["deg_" + LAYERS[2]]
    ids, labels, methods = d["ids"], d["labels"], d["methods"]
    x = np.concatenate([d[n] for n in args.layer.split("+")], axis=1).astype(np.float32)
    xd = np.concatenate([d["deg_" + n] for n in args.layer.split("+")], axis=1).astype(np.float32)
    videos = sorted(set(ids))
    label = {v: int(labels[ids == v][0]) for v in videos}
    method = {v: str(methods[ids == v][0]) for v in videos}
    reals = [v for v in videos if label[v] == 0]
    fold = folds_of_collections({v: method[v] for v in reals}, 3, 0)
    sources = sorted({method[v] for v in videos if label[v] == 1})
    if args.video:
        def video_features(v):
            f = x[ids == v] / (np.linalg.norm(x[ids == v], axis=1, keepdims=True) + 1e-8)
            diff = np.abs(np.diff(f, axis=0)).mean(0) if len(f) > 1 else np.zeros(f.shape[1])
            return np.concatenate({"mean": [f.mean(0)], "std": [f.std(0)], "diff": [diff],
                                   "meandiff": [f.mean(0), diff]}[args.video])
        table = {v: video_features(v) for v in videos}
    keep = np.zeros(len(ids), bool)
    for v in videos:
        rows = np.flatnonzero(ids == v)
        keep[rows[np.unique(np.linspace(0, len(rows) - 1, args.faces).round().astype(int))]] = True
    real_scores = {v: [] for v in reals}
    fake_scores = {v: [] for v in videos if label[v] == 1}
    for k in range(3):
        for g in sources:
            chosen = [v for v in videos if (label[v] == 0 and fold[v] != k)
                      or (label[v] == 1 and method[v] != g)]
            scored = [v for v in videos if (label[v] == 0 and fold[v] == k)
                      or (label[v] == 1 and method[v] == g)]
            if args.classifier == "lda":  # shrinkage LDA, equal class priors
                linear = LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto",
                                                    priors=[0.5, 0.5])
            else:
                linear = LogisticRegression(C=args.c, max_iter=3000, class_weight="balanced")
            model = make_pipeline(StandardScaler(), linear)
            if args.video:
                model.fit(np.stack([table[v] for v in chosen]), [label[v] for v in chosen])
                probs = {v: model.predict_proba(table[v][None])[0, 1] for v in scored}
            else:
                rows = keep & np.isin(ids, chosen)
                train_x, train_y = x[rows], labels[rows]
                if not args.no_degraded:
                    train_x, train_y = np.concatenate([train_x, xd[rows]]), np.concatenate([train_y, train_y])
                project = nuisance_projection(x, ids, [v for v in chosen if label[v] == 0], args.nap)
                model.fit(project(train_x), train_y)
                probs = {v: model.predict_proba(project(x[ids == v]))[:, 1].mean() for v in scored}
            for v, s in probs.items():
                (real_scores if label[v] == 0 else fake_scores)[v].append(float(s))
    real = [np.mean(s) for s in real_scores.values()]
    fake = {v: np.mean(s) for v, s in fake_scores.items()}
    if args.texture:
        from landmark_dynamics_probe import report_with_texture

        def report(name, score):
            parts = {"all": list(fake), "modern": [v for v in fake if method[v].startswith("modern")],
                     "classic": [v for v in fake if not method[v].startswith("modern")]}
            cells = []
            for part, members in parts.items():
                r = auc_interval([score[v] for v in reals], [score[v] for v in members])
                cells.append(f"{part} {r['auc']:.3f} [{r['low']:.2f}, {r['high']:.2f}]")
            print(f"{name}: " + ", ".join(cells))

        probe_logit = {v: float(np.log(np.mean(s) / (1 - np.mean(s))))
                       for v, s in {**real_scores, **fake_scores}.items()}
        report_with_texture(report, args.texture, probe_logit, reals, args.layer)
    modern = [s for v, s in fake.items() if method[v].startswith("modern")]
    classic = [s for v, s in fake.items() if not method[v].startswith("modern")]
    cells = []
    for name, scores in (("all", list(fake.values())), ("modern", modern), ("classic", classic)):
        r = auc_interval(real, scores)
        cells.append(f"{name} {r['auc']:.3f} [{r['low']:.2f}, {r['high']:.2f}]")
    print(f"{args.layer} {args.classifier} c={args.c} faces={args.faces} video={args.video} "
          f"({len(real)} genuine, {len(fake)} fake: {len(modern)} modern, {len(classic)} classic): "
          + ", ".join(cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
