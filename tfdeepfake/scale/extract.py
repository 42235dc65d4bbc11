"""``extract`` as a Beam pipeline: manifest rows -> one ``ParDo`` that decodes, detects and
crops a video (MTCNN built once per worker) -> per-video staged parts -> one merge into the
face cache ``embed``/``train`` read.

Exactly once: the shards are the face store's staged parts, one file per video named by its
video id and written by atomic rename (``VideoStore.stage_video``/``stage_failure``). A
bundle the runner retries writes the same names again, so a retried or speculatively
duplicated video replaces its part instead of adding a second copy; the final
``VideoStore.commit`` merges each video id once. A run that dies keeps its parts: the next
run merges them first and skips those videos, exactly like ``tfdeepfake extract``; a cached
video whose manifest row or file changed is refused or re-extracted by the same rule
(``cache.sources.plan_rerun``).

The cache's folder must be one every worker can write (the local disk for the direct
runner; a shared mount such as NFS/EFS/Filestore for Flink, Spark or Dataflow).
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from dataclasses import asdict
from pathlib import Path
from typing import Iterable

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.metrics.metric import MetricsFilter

from tfdeepfake.cache.extract import ExtractSummary, VideoOutcome, process_record
from tfdeepfake.cache.faces import face_store
from tfdeepfake.cache.files import DiskFullError
from tfdeepfake.cache.sources import plan_rerun
from tfdeepfake.datasets.records import VideoRecord
from tfdeepfake.faces.settings import FaceSettings
from tfdeepfake.scale.options import pipeline_options
from tfdeepfake.scale.running import run_pipeline

logger = logging.getLogger(__name__)

NAMESPACE = "tfdeepfake.extract"


class ExtractVideoFn(beam.DoFn):
    """One video -> its staged part (faces or a recorded failure) -> its outcome as a dict."""

    def __init__(self, cache_path: str, settings: dict):
        self.cache_path = cache_path
        self.settings = settings
        self.done = Metrics.counter(NAMESPACE, "videos_done")
        self.failed = Metrics.counter(NAMESPACE, "videos_failed")
        self.frames = Metrics.counter(NAMESPACE, "frames")
        self.faces = Metrics.counter(NAMESPACE, "faces")
        self.extract_ms = Metrics.counter(NAMESPACE, "extract_ms")  # decode + detect + crop
        self.stage_ms = Metrics.counter(NAMESPACE, "stage_write_ms")  # writing the part
        self.setup_ms = Metrics.counter(NAMESPACE, "worker_setup_ms")
        self.video_ms = Metrics.distribution(NAMESPACE, "video_ms")

    def setup(self):
        # Once per DoFn instance (per worker thread/process), not per element: building
        # MTCNN traces its graphs, seconds that would otherwise be paid per video.
        from tfdeepfake.faces.detector import get_detector

        started = time.perf_counter()
        self._config = FaceSettings.from_dict(self.settings)
        self._detector = get_detector(self._config.detector)
        self._setup_ms = int(1000 * (time.perf_counter() - started))
        self._setup_counted = False

    def process(self, record: VideoRecord):
        if not self._setup_counted:  # counters cannot be updated in setup()
            self.setup_ms.inc(self._setup_ms)
            self._setup_counted = True
        started = time.perf_counter()
        try:
            outcome = process_record(record, self.cache_path, self._config, self._detector)
        except DiskFullError:
            raise  # stops the pipeline, as in extract; staged videos are kept
        except Exception as error:  # one bad video must not stop the batch (as extract's pool)
            reason = f"worker error: {error!r}"
            logger.error("%s: %s", record.video_id, reason)
            face_store(self.cache_path, self._config).stage_failure(record.video_id, reason)
            outcome = VideoOutcome(record.video_id, "failed", reason=reason)
        total_ms = int(1000 * (time.perf_counter() - started))
        extract_ms = int(1000 * outcome.seconds)
        (self.done if outcome.status == "done" else self.failed).inc()
        self.frames.inc(outcome.frames)
        self.faces.inc(outcome.faces)
        self.extract_ms.inc(extract_ms)
        self.stage_ms.inc(max(0, total_ms - extract_ms))
        self.video_ms.update(total_ms)
        yield json.dumps(asdict(outcome))


def beam_counters(result, namespace: str = NAMESPACE) -> dict[str, int]:
    """The pipeline's counters (committed where the runner reports them, else attempted)
    and the video_ms distribution's count/mean/max."""
    found: dict[str, int] = {}
    query = result.metrics().query(MetricsFilter().with_namespace(namespace))
    for counter in query["counters"]:
        value = counter.committed if counter.committed is not None else counter.attempted
        found[counter.key.metric.name] = found.get(counter.key.metric.name, 0) + int(value or 0)
    for dist in query["distributions"]:
        data = dist.committed if dist.committed is not None else dist.attempted
        if data is not None and data.count:
            name = dist.key.metric.name
            found[f"{name}_count"] = int(data.count)
            found[f"{name}_mean"] = int(round(data.sum / data.count))
            found[f"{name}_max"] = int(data.max)
    return dict(sorted(found.items()))


def run_beam_extract(records: Iterable[VideoRecord], cache_path, config: FaceSettings | None = None,
                     *, runner: str = "direct", workers: int = 1, beam_options=(),
                     retry_failed: bool = False, reextract_changed: bool = False,
                     dofn: type[ExtractVideoFn] = ExtractVideoFn
                     ) -> tuple[ExtractSummary, dict[str, int]]:
    """``run_extract`` on Beam: the same cache, failures and skips; returns the summary and
    the Beam counters. ``dofn`` replaces the per-video step (tests inject faults with it)."""
    config = config or FaceSettings()
    started = time.perf_counter()
    options = pipeline_options(runner, workers, beam_options)  # a bad option: before any work
    cache_path = Path(cache_path).absolute()  # workers may start elsewhere
    store = face_store(cache_path, config)
    store.commit()  # absorb what a crashed run (local or Beam) left staged
    plan = plan_rerun(records, store, retry_failed=retry_failed,
                      reextract_changed=reextract_changed)
    todo = plan.todo
    summary = ExtractSummary(videos=len(plan.todo) + len(plan.skipped),
                             skipped=len(plan.skipped),
                             reextracted=[change.to_dict() for change in plan.changed])
    counters: dict[str, int] = {}
    if todo:
        outcomes_dir = cache_path.with_name(f".{cache_path.name}.beam-outcomes")
        shutil.rmtree(outcomes_dir, ignore_errors=True)
        pipeline = beam.Pipeline(options=options)
        _ = (pipeline
             | "Videos" >> beam.Create(todo)
             # Spread videos over workers instead of one bundle of the whole manifest.
             | "Spread" >> beam.Reshuffle()
             | "Extract" >> beam.ParDo(dofn(str(cache_path), config.to_dict()))
             | "Outcomes" >> beam.io.WriteToText(str(outcomes_dir / "outcomes"),
                                                 file_name_suffix=".jsonl"))
        try:
            result = run_pipeline(pipeline)  # no Beam scratch folder left in the temp dir
            result.wait_until_finish()
        finally:
            # The parts of every finished video are merged also when the pipeline failed,
            # so the next run skips them.
            merge_started = time.perf_counter()
            store.commit()
            merge_ms = int(1000 * (time.perf_counter() - merge_started))
        counters = {**beam_counters(result), "merge_ms": merge_ms}
        for path in sorted(outcomes_dir.glob("outcomes*.jsonl")):
            for line in path.read_text("utf-8").splitlines():
                if line.strip():
                    summary.add(VideoOutcome(**json.loads(line)))
        shutil.rmtree(outcomes_dir, ignore_errors=True)
    summary.seconds = time.perf_counter() - started
    logger.info("beam extract counters: %s", counters)
    return summary, counters
