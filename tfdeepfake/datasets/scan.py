"""Finding video files on disk and reading label words; shared by the layout readers."""

from __future__ import annotations

import os
import posixpath
from pathlib import Path

from tfdeepfake.constants import FAKE, REAL
from tfdeepfake.datasets.records import DatasetError, Skip

# Containers FFmpeg reads that people keep faces in: ISO media (phones, datasets), AVI,
# Matroska/WebM, MPEG program and transport streams (DVD, broadcast, camcorders), ASF,
# Flash video, Ogg.
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".3gp", ".mpg", ".mpeg",
                    ".ts", ".mts", ".m2ts", ".wmv", ".flv", ".ogv")
SKIP_HIDDEN = "hidden file (for example a macOS '._' copy)"
SKIP_FOLDER_AGAIN = "folder reached twice through links (indexed once)"
SKIP_FOLDER_NAMED_VIDEO = "a folder named like a video, with no video in it"

_LABEL_WORDS = {"0": REAL, "1": FAKE, "real": REAL, "fake": FAKE}


def is_video_name(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in VIDEO_EXTENSIONS


def find_videos(
    root: str | os.PathLike, folder: str = "", *, recursive: bool = True
) -> tuple[list[str], list[Skip]]:
    """Video files under ``root/folder`` as sorted posix paths relative to ``root``.

    Symlinks are followed, to files and to folders, wherever they lead: a folder of links
    to videos stored elsewhere is how people assemble datasets. A folder reached a second
    time (a link loop, or two links to one folder) is entered once and reported as a skip.
    Hidden files with a video extension are returned as skips: copies made on macOS carry
    ``._name.mp4`` resource forks that look like videos but are not. Hidden folders are
    not entered. A folder named like a video (``clip.mp4/``) with no video in it is a skip,
    so that it is reported rather than silently absent.
    """
    root = Path(root)
    top = root / folder if folder else root
    found: list[str] = []
    skips: list[Skip] = []

    def visit(directory: str, names: list[str]) -> None:
        rel_dir = Path(directory).relative_to(root).as_posix()
        for name in names:
            if not is_video_name(name):
                continue
            rel = name if rel_dir == "." else posixpath.join(rel_dir, name)
            if name.startswith("."):
                skips.append(Skip(str(root / rel), SKIP_HIDDEN, SKIP_HIDDEN))
            else:
                found.append(rel)

    named_like_videos: list[str] = []
    if recursive:
        seen = {os.path.realpath(top)}
        for directory, dirnames, filenames in os.walk(top, followlinks=True):
            entered = []
            named_like_videos += [os.path.join(directory, d) for d in dirnames
                                  if is_video_name(d) and not d.startswith(".")]
            for name in sorted(d for d in dirnames if not d.startswith(".")):
                path = os.path.join(directory, name)
                real = os.path.realpath(path)
                if real in seen:
                    skips.append(Skip(path, f"folder {real} already indexed through another "
                                            "path (a link loop or a second link)", SKIP_FOLDER_AGAIN))
                    continue
                seen.add(real)
                entered.append(name)
            dirnames[:] = entered
            visit(directory, filenames)
    elif top.is_dir():
        with os.scandir(top) as entries:
            entries = list(entries)
        named_like_videos += [e.path for e in entries if e.is_dir() and is_video_name(e.name)]
        visit(str(top), [e.name for e in entries if not e.is_dir()])
    for folder in named_like_videos:
        inside = Path(folder).relative_to(root).as_posix() + "/"
        if recursive and any(path.startswith(inside) for path in found):
            continue
        skips.append(Skip(folder, SKIP_FOLDER_NAMED_VIDEO, SKIP_FOLDER_NAMED_VIDEO))
    return sorted(found), skips


def parse_label(value: object, where: str) -> int:
    """0/1/real/fake (any case) -> 0 = real, 1 = fake."""
    word = str(value).strip().lower()
    if word not in _LABEL_WORDS:
        raise DatasetError(f"{where}: unknown label {value!r}; expected 0, 1, real or fake")
    return _LABEL_WORDS[word]
