"""Do the dynamics of dense face landmarks tell generated video from genuine? A probe under the
default-model studies' protocol (docs/results.md, "The default model"). Exploratory: point
estimates of one fit per fold pair, bootstrap intervals over videos.

Two steps, because mediapipe (face mesh, 478 points) does not install beside this project's
TensorFlow 2.15 with the same numpy and OpenCV wheels:

    python3.11 -m venv /tmp/mpenv && /tmp/mpenv/bin/pip install mediapipe==0.10.14
    /tmp/mpenv/bin/python scripts/landmark_dynamics_probe.py extract runs/dd/all.jsonl \\
        -o runs/lm/landmarks.npz                                  # about 4 min, 171 videos
    python scripts/landmark_dynamics_probe.py evaluate runs/dd/all.jsonl \\
        --landmarks runs/lm/landmarks.npz --texture reports/default-texture/texture.json

``extract``: up to 96 consecutive frames from the start of each video of a manifest
(``tfdeepfake index``), the face mesh of the first face, each frame aligned to the eyes
(rotation, scale = the distance between the eye centres, origin their midpoint).
``evaluate``: 27 video features (spread, speed and frame-to-frame jitter of mouth opening,
mouth width, chin and eye opening; how mouth and jaw move together; jitter of lips, upper face
and jaw and their ratios; head roll, scale and movement; depth jitter of the lips against
the upper face); for each genuine fold k (collections, as ``default_detector``) and each fake
source g, a logistic regression on the videos outside both scores those of k and g. With
``--texture`` (``default_texture``'s ``texture.json``: the shipped recipe's video scores under
the same protocol), also the sum of both scores standardised on the genuine videos, weights
1:1 (not tuned).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

FRAMES = 96
LEFT_EYE, RIGHT_EYE = [33, 133], [362, 263]
LIPS = [0, 13, 14, 17, 37, 39, 40, 61, 78, 81, 82, 84, 87, 88, 91, 95, 146, 178, 181, 185,
        191, 267, 269, 270, 291, 308, 311, 312, 314, 317, 318, 321, 324, 375, 402, 405, 409, 415]
UPPER_FACE = [33, 133, 159, 145, 362, 263, 386, 374, 70, 63, 105, 66, 107, 336, 296, 334, 293,
              300, 1, 4, 6, 168]
JAW = [152, 148, 176, 149, 150, 136, 172, 58, 377, 400, 378, 379, 365, 397, 288]


def extract(manifest: Path, out: Path) -> None:
    import cv2
    import mediapipe as mp

    rows = [json.loads(line) for line in manifest.read_text().splitlines() if line.strip()]
    tracks, poses, fps = {}, {}, {}
    for i, row in enumerate(rows):
        capture = cv2.VideoCapture(str(Path(row["root"]) / row["path"]))
        fps[row["video_id"]] = capture.get(cv2.CAP_PROP_FPS) or 25.0
        mesh = mp.solutions.face_mesh.FaceMesh(static_image_mode=False, max_num_faces=1,
                                               refine_landmarks=True)
        aligned, pose = [], []
        while len(aligned) < FRAMES:
            ok, frame = capture.read()
            if not ok:
                break
            h, w = frame.shape[:2]
            found = mesh.process(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)).multi_face_landmarks
            if not found:  # kept as a gap, so speeds are measured between neighbours only
                aligned.append(np.full((478, 3), np.nan, np.float32))
                pose.append(np.full(4, np.nan, np.float32))
                continue
            p = np.array([[m.x * w, m.y * h, m.z * w] for m in found[0].landmark], np.float32)
            left, right = p[LEFT_EYE, :2].mean(0), p[RIGHT_EYE, :2].mean(0)
            centre, span = (left + right) / 2, right - left
            scale, angle = float(np.linalg.norm(span)), float(np.arctan2(span[1], span[0]))
            rotate = np.array([[np.cos(angle), np.sin(angle)], [-np.sin(angle), np.cos(angle)]], np.float32)
            q = p.copy()
            q[:, :2] = (p[:, :2] - centre) @ rotate.T / scale
            q[:, 2] = p[:, 2] / scale
            aligned.append(q)
            pose.append(np.array([centre[0] / scale, centre[1] / scale, scale / max(h, w), angle], np.float32))
        mesh.close()
        tracks[row["video_id"]] = np.stack(aligned) if aligned else np.zeros((0, 478, 3), np.float32)
        poses[row["video_id"]] = np.stack(pose) if pose else np.zeros((0, 4), np.float32)
        print(f"{i + 1}/{len(rows)} {row['video_id']}: {len(aligned)} frames", flush=True)
    ids = sorted(tracks)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, ids=np.array(ids), fps=np.array([fps[v] for v in ids]),
                        **{f"landmarks_{k}": tracks[v].astype(np.float16) for k, v in enumerate(ids)},
                        **{f"pose_{k}": poses[v] for k, v in enumerate(ids)})


def _smooth(series: np.ndarray, width: int = 5) -> np.ndarray:
    padded = np.pad(series, [(width // 2, width // 2)] + [(0, 0)] * (series.ndim - 1), mode="edge")
    return np.mean([padded[i:i + len(series)] for i in range(width)], axis=0)


def _series(s: np.ndarray, fps: float) -> list[float]:
    """Spread, speed (per second) and jitter (distance from a 5-frame moving average), logged."""
    return [np.log(np.std(s) + 1e-4), np.log(np.mean(np.abs(np.diff(s))) * fps + 1e-4),
            np.log(np.mean(np.abs(s - _smooth(s))) + 1e-5)]


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a, b)[0, 1]) if np.std(a) > 1e-8 and np.std(b) > 1e-8 else 0.0


def video_features(track: np.ndarray, pose: np.ndarray, fps: float) -> np.ndarray | None:
    found = ~np.isnan(track[:, 0, 0])
    if found.sum() < 10:
        return None
    a, pose = track[found].astype(np.float64), pose[found].astype(np.float64)
    mouth = a[:, 14, 1] - a[:, 13, 1]
    width = np.linalg.norm(a[:, 61, :2] - a[:, 291, :2], axis=1)
    chin = a[:, 152, 1]
    eyes = ((a[:, 145, 1] - a[:, 159, 1]) + (a[:, 374, 1] - a[:, 386, 1])) / 2
    out: list[float] = []
    for s in (mouth, width, chin, eyes):
        out += _series(s, fps)
    out += [_corr(mouth, chin), _corr(np.diff(mouth), np.diff(chin))]

    def jitter(points, axis_slice=slice(0, 2)):
        x = a[:, points, axis_slice]
        return float(np.mean(np.linalg.norm(x - _smooth(x), axis=-1))) + 1e-6

    lips, upper, jaw = jitter(LIPS), jitter(UPPER_FACE), jitter(JAW)
    out += [np.log(lips), np.log(upper), np.log(jaw), np.log(lips / upper), np.log(jaw / upper)]
    out += [np.log(np.std(pose[:, 3]) + 1e-5), np.log(np.std(np.log(pose[:, 2])) + 1e-5),
            np.log(np.mean(np.linalg.norm(np.diff(pose[:, :2], axis=0), axis=1)) * fps + 1e-5)]
    out += [np.log(jitter(LIPS, slice(2, 3)) / jitter(UPPER_FACE, slice(2, 3))), found.mean()]
    features = np.array(out)
    return features if np.all(np.isfinite(features)) else None


def evaluate(manifest: Path, landmarks: Path, texture: Path | None, c: float) -> None:
    stored = np.load(landmarks)
    table = {}
    for k, v in enumerate(stored["ids"]):
        f = video_features(stored[f"landmarks_{k}"], stored[f"pose_{k}"], float(stored["fps"][k]))
        if f is not None:
            table[str(v)] = f
    leave_one_source_out(manifest, table, texture, c, "landmark dynamics")


def leave_one_source_out(manifest: Path, table: dict[str, np.ndarray], texture: Path | None,
                         c: float, name: str, single: dict[str, float] | None = None) -> None:
    """Video features ``table`` under the studies' protocol: for each genuine fold k and fake
    source g, a logistic regression fitted outside both scores k and g. ``single`` (feature
    name -> sign, in table order) also reports each feature alone, oriented beforehand."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from tfdeepfake.experiments.default_detector import auc_interval, folds_of_collections

    rows = {r["video_id"]: r for r in map(json.loads, manifest.read_text().splitlines())}
    table = {v: f for v, f in table.items() if v in rows}
    videos = sorted(table)
    label = {v: int(rows[v]["label"]) for v in videos}
    method = {v: str(rows[v]["method"]) for v in videos}
    reals = [v for v in videos if label[v] == 0]
    fold = folds_of_collections({v: method[v] for v in reals}, 3, 0)
    sources = sorted({method[v] for v in videos if label[v] == 1})
    scores: dict[str, list[float]] = {v: [] for v in videos}
    for k in range(3):
        for g in sources:
            chosen = [v for v in videos if (label[v] == 0 and fold[v] != k) or (label[v] == 1 and method[v] != g)]
            scored = [v for v in videos if (label[v] == 0 and fold[v] == k) or (label[v] == 1 and method[v] == g)]
            model = make_pipeline(StandardScaler(),
                                  LogisticRegression(C=c, class_weight="balanced", max_iter=5000))
            model.fit(np.stack([table[v] for v in chosen]), [label[v] for v in chosen])
            for v in scored:
                scores[v].append(float(model.decision_function(table[v][None])[0]))
    learned = {v: float(np.mean(s)) for v, s in scores.items()}
    print(f"{len(videos)} of {len(rows)} videos with features "
          f"({len(reals)} genuine, {len(videos) - len(reals)} fake)")

    def report(title: str, score: dict[str, float]) -> None:
        real = [score[v] for v in reals]
        fakes = [v for v in videos if label[v] == 1]
        parts = {"all": fakes, "modern": [v for v in fakes if method[v].startswith("modern")],
                 "classic": [v for v in fakes if not method[v].startswith("modern")]}
        cells = []
        for part, members in parts.items():
            r = auc_interval(real, [score[v] for v in members])
            cells.append(f"{part} {r['auc']:.3f} [{r['low']:.2f}, {r['high']:.2f}] ({len(members)})")
        print(f"{title}: " + ", ".join(cells))

    for k, (feature, sign) in enumerate((single or {}).items()):
        report(f"{feature} alone", {v: sign * float(table[v][k]) for v in videos})
    report(f"{name} (C={c})", learned)
    if texture:
        report_with_texture(report, texture, learned, reals, name)


def report_with_texture(report, texture: Path, score: dict[str, float], reals: list[str],
                        name: str) -> None:
    """Report the shipped recipe's out-of-fold video scores (``default_texture``'s
    ``texture.json``) on the videos of ``score``, and both scores standardised on the genuine
    videos and added 1:1 (not tuned)."""
    shipped = json.loads(texture.read_text())["combinations"]["texture"]["0.0"]
    given = {**shipped["real_scores"], **shipped["fake_scores"]}
    logit = {v: float(np.log(given[v] / (1 - given[v]))) for v in score}
    report("texture scores, same videos", logit)

    def standardised(values):
        ref = np.array([values[v] for v in reals])
        return {v: (values[v] - ref.mean()) / ref.std() for v in score}

    a, b = standardised(logit), standardised(score)
    report(f"texture + {name} (1:1)", {v: a[v] + b[v] for v in score})


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="step", required=True)
    e = sub.add_parser("extract", help="face mesh tracks (needs mediapipe)")
    e.add_argument("manifest", type=Path)
    e.add_argument("-o", "--out", type=Path, required=True)
    v = sub.add_parser("evaluate", help="leave-one-source-out on the tracks")
    v.add_argument("manifest", type=Path)
    v.add_argument("--landmarks", type=Path, required=True)
    v.add_argument("--texture", type=Path, help="default_texture's texture.json")
    v.add_argument("--c", type=float, default=1.0)
    args = p.parse_args(argv)
    if args.step == "extract":
        extract(args.manifest, args.out)
    else:
        evaluate(args.manifest, args.landmarks, args.texture, args.c)
    return 0


if __name__ == "__main__":
    sys.exit(main())
