"""Fixtures the detector tests share."""

import numpy as np
import pytest


@pytest.fixture(scope="module")
def triplet_folder(tmp_path_factory):
    """A real triplet model folder (tiny stand-in FaceNet) and the embedder it loads with,
    built once per module."""
    from tests.export.export_helpers import make_faces, tiny_facenet, write_triplet_model
    from tfdeepfake.faces.settings import FaceSettings

    embedder = tiny_facenet()
    folder = write_triplet_model(tmp_path_factory.mktemp("triplet") / "model", embedder,
                                 make_faces(6), np.array([0, 1] * 3), settings=FaceSettings(),
                                 classifiers=("knn", "sgd"))
    return folder, embedder
