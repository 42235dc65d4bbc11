"""Step bookkeeping of a run: timed steps with a status and detail line, and records that
let a rerun skip finished work and refuse an output folder made with other settings."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import time
from pathlib import Path
from typing import Any, Callable

logger = logging.getLogger(__name__)

STATUSES = ("done", "skipped", "failed")


def script_logging(verbose: bool, *progress_loggers: str) -> None:
    """Logging for an experiment's ``python -m`` entry point: INFO with ``-v``, else
    warnings; the steps' progress lines (and ``progress_loggers``') always."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for name in (__name__, *progress_loggers):
        logging.getLogger(name).setLevel(logging.INFO)


class Steps:
    """Per-step wall time, status (done / skipped / failed) and a detail line.

    ``with steps.run("name") as row:`` times the block; the block sets ``row["status"]`` to
    ``skipped`` when it found the work done, and ``row["detail"]``. A raised exception
    marks the step failed and propagates. ``on_step`` sees every finished row.
    """

    def __init__(self, on_step: Callable[[dict], None] | None = None):
        self.rows: list[dict[str, Any]] = []
        self.on_step = on_step

    @contextlib.contextmanager
    def run(self, name: str):
        row: dict[str, Any] = {"step": name, "status": "done", "seconds": 0.0, "detail": ""}
        started = time.perf_counter()
        try:
            yield row
        except BaseException:
            row["status"] = "failed"
            raise
        finally:
            row["seconds"] = round(time.perf_counter() - started, 2)
            self.rows.append(row)
            logger.info("step %-40s %-8s %8.1f s  %s", name, row["status"], row["seconds"],
                        row["detail"])
            if self.on_step:
                self.on_step(dict(row))


def write_study(out: Path, stem: str, results: dict, markdown: Callable[[dict], str],
                module: str, argv, started: float) -> str:
    """A study's ending: its seconds and command into ``results``, ``<stem>.json`` and
    ``<stem>.md`` into ``out``; returns the Markdown (the entry points print it)."""
    import sys

    results["seconds"] = round(time.perf_counter() - started, 1)
    results["command"] = " ".join([f"python -m {module}",
                                   *(argv if argv is not None else sys.argv[1:])])
    (out / f"{stem}.json").write_text(json.dumps(results, indent=1))
    text = markdown(results)
    (out / f"{stem}.md").write_text(text)
    return text


def short_hash(value: Any) -> str:
    """Eight hex digits identifying a JSON-able value (file names of caches)."""
    return hashlib.sha1(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:8]


def check_record(path: Path, wanted: dict, what: str) -> None:
    """Write ``wanted`` to ``path``, or check that an earlier run wrote the same: reusing a
    folder made with other settings would mix two runs' results."""
    wanted = json.loads(json.dumps(wanted, default=str))
    if path.is_file():
        found = json.loads(path.read_text("utf-8"))
        if found != wanted:
            changed = sorted(k for k in set(found) | set(wanted) if found.get(k) != wanted.get(k))
            raise ValueError(f"{path.parent}: made by an earlier run with other settings "
                             f"({', '.join(changed)} differ) for {what}; use another output "
                             "folder or delete this one")
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(wanted, indent=2, sort_keys=True), "utf-8")


def read_progress(path: Path, fingerprint: dict) -> dict:
    """What an interrupted run with the same ``fingerprint`` (its settings) left at
    ``path``, or ``{}``: nothing there, unreadable, or made with other settings."""
    if not path.is_file():
        return {}
    try:
        stored = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as error:
        logger.warning("%s: unreadable (%s); starting afresh", path, error)
        return {}
    if stored.get("fingerprint") != fingerprint:
        logger.warning("%s: made with other settings; starting afresh (it will be replaced)", path)
        return {}
    logger.info("%s: resuming", path)
    return stored.get("progress", {})


def write_progress(path: Path, fingerprint: dict, progress: dict) -> None:
    """Results so far, written after every finished piece of work: a run that dies late
    leaves them readable, and a rerun resumes after them (``read_progress``)."""
    from tfdeepfake.cache.files import atomic_write_text
    from tfdeepfake.provenance import json_ready

    atomic_write_text(path, json.dumps(json_ready({"fingerprint": fingerprint,
                                                   "progress": progress}), indent=1))


def read_json(path: Path) -> dict:
    return json.loads(Path(path).read_text("utf-8"))


__all__ = ["STATUSES", "Steps", "check_record", "read_json", "read_progress", "script_logging",
           "short_hash", "write_progress"]
