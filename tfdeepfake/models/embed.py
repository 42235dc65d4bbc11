"""faces cache -> FaceNet embeddings cache, resumably (like extract).

The embedding cache's settings are ``{"facenet": identity.to_dict(), "face_settings": ...}``:
what made the vectors. Resuming with another FaceNet (other key, weights or seed) is refused,
so one cache never mixes embeddings of two networks. Every manifest attribute the face
cache holds for a video (dataset, method, source, path, ...) is copied to its embedding
group, so later stages can group videos (e.g. by identity) without the manifest.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np

from tfdeepfake.cache.embeddings import embedding_store
from tfdeepfake.cache.faces import face_store, iter_face_videos
from tfdeepfake.cache.store import CacheError
from tfdeepfake.models.facenet import FaceNetEmbedder, FaceNetIdentity

logger = logging.getLogger(__name__)

# The store writes video_id itself; "seconds" timed the face extraction, not the embedding.
_NOT_COPIED = {"video_id", "seconds"}


def stage_embeddings(store, video, embeddings: np.ndarray) -> None:
    """Stage one face video's embeddings with its attributes (label, split, source, ...)."""
    attrs = {k: v for k, v in video.attrs.items() if k not in _NOT_COPIED}
    attrs.update(label=video.label, split=video.split, dataset=video.dataset)
    store.stage_video(video.video_id, {"embeddings": np.asarray(embeddings, np.float32),
                                       "frame_indices": video.frame_indices}, attrs)


def open_output(face_cache, output, embedder: FaceNetEmbedder):
    """``(face store, embedding store)`` for embedding ``face_cache`` into ``output``:
    crops of the network's size, and an output made by the same network (or new)."""
    faces = face_store(face_cache)
    face_settings = faces.stored_settings()
    size = face_settings.get("size")
    if size is not None and int(size) != embedder.input_size:
        raise ValueError(f"{face_cache}: faces are {size} px, {embedder.identity.label()} "
                         f"takes {embedder.input_size} px; re-extract with --size "
                         f"{embedder.input_size}")
    store = embedding_store(output, _settings_for(output, embedding_settings(embedder,
                                                                             face_settings)))
    store.commit()
    return faces, store


@dataclass
class EmbedSummary:
    videos: int = 0
    done: int = 0
    skipped: int = 0
    failed: int = 0  # damaged videos of the face cache, named in the log; retried on a rerun
    frames: int = 0
    seconds: float = 0.0
    random_init: bool = False
    facenet: str = ""  # the identity's label, e.g. "FaceNet 20170512-110547 (pretrained)"

    def to_dict(self) -> dict:
        return asdict(self)


def embedding_settings(embedder: FaceNetEmbedder, face_settings: dict) -> dict:
    """What identifies the embeddings: same settings, same vectors."""
    return {"facenet": embedder.identity.to_dict(), "face_settings": face_settings}


def _settings_for(output, wanted: dict) -> dict:
    """The settings to open ``output`` with: its own when it was made by the same network
    (the probe is compared with a tolerance, not bit for bit), else ``wanted``."""
    stored = embedding_store(output).stored_settings() if os.path.exists(output) else {}
    if not stored:
        return wanted
    try:
        recorded = FaceNetIdentity.from_dict(stored.get("facenet"))
    except ValueError as error:
        raise CacheError(f"{output}: its settings record no usable FaceNet identity ({error}); "
                         "choose another output path") from None
    current = FaceNetIdentity.from_dict(wanted["facenet"])
    problem = recorded.matches(current)
    if problem:
        raise CacheError(f"{output}: made with {recorded.label()}, not {current.label()} "
                         f"({problem}); use another output path or the same FaceNet")
    if stored.get("face_settings") != wanted["face_settings"]:
        return wanted  # the store names the differing settings
    return stored


def run_embed(face_cache: str | os.PathLike, output: str | os.PathLike,
              embedder: FaceNetEmbedder, batch_size: int = 32,
              on_video: Callable[[str, str], None] | None = None) -> EmbedSummary:
    """Embed every video of ``face_cache`` not yet in ``output``."""
    if not isinstance(embedder, FaceNetEmbedder):
        raise TypeError(f"embedder must be a FaceNetEmbedder (load_facenet), got "
                        f"{type(embedder).__name__}")
    started = time.perf_counter()
    faces, store = open_output(face_cache, output, embedder)
    done = store.done_ids()
    summary = EmbedSummary(random_init=embedder.identity.random_init,
                           facenet=embedder.identity.label())
    every = faces.done_ids()
    summary.videos = len(every)
    for video_id in sorted(every & done):
        summary.skipped += 1
        if on_video:
            on_video(video_id, "skipped")
    try:
        # Only the videos still to embed are read from the face cache.
        def damaged(video_id: str, reason: str) -> None:
            logger.warning("%s", reason)
            summary.failed += 1
            if on_video:
                on_video(video_id, "failed")

        for video in iter_face_videos(face_cache, video_ids=every - done, on_damaged=damaged):
            embeddings = embedder.embed(video.faces, batch_size=batch_size)
            stage_embeddings(store, video, embeddings)
            summary.done += 1
            summary.frames += len(embeddings)
            if on_video:
                on_video(video.video_id, "done")
    finally:
        store.commit()
        summary.seconds = time.perf_counter() - started
    return summary
