"""``detect`` at scale: video paths -> verdicts as JSON Lines, one line per video, on Beam.

The detector (its FaceNet, classifier and MTCNN) is loaded once per worker. A bad video gets
an ``unknown`` verdict with its reason, as in ``tfdeepfake detect``; it never fails the
pipeline. Verdicts go to shards through Beam's text sink (written, then renamed when the
bundle commits, so a retried bundle leaves no duplicate lines); the driver then appends them
to the output file. A rerun skips the paths the output already has a verdict (real or fake)
for, and scores the ``unknown`` ones again (a read error may have been transient); their new
line replaces the old one.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from pathlib import Path
from typing import Callable, Iterable

import apache_beam as beam
from apache_beam.metrics import Metrics

from tfdeepfake.scale.extract import beam_counters
from tfdeepfake.scale.options import pipeline_options
from tfdeepfake.scale.running import run_pipeline

logger = logging.getLogger(__name__)

NAMESPACE = "tfdeepfake.detect"


class DetectorFromFolder:
    """Loads ``VideoDetector(model, ...)`` on a worker (picklable)."""

    def __init__(self, model, variant=None, threshold=None, facenet_weights=None, people=False):
        self.model, self.variant = str(model), variant
        self.threshold, self.facenet_weights = threshold, facenet_weights
        self.people = bool(people)  # detect --people: every person judged

    def __call__(self):
        from tfdeepfake.detect import VideoDetector

        return VideoDetector(self.model, variant=self.variant, threshold=self.threshold,
                             facenet_weights=self.facenet_weights, people=self.people)


class DetectVideoFn(beam.DoFn):
    def __init__(self, make_detector: Callable):
        self.make_detector = make_detector
        self.verdicts = {name: Metrics.counter(NAMESPACE, f"videos_{name}")
                         for name in ("real", "fake", "unknown")}
        self.faces = Metrics.counter(NAMESPACE, "faces")
        self.detect_ms = Metrics.counter(NAMESPACE, "detect_ms")

    def setup(self):
        self._detector = self.make_detector()  # once per worker

    def process(self, path: str):
        started = time.perf_counter()
        verdict = self._detector.detect(path).to_dict()
        self.detect_ms.inc(int(1000 * (time.perf_counter() - started)))
        self.verdicts.get(verdict["verdict"], self.verdicts["unknown"]).inc()
        self.faces.inc(int(verdict.get("faces_found") or 0))
        yield json.dumps(verdict, default=str)


def _same_file(path: str) -> str:
    """The key paths are compared by: a video named relatively on one run and absolutely
    (or through ``./``, ``..``, a link) on the next is the same video, one line."""
    return os.path.realpath(path)


def _output_verdicts(output: Path) -> dict[str, str]:
    """``{resolved path: verdict}`` of the lines already in ``output`` (the last line of a
    video wins)."""
    if not output.exists():
        return {}
    verdicts = {}
    for number, line in enumerate(output.read_text("utf-8").splitlines(), 1):
        if line.strip():
            try:
                row = json.loads(line)
                verdicts[_same_file(row["path"])] = row["verdict"]
            except (ValueError, KeyError, TypeError):
                raise ValueError(f"{output} line {number}: not a verdict (JSON with 'path' and "
                                 "'verdict'); choose another output file") from None
    return verdicts


def _decided(verdict) -> bool:
    return verdict in ("real", "fake")


def run_beam_detect(paths: Iterable, output, make_detector: Callable, *, runner: str = "direct",
                    workers: int = 1, beam_options=()) -> tuple[dict, dict[str, int]]:
    """Verdicts on ``paths`` appended to ``output`` (JSON Lines); paths that already have a
    real or fake verdict there are skipped, ``unknown`` ones scored again (their new line
    replaces the old). Returns ``{"videos", "done", "skipped", "verdicts", "unknown"}``
    (``verdicts``: videos with a real or fake verdict now, skipped ones included) and the
    Beam counters."""
    options = pipeline_options(runner, workers, beam_options)
    output = Path(output).absolute()
    paths = [str(p) for p in paths]
    before = _output_verdicts(output)
    unique = {}  # resolved -> the path as given first
    for path in paths:
        unique.setdefault(_same_file(path), path)
    todo = [p for key, p in unique.items() if not _decided(before.get(key))]
    counts = {"videos": len(paths), "done": 0, "skipped": len(paths) - len(todo),
              "verdicts": len(paths) - len(todo), "unknown": 0}
    counters: dict[str, int] = {}
    if todo:
        shards = output.with_name(f".{output.name}.beam-shards")
        shutil.rmtree(shards, ignore_errors=True)
        pipeline = beam.Pipeline(options=options)
        _ = (pipeline
             | "Paths" >> beam.Create(todo)
             | "Spread" >> beam.Reshuffle()
             | "Detect" >> beam.ParDo(DetectVideoFn(make_detector))
             | "Verdicts" >> beam.io.WriteToText(str(shards / "verdicts"),
                                                 file_name_suffix=".jsonl"))
        result = run_pipeline(pipeline)
        counters = beam_counters(result, NAMESPACE)
        lines = [line for shard in sorted(shards.glob("verdicts*.jsonl"))
                 for line in shard.read_text("utf-8").splitlines() if line.strip()]
        new = {_same_file(json.loads(line)["path"]): json.loads(line)["verdict"]
               for line in lines}
        kept = []
        if output.exists():  # without the old lines of the paths scored again
            kept = [line for line in output.read_text("utf-8").splitlines()
                    if line.strip() and _same_file(json.loads(line)["path"]) not in new]
        temp = output.with_name(f".{output.name}.{os.getpid()}.tmp")
        with open(temp, "w", encoding="utf-8") as handle:
            handle.writelines(line + "\n" for line in kept + lines)
        os.replace(temp, output)  # the output never holds half a run
        shutil.rmtree(shards, ignore_errors=True)
        counts["done"] = len(lines)
        counts["verdicts"] += sum(map(_decided, new.values()))
        counts["unknown"] = len(new) - sum(map(_decided, new.values()))
    return counts, counters
