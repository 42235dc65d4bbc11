"""Run every benchmark, one after another (`make bench`).

bench_detect: detect against the straightforward pipeline (bench_baseline.py) run in the
same process, interleaved (ratios), recall against full-resolution MTCNN, folder
throughput. bench_recall: face recall of extract, detect and the TFLite path on real and
generated hard videos. bench_parity: how far the fast face path moves probabilities.
bench_extract, bench_export: extract speed per resolution; TFLite variants. bench_facenet:
FaceNet on 25 faces, Keras against TFLite builds (the floor under detect's latency).
bench_stages: each stage of detect alone, and the floor their CPU seconds set on this machine.
bench_default_model: the bundled default model's TFLite parity and its speed against triplet.
"""

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS = [
    ("bench_detect.py", []),
    ("bench_recall.py", ["--lite"]),
    ("bench_parity.py", []),
    ("bench_extract.py", ["--workers", "2"]),
    ("bench_export.py", []),
    ("bench_facenet.py", []),
    ("bench_stages.py", []),
    ("bench_default_model.py", []),
]

if __name__ == "__main__":
    status = 0
    for name, arguments in BENCHMARKS:
        if not (HERE / name).exists():
            continue
        print(f"\n=== {name} {' '.join(arguments)} ===", flush=True)
        status |= subprocess.call([sys.executable, str(HERE / name), *arguments])
    sys.exit(status)
