"""Package versions and settings recorded with every cache, model and report."""

from __future__ import annotations

import platform
from importlib import metadata

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
