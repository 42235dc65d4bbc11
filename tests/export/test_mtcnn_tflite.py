import json

import numpy as np
import pytest

from tfdeepfake.export.mtcnn_tflite import MTCNN_NETWORKS, export_mtcnn_tflite, load_mtcnn_networks
from tfdeepfake.lite.interpreter import LiteModel


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    out = tmp_path_factory.mktemp("mtcnn")
    return out, export_mtcnn_tflite(out)


def test_files_and_manifest(exported):
    out, paths = exported
    assert set(paths) == set(MTCNN_NETWORKS)
    manifest = json.loads((out / "mtcnn_tflite.json").read_text())
    assert manifest["mtcnn_version"] == "1.0.0"
    assert manifest["files"] == {n: f"{n}.tflite" for n in MTCNN_NETWORKS}


def test_networks_match_keras(exported):
    pytest.importorskip("ai_edge_litert", reason="needs ai-edge-litert (requirements.txt)")
    _, paths = exported
    nets = load_mtcnn_networks()
    rng = np.random.default_rng(0)
    inputs = {
        "pnet": ("image", rng.uniform(-1, 1, (1, 37, 53, 3)).astype(np.float32)),
        "rnet": ("patches", rng.uniform(-1, 1, (3, 24, 24, 3)).astype(np.float32)),
        "onet": ("patches", rng.uniform(-1, 1, (3, 48, 48, 3)).astype(np.float32)),
    }
    names = {"pnet": ["bbox_reg", "bbox_class"], "rnet": ["bbox_reg", "bbox_class"],
             "onet": ["bbox_reg", "landmarks", "bbox_class"]}
    for name, (arg, x) in inputs.items():
        lite = LiteModel(paths[name])
        out = lite(**{arg: x})
        ref = [t.numpy() for t in nets[name](x)]
        for key, value in zip(names[name], ref):
            np.testing.assert_allclose(out[key], value, atol=1e-4, err_msg=f"{name}.{key}")


def test_unknown_network():
    from tfdeepfake.export.mtcnn_tflite import convert_mtcnn_network

    with pytest.raises(ValueError, match="pnet"):
        convert_mtcnn_network("xnet")
