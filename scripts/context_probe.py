"""Does a face differ from its own frame around it? Features for the layer probe that set a
face against its context (the face-context discrepancy of face-swap forensics): a pasted or
generated face need not share the camera, noise and compression of the frame it sits in,
while a genuine face does, whatever that camera. Exploratory: one seed.

    python scripts/context_probe.py runs/dd/faces_m0.0.h5 --out runs/dd/context.npz
    python scripts/default_layer_probe.py runs/dd/faces_m0.0.h5 \\
        --features runs/dd/context.npz --layer Face+FaceMinusContext

For 12 faces per video (spread as the layer probe spreads them), the frame is read again and
up to four patches the size of the face's box are cut beside it (left, right, above, below;
a patch must lie at least 60% inside the frame, and no border is invented). FaceNet's
average-pooled ``Block17_10`` (the default model's layer) is computed for the face
(``Face``), the mean over its patches (``Context``) and their difference
(``FaceMinusContext``); a face without any patch inside the frame gets its own features as
context (difference 0; counted in the output). Degraded copies (``deg_*``, as the layer
probe's) pass the face and its patches through the same shrink and JPEG quality.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

MIN_INSIDE = 0.6
# Patch centres in units of the box's side: left, right, above, below.
OFFSETS = ((-1.0, 0.0), (1.0, 0.0), (0.0, -1.0), (0.0, 1.0))


def context_patches(frame: np.ndarray, box: np.ndarray, size: int = 160) -> list[np.ndarray]:
    """The square patches beside ``box`` (x1, y1, x2, y2) that lie mostly inside ``frame``,
    each clipped to the frame and resized to ``size``."""
    import cv2

    from tfdeepfake.faces.boxes import expand_box

    height, width = frame.shape[:2]
    x1, y1, x2, y2 = expand_box(np.asarray(box, np.float32), margin=0.0, square=True)
    side = x2 - x1
    patches = []
    for dx, dy in OFFSETS:
        px1, py1 = x1 + dx * side, y1 + dy * side
        cx1, cy1 = int(round(max(0.0, px1))), int(round(max(0.0, py1)))
        cx2, cy2 = int(round(min(width, px1 + side))), int(round(min(height, py1 + side)))
        if cx2 <= cx1 or cy2 <= cy1 or (cx2 - cx1) * (cy2 - cy1) < MIN_INSIDE * side * side:
            continue
        region = frame[cy1:cy2, cx1:cx2]
        interpolation = cv2.INTER_AREA if region.shape[0] > size else cv2.INTER_CUBIC
        patches.append(cv2.resize(region, (size, size), interpolation=interpolation))
    return patches


def main(argv=None) -> int:
    from tfdeepfake.cache.faces import iter_face_videos
    from tfdeepfake.detectors.texture_head import texture_feature_model, texture_features
    from tfdeepfake.experiments.default_texture import degrade
    from tfdeepfake.models.facenet import load_facenet
    from tfdeepfake.video.reader import read_frames

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("cache", type=Path, help="a face cache (margin 0, the default model's crops)")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--faces", type=int, default=12)
    args = p.parse_args(argv)

    model = texture_feature_model(load_facenet().model)  # the default model's Block17_10

    rows = {"ids": [], "labels": [], "methods": []}
    out = {k: [] for k in ("Face", "Context", "deg_Face", "deg_Context")}
    without_context = 0
    for number, video in enumerate(iter_face_videos(args.cache)):
        if not len(video.faces):
            continue
        picked = np.unique(np.linspace(0, len(video.faces) - 1, args.faces).round().astype(int))
        wanted = np.asarray(video.frame_indices)[picked]
        frames, read = read_frames(Path(video.attrs["root"]) / video.attrs["path"], wanted)
        by_index = dict(zip(read.tolist(), frames))
        images, owners, degraded_images = [], [], []
        for slot, row in enumerate(picked):
            face = np.asarray(video.faces[row])
            frame = by_index.get(int(video.frame_indices[row]))
            patches = context_patches(frame, video.boxes[row]) if frame is not None else []
            without_context += not patches
            seed = 1_000_003 * number + int(row)
            for image, owner in [(face, (slot, "face"))] + [(q, (slot, "context")) for q in patches]:
                images.append(image)
                owners.append(owner)
                # the same shrink and JPEG quality for a face and its patches
                degraded_images.append(degrade(image, np.random.default_rng(seed)))
        feats = texture_features(model, np.stack(images))
        feats_degraded = texture_features(model, np.stack(degraded_images))
        for slot in range(len(picked)):
            for prefix, table in (("", feats), ("deg_", feats_degraded)):
                face = table[[i for i, o in enumerate(owners) if o == (slot, "face")]][0]
                context_rows = [i for i, o in enumerate(owners) if o == (slot, "context")]
                context = table[context_rows].mean(0) if context_rows else face
                out[prefix + "Face"].append(face)
                out[prefix + "Context"].append(context)
        rows["ids"] += [video.video_id] * len(picked)
        rows["labels"] += [video.label] * len(picked)
        rows["methods"] += [str(video.attrs.get("method"))] * len(picked)
    arrays = {k: np.stack(v).astype(np.float16) for k, v in out.items()}
    arrays["FaceMinusContext"] = arrays["Face"] - arrays["Context"]
    arrays["deg_FaceMinusContext"] = arrays["deg_Face"] - arrays["deg_Context"]
    np.savez(args.out, **{k: np.asarray(v) for k, v in rows.items()}, **arrays)
    print(f"{args.out}: {len(rows['ids'])} faces of {len(set(rows['ids']))} videos; "
          f"{without_context} without a context patch inside the frame")
    return 0


if __name__ == "__main__":
    sys.exit(main())
