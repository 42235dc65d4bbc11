"""Does the skin's pulse tell generated video from genuine? A probe of remote
photoplethysmography (rPPG) under the default-model studies' protocol (docs/results.md, "The
default model"). Exploratory: one fit per fold pair, bootstrap intervals over videos.

A camera sees the blood pulse as a faint, periodic change of skin colour (0.7-4 Hz), the same
beat in the forehead, both cheeks and the chin. A generated face need not carry one, and a
lip-sync edit regenerates the lower face, which then need not beat with the upper face
(FakeCatcher, Ciftci et al. 2020, uses this spatial coherence). Nothing here comes from
FaceNet, so it could add to the texture head what that head cannot see.

Two steps, because mediapipe (face mesh) does not install beside this project's TensorFlow:

    /tmp/mpenv/bin/python scripts/rppg_probe.py extract runs/dd/all.jsonl -o runs/rppg/part0.npz \\
        --part 0/2   # and --part 1/2 beside it; about 2 min each on one core
    python scripts/rppg_probe.py evaluate runs/dd/all.jsonl --signals runs/rppg/part0.npz \\
        --signals runs/rppg/part1.npz --texture reports/default-texture-m0/texture.json

``extract``: the first ``SECONDS`` of each video, the face mesh in every frame, and the mean
RGB of five skin regions (convex hulls of mesh points: forehead, left and right cheek, chin,
nose), NaN where no face was found. ``evaluate``: per 3-second window (all full windows of the
first 6 s, so a longer clip gets at most two more), the CHROM pulse signal of each region
(de Haan and Jeanne 2013), band-passed to 0.7-4 Hz; features: each region's pulse
signal-to-noise ratio (power at the spectral peak and its harmonic against the rest of the
band), the correlation of the pulse signals of region pairs (best over lags of up to 0.1 s),
and how far apart their peak frequencies lie; averaged over windows. The direction was fixed
before measuring: a stronger and more coherent pulse means genuine. Videos shorter than one
window are left out and counted.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

SECONDS = 6.0
WINDOW = 3.0
BAND = (0.7, 4.0)
# mediapipe face-mesh points whose convex hull is each region (skin only: no eyes, brows, lips)
REGIONS = {
    "forehead": [10, 338, 297, 332, 109, 67, 103, 66, 107, 9, 336, 296, 105, 334],
    "left_cheek": [117, 118, 101, 36, 205, 187, 123, 50],
    "right_cheek": [346, 347, 330, 266, 425, 411, 352, 280],
    "chin": [18, 200, 199, 175, 152, 148, 176, 377, 400, 83, 313, 201, 421],
    "nose": [6, 197, 195, 5, 51, 281, 45, 275],
}
PAIRS = [("forehead", "left_cheek"), ("forehead", "right_cheek"), ("left_cheek", "right_cheek"),
         ("forehead", "chin"), ("left_cheek", "chin"), ("right_cheek", "chin"), ("forehead", "nose")]


def region_means(frame_rgb: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Mean RGB inside each region's hull, [len(REGIONS), 3]."""
    import cv2

    h, w = frame_rgb.shape[:2]
    out = np.full((len(REGIONS), 3), np.nan, np.float32)
    for k, members in enumerate(REGIONS.values()):
        hull = cv2.convexHull(points[members].round().astype(np.int32))
        x, y, bw, bh = cv2.boundingRect(hull)
        x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + bw, w), min(y + bh, h)
        if x1 - x0 < 2 or y1 - y0 < 2:
            continue
        mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
        cv2.fillConvexPoly(mask, hull - [x0, y0], 1)
        if mask.sum() >= 4:
            out[k] = frame_rgb[y0:y1, x0:x1][mask.astype(bool)].mean(0)
    return out


def extract(manifest: Path, out: Path, part: int, parts: int) -> None:
    import cv2
    import mediapipe as mp

    rows = [json.loads(line) for line in manifest.read_text().splitlines() if line.strip()][part::parts]
    signals, fps = {}, {}
    for i, row in enumerate(rows):
        capture = cv2.VideoCapture(str(Path(row["root"]) / row["path"]))
        rate = capture.get(cv2.CAP_PROP_FPS) or 25.0
        mesh = mp.solutions.face_mesh.FaceMesh(static_image_mode=False, max_num_faces=1)
        means = []
        while len(means) < int(round(SECONDS * rate)):
            ok, frame = capture.read()
            if not ok:
                break
            rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            found = mesh.process(rgb).multi_face_landmarks
            if not found:
                means.append(np.full((len(REGIONS), 3), np.nan, np.float32))
                continue
            h, w = rgb.shape[:2]
            points = np.array([[m.x * w, m.y * h] for m in found[0].landmark], np.float32)
            means.append(region_means(rgb, points))
        mesh.close()
        signals[row["video_id"]] = np.stack(means) if means else np.zeros((0, len(REGIONS), 3), np.float32)
        fps[row["video_id"]] = rate
        print(f"{i + 1}/{len(rows)} {row['video_id']}: {len(means)} frames", flush=True)
    ids = sorted(signals)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, ids=np.array(ids), fps=np.array([fps[v] for v in ids]),
                        **{f"rgb_{k}": signals[v] for k, v in enumerate(ids)})


def _bandpass(x: np.ndarray, fps: float) -> np.ndarray:
    """Zero-phase band-pass by FFT masking of a detrended, tapered series."""
    n = len(x)
    x = x - np.polyval(np.polyfit(np.arange(n), x, 1), np.arange(n))
    spectrum = np.fft.rfft(x * np.hanning(n))
    freqs = np.fft.rfftfreq(n, 1.0 / fps)
    spectrum[(freqs < BAND[0]) | (freqs > BAND[1])] = 0
    return np.fft.irfft(spectrum, n)


def chrom_pulse(rgb: np.ndarray, fps: float) -> np.ndarray:
    """CHROM: chrominance signals that cancel specular change, combined to the pulse."""
    normalised = rgb / (rgb.mean(0) + 1e-6)
    x = 3 * normalised[:, 0] - 2 * normalised[:, 1]
    y = 1.5 * normalised[:, 0] + normalised[:, 1] - 1.5 * normalised[:, 2]
    x, y = _bandpass(x, fps), _bandpass(y, fps)
    return x - (x.std() / (y.std() + 1e-9)) * y


def _peak_and_snr(pulse: np.ndarray, fps: float) -> tuple[float, float]:
    n = max(len(pulse), int(fps * 20))  # zero-padded for a finer frequency grid
    power = np.abs(np.fft.rfft(pulse, n)) ** 2
    freqs = np.fft.rfftfreq(n, 1.0 / fps)
    band = (freqs >= BAND[0]) & (freqs <= BAND[1])
    peak = freqs[band][np.argmax(power[band])]
    near = (np.abs(freqs - peak) < 0.15) | (np.abs(freqs - 2 * peak) < 0.15)
    signal, noise = power[band & near].sum(), power[band & ~near].sum()
    return float(peak), float(np.log((signal + 1e-12) / (noise + 1e-12)))


def _best_correlation(a: np.ndarray, b: np.ndarray, max_lag: int) -> float:
    best = -1.0
    for lag in range(-max_lag, max_lag + 1):
        x, y = (a[lag:], b[:len(b) - lag]) if lag >= 0 else (a[:lag], b[-lag:])
        if x.std() > 1e-9 and y.std() > 1e-9:
            best = max(best, float(np.corrcoef(x, y)[0, 1]))
    return best


FEATURES = ([f"snr_{r}" for r in REGIONS] + [f"corr_{a}_{b}" for a, b in PAIRS]
            + [f"peak_gap_{a}_{b}" for a, b in PAIRS])


def window_features(rgb: np.ndarray, fps: float) -> np.ndarray | None:
    """Features of one window of region means [T, regions, 3]; None if a region is missing."""
    if np.isnan(rgb).mean() > 0.1:
        return None
    filled = rgb.copy()
    for r in range(rgb.shape[1]):  # short gaps in the mesh: linear interpolation
        for c in range(3):
            s = filled[:, r, c]
            bad = np.isnan(s)
            if bad.any():
                s[bad] = np.interp(np.flatnonzero(bad), np.flatnonzero(~bad), s[~bad])
    pulses = {name: chrom_pulse(filled[:, k].astype(np.float64), fps) for k, name in enumerate(REGIONS)}
    peaks, snrs = {}, []
    for name, pulse in pulses.items():
        peaks[name], snr = _peak_and_snr(pulse, fps)
        snrs.append(snr)
    max_lag = max(1, int(round(0.1 * fps)))
    corrs = [_best_correlation(pulses[a], pulses[b], max_lag) for a, b in PAIRS]
    gaps = [abs(peaks[a] - peaks[b]) for a, b in PAIRS]
    return np.array(snrs + corrs + gaps)


def video_features(rgb: np.ndarray, fps: float, windows: int | None = None) -> np.ndarray | None:
    size = int(round(WINDOW * fps))
    starts = range(0, len(rgb) - size + 1, size // 2)
    rows = [f for f in (window_features(rgb[s:s + size], fps) for s in starts) if f is not None]
    rows = rows[:windows] if windows else rows
    return np.mean(rows, axis=0) if rows else None


def evaluate(manifest: Path, signals: list[Path], texture: Path | None, c: float,
             windows: int | None) -> None:
    from landmark_dynamics_probe import leave_one_source_out

    table = {}
    for path in signals:
        stored = np.load(path)
        for k, v in enumerate(stored["ids"]):
            f = video_features(stored[f"rgb_{k}"].astype(np.float64), float(stored["fps"][k]), windows)
            if f is not None and np.all(np.isfinite(f)):
                table[str(v)] = f
    # fixed beforehand: higher snr and correlation, smaller peak gap = genuine
    sign = np.array([-1.0 if n.startswith(("snr", "corr")) else 1.0 for n in FEATURES])
    leave_one_source_out(manifest, table, texture, c, "pulse", single=dict(zip(FEATURES, sign)))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="step", required=True)
    e = sub.add_parser("extract", help="skin-region colour series (needs mediapipe)")
    e.add_argument("manifest", type=Path)
    e.add_argument("-o", "--out", type=Path, required=True)
    e.add_argument("--part", default="0/1", help="i/n: every n-th video from the i-th")
    v = sub.add_parser("evaluate", help="leave-one-source-out on the pulse features")
    v.add_argument("manifest", type=Path)
    v.add_argument("--signals", type=Path, action="append", required=True)
    v.add_argument("--texture", type=Path, help="default_texture's texture.json")
    v.add_argument("--c", type=float, default=1.0)
    v.add_argument("--windows", type=int, help="use only the first N windows of each video")
    args = p.parse_args(argv)
    if args.step == "extract":
        part, parts = map(int, args.part.split("/"))
        extract(args.manifest, args.out, part, parts)
    else:
        evaluate(args.manifest, args.signals, args.texture, args.c, args.windows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
