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
    """
    previous = tempfile.tempdir
    private = tempfile.mkdtemp(prefix="tfdeepfake-beam-")
    tempfile.tempdir = private
    try:
        result = pipeline.run()
        result.wait_until_finish()
        return result
    finally:
        tempfile.tempdir = previous
        shutil.rmtree(private, ignore_errors=True)
