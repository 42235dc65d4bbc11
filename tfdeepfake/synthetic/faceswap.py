"""A landmark-aligned face swap, the graphics approach of FaceForensics++'s FaceSwap.

Per frame: a similarity transform from the source face's five keypoints to the target's
(``cv2.estimateAffinePartial2D``) warps the source face onto the target; its colours are
matched to the target's skin (mean/std per LAB channel inside the face mask); a mask
is an ellipse fitted to the target's keypoints; ``cv2.seamlessClone`` (Poisson blending)
pastes it in. What a detector can learn from it is what it learns from FaceSwap: a
blending boundary, a second resampling of the face, colour and sharpness mismatch.

Keypoints come from ``detect_keypoints`` (one MTCNN per process, built lazily) or, for
videos this package renders, from the render's known per-frame transform.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Iterable, Iterator, Sequence

import cv2
import numpy as np

from tfdeepfake.synthetic.photos import Photo
from tfdeepfake.synthetic.videos import DEFAULT_CRF, RenderedVideo, render_face_frames, write_video
from tfdeepfake.video.reader import probe_video, read_frames

logger = logging.getLogger(__name__)

MASK_SHAPES = ("ellipse", "hull")
_KEYPOINT_KEYS = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")

_detector = None
_detector_lock = threading.Lock()


def _get_mtcnn():
    """The process's one MTCNN. Building it again per call would retrace its graphs."""
    global _detector
    with _detector_lock:
        if _detector is None:
            from mtcnn import MTCNN

            _detector = MTCNN()
        return _detector


def detect_keypoints(image_rgb: np.ndarray, min_confidence: float = 0.9
                     ) -> tuple[np.ndarray, np.ndarray] | None:
    """The largest face's box ``[x1, y1, x2, y2]`` and keypoints ``[5, 2]``, or None.

    Keypoint rows: left_eye, right_eye, nose, mouth_left, mouth_right (image left/right).
    """
    image = np.ascontiguousarray(image_rgb)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an RGB uint8 HxWx3 image, got {image.dtype} {image.shape}")
    faces = _get_mtcnn().detect_faces(image)
    faces = [f for f in faces if f.get("confidence", 0.0) >= min_confidence and "keypoints" in f]
    if not faces:
        return None
    best = max(faces, key=lambda f: f["box"][2] * f["box"][3])
    x, y, w, h = (float(v) for v in best["box"])
    box = np.array([x, y, x + w, y + h], dtype=np.float32)
    kps = np.array([best["keypoints"][k] for k in _KEYPOINT_KEYS], dtype=np.float32)
    return box, kps


def with_landmarks(photo: Photo) -> Photo:
    """``photo`` with box and keypoints filled in by MTCNN when missing."""
    if photo.keypoints is not None and photo.box is not None:
        return photo
    found = detect_keypoints(np.asarray(photo.image))
    if found is None:
        raise ValueError(f"no face found in photo {photo.name!r}")
    box, kps = found
    return Photo(photo.name, photo.image, box, kps, photo.source, photo.tags)


def face_mask(keypoints: np.ndarray, shape: tuple[int, int], kind: str = "ellipse") -> np.ndarray:
    """A uint8 0/255 mask of the inner face (brows to chin, cheek to cheek).

    ``ellipse``: centred between the eyes and mouth, axes scaled by the eye distance and
    turned with the eye line. ``hull``: the keypoints' convex hull grown about its centre.
    """
    if kind not in MASK_SHAPES:
        raise ValueError(f"unknown mask shape {kind!r}; valid shapes: {', '.join(MASK_SHAPES)}")
    h, w = shape[:2]
    kps = np.asarray(keypoints, dtype=np.float64)
    eyes = (kps[0] + kps[1]) / 2
    mouth = (kps[3] + kps[4]) / 2
    eye_vec = kps[1] - kps[0]
    eye_dist = max(float(np.hypot(*eye_vec)), 1.0)
    mask = np.zeros((h, w), np.uint8)
    if kind == "ellipse":
        down = mouth - eyes
        eye_mouth = max(float(np.hypot(*down)), 1.0)
        # Shift towards the mouth: the chin lies further below the mouth than the brows above the eyes.
        centre = eyes + 0.62 * down
        half_width = 0.95 * eye_dist
        half_height = 0.5 * eye_mouth + 0.75 * eye_dist
        angle = float(np.degrees(np.arctan2(eye_vec[1], eye_vec[0])))
        cv2.ellipse(mask, (int(round(centre[0])), int(round(centre[1]))),
                    (int(round(half_width)), int(round(half_height))), angle, 0, 360, 255, -1)
    else:
        centre = kps.mean(axis=0)
        grown = centre + 1.7 * (kps - centre)
        hull = cv2.convexHull(np.round(grown).astype(np.int32))
        cv2.fillConvexPoly(mask, hull, 255)
    return mask


def match_colours(source: np.ndarray, target: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Shift ``source``'s LAB mean/std inside ``mask`` to ``target``'s (Reinhard transfer)."""
    sel = mask > 0
    if sel.sum() < 16:
        return source
    src = cv2.cvtColor(source, cv2.COLOR_RGB2LAB).astype(np.float32)
    tgt = cv2.cvtColor(target, cv2.COLOR_RGB2LAB).astype(np.float32)
    s_mean, s_std = src[sel].mean(0), src[sel].std(0)
    t_mean, t_std = tgt[sel].mean(0), tgt[sel].std(0)
    # A flat source channel (grey photo) would blow up the ratio; keep its contrast.
    ratio = np.where(s_std > 1.0, t_std / np.maximum(s_std, 1e-6), 1.0)
    out = (src - s_mean) * ratio + t_mean
    return cv2.cvtColor(np.clip(out, 0, 255).astype(np.uint8), cv2.COLOR_LAB2RGB)


def swap_face(
    target: np.ndarray,
    target_keypoints: np.ndarray,
    source: np.ndarray,
    source_keypoints: np.ndarray,
    *,
    mask_shape: str = "ellipse",
    colour_match: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Put ``source``'s face onto ``target``'s; return ``(swapped RGB uint8, mask uint8)``.

    The returned mask is the manipulated region: the face mask plus the few pixels
    around it that Poisson blending shifts; pixels outside it are the target's,
    unchanged. When the face is too close to the border for Poisson blending, the
    target is returned with an empty mask.
    """
    target = np.ascontiguousarray(target)
    h, w = target.shape[:2]
    m, _ = cv2.estimateAffinePartial2D(np.asarray(source_keypoints, np.float32),
                                       np.asarray(target_keypoints, np.float32), method=cv2.LMEDS)
    if m is None:
        logger.warning("face swap: no similarity transform between keypoint sets; frame left as is")
        return target.copy(), np.zeros((h, w), np.uint8)
    full_mask = face_mask(target_keypoints, (h, w), mask_shape)
    # seamlessClone needs the mask's bounding box inside the image with a margin.
    border = 3
    full_mask[:border], full_mask[-border:], full_mask[:, :border], full_mask[:, -border:] = 0, 0, 0, 0
    ys, xs = np.nonzero(full_mask)
    if len(xs) < 16:
        return target.copy(), np.zeros((h, w), np.uint8)

    # Work in a window around the face: Poisson blending only touches the mask's
    # bounding box, and a 1080p frame is ~20x the face's area.
    pad = 8
    rx0, ry0 = max(0, int(xs.min()) - pad), max(0, int(ys.min()) - pad)
    rx1, ry1 = min(w, int(xs.max()) + pad + 1), min(h, int(ys.max()) + pad + 1)
    roi_target = np.ascontiguousarray(target[ry0:ry1, rx0:rx1])
    mask = np.ascontiguousarray(full_mask[ry0:ry1, rx0:rx1])
    m_roi = m.copy()
    m_roi[:, 2] -= (rx0, ry0)
    warped = cv2.warpAffine(np.ascontiguousarray(source), m_roi, (rx1 - rx0, ry1 - ry0),
                            flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    if colour_match:
        warped = match_colours(warped, roi_target, mask)
    x0, x1, y0, y1 = xs.min() - rx0, xs.max() - rx0, ys.min() - ry0, ys.max() - ry0
    # seamlessClone puts the mask's bounding box (width x1 - x0 + 1) at centre - width // 2;
    # this centre keeps the warped face exactly where it was warped to.
    centre = (int(x0 + (x1 - x0 + 1) // 2), int(y0 + (y1 - y0 + 1) // 2))
    try:
        blended = cv2.seamlessClone(warped, roi_target, mask, centre, cv2.NORMAL_CLONE)
    except cv2.error as exc:
        logger.warning("face swap: seamlessClone failed (%s); frame left as is", exc)
        return target.copy(), np.zeros((h, w), np.uint8)
    out = target.copy()
    out[ry0:ry1, rx0:rx1] = blended
    # Poisson blending also shifts the pixels between the mask and its bounding box;
    # report the whole manipulated region.
    region = np.zeros((h, w), np.uint8)
    region[ry0:ry1, rx0:rx1] = np.where((blended != roi_target).any(axis=2) | (mask > 0), 255, 0)
    return out, region


def swap_frames(
    frames: Iterable[np.ndarray],
    source: Photo,
    keypoints: Sequence[np.ndarray | None] | None = None,
    *,
    mask_shape: str = "ellipse",
) -> Iterator[np.ndarray]:
    """Swap ``source``'s face into every frame.

    ``keypoints[t]`` gives frame t's target keypoints; without them, MTCNN finds them per
    frame. A frame with no face (or ``None`` keypoints) passes through unchanged.
    """
    source = with_landmarks(source)
    src_img = np.asarray(source.image)
    for t, frame in enumerate(frames):
        if keypoints is not None:
            kps = keypoints[t]
        else:
            found = detect_keypoints(frame)
            kps = None if found is None else found[1]
        if kps is None:
            logger.debug("face swap: no face in frame %d; left as is", t)
            yield frame
            continue
        yield swap_face(frame, kps, src_img, source.keypoints, mask_shape=mask_shape)[0]


def make_swapped_video(
    target: Photo,
    source: Photo,
    out_path: str | os.PathLike,
    seconds: float = 2.0,
    fps: float = 15.0,
    size: tuple[int, int] = (320, 240),
    seed: int = 0,
    *,
    codec: str = "h264",
    crf: int = DEFAULT_CRF,
    face_fraction: float = 0.38,
    mask_shape: str = "ellipse",
) -> RenderedVideo:
    """A fake: render ``target`` exactly as ``make_face_video`` would with this seed, then
    swap ``source``'s face into every frame, using the render's known keypoints.

    With the same seed and arguments, the real clip from ``make_face_video(target, ...)``
    and this one differ only where the face was swapped (and in compression noise).
    """
    target = with_landmarks(target)
    num_frames = max(1, int(round(seconds * fps)))
    rng = np.random.default_rng(seed)
    frames, boxes, keypoints = render_face_frames(target, num_frames, fps, size, rng, face_fraction=face_fraction)
    swapped = swap_frames(frames, source, keypoints, mask_shape=mask_shape)
    path = write_video(out_path, swapped, fps, codec, crf=crf)
    return RenderedVideo(path, num_frames, float(fps), tuple(size), seed, boxes, keypoints)


def swap_video(
    in_path: str | os.PathLike,
    source: Photo,
    out_path: str | os.PathLike,
    *,
    codec: str = "h264",
    crf: int = DEFAULT_CRF,
    mask_shape: str = "ellipse",
) -> os.PathLike:
    """Swap ``source``'s face into every frame of an existing video, finding the target
    face with MTCNN frame by frame (about 0.1 s a frame at 320x240 on 2 cores). The
    decoded clip is held in memory: meant for short clips."""
    info = probe_video(in_path)
    frames, _ = read_frames(in_path, np.arange(max(info.frame_count, 1)))
    fps = info.fps or 25.0
    return write_video(out_path, swap_frames(frames, source, mask_shape=mask_shape), fps, codec, crf=crf)
