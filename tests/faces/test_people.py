"""faces/people.py: every person in a video as one track of faces."""

import numpy as np
import pytest

from tfdeepfake.faces.people import people_tracks


def _box(cx, cy, side):
    return [cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2]


def test_two_people_keep_their_tracks_when_their_sizes_alternate():
    # A at x 100, B at x 300; which is larger swaps every frame, and the detector lists
    # them in either order: the largest policy would alternate between them.
    frames = []
    for t in range(8):
        a, b = _box(100 + 2 * t, 100, 80 if t % 2 else 60), _box(300, 110, 70)
        frames.append(np.array([a, b] if t % 3 else [b, a]))
    tracks = people_tracks(frames)
    assert len(tracks) == 2
    for track in tracks:
        centres = [(frames[t][i][0] + frames[t][i][2]) / 2 for t, i in enumerate(track)]
        assert np.ptp(centres) < 20  # one person each, never the other
    # Numbered by median area: A's is (60^2 + 80^2) / 2 = 5000, B's 70^2 = 4900.
    first = tracks[0]
    assert (frames[0][first[0]][0] + frames[0][first[0]][2]) / 2 == pytest.approx(100)


def test_a_person_missed_in_some_frames_keeps_one_track():
    frames = [np.array([_box(100 + 5 * t, 100, 60)]) if t not in (2, 3, 4) else np.zeros((0, 4))
              for t in range(9)]
    (track,) = people_tracks(frames)
    assert track == [0, 0, None, None, None, 0, 0, 0, 0]


def test_a_face_seen_in_few_frames_is_dropped_unless_asked_for():
    frames = [np.array([_box(100, 100, 60)]) for _ in range(10)]
    frames[4] = np.array([_box(100, 100, 60), _box(300, 300, 30)])  # one passer-by frame
    assert len(people_tracks(frames)) == 1
    tracks = people_tracks(frames, min_share=0.0)
    assert len(tracks) == 2 and tracks[1] == [None] * 4 + [1] + [None] * 5


def test_faces_that_never_link_still_give_the_most_seen_person():
    # A face somewhere else in every frame: no track reaches a fifth of the 10 frames.
    frames = [np.array([_box(40 + 100 * t, 100, 50)]) for t in range(10)]
    tracks = people_tracks(frames)
    assert len(tracks) == 10 and sorted(sum(i is not None for i in t) for t in tracks) == [1] * 10
    frames[3] = np.array([_box(340, 100, 50), _box(40, 100, 50)])  # the first face again
    tracks = people_tracks(frames)
    assert len(tracks) == 1 and tracks[0][0] == 0 and tracks[0][3] == 1


def test_no_faces_no_people_and_bad_share_refused():
    assert people_tracks([np.zeros((0, 4))] * 3) == []
    assert people_tracks([]) == []
    with pytest.raises(ValueError, match="min_share"):
        people_tracks([np.zeros((0, 4))], min_share=1.5)
