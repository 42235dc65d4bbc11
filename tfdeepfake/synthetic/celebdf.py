"""A generated stand-in for Celeb-DF v1 and v2: the quick mode of ``reproduce`` runs the
poster's experiments on it to show every step working, in minutes on 2 CPU cores.

The clips come from ``make_synthetic_dataset`` (real clips of shipped face photos, face-swapped
fakes); this module only lays them out as the two Celeb-DF trees, with their test lists, so
the Celeb-DF reader indexes them exactly as it indexes the real dataset.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tfdeepfake.constants import DEFAULT_SEED, FAKE, REAL

logger = logging.getLogger(__name__)

LAYOUT_FILE = "layout.json"


def evenly_spaced(count: int, fraction: float) -> list[int]:
    """``round(fraction * count)`` positions (at least one, never all when count > 1) spread
    over ``range(count)``."""
    if count == 0 or fraction <= 0:
        return []
    n = min(count - 1 if count > 1 else count, max(1, int(round(fraction * count))))
    return sorted({int(math.floor((i + 0.5) * count / n)) for i in range(n)})


def _link_or_copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        target.unlink()
    try:
        os.link(source, target)
    except OSError:  # another file system, or links not allowed
        shutil.copyfile(source, target)


def quick_layout_is_current(root: str | os.PathLike, settings: Mapping[str, Any]) -> bool:
    """Whether ``root`` holds the stand-in made with ``settings``."""
    marker = Path(root) / LAYOUT_FILE
    if not marker.is_file():
        return False
    found = json.loads(marker.read_text("utf-8")).get("settings")
    return found == json.loads(json.dumps(dict(settings)))


def make_quick_celebdf(
    root: str | os.PathLike,
    *,
    num_real: int = 12,
    num_fake: int = 12,
    v1_fraction: float = 0.5,
    test_fraction: float = 0.34,
    seconds: float = 1.0,
    fps: float = 8.0,
    width: int = 160,
    height: int = 120,
    num_identities: int = 6,
    seed: int = DEFAULT_SEED,
    workers: int = 1,
) -> tuple[Path, Path]:
    """Generated clips laid out as two Celeb-DF trees; returns ``(v1_root, v2_root)``.

    Real clips become ``Celeb-real/id<t>_<n>.mp4`` (every fourth ``YouTube-real/<n>.mp4``),
    fakes ``Celeb-synthesis/id<t>_id<s>_<n>.mp4`` (target t, swapped-in source s). The first
    ``v1_fraction`` of each class makes up v1; v2 holds every clip, v1's under the same
    paths, as the real v2 holds v1's videos. Each tree has a ``List_of_testing_videos.txt``
    (1 = real there, as in Celeb-DF); v2's list includes v1's. Reused when
    ``root/layout.json`` records the same settings.
    """
    from tfdeepfake.synthetic.dataset import make_synthetic_dataset

    root = Path(root)
    settings = {"num_real": num_real, "num_fake": num_fake, "v1_fraction": v1_fraction,
                "test_fraction": test_fraction, "seconds": seconds, "fps": fps, "width": width,
                "height": height, "num_identities": num_identities, "seed": seed}
    v1_root, v2_root = root / "Celeb-DF", root / "Celeb-DF-v2"
    if quick_layout_is_current(root, settings):
        logger.info("generated Celeb-DF stand-in in %s reused", root)
        return v1_root, v2_root
    for tree in (v1_root, v2_root, root / "generated"):
        if tree.exists():
            shutil.rmtree(tree)
    generated = Path(make_synthetic_dataset(
        root / "generated", num_real=num_real, num_fake=num_fake, seconds=seconds, fps=fps,
        size=(width, height), seed=seed, num_identities=num_identities, workers=workers))
    info: dict[str, dict] = {}
    meta_path = generated / "synthetic.json"
    if meta_path.is_file():
        info = {v["path"]: v for v in json.loads(meta_path.read_text("utf-8")).get("videos", [])}
    identities: dict[str, str] = {}

    def identity(name: str) -> str:
        return identities.setdefault(name, f"id{len(identities)}")

    clips: dict[int, list[tuple[Path, str]]] = {REAL: [], FAKE: []}
    for i, path in enumerate(sorted((generated / "real").glob("*.mp4"))):
        target = identity(str(info.get(f"real/{path.name}", {}).get("identity") or f"real-{i}"))
        rel = f"YouTube-real/{i:05d}.mp4" if i % 4 == 3 else f"Celeb-real/{target}_{i:04d}.mp4"
        clips[REAL].append((path, rel))
    for i, path in enumerate(sorted((generated / "fake").glob("*.mp4"))):
        meta = info.get(f"fake/{path.name}", {})
        target = identity(str(meta.get("identity") or f"target-{i}"))
        source = identity(str(meta.get("source_identity") or f"source-{i}"))
        clips[FAKE].append((path, f"Celeb-synthesis/{target}_{source}_{i:04d}.mp4"))

    tests: dict[str, list[tuple[int, str]]] = {"v1": [], "v2": []}
    members: dict[str, list[tuple[Path, str]]] = {"v1": [], "v2": []}
    for label, items in clips.items():
        n_v1 = max(1, int(round(v1_fraction * len(items)))) if items else 0
        v1_items, v2_only = items[:n_v1], items[n_v1:]
        v1_test = [(label, v1_items[i][1]) for i in evenly_spaced(len(v1_items), test_fraction)]
        v2_test = [(label, v2_only[i][1]) for i in evenly_spaced(len(v2_only), test_fraction)]
        members["v1"] += v1_items
        members["v2"] += items
        tests["v1"] += v1_test
        tests["v2"] += v1_test + v2_test
    for version, tree in (("v1", v1_root), ("v2", v2_root)):
        for source_path, rel in members[version]:
            _link_or_copy(source_path, tree / rel)
        lines = [f"{1 if label == REAL else 0} {rel}"
                 for label, rel in sorted(tests[version], key=lambda t: t[1])]
        (tree / "List_of_testing_videos.txt").write_text("\n".join(lines) + "\n", "utf-8")
    # Written last: a run killed while linking is not mistaken for a finished layout.
    (root / LAYOUT_FILE).write_text(json.dumps({"settings": settings, "identities": identities,
                                                "v1_root": str(v1_root), "v2_root": str(v2_root)},
                                               indent=2), "utf-8")
    logger.info("generated Celeb-DF stand-in: v1 %d clips, v2 %d clips in %s",
                len(members["v1"]), len(members["v2"]), root)
    return v1_root, v2_root


__all__ = ["evenly_spaced", "make_quick_celebdf", "quick_layout_is_current"]
