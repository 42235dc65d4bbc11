"""videos -> sampled frames -> MTCNN faces -> the face cache, resumably.

A video is committed whole or not at all; a video that fails is recorded with its reason
and the run goes on; a rerun skips finished videos (and failed ones unless asked).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from tfdeepfake.cache.faces import face_store
from tfdeepfake.datasets.records import VideoRecord
from tfdeepfake.faces.detector import BatchFaceDetector, get_detector
from tfdeepfake.faces.pipeline import NoFaceError, faces_of_video
from tfdeepfake.faces.settings import FaceSettings
from tfdeepfake.video.reader import VideoReadError

logger = logging.getLogger(__name__)


@dataclass
class VideoOutcome:
    video_id: str
    status: str  # "done" | "failed" | "skipped"
    frames: int = 0
    faces: int = 0
    seconds: float = 0.0
    reason: str = ""


@dataclass
class ExtractSummary:
    videos: int = 0
    done: int = 0
    skipped: int = 0
    failed: int = 0
    frames: int = 0
    faces: int = 0
    seconds: float = 0.0
    failures: list[dict] = field(default_factory=list)

    def add(self, outcome: VideoOutcome) -> None:
        if outcome.status == "done":
            self.done += 1
        elif outcome.status == "failed":
            self.failed += 1
            self.failures.append({"video_id": outcome.video_id, "reason": outcome.reason})
        self.frames += outcome.frames
        self.faces += outcome.faces

    def to_dict(self) -> dict:
        return asdict(self)


def _record_attrs(record: VideoRecord) -> dict:
    return {k: ("" if v is None else v) for k, v in asdict(record).items()}


def process_record(record: VideoRecord, store_path: str, config: FaceSettings,
                   detector: BatchFaceDetector | None = None) -> VideoOutcome:
    """Extract one video and stage the result (or its failure) in the store."""
    started = time.perf_counter()
    store = face_store(store_path)  # settings were checked by the caller
    detector = detector or get_detector(config.detector)
    path = Path(record.root) / record.path
    try:
        arrays, video_attrs = faces_of_video(path, config, detector)
    except (VideoReadError, NoFaceError, ValueError, OSError) as error:
        reason = str(error)
        logger.warning("skipping %s: %s", record.video_id, reason)
        store.stage_failure(record.video_id, reason, _record_attrs(record))
        return VideoOutcome(record.video_id, "failed", reason=reason,
                            seconds=time.perf_counter() - started)
    seconds = time.perf_counter() - started
    store.stage_video(record.video_id, arrays,
                      {**_record_attrs(record), **video_attrs, "seconds": seconds})
    return VideoOutcome(record.video_id, "done", frames=len(arrays["sampled_indices"]),
                        faces=len(arrays["faces"]), seconds=seconds)


# Worker processes build their detector once, in the initializer.
_worker_config: FaceSettings | None = None


def _init_worker(config_dict: dict) -> None:
    global _worker_config
    logging.basicConfig(level=logging.WARNING)
    _worker_config = FaceSettings.from_dict(config_dict)
    get_detector(_worker_config.detector)


def _work(record: VideoRecord, store_path: str) -> VideoOutcome:
    return process_record(record, store_path, _worker_config)


def run_extract(records: Iterable[VideoRecord], cache_path: str | os.PathLike,
                config: FaceSettings | None = None, workers: int = 1, retry_failed: bool = False,
                on_video: Callable[[VideoOutcome], None] | None = None) -> ExtractSummary:
    """Extract faces of ``records`` into the cache at ``cache_path``.

    Finished videos are skipped; failed ones too unless ``retry_failed``. Staged results are
    committed at the end, also when interrupted (KeyboardInterrupt is re-raised after).
    """
    config = config or FaceSettings()
    started = time.perf_counter()
    store = face_store(cache_path, config)
    store.commit()  # absorb what an interrupted run left staged
    done, failed = store.done_ids(), store.failures()
    summary = ExtractSummary()
    todo: list[VideoRecord] = []
    for record in records:
        summary.videos += 1
        if record.video_id in done or (record.video_id in failed and not retry_failed):
            summary.skipped += 1
            if on_video:
                on_video(VideoOutcome(record.video_id, "skipped"))
            continue
        todo.append(record)

    def finish(outcome: VideoOutcome) -> None:
        summary.add(outcome)
        if on_video:
            on_video(outcome)

    try:
        if workers <= 1:
            detector = get_detector(config.detector)
            for record in todo:
                finish(process_record(record, str(cache_path), config, detector))
        else:
            _run_pool(todo, str(cache_path), config, workers, finish)
    finally:
        store.commit()
        summary.seconds = time.perf_counter() - started
    return summary


def _run_pool(todo: list[VideoRecord], store_path: str, config: FaceSettings, workers: int,
              finish: Callable[[VideoOutcome], None]) -> None:
    # TensorFlow does not survive fork; spawn fresh interpreters.
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_init_worker,
                               initargs=(config.to_dict(),))
    pending = {}
    queue = iter(todo)
    try:
        # Keep a bounded number of videos in flight so memory stays flat.
        for record in queue:
            pending[pool.submit(_work, record, store_path)] = record
            if len(pending) >= 2 * workers:
                break
        while pending:
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                record = pending.pop(future)
                try:
                    finish(future.result())
                except BrokenProcessPool:
                    # The pool is gone (a worker was killed): nothing is recorded, so the
                    # videos not done are simply retried by the next run.
                    raise
                except Exception as error:  # one bad video must not stop the batch
                    reason = f"worker error: {error!r}"
                    logger.error("%s: %s", record.video_id, reason)
                    face_store(store_path).stage_failure(record.video_id, reason)
                    finish(VideoOutcome(record.video_id, "failed", reason=reason))
                next_record = next(queue, None)
                if next_record is not None:
                    pending[pool.submit(_work, next_record, store_path)] = next_record
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
