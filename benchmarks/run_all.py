"""Run every benchmark with its defaults, one after another (`make bench`)."""

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS = ["bench_extract.py", "bench_detect.py", "bench_export.py"]

if __name__ == "__main__":
    status = 0
    for name in BENCHMARKS:
        if not (HERE / name).exists():
            continue
        print(f"\n=== {name} ===", flush=True)
        status |= subprocess.call([sys.executable, str(HERE / name)])
    sys.exit(status)
