"""One video as an HDF5 group: its arrays as datasets, its attributes as HDF5 attributes
(JSON for dicts and lists), and the records read back (``StoredVideo``, ``Failure``). The
store (``tfdeepfake.cache.store``) decides where groups live and when they are committed."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from urllib.parse import quote

import h5py
import numpy as np


@dataclass
class StoredVideo:
    video_id: str
    attrs: dict
    arrays: dict[str, np.ndarray]


@dataclass
class Failure:
    video_id: str
    reason: str
    attrs: dict


def group_name(video_id: str) -> str:
    # '/' would nest groups; quoting keeps names readable and unique.
    return quote(video_id, safe="")


def part_stem(video_id: str) -> str:
    """A staged part's file name for ``video_id``: fixed length, safe on any file system."""
    return hashlib.sha1(video_id.encode("utf-8")).hexdigest()[:20]


def to_attr(value):
    if value is None:
        return ""
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, sort_keys=True)
    return value


def from_attrs(attrs) -> dict:
    out = {}
    for key, value in attrs.items():
        if isinstance(value, bytes):
            value = value.decode("utf-8")
        elif isinstance(value, np.generic):
            value = value.item()
        out[key] = value
    return out


def write_video_group(group: h5py.Group, arrays: dict[str, np.ndarray], attrs: dict) -> None:
    for name, array in arrays.items():
        array = np.asarray(array)
        if array.dtype.kind == "U":
            group.create_dataset(name, data=array.astype(object), dtype=h5py.string_dtype())
        elif array.ndim >= 3 and array.shape[0] > 0:
            # Images: one chunk per item so a reader can take single frames cheaply.
            group.create_dataset(name, data=array, chunks=(1,) + array.shape[1:],
                                 compression="gzip", compression_opts=4, shuffle=True)
        else:
            group.create_dataset(name, data=array)
    for key, value in attrs.items():
        group.attrs[key] = to_attr(value)


def read_video_group(group: h5py.Group) -> StoredVideo:
    arrays = {}
    for name, dataset in group.items():
        data = dataset[()]
        if dataset.dtype.kind == "O":
            data = np.array([v.decode("utf-8") if isinstance(v, bytes) else v for v in data])
        arrays[name] = data
    attrs = from_attrs(group.attrs)
    return StoredVideo(video_id=attrs["video_id"], attrs=attrs, arrays=arrays)
