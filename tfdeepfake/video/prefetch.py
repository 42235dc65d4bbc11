"""Decode the next videos while the current one is scored: a reader thread, bounded.

OpenCV's FFmpeg decoding and TensorFlow's kernels both release the GIL, so one thread
decoding video n+1 overlaps with detection and FaceNet on video n. At most ``depth``
decoded videos wait in the queue (25 frames of 1080p RGB are ~155 MB each), so memory
stays bounded whatever the number of paths.
"""

from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator

logger = logging.getLogger(__name__)

_DONE = object()


@dataclass
class Prefetched:
    """What ``read(path)`` returned for one path (``value``), or the error it raised."""

    path: Any
    value: Any = None
    error: BaseException | None = None
    seconds: float = 0.0  # time spent reading it in the thread


def prefetch(paths: Iterable[Any], read: Callable[[Any], Any], depth: int = 1) -> Iterator[Prefetched]:
    """``read(path)`` for each path in order, run ``depth`` paths ahead in one thread.

    Errors (``Exception``) are handed over with their path instead of stopping the thread.
    Closing the iterator early (``break``) stops the thread after the read in progress.
    """
    import time

    if depth < 1:
        raise ValueError(f"depth must be >= 1, got {depth}")
    # The queue holds `depth` finished reads; the thread may hold one more while it waits to
    # put it, so at most depth + 1 decoded videos exist besides the one being scored.
    results: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                results.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def worker() -> None:
        try:
            for path in paths:
                if stop.is_set():
                    return
                started = time.perf_counter()
                try:
                    item = Prefetched(path, value=read(path))
                except Exception as error:  # handed to the consumer with its path
                    item = Prefetched(path, error=error)
                item.seconds = time.perf_counter() - started
                if not put(item):
                    return
        finally:
            put(_DONE)

    thread = threading.Thread(target=worker, name="video-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item = results.get()
            if item is _DONE:
                return
            yield item
    finally:
        stop.set()
        thread.join()
