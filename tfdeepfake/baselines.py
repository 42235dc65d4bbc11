"""The poster's baselines end to end on the caches: XceptionNet on face frames and an LSTM
over a video's frames, trained into a saved folder, evaluated on a split, explained with
Grad-CAM. This mirrors what ``tfdeepfake.method`` does for the FaceNet + triplet method.

A baseline folder::

    <out_dir>/
      baseline.json          kind, input size, initial weights, training config, data
                             counts, strategy, package versions (written last: a folder
                             without it is an unfinished run)
      model.weights.h5       the classifier's weights (best epoch by the monitored loss)
      extractor.weights.h5   LSTM over Xception features only: the feature extractor
      config.json            the trainer's own run record
      history.csv            per-epoch losses and metrics
      tensorboard/           when enabled in the training config

Validation comes from the training data only: the manifest's ``val`` split when the cache
has one, else ``val_fraction`` of the ``train`` videos held out by video (stratified by
label). The test split is never read for training or selection.

Scores follow the poster: a frame's fake probability from the Xception classifier, a
video's score the mean of its frames' probabilities; the LSTM gives one probability per
video. The decision threshold is 0.5.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from tfdeepfake.cache.faces import face_store, iter_face_videos
from tfdeepfake.faces.settings import FaceSettings
from tfdeepfake.constants import FAKE, LABEL_NAMES, REAL
from tfdeepfake.provenance import json_ready, package_versions

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
BASELINE_FILE = "baseline.json"
WEIGHTS_FILE = "model.weights.h5"
EXTRACTOR_WEIGHTS_FILE = "extractor.weights.h5"
RESULTS_FILE = "results.json"
KINDS = ("xception", "lstm")
LSTM_FEATURES = ("xception", "facenet")
DECISION_THRESHOLD = 0.5

# Training videos are kept in memory when their faces fit in this many bytes (better
# shuffling, no second read); larger sets are streamed from the cache in every epoch.
IN_MEMORY_LIMIT_BYTES = 1 << 30


class BaselineError(RuntimeError):
    """A folder that is not a usable baseline; the message names it and what to do."""


# -- data selection --------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _VideoMeta:
    video_id: str
    label: int
    split: str
    frames: int


def _require_cache(path, what: str) -> None:
    path = Path(path)
    if not path.is_file() and not path.with_name(path.name + ".parts").is_dir():
        command = "tfdeepfake extract" if what == "face" else "tfdeepfake embed"
        raise FileNotFoundError(f"{path}: {what} cache not found; make it with `{command}`")


def _scan_face_cache(face_cache, keep_splits=("train", "val")):
    """One pass over a face cache: per-video metadata, and the faces of ``keep_splits``
    videos when they fit in memory (else ``None``)."""
    metas: list[_VideoMeta] = []
    kept: list | None = []
    kept_bytes = 0
    for video in iter_face_videos(face_cache):
        metas.append(_VideoMeta(video.video_id, int(video.label), video.split, int(len(video.faces))))
        if kept is not None and video.split in keep_splits and len(video.faces):
            kept_bytes += video.faces.nbytes
            if kept_bytes > IN_MEMORY_LIMIT_BYTES:
                logger.info("%s: training faces exceed %d MB; streaming from the cache",
                            face_cache, IN_MEMORY_LIMIT_BYTES >> 20)
                kept = None
            else:
                kept.append(video)
    if not metas:
        raise ValueError(f"{face_cache}: the face cache holds no videos")
    return metas, kept


def _split_train_val(metas: list[_VideoMeta], val_fraction: float, seed: int):
    """``(train_ids, val_ids, how)`` over videos with faces; never touches test videos."""
    from tfdeepfake.pipelines.balanced import split_by_video

    usable = [m for m in metas if m.frames > 0]
    train = [m for m in usable if m.split == "train"]
    val = [m for m in usable if m.split == "val"]
    if val:
        return {m.video_id for m in train}, {m.video_id for m in val}, "manifest val split"
    if val_fraction <= 0 or len(train) < 2:
        return {m.video_id for m in train}, set(), "none"
    ids = np.array([m.video_id for m in train])
    labels = np.array([m.label for m in train])
    train_mask, val_mask = split_by_video(ids, labels, val_fraction=val_fraction, seed=seed)
    how = f"{val_fraction:g} of the train videos held out by video"
    return set(ids[train_mask].tolist()), set(ids[val_mask].tolist()), how


def _cap_frames(metas: list[_VideoMeta], train_ids: set[str], max_frames: int, seed: int) -> set[str]:
    """Whole training videos, drawn at random per class, up to ``max_frames / 2`` frames
    each: the poster's "30k frames", balanced real/fake."""
    if max_frames < 2:
        raise ValueError(f"max_train_frames must be >= 2, got {max_frames}")
    rng = np.random.default_rng(seed)
    chosen: set[str] = set()
    for label in (REAL, FAKE):
        videos = sorted((m for m in metas if m.video_id in train_ids and m.label == label),
                        key=lambda m: m.video_id)
        total = 0
        for i in rng.permutation(len(videos)):
            if total >= max_frames // 2:
                break
            chosen.add(videos[i].video_id)
            total += videos[i].frames
        logger.info("max_train_frames=%d: %d %s frames from %d videos", max_frames, total,
                    LABEL_NAMES[label], sum(1 for m in videos if m.video_id in chosen))
    return chosen


def _counts(metas: list[_VideoMeta], ids: set[str]) -> dict:
    rows = [m for m in metas if m.video_id in ids]
    return {
        "videos": {LABEL_NAMES[c]: sum(1 for m in rows if m.label == c) for c in (REAL, FAKE)},
        "frames": {LABEL_NAMES[c]: int(sum(m.frames for m in rows if m.label == c)) for c in (REAL, FAKE)},
    }


def _check_both_classes(counts: dict, where) -> None:
    missing = [name for name, n in counts["videos"].items() if n == 0]
    if missing:
        raise ValueError(f"{where}: no {' or '.join(missing)} training videos with faces; "
                         "a baseline needs both classes")


def _face_source(face_cache, ids: set[str], loaded: list | None):
    """A video source for the pipelines: a list when in memory, else a fresh stream per pass."""
    if loaded is not None:
        return [v for v in loaded if v.video_id in ids]
    path = str(face_cache)
    return lambda: iter_face_videos(path, video_ids=ids)


# -- saving and loading ------------------------------------------------------------------


def _weights_source(weights) -> dict:
    from tfdeepfake.models.xception import XCEPTION_NOTOP_WEIGHTS, resolve_xception_weights

    resolved = resolve_xception_weights(weights)
    if resolved is None:
        return {"init": "random", "path": None, "md5": None}
    if resolved == "imagenet":
        return {"init": "imagenet", "path": None, "md5": XCEPTION_NOTOP_WEIGHTS["md5"]}
    return {"init": "imagenet-file", "path": resolved, "md5": XCEPTION_NOTOP_WEIGHTS["md5"]}


_strategies: dict[str, Any] = {}


def _get_strategy(name: str):
    """One strategy per name and process: a multi-worker strategy configures TensorFlow's
    collectives once, so later trainings in the same run reuse it."""
    from tfdeepfake.models.strategy import get_strategy

    if name not in _strategies:
        _strategies[name] = get_strategy(name)
    return _strategies[name]


def _strategy_record(strategy, name: str) -> dict:
    return {"name": name, "class": type(strategy).__name__,
            "num_replicas": int(strategy.num_replicas_in_sync)}


def _start_folder(out_dir) -> Path:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stale = out_dir / BASELINE_FILE
    if stale.exists():  # retraining: the folder is unfinished until the new record is written
        stale.unlink()
    return out_dir


def _keep_best(result, out_dir: Path) -> int | None:
    """Load the best checkpoint into the returned model, store it as ``model.weights.h5``;
    returns the best epoch (1-based) by the monitored loss."""
    history = result.history
    monitor = "val_loss" if "val_loss" in history else "loss"
    losses = np.asarray(history.get(monitor, []), dtype=float)
    best_epoch = int(np.nanargmin(losses)) + 1 if losses.size and np.isfinite(losses).any() else None
    best = Path(result.best_weights_path)
    target = out_dir / WEIGHTS_FILE
    if best.is_file():
        result.model.load_weights(str(best))
    _save_weights_without_optimizer(result.model, target)
    if best.is_file():  # the same weights, in Keras' older layout
        best.unlink()
    return best_epoch


def _save_weights_without_optimizer(model, path: Path) -> None:
    """``.weights.h5`` (Keras' newer layout) of the model's variables only: a compiled
    model would also store its optimizer's slots, doubling the file."""
    from tensorflow import keras

    twin = keras.models.clone_model(model)
    twin.set_weights(model.get_weights())
    twin.save_weights(str(path))


def _write_meta(out_dir: Path, meta: dict) -> None:
    path = out_dir / BASELINE_FILE
    temp = out_dir / f".{BASELINE_FILE}.tmp"
    temp.write_text(json.dumps(json_ready(meta), indent=2, sort_keys=True), "utf-8")
    os.replace(temp, path)


def read_baseline_meta(baseline_dir) -> dict:
    """``baseline.json`` of a finished baseline folder."""
    path = Path(baseline_dir) / BASELINE_FILE
    if not path.is_file():
        raise BaselineError(f"{baseline_dir}: not a finished baseline (no {BASELINE_FILE}); "
                            "train one with `tfdeepfake train xception|lstm`")
    try:
        meta = json.loads(path.read_text("utf-8"))
    except json.JSONDecodeError as error:
        raise BaselineError(f"{path}: invalid JSON ({error})") from error
    if meta.get("format_version") != FORMAT_VERSION or meta.get("kind") not in KINDS:
        raise BaselineError(f"{path}: baseline format {meta.get('format_version')} / kind "
                            f"{meta.get('kind')!r}; this tfdeepfake reads format {FORMAT_VERSION}, "
                            f"kinds {', '.join(KINDS)}")
    return meta


def load_baseline(baseline_dir) -> tuple[Any, dict]:
    """``(model, meta)``: the trained classifier with its weights, and ``baseline.json``.

    An LSTM over Xception features also needs its extractor: ``load_feature_extractor``.
    """
    from tfdeepfake.models.lstm import build_lstm_classifier
    from tfdeepfake.models.xception import build_xception_classifier

    baseline_dir = Path(baseline_dir)
    meta = read_baseline_meta(baseline_dir)
    training = meta["training"]
    if meta["kind"] == "xception":
        model = build_xception_classifier(int(meta["input_size"]), weights=None,
                                          dropout=float(training["dropout"]),
                                          seed=int(training["seed"]))
    else:
        model = build_lstm_classifier(int(meta["num_frames"]), int(meta["feature_dim"]),
                                      units=int(training["units"]),
                                      dropout=float(training["dropout"]), seed=int(training["seed"]))
    weights = baseline_dir / WEIGHTS_FILE
    if not weights.is_file():
        raise BaselineError(f"{weights}: weights missing from the baseline folder")
    model.load_weights(str(weights))
    return model, meta


def load_feature_extractor(baseline_dir, meta: dict | None = None):
    """The Xception feature extractor saved with an LSTM baseline; ``None`` when the LSTM
    reads FaceNet embeddings from an embedding cache instead."""
    from tfdeepfake.models.xception import build_xception_features

    meta = meta or read_baseline_meta(baseline_dir)
    if meta["kind"] != "lstm" or meta["features"] != "xception":
        return None
    extractor = build_xception_features(int(meta["extractor"]["input_size"]), weights=None)
    path = Path(baseline_dir) / EXTRACTOR_WEIGHTS_FILE
    if not path.is_file():
        raise BaselineError(f"{path}: feature extractor weights missing from the baseline folder")
    extractor.load_weights(str(path))
    return extractor


def _common_meta(kind: str, config, strategy, strategy_name: str, source, history: dict,
                 best_epoch, started: float) -> dict:
    epochs_run = len(next(iter(history.values()), []))
    return {
        "format_version": FORMAT_VERSION,
        "kind": kind,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "seed": int(config.seed),
        "training": config.to_dict(),
        "strategy": _strategy_record(strategy, strategy_name),
        "source": str(source),
        "epochs_run": epochs_run,
        "best_epoch": best_epoch,
        "threshold": DECISION_THRESHOLD,
        "aggregation": "mean",
        "labels": {"0": "real", "1": "fake"},
        "train_seconds": round(time.perf_counter() - started, 2),
        "versions": package_versions(),
    }


# -- training ---------------------------------------------------------------------------


def train_xception_baseline(
    face_cache: str | os.PathLike,
    out_dir: str | os.PathLike,
    config=None,
    strategy_name: str = "default",
    val_fraction: float = 0.15,
    weights: str | os.PathLike | None = None,
    *,
    max_train_frames: int | None = None,
    verbose: int | str = 0,
) -> dict:
    """Train the Xception frame classifier on the ``train`` videos of a face cache.

    ``config`` is an ``XceptionTrainingConfig`` (default: the poster's lr 0.05, 30 epochs,
    batch 64, at 299 px). ``weights`` (``"imagenet"`` or the path of Keras' no-top file)
    overrides ``config.weights``; ``None`` keeps it (random init by default).
    ``max_train_frames`` keeps whole training videos, drawn at random per class, up to that
    many frames in all, balanced (the poster's "30k frames"). ``strategy_name``:
    ``default``, ``mirrored`` or ``multiworker`` (``tfdeepfake.models.strategy``).

    Writes the baseline folder (module docs) and returns ``baseline.json``'s content
    plus ``history`` and ``out_dir``.
    """
    from tfdeepfake.models.train_baselines import XceptionTrainingConfig, train_xception

    started = time.perf_counter()
    config = config or XceptionTrainingConfig()
    if weights is not None:
        config = dataclasses.replace(config, weights=str(weights))
    weights_source = _weights_source(config.weights)  # fails before any data is read
    _require_cache(face_cache, "face")
    strategy = _get_strategy(strategy_name)
    face_settings = face_store(face_cache).stored_settings()
    out_dir = _start_folder(out_dir)

    metas, loaded = _scan_face_cache(face_cache)
    train_ids, val_ids, val_how = _split_train_val(metas, val_fraction, config.seed)
    available = _counts(metas, train_ids)
    if max_train_frames is not None:
        train_ids = _cap_frames(metas, train_ids, int(max_train_frames), config.seed)
    train_counts = _counts(metas, train_ids)
    _check_both_classes(train_counts, face_cache)
    if face_settings.get("size") and int(face_settings["size"]) < config.input_size:
        logger.warning("%s holds %s px crops; they are upscaled to the model's %d px",
                       face_cache, face_settings["size"], config.input_size)
    logger.info("Xception baseline: %d train videos (%d frames), %d validation videos (%s)",
                sum(train_counts["videos"].values()), sum(train_counts["frames"].values()),
                len(val_ids), val_how)

    class_counts = {REAL: train_counts["frames"]["real"], FAKE: train_counts["frames"]["fake"]}
    result = train_xception(
        _face_source(face_cache, train_ids, loaded),
        _face_source(face_cache, val_ids, loaded) if val_ids else None,
        config, out_dir, strategy, class_counts=class_counts, verbose=verbose)
    best_epoch = _keep_best(result, out_dir)
    history = {k: [float(v) for v in vals] for k, vals in result.history.items()}
    meta = {
        **_common_meta("xception", config, strategy, strategy_name, face_cache, history,
                       best_epoch, started),
        "input_size": int(config.input_size),
        "weights_source": weights_source,
        "face_settings": face_settings,
        "data": {"train": train_counts, "val": _counts(metas, val_ids),
                 "train_available": available, "validation": val_how,
                 "max_train_frames": max_train_frames},
    }
    _write_meta(out_dir, meta)
    logger.info("Xception baseline saved to %s (%d epochs, best %s)", out_dir,
                meta["epochs_run"], best_epoch)
    return {**json_ready(meta), "history": history, "out_dir": str(out_dir)}


def _embedding_settings(embedding_cache) -> dict:
    from tfdeepfake.cache.embeddings import embedding_store

    settings = embedding_store(embedding_cache).stored_settings()
    return {k: settings.get(k) for k in ("model", "random_init", "seed", "weights_sha256")}


def _embedding_sequences(embedding_cache, splits: tuple[str, ...], num_frames: int):
    """Per-video FaceNet sequences of an embedding cache's ``splits`` and its table."""
    from tfdeepfake.cache.embeddings import load_embedding_table
    from tfdeepfake.pipelines.sequences import sequences_from_embedding_table

    table = load_embedding_table(embedding_cache, splits=splits)
    return table, sequences_from_embedding_table(table.embeddings, table.labels, table.video_ids,
                                                 table.frame_indices, num_frames=num_frames)


def _embedding_metas(table) -> list[_VideoMeta]:
    metas = {}
    for video_id, label, split in zip(table.video_ids, table.labels, table.splits):
        if video_id not in metas:
            metas[video_id] = _VideoMeta(str(video_id), int(label), str(split), 0)
        metas[video_id] = dataclasses.replace(metas[video_id], frames=metas[video_id].frames + 1)
    return list(metas.values())


def train_lstm_baseline(
    source: str | os.PathLike,
    out_dir: str | os.PathLike,
    config=None,
    features: str = "xception",
    strategy_name: str = "default",
    val_fraction: float = 0.15,
    weights: str | os.PathLike | None = None,
    *,
    verbose: int | str = 0,
) -> dict:
    """Train the LSTM video classifier over per-frame features of each video.

    ``features="xception"``: ``source`` is a face cache; frame features come from an
    Xception feature extractor (``config.extractor_input_size``; initial weights
    ``weights`` or ``config.extractor_weights``: random, ``"imagenet"`` or a local no-top
    file), which is saved with the model so evaluation uses the very same features.
    ``features="facenet"``: ``source`` is an embedding cache (512-d FaceNet embeddings).
    ``config`` is an ``LSTMTrainingConfig`` (default: the poster's lr 0.01, 30 epochs,
    batch 64, 25 frames). Returns ``baseline.json``'s content plus ``history``, ``out_dir``.
    """
    from tensorflow import keras

    from tfdeepfake.models.train_baselines import LSTMTrainingConfig, train_lstm
    from tfdeepfake.models.xception import build_xception_features
    from tfdeepfake.pipelines.sequences import compute_sequence_features

    if features not in LSTM_FEATURES:
        raise ValueError(f"unknown features {features!r}; valid: {', '.join(LSTM_FEATURES)}")
    if features == "facenet" and weights is not None:
        raise ValueError("weights are the Xception feature extractor's; unused with features='facenet'")
    started = time.perf_counter()
    config = config or LSTMTrainingConfig()
    if weights is not None:
        config = dataclasses.replace(config, extractor_weights=str(weights))
    _require_cache(source, "face" if features == "xception" else "embedding")
    strategy = _get_strategy(strategy_name)
    extra: dict[str, Any] = {"features": features}

    if features == "xception":
        weights_source = _weights_source(config.extractor_weights)
        face_settings = face_store(source).stored_settings()
        out_dir = _start_folder(out_dir)
        metas, loaded = _scan_face_cache(source)
        train_ids, val_ids, val_how = _split_train_val(metas, val_fraction, config.seed)
        _check_both_classes(_counts(metas, train_ids), source)
        keras.utils.set_random_seed(config.seed)  # the random-init extractor is reproducible
        extractor = build_xception_features(config.extractor_input_size, config.extractor_weights)
        logger.info("LSTM baseline: Xception features of %d train and %d validation videos",
                    len(train_ids), len(val_ids))
        train_seq = compute_sequence_features(_face_source(source, train_ids, loaded), extractor,
                                              num_frames=config.num_frames,
                                              batch_size=config.feature_batch_size)
        val_seq = (compute_sequence_features(_face_source(source, val_ids, loaded), extractor,
                                             num_frames=config.num_frames,
                                             batch_size=config.feature_batch_size)
                   if val_ids else None)
        _save_weights_without_optimizer(extractor, out_dir / EXTRACTOR_WEIGHTS_FILE)
        extra.update(extractor={"model": "xception_features",
                                "input_size": int(config.extractor_input_size),
                                "weights_source": weights_source},
                     face_settings=face_settings)
    else:
        embedder = _embedding_settings(source)
        out_dir = _start_folder(out_dir)
        table, all_seq = _embedding_sequences(source, ("train", "val"), config.num_frames)
        metas = _embedding_metas(table)
        train_ids, val_ids, val_how = _split_train_val(metas, val_fraction, config.seed)
        _check_both_classes(_counts(metas, train_ids), source)
        index = {v: i for i, v in enumerate(all_seq.video_ids)}
        train_seq = all_seq.subset(sorted(index[v] for v in train_ids))
        val_seq = all_seq.subset(sorted(index[v] for v in val_ids)) if val_ids else None
        extra.update(embedder=embedder)
        if embedder.get("random_init"):
            logger.warning("%s: embeddings from a RANDOMLY INITIALISED FaceNet", source)

    result = train_lstm(train_seq, val_seq, config, out_dir, strategy, verbose=verbose)
    best_epoch = _keep_best(result, out_dir)
    history = {k: [float(v) for v in vals] for k, vals in result.history.items()}
    meta = {
        **_common_meta("lstm", config, strategy, strategy_name, source, history, best_epoch, started),
        **extra,
        "num_frames": int(train_seq.num_frames),
        "feature_dim": int(train_seq.feature_dim),
        "data": {"train": _counts(metas, train_ids), "val": _counts(metas, val_ids),
                 "validation": val_how},
    }
    _write_meta(out_dir, meta)
    logger.info("LSTM baseline saved to %s (%d epochs, best %s)", out_dir, meta["epochs_run"], best_epoch)
    return {**json_ready(meta), "history": history, "out_dir": str(out_dir)}


# -- evaluation -------------------------------------------------------------------------


def _xception_frame_scores(model, face_cache, split: str, batch_size: int):
    from tfdeepfake.models.xception import model_input_size
    from tfdeepfake.pipelines.frames import make_frame_eval_dataset

    path = str(face_cache)
    dataset = make_frame_eval_dataset(lambda: iter_face_videos(path, splits=(split,)),
                                      input_size=model_input_size(model), batch_size=batch_size)
    probs, labels, ids = [], [], []
    for images, batch_labels, batch_ids in dataset:
        probs.append(np.asarray(model.predict_on_batch(images), np.float64).reshape(-1))
        labels.append(batch_labels.numpy())
        ids.extend(v.decode() for v in batch_ids.numpy())
    if not ids:
        raise ValueError(f"{face_cache}: no face frames in split {split!r}")
    return np.concatenate(probs), np.concatenate(labels).astype(np.int64), np.asarray(ids)


def _lstm_video_scores(model, meta: dict, baseline_dir, source, split: str, batch_size: int):
    from tfdeepfake.pipelines.sequences import FEATURES_KEY, MASK_KEY, compute_sequence_features

    num_frames = int(meta["num_frames"])
    if meta["features"] == "xception":
        extractor = load_feature_extractor(baseline_dir, meta)
        path = str(source)
        arrays = compute_sequence_features(lambda: iter_face_videos(path, splits=(split,)),
                                           extractor, num_frames=num_frames, batch_size=batch_size)
    else:
        wanted = meta.get("embedder") or {}
        found = _embedding_settings(source)
        if wanted and found != wanted:
            raise ValueError(f"{source}: embeddings made with {found}, the LSTM was trained on "
                             f"{wanted}; embed with the same FaceNet")
        _, arrays = _embedding_sequences(source, (split,), num_frames)
    probs = model.predict({FEATURES_KEY: arrays.features, MASK_KEY: arrays.mask},
                          batch_size=batch_size, verbose=0).reshape(-1)
    return np.asarray(probs, np.float64), arrays.labels.astype(np.int64), np.asarray(arrays.video_ids)


def _results_markdown(results: dict) -> str:
    from tfdeepfake.evaluation.report import MEASURES

    levels = [level for level in ("video", "frame") if level in results]
    lines = [f"# {results['kind'].upper()} baseline: measures on the {results['split']} split", ""]
    if results.get("note"):
        lines += [f"> {results['note']}", ""]
    lines += ["| Measure | " + " | ".join(f"{level} level" for level in levels) + " |",
              "|---|" + "---|" * len(levels)]
    for label, key in MEASURES:
        cells = []
        for level in levels:
            value = results[level].get(key)
            cells.append("n/a" if value is None or not np.isfinite(value) else f"{value:.5f}")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    video = results["video"]
    lines += ["", f"Videos: {video['n']} ({video['n_real']} real, {video['n_fake']} fake); "
                  f"threshold {video['threshold']}; a video's score is "
                  + ("the LSTM's output." if results["kind"] == "lstm"
                     else "the mean of its frame probabilities."),
              f"Seed {results['seed']}; baseline {results['baseline']}.", ""]
    return "\n".join(lines)


def evaluate_baseline(
    baseline_dir: str | os.PathLike,
    source: str | os.PathLike,
    out_dir: str | os.PathLike,
    split: str = "test",
    *,
    batch_size: int = 64,
    figures: bool = True,
    note: str | None = None,
) -> dict:
    """Video-level (and, for Xception, frame-level) measures of a baseline on ``split``.

    ``source`` is a face cache (Xception; LSTM over Xception features) or an embedding
    cache (LSTM over FaceNet embeddings). Writes ``results.json``, ``results.md``,
    ``video_scores.csv`` and, with ``figures``, ``roc_video.png`` and
    ``confusion_video.png`` into ``out_dir``; returns the results.
    """
    from tfdeepfake.evaluation.metrics import binary_metrics, frame_and_video_metrics
    from tfdeepfake.scoring import aggregate_video_labels, aggregate_video_scores

    model, meta = load_baseline(baseline_dir)
    uses_embeddings = meta["kind"] == "lstm" and meta.get("features") == "facenet"
    _require_cache(source, "embedding" if uses_embeddings else "face")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if meta["kind"] == "xception":
        probs, labels, ids = _xception_frame_scores(model, source, split, batch_size)
        metrics = frame_and_video_metrics(labels, probs, ids, threshold=DECISION_THRESHOLD, how="mean")
        video_ids, video_probs = aggregate_video_scores(probs, ids, how="mean")
        _, video_labels = aggregate_video_labels(labels, ids)
    else:
        video_probs, video_labels, video_ids = _lstm_video_scores(model, meta, baseline_dir, source,
                                                                  split, batch_size)
        metrics = {"video": binary_metrics(video_labels, video_probs, DECISION_THRESHOLD)}
    results = {
        "kind": meta["kind"], "split": split, "baseline": str(baseline_dir), "source": str(source),
        "seed": meta["seed"], **metrics,
        "training": {k: meta.get(k) for k in ("training", "data", "epochs_run", "best_epoch",
                                              "strategy", "weights_source", "features")
                     if k in meta},
        "versions": package_versions(),
    }
    if note:
        results["note"] = note
    with open(out_dir / "video_scores.csv", "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["video_id", "label", "fake_probability"])
        for video_id, label, prob in zip(video_ids, video_labels, video_probs):
            writer.writerow([video_id, int(label), repr(float(prob))])  # exact: ties matter for AUC
    if figures:
        from tfdeepfake.evaluation.plots import plot_confusion_matrix, plot_roc_curves

        name = "Xception" if meta["kind"] == "xception" else "LSTM"
        plot_roc_curves({name: (video_labels, video_probs)}, out_dir / "roc_video.png",
                        title=f"ROC, videos ({split})")
        plot_confusion_matrix(video_labels, video_probs, out_dir / "confusion_video.png",
                              threshold=DECISION_THRESHOLD, title=f"{name} (videos, {split})")
    results = json_ready(results)
    (out_dir / "results.md").write_text(_results_markdown(results), "utf-8")
    (out_dir / RESULTS_FILE).write_text(json.dumps(results, indent=2, sort_keys=True), "utf-8")
    return results


# -- Grad-CAM ---------------------------------------------------------------------------


def _grid(images: list[np.ndarray], columns: int = 4) -> np.ndarray:
    """Same-sized RGB images in rows of ``columns`` (the last row padded with black)."""
    columns = min(columns, len(images))
    blank = np.zeros_like(images[0])
    padded = list(images) + [blank] * (-len(images) % columns)
    rows = [np.concatenate(padded[i:i + columns], axis=1) for i in range(0, len(padded), columns)]
    return np.concatenate(rows, axis=0)


def explain_video(
    video_path: str | os.PathLike,
    baseline_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    num_frames: int = 8,
    *,
    target_class: int = FAKE,
    alpha: float = 0.4,
    layer_name: str | None = None,
) -> dict:
    """Grad-CAM heat maps of an Xception baseline on the faces of one video.

    Samples ``num_frames`` frames, crops the face at the model's input size with the face
    settings the baseline was trained on, and writes one PNG overlay per face
    (``<video>_frame<index>.png``), a grid of them (``<video>_gradcam_grid.png``) and
    ``<video>_explain.json``. Returns the paths, per-frame fake probabilities, the video's
    score (their mean) and verdict. Raises ``NoFaceError`` / ``VideoReadError`` naming the
    file when no face can be read.
    """
    import cv2

    from tfdeepfake.faces.pipeline import faces_of_video
    from tfdeepfake.faces.detector import get_detector
    from tfdeepfake.models.gradcam import grad_cam, save_overlays
    from tfdeepfake.models.xception import XCEPTION_LAST_CONV_LAYER

    model, meta = load_baseline(baseline_dir)
    if meta["kind"] != "xception":
        raise ValueError(f"{baseline_dir}: Grad-CAM needs an Xception baseline, this one is "
                         f"{meta['kind']!r}")
    size = int(meta["input_size"])
    settings = dict(meta.get("face_settings") or {})
    settings.update(num_frames=int(num_frames), size=size)
    if settings.get("sampling") == "stride":
        settings["sampling"] = "uniform"
    valid = {f.name for f in dataclasses.fields(FaceSettings)}
    config = FaceSettings.from_dict({k: v for k, v in settings.items() if k in valid})
    arrays, _ = faces_of_video(video_path, config, get_detector(config.detector))
    faces = arrays["faces"]
    probs = np.asarray(model.predict(faces.astype(np.float32), verbose=0), np.float64).reshape(-1)
    heatmaps = grad_cam(model, faces, layer_name=layer_name or XCEPTION_LAST_CONV_LAYER,
                        target_class=target_class, output_size=(size, size))
    out_dir = Path(out_dir)
    stem = Path(video_path).stem
    names = [f"{stem}_frame{int(i):05d}" for i in arrays["frame_indices"]]
    overlays = save_overlays(out_dir, faces, heatmaps, names=names, alpha=alpha)
    grid_images = [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in overlays]
    grid_path = out_dir / f"{stem}_gradcam_grid.png"
    if not cv2.imwrite(str(grid_path), cv2.cvtColor(_grid(grid_images), cv2.COLOR_RGB2BGR)):
        raise OSError(f"could not write {grid_path}")
    video_prob = float(np.mean(probs))
    summary = {
        "video": str(video_path),
        "baseline": str(baseline_dir),
        "target_class": LABEL_NAMES[target_class],
        "fake_probability": video_prob,
        "verdict": LABEL_NAMES[FAKE] if video_prob >= DECISION_THRESHOLD else LABEL_NAMES[REAL],
        "frames_sampled": int(len(arrays["sampled_indices"])),
        "faces_found": int(len(faces)),
        "frames": [{"frame_index": int(i), "fake_probability": float(p), "overlay": str(path)}
                   for i, p, path in zip(arrays["frame_indices"], probs, overlays)],
        "overlays": [str(p) for p in overlays],
        "grid": str(grid_path),
    }
    json_path = out_dir / f"{stem}_explain.json"
    summary["json"] = str(json_path)
    json_path.write_text(json.dumps(summary, indent=2), "utf-8")
    logger.info("Grad-CAM of %s: %d faces, fake probability %.3f -> %s", video_path, len(faces),
                video_prob, out_dir)
    return summary


__all__ = [
    "BASELINE_FILE",
    "BaselineError",
    "KINDS",
    "LSTM_FEATURES",
    "WEIGHTS_FILE",
    "evaluate_baseline",
    "explain_video",
    "load_baseline",
    "load_feature_extractor",
    "read_baseline_meta",
    "train_lstm_baseline",
    "train_xception_baseline",
]
