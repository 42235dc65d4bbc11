"""faces cache -> FaceNet embeddings cache, resumably (like extract)."""

from __future__ import annotations

import logging
import os
import time
from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np

from tfdeepfake.cache.embeddings import embedding_store
from tfdeepfake.cache.faces import face_store, iter_face_videos
from tfdeepfake.models.facenet import FACENET_MODEL, embed_faces, is_random_init

logger = logging.getLogger(__name__)


@dataclass
class EmbedSummary:
    videos: int = 0
    done: int = 0
    skipped: int = 0
    frames: int = 0
    seconds: float = 0.0
    random_init: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


def embedder_settings(embedder) -> dict:
    """What identifies the embeddings: same settings, same vectors."""
    random_init = is_random_init(embedder)
    return {
        "model": FACENET_MODEL.key,
        "random_init": random_init,
        "seed": int(getattr(embedder, "facenet_seed", 0)) if random_init else None,
        "weights_sha256": None if random_init else FACENET_MODEL.weights_sha256,
    }


def run_embed(face_cache: str | os.PathLike, output: str | os.PathLike, embedder,
              batch_size: int = 32,
              on_video: Callable[[str, str], None] | None = None) -> EmbedSummary:
    """Embed every video of ``face_cache`` not yet in ``output``."""
    started = time.perf_counter()
    faces = face_store(face_cache)
    settings = {**embedder_settings(embedder), "face_settings": faces.stored_settings()}
    store = embedding_store(output, settings)
    store.commit()
    done = store.done_ids()
    summary = EmbedSummary(random_init=settings["random_init"])
    every = faces.done_ids()
    summary.videos = len(every)
    for video_id in sorted(every & done):
        summary.skipped += 1
        if on_video:
            on_video(video_id, "skipped")
    try:
        # Only the videos still to embed are read from the face cache.
        for video in iter_face_videos(face_cache, video_ids=every - done):
            embeddings = embed_faces(embedder, video.faces, batch_size=batch_size)
            store.stage_video(video.video_id,
                              {"embeddings": embeddings.astype(np.float32),
                               "frame_indices": video.frame_indices},
                              {"label": video.label, "split": video.split, "dataset": video.dataset})
            summary.done += 1
            summary.frames += len(embeddings)
            if on_video:
                on_video(video.video_id, "done")
    finally:
        store.commit()
        summary.seconds = time.perf_counter() - started
    return summary
