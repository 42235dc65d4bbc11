"""Does a face change more from one frame to the next in generated video than in camera
footage? FaceNet features of neighbouring frames, at fixed frame offsets (issue 20).
Exploratory, one seed.

    python scripts/temporal_jitter_probe.py extract runs/dd/all.jsonl runs/jitter/part0.npz --part 0 --parts 2 &
    python scripts/temporal_jitter_probe.py extract runs/dd/all.jsonl runs/jitter/part1.npz --part 1 --parts 2
    python scripts/temporal_jitter_probe.py evaluate runs/jitter/part0.npz runs/jitter/part1.npz \\
        --index runs/dd/all.jsonl --texture reports/default-texture-m0

Why fixed offsets: the face caches sample 25 frames spread over the whole video, so the change
between successive sampled faces grows with the clip's length, and here the fakes are longer
than the genuine clips (``evaluate`` prints how well the frame count alone separates them).

``extract``: per video, 12 anchor frames spread over the video and the frames 1, 2 and 4 after
each; MTCNN crops at margin 0 (the default model's); FaceNet 20170512-110547's pooled
``Block17_10`` (texture) and ``AvgPool`` (identity) features of each (about 3 min per half on
the 2 cores). ``evaluate``: per video and layer, the mean cosine distance between a face and
the face ``o`` frames later (``d1``, ``d2``, ``d4``), between anchors (``far``), their ratios
(``r1`` = d1 / far ...) and a flicker index (``|f(t) - 2 f(t+1) + f(t+2)| / |f(t+2) - f(t)|``:
large when the change is not smooth). The direction is fixed beforehand: more change, more
fake. Video AUC [95% CI] for modern generators and classic swaps; then each feature stacked
with the texture study's out-of-fold scores under its protocol (genuine folds x held-out fake
sources, logistic regression on the logit score and the log feature), paired against the
texture scores alone.
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

ANCHORS = 12
OFFSETS = (0, 1, 2, 4)
LAYERS = {"B17": "Block17_10_Activation", "AVG": "AvgPool"}


def extract(index: Path, out: Path, part: int, parts: int) -> None:
    import cv2
    import tensorflow as tf
    from tensorflow import keras

    from tfdeepfake.faces.detector import get_detector
    from tfdeepfake.faces.pipeline import faces_from_frames
    from tfdeepfake.faces.settings import FaceSettings
    from tfdeepfake.models.facenet import load_facenet
    from tfdeepfake.video.reader import VideoReadError, read_frames
    from tfdeepfake.video.sampling import sample_indices

    rows = [json.loads(line) for line in index.read_text().splitlines() if line.strip()][part::parts]
    settings = FaceSettings(margin=0.0)
    detector = get_detector(settings.detector)
    network = load_facenet().model
    backbone = network.get_layer("inception_resnet_v1")
    trunk = keras.Model(backbone.input, [backbone.get_layer(n).output for n in LAYERS.values()])
    faces_in = keras.Input((160, 160, 3))
    middle, identity = trunk(network.get_layer("facenet_standardize")(faces_in), training=False)
    model = keras.Model(faces_in, [keras.layers.GlobalAveragePooling2D()(middle), identity])
    infer = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
    ids, frames, feats = [], [], {k: [] for k in LAYERS}
    for number, row in enumerate(rows, 1):
        path = str(Path(row["root"]) / row["path"])
        capture = cv2.VideoCapture(path)
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        capture.release()
        anchors = sample_indices(max(count - max(OFFSETS), 1), ANCHORS)
        wanted = sorted({int(a + o) for a in anchors for o in OFFSETS})
        try:
            decoded, read = read_frames(path, wanted)
        except VideoReadError as error:
            print(f"skipped: {error}", file=sys.stderr)
            continue
        arrays = faces_from_frames(decoded, read, settings, detector)
        if not len(arrays["faces"]):
            print(f"skipped: {path}: no face", file=sys.stderr)
            continue
        for key, value in zip(LAYERS, infer(tf.constant(arrays["faces"].astype(np.float32)))):
            feats[key].append(value.numpy())
        ids += [row["video_id"]] * len(arrays["faces"])
        frames += arrays["frame_indices"].tolist()
        print(f"{number}/{len(rows)} {row['video_id']}", flush=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(out, ids=np.asarray(ids), frames=np.asarray(frames),
             **{k: np.concatenate(v) for k, v in feats.items()})


def video_statistics(features: np.ndarray, frames: np.ndarray) -> dict[str, float]:
    f = features / np.linalg.norm(features, axis=1, keepdims=True)
    at = {int(t): f[i] for i, t in enumerate(frames)}

    def mean(values):
        return float(np.mean(values)) if len(values) else float("nan")

    near = {o: mean([1 - at[t] @ at[t + o] for t in at if t + o in at]) for o in OFFSETS[1:]}
    anchors = sorted(t for t in at if t + OFFSETS[-1] in at)
    far = mean([1 - at[a] @ at[b] for i, a in enumerate(anchors) for b in anchors[i + 1:]])
    flicker = mean([np.linalg.norm(at[t] - 2 * at[t + 1] + at[t + 2])
                    / (np.linalg.norm(at[t + 2] - at[t]) + 1e-3)
                    for t in at if t + 1 in at and t + 2 in at])
    stats = {f"d{o}": near[o] for o in near} | {"far": far, "flicker": flicker}
    stats |= {f"r{o}": near[o] / (far + 1e-6) for o in near}
    return stats


def evaluate(parts: list[Path], index: Path, texture: Path | None, bootstrap: int) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from tfdeepfake.experiments.default_detector import auc_interval, folds_of_collections

    loaded = [np.load(p) for p in parts]
    ids = np.concatenate([d["ids"] for d in loaded])
    frames = np.concatenate([d["frames"] for d in loaded])
    feats = {k: np.concatenate([d[k] for d in loaded]).astype(np.float64) for k in LAYERS}
    meta = {r["video_id"]: r for r in map(json.loads, index.read_text().splitlines()) if r}
    videos = sorted(set(ids))
    label = {v: int(meta[v]["label"]) for v in videos}
    method = {v: str(meta[v]["method"]) for v in videos}
    stats = {(k, v): video_statistics(feats[k][ids == v], frames[ids == v])
             for k in LAYERS for v in videos}
    reals = [v for v in videos if label[v] == 0]
    families = {"modern": [v for v in videos if label[v] and method[v].startswith("modern")],
                "classic": [v for v in videos if label[v] and not method[v].startswith("modern")]}
    print(f"{len(reals)} genuine, " + ", ".join(f"{len(f)} {n}" for n, f in families.items()))

    def row(name, value):
        cells = []
        for family, fakes in families.items():
            real = [value(v) for v in reals]
            fake = [value(v) for v in fakes]
            fill = float(np.nanmedian(real))  # a video with no usable pair: the genuine median
            r = auc_interval(list(np.nan_to_num(real, nan=fill)), list(np.nan_to_num(fake, nan=fill)),
                             n_boot=bootstrap)
            cells.append(f"{family} {r['auc']:.3f} [{r['low']:.2f}, {r['high']:.2f}]")
        print(f"| {name} | " + " | ".join(cells) + " |")

    last = {v: float(frames[ids == v].max()) for v in videos}
    print("median last frame read (the clip's length): genuine "
          f"{np.median([last[v] for v in reals]):.0f}, "
          + ", ".join(f"{n} {np.median([last[v] for v in f]):.0f}" for n, f in families.items()))
    print("| feature (more = fake) | modern | classic |\n|---|---|---|")
    row("last frame read (the clip's length: the confound)", last.get)
    for key in LAYERS:
        for stat in stats[(key, videos[0])]:
            row(f"{LAYERS[key]} {stat}", lambda v, k=key, s=stat: stats[(k, v)][s])
    if texture is None:
        return
    result = json.loads((texture / "texture.json").read_text())["combinations"]["texture"]["0.0"]
    tex = {**result["real_scores"], **result["fake_scores"]}
    scored = [v for v in videos if v in tex]
    fold = folds_of_collections({v: method[v] for v in scored if label[v] == 0}, 3, 0)
    sources = sorted({method[v] for v in scored if label[v] == 1})
    print("\n| texture scores stacked with | all | modern | classic |\n|---|---|---|---|")
    for key, stat in (("AVG", "r1"), ("AVG", "d4"), ("AVG", "far"), ("AVG", "flicker"), ("B17", "r1")):
        values = {v: stats[(key, v)][stat] for v in scored}
        fill = float(np.nanmedian(list(values.values())))
        table = {v: [np.log(tex[v] / (1 - tex[v])),
                     np.log((values[v] if np.isfinite(values[v]) else fill) + 1e-4)] for v in scored}
        out = {v: [] for v in scored}
        for k in range(3):
            for g in sources:
                train = [v for v in scored if (label[v] == 0 and fold[v] != k) or (label[v] == 1 and method[v] != g)]
                test = [v for v in scored if (label[v] == 0 and fold[v] == k) or (label[v] == 1 and method[v] == g)]
                model = make_pipeline(StandardScaler(), LogisticRegression(class_weight="balanced"))
                model.fit([table[v] for v in train], [label[v] for v in train])
                for v in test:
                    out[v].append(model.predict_proba([table[v]])[0, 1])
        cells = []
        for fakes in [families["modern"] + families["classic"], *families.values()]:
            fakes = [v for v in fakes if v in tex]
            a = [np.array([tex[v] for v in vs]) for vs in (reals, fakes)]
            b = [np.array([np.mean(out[v]) for v in vs]) for vs in (reals, fakes)]
            diff, low, high = paired_difference(a[0], a[1], b[0], b[1], bootstrap, 0)
            r = auc_interval(list(b[0]), list(b[1]), n_boot=bootstrap)
            cells.append(f"{r['auc']:.3f} ({diff:+.3f} [{low:+.3f}, {high:+.3f}])")
        print(f"| {LAYERS[key]} {stat} | " + " | ".join(cells) + " |")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    e = sub.add_parser("extract")
    e.add_argument("index", type=Path, help="a video index (tfdeepfake index ... -o FILE.jsonl)")
    e.add_argument("out", type=Path)
    e.add_argument("--part", type=int, default=0)
    e.add_argument("--parts", type=int, default=1)
    v = sub.add_parser("evaluate")
    v.add_argument("parts", type=Path, nargs="+")
    v.add_argument("--index", type=Path, required=True)
    v.add_argument("--texture", type=Path, help="a default_texture --out folder to stack with")
    v.add_argument("--bootstrap", type=int, default=1000)
    args = p.parse_args(argv)
    if args.command == "extract":
        extract(args.index, args.out, args.part, args.parts)
    else:
        evaluate(args.parts, args.index, args.texture, args.bootstrap)
    return 0


if __name__ == "__main__":
    sys.exit(main())
