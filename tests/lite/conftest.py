"""Fixtures for the TF-free runtime. Building the TFLite files needs TensorFlow (done
here, in the test process); the TF-free check itself runs in a subprocess."""

import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(scope="session")
def helpers():
    path = Path(__file__).parents[1] / "export" / "export_helpers.py"
    spec = importlib.util.spec_from_file_location("tfdeepfake_test_export_helpers", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def mtcnn_dir(tmp_path_factory):
    from tfdeepfake.export.mtcnn_tflite import export_mtcnn_tflite

    out = tmp_path_factory.mktemp("mtcnn_tflite")
    export_mtcnn_tflite(out)
    return out


@pytest.fixture(scope="session")
def photos():
    """Test photos with faces: skimage's astronaut, matplotlib's Grace Hopper, both side by side."""
    import matplotlib.cbook as cbook
    from PIL import Image
    from skimage import data

    astronaut = data.astronaut()
    with cbook.get_sample_data("grace_hopper.jpg") as f:
        hopper = np.asarray(Image.open(f).convert("RGB"))
    pair = np.zeros((600, 1024, 3), np.uint8)
    pair[44:556, :512] = astronaut
    pair[:, 512:] = hopper
    return {"astronaut": astronaut, "hopper": hopper, "pair": pair}


@pytest.fixture(scope="session")
def face_model_dir(helpers, tmp_path_factory):
    """A float32 face model (tiny embedder + head + SGD) written by write_tflite_variants."""
    from tfdeepfake.export.tflite import write_tflite_variants

    embedder = helpers.build_tiny_embedder()
    head = helpers.build_tiny_head()
    faces = helpers.make_faces(24, seed=0)
    emb = head(embedder(faces)).numpy()
    _, arrays, meta = helpers.fit_classifier("sgd", emb, (np.arange(24) % 2).astype(np.int32))
    out = tmp_path_factory.mktemp("face_model")
    write_tflite_variants(out, embedder, head, arrays, meta, variants=["float32"], threshold=0.5)
    return {"dir": out, "embedder": embedder, "head": head, "arrays": arrays, "meta": meta}
