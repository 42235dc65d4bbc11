"""videos -> sampled frames -> MTCNN faces -> the face cache, resumably.

A video is committed whole or not at all; a video that fails is recorded with its reason
and the run goes on; a rerun skips finished videos (and failed ones unless asked) once their
manifest row and file are checked unchanged (``cache.sources``: a change is refused unless
``reextract_changed``). A file
we may not read (permission denied) is not recorded: the next run tries it again. A full
disk stops the run at once with one ``DiskFullError`` that says how much was saved.

Worker processes watch their parent and end when it is gone (``kill -9`` of the run), and a
run leaves a marker beside the cache while it works: the next run says when the last one
was killed and that its workers stopped with it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import multiprocessing
import os
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable


from tfdeepfake.cache.faces import face_store
from tfdeepfake.cache.files import DiskFullError, pid_alive
from tfdeepfake.cache.sources import file_fingerprint, plan_rerun
from tfdeepfake.datasets.records import VideoRecord, utf8_encodable
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
    unreadable: str = ""  # "partly unreadable: frames a–b" for a damaged video read in part
    recorded: bool = True  # False: a failure not remembered (tried again by the next run)


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
    partly_unreadable: list[dict] = field(default_factory=list)
    interrupted_runs: list[str] = field(default_factory=list)  # what the last runs left
    # Cached videos whose manifest row or file had changed, extracted again on request.
    reextracted: list[dict] = field(default_factory=list)

    def add(self, outcome: VideoOutcome) -> None:
        if outcome.status == "done":
            self.done += 1
            if outcome.unreadable:
                self.partly_unreadable.append({"video_id": outcome.video_id,
                                               "frames": outcome.unreadable})
        elif outcome.status == "failed":
            self.failed += 1
            self.failures.append({"video_id": outcome.video_id, "reason": outcome.reason,
                                  "retried_next_run": not outcome.recorded})
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
    store = face_store(store_path, config)  # parts record the settings they were made with
    detector = detector or get_detector(config.detector)
    path = record.full_path
    if not all(utf8_encodable(text) for text in (record.video_id, record.root, record.path)):
        # HDF5 stores names as UTF-8: a part for this video could not be written, and a
        # failure recorded under its id could not either. Said on every run until renamed.
        reason = str(VideoReadError(path, "file name is not valid UTF-8; the cache cannot "
                                          "store it (rename the file)"))
        logger.warning("skipping %s: %s", ascii(record.video_id), reason)
        return VideoOutcome(record.video_id, "failed", reason=reason, recorded=False,
                            seconds=time.perf_counter() - started)
    # Taken before decoding, so a file replaced meanwhile shows as changed on the next run.
    fingerprint = file_fingerprint(path)
    try:
        arrays, video_attrs = faces_of_video(path, config, detector)
    except (VideoReadError, NoFaceError, ValueError, OSError) as error:
        reason = str(error)
        if getattr(error, "transient", False) or isinstance(error, PermissionError):
            logger.warning("skipping %s for now: %s (not recorded; the next run tries it again)",
                           record.video_id, reason)
            return VideoOutcome(record.video_id, "failed", reason=reason, recorded=False,
                                seconds=time.perf_counter() - started)
        logger.warning("skipping %s: %s", record.video_id, reason)
        store.stage_failure(record.video_id, reason, _record_attrs(record))
        return VideoOutcome(record.video_id, "failed", reason=reason,
                            seconds=time.perf_counter() - started)
    seconds = time.perf_counter() - started
    store.stage_video(record.video_id, arrays,
                      {**_record_attrs(record), **fingerprint, **video_attrs,
                       "seconds": seconds})
    return VideoOutcome(record.video_id, "done", frames=len(arrays["sampled_indices"]),
                        faces=len(arrays["faces"]), seconds=seconds,
                        unreadable=str(video_attrs.get("unreadable") or ""))


# Worker processes build their detector once, in the initializer.
_worker_config: FaceSettings | None = None
# How often a worker checks that its parent is alive.
PARENT_POLL_SECONDS = 0.5


def _marker(cache_path: Path, pid: int, kind: str) -> Path:
    """``.<cache>.<pid>.run`` (a run at work) or ``.<cache>.<pid>.stopped`` (a worker that
    ended because its run was gone), beside the cache."""
    return cache_path.with_name(f".{cache_path.name}.{pid}.{kind}")


def _watch_parent(parent_pid: int, cache_path: Path) -> None:
    """In each worker: end it when its parent is gone, leaving a note for the next run.
    A thread, so it acts while the worker's main thread is busy inside TensorFlow."""
    while os.getppid() == parent_pid:
        time.sleep(PARENT_POLL_SECONDS)
    try:
        _marker(cache_path, os.getpid(), "stopped").write_text(
            json.dumps({"worker": os.getpid(), "parent": parent_pid,
                        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z")}), "utf-8")
    finally:
        os._exit(1)


def _init_worker(config_dict: dict, parent_pid: int, cache_path: str) -> None:
    global _worker_config
    threading.Thread(target=_watch_parent, args=(parent_pid, Path(cache_path)), daemon=True,
                     name="watch-parent").start()
    logging.basicConfig(level=logging.WARNING)
    _worker_config = FaceSettings.from_dict(config_dict)
    get_detector(_worker_config.detector)


def _previous_runs(cache_path: Path) -> list[str]:
    """What runs on this cache that were killed left behind, said once and cleared."""
    notes = []
    prefix = f".{cache_path.name}."
    folder = cache_path.parent
    if not folder.is_dir():
        return notes
    found = [p for p in folder.iterdir() if p.name.startswith(prefix)
             and p.suffix in (".run", ".stopped")]
    stopped: dict[int, int] = {}
    for note in (p for p in found if p.suffix == ".stopped"):
        try:
            parent = int(json.loads(note.read_text("utf-8"))["parent"])
        except (OSError, ValueError, KeyError, TypeError):
            parent = -1
        stopped[parent] = stopped.get(parent, 0) + 1
        note.unlink(missing_ok=True)
    for run in (p for p in found if p.suffix == ".run"):
        pid = run.name[len(prefix):-len(".run")]
        if not pid.isdigit() or pid_alive(int(pid)) or int(pid) == os.getpid():
            continue
        try:
            info = json.loads(run.read_text("utf-8"))
        except (OSError, ValueError):
            info = {}
        workers = int(info.get("workers") or 1)
        line = (f"the extract run of pid {pid} (started {info.get('started', '?')}) was killed "
                "before it finished")
        if workers > 1:
            ended = stopped.pop(int(pid), 0)
            line += (f"; {ended} of its {workers} worker processes stopped with it" if ended else
                     f"; its {workers} worker processes had already ended")
        notes.append(line + "; videos it had finished are kept, the ones in flight are redone")
        run.unlink(missing_ok=True)
    for parent, count in stopped.items():
        notes.append(f"{count} worker process(es) of a killed extract run (pid {parent}) "
                     "stopped with it")
    for line in notes:
        logger.warning("%s: %s", cache_path, line)
    return notes


def _work(record: VideoRecord, store_path: str) -> VideoOutcome:
    return process_record(record, store_path, _worker_config)


def run_extract(records: Iterable[VideoRecord], cache_path: str | os.PathLike,
                config: FaceSettings | None = None, workers: int = 1, retry_failed: bool = False,
                on_video: Callable[[VideoOutcome], None] | None = None,
                reextract_changed: bool = False) -> ExtractSummary:
    """Extract faces of ``records`` into the cache at ``cache_path``.

    Finished videos are skipped; failed ones too unless ``retry_failed``. A finished video
    whose manifest row or file changed is refused (``SourceChangedError``) unless
    ``reextract_changed``. Staged results are committed at the end, also when interrupted
    (KeyboardInterrupt is re-raised after).
    """
    config = config or FaceSettings()
    started = time.perf_counter()
    cache_path = Path(cache_path)
    store = face_store(cache_path, config)
    summary = ExtractSummary(interrupted_runs=_previous_runs(cache_path))
    with _saying_what_is_saved(store, cache_path):
        store.commit()  # absorb what an interrupted run left staged
        plan = plan_rerun(records, store, retry_failed=retry_failed,
                          reextract_changed=reextract_changed)
    todo = plan.todo
    summary.videos = len(plan.todo) + len(plan.skipped)
    summary.skipped = len(plan.skipped)
    summary.reextracted = [change.to_dict() for change in plan.changed]
    for video_id in plan.skipped:
        if on_video:
            on_video(VideoOutcome(video_id, "skipped"))

    def finish(outcome: VideoOutcome) -> None:
        summary.add(outcome)
        if on_video:
            on_video(outcome)

    marker = _marker(cache_path, os.getpid(), "run")
    try:
        marker.write_text(json.dumps({"pid": os.getpid(), "workers": workers,
                                      "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}), "utf-8")
    except OSError as error:  # only the next run's note is lost
        logger.debug("%s: %s", marker, error)
    try:
        with _saying_what_is_saved(store, cache_path):
            try:
                if workers <= 1:
                    detector = get_detector(config.detector)
                    for record in todo:
                        finish(process_record(record, str(cache_path), config, detector))
                else:
                    _run_pool(todo, str(cache_path), config, workers, finish)
            except DiskFullError:
                raise  # no merge: it needs room for a copy of the cache
            except BaseException:
                store.commit()
                raise
            store.commit()
    finally:
        marker.unlink(missing_ok=True)
        summary.seconds = time.perf_counter() - started
    return summary


@contextlib.contextmanager
def _saying_what_is_saved(store, cache_path: Path):
    """The first full-disk error, as one ``DiskFullError`` that also says what is saved
    (committed and staged videos stay readable; the next run merges the staged ones)."""
    try:
        yield
    except DiskFullError as error:
        if error.saved:
            raise
        try:
            saved = f"{len(store.done_ids())} videos saved in {cache_path}"
        except OSError:
            saved = f"the videos finished before are kept in {cache_path}"
        raise DiskFullError(error.path, saved) from error


def _run_pool(todo: list[VideoRecord], store_path: str, config: FaceSettings, workers: int,
              finish: Callable[[VideoOutcome], None]) -> None:
    # TensorFlow does not survive fork; spawn fresh interpreters.
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_init_worker,
                               initargs=(config.to_dict(), os.getpid(), store_path))
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
                except (BrokenProcessPool, DiskFullError):
                    # The pool is gone (a worker was killed), or the disk is full: nothing
                    # is recorded, so the videos not done are retried by the next run.
                    raise
                except Exception as error:  # one bad video must not stop the batch
                    reason = f"worker error: {error!r}"
                    logger.error("%s: %s", record.video_id, reason)
                    face_store(store_path, config).stage_failure(record.video_id, reason)
                    finish(VideoOutcome(record.video_id, "failed", reason=reason))
                next_record = next(queue, None)
                if next_record is not None:
                    pending[pool.submit(_work, next_record, store_path)] = next_record
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
