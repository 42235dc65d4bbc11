"""Files OpenCV opens but decodes nothing of (AV1: the opencv-python wheels have no
software AV1 decoder) are read through PyAV, by every reader."""

import cv2
import numpy as np
import pytest

from tests.media import FACE, write_pyav_video
from tfdeepfake.video import pyav_frames, reader
from tfdeepfake.video.reader import (NOTHING_DECODED, VideoReadError, iter_frames, read_frames,
                                     read_sampled_frames)
from tfdeepfake.video.sampling import sample_indices

av = pytest.importorskip("av")

FRAMES = 40


def _level(index: int) -> int:
    return 20 + 5 * index


def _write_av1(path, frames, fps=10):
    return write_pyav_video(path, frames, "libsvtav1", fps, codec_options={"preset": "12"})


@pytest.fixture(scope="module")
def av1_clip(tmp_path_factory):
    """40 flat grey frames, frame i at level 20 + 5i, so a frame tells its index."""
    frames = [np.full((96, 128, 3), _level(i), np.uint8) for i in range(FRAMES)]
    return _write_av1(tmp_path_factory.mktemp("av1") / "clip.mp4", frames)


def _index_of(frame) -> int:
    return int(round((frame.mean() - 20) / 5))


def test_sampled_frames_of_an_av1_file_are_the_right_frames(av1_clip):
    frames, indices, info = read_sampled_frames(av1_clip, 10)
    assert indices.tolist() == sample_indices(FRAMES, 10, "uniform").tolist()
    assert [_index_of(f) for f in frames] == indices.tolist()
    assert frames[0].shape == (96, 128, 3) and frames[0].dtype == np.uint8
    assert info.frame_count == FRAMES


def test_read_frames_and_iter_frames_read_an_av1_file(av1_clip):
    frames, read = read_frames(av1_clip, [0, 7, 39, 500])
    assert read.tolist() == [0, 7, 39]
    assert [_index_of(f) for f in frames] == [0, 7, 39]
    assert [_index_of(f) for f in iter_frames(av1_clip)] == list(range(FRAMES))


def _nothing(*args, **kwargs):
    return {}, 0


def _cannot_open(*args, **kwargs):
    raise OSError("Invalid data found when processing input")


@pytest.mark.parametrize("pyav", [_nothing, _cannot_open])
def test_opencvs_error_stands_when_pyav_decodes_nothing_either(av1_clip, monkeypatch, pyav):
    monkeypatch.setattr(reader, "read_pyav_frames", pyav)
    monkeypatch.setattr(pyav_frames, "read_pyav_frames", pyav)
    opencv_decodes_it = True
    try:
        reader._read_sampled_opencv(str(av1_clip), 10, "uniform", None)
    except VideoReadError:
        opencv_decodes_it = False
    if opencv_decodes_it:
        pytest.skip("this OpenCV decodes AV1 itself: the fallback is not reached")
    with pytest.raises(VideoReadError, match=NOTHING_DECODED) as error:
        read_sampled_frames(av1_clip, 10)
    assert str(av1_clip) in str(error.value)
    with pytest.raises(VideoReadError, match=NOTHING_DECODED):
        read_frames(av1_clip, [0])


def test_faces_are_found_in_an_av1_face_video(tmp_path):
    from tfdeepfake.faces.detector import get_detector
    from tfdeepfake.faces.pipeline import faces_of_video
    from tfdeepfake.faces.settings import FaceSettings

    background = np.random.RandomState(0).randint(0, 60, (240, 320, 3)).astype(np.uint8)
    frames = []
    for i in range(12):
        frame = background.copy()
        frame[20:140, 10 + 2 * i:130 + 2 * i] = cv2.resize(FACE, (120, 120))
        frames.append(frame)
    path = _write_av1(tmp_path / "face.mp4", frames)
    settings = FaceSettings(num_frames=6)
    arrays, attrs = faces_of_video(path, settings, get_detector(settings.detector))
    assert len(arrays["faces"]) == 6
    assert attrs["frame_count"] == 12
