"""Carving validation/test splits out of train, whole groups at a time.

Frames of one video must never sit on both sides of a split (the reference code's flaw),
so the unit here is a group of videos: at least a video, and for Celeb-DF a fake together
with the real footage it reuses. Groups are bucketed by the set of labels they hold and each
bucket is split on its own, which keeps the class ratio of train in val/test.
"""

from __future__ import annotations

import dataclasses
import logging
import random
from collections import defaultdict
from typing import Callable, Iterable, Mapping

from tfdeepfake.datasets.records import VideoRecord

logger = logging.getLogger(__name__)

CARVED_SPLITS = ("val", "test")


def check_fractions(fractions: Mapping[str, float]) -> dict[str, float]:
    unknown = sorted(set(fractions) - set(CARVED_SPLITS))
    if unknown:
        raise ValueError(f"cannot carve split(s) {unknown}; valid: {', '.join(CARVED_SPLITS)}")
    checked = {}
    for split in CARVED_SPLITS:
        value = float(fractions.get(split, 0.0) or 0.0)
        if not 0.0 <= value < 1.0:
            raise ValueError(f"{split}_fraction must be in [0, 1), got {value}")
        checked[split] = value
    if sum(checked.values()) >= 1.0:
        raise ValueError(f"val and test fractions must sum to less than 1, got {checked}")
    return checked


def carve_splits(
    records: Iterable[VideoRecord],
    *,
    fractions: Mapping[str, float],
    seed: int,
    group_key: Callable[[VideoRecord], str] = lambda record: record.video_id,
) -> list[VideoRecord]:
    """Move whole groups of train records to val/test; other records are left alone.

    ``fractions`` maps "val"/"test" to a fraction of the train videos. Groups are shuffled
    with ``random.Random(seed)`` after sorting, so the result depends only on the inputs;
    a group joins a split only if that brings the split closer to its target size.
    """
    # Not shared with detectors.base.carve_validation (train time), for a reason: this runs
    # on a layout's records before faces exist, carves val and test by video counts and
    # groups by the layout's key (Celeb-DF --group-by identity|video, DFDC's original, else
    # the video); that one sees only videos with faces, never empties a class in train, aims
    # for both in validation, and groups by records.identity_group (the same people as the
    # identity keys here).
    fractions = check_fractions(fractions)
    records = list(records)
    if not any(fractions.values()):
        return records
    groups: dict[str, list[int]] = defaultdict(list)
    for index, record in enumerate(records):
        if record.split == "train":
            groups[group_key(record)].append(index)
    buckets: dict[tuple[int, ...], list[str]] = defaultdict(list)
    for key, members in groups.items():
        buckets[tuple(sorted({records[i].label for i in members}))].append(key)

    rng = random.Random(seed)
    new_split: dict[int, str] = {}
    for bucket in sorted(buckets):
        keys = sorted(buckets[bucket])
        rng.shuffle(keys)
        total = sum(len(groups[key]) for key in keys)
        targets = {split: fractions[split] * total for split in CARVED_SPLITS}
        counts = {split: 0 for split in CARVED_SPLITS}
        for key in keys:
            size = len(groups[key])
            for split in CARVED_SPLITS:
                gap = targets[split] - counts[split]
                # Joining must bring the split nearer its target: |gap - size| < |gap|.
                if gap > 0 and size < 2 * gap:
                    counts[split] += size
                    for index in groups[key]:
                        new_split[index] = split
                    break
    for split in CARVED_SPLITS:
        if fractions[split] and split not in new_split.values():
            logger.warning(
                "%s_fraction=%s moved no videos: too few train groups", split, fractions[split]
            )
    return [
        dataclasses.replace(record, split=new_split[i]) if i in new_split else record
        for i, record in enumerate(records)
    ]
