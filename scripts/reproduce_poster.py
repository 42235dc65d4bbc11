#!/usr/bin/env python
"""Regenerate the poster's tables: ``python scripts/reproduce_poster.py --celebdf-v1 ROOT
--celebdf-v2 ROOT -o OUT`` (or ``--quick -o OUT`` for a smoke test on generated videos).

The same as ``tfdeepfake reproduce`` (see its --help); rerun after an interruption to continue.
"""

import sys

from tfdeepfake.cli import main

if __name__ == "__main__":
    sys.exit(main(["reproduce", *sys.argv[1:]]))
