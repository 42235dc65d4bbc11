"""``python -m tfdeepfake.cli``: the same command as ``tfdeepfake``."""

import sys

from tfdeepfake.cli import main

sys.exit(main())
