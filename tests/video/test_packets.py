"""The packet plan decodes only what sampled frames need, and gives OpenCV's pixels."""

import subprocess
import sys

import numpy as np
import pytest

from tfdeepfake.synthetic.writer import ffmpeg_exe, write_video
from tfdeepfake.video import packets, reader
from tfdeepfake.video.reader import probe_video
from tfdeepfake.video.sampling import sample_indices

av = pytest.importorskip("av")


def _opencv_frames(path, wanted):
    """The frames the OpenCV reader gives for ``wanted`` (the path before packet plans)."""
    capture = reader._Capture(str(path))
    try:
        result = reader._read_wanted(capture, np.asarray(wanted))
    finally:
        capture.release()
    return result.frames


def _same_as_opencv(path, wanted):
    info = probe_video(path)
    planned = packets.read_by_packets(path, wanted, info.frame_count, info.rotation)
    assert planned is not None, f"{path.name}: the plan was not used"
    expected = _opencv_frames(path, wanted)
    assert sorted(planned) == sorted(expected) == sorted(np.asarray(wanted).tolist())
    for index in expected:
        assert np.array_equal(planned[index], expected[index]), f"{path.name}: frame {index} differs"


def _moving_frames(n, size=(96, 64), seed=0):
    """Textured frames with motion, so that x264 makes B-frames (non-reference ones)."""
    w, h = size
    rng = np.random.RandomState(seed)
    texture = rng.randint(0, 256, (h, w * 2, 3)).astype(np.uint8)
    return [np.ascontiguousarray(texture[:, i % w:i % w + w]) for i in range(n)]


@pytest.mark.parametrize("keyint", [None, 12])
def test_sampled_frames_equal_opencvs(tmp_path, keyint):
    path = write_video(tmp_path / "v.mp4", _moving_frames(90), 30, "h264", keyint=keyint)
    _same_as_opencv(path, sample_indices(90, 25, "uniform"))
    _same_as_opencv(path, [0, 1, 2, 89])


@pytest.mark.parametrize("rotation", [90, 270])
def test_rotated_videos_come_out_upright_like_opencvs(tmp_path, rotation):
    path = write_video(tmp_path / "r.mp4", _moving_frames(30), 30, "h264", display_rotation=rotation)
    _same_as_opencv(path, [0, 7, 29])


def test_streams_tagged_bt709_convert_as_opencv_does(tmp_path):
    # HD streams are tagged BT.709; OpenCV converts every stream as BT.601.
    plain = write_video(tmp_path / "p.mp4", _moving_frames(20), 25, "h264")
    tagged = tmp_path / "bt709.mp4"
    subprocess.run([ffmpeg_exe(), "-y", "-loglevel", "error", "-i", str(plain), "-c", "copy",
                    "-bsf:v", "h264_metadata=matrix_coefficients=1:colour_primaries=1:"
                    "transfer_characteristics=1:video_full_range_flag=0", str(tagged)], check=True)
    with av.open(str(tagged)) as container:
        assert container.streams.video[0].codec_context.colorspace == 1  # AVCOL_SPC_BT709
    _same_as_opencv(tagged, [0, 10, 19])


def test_non_reference_frames_and_frames_after_the_last_wanted_are_not_decoded(tmp_path):
    path = write_video(tmp_path / "v.mp4", _moving_frames(120), 30, "h264", keyint=30)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        size = packets.nal_length_size(bytes(stream.codec_context.extradata))
        kinds = [packets.slice_kind(bytes(p), size) for p in container.demux(stream) if p.size]
    assert len(kinds) == 120
    assert sum(not ref for ref, _ in kinds) > 20  # x264's B-frames
    assert [i for i, (_, idr) in enumerate(kinds) if idr] == [0, 30, 60, 90]
    needed = packets.decode_plan(kinds, [5])
    # Frame 5 (decode order) needs the references before it in its group, nothing later.
    assert needed[5] and not needed[6:].any()
    assert all(needed[i] == kinds[i][0] for i in range(5))
    # One frame in the third group: the first two groups are not decoded at all.
    needed = packets.decode_plan(kinds, [65])
    assert not needed[:60].any() and needed[60]


def test_decode_plan_on_a_made_up_stream():
    # I P b P b | I b P    (reference, idr) per packet in decode order
    kinds = [(True, True), (True, False), (False, False), (True, False), (False, False),
             (True, True), (False, False), (True, False)]
    assert packets.decode_plan(kinds, [4]).tolist() == [1, 1, 0, 1, 1, 0, 0, 0]
    assert packets.decode_plan(kinds, [7]).tolist() == [0, 0, 0, 0, 0, 1, 0, 1]
    assert packets.decode_plan(kinds, [2, 6]).tolist() == [1, 1, 1, 0, 0, 1, 1, 0]


def test_slice_kind_reads_nal_headers_and_refuses_garbage():
    def nal(header, payload=b"\x88\x84"):
        return len(bytes([header]) + payload).to_bytes(4, "big") + bytes([header]) + payload
    sei, idr, ref_p, nonref_b = 0x06, 0x65, 0x41, 0x01
    assert packets.slice_kind(nal(sei) + nal(idr), 4) == (True, True)
    assert packets.slice_kind(nal(ref_p), 4) == (True, False)
    assert packets.slice_kind(nal(nonref_b), 4) == (False, False)
    assert packets.slice_kind(nal(sei), 4) is None  # no slice
    assert packets.slice_kind(nal(ref_p)[:-1], 4) is None  # lengths do not add up
    assert packets.nal_length_size(b"\x01\x64\x00\x1f\xff\xe1\x00") == 4
    assert packets.nal_length_size(b"\x00\x00\x00\x01\x67") is None  # Annex B


def test_other_streams_are_left_to_opencv(tmp_path):
    frames = _moving_frames(20)
    lossless = write_video(tmp_path / "v.avi", frames, 25, "ffv1")
    assert packets.read_by_packets(lossless, [0, 5], 20) is None
    h264 = write_video(tmp_path / "v.mp4", frames, 25, "h264")
    annex_b = tmp_path / "v.ts"
    subprocess.run([ffmpeg_exe(), "-y", "-loglevel", "error", "-i", str(h264), "-c", "copy",
                    str(annex_b)], check=True)
    assert packets.read_by_packets(annex_b, [0, 5], 20) is None
    # A container count that disagrees with the packets: the reader's own checks decide.
    assert packets.read_by_packets(h264, [0, 5], 21) is None
    assert packets.read_by_packets(h264, [0, 5], 20) is not None


def test_read_sampled_frames_uses_the_plan_and_works_without_pyav(tmp_path, monkeypatch):
    path = write_video(tmp_path / "v.mp4", _moving_frames(60), 30, "h264")
    planned, indices, _ = reader.read_sampled_frames(path, 10)
    calls = []
    monkeypatch.setattr(reader, "read_by_packets", lambda *a: calls.append(a))
    through_opencv, same_indices, _ = reader.read_sampled_frames(path, 10)
    assert calls and np.array_equal(indices, same_indices)
    assert all(np.array_equal(a, b) for a, b in zip(planned, through_opencv))
    monkeypatch.setitem(sys.modules, "av", None)  # PyAV not installed
    assert packets.read_by_packets(path, [0, 5], 60) is None


@pytest.mark.shared_data
def test_real_footage_frames_equal_opencvs(shared_data_dir):
    # A 1080p DFDC clip, an FF++ c23 clip and a BT.709-tagged talking head.
    videos = shared_data_dir / "videos"
    for name in ("dfdc/real/knqhpwoigk.mp4", "ffpp_c23/real/original_youtube_c23_004.mp4",
                 "real_only/liveportrait_driving_d10.mp4"):
        path = videos / name
        info = probe_video(path)
        _same_as_opencv(path, sample_indices(info.frame_count, 25, "uniform"))
