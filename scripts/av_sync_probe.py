"""Do lips and voice move together less (or more) in generated video? An audio-visual probe
under the default-model studies' protocol (docs/results.md, "The default model").
Exploratory: one fit per fold pair, bootstrap intervals over videos.

    python scripts/av_sync_probe.py runs/dd/all.jsonl --landmarks runs/lm/landmarks.npz \\
        --texture reports/default-texture-m0/texture.json

Reads the face-mesh tracks of ``landmark_dynamics_probe.py extract`` (up to 96 consecutive
frames from each video's start) and the same seconds of the video's own sound track (PyAV;
videos without sound are left out and counted). Per video frame: the inner-lip opening
(mesh points 13 and 14, in units of the eye distance) and the log energy of the
pre-emphasised sound over a 40 ms window at the frame's time. Their normalised
cross-correlation at lags of -10 to +10 frames gives four features: the correlation at lag
0, the best over the lags, the lag of the best (seconds; positive when the sound comes
later) and how much the best stands out from the far lags (5-10 frames). Audio-driven
generators draw the mouth from the sound, lip-sync ones repaint it; a genuine speaker's lips
and voice share one cause. The direction is not fixed beforehand, so each feature's AUC is
printed both as is and flipped is 1 minus it; the logistic regression per held-out source
(genuine folds of collections, as ``default_detector``) learns it on the training side only.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

LAGS = 10
WINDOW_S = 0.04
NAMES = ("r0", "rbest", "lag_s", "peak")


def sound_track(path: Path, seconds: float) -> tuple[np.ndarray, int, float] | None:
    """Mono float samples of about the first ``seconds`` of the video, their rate, and the
    sound's start time relative to the video's."""
    import av

    def start(stream):
        return float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0

    with av.open(str(path)) as container:
        if not container.streams.audio or not container.streams.video:
            return None
        audio, video = container.streams.audio[0], container.streams.video[0]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=16000)
        chunks = []
        for frame in container.decode(audio):
            for out in resampler.resample(frame):
                chunks.append(out.to_ndarray().reshape(-1))
            if frame.time is not None and frame.time - start(video) > seconds:
                break  # the tracks cover the first seconds only
        if not chunks:
            return None
        return np.concatenate(chunks).astype(np.float64), 16000, start(audio) - start(video)


def sync_features(track: np.ndarray, fps: float, sound: tuple[np.ndarray, int, float]) -> np.ndarray | None:
    found = ~np.isnan(track[:, 0, 0].astype(np.float32))
    if found.sum() < 30:
        return None
    frames = np.arange(len(track))
    mouth = track[:, 14, 1].astype(np.float64) - track[:, 13, 1].astype(np.float64)
    mouth = np.interp(frames, frames[found], mouth[found])
    samples, rate, offset = sound
    emphasised = np.append(samples[0], samples[1:] - 0.97 * samples[:-1])
    half = int(WINDOW_S * rate / 2)
    energy = []
    for i in frames:
        centre = int(round((i / fps - offset) * rate))
        window = emphasised[max(0, centre - half):max(0, centre + half)]
        energy.append(np.log(np.mean(window ** 2) + 1e-8) if len(window) >= half else np.nan)
    energy = np.asarray(energy)
    ok = ~np.isnan(energy)
    if ok.sum() < 30 or np.std(energy[ok]) < 1e-6 or np.std(mouth) < 1e-6:
        return None
    m, e = mouth[ok], energy[ok]
    m, e = (m - m.mean()) / m.std(), (e - e.mean()) / e.std()

    def corr(lag):  # the sound ``lag`` frames after the mouth
        a, b = (m[:len(m) - lag], e[lag:]) if lag >= 0 else (m[-lag:], e[:len(e) + lag])
        return float(np.corrcoef(a, b)[0, 1]) if len(a) > 10 and a.std() > 0 and b.std() > 0 else 0.0

    r = np.array([corr(lag) for lag in range(-LAGS, LAGS + 1)])
    best = int(np.argmax(r))
    far = np.abs(np.arange(-LAGS, LAGS + 1)) >= 5
    return np.array([r[LAGS], r[best], (best - LAGS) / fps, r[best] - np.median(r[far])])


def main(argv=None) -> int:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from tfdeepfake.experiments.default_detector import auc_interval, folds_of_collections

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("manifest", type=Path)
    p.add_argument("--landmarks", type=Path, required=True)
    p.add_argument("--texture", type=Path, help="default_texture's texture.json")
    p.add_argument("--c", type=float, default=1.0)
    args = p.parse_args(argv)

    rows = {r["video_id"]: r for r in map(json.loads, args.manifest.read_text().splitlines())}
    stored = np.load(args.landmarks)
    table, silent, unusable = {}, 0, 0
    for k, v in enumerate(stored["ids"]):
        if v not in rows:
            continue
        track, fps = stored[f"landmarks_{k}"], float(stored["fps"][k])
        sound = sound_track(Path(rows[v]["root"]) / rows[v]["path"], len(track) / fps + 1.0)
        if sound is None:
            silent += 1
            continue
        f = sync_features(track, fps, sound)
        if f is None:
            unusable += 1
        else:
            table[v] = f
    videos = sorted(table)
    label = {v: int(rows[v]["label"]) for v in videos}
    method = {v: str(rows[v]["method"]) for v in videos}
    reals = [v for v in videos if label[v] == 0]
    fakes = [v for v in videos if label[v] == 1]
    print(f"{len(videos)} videos ({len(reals)} genuine, {len(fakes)} fake); {silent} without "
          f"sound, {unusable} with too few frames of face or sound")

    def report(name, score):
        parts = {"all": fakes, "modern": [v for v in fakes if method[v].startswith("modern")],
                 "classic": [v for v in fakes if not method[v].startswith("modern")]}
        cells = []
        for part, members in parts.items():
            if members:
                r = auc_interval([score[v] for v in reals], [score[v] for v in members])
                cells.append(f"{part} {r['auc']:.3f} [{r['low']:.2f}, {r['high']:.2f}] ({len(members)})")
        print(f"{name}: " + ", ".join(cells))

    for i, name in enumerate(NAMES):
        print(f"  {name}: median genuine {np.median([table[v][i] for v in reals]):.3f}, "
              f"fake {np.median([table[v][i] for v in fakes]):.3f}")
        report(f"{name} (higher = fake)", {v: table[v][i] for v in videos})
    fold = folds_of_collections({v: method[v] for v in reals}, 3, 0)
    scores: dict[str, list[float]] = {v: [] for v in videos}
    for k in range(3):
        for g in sorted({method[v] for v in fakes}):
            chosen = [v for v in videos if (label[v] == 0 and fold[v] != k) or (label[v] == 1 and method[v] != g)]
            scored = [v for v in videos if (label[v] == 0 and fold[v] == k) or (label[v] == 1 and method[v] == g)]
            model = make_pipeline(StandardScaler(),
                                  LogisticRegression(C=args.c, class_weight="balanced", max_iter=5000))
            model.fit(np.stack([table[v] for v in chosen]), [label[v] for v in chosen])
            for v in scored:
                scores[v].append(float(model.decision_function(table[v][None])[0]))
    sync = {v: float(np.mean(s)) for v, s in scores.items()}
    report(f"sync features, logistic regression per held-out source (C={args.c})", sync)
    if args.texture:
        from landmark_dynamics_probe import report_with_texture  # this folder, beside it

        report_with_texture(report, args.texture, sync, reals, "sync")
    return 0


if __name__ == "__main__":
    sys.exit(main())
