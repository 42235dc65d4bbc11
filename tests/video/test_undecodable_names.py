"""File names that are not valid UTF-8 (issue 22, item 1): ``caf\\xe9.mp4`` from a Latin-1
file system arrives in Python as ``'caf\\udce9.mp4'``, and ``cv2.VideoCapture`` segfaults on
such a string. Every reader opens through ``capture._open_capture``; these tests run the
readers in a subprocess so that a segfault fails the test instead of killing pytest."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from tests.conftest import REPO_ROOT, clean_environment
from tests.media import write_face_video

LATIN1_NAME = b"caf\xe9.mp4"


def run_python(code: str, cwd, tmpdir=None) -> subprocess.CompletedProcess:
    env = {**clean_environment(), "PYTHONPATH": str(REPO_ROOT)}
    if tmpdir is not None:
        env["TMPDIR"] = str(tmpdir)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def latin1_video(tmp_path):
    """The same small face video under a plain name and under a non-UTF-8 name."""
    plain = write_face_video(tmp_path / "plain.mp4", num_frames=12)
    (tmp_path / "tmp").mkdir()
    try:
        with open(os.path.join(os.fsencode(tmp_path), LATIN1_NAME), "wb") as out:
            out.write(plain.read_bytes())
    except (OSError, UnicodeError):
        pytest.skip("this file system does not take non-UTF-8 names")
    return tmp_path


def test_every_reader_reads_a_file_whose_name_is_not_utf8(latin1_video):
    result = run_python("""
        import os
        import tempfile
        import numpy as np
        from tfdeepfake.video.reader import iter_frames, probe_video, read_frames, read_sampled_frames
        from tfdeepfake.video.seeking import keyframe_indices

        name = os.fsdecode(b"caf\\xe9.mp4")
        assert "\\udce9" in name and os.path.isfile(name)
        assert probe_video(name).frame_count == probe_video("plain.mp4").frame_count == 12
        for reader in (lambda p: read_frames(p, [0, 5, 11]),
                       lambda p: read_sampled_frames(p, 4)[:2]):
            frames, read = reader(name)
            want, want_read = reader("plain.mp4")
            np.testing.assert_array_equal(read, want_read)
            np.testing.assert_array_equal(np.stack(frames), np.stack(want))
        assert sum(1 for _ in iter_frames(name)) == 12
        assert list(keyframe_indices(name)) == list(keyframe_indices("plain.mp4"))
        assert tempfile.gettempdir().endswith("tmp") and os.listdir(tempfile.gettempdir()) == []
        print("read True")
    """, cwd=latin1_video, tmpdir=latin1_video / "tmp")
    assert result.returncode == 0, (result.returncode, result.stderr[-2000:])
    assert "read True" in result.stdout
    # The links through which OpenCV opened it are gone, and nothing was added beside it.
    assert os.listdir(latin1_video / "tmp") == []
    assert sorted(os.listdir(os.fsencode(latin1_video))) == sorted([LATIN1_NAME, b"plain.mp4",
                                                                    b"tmp"])


def test_a_missing_non_utf8_name_is_an_error_naming_it(tmp_path):
    result = run_python("""
        import os
        from tfdeepfake.video.reader import VideoReadError, probe_video

        try:
            probe_video(os.fsdecode(b"caf\\xe9.mp4"))
        except VideoReadError as error:
            print("error:", ascii(str(error)))
    """, cwd=tmp_path)
    assert result.returncode == 0, (result.returncode, result.stderr[-2000:])
    assert "caf\\udce9.mp4" in result.stdout and "file not found" in result.stdout
