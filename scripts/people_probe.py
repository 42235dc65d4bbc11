"""How often does footage show more than one person, and what does judging each person on
their own (``detect --people``) change against the largest face alone? Exploratory.

    python scripts/people_probe.py runs/dd/all.jsonl --out runs/people.json

Each video of the manifest (``index``'s JSONL) is read and its faces found once, as
``detect`` finds them with the model's settings; then scored twice with the model (default:
the bundled default model): the face its policy keeps in each frame, and every person
(``faces.people``), the video taking the most fake person's score. Prints how many videos
have one, two or more people and, per class, how many are called fake either way at the
model's threshold. The bundled model was fitted on the shared footage, so on those videos
these counts show what the extra people change, not how well it detects.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np


def main(argv=None) -> int:
    from tfdeepfake.detect import VideoDetector
    from tfdeepfake.detectors.default_model import BUNDLED_MODEL_DIR
    from tfdeepfake.faces.pipeline import faces_from_frames, people_from_frames

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("manifest", type=Path, help="index's JSONL (root, path, label)")
    p.add_argument("--model", type=Path, default=BUNDLED_MODEL_DIR)
    p.add_argument("--out", type=Path, help="per-video results (JSON); a rerun resumes from it")
    args = p.parse_args(argv)
    rows = [json.loads(line) for line in args.manifest.read_text().splitlines() if line.strip()]
    done = json.loads(args.out.read_text()) if args.out and args.out.exists() else {}
    video_detector = VideoDetector(args.model)
    threshold = video_detector.threshold
    for row in rows:
        if row["video_id"] in done:
            continue
        path = Path(row["root"]) / row["path"]
        try:
            frames, indices, _ = video_detector._read_frames(path)
        except Exception as error:  # recorded, and the run goes on
            done[row["video_id"]] = {"label": row["label"], "error": str(error)}
            continue
        settings, finder = video_detector.settings, video_detector.face_detector
        detections = finder.detect_video(frames)
        largest = faces_from_frames(frames, indices, settings, finder, detections=detections)
        people = people_from_frames(frames, indices, settings, finder, detections=detections)
        record = {"label": row["label"], "people": len(people),
                  "largest": (video_detector.score_video(largest["faces"])
                              if len(largest["faces"]) else None),
                  "per_person": [video_detector.score_video(person["faces"]) for person in people],
                  "faces_per_person": [len(person["faces"]) for person in people]}
        done[row["video_id"]] = record
        if args.out:
            args.out.write_text(json.dumps(done))
        print(f"{record['people']} people  largest {record['largest']}  people "
              f"{[round(s, 3) for s in record['per_person']]}  {row['path']}", flush=True)
    scored = {v: r for v, r in done.items() if "error" not in r and r["largest"] is not None}
    print(f"\n{len(scored)} videos scored ({len(done) - len(scored)} without a face or unreadable); "
          f"threshold {threshold:.4f}")
    counts = Counter(min(r["people"], 3) for r in scored.values())
    print("people per video: " + ", ".join(f"{'3+' if k == 3 else k}: {n}" for k, n in sorted(counts.items())))
    for label, name in ((0, "genuine"), (1, "fake")):
        group = [r for r in scored.values() if r["label"] == label]
        by_largest = sum(r["largest"] >= threshold for r in group)
        by_people = sum(max(r["per_person"], default=-1.0) >= threshold for r in group)
        several = [r for r in group if r["people"] > 1]
        print(f"{name}: {len(group)} videos, {len(several)} with several people; called fake: "
              f"largest face {by_largest}, every person {by_people}")
        for r in several:
            print(f"  largest {r['largest']:.3f}, people {np.round(r['per_person'], 3).tolist()} "
                  f"({r['faces_per_person']} faces)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
