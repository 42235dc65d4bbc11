"""Is image quality a cue for the default model? The same videos scored as they are and
re-encoded worse (issue 20: "quality must not be a cue"). Exploratory, one pass.

    python scripts/quality_probe.py ../shared/data/videos --out runs/quality.json

Videos: the default model's own calibration videos (genuine, listed in its model.json; no
part of the model saw them) and every ``fake_modern`` video whose name sorts into the first
``--fakes``, plus every FF++ c23 / DFDC fake. Each is scored by ``detect``'s path (the first
``--seconds`` of it) as it is, and after each degradation of ``DEGRADATIONS``: frames shrunk
so the shorter side is ``short`` pixels, then H.264 at CRF ``crf`` (what a messaging app or a
low-bit-rate upload does). Prints, per condition, the median score of each class, genuine
videos called fake at the model's threshold, fakes called fake, and the video AUC. A model
that reads quality moves genuine videos up when degraded, or fakes down.

The shipped model was trained on every shared fake: on the fake side, only how the scores
move under degradation means anything; the AUC column is in-sample and optimistic. The genuine
side is out of sample.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

# (name, shorter side in pixels, H.264 CRF)
DEGRADATIONS = (("360p-crf32", 360, 32), ("240p-crf38", 240, 38))


def first_frames(path: Path, seconds: float) -> tuple[list[np.ndarray], float]:
    """The first ``seconds`` of ``path``, decoded once for every condition, and its fps."""
    from tfdeepfake.video.capture import probe_video
    from tfdeepfake.video.reader import read_frames

    info = probe_video(path)
    fps = info.fps or 25.0
    count = max(1, min(info.frame_count or 1, int(round(seconds * fps))))
    return read_frames(path, np.arange(count))[0], fps


def encoded_copy(frames: list[np.ndarray], fps: float, out: Path, short: int | None,
                 crf: int) -> Path:
    """``frames`` as H.264 at ``crf``, shrunk first so the shorter side is ``short`` pixels
    (``None``: full size; CRF 12 then keeps it near-lossless, so the "as is" condition scores
    the same stretch of video as the degraded ones)."""
    import cv2

    from tfdeepfake.synthetic.writer import write_video

    if short is not None:
        h, w = frames[0].shape[:2]
        scale = short / min(h, w)
        size = (max(2, int(round(w * scale / 2)) * 2), max(2, int(round(h * scale / 2)) * 2))
        frames = [cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in frames]
    return Path(write_video(out, frames, fps, "h264", crf=crf))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("videos", type=Path, help="../shared/data/videos")
    p.add_argument("--fakes", type=int, default=20, help="modern fakes, first by name")
    p.add_argument("--seconds", type=float, default=8.0)
    p.add_argument("--out", type=Path)
    args = p.parse_args(argv)
    if not args.videos.is_dir():
        print(f"skipped: no videos at {args.videos}")
        return 0
    from tfdeepfake.detect import VideoDetector
    from tfdeepfake.detectors import load_detector
    from tfdeepfake.detectors.default_model import BUNDLED_MODEL_DIR
    from tfdeepfake.experiments.default_detector import _auc

    detector = load_detector(BUNDLED_MODEL_DIR)
    threshold = float(detector.meta["threshold"])
    scorer = VideoDetector(detector)
    genuine = [args.videos / v for v in detector.meta["calibration"]["real_videos"]]
    fakes = (sorted((args.videos / "fake_modern").glob("*.mp4"))[:args.fakes]
             + sorted(args.videos.glob("ffpp_c23/fake/**/*.mp4")) + sorted(args.videos.glob("dfdc/fake/**/*.mp4")))
    conditions = ("as is (first seconds)",) + tuple(d[0] for d in DEGRADATIONS)
    scores: dict[str, dict[str, dict[str, float]]] = {c: {"genuine": {}, "fake": {}} for c in conditions}
    with tempfile.TemporaryDirectory() as tmp:
        for kind, paths in (("genuine", genuine), ("fake", fakes)):
            for path in paths:
                name = str(path.relative_to(args.videos))
                try:
                    frames, fps = first_frames(path, args.seconds)
                    copies = {label: encoded_copy(frames, fps, Path(tmp) / f"{i}.mp4", short, crf)
                              for i, (label, short, crf) in
                              enumerate(((conditions[0], None, 12),) + DEGRADATIONS)}
                    for label, copy in copies.items():
                        verdict = scorer.detect(copy)
                        if verdict.fake_probability is not None:
                            scores[label][kind][name] = float(verdict.fake_probability)
                except Exception as error:  # a bad video is recorded, the run goes on
                    print(f"{name}: {type(error).__name__}: {error}", file=sys.stderr)
    # Only videos with a score under every condition, so the rows compare like with like.
    both = {k: set.intersection(*(set(scores[c][k]) for c in conditions)) for k in ("genuine", "fake")}
    print(f"default model, threshold {threshold:.4f}; {len(both['genuine'])} genuine, "
          f"{len(both['fake'])} fake videos (in the model's training set: AUC in-sample) scored "
          f"under every condition; first {args.seconds:g} s")
    print("| condition | median p genuine | median p fake | genuine called fake | fakes caught | video AUC |")
    print("|---|---|---|---|---|---|")
    rows = []
    for c in conditions:
        g = np.array([scores[c]["genuine"][v] for v in sorted(both["genuine"])])
        f = np.array([scores[c]["fake"][v] for v in sorted(both["fake"])])
        rows.append({"condition": c, "median_genuine": float(np.median(g)),
                     "median_fake": float(np.median(f)), "genuine_flagged": int((g >= threshold).sum()),
                     "genuine": len(g), "fakes_caught": int((f >= threshold).sum()), "fakes": len(f),
                     "auc_in_sample": _auc(g, f)})
        r = rows[-1]
        print(f"| {c} | {r['median_genuine']:.3f} | {r['median_fake']:.3f} | {r['genuine_flagged']} / "
              f"{r['genuine']} | {r['fakes_caught']} / {r['fakes']} | {r['auc_in_sample']:.3f} |")
    if args.out:
        command = "python scripts/quality_probe.py " + shlex.join(sys.argv[1:] if argv is None else argv)
        args.out.write_text(json.dumps({"command": command, "threshold": threshold,
                                        "seconds": args.seconds, "degradations": DEGRADATIONS,
                                        "rows": rows, "scores": scores}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
