"""detect --annotate: the whole video again, same frame count and rate, boxes where detect
found the faces, coloured by their probability; portrait videos stay upright. Verdicts are
written by hand here (what VideoDetector.detect returns), so no network runs."""

import numpy as np
import pytest

from tfdeepfake.synthetic.videos import write_video
from tfdeepfake.video.reader import iter_frames, probe_video, read_frames
from tfdeepfake.visualize.annotate import annotate_video, running_scores
from tfdeepfake.visualize.draw import NO_SCORE, probability_colour

GREY = 90


def _video(path, num_frames=30, size=(160, 120), fps=12.0, **kwargs):
    w, h = size
    frames = [np.full((h, w, 3), GREY, np.uint8) for _ in range(num_frames)]
    return write_video(path, frames, fps, "h264", **kwargs)


def _verdict(path, frames, *, frame_level=True, fps=12.0, verdict="fake", probability=0.7):
    return {"path": str(path), "verdict": verdict, "fake_probability": probability,
            "threshold": 0.5, "aggregation": "mean", "frame_level": frame_level, "fps": fps,
            "random_init_facenet": False, "reason": "",
            "frames": [{"index": i, "time": i / fps, "box": box, "fake_probability": p}
                       for i, box, p in frames]}


def _count(path):
    return sum(1 for _ in iter_frames(path))


def _edge_colour(frame, box):
    """Mean colour along the left edge of ``box`` (where the rectangle is drawn)."""
    x1, y1, _, y2 = (int(v) for v in box)
    return frame[y1 + 40:y2 - 5, x1].reshape(-1, 3).mean(axis=0)


@pytest.mark.parametrize("how, expected", [
    ("mean", [None, 1.0, 0.5, 0.5, 0.5]),
    ("median", [None, 1.0, 0.5, 0.5, 0.5]),  # median of 1, 0, 0.5 at the end
    ("max", [None, 1.0, 1.0, 1.0, 1.0]),
])
def test_running_score_is_the_aggregation_of_the_frames_so_far(how, expected):
    # The first frame has no face, the fourth neither: they do not count.
    got = running_scores([None, 1.0, 0.0, None, 0.5], how)
    assert got[0] is None and got[1:] == pytest.approx(expected[1:])


def test_same_frames_same_rate_boxes_coloured_by_probability(tmp_path):
    video = _video(tmp_path / "in.mp4", num_frames=30, fps=12.0)
    box_real, box_fake = [10, 30, 70, 110], [90, 30, 150, 110]
    verdict = _verdict(video, [(5, box_real, 0.0), (15, box_fake, 1.0), (25, None, None)])
    calls = []
    out = annotate_video(video, verdict, tmp_path / "out.mp4",
                         progress=lambda done, total: calls.append((done, total)))
    info_in, info_out = probe_video(video), probe_video(out)
    assert info_out.fps == pytest.approx(info_in.fps)
    assert _count(out) == _count(video) == 30
    assert (info_out.width, info_out.height) == (160, 120)
    assert calls[-1] == (30, 30)
    frames, _ = read_frames(out, [5, 15, 25])
    # Frame 5: the real-looking face, green box; frame 15: red; compression blurs a little.
    assert np.abs(_edge_colour(frames[0], box_real) - probability_colour(0.0)).max() < 45
    assert np.abs(_edge_colour(frames[1], box_fake) - probability_colour(1.0)).max() < 45
    # Frame 25 has no face: nothing drawn where the boxes were, below the text bar.
    assert np.abs(frames[2][60:100, 10].astype(int) - GREY).max() < 20
    # The verdict bar (red: fake) is blended over the top rows.
    top = frames[1][2:20].reshape(-1, 3).mean(axis=0)
    assert top[0] > top[1] + 40 and top[0] > top[2] + 40


def test_odd_sized_video_is_padded_for_h264(tmp_path):
    frames = [np.full((121, 161, 3), GREY, np.uint8) for _ in range(8)]
    video = write_video(tmp_path / "odd.avi", frames, 10.0, "ffv1")
    assert (probe_video(video).width, probe_video(video).height) == (161, 121)
    out = annotate_video(video, _verdict(video, [(3, [20, 20, 80, 100], 0.5)]), tmp_path / "o.mp4")
    info = probe_video(out)
    assert (info.width, info.height) == (162, 122) and _count(out) == 8


def test_portrait_video_stays_upright_and_boxes_land_on_the_upright_frame(tmp_path):
    # Stored 160x120 with metadata asking for a 90-degree turn: shown 120 wide, 160 tall.
    video = _video(tmp_path / "phone.mp4", num_frames=12, display_rotation=90)
    assert (probe_video(video).width, probe_video(video).height) == (120, 160)
    box = [20, 60, 100, 150]  # in the upright frame, as detect reports it
    out = annotate_video(video, _verdict(video, [(6, box, 1.0)]), tmp_path / "out.mp4")
    info = probe_video(out)
    assert (info.width, info.height, info.rotation) == (120, 160, 0)
    frame = read_frames(out, [6])[0][0]
    assert np.abs(frame[box[1] + 40:box[3] - 5, box[0]].reshape(-1, 3).mean(axis=0)
                  - probability_colour(1.0)).max() < 45


def test_video_level_models_get_grey_boxes_and_no_running_score(tmp_path):
    video = _video(tmp_path / "in.mp4", num_frames=10)
    box = [40, 30, 120, 110]
    verdict = _verdict(video, [(2, box, None), (7, box, None)], frame_level=False)
    out = annotate_video(video, verdict, tmp_path / "out.mp4")
    frame = read_frames(out, [7])[0][0]
    assert np.abs(_edge_colour(frame, box) - NO_SCORE).max() < 30


def test_unreadable_input_is_an_error_naming_it(tmp_path):
    from tfdeepfake.video.reader import VideoReadError

    (tmp_path / "text.mp4").write_text("hello")
    with pytest.raises(VideoReadError, match="text.mp4"):
        annotate_video(tmp_path / "text.mp4", _verdict("x", []), tmp_path / "out.mp4")


def test_a_damaged_middle_keeps_the_input_frame_count_and_draws_past_the_damage(tmp_path):
    """The annotated copy of the bad-input matrix's damaged video stopped at the damage (29 of
    60 frames, the scored frames after it never drawn); it must match the input's length."""
    from tests.test_bad_inputs import write_damaged_face_video
    from tfdeepfake.video.reader import read_sampled_frames

    video = write_damaged_face_video(tmp_path / "damaged.mp4")
    _, _, info = read_sampled_frames(video, 5)
    ((first, last),) = info.unreadable
    assert last < 59  # frames after the damage exist
    box = [10, 30, 100, 110]
    out = annotate_video(video, _verdict(video, [(0, None, None), (59, box, 1.0)], fps=25.0),
                         tmp_path / "out.mp4")
    info_out = probe_video(out)
    assert _count(out) == info.frame_count == 60 and info_out.fps == pytest.approx(25.0)
    # The scored frame after the damage is drawn: its red box is on the last frame.
    frame = read_frames(out, [59])[0][0]
    assert np.abs(_edge_colour(frame, box) - probability_colour(1.0)).max() < 45


def test_a_failed_write_leaves_an_existing_output_whole_and_no_temporary_file(tmp_path):
    # Issue 22, item 2: the copy is written under a temporary name and renamed at the end.
    video = _video(tmp_path / "in.mp4", num_frames=30, fps=12.0)
    out = tmp_path / "out.mp4"
    out.write_bytes(b"an earlier annotated video")

    def fail_midway(done, total):
        if done >= 10:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        annotate_video(video, _verdict(video, []), out, progress=fail_midway)
    assert out.read_bytes() == b"an earlier annotated video"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4", "out.mp4"]
    annotate_video(video, _verdict(video, []), out)
    assert _count(out) == 30
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4", "out.mp4"]
