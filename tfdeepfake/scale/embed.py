"""``embed`` as a Beam pipeline: video ids of a face cache -> batches of videos -> FaceNet
(built once per worker, one ``embed`` call per batch of videos) -> per-video staged parts ->
one merge into the embedding cache ``train``/``evaluate`` read.

Exactly once as in :mod:`tfdeepfake.scale.extract`: a part is named by its video id and
written by atomic rename, so a retried batch replaces its parts; a rerun skips embedded
videos. The face cache is only read while the pipeline runs (HDF5 allows many readers).
"""

from __future__ import annotations

import logging
import time
from typing import Callable

import apache_beam as beam
import numpy as np
from apache_beam.metrics import Metrics

from tfdeepfake.cache.embeddings import embedding_store
from tfdeepfake.cache.faces import iter_face_videos
from tfdeepfake.models.embed import EmbedSummary, open_output, stage_embeddings
from tfdeepfake.scale.extract import beam_counters
from tfdeepfake.scale.options import pipeline_options
from tfdeepfake.scale.running import run_pipeline

logger = logging.getLogger(__name__)

NAMESPACE = "tfdeepfake.embed"


class FaceNetFromIdentity:
    """Builds the recorded FaceNet on a worker (picklable; weights must be installed there,
    or ``weights_path`` readable by every worker)."""

    def __init__(self, identity: dict, weights_path: str | None = None):
        self.identity, self.weights_path = identity, weights_path

    def __call__(self):
        from tfdeepfake.models.facenet import FaceNetIdentity

        return FaceNetIdentity.from_dict(self.identity).build(self.weights_path)


class EmbedVideosFn(beam.DoFn):
    """A batch of video ids -> their faces -> one FaceNet pass -> one staged part per video."""

    def __init__(self, face_cache: str, output: str, settings: dict, make_embedder: Callable,
                 batch_size: int = 32):
        self.face_cache, self.output, self.settings = face_cache, output, settings
        self.make_embedder, self.batch_size = make_embedder, batch_size
        self.done = Metrics.counter(NAMESPACE, "videos_done")
        self.damaged = Metrics.counter(NAMESPACE, "videos_damaged")
        self.frames = Metrics.counter(NAMESPACE, "frames")
        self.read_ms = Metrics.counter(NAMESPACE, "read_ms")
        self.embed_ms = Metrics.counter(NAMESPACE, "embed_ms")
        self.stage_ms = Metrics.counter(NAMESPACE, "stage_write_ms")

    def setup(self):
        self._embedder = self.make_embedder()  # once per worker, not per batch

    def process(self, video_ids: list[str]):
        started = time.perf_counter()

        def damaged(video_id: str, reason: str) -> None:
            # As the local embed: named in the log, passed over, retried on a rerun.
            logger.warning("%s", reason)
            self.damaged.inc()

        videos = list(iter_face_videos(self.face_cache, video_ids=video_ids,
                                       on_damaged=damaged))
        read = time.perf_counter()
        faces = np.concatenate([v.faces for v in videos]) if videos else np.zeros((0,))
        embeddings = (self._embedder.embed(faces, batch_size=self.batch_size)
                      if len(faces) else np.zeros((0, 0), np.float32))
        embedded = time.perf_counter()
        store = embedding_store(self.output, self.settings)
        offset = 0
        for video in videos:
            rows = embeddings[offset:offset + len(video.faces)]
            offset += len(video.faces)
            stage_embeddings(store, video, rows)
            self.done.inc()
            self.frames.inc(len(rows))
            yield video.video_id
        finished = time.perf_counter()
        self.read_ms.inc(int(1000 * (read - started)))
        self.embed_ms.inc(int(1000 * (embedded - read)))
        self.stage_ms.inc(int(1000 * (finished - embedded)))


def run_beam_embed(face_cache, output, embedder, *, make_embedder: Callable | None = None,
                   weights_path: str | None = None, batch_size: int = 32,
                   videos_per_batch: int = 8, runner: str = "direct", workers: int = 1,
                   beam_options=()) -> tuple[EmbedSummary, dict[str, int]]:
    """``run_embed`` on Beam. ``embedder`` (a FaceNetEmbedder built here) fixes the identity
    recorded in ``output``; workers build the same network with ``make_embedder`` (default:
    from the identity, probe-checked)."""
    from pathlib import Path

    started = time.perf_counter()
    options = pipeline_options(runner, workers, beam_options)  # a bad option: before any work
    face_cache, output = Path(face_cache).absolute(), Path(output).absolute()
    faces, store = open_output(face_cache, output, embedder)
    settings = store.stored_settings()
    every, done = faces.done_ids(), store.done_ids()
    todo = sorted(every - done)
    summary = EmbedSummary(videos=len(every), skipped=len(every & done),
                           random_init=embedder.identity.random_init,
                           facenet=embedder.identity.label())
    counters: dict[str, int] = {}
    if todo:
        make_embedder = make_embedder or FaceNetFromIdentity(embedder.identity.to_dict(),
                                                             weights_path)
        pipeline = beam.Pipeline(options=options)
        _ = (pipeline
             | "VideoIds" >> beam.Create(todo)
             | "Spread" >> beam.Reshuffle()
             # Several videos per FaceNet call keeps its batches full (videos have few faces).
             | "Batch" >> beam.BatchElements(min_batch_size=1, max_batch_size=videos_per_batch)
             | "Embed" >> beam.ParDo(EmbedVideosFn(str(face_cache), str(output),
                                                   settings, make_embedder, batch_size)))
        try:
            result = run_pipeline(pipeline)
        finally:
            store.commit()
        counters = beam_counters(result, NAMESPACE)
        summary.done = len(store.done_ids() & set(todo))  # the cache, not retried attempts
        # The pipeline succeeded, so every video not embedded was passed over as damaged.
        summary.failed = len(todo) - summary.done
        summary.frames = counters.get("frames", 0)
    summary.seconds = time.perf_counter() - started
    return summary, counters
