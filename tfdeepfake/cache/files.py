"""Files around a cache: what goes wrong writing them (a full disk, a killed writer's temp
files) and what a file that is not a cache is, for messages that say so."""

from __future__ import annotations

import contextlib
import errno
import json
import os
from pathlib import Path


class CacheError(RuntimeError):
    """A cache file that cannot be used; the message names the file and what to do."""


class DiskFullError(CacheError):
    """The disk filled up while writing ``path``; what was written before is intact."""

    def __init__(self, path: str | os.PathLike, saved: str = ""):
        self.path = str(path)
        self.saved = saved  # e.g. "12 videos saved in faces.h5"
        super().__init__(f"disk full writing {self.path}; {saved + '; ' if saved else ''}"
                         "free space and rerun")

    def __reduce__(self):
        # Raised in worker processes and re-raised in the parent.
        return (type(self), (self.path, self.saved))


def is_disk_full(error: BaseException) -> bool:
    """Whether ``error`` is ENOSPC (h5py reports it in the message, not always in errno)."""
    if isinstance(error, DiskFullError):
        return True
    if not isinstance(error, OSError):
        return False
    text = str(error)
    return error.errno == errno.ENOSPC or "No space left on device" in text or "errno = 28" in text


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # someone else's process, or we cannot tell: leave its files alone
    return True


def temp_pid(name: str) -> int | None:
    """The writer PID in a temp name ``.<name>.<pid>.tmp``, or None."""
    parts = name.split(".")
    if len(parts) >= 4 and name.startswith(".") and parts[-1] == "tmp" and parts[-2].isdigit():
        return int(parts[-2])
    return None


def describe_file(path: Path) -> str:
    """What a file that is not a cache looks like, for error messages."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(4096)
    except OSError as error:
        return f"unreadable ({error.strerror or error})"
    if not head:
        return "an empty file"
    if head.startswith(b"\x89HDF"):
        return "an HDF5 file"
    if head[4:8] == b"ftyp" or head.startswith((b"RIFF", b"\x1aE\xdf\xa3")):
        return "a video file"
    first = head.lstrip().split(b"\n", 1)[0]
    if first.startswith(b"{"):
        try:
            row = json.loads(first)
        except ValueError:
            row = None
        if isinstance(row, dict) and "video_id" in row and "path" in row:
            return "a manifest (JSON Lines from `tfdeepfake index`)"
        return "a JSON file"
    try:
        head[:4090].decode("utf-8")  # a character cut at the end of the read is fine
    except UnicodeDecodeError:
        return "not an HDF5 file"
    return "a text file"


@contextlib.contextmanager
def cleaned_on_error(temp: Path | None, target: Path):
    """Remove ``temp`` when the block fails; a full disk becomes one ``DiskFullError``
    naming ``target`` (h5py's own message is long and names the temp file)."""
    try:
        yield
    except BaseException as error:
        if temp is not None:
            try:
                temp.unlink(missing_ok=True)
            except OSError:
                pass
        if is_disk_full(error) and not isinstance(error, DiskFullError):
            raise DiskFullError(target) from error
        raise


def atomic_write_text(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` through a temp file and a rename: a kill mid-write leaves
    the old file (or none), never half a file."""
    path = Path(path)
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with cleaned_on_error(temp, path):
        temp.write_text(text, "utf-8")
        os.replace(temp, path)
    return path


def remove_stale_temps(main: Path, parts_dir: Path) -> tuple[list[str], int]:
    """Remove temp files of writers that died mid-write (killed, or a full disk): the main
    file's ``.NAME.PID.tmp`` beside it and the parts' ``.PART.PID.tmp`` whose PID is not
    running. Returns the names removed and their total size in bytes."""
    places = [(main.parent, lambda name, pid: name == f".{main.name}.{pid}.tmp"),
              (parts_dir, lambda name, pid: True)]
    removed, size = [], 0
    for folder, ours in places:
        if not folder.is_dir():
            continue
        for temp in folder.iterdir():
            pid = temp_pid(temp.name)
            if pid is None or pid == os.getpid() or not ours(temp.name, pid) or pid_alive(pid):
                continue
            try:
                size += temp.stat().st_size
                temp.unlink()
            except FileNotFoundError:
                continue
            removed.append(temp.name)
    return removed, size
