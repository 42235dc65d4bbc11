"""Running a built Beam pipeline to its end without leaving Beam's scratch folders behind."""

from __future__ import annotations

import shutil
import tempfile


def run_pipeline(pipeline):
    """``pipeline.run()`` and wait; returns the result.

    The DirectRunner hands the job to a Prism job server that makes a ``beam-temp*`` folder
    in the temp dir and never removes it (its atexit cleanup does not run), and each run
    stages SDK dependencies into two more ``tmp*`` folders. So the run gets a private temp
    dir, removed afterwards, whatever the pipeline's outcome.

    A result with a ``close()`` (``--runner dask``: its client, and the local cluster started
    for the run) is closed here too, also when the run failed.
    """
    previous = tempfile.tempdir
    private = tempfile.mkdtemp(prefix="tfdeepfake-beam-")
    tempfile.tempdir = private
    result = None
    try:
        result = pipeline.run()
        result.wait_until_finish()
        return result
    finally:
        try:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        finally:
            tempfile.tempdir = previous
            shutil.rmtree(private, ignore_errors=True)
