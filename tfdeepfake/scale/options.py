"""``--runner NAME`` and ``--beam-option K=V`` -> Beam ``PipelineOptions``."""

from __future__ import annotations

import logging

from tfdeepfake.scale import RUNNERS

logger = logging.getLogger(__name__)

_RUNNER_CLASSES = {"direct": "DirectRunner", "prism": "PrismRunner", "flink": "FlinkRunner",
                   "spark": "SparkRunner", "dataflow": "DataflowRunner",
                   "dask": "tfdeepfake.scale.dask_runner.DaskRunner"}


def beam_arguments(runner: str = "direct", workers: int = 1,
                   options: list[str] | tuple[str, ...] = ()) -> list[str]:
    """Command-line style Beam arguments. ``options`` are ``K=V`` (or ``K`` for a flag) and
    win over what is derived here; ``workers`` sets the DirectRunner's worker processes."""
    if runner not in _RUNNER_CLASSES:
        raise ValueError(f"unknown runner {runner!r}; valid: {', '.join(RUNNERS)}")
    given = {}
    for option in options:
        key, sep, value = option.lstrip("-").partition("=")
        if not key or key == "runner":
            raise ValueError(f"--beam-option {option!r}: expected KEY=VALUE (e.g. "
                             "flink_master=localhost:8081); choose the runner with --runner")
        given[key] = value if sep else None
    derived = {"runner": _RUNNER_CLASSES[runner]}
    if runner == "direct":
        # Worker processes, each with its own MTCNN; in_memory keeps one process for 1 worker.
        derived["direct_num_workers"] = str(max(1, workers))
        derived["direct_running_mode"] = "multi_processing" if workers > 1 else "in_memory"
    elif runner == "dask":
        # One video per dask partition (task): the scheduler balances them over the workers
        # and retries only the video a lost worker held (Beam's default packs 128 into one).
        if not any(k in given for k in ("dask_npartitions", "dask_partition_size")):
            derived["dask_partition_size"] = "1"
        # The local cluster started when no dask_client_address/dask_scheduler_file is given.
        derived["dask_local_workers"] = str(workers if workers > 1 else 2)
    elif workers > 1 and not any(k in given for k in ("num_workers", "parallelism",
                                                       "max_num_workers")):
        logger.info("--workers applies to the direct runner; size a %s cluster with "
                    "--beam-option (see docs/scale-out.md)", runner)
    merged = {**derived, **given}
    return [f"--{k}" if v is None else f"--{k}={v}" for k, v in merged.items()]


def pipeline_options(runner: str = "direct", workers: int = 1, options=()):
    from apache_beam.options.pipeline_options import PipelineOptions

    arguments = beam_arguments(runner, workers, options)
    if runner == "dask":
        # Registers DaskOptions (dask_client_address, ...) and dask_local_workers with
        # Beam's option parser.
        import tfdeepfake.scale.dask_runner  # noqa: F401

    built = PipelineOptions(arguments)
    # Beam drops an unknown option with only a warning; a typo would go unnoticed. Checked
    # against the parser's flags (DaskOptions keeps --dask_client_address as "address").
    parsers = []
    built.get_all_options(add_extra_args_fn=parsers.append)
    _, unknown = parsers[0].parse_known_args(arguments)
    if unknown:
        raise ValueError(f"unknown Beam pipeline option(s) {', '.join(unknown)}; see "
                         "`python -m apache_beam.examples.wordcount --help` for the list")
    return built


def _beam_level(verbosity: int) -> int:
    """Beam's own log level for the CLI's verbosity: its INFO lines (worker start-up,
    channels, staging) are noise beside ours, so one step quieter than tfdeepfake's."""
    return {-1: logging.ERROR, 0: logging.WARNING, 1: logging.INFO}.get(verbosity,
                                                                        logging.DEBUG)


class _NoApitoolsNotice(logging.Filter):
    """Beam says "apitools not found" (root logger, at import) when its optional BigQuery
    client is absent; these pipelines never use BigQuery."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("apitools not found")


def quiet_beam(verbosity: int, options=()) -> list[str]:
    """Beam's logging set from ``-q``/``-v`` (call before Beam is imported): its loggers in
    this process, and its workers' through the returned ``options`` (``K=V`` as for
    ``--beam-option``; a level the user gave there is kept)."""
    level = _beam_level(verbosity)
    logging.getLogger("apache_beam").setLevel(level)
    root = logging.getLogger()
    if not any(isinstance(f, _NoApitoolsNotice) for f in root.filters):
        root.addFilter(_NoApitoolsNotice())
    given = {option.lstrip("-").partition("=")[0] for option in options}
    options = list(options)
    if "default_sdk_harness_log_level" not in given:
        # Worker processes (--workers N) log at INFO to stderr unless told.
        options.append(f"default_sdk_harness_log_level={logging.getLevelName(level)}")
    if "sdk_harness_log_level_overrides" not in given:
        ours = {-1: "WARNING", 0: "INFO"}.get(verbosity, "DEBUG")  # tfdeepfake's, as here
        options.append('sdk_harness_log_level_overrides={"tfdeepfake": "%s"}' % ours)
    return options
