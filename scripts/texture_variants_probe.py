"""Variants of the shipped texture head, each paired against it on the same videos (issue 20):
other crops and crops combined, other linear and non-linear classifiers, other inputs to
FaceNet (a high-pass residual of the face; the face mirrored, at training and test time) and
video-level heads. Exploratory, one seed; the layer probe's protocol
(``scripts/default_layer_probe.py``: for each genuine fold and each held-out fake source, a
fit on the rest, 12 faces per video and a degraded copy of each; the video's score is the mean
over its faces and over the fits that did not see it).

    python scripts/default_layer_probe.py runs/dd/faces_m0.0.h5 --features runs/dd/feats_m0.0.npz
    python scripts/default_layer_probe.py runs/dd/faces.h5 --features runs/dd/feats.npz   # margin 0.33
    python scripts/texture_variants_probe.py runs/dd/faces_m0.0.h5 --base runs/dd/feats_m0.0.npz \\
        --crop m0.33=runs/dd/feats.npz --crop m0.1=runs/dd/feats_m10.npz \\
        --work runs/variants --out runs/variants/variants.json

``--crop NAME=FILE``: the layer probe's features of the same faces cropped otherwise (same
frames; other margins are other ``tfdeepfake extract --margin`` caches). ``--region NAME``: a
square around the mouth or the eyes (``REGIONS``), cut at full resolution from the frames the
cached faces came from (or from the cached face), computed into ``--work`` (about 4 min each
when frames are read, 1 min otherwise; ``mouth-fixed``: the mouth's average square, the same
for every face); with ``--only-crops`` nothing else is run:

    python scripts/texture_variants_probe.py runs/dd/faces_m0.0.h5 --base runs/dd/feats_m0.0.npz \
        --region mouth --region eyes --only-crops --work runs/regions The residual and
mirrored features are computed from the base cache into ``--work`` (a minute each on 2 cores).

``--variant NAME`` runs only these face-level variants of the base features (seconds each),
nothing else: ``source-balanced`` (each fake source, and each genuine collection, weighs the
same within its class, where the base weighs every face the same), ``sqrt`` (the pooled
activations' square root, a power normalisation common for pooled CNN features) and
``test-degraded`` (a face's score at test is the mean over it and its degraded copy):

    python scripts/texture_variants_probe.py runs/dd/faces_m0.0.h5 --base runs/dd/feats_m0.0.npz \
        --work runs/variants --variant source-balanced --variant sqrt --variant test-degraded

Prints video AUC [95% CI] per family and the paired difference against the base (bootstrap
resampling videos once for both, as ``scripts/compare_studies.py`` does).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from compare_studies import paired_difference  # noqa: E402

LAYER = "Block17_10_Activation"
SIMPLE_VARIANTS = ("source-balanced", "sqrt", "test-degraded")
FACES_PER_VIDEO = 12
C = 0.01  # the layer probe's L2 strength 1/C


def transformed_features(cache: Path, out: Path, transform: str) -> None:
    """Pooled ``LAYER`` of each face after ``transform`` (and of its degraded copy, with the
    layer probe's degradations in the same order), as the layer probe stores them."""
    import cv2
    import tensorflow as tf

    from tfdeepfake.cache.faces import iter_face_videos
    from tfdeepfake.detectors.texture_head import texture_feature_model
    from tfdeepfake.experiments.default_texture import degrade
    from tfdeepfake.models.facenet import load_facenet

    def apply(face):
        face = face.astype(np.float32)
        if transform == "residual":  # what a blur takes away, amplified around mid-grey
            return np.clip((face - cv2.GaussianBlur(face, (0, 0), 1.5)) * 4 + 127.5, 0, 255)
        return face[:, ::-1]  # mirror

    model = texture_feature_model(load_facenet().model)
    infer = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
    rng = np.random.default_rng(0)
    ids, plain, degraded = [], [], []
    for video in iter_face_videos(cache):
        if not len(video.faces):
            continue
        faces = np.asarray(video.faces)
        worse = np.stack([degrade(f, rng) for f in faces])
        plain.append(infer(tf.constant(np.stack([apply(f) for f in faces]))).numpy().astype(np.float16))
        degraded.append(infer(tf.constant(np.stack([apply(f) for f in worse]))).numpy().astype(np.float16))
        ids += [video.video_id] * len(faces)
    np.savez(out, ids=np.asarray(ids), **{LAYER: np.concatenate(plain)},
             **{"deg_" + LAYER: np.concatenate(degraded)})


# Regions as squares around MTCNN's keypoints, in units of the eye-to-mouth distance ``d``:
# (centre: "eyes" or "mouth", downward shift of the centre in d, side in d, cut from the frame
# or from the cached 160 px face). A lip-sync edit is local to the mouth and generated talking
# heads are known to render teeth and eyes poorly; the whole-face crop spends most of FaceNet's
# 160 px on cheeks and forehead. ``mouth-wide`` and ``mouth-from-face`` tell whether a gain
# rests on the square's size or on the frame's full resolution; ``lower-face`` is one fixed
# square of the 160 px face (rows 80-160, columns 40-120: where the mouth square falls in a
# median margin-0 crop, mouth centre (81, 121), d 60 px), which a model could cut itself;
# ``face-2x``: the whole face enlarged twice, as four quadrants of 80 px each enlarged to 160,
# their pooled features averaged (is it the scale, wherever on the face?).
REGIONS = {"mouth": ("mouth", 0.1, 1.3, "frame"), "eyes": ("eyes", 0.0, 1.6, "frame"),
           "mouth-wide": ("mouth", 0.1, 1.8, "frame"), "mouth-from-face": ("mouth", 0.1, 1.3, "face"),
           "lower-face": (None, None, None, "fixed"), "face-2x": (None, None, None, "tiles"),
           "mouth-fixed": (None, None, None, "fixed-mouth")}
# Where the mouth's square (1.3 d, 0.1 d below the mouth) sits on average in the shared
# margin-0 crops, as (top, left, side) fractions: the same square for every face.
MOUTH_FIXED = (0.55, 0.26, 0.49)


def region_features(cache: Path, out: Path, region: str) -> None:
    """Pooled ``LAYER`` of a square around the mouth or the eyes of each cached face, cut from
    the video's frame at full resolution (the frames the cache's faces came from) or from the
    cached face (``REGIONS``), and of a degraded copy; stored as the layer probe stores them."""
    import cv2
    import tensorflow as tf

    from tfdeepfake.cache.faces import iter_face_videos
    from tfdeepfake.detectors.texture_head import texture_feature_model
    from tfdeepfake.experiments.default_texture import degrade
    from tfdeepfake.faces.crop import crop_face
    from tfdeepfake.detectors.face_caches import face_cache_settings
    from tfdeepfake.models.facenet import load_facenet
    from tfdeepfake.models.sbi_classifier import TEXTURE_REGIONS
    from tfdeepfake.synthetic.self_blend import keypoints_in_crops_of
    from tfdeepfake.video.reader import read_frames

    centre_of, shift, side, source = REGIONS[region]
    model = texture_feature_model(load_facenet().model)
    infer = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
    rng = np.random.default_rng(0)
    settings = face_cache_settings(cache)
    ids, plain, degraded = [], [], []
    for video in iter_face_videos(cache):
        if not len(video.faces):
            continue
        size = video.faces.shape[1]
        if source == "frame":
            frames, read = read_frames(Path(video.attrs["root"]) / video.attrs["path"],
                                       video.frame_indices)
            by_index = dict(zip(read.tolist(), frames))
            images = [by_index[i] for i in video.frame_indices.tolist()]
            keypoints = video.keypoints
        else:  # the cached crops
            images = list(video.faces)
            keypoints = keypoints_in_crops_of(video.keypoints, video.boxes, settings)
        if source == "tiles":
            plain.append(_tile_features(infer, images, size).astype(np.float16))
            worse = [degrade(np.asarray(face), rng) for face in images]
            degraded.append(_tile_features(infer, worse, size).astype(np.float16))
            ids += [video.video_id] * len(images)
            continue
        if source == "fixed":  # the model's lower-face square, enlarged bicubically here
            top, left, width = (round(f * size) for f in TEXTURE_REGIONS["lower-face"])
            crops = [cv2.resize(image[top:top + width, left:left + width], (size, size),
                                interpolation=cv2.INTER_CUBIC) for image in images]
        elif source == "fixed-mouth":  # border replicated below the crop, as crop_face does
            top, left, width = (f * size for f in MOUTH_FIXED)
            box = np.array([left, top, left + width, top + width])
            crops = [crop_face(np.asarray(image), box, size) for image in images]
        else:
            crops = []
            for image, points in zip(images, keypoints):
                eyes, mouth = points[:2].mean(0), points[3:].mean(0)
                d = float(np.linalg.norm(mouth - eyes))
                centre = (eyes if centre_of == "eyes" else mouth) + np.array([0.0, shift * d])
                box = np.concatenate([centre - side * d / 2, centre + side * d / 2])
                crops.append(crop_face(image, box, size))
        crops = np.stack(crops)
        worse = np.stack([degrade(c, rng) for c in crops])
        plain.append(infer(tf.constant(crops.astype(np.float32))).numpy().astype(np.float16))
        degraded.append(infer(tf.constant(worse.astype(np.float32))).numpy().astype(np.float16))
        ids += [video.video_id] * len(crops)
    np.savez(out, ids=np.asarray(ids), **{LAYER: np.concatenate(plain)},
             **{"deg_" + LAYER: np.concatenate(degraded)})


def _tile_features(infer, faces, size: int) -> np.ndarray:
    """The mean over a face's four quadrants, each enlarged to ``size``, of ``infer``'s features."""
    import cv2
    import tensorflow as tf

    half = size // 2
    tiles = np.stack([cv2.resize(np.asarray(face)[r:r + half, c:c + half], (size, size),
                                 interpolation=cv2.INTER_CUBIC)
                      for face in faces for r in (0, half) for c in (0, half)])
    features = infer(tf.constant(tiles.astype(np.float32))).numpy()
    return features.reshape(len(faces), 4, -1).mean(axis=1)


class Probe:
    def __init__(self, base: dict):
        from tfdeepfake.experiments.default_detector import folds_of_collections

        self.ids, self.labels = base["ids"], base["labels"]
        methods = base["methods"]
        self.videos = sorted(set(self.ids))
        self.label = {v: int(self.labels[self.ids == v][0]) for v in self.videos}
        self.method = {v: str(methods[self.ids == v][0]) for v in self.videos}
        reals = [v for v in self.videos if self.label[v] == 0]
        self.fold = folds_of_collections({v: self.method[v] for v in reals}, 3, 0)
        self.sources = sorted({self.method[v] for v in self.videos if self.label[v] == 1})
        self.keep = np.zeros(len(self.ids), bool)
        for v in self.videos:
            rows = np.flatnonzero(self.ids == v)
            picks = np.linspace(0, len(rows) - 1, FACES_PER_VIDEO).round().astype(int)
            self.keep[rows[np.unique(picks)]] = True

    def splits(self):
        for k in range(3):
            for g in self.sources:
                train = [v for v in self.videos if (self.label[v] == 0 and self.fold[v] != k)
                         or (self.label[v] == 1 and self.method[v] != g)]
                scored = [v for v in self.videos if (self.label[v] == 0 and self.fold[v] == k)
                          or (self.label[v] == 1 and self.method[v] == g)]
                yield train, scored

    def face_level(self, x, xd, classifier="logistic", mirror=None, balance_sources=False,
                   test_degraded=False):
        """Per-face fits; ``mirror``: (x, xd) of the mirrored faces, trained on and averaged;
        ``balance_sources``: each group (a fake source, a genuine collection) weighs the same
        within its class; ``test_degraded``: scored faces averaged with their degraded copies."""
        out = {v: [] for v in self.videos}
        for train, scored in self.splits():
            rows = self.keep & np.isin(self.ids, train)
            parts = [x[rows], xd[rows]] + ([mirror[0][rows], mirror[1][rows]] if mirror else [])
            labels = np.tile(self.labels[rows], len(parts))
            model = make_classifier(classifier)
            if balance_sources:
                groups = np.tile([self.method[v] for v in self.ids[rows]], len(parts))
                model.fit(np.concatenate(parts), labels,
                          logisticregression__sample_weight=group_balanced_weights(groups, labels))
            else:
                model.fit(np.concatenate(parts), labels)
            for v in scored:
                faces = [x[self.ids == v]] + ([mirror[0][self.ids == v]] if mirror else [])
                faces += [xd[self.ids == v]] if test_degraded else []
                out[v].append(float(np.mean([face_scores(model, f) for f in faces])))
        return {v: float(np.mean(s)) for v, s in out.items()}

    def video_level(self, x, mode):
        """One row per video: the mean of its L2-normalised face features, and for
        ``meandiff`` also their mean absolute change between successive sampled faces."""
        table = {}
        for v in self.videos:
            f = x[self.ids == v] / (np.linalg.norm(x[self.ids == v], axis=1, keepdims=True) + 1e-8)
            change = np.abs(np.diff(f, axis=0)).mean(0) if len(f) > 1 else np.zeros(f.shape[1])
            table[v] = np.concatenate([f.mean(0), change] if mode == "meandiff" else [f.mean(0)])
        out = {v: [] for v in self.videos}
        for train, scored in self.splits():
            model = make_classifier("logistic").fit(np.stack([table[v] for v in train]),
                                                    [self.label[v] for v in train])
            for v in scored:
                out[v].append(float(model.predict_proba(table[v][None])[0, 1]))
        return {v: float(np.mean(s)) for v, s in out.items()}


def group_balanced_weights(groups: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Sample weights under which each class weighs the same, and within a class each group."""
    weights = np.zeros(len(labels))
    for label in np.unique(labels):
        in_class = labels == label
        names = np.unique(groups[in_class])
        for name in names:
            rows = in_class & (groups == name)
            weights[rows] = 1.0 / (rows.sum() * len(names))
    return weights * len(labels) / weights.sum()


def make_classifier(kind: str):
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    logistic = LogisticRegression(C=C, max_iter=3000, class_weight="balanced")
    return make_pipeline(StandardScaler(), *{
        "logistic": [logistic],
        "logistic-c0.003": [LogisticRegression(C=0.003, max_iter=3000, class_weight="balanced")],
        "logistic-c0.03": [LogisticRegression(C=0.03, max_iter=3000, class_weight="balanced")],
        "pca64-logistic": [PCA(64, whiten=True, random_state=0),
                           LogisticRegression(C=0.1, max_iter=3000, class_weight="balanced")],
        "rbf-svm": [SVC(C=1.0, kernel="rbf", class_weight="balanced")],
        "mlp64": [MLPClassifier((64,), alpha=1.0, max_iter=200, random_state=0)],
    }[kind])


def face_scores(model, x):
    # An SVC without Platt scaling has no probabilities; its margin ranks faces the same way.
    if type(model[-1]).__name__ == "SVC":
        return model.decision_function(x)
    return model.predict_proba(x)[:, 1]


def _logit(p):
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def main(argv=None) -> int:
    from tfdeepfake.experiments.default_detector import auc_interval

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("cache", type=Path, help="the base face cache (for residual and mirrored faces)")
    p.add_argument("--base", type=Path, required=True, help="the layer probe's features of cache")
    p.add_argument("--crop", action="append", default=[], metavar="NAME=FILE")
    p.add_argument("--region", action="append", default=[], choices=sorted(REGIONS),
                   help="also a square around the mouth or the eyes, cut from the video's frames")
    p.add_argument("--only-crops", action="store_true",
                   help="only the crop and region variants (minutes instead of about 20)")
    p.add_argument("--variant", action="append", default=[], choices=SIMPLE_VARIANTS,
                   help="only these face-level variants of the base features (seconds each)")
    p.add_argument("--work", type=Path, required=True)
    p.add_argument("--out", type=Path, help="per-video scores of every variant (JSON)")
    p.add_argument("--bootstrap", type=int, default=1000)
    args = p.parse_args(argv)
    if args.variant and (args.crop or args.region):
        p.error("--variant runs alone, without --crop or --region")
    args.only_crops |= bool(args.variant)  # nothing computed into --work
    args.work.mkdir(parents=True, exist_ok=True)
    base = dict(np.load(args.base))
    features = {"base": (base[LAYER], base["deg_" + LAYER])}
    for spec in args.crop:
        name, _, path = spec.partition("=")
        other = np.load(path)
        if not np.array_equal(other["ids"], base["ids"]):
            raise SystemExit(f"{path}: not the same faces as {args.base}")
        features[name] = (other[LAYER], other["deg_" + LAYER])
    # Features computed here, into --work, once: (name, file, how to compute it).
    computed = [(region, args.work / f"region-{region}.npz", region_features) for region in args.region]
    computed += [(transform, args.work / f"{transform}.npz", transformed_features)
                 for transform in (() if args.only_crops else ("residual", "mirror"))]
    for name, path, compute in computed:
        if not path.exists():
            compute(args.cache, path, name)
        loaded = np.load(path)
        if not np.array_equal(loaded["ids"], base["ids"]):
            raise SystemExit(f"{path}: computed from other faces than {args.base}; delete it")
        features[name] = (loaded[LAYER], loaded["deg_" + LAYER])
    features = {k: (a.astype(np.float32), b.astype(np.float32)) for k, (a, b) in features.items()}
    probe = Probe(base)

    def joined(*names):
        return tuple(np.concatenate([features[n][i] for n in names], axis=1) for i in (0, 1))

    scores = {"base": probe.face_level(*features["base"])}
    if args.variant:
        x, xd = features["base"]
        chosen = {"source-balanced": lambda: probe.face_level(x, xd, balance_sources=True),
                  "sqrt": lambda: probe.face_level(np.sqrt(np.maximum(x, 0)), np.sqrt(np.maximum(xd, 0))),
                  "test-degraded": lambda: probe.face_level(x, xd, test_degraded=True)}
        scores.update({name: chosen[name]() for name in args.variant})
    for name in [n for n in features if n not in ("base", "residual", "mirror")]:
        scores[f"crop {name}"] = probe.face_level(*features[name])
        scores[f"crops base+{name} joined"] = probe.face_level(*joined("base", name))
        mean = {v: float(np.mean([_logit(scores["base"][v]), _logit(scores[f"crop {name}"][v])]))
                for v in probe.videos}
        scores[f"crops base, {name}: mean logit"] = mean
    if len(args.region) > 1:
        scores["crops base+" + "+".join(args.region) + " joined"] = probe.face_level(
            *joined("base", *args.region))
    for kind in () if args.only_crops else ("logistic-c0.003", "logistic-c0.03", "pca64-logistic",
                                             "rbf-svm", "mlp64"):
        scores[f"classifier {kind}"] = probe.face_level(*features["base"], classifier=kind)
    if not args.only_crops:
        scores["input residual"] = probe.face_level(*features["residual"])
        scores["inputs face+residual joined"] = probe.face_level(*joined("base", "residual"))
        scores["mirrored too (train and test)"] = probe.face_level(*features["base"],
                                                                   mirror=features["mirror"])
        for mode in ("mean", "meandiff"):
            scores[f"video-level {mode}"] = probe.video_level(features["base"][0], mode)
    if args.out:
        args.out.write_text(json.dumps(scores))

    reals = [v for v in probe.videos if probe.label[v] == 0]
    families = {"all": [v for v in probe.videos if probe.label[v] == 1]}
    families["modern"] = [v for v in families["all"] if probe.method[v].startswith("modern")]
    families["classic"] = [v for v in families["all"] if not probe.method[v].startswith("modern")]
    print(f"{len(reals)} genuine; fakes: " + ", ".join(f"{k} {len(v)}" for k, v in families.items()))
    print("| variant | " + " | ".join(families) + " |")
    print("|---|" + "---|" * len(families))
    for name, result in scores.items():
        cells = []
        for fakes in families.values():
            real_b, fake_b = (np.array([result[v] for v in vs]) for vs in (reals, fakes))
            auc = auc_interval(list(real_b), list(fake_b), n_boot=args.bootstrap)
            cell = f"{auc['auc']:.3f} [{auc['low']:.2f}, {auc['high']:.2f}]"
            if name != "base":
                real_a, fake_a = (np.array([scores["base"][v] for v in vs]) for vs in (reals, fakes))
                diff, low, high = paired_difference(real_a, fake_a, real_b, fake_b, args.bootstrap, 0)
                cell += f" ({diff:+.3f} [{low:+.3f}, {high:+.3f}])"
            cells.append(cell)
        print(f"| {name} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
