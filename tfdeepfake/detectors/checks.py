"""Checks on what a model folder's JSON says: one line naming the file, the key and what
was expected, never a ``KeyError`` or ``TypeError`` from deep inside a constructor."""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, Mapping

from tfdeepfake.faces.settings import FaceSettings


class ModelFolderError(RuntimeError):
    """A folder that is not a usable model; the message names the file, key and fix."""


def require(meta: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: Path | str):
    """``meta[key]`` checked for presence and type; a one-line error naming file and key."""
    if key not in meta:
        raise ModelFolderError(f"{where}: key {key!r} is missing")
    value = meta[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _as_tuple(kind)):
        names = " or ".join(t.__name__ for t in _as_tuple(kind))
        raise ModelFolderError(f"{where}: key {key!r} should be {names}, found {value!r}")
    return value


def _as_tuple(kind) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def require_fields(cls, data: Mapping[str, Any], where: Path | str) -> None:
    """``data`` checked against dataclass ``cls``: no unknown keys, each value of its field's
    type (``float`` takes ints, a tuple is a JSON list, a nested dataclass a JSON object
    checked the same way)."""
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls) if f.init]
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise ModelFolderError(f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; "
                               f"valid: {', '.join(names)}")
    for name in names:
        if name in data:
            _require_hint(data[name], hints[name], where, name)


def _require_hint(value, hint, where, key: str) -> None:
    args = [a for a in typing.get_args(hint) if a is not Ellipsis]
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return
        args = [a for a in args if a is not type(None)]
        if len(args) == 1:
            return _require_hint(value, args[0], where, key)
        hint = tuple(a for a in args if isinstance(a, type))
    if dataclasses.is_dataclass(hint):
        require_fields(hint, require({key: value}, key, dict, where), f"{where} [{key}]")
    elif typing.get_origin(hint) in (tuple, list):
        require({key: value}, key, list, where)
        for item in value:
            _require_hint(item, args[0] if args else object, where, key)
    elif isinstance(hint, tuple) or isinstance(hint, type):
        kinds = hint if isinstance(hint, tuple) else (hint,)
        require({key: value}, key, kinds + ((int,) if float in kinds else ()), where)


def require_unit_interval(meta: Mapping[str, Any], key: str, where: Path | str) -> float:
    """``meta[key]`` as a number in [0, 1] (a threshold, a probability)."""
    value = float(require(meta, key, (int, float), where))
    if not 0.0 <= value <= 1.0:
        raise ModelFolderError(f"{where}: key {key!r} should be in [0, 1], found {value}")
    return value


def face_settings_from(meta: Mapping[str, Any], where: Path | str) -> FaceSettings:
    """``meta["face_settings"]``, checked key by key, as ``FaceSettings``."""
    data = require(meta, "face_settings", dict, where)
    require_fields(FaceSettings, data, f"{where} [face_settings]")
    try:
        return FaceSettings.from_dict(data)
    except (TypeError, ValueError) as error:
        raise ModelFolderError(f"{where} [face_settings]: {error}") from None
