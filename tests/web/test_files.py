"""What an upload or a pick may touch: content checks, display names, the videos folder."""

import os

import numpy as np
import pytest

from tfdeepfake.synthetic.videos import write_video
from tfdeepfake.web.files import (
    UploadRejected,
    VideoFolder,
    check_upload,
    shown_name,
    sniff_container,
)


def _frames(n=4):
    return [np.full((48, 64, 3), 60 + 10 * i, np.uint8) for i in range(n)]


def test_containers_are_told_by_their_first_bytes(tmp_path):
    mp4 = write_video(tmp_path / "a.mp4", _frames(), 10, "h264")
    avi = write_video(tmp_path / "a.avi", _frames(), 10, "mjpg")
    mkv = write_video(tmp_path / "a.mkv", _frames(), 10, "ffv1")
    found = [sniff_container(p.read_bytes()[:64]) for p in (mp4, avi, mkv)]
    assert found == [".mp4", ".avi", ".mkv"]
    assert sniff_container(b"hello, this is text and not a video") is None
    assert sniff_container(b"") is None
    # The name does not matter: an MP4 called .txt is an MP4.
    renamed = tmp_path / "notes.txt"
    renamed.write_bytes(mp4.read_bytes())
    assert check_upload(renamed, "notes.txt") == ".mp4"


# suffix, encoder, PyAV container format, muxer options
OTHER_CONTAINERS = [(".ts", "libx264", "mpegts", None), (".m2ts", "libx264", "mpegts", {"mpegts_m2ts_mode": "1"}),
                    (".mpg", "mpeg2video", "mpeg", None), (".wmv", "wmv2", "asf", None), (".flv", "flv", "flv", None)]


@pytest.mark.parametrize("suffix,codec,container,options", OTHER_CONTAINERS)
def test_broadcast_and_older_containers_are_told_and_accepted(tmp_path, suffix, codec, container, options):
    from tests.media import write_pyav_video

    path = write_pyav_video(tmp_path / f"clip{suffix}", _frames(8), codec, container_format=container,
                            options=options)
    assert sniff_container(path.read_bytes()[:256]) == suffix
    assert check_upload(path, f"clip{suffix}") == suffix


def test_uploads_that_are_not_videos_are_refused_with_a_reason(tmp_path):
    text = tmp_path / "upload"
    text.write_text("I am a text file renamed to .mp4\n" * 10)
    with pytest.raises(UploadRejected, match=r"clip\.mp4: not a video file"):
        check_upload(text, "clip.mp4")
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    with pytest.raises(UploadRejected, match=r"clip\.mp4: the file is empty \(0 bytes\)"):
        check_upload(empty, "clip.mp4")
    # The right first bytes and garbage after them: refused when no frame decodes.
    fake = tmp_path / "fake"
    fake.write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(2000))
    with pytest.raises(UploadRejected, match="looks like a video container but"):
        check_upload(fake, "clip.mp4")


def test_shown_names_are_for_display_only():
    assert shown_name("../../etc/passwd") == "passwd"
    assert shown_name("C:\\Users\\me\\clip.mp4") == "clip.mp4"
    assert shown_name("") == "upload" and shown_name(None) == "upload"
    assert shown_name("a\x00b\nc.mp4") == "abc.mp4"
    assert len(shown_name("x" * 300)) == 80


def test_the_videos_folder_lists_and_resolves_only_its_own_videos(tmp_path):
    root = tmp_path / "videos"
    (root / "sub").mkdir(parents=True)
    for name in ("a.mp4", "sub/b.MOV", "notes.txt", ".hidden.mp4"):
        (root / name).write_bytes(b"x")
    outside = tmp_path / "secret.mp4"
    outside.write_bytes(b"x")
    (root / "link.mp4").symlink_to(outside)  # a link leading out of the folder
    folder = VideoFolder(root)
    assert folder.names() == ["a.mp4", "sub/b.MOV"]
    assert folder.resolve("sub/b.MOV") == (root / "sub" / "b.MOV").resolve()
    for bad in ("../secret.mp4", str(outside), "link.mp4", "notes.txt", "sub", "", "missing.mp4",
                "sub/../../secret.mp4", "a.mp4\x00.txt"):
        with pytest.raises(FileNotFoundError):
            folder.resolve(bad)
    with pytest.raises(NotADirectoryError, match="not a folder"):
        VideoFolder(root / "a.mp4")


def test_a_name_that_is_not_utf8_is_left_off_the_list_with_a_warning(tmp_path, caplog):
    # Issue 22, item 1: a 'caf\xe9.mp4' from a Latin-1 file system made every page a 500.
    root = tmp_path / "videos"
    root.mkdir()
    (root / "a.mp4").write_bytes(b"x")
    try:
        with open(os.path.join(os.fsencode(root), b"caf\xe9.mp4"), "wb") as out:
            out.write(b"x")
    except (OSError, UnicodeError):
        pytest.skip("this file system does not take non-UTF-8 names")
    folder = VideoFolder(root)
    assert folder.names() == ["a.mp4"]
    assert "caf\\udce9.mp4" in caplog.text and "not valid UTF-8" in caplog.text
    from tfdeepfake.web.app import create_app
    from tfdeepfake.web.jobs import JobQueue

    jobs = JobQueue({"none": None}, work_dir=tmp_path / "work")  # no job runs here
    try:
        page = create_app(jobs, videos=folder).test_client().get("/")
    finally:
        jobs.close()
    assert page.status_code == 200 and b"a.mp4" in page.data
