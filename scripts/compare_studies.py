"""Paired comparison of two texture studies on the same videos (``default_texture``'s
``texture.json``): the difference in video AUC, B minus A, with a percentile bootstrap 95%
interval that resamples videos within class and scores both studies on the same resample.

    python scripts/compare_studies.py reports/default-texture reports/default-texture-m0

Prints all / modern / classic rows, with counts. A paired interval is narrower than the two
studies' own intervals side by side: the same hard videos are hard for both.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from tfdeepfake.experiments.default_detector import _auc


def scores(study: Path, combination: str, weight: str) -> tuple[dict, dict]:
    result = json.loads((study / "texture.json").read_text())["combinations"][combination][weight]
    return result["real_scores"], result["fake_scores"]


def paired_difference(real_a, fake_a, real_b, fake_b, n_boot: int, seed: int):
    """AUC(B) - AUC(A) and its bootstrap interval; inputs are aligned arrays."""
    rng = np.random.default_rng(seed)
    point = _auc(real_b, fake_b) - _auc(real_a, fake_a)
    draws = []
    for _ in range(n_boot):
        r = rng.integers(0, len(real_a), len(real_a))
        f = rng.integers(0, len(fake_a), len(fake_a))
        draws.append(_auc(real_b[r], fake_b[f]) - _auc(real_a[r], fake_a[f]))
    low, high = np.percentile(draws, [2.5, 97.5])
    return point, float(low), float(high)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("a", type=Path, help="a default_texture --out folder")
    p.add_argument("b", type=Path, help="another, on the same videos")
    p.add_argument("--combination", default="texture")
    p.add_argument("--combination-b", help="B's combination, when not --combination's")
    p.add_argument("--weight", default="0.0")
    p.add_argument("--bootstrap", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    real_a, fake_a = scores(args.a, args.combination, args.weight)
    combination_b = args.combination_b or args.combination
    real_b, fake_b = scores(args.b, combination_b, args.weight)
    if set(real_a) != set(real_b) or set(fake_a) != set(fake_b):
        raise SystemExit(f"{args.a} and {args.b} scored different videos: not comparable")
    reals = sorted(real_a)
    families = {"all": sorted(fake_a),
                "modern": sorted(v for v in fake_a if "/fake_modern/" in v),
                "classic": sorted(v for v in fake_a if "/fake_modern/" not in v)}
    print(f"B = {args.b} ({combination_b}) minus A = {args.a} ({args.combination}), "
          f"w = {args.weight}; "
          f"{len(reals)} genuine videos")
    print("| fakes | videos | AUC A | AUC B | B - A [95% CI, paired] |")
    print("|---|---|---|---|---|")
    ra, rb = np.array([real_a[v] for v in reals]), np.array([real_b[v] for v in reals])
    for name, fakes in families.items():
        fa, fb = np.array([fake_a[v] for v in fakes]), np.array([fake_b[v] for v in fakes])
        point, low, high = paired_difference(ra, fa, rb, fb, args.bootstrap, args.seed)
        print(f"| {name} | {len(fakes)} | {_auc(ra, fa):.3f} | {_auc(rb, fb):.3f} | "
              f"{point:+.3f} [{low:+.3f}, {high:+.3f}] |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
