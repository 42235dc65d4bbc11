"""Every person in a video, not only the largest face: the faces of the sampled frames
linked into one track per person, so that ``detect --people`` scores each person on their
own. In a video with several people the manipulated face need not be the largest (DFDC
swaps one of two speakers), and a mean over frames that alternate between two people
mixes them.

Faces are linked from frame to frame as tracking links key frames
(``tracking.match_faces``: centres closer than the larger box's side, sizes within a factor
2), each against the last box its track was seen at, so a person missed in a few frames
keeps their track. A track seen in fewer than ``min_share`` of the frames that have any
face is dropped (a passer-by, a false detection), unless none is seen that often: then the
most seen tracks are kept. People are ordered by their median box area, largest first, so
person 1 is the face the ``largest`` policy usually keeps.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from tfdeepfake.faces.boxes import box_area
from tfdeepfake.faces.tracking import match_faces

PEOPLE_MIN_SHARE = 0.2


def people_tracks(boxes_per_frame: Sequence[np.ndarray],
                  min_share: float = PEOPLE_MIN_SHARE) -> list[list[int | None]]:
    """One list per person: the index of their face in each frame's boxes, or None where
    they were not found; largest person first."""
    if not 0.0 <= min_share <= 1.0:
        raise ValueError(f"min_share must be in [0, 1], got {min_share}")
    frames = [np.asarray(b, dtype=np.float64).reshape(-1, 4) for b in boxes_per_frame]
    picks: list[list[int | None]] = []
    last: list[np.ndarray] = []
    for t, boxes in enumerate(frames):
        pairs = match_faces(np.asarray(last).reshape(-1, 4), boxes)
        for track, face in pairs:
            picks[track][t] = face
            last[track] = boxes[face]
        linked = {face for _, face in pairs}
        for face in range(len(boxes)):
            if face not in linked:
                picks.append([None] * len(frames))
                picks[-1][t] = face
                last.append(boxes[face])
    seen = [sum(i is not None for i in p) for p in picks]
    with_faces = sum(1 for boxes in frames if len(boxes))
    # The most seen person is kept even below the share: a video with faces has a person.
    needed = min(max(1, math.ceil(min_share * with_faces)), max(seen, default=1))
    kept = [p for p, n in zip(picks, seen) if n >= needed]

    def median_area(track: list[int | None]) -> float:
        return float(np.median([box_area(frames[t][i])
                                for t, i in enumerate(track) if i is not None]))

    return sorted(kept, key=median_area, reverse=True)
