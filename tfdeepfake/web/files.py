"""What the web page lets into the file system: uploads checked by their content, and videos
picked only from inside the configured folder. No name from a request is ever a path: an
upload is stored under the job's generated id, and a pick must be one of the listed names."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from tfdeepfake.datasets.scan import is_video_name

# The containers `detect` reads (VIDEO_EXTENSIONS), told apart by their first bytes.
_QUICKTIME_BOXES = (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip")
_ASF = bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c")  # ASF header object GUID (WMV)
MAX_LISTED = 1000

logger = logging.getLogger(__name__)


class UploadRejected(ValueError):
    """An upload that is not a video; the message is for the person who sent it."""


def sniff_container(head: bytes) -> str | None:
    """The file suffix for a video container recognised from its first bytes, else None."""
    if len(head) >= 12 and head[4:8] in _QUICKTIME_BOXES:
        return ".mp4"  # MP4, MOV, M4V, 3GP: ISO base media; FFmpeg reads them alike
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return ".avi"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return ".mkv"  # Matroska and WebM (EBML)
    if head[:4] == b"\x00\x00\x01\xba":
        return ".mpg"  # MPEG program stream
    if len(head) >= 189 and head[0] == head[188] == 0x47:
        return ".ts"  # MPEG transport stream: 188-byte packets, each opening with 0x47
    if len(head) >= 197 and head[4] == head[196] == 0x47:
        return ".m2ts"  # Blu-ray / AVCHD: 4-byte time code before each packet
    if head[:16] == _ASF:
        return ".wmv"
    if head[:3] == b"FLV":
        return ".flv"
    if head[:4] == b"OggS":
        return ".ogv"
    return None


def check_upload(path: Path, shown_name: str) -> str:
    """The container suffix of the file at ``path``, or ``UploadRejected`` saying why not:
    empty, not a video container, or a container FFmpeg cannot decode a frame from."""
    from tfdeepfake.video.reader import VideoReadError, read_frames

    size = path.stat().st_size
    if size == 0:
        raise UploadRejected(f"{shown_name}: the file is empty (0 bytes)")
    with open(path, "rb") as f:
        head = f.read(256)
    suffix = sniff_container(head)
    if suffix is None:
        raise UploadRejected(f"{shown_name}: not a video file (its content is not MP4/MOV, "
                             "AVI, MKV/WebM, MPEG-PS/TS, WMV, FLV or Ogg, whatever its name says)")
    try:
        read_frames(path, [0])
    except (VideoReadError, ValueError) as error:
        reason = getattr(error, "reason", None) or "it could not be decoded"
        raise UploadRejected(f"{shown_name}: looks like a video container but {reason}") from None
    return suffix


def shown_name(filename: str | None, limit: int = 80) -> str:
    """An uploaded file's name for display only (never used as a path)."""
    name = os.path.basename((filename or "").replace("\\", "/")).strip() or "upload"
    name = "".join(c for c in name if c.isprintable())
    return name if len(name) <= limit else name[:limit - 3] + "..."


class VideoFolder:
    """The ``--videos`` folder: lists its videos by relative name and resolves only those."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root).resolve()
        if not self.root.is_dir():
            raise NotADirectoryError(f"{root}: not a folder (--videos)")

    def names(self) -> list[str]:
        """Relative names (with '/') of the videos inside the folder, links leaving it excluded."""
        found = []
        for path in sorted(self.root.rglob("*")):
            if len(found) >= MAX_LISTED:
                break
            if is_video_name(path.name) and not path.name.startswith(".") and self._inside(path):
                name = path.relative_to(self.root).as_posix()
                try:
                    name.encode("utf-8")
                except UnicodeEncodeError:
                    # A page (and the name it sends back) is UTF-8: such a name would
                    # fail every request for the page.
                    logger.warning("--videos: %s not listed: its name is not valid UTF-8",
                                   ascii(str(path)))
                    continue
                found.append(name)
        return found

    def resolve(self, name: str) -> Path:
        """The file for a listed ``name``; ``FileNotFoundError`` for anything else (absolute
        paths, '..', links out of the folder, files that are not listed videos)."""
        if not isinstance(name, str) or not name or "\x00" in name or os.path.isabs(name):
            raise FileNotFoundError("no such video in the folder")
        candidate = self.root / name
        if not (is_video_name(candidate.name) and self._inside(candidate)):
            raise FileNotFoundError("no such video in the folder")
        return candidate.resolve()

    def _inside(self, path: Path) -> bool:
        try:
            target = path.resolve(strict=True)
        except (OSError, RuntimeError):
            return False
        return target.is_file() and self.root in target.parents


__all__ = ["UploadRejected", "VideoFolder", "check_upload", "shown_name", "sniff_container"]
