"""Unsupervised domain adaptation of a model folder to a user's own unlabelled footage.

The poster's stated next step: a detector trained on some footage fails on another mostly
by domain (a camera, a compression, a generator shifts whole groups of videos), and a user
has many videos of their own, none labelled. ``adapt_model`` reads faces of such target
videos, never a label, and writes a new model folder that records what was done.

Methods (combinable, applied in this order):

- ``adabn``: re-estimate the moving statistics of every BatchNormalization layer of the
  FaceNet backbone on the target faces (Li et al., "Revisiting batch normalization for
  practical domain adaptation"). Features then come out standardised for the target's
  cameras and codecs, as they were for the training footage.
- ``restandardise``: re-estimate the texture head's input standardisation (its
  ``Normalization`` layer) on the target faces: the same idea one step later, for the linear
  head of the default model.
- ``self-blend``: refit the texture head with the target's own faces taken as genuine and
  self-blended and lip-sync pseudo-fakes made from them as fake (fake by construction,
  whatever the video is), the SBI recipe run on the target. The source data are not at hand:
  their part of the objective is replaced by its quadratic at the fitted head (the curvature
  stored beside the head, ``texture_curvature.npy``), so the head moves only as far as the
  target rows pull it against what the source taught it. Each target face counts as one
  training face, and the pseudo-fakes together as much as the target faces (so a few target
  videos move the head a little, many move it more, as they would if added to the training
  data). Not combinable with ``adabn`` or ``restandardise`` (the curvature is the
  source features'); the model's threshold is kept.
- ``threshold``: shift the decision threshold, in logit space, by how far the median target
  video score lies from the median of the model's calibration genuine videos. It assumes
  most target videos are genuine (at most half fake); it changes no ranking, and the
  conformal bound of ``calibrate`` no longer holds as a guarantee after it.

The source folder is never changed. Networks are stored as Keras weights in HDF5 (no pickle).
"""

from __future__ import annotations

import datetime
import hashlib
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from tfdeepfake.models.facenet_specs import sha256_of_file

logger = logging.getLogger(__name__)

METHODS = ("adabn", "restandardise", "self-blend", "threshold")
SELF_BLEND_FACES_PER_VIDEO = 12  # target faces taken as genuine (the head's training count)
SELF_BLEND_PSEUDO_PER_VIDEO = 8  # faces per video blended, once per recipe
MIN_TARGET_VIDEOS = 10  # below this the statistics are one or two videos' own, not a domain's
ADAPTATION_KEY = "adaptation"
ADAPTED_LAYERS_FILE = "adapted_layers.h5"
BATCH = 32


class AdaptError(ValueError):
    """Adaptation cannot run on this model or these targets (one line, names the cause)."""


@dataclass
class TargetVideo:
    """One unlabelled target video: a key (its path or cache id), a content hash and its
    face crops; no label field, so none can be read."""

    key: str
    sha256: str
    faces: np.ndarray  # [F, S, S, 3] uint8
    keypoints: np.ndarray | None = None  # [F, 5, 2] in crop pixels (self-blend needs them)


@dataclass
class Targets:
    videos: list[TargetVideo]
    skipped: list[dict[str, str]] = field(default_factory=list)

    @property
    def faces(self) -> int:
        return int(sum(len(v.faces) for v in self.videos))


def faces_sha256(faces: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(faces).tobytes()).hexdigest()


def targets_from_cache(path: str | os.PathLike, face_settings) -> Targets:
    """Every video of a face cache with faces. Only ids and face crops are read (never the
    label or split attributes); the cache must have been made with ``face_settings``."""
    from tfdeepfake.cache.faces import face_store
    from tfdeepfake.detectors.face_caches import require_cache

    try:
        require_cache(path, "faces", "adapt")
    except (FileNotFoundError, ValueError) as error:
        raise AdaptError(str(error)) from None
    store = face_store(path)
    stored = store.stored_settings()
    if stored != face_settings.to_dict():
        diff = sorted(k for k in set(stored) | set(face_settings.to_dict())
                      if stored.get(k) != face_settings.to_dict().get(k))
        raise AdaptError(f"{path}: made with other face settings than the model's "
                         f"({', '.join(diff)}); extract with the model's settings or give videos")
    from tfdeepfake.synthetic.self_blend import keypoints_in_crops_of

    out = Targets([])
    for video in store.iter_videos():
        faces = np.asarray(video.arrays["faces"])
        if len(faces):
            keypoints = keypoints_in_crops_of(video.arrays["keypoints"], video.arrays["boxes"],
                                              face_settings)
            out.videos.append(TargetVideo(str(video.video_id), faces_sha256(faces), faces, keypoints))
        else:
            out.skipped.append({"path": f"{path}:{video.video_id}", "reason": "no faces in the cache"})
    return out


def targets_from_videos(paths: Iterable[str | os.PathLike], video_detector,
                        on_video: Callable[[Path], None] | None = None) -> Targets:
    """Faces of each video, found with the model's own face settings; a video without a face
    or that cannot be read is listed in ``skipped`` and the run goes on."""
    from tfdeepfake.synthetic.self_blend import keypoints_in_crops_of
    from tfdeepfake.video.reader import VideoReadError

    settings = video_detector.settings
    out = Targets([])
    for path in paths:
        path = Path(path)
        if path.is_dir():
            out.skipped.append({"path": str(path), "reason": "a folder with no video file in it"})
            continue
        try:
            found = video_detector.face_arrays(path)
        except (VideoReadError, OSError, ValueError) as error:
            out.skipped.append({"path": str(path), "reason": str(error)})
        else:
            if len(found["faces"]):
                keypoints = keypoints_in_crops_of(found["keypoints"], found["boxes"], settings)
                out.videos.append(TargetVideo(str(path), sha256_of_file(path),
                                              np.asarray(found["faces"]), keypoints))
            else:
                out.skipped.append({"path": str(path), "reason": "no face found in any of "
                                    f"{len(found['sampled_indices'])} sampled frames"})
        if on_video is not None:
            on_video(path)
    return out


def _logit(p) -> np.ndarray:
    p = np.clip(np.asarray(p, np.float64), 1e-6, 1 - 1e-6)
    return np.log(p) - np.log1p(-p)


def _sigmoid(x) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(x, np.float64)))


def _facenet_parts(detector):
    """The FaceNet trunk (a nested Keras model) and the standardisation layer before it, or
    an ``AdaptError`` for a network without them."""
    from tfdeepfake.models.sbi_classifier import FACENET_STANDARDIZE

    model = getattr(detector, "model", None)
    if detector.name != "sbi" or (detector.meta.get("backbone") or {}).get("kind") != "facenet":
        raise AdaptError(f"{detector.path}: adabn and restandardise adapt the FaceNet network of "
                         f"an sbi model (the default model is one); this is a {detector.name!r} "
                         "model: use --method threshold")
    try:
        return model.get_layer("facenet_trunk"), model.get_layer(FACENET_STANDARDIZE)
    except ValueError as error:
        raise AdaptError(f"{detector.path}: not a FaceNet sbi network ({error})") from None


def _batch_norms(trunk) -> list:
    import tensorflow as tf

    from tfdeepfake.detectors.trained_layers import all_layers

    return [layer for layer in all_layers(trunk) if isinstance(layer, tf.keras.layers.BatchNormalization)]


def _shuffled_faces(targets: Targets, seed: int) -> np.ndarray:
    faces = np.concatenate([v.faces for v in targets.videos])
    return faces[np.random.default_rng(seed).permutation(len(faces))]


def adabn(detector, targets: Targets, seed: int = 0) -> dict[str, Any]:
    """Set every BatchNorm layer of the trunk to the target faces' statistics: one pass in
    training mode over shuffled batches, the moving averages made exact running means (the
    momentum of batch ``n`` is ``1 - 1/n``). Returns how far the statistics moved."""
    import tensorflow as tf

    trunk, standardize = _facenet_parts(detector)
    norms = _batch_norms(trunk)
    before = [(layer.moving_mean.numpy().copy(), layer.moving_variance.numpy().copy()) for layer in norms]
    saved = [(layer.trainable, layer.momentum) for layer in norms]
    faces = _shuffled_faces(targets, seed)
    try:
        # A frozen BatchNorm (trainable False) runs in inference mode whatever `training`
        # says, so the statistics pass unfreezes them; nothing is trained (no optimizer).
        for layer in norms:
            layer.trainable = True
        for n, start in enumerate(range(0, len(faces), BATCH), start=1):
            for layer in norms:
                layer.momentum = 1.0 - 1.0 / n
            trunk(standardize(tf.constant(faces[start:start + BATCH], tf.float32)), training=True)
    finally:
        for layer, (trainable, momentum) in zip(norms, saved):
            layer.trainable, layer.momentum = trainable, momentum
    drop_traced(detector)
    shifts = [float(np.mean(np.abs(layer.moving_mean.numpy() - mean) / np.sqrt(variance + layer.epsilon)))
              for layer, (mean, variance) in zip(norms, before)]
    return {"layers": len(norms), "faces": int(len(faces)),
            "mean_shift_sd": float(np.mean(shifts)), "max_layer_shift_sd": float(np.max(shifts))}


def drop_traced(detector) -> None:
    """Forget the detector's traced scoring functions: a trace holds the Normalization
    layer's statistics as constants, so one made before a change would keep scoring with
    the old ones."""
    for name in ("_infer", "_features"):
        if hasattr(detector, name):
            setattr(detector, name, None)


def restandardise(detector, targets: Targets) -> dict[str, Any]:
    """The texture head's ``Normalization`` set to the target faces' feature mean and
    variance (after ``adabn`` when both are asked)."""
    from tfdeepfake.detectors.texture_head import texture_features

    _facenet_parts(detector)
    _texture_layer(detector, "restandardise")
    norm = detector.model.get_layer("texture_norm")
    features_model = _texture_feature_model(detector)
    features = np.concatenate([texture_features(features_model, v.faces) for v in targets.videos])
    mean, variance, count = norm.get_weights()
    new_mean, new_variance = features.mean(0), features.var(0) + 1e-6
    norm.set_weights([new_mean.astype(np.float32), new_variance.astype(np.float32), count])
    norm.finalize_state()
    drop_traced(detector)
    return {"features": int(features.shape[1]), "faces": int(len(features)),
            "mean_shift_sd": float(np.mean(np.abs(new_mean - mean) / np.sqrt(variance)))}


def _texture_layer(detector, method: str) -> str:
    layer_name = ((detector.meta.get("backbone") or {}).get("texture") or {}).get("layer")
    if not layer_name:
        raise AdaptError(f"{detector.path}: {method} needs a texture head (the default model has "
                         "one); this sbi model has none: use --method adabn or threshold")
    return layer_name


def _texture_feature_model(detector):
    """The network's pooled texture layer as a model, built once per detector (its traced
    scoring function is kept on it; the layer's weights are shared, so adabn shows)."""
    import tensorflow as tf

    model = getattr(detector, "_texture_feature_model", None)
    if model is None:
        model = tf.keras.Model(detector.model.input, detector.model.get_layer("texture_pool").output)
        detector._texture_feature_model = model
    return model


def self_blend_head(detector, targets: Targets, seed: int = 0,
                    curvature: tuple[np.ndarray, int] | None = None) -> dict[str, Any]:
    """The texture head refitted on the target (module docs, ``self-blend``): target faces as
    genuine, their pseudo-fakes as fake, the source objective as its stored quadratic
    (``curvature``: ``(H, training rows)``, read from the folder when not given)."""
    from tfdeepfake.detectors.texture_head import load_curvature, pulled_fit, texture_features
    from tfdeepfake.synthetic.self_blend import PSEUDO_FAKE_RECIPES, self_blend
    from tfdeepfake.video.sampling import spread_picks

    _facenet_parts(detector)
    _texture_layer(detector, "self-blend")
    missing = [v.key for v in targets.videos if v.keypoints is None]
    if missing:
        raise AdaptError(f"self-blend needs the faces' keypoints; none for {missing[0]}"
                         + (f" and {len(missing) - 1} more" if len(missing) > 1 else ""))
    if curvature is None:
        try:
            curvature = load_curvature(detector)
        except ValueError as error:
            raise AdaptError(str(error)) from None
    hessian, source_rows = curvature
    features_model = _texture_feature_model(detector)
    rng = np.random.default_rng(seed)
    genuine, made = [], []
    for video in targets.videos:
        genuine.append(texture_features(features_model,
                                        video.faces[spread_picks(len(video.faces), SELF_BLEND_FACES_PER_VIDEO)]))
        picked = spread_picks(len(video.faces), SELF_BLEND_PSEUDO_PER_VIDEO)
        seeds = rng.integers(0, 2**62, len(picked))
        for recipe in PSEUDO_FAKE_RECIPES:
            blended = self_blend(video.faces[picked], video.keypoints[picked], seeds, recipe).images
            made.append(texture_features(features_model, blended))
    genuine, made = np.concatenate(genuine), np.concatenate(made)
    mean, variance, _ = detector.model.get_layer("texture_norm").get_weights()
    kernel, bias = detector.model.get_layer("texture_logit").get_weights()
    z = (np.concatenate([genuine, made]).astype(np.float64) - mean) / np.sqrt(variance)
    # One training face per target face (the curvature sums the source's faces the same way);
    # the pseudo-fakes balance them, as the classes were balanced when the head was fitted.
    weights = np.r_[np.ones(len(genuine)), np.full(len(made), len(genuine) / len(made))]
    labels = np.r_[np.zeros(len(genuine)), np.ones(len(made))]
    old = kernel[:, 0].astype(np.float64)
    coef, intercept = pulled_fit(old, float(bias[0]), hessian, z, labels, weights)
    detector.model.get_layer("texture_logit").set_weights(
        [coef.reshape(-1, 1).astype(np.float32), np.float32([intercept])])
    drop_traced(detector)
    return {"target_faces_as_genuine": int(len(genuine)), "pseudo_fakes": int(len(made)),
            "recipes": ["self-blend", "lip-sync imitation (mouth)"],
            "weighting": "one training face per target face; the pseudo-fakes balance them",
            "source_rows": int(source_rows),
            "weights_cosine": float(old @ coef / (np.linalg.norm(old) * np.linalg.norm(coef))),
            "intercept": [float(bias[0]), intercept]}


def threshold_shift(scores: Sequence[float], reference: Sequence[float], threshold: float
                    ) -> tuple[float, float]:
    """``(new threshold, logit shift)``: ``threshold`` moved in logit space by the median
    target score's distance from the median calibration genuine score."""
    shift = float(np.median(_logit(scores)) - np.median(_logit(reference)))
    return float(np.float32(_sigmoid(_logit(threshold) + shift))), shift


def recentre_thresholds(detector, targets: Targets) -> tuple[dict[str, float], dict[str, Any]]:
    """New thresholds per variant: ``sigmoid(logit(t) + median logit(target scores) - median
    logit(calibration genuine scores))``, and the record."""
    calibration = (detector.meta.get("calibration") or {}).get("real_scores") or {}
    thresholds, record = {}, {"assumes": "at most half of the target videos are fake",
                              "variants": {}}
    for variant in detector.variants:
        reference = calibration.get(variant)
        if not reference:
            raise AdaptError(f"{detector.path}: --method threshold needs the genuine scores of a "
                             f"calibration for variant {variant!r} (run `tfdeepfake calibrate` first)")
        scores = [float(detector.score_video(v.faces, variant)) for v in targets.videos]
        old = detector.threshold(variant)
        new, shift = threshold_shift(scores, reference, old)
        thresholds[variant] = new
        record["variants"][variant] = {"previous": old, "threshold": new, "logit_shift": shift,
                                       "target_median": float(np.median(scores)),
                                       "calibration_median": float(np.median(reference))}
    return thresholds, record


def adapt_model(model, targets: Targets, out_dir: str | os.PathLike, *,
                methods: Sequence[str] = ("restandardise",), seed: int = 0,
                min_videos: int = MIN_TARGET_VIDEOS, facenet_weights=None,
                inputs: Sequence[str] = (), reuse_loaded: bool = False) -> dict[str, Any]:
    """Adapt ``model`` (a folder or a loaded detector) to ``targets`` and write the result as
    a new model folder at ``out_dir``; returns the ``adaptation`` record. The folder is never
    changed; a loaded detector is copied first unless ``reuse_loaded`` (the caller gives it
    up: its weights become the adapted ones, and no second network is built)."""
    from tfdeepfake.detectors import load_detector

    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise AdaptError(f"unknown method(s) {unknown or methods}; valid: {', '.join(METHODS)}")
    methods = [m for m in METHODS if m in methods]  # the order they are applied in
    if "self-blend" in methods and {"adabn", "restandardise"} & set(methods):
        raise AdaptError("self-blend does not combine with adabn or restandardise: its stored "
                         "curvature describes the source features; combine it with threshold")
    if len(targets.videos) < min_videos:
        raise AdaptError(f"{len(targets.videos)} target videos with faces; adaptation needs at "
                         f"least {min_videos} (their statistics would be a few videos' own, not "
                         "a domain's)")
    out = Path(out_dir)
    if out.exists():
        raise FileExistsError(f"{out}: already exists; choose a new folder")
    if reuse_loaded and hasattr(model, "model"):
        detector = model
    else:  # a fresh copy of the network: the caller's detector stays as it was
        detector = load_detector(model.path if hasattr(model, "path") else model,
                                 facenet_weights=facenet_weights)
    if (detector.meta.get(ADAPTATION_KEY) or {}).get("methods"):
        logger.warning("%s is already adapted (%s); adapting again replaces those statistics",
                       detector.path, ", ".join(detector.meta[ADAPTATION_KEY]["methods"]))
    steps: dict[str, Any] = {}
    if "adabn" in methods:
        steps["adabn"] = adabn(detector, targets, seed)
    if "restandardise" in methods:
        steps["restandardise"] = restandardise(detector, targets)
    if "self-blend" in methods:
        steps["self-blend"] = self_blend_head(detector, targets, seed)
    meta = dict(detector.meta)
    if "threshold" in methods:
        thresholds, steps["threshold"] = recentre_thresholds(detector, targets)
        if "thresholds" in meta:  # one per variant (triplet)
            meta["thresholds"] = {**meta["thresholds"], **thresholds}
            meta["threshold"] = meta["thresholds"][meta["default_classifier"]]
        else:
            (meta["threshold"],) = thresholds.values()
    record = {
        "methods": methods, "seed": seed, "settings": {"batch": BATCH, "min_videos": min_videos},
        "source_model": str(detector.path), "inputs": [str(i) for i in inputs],
        "target_videos": len(targets.videos), "target_faces": targets.faces,
        "target_sha256": sorted(v.sha256 for v in targets.videos),
        "skipped": targets.skipped, "steps": steps,
        "labels_read": False,
        "note": ("the calibration's genuine scores and bound are those of the source model; "
                 "re-run `tfdeepfake calibrate` on genuine target videos for a bound that holds"),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    meta[ADAPTATION_KEY] = record
    changed_weights = bool({"adabn", "restandardise", "self-blend"} & set(methods))
    _write_adapted(detector, meta, out, changed_weights)
    return record


def _write_adapted(detector, meta: dict, out: Path, changed_weights: bool) -> None:
    """The source folder copied beside ``out`` (built in a temp folder, renamed when whole);
    with changed weights, the adapted layers go to ``adapted_layers.h5`` (float32: every
    trainable layer and every BatchNorm layer) and ``weights`` points there."""
    from tfdeepfake.detectors.calibrate import _copy_whole
    from tfdeepfake.detectors.self_blended import TRAINED_LAYERS_FILE

    write_weights = None
    if changed_weights:
        spec = dict(meta.get("weights") or {})
        if spec.get("file") == TRAINED_LAYERS_FILE or spec.get("base") == "facenet":
            meta["weights"] = {**spec, "file": ADAPTED_LAYERS_FILE, "dtype": "float32",
                               "layers": "trainable and BatchNorm layers; the rest is the "
                                         "recorded FaceNet"}

            def write_weights(folder: Path) -> None:
                save_adapted_layers(detector.model, folder / ADAPTED_LAYERS_FILE)
                (folder / TRAINED_LAYERS_FILE).unlink(missing_ok=True)
        else:  # a folder holding the whole network: replace its weights file
            name = meta.get("weights") if isinstance(meta.get("weights"), str) else None
            if not name:
                raise AdaptError(f"{detector.path}: cannot tell which weights file to replace")

            def write_weights(folder: Path) -> None:
                from tfdeepfake.models.sbi_classifier import weights_only

                weights_only(detector.model).save_weights(str(folder / name))

    def finish(folder: Path) -> None:
        if write_weights is not None:
            write_weights(folder)
        card = folder / "MODEL_CARD.md"
        if card.is_file():  # the source's card: say whose numbers they are
            record = meta[ADAPTATION_KEY]
            card.write_text(
                f"> **Adapted copy** (`tfdeepfake adapt`, {', '.join(record['methods'])}, on "
                f"{record['target_videos']} unlabelled videos; `adaptation` in model.json). "
                "Every number below is the source model's, measured before adaptation.\n\n"
                + card.read_text("utf-8"), "utf-8")

    _copy_whole(detector.folder, out, meta, before_rename=finish)


def save_adapted_layers(model, path: Path) -> Path:
    """Like ``save_trained_layers`` (float32), with the BatchNorm layers added: their moving
    statistics are what ``adabn`` changed."""
    import tensorflow as tf

    from tfdeepfake.detectors.trained_layers import all_layers, save_trained_layers, trained_layers

    extra = [layer for layer in all_layers(model)
             if isinstance(layer, tf.keras.layers.BatchNormalization) and not layer.trainable]
    return save_trained_layers(model, path, "float32", layers=trained_layers(model) + extra)


__all__ = ["ADAPTATION_KEY", "AdaptError", "METHODS", "MIN_TARGET_VIDEOS", "TargetVideo", "Targets",
           "adabn", "adapt_model", "recentre_thresholds", "restandardise", "self_blend_head",
           "threshold_shift", "targets_from_cache",
           "targets_from_videos"]
