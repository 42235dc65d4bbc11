"""Package versions and settings recorded with every cache, model and report."""

from __future__ import annotations

import math
import platform
from collections.abc import Mapping
from importlib import metadata
from pathlib import PurePath

_PACKAGES = (
    "tfdeepfake",
    "tensorflow",
    "tensorflow-addons",
    "keras-facenet",
    "mtcnn",
    "numpy",
    "opencv-python-headless",
    "h5py",
    "scikit-learn",
)


def package_versions() -> dict[str, str]:
    """Installed versions of the packages whose behaviour shapes results."""
    versions = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def json_ready(value):
    """A copy that `json.dumps` writes as strict JSON: numpy scalars and arrays to Python,
    NaN and infinities to None, paths to str, tuples and sets to lists."""
    if isinstance(value, Mapping):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [json_ready(v) for v in value]
    if hasattr(value, "tolist"):  # numpy arrays and scalars
        return json_ready(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, PurePath):
        return str(value)
    return value
