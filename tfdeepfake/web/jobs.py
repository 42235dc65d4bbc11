"""Jobs of the web page: one worker thread and one queue per model, so each model runs one
video at a time (a model's networks are not shared between threads) and later uploads wait
their turn. Every job gets a folder named by its generated id under the server's work
folder; uploaded videos are deleted once scored, and old jobs' folders as newer ones finish.
Imports no web framework."""

from __future__ import annotations

import itertools
import logging
import os
import queue
import re
import shutil
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

JOB_ID = re.compile(r"^[0-9a-f]{32}$")
# What a finished job serves, by name in its URL: (key in the job's files, MIME type).
SERVED_FILES = {"frames.png": ("frames", "image/png"), "faces.png": ("faces", "image/png"),
                "heatmap.png": ("heatmap", "image/png"),
                "annotated.mp4": ("annotated", "video/mp4")}


@dataclass
class Job:
    id: str
    model: str
    name: str  # for display only: an uploaded file's name, or the picked video's
    video: Path
    folder: Path
    remove_video: bool  # an upload (ours to delete), not a video of the --videos folder
    status: str = "queued"  # queued | running | done | failed
    stage: str = "waiting for the model"
    fraction: float | None = None
    verdict: dict[str, Any] | None = None
    files: dict[str, Path] = field(default_factory=dict)
    error: str | None = None
    created: float = field(default_factory=time.time)
    seq: int = field(default_factory=itertools.count().__next__)  # order of submission
    finished: float | None = None

    def progress(self, stage: str, fraction: float | None) -> None:
        self.stage, self.fraction = stage, fraction


class _Model:
    """One model's queue, worker thread and (once loaded) ``VideoDetector``."""

    def __init__(self, name: str, source, people: bool = False):
        self.name = name
        self.source = source  # a model folder, or a loaded Detector (tests)
        self.people = people  # judge every person (detect --people)
        self.queue: queue.Queue = queue.Queue()
        self.detector = None
        self.state = "loading"  # loading | ready | failed
        self.error: str | None = None
        self.thread = threading.Thread(target=self._work, name=f"tfdeepfake-{name}", daemon=True)

    def _load(self) -> None:
        from tfdeepfake.detect import VideoDetector

        try:
            self.detector = VideoDetector(self.source, people=self.people)
            self.state = "ready"
            logger.info("model %s ready (%s)", self.name, self.detector.detector.name)
        except Exception as error:  # shown on the page; the server keeps serving others
            logger.exception("model %s failed to load", self.name)
            self.state, self.error = "failed", f"model {self.name} could not be loaded: {error}"

    def _work(self) -> None:
        self._load()
        while True:
            job = self.queue.get()
            if job is None:
                return
            self._run(job)

    def _run(self, job: Job) -> None:
        from tfdeepfake.visualize.run import visualize_video

        job.status = "running"
        try:
            if self.detector is None:
                raise RuntimeError(self.error or "the model is not loaded")
            verdict, written = visualize_video(
                self.detector, job.video, report_dir=job.folder / "report",
                annotate_to=job.folder / "annotated.mp4", progress=job.progress, name=job.name)
            job.files = {key: Path(path) for key, path in written.items()}
            job.verdict = verdict
            job.status = "done"
        except Exception as error:  # one bad video never stops the worker
            logger.exception("job %s (%s) failed", job.id, job.name)
            job.error, job.status = str(error), "failed"
        finally:
            job.finished = time.time()
            job.stage, job.fraction = "finished", None
            if job.remove_video:
                job.video.unlink(missing_ok=True)


class JobQueue:
    """Jobs by id over named models; ``close()`` stops the workers and removes the work
    folder when this object made it."""

    def __init__(self, models: dict[str, Any], work_dir: str | os.PathLike | None = None,
                 keep_jobs: int = 50, people: bool = False):
        if not models:
            raise ValueError("no models to serve")
        self._own_dir = work_dir is None
        self.work_dir = Path(work_dir or tempfile.mkdtemp(prefix="tfdeepfake-serve-"))
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.keep_jobs = keep_jobs
        self.models = {name: _Model(name, source, people) for name, source in models.items()}
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        for model in self.models.values():
            model.thread.start()

    def new_folder(self) -> tuple[str, Path]:
        """A fresh job id and its (empty) folder, before the job is submitted."""
        job_id = uuid.uuid4().hex
        folder = self.work_dir / job_id
        folder.mkdir()
        return job_id, folder

    def submit(self, job_id: str, folder: Path, model: str, video: Path, name: str,
               remove_video: bool) -> Job:
        if model not in self.models:
            raise KeyError(f"no model {model!r}")
        job = Job(job_id, model, name, video, folder, remove_video)
        with self._lock:
            self._jobs[job_id] = job
        self.models[model].queue.put(job)
        self._forget_old()
        return job

    def get(self, job_id: str) -> Job | None:
        if not JOB_ID.match(job_id or ""):
            return None
        with self._lock:
            return self._jobs.get(job_id)

    def position(self, job: Job) -> int:
        """How many jobs of the same model are ahead of a queued job."""
        with self._lock:
            return sum(1 for other in self._jobs.values()
                       if other.model == job.model and other.seq < job.seq
                       and other.status in ("queued", "running"))

    def _forget_old(self) -> None:
        with self._lock:
            finished = sorted((j for j in self._jobs.values() if j.finished is not None),
                              key=lambda j: j.finished)
            old = finished[:max(0, len(finished) - self.keep_jobs)]
            for job in old:
                del self._jobs[job.id]
        for job in old:
            shutil.rmtree(job.folder, ignore_errors=True)

    def close(self, timeout: float = 5.0) -> None:
        for model in self.models.values():
            model.queue.put(None)
        for model in self.models.values():
            model.thread.join(timeout)
        if self._own_dir:
            shutil.rmtree(self.work_dir, ignore_errors=True)


__all__ = ["JOB_ID", "Job", "JobQueue", "SERVED_FILES"]
