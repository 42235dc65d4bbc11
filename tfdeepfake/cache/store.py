"""A resumable HDF5 store with one group per video.

HDF5 files are not safe against a kill in the middle of a write, so nothing writes into the
main file while work is in flight: each finished video is first written to its own small
"part" file (temp file + atomic rename), and parts are merged into a copy of the main file
that atomically replaces it. A run that is killed loses only the videos in flight; its parts
are merged by the next run (or read directly until then).

Every part records the settings it was made with; parts made with other settings than the
cache's are left out of reads and discarded (with a warning) by the next merge, so a cache
never mixes, say, 160-px and 299-px faces. A full disk stops the writer with one
``DiskFullError`` and removes its temp file; the next merge also removes temp files whose
writer process is dead.
"""

from __future__ import annotations

import io
import json
import logging
import os
import shutil
import time
from pathlib import Path
from typing import Callable, Iterable, Iterator

import h5py
import numpy as np

from tfdeepfake.cache.files import (
    CacheError,
    DiskFullError,
    cleaned_on_error,
    describe_file,
    remove_stale_temps,
)
from tfdeepfake.cache.groups import (
    Failure,
    StoredVideo,
    from_attrs,
    group_name,
    part_stem,
    read_video_group,
    to_attr,
)
# Looked up here at call time, so tests can make a write fail (a full disk) under this name.
from tfdeepfake.cache.groups import write_video_group as _write_video_group
from tfdeepfake.provenance import package_versions

__all__ = ["CacheError", "Failure", "FORMAT_VERSION", "StoredVideo", "VideoStore"]

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
_VIDEOS = "videos"
_FAILURES = "failures"
# Room a merge needs beyond a copy of the main file and the parts (whose own HDF5 overhead
# already exceeds what merging them adds): new metadata.
_MERGE_HEADROOM = 64 * 1024
_MADE_BY = {"faces": " from `tfdeepfake extract`", "embeddings": " from `tfdeepfake embed`"}


class VideoStore:
    """One HDF5 file of per-video groups of a given ``kind`` made with fixed ``settings``.

    ``settings`` (a JSON-able dict) is what made the contents; reopening a store with other
    settings is refused, because mixing them would silently corrupt an experiment.
    """

    def __init__(self, path: str | os.PathLike, kind: str, settings: dict | None = None):
        self.path = Path(path)
        self.kind = kind
        self.settings = settings
        # With settings the store is opened to write into; without, to read.
        self.writing = settings is not None
        self.parts_dir = self.path.with_name(self.path.name + ".parts")
        self._check_main_file()

    # -- inspection -----------------------------------------------------------------

    def _check_main_file(self) -> None:
        if not self.path.exists():
            return
        # Say what the file is and what was expected; only an output can be moved aside.
        article = "an" if self.kind[0] in "aeiou" else "a"
        expected = f"expected {article} {self.kind} cache (HDF5{_MADE_BY.get(self.kind, '')})"
        fix = "; move it away or choose another output path" if self.writing else ""
        if self.path.is_dir():
            raise CacheError(f"{self.path}: a folder; {expected}{fix}")
        try:
            with h5py.File(self.path, "r") as f:
                attrs = from_attrs(f.attrs)
        except OSError as error:
            what = describe_file(self.path)
            if what == "an HDF5 file":
                what = f"a damaged HDF5 file ({error})"
            raise CacheError(f"{self.path}: {what}; {expected}{fix}") from error
        if attrs.get("kind") != self.kind:
            found = f"a {attrs['kind']} cache" if attrs.get("kind") else "an HDF5 file tfdeepfake did not make"
            raise CacheError(f"{self.path}: {found}; {expected}{fix}")
        version = attrs.get("format_version")
        if version != FORMAT_VERSION:
            # Only a number above ours is newer; a missing or odd version is an old file.
            newer = isinstance(version, (int, np.integer)) and version > FORMAT_VERSION
            made_by, fix = (("a newer", "upgrade tfdeepfake or re-run into a new path") if newer
                            else ("an older", "re-run into a new path"))
            raise CacheError(f"{self.path}: cache format {version} from {made_by} tfdeepfake "
                             f"(this one reads format {FORMAT_VERSION}); {fix}")
        if self.settings is not None:
            stored = json.loads(attrs.get("settings", "{}"))
            wanted = json.loads(json.dumps(self.settings, sort_keys=True))
            if stored != wanted:
                changed = sorted(k for k in set(stored) | set(wanted) if stored.get(k) != wanted.get(k))
                raise CacheError(f"{self.path}: made with other settings ({', '.join(changed)} "
                                 f"differ); use another output path or the same settings")

    def stored_settings(self) -> dict:
        """Settings recorded in the main file (or in staged parts when there is none yet)."""
        known = self._cache_settings()
        if known is not None:
            return known
        found = [settings for _, _, settings in self._scan_parts()[0] if settings is not None]
        return found[0] if found and all(s == found[0] for s in found) else {}

    def _cache_settings(self) -> dict | None:
        """What every staged part must have been made with: the main file's settings, else the
        writer's; None for a reader of a cache not merged yet."""
        if self.path.exists():
            with h5py.File(self.path, "r") as f:
                return json.loads(f.attrs.get("settings", "{}"))
        return _normalised(self.settings) if self.settings is not None else None

    def file_attrs(self) -> dict:
        if not self.path.exists():
            return {}
        with h5py.File(self.path, "r") as f:
            attrs = from_attrs(f.attrs)
        for key in ("settings", "versions"):
            if key in attrs:
                attrs[key] = json.loads(attrs[key])
        return attrs

    def _part_header(self, part: Path) -> tuple[str, dict | None]:
        """``(video_id, settings)`` of a staged part, without reading its arrays; settings
        is None for parts of tfdeepfake < 0.2, which recorded none."""
        if part.suffix == ".json":
            payload = json.loads(part.read_text("utf-8"))
            return payload["video_id"], payload.get("settings")
        with h5py.File(part, "r") as f:
            settings = f.attrs.get("settings")
            video_id = from_attrs(f[_VIDEOS][next(iter(f[_VIDEOS]))].attrs)["video_id"]
        return video_id, None if settings is None else json.loads(settings)

    def _scan_parts(self) -> tuple[list[tuple[Path, str, dict | None]], list[tuple[Path, str]]]:
        """``(usable, foreign)``: staged parts made with the cache's settings, with their video
        ids and settings, and the others with why they cannot be used."""
        if not self.parts_dir.is_dir():
            return [], []
        wanted = self._cache_settings()
        usable, foreign = [], []
        for part in sorted(self.parts_dir.iterdir()):
            if part.suffix not in (".h5", ".json") or part.name.startswith("."):
                continue
            try:
                video_id, settings = self._part_header(part)
            except (OSError, ValueError, KeyError, StopIteration) as error:
                foreign.append((part, f"unreadable ({error})"))
                continue
            if wanted is None or settings == wanted:
                usable.append((part, video_id, settings))
            elif settings is None:
                foreign.append((part, "no settings recorded (an older tfdeepfake)"))
            else:
                changed = sorted(k for k in set(settings) | set(wanted)
                                 if settings.get(k) != wanted.get(k))
                foreign.append((part, f"made with other settings ({', '.join(changed)} differ)"))
        return usable, foreign

    def _staged_parts(self) -> list[Path]:
        return [part for part, _, _ in self._scan_parts()[0]]

    def _discard(self, foreign: list[tuple[Path, str]]) -> None:
        if not foreign:
            return
        for part, _ in foreign:
            part.unlink(missing_ok=True)
        reasons = sorted({why for _, why in foreign})
        logger.warning("%s: discarded %d staged result(s) that do not belong in %s: %s; those "
                       "videos will be done again", self.parts_dir, len(foreign), self.path.name,
                       "; ".join(reasons))

    def _remove_stale_temps(self) -> None:
        removed, size = remove_stale_temps(self.path, self.parts_dir)
        if removed:
            logger.warning("%s: removed %d temp file(s) (%.1f MB) left by a run that was killed "
                           "or ran out of disk: %s", self.path, len(removed), size / 1e6,
                           ", ".join(removed[:5]) + (", ..." if len(removed) > 5 else ""))

    def _read_part(self, part: Path):
        if part.suffix == ".json":
            payload = json.loads(part.read_text("utf-8"))
            return Failure(payload["video_id"], payload["reason"], payload.get("attrs", {}))
        with h5py.File(part, "r") as f:
            return read_video_group(f[_VIDEOS][next(iter(f[_VIDEOS]))])

    def done_ids(self) -> set[str]:
        ids = set()
        if self.path.exists():
            with h5py.File(self.path, "r") as f:
                ids.update(g.attrs["video_id"] for g in f.get(_VIDEOS, {}).values())
        ids.update(video_id for part, video_id, _ in self._scan_parts()[0] if part.suffix == ".h5")
        return {i.decode() if isinstance(i, bytes) else i for i in ids}

    def video_attrs(self) -> dict[str, dict]:
        """The attributes of every stored video (committed and staged), without its arrays."""
        found: dict[str, dict] = {}
        if self.path.exists():
            with h5py.File(self.path, "r") as f:
                for group in f.get(_VIDEOS, {}).values():
                    attrs = from_attrs(group.attrs)
                    found[attrs["video_id"]] = attrs
        for part, video_id, _ in self._scan_parts()[0]:
            if part.suffix == ".h5":
                with h5py.File(part, "r") as f:
                    found[video_id] = from_attrs(f[_VIDEOS][next(iter(f[_VIDEOS]))].attrs)
        return found

    def failures(self) -> dict[str, Failure]:
        found: dict[str, Failure] = {}
        if self.path.exists():
            with h5py.File(self.path, "r") as f:
                for group in f.get(_FAILURES, {}).values():
                    attrs = from_attrs(group.attrs)
                    found[attrs["video_id"]] = Failure(attrs["video_id"], attrs["reason"], attrs)
        for part, video_id, _ in self._scan_parts()[0]:
            if part.suffix == ".json":
                found[video_id] = self._read_part(part)
            else:
                found.pop(video_id, None)
        return found

    def iter_videos(self, video_ids: Iterable[str] | None = None,
                    where: Callable[[dict], bool] | None = None) -> Iterator[StoredVideo]:
        """Stored videos, committed and staged, one at a time (memory stays flat).

        ``video_ids`` and ``where`` (a test on a video's attributes) select videos before
        their arrays are read, so a pass over a few videos of a large cache stays cheap.
        """
        wanted = None if video_ids is None else set(video_ids)

        def selected(attrs: dict) -> bool:
            return (wanted is None or attrs["video_id"] in wanted) and (where is None or where(attrs))

        seen = set()
        if self.path.exists():
            with h5py.File(self.path, "r") as f:
                for name in f.get(_VIDEOS, {}):
                    group = f[_VIDEOS][name]
                    attrs = from_attrs(group.attrs)
                    seen.add(attrs["video_id"])
                    if selected(attrs):
                        yield read_video_group(group)
        for part in self._staged_parts():
            if part.suffix != ".h5":
                continue
            with h5py.File(part, "r") as f:
                group = f[_VIDEOS][next(iter(f[_VIDEOS]))]
                attrs = from_attrs(group.attrs)
                if attrs["video_id"] not in seen and selected(attrs):
                    yield read_video_group(group)

    def __len__(self) -> int:
        return len(self.done_ids())

    # -- writing --------------------------------------------------------------------

    def _atomic_part(self, video_id: str, suffix: str) -> tuple[Path, Path]:
        with cleaned_on_error(None, self.parts_dir):
            self.parts_dir.mkdir(parents=True, exist_ok=True)
        final = self.parts_dir / f"{part_stem(video_id)}{suffix}"
        temp = self.parts_dir / f".{final.name}.{os.getpid()}.tmp"
        return temp, final

    def stage_video(self, video_id: str, arrays: dict[str, np.ndarray], attrs: dict) -> None:
        """Write one finished video where a kill cannot damage it (safe from any process),
        with the settings it was made with."""
        temp, final = self._atomic_part(video_id, ".h5")
        with cleaned_on_error(temp, final):
            # Built in memory, written by Python: HDF5 closing a file whose writes failed for
            # a full disk crashed the process (exit 139); Python's write raises ENOSPC.
            buffer = io.BytesIO()
            with h5py.File(buffer, "w") as f:
                if self.settings is not None:
                    f.attrs["settings"] = json.dumps(self.settings, sort_keys=True)
                group = f.create_group(_VIDEOS).create_group(group_name(video_id))
                _write_video_group(group, arrays, {**attrs, "video_id": video_id})
            temp.write_bytes(buffer.getbuffer())
            os.replace(temp, final)
        stale = final.with_suffix(".json")
        if stale.exists():
            stale.unlink()

    def stage_failure(self, video_id: str, reason: str, attrs: dict | None = None) -> None:
        temp, final = self._atomic_part(video_id, ".json")
        payload = {"video_id": video_id, "reason": reason,
                   "attrs": {k: to_attr(v) for k, v in (attrs or {}).items()}}
        if self.settings is not None:
            payload["settings"] = _normalised(self.settings)
        with cleaned_on_error(temp, final):
            temp.write_text(json.dumps(payload), "utf-8")
            os.replace(temp, final)

    def commit(self) -> int:
        """Merge staged parts into the main file; returns how many parts were merged.

        Parts made with other settings are discarded with a warning, temp files of dead
        writers removed. On a full disk the main file is left as it was (the parts stay
        staged, still read directly) and ``DiskFullError`` is raised."""
        self._remove_stale_temps()
        usable, foreign = self._scan_parts()
        self._discard(foreign)
        parts = [part for part, _, _ in usable]
        if not parts and self.path.exists():
            self._remove_empty_parts_dir()
            return 0
        settings = self.settings if self.settings is not None else self.stored_settings()
        temp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        with cleaned_on_error(temp, self.path):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._check_room(parts)
            if self.path.exists():
                shutil.copyfile(self.path, temp)
            with h5py.File(temp, "a") as f:
                if not self.path.exists():
                    f.attrs["kind"] = self.kind
                    f.attrs["format_version"] = FORMAT_VERSION
                    f.attrs["settings"] = json.dumps(settings or {}, sort_keys=True)
                    f.attrs["created"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
                f.attrs["versions"] = json.dumps(package_versions(), sort_keys=True)
                f.attrs["updated"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
                videos = f.require_group(_VIDEOS)
                failures = f.require_group(_FAILURES)
                rejected = []
                for part in parts:
                    try:
                        self._merge_part(part, videos, failures)
                    except (ValueError, TypeError, KeyError, UnicodeError) as error:
                        # A part HDF5 refuses (a NUL in its video id: "VLEN strings do not
                        # support embedded NULLs") would fail this merge on every later run.
                        rejected.append((part, error))
            os.replace(temp, self.path)
        for part in parts:
            part.unlink()
        for part, error in rejected:
            logger.warning("%s: staged result %s could not be merged (%s): dropped; that video "
                           "will be done again", self.parts_dir, part.name, error)
        self._remove_stale_temps()  # writers killed mid-part; every writer has finished now
        self._remove_empty_parts_dir()
        merged = len(parts) - len(rejected)
        logger.debug("committed %d staged parts into %s", merged, self.path)
        return merged

    def remove(self, video_ids: Iterable[str]) -> int:
        """Drop these videos (and their recorded failures and staged parts) from the store;
        the main file is rewritten through a copy, as a merge does. Returns how many groups
        were removed."""
        video_ids = set(video_ids)
        for part, video_id, _ in self._scan_parts()[0]:
            if video_id in video_ids:
                part.unlink(missing_ok=True)
        if not video_ids or not self.path.exists():
            return 0
        names = {group_name(video_id) for video_id in video_ids}
        temp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        removed = 0
        with cleaned_on_error(temp, self.path):
            self._check_room([])
            shutil.copyfile(self.path, temp)
            with h5py.File(temp, "a") as f:
                for section in (_VIDEOS, _FAILURES):
                    group = f.get(section, {})
                    for name in names & set(group):
                        del group[name]
                        removed += section == _VIDEOS
                f.attrs["updated"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
            os.replace(temp, self.path)
        return removed

    def _merge_part(self, part: Path, videos, failures) -> None:
        """One staged part into the open main file; on an error, whatever of it was written
        is removed again and the error raised naming the part's video id."""
        item = self._read_part(part)
        name = group_name(item.video_id)
        target = failures if isinstance(item, Failure) else videos
        try:
            if isinstance(item, Failure):
                if name in failures:
                    del failures[name]
                group = failures.create_group(name)
                for key, value in item.attrs.items():
                    group.attrs[key] = to_attr(value)
                group.attrs["video_id"] = item.video_id
                group.attrs["reason"] = item.reason
            else:
                if name in videos:
                    del videos[name]
                if name in failures:
                    del failures[name]
                _write_video_group(videos.create_group(name), item.arrays, item.attrs)
        except (ValueError, TypeError, KeyError, UnicodeError) as error:
            if name in target:
                del target[name]
            raise ValueError(f"video {ascii(item.video_id)}: {error}") from error

    def _check_room(self, parts: list[Path]) -> None:
        """Refuse a merge the disk has no room for before HDF5 starts writing: HDF5 that
        meets a full disk mid-write crashes the process later, closing the file (exit 139)."""
        size = lambda path: path.stat().st_size if path.exists() else 0  # noqa: E731
        need = size(self.path) + sum(size(part) for part in parts) + _MERGE_HEADROOM
        if shutil.disk_usage(self.path.parent).free < need:
            raise DiskFullError(self.path)

    def _remove_empty_parts_dir(self) -> None:
        if self.parts_dir.is_dir() and not any(self.parts_dir.iterdir()):
            self.parts_dir.rmdir()


def _normalised(settings: dict) -> dict:
    """Settings as they read back from JSON (tuples become lists), for comparison."""
    return json.loads(json.dumps(settings, sort_keys=True))
