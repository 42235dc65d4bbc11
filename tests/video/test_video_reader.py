import dataclasses
import logging
import pickle
import subprocess

import cv2
import numpy as np
import pytest

from tfdeepfake.synthetic.videos import ffmpeg_exe, write_video
from tfdeepfake.video import capture, reader, seeking
from tfdeepfake.video.reader import (
    VideoInfo,
    VideoReadError,
    keyframe_indices,
    probe_video,
    read_frames,
    read_sampled_frames,
)
from tfdeepfake.video.sampling import sample_indices


def decoded(frames, frame_index):
    return [frame_index(f) for f in frames]


# --- reading the frames asked for -------------------------------------------------------


def test_read_frames_returns_the_requested_frames_as_rgb(index_video, frame_index):
    path = index_video(40)
    frames, read = read_frames(path, [0, 7, 39])
    np.testing.assert_array_equal(read, [0, 7, 39])
    assert decoded(frames, frame_index) == [0, 7, 39]
    for f in frames:
        assert f.dtype == np.uint8 and f.shape == (48, 64, 3) and f.flags.c_contiguous
    # Frame 7 = bits 0,1,2 set: block 0 is red (bit on), block 3 dark blue (bit off).
    on, off = frames[1][4:12, 4:12].mean((0, 1)), frames[1][4:12, 52:60].mean((0, 1))
    assert on[0] > 150 > on[2], "expected RGB channel order"
    assert off[2] > off[0]


def test_read_frames_sorts_and_deduplicates(index_video, frame_index):
    frames, read = read_frames(index_video(20), np.array([9, 3, 9, 0]))
    np.testing.assert_array_equal(read, [0, 3, 9])
    assert decoded(frames, frame_index) == [0, 3, 9]


def test_indices_past_the_end_are_dropped_with_a_warning(index_video, frame_index, caplog):
    path = index_video(20)
    with caplog.at_level(logging.WARNING, logger="tfdeepfake.video.reader"):
        frames, read = read_frames(path, [5, 19, 20, 100])
    np.testing.assert_array_equal(read, [5, 19])
    assert decoded(frames, frame_index) == [5, 19]
    assert "not read" in caplog.text and str(path) in caplog.text


@pytest.mark.parametrize("bad, message", [([], "no frame indices"), ([-1, 2], ">= 0"), ([1.5], "integers")])
def test_read_frames_rejects_bad_indices(index_video, bad, message):
    with pytest.raises(ValueError, match=message):
        read_frames(index_video(5), bad)


def test_h264_with_b_frames_reads_exact_frames(index_video, frame_index):
    path = index_video(60, codec="h264")
    frames, read = read_frames(path, [0, 1, 2, 30, 59])
    assert decoded(frames, frame_index) == [0, 1, 2, 30, 59]


# --- sampled reading ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "mode, stride, expected",
    [
        ("uniform", None, sample_indices(40, 10)),
        ("first", None, np.arange(10)),
        ("stride", 3, np.arange(0, 30, 3)),
        ("stride", 7, np.arange(0, 40, 7)),
    ],
)
def test_read_sampled_frames_modes(index_video, frame_index, mode, stride, expected):
    frames, idx, info = read_sampled_frames(index_video(40), 10, mode, stride)
    np.testing.assert_array_equal(idx, expected)
    assert decoded(frames, frame_index) == list(expected)
    assert info == VideoInfo(frame_count=40, fps=25.0, width=64, height=48, rotation=0)


def test_short_video_gives_all_frames(index_video, frame_index):
    frames, idx, info = read_sampled_frames(index_video(12), 25)
    np.testing.assert_array_equal(idx, np.arange(12))
    assert decoded(frames, frame_index) == list(range(12))


def test_bad_mode_fails_before_opening_the_file(tmp_path):
    with pytest.raises(ValueError, match="valid modes"):
        read_sampled_frames(tmp_path / "missing.mp4", 5, "everything")


def _lie_about_frame_count(monkeypatch, count):
    real = capture._read_info

    def fake(cap, path):
        info, manual = real(cap, path)
        return dataclasses.replace(info, frame_count=count), manual

    monkeypatch.setattr(capture, "_read_info", fake)


@pytest.mark.parametrize("reported", [80, 41, 20, 39, 0])
def test_wrong_reported_count_is_corrected_and_uniform_spans_the_real_video(
        monkeypatch, index_video, frame_index, caplog, reported):
    path = index_video(40)
    _lie_about_frame_count(monkeypatch, reported)
    with caplog.at_level(logging.WARNING, logger="tfdeepfake.video.reader"):
        frames, idx, info = read_sampled_frames(path, 10)
    np.testing.assert_array_equal(idx, sample_indices(40, 10))
    assert decoded(frames, frame_index) == list(sample_indices(40, 10))
    assert info.frame_count == 40
    assert str(path) in caplog.text


def _gap_mkv(path, frames=30, gap=20):
    """An H.264 MKV at 10 fps whose timestamps jump ``gap`` frames after frame 14 (a paused
    recording): Matroska keeps no frame count, and OpenCV's duration x fps says 50."""
    import fractions

    av = pytest.importorskip("av")
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 128, 96, "yuv420p"
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(np.full((96, 128, 3), 20 + 5 * i, np.uint8), format="rgb24")
            frame.pts, frame.time_base = (i if i < 15 else i + gap), fractions.Fraction(1, 10)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def test_a_container_without_a_frame_count_is_counted_not_estimated(tmp_path, caplog):
    path = _gap_mkv(tmp_path / "gap.mkv")
    cap = cv2.VideoCapture(str(path))
    estimate = cap.get(cv2.CAP_PROP_FRAME_COUNT)
    cap.release()
    assert estimate > 30  # what the readers used to go by
    assert probe_video(path).frame_count == 30
    with caplog.at_level(logging.WARNING, logger="tfdeepfake.video.reader"):
        frames, idx, info = read_sampled_frames(path, 10)
    np.testing.assert_array_equal(idx, sample_indices(30, 10))
    assert [int(round((f.mean() - 20) / 5)) for f in frames] == idx.tolist()
    assert info.frame_count == 30 and info.unreadable == ()
    assert "resampling" not in caplog.text and "cannot be decoded" not in caplog.text


def test_truncated_file_resamples_over_the_frames_that_exist(index_video, frame_index, tmp_path):
    data = index_video(40).read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: int(len(data) * 0.6)])
    assert probe_video(cut).frame_count == 40  # the header still says 40
    frames, idx, info = read_sampled_frames(cut, 10)
    assert 10 <= info.frame_count < 40
    np.testing.assert_array_equal(idx, sample_indices(info.frame_count, 10))
    assert decoded(frames, frame_index) == list(idx)


def test_seeking_over_long_gops_reads_the_right_frames(index_video, frame_index, monkeypatch):
    path = index_video(300, codec="h264", keyint=10)
    np.testing.assert_array_equal(keyframe_indices(path), np.arange(0, 300, 10))
    wanted = np.array([3, 97, 150, 151, 260, 299])
    plan = reader._seek_plan(str(path), wanted, probe_video(path))
    assert plan == {97, 150, 260}  # 151 follows 150; 299 is within 16 frames + saved work of 260
    frames, read = read_frames(path, wanted)
    assert decoded(frames, frame_index) == list(wanted)
    # And the sampled reader gets the same answer with seeking as without.
    fast = read_sampled_frames(path, 7)
    monkeypatch.setattr(seeking, "MIN_FRAMES_SAVED_BY_SEEK", 10**9)
    slow = read_sampled_frames(path, 7)
    np.testing.assert_array_equal(fast[1], slow[1])
    assert decoded(fast[0], frame_index) == list(fast[1])
    for a, b in zip(fast[0], slow[0]):
        np.testing.assert_array_equal(a, b)


def test_no_seeking_when_packets_disagree_with_the_count(index_video, monkeypatch):
    path = index_video(300, codec="h264", keyint=10)
    _lie_about_frame_count(monkeypatch, 310)
    assert reader._seek_plan(str(path), np.array([3, 200]), probe_video(path)) == set()


# --- pixel formats and rotation -------------------------------------------------------------


@pytest.mark.parametrize("codec", ["ffv1", "h264"])
def test_grayscale_video_gives_three_channel_rgb(index_video, frame_index, codec):
    path = index_video(20, codec=codec, gray=True)
    frames, read = read_frames(path, [0, 5, 19])
    assert decoded(frames, frame_index) == [0, 5, 19]
    for f in frames:
        assert f.shape == (48, 64, 3)
        assert np.array_equal(f[..., 0], f[..., 1]) and np.array_equal(f[..., 1], f[..., 2])


def test_to_rgb_handles_every_layout():
    bgr = np.zeros((2, 3, 3), np.uint8)
    bgr[..., 0] = 255  # blue in OpenCV order
    assert capture._to_rgb(bgr)[0, 0].tolist() == [0, 0, 255]
    bgra = np.dstack([bgr, np.full((2, 3), 7, np.uint8)])
    assert capture._to_rgb(bgra)[0, 0].tolist() == [0, 0, 255]
    gray = np.full((2, 3), 9, np.uint8)
    assert capture._to_rgb(gray).shape == (2, 3, 3)
    assert capture._to_rgb(gray[..., None])[1, 2].tolist() == [9, 9, 9]
    assert capture._to_rgb(np.full((2, 3, 3), 0x1234, np.uint16))[0, 0].tolist() == [0x12] * 3


def _marker_frames(n=6, size=(64, 48)):
    w, h = size
    frame = np.full((h, w, 3), 60, np.uint8)
    frame[:16, :16] = (230, 30, 30)  # red block top-left of the stored picture
    frame[-12:, -20:] = (30, 230, 30)  # green block bottom-right
    return [frame] * n


def _ffmpeg_decode_first(path, w, h):
    # ffmpeg auto-rotates on decode by default: what a player shows.
    out = subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-i", str(path), "-frames:v", "1",
                          "-f", "rawvideo", "-pix_fmt", "rgb24", "-"], capture_output=True, check=True).stdout
    return np.frombuffer(out, np.uint8).reshape(h, w, 3)


@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_rotation_metadata_is_applied(tmp_path, rotation):
    stored = _marker_frames()
    path = write_video(tmp_path / f"rot{rotation}.mp4", stored, 10, "h264", display_rotation=rotation)
    info = probe_video(path)
    assert info.rotation == rotation
    expected = np.rot90(stored[0], k=-rotation // 90)  # turned clockwise, as a player shows it
    assert (info.height, info.width) == expected.shape[:2]
    frames, _ = read_frames(path, [0, 5])
    for f in frames:
        assert f.shape == expected.shape
        assert np.abs(f.astype(int) - expected).mean() < 6
    player = _ffmpeg_decode_first(path, info.width, info.height)
    assert np.abs(frames[0].astype(int) - player).mean() < 1


# --- bad inputs -----------------------------------------------------------------------------


def _expect_error(path, reason):
    for call in (lambda: probe_video(path), lambda: read_frames(path, [0]), lambda: read_sampled_frames(path)):
        with pytest.raises(VideoReadError, match=reason) as err:
            call()
        assert str(path) in str(err.value)
        assert err.value.path == str(path)


def test_missing_file(tmp_path):
    _expect_error(tmp_path / "nope.mp4", "file not found")


def test_zero_byte_file(tmp_path):
    path = tmp_path / "empty.mp4"
    path.write_bytes(b"")
    _expect_error(path, "empty")


def test_text_file_named_mp4(tmp_path):
    path = tmp_path / "notes.mp4"
    path.write_text("not a video at all\n" * 20)
    _expect_error(path, "not a readable video")


def test_directory(tmp_path):
    _expect_error(tmp_path, "directory")


def test_a_file_we_may_not_read_says_permission_denied(tmp_path, monkeypatch):
    """Issue 14 item 10: it was "not a readable video (FFmpeg could not open it)"."""
    import os

    path = tmp_path / "locked.mp4"
    path.write_bytes(b"\x00" * 64)
    path.chmod(0)
    real_open = os.open

    def refusing_open(name, flags, *args, **kwargs):  # root may read anything: act as a user
        if os.fspath(name) == str(path):
            raise PermissionError(13, "Permission denied", str(name))
        return real_open(name, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", refusing_open)
    _expect_error(path, "permission denied")
    with pytest.raises(VideoReadError) as err:
        read_sampled_frames(path)
    assert err.value.transient  # the file may read later: not a property of the video
    back = pickle.loads(pickle.dumps(err.value))  # crosses from extract's workers intact
    assert back.transient and back.reason == "permission denied"


def test_a_pipe_is_refused_without_waiting(tmp_path):
    import os

    fifo = tmp_path / "pipe.mp4"
    os.mkfifo(fifo)
    _expect_error(fifo, "not a regular file")


def test_truncated_mp4_without_index_cannot_open(index_video, tmp_path):
    data = index_video(40, codec="h264").read_bytes()  # index (moov) written last
    path = tmp_path / "cut.mp4"
    path.write_bytes(data[: len(data) // 2])
    _expect_error(path, "not a readable video")


def test_truncated_mp4_that_yields_no_frames(index_video, tmp_path):
    data = index_video(40, codec="h264", faststart=True).read_bytes()
    mdat = data.find(b"mdat")
    path = tmp_path / "cut.mp4"
    path.write_bytes(data[: mdat + 20])  # index intact, frame data gone
    assert probe_video(path).frame_count == 40
    for call in (lambda: read_frames(path, [0, 1]), lambda: read_sampled_frames(path)):
        with pytest.raises(VideoReadError, match="no frames") as err:
            call()
        assert str(path) in str(err.value)


def test_error_is_an_oserror_and_survives_pickling(tmp_path):
    err = VideoReadError(tmp_path / "x.mp4", "file not found")
    assert isinstance(err, OSError)
    back = pickle.loads(pickle.dumps(err))
    assert (back.path, back.reason, str(back)) == (err.path, err.reason, str(err))


# --- real dataset footage ---------------------------------------------------------------------


@pytest.mark.shared_data
def test_dfdc_portrait_video_is_upright(shared_data_dir):
    path = shared_data_dir / "videos" / "dfdc" / "fake" / "brtujopkby.mp4"
    frames, idx, info = read_sampled_frames(path, 3)
    # Stored portrait (1080x1920) without rotation metadata: returned as stored.
    assert (info.width, info.height, info.rotation) == (1080, 1920, 0)
    assert all(f.shape == (1920, 1080, 3) for f in frames)
    np.testing.assert_array_equal(idx, sample_indices(info.frame_count, 3))


@pytest.mark.shared_data
def test_seeking_matches_sequential_decoding_on_real_footage(shared_data_dir, monkeypatch):
    path = shared_data_dir / "videos" / "ffpp_c23" / "real" / "original_youtube_c23_519.mp4"
    wanted = [3, 400, 740]
    info = probe_video(path)
    assert reader._seek_plan(str(path), np.array(wanted), info), "expected this file to be read with seeks"
    fast, _ = read_frames(path, wanted)
    cap = cv2.VideoCapture(str(path))
    try:
        reference = {}
        i = 0
        while cap.grab() and i <= max(wanted):
            if i in wanted:
                reference[i] = cv2.cvtColor(cap.retrieve()[1], cv2.COLOR_BGR2RGB)
            i += 1
    finally:
        cap.release()
    for i, f in zip(wanted, fast):
        np.testing.assert_array_equal(f, reference[i])


# --- a damaged middle (issue 14 item 7) ------------------------------------------------------


def damage_middle(path, out, size=2000, where=0.5, seed=0):
    """``path`` with ``size`` random bytes written over the middle of its data."""
    data = bytearray(path.read_bytes())
    start = int(len(data) * where)
    data[start:start + size] = np.random.RandomState(seed).randint(0, 256, size).astype(np.uint8).tobytes()
    out.write_bytes(bytes(data))
    return out


def test_a_damaged_middle_is_stepped_over_and_named(index_video, frame_index, tmp_path, caplog):
    """The reader took the first undecodable frame for the end: "container says 300 frames,
    stream has 196; resampling", no flag, and the frames after the damage never read."""
    path = damage_middle(index_video(300, codec="h264", keyint=25), tmp_path / "damaged.mp4")
    with caplog.at_level(logging.WARNING, logger="tfdeepfake.video.reader"):
        frames, idx, info = read_sampled_frames(path, 25)
    assert info.frame_count == 300
    ((first, last),) = info.unreadable
    assert 0 < first <= last < 299
    assert info.unreadable_note == f"partly unreadable: frames {first}–{last}"
    assert decoded(frames, frame_index) == idx.tolist()  # every frame is the one it says
    assert idx.max() > last  # frames after the damage are read
    assert not set(idx.tolist()) & set(range(first, last + 1))
    np.testing.assert_array_equal(idx, [i for i in sample_indices(300, 25) if not first <= i <= last])
    assert "resampling" not in caplog.text and f"frames {first}-{last} cannot be decoded" in caplog.text
    got, read = read_frames(path, [0, first, last + 1, 299])
    assert read.tolist() == [0, last + 1, 299] and decoded(got, frame_index) == [0, last + 1, 299]


def test_an_intact_video_reads_as_before(index_video):
    _, _, info = read_sampled_frames(index_video(60, codec="h264", keyint=25), 10)
    assert info.unreadable == () and info.unreadable_note == "" and info.frame_count == 60


def test_iter_frames_steps_over_a_damaged_middle_and_keeps_the_count(index_video, frame_index, tmp_path):
    """iter_frames stopped at the first undecodable frame, so `detect --annotate` wrote a copy
    of a damaged video cut short there. Every frame index is kept: the frames FFmpeg cannot
    decode repeat the last good one, the frames after the damage are themselves."""
    path = damage_middle(index_video(300, codec="h264", keyint=25), tmp_path / "damaged.mp4")
    _, _, info = read_sampled_frames(path, 25)
    ((first, last),) = info.unreadable
    got = decoded(reader.iter_frames(path), frame_index)
    assert len(got) == 300  # the container's count: nothing lost after the damage
    assert got[:first] == list(range(first))
    assert got[first:last + 1] == [first - 1] * (last + 1 - first)  # the last good frame repeats
    assert got[last + 1:] == list(range(last + 1, 300))


def test_iter_frames_of_an_intact_video_is_every_frame(index_video, frame_index):
    path = index_video(40, codec="h264", keyint=25)
    assert decoded(reader.iter_frames(path), frame_index) == list(range(40))
