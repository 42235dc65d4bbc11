"""A bundle exported as SavedModel and TFLite scores faces like the Python path, and
`detect --tflite` gives the same verdicts as `detect --model`."""

import json

import numpy as np
import pytest

from tfdeepfake.bundle import save_bundle
from tfdeepfake.faces.settings import FaceSettings
from tfdeepfake.classifiers import make_classifier
from tests.media import write_face_video


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    from tfdeepfake.export.from_bundle import export_bundle
    from tfdeepfake.models.facenet import build_facenet_embedder
    from tfdeepfake.models.triplet_head import build_triplet_head

    root = tmp_path_factory.mktemp("export")
    rng = np.random.RandomState(0)
    x, y = rng.normal(size=(60, 8)), np.repeat([0, 1], 30)
    bundle = save_bundle(root / "model", extract_config=FaceSettings(num_frames=4),
                         embedder=build_facenet_embedder(random_init=True, seed=2),
                         head=build_triplet_head(512, (16,), 8),
                         head_config={"input_dim": 512, "hidden_units": [16], "embedding_dim": 8},
                         classifiers={"sgd": make_classifier("sgd").fit(x, y)}, default_classifier="sgd")
    written = export_bundle(bundle, root / "out", variants=("float32",))
    return root, bundle, written


def test_export_layout_and_model_card(exported):
    root, _, written = exported
    version_dir = root / "out" / "serving" / "model" / "1"
    assert written["savedmodel"] == str(version_dir) and (version_dir / "saved_model.pb").exists()
    card = json.loads((version_dir / "assets.extra" / "model_card.json").read_text())
    assert card["random_init_facenet"] is True and "RANDOMLY" in card["warning"]
    assert set(written["mtcnn"]) == {"pnet", "rnet", "onet"}
    assert json.loads((root / "out" / "tflite" / "extract_config.json").read_text())["num_frames"] == 4


def test_savedmodel_and_tflite_match_the_python_path(exported):
    from tfdeepfake.detect import DeepfakeDetector
    from tfdeepfake.export.savedmodel import load_and_predict
    from tfdeepfake.lite.interpreter import LiteModel

    root, bundle, written = exported
    faces = np.random.RandomState(1).randint(0, 256, (3, 160, 160, 3)).astype(np.uint8)
    python = DeepfakeDetector(bundle).score_faces(faces)
    served = load_and_predict(written["savedmodel"], faces)["fake_probability"]
    np.testing.assert_allclose(served, python, atol=1e-5)
    lite = LiteModel(written["tflite"]["float32"])(faces=faces)["fake_probability"].reshape(-1)
    np.testing.assert_allclose(lite, python, atol=1e-4)


def test_detect_tflite_gives_the_verdicts_of_detect_model(exported, tmp_path, capsys):
    from tfdeepfake.cli import main

    root, bundle, _ = exported
    video = write_face_video(tmp_path / "a.mp4")
    (tmp_path / "empty.mp4").write_bytes(b"")
    assert main(["detect", str(video), str(tmp_path / "empty.mp4"), "--model", str(bundle), "--json"]) == 0
    keras_results = json.loads(capsys.readouterr().out)
    assert main(["detect", str(video), str(tmp_path / "empty.mp4"), "--tflite",
                 str(root / "out" / "tflite"), "--json"]) == 0
    lite_results = json.loads(capsys.readouterr().out)
    assert [r["verdict"] for r in lite_results] == [r["verdict"] for r in keras_results]
    assert lite_results[1]["verdict"] == "unknown" and "empty.mp4" in lite_results[1]["reason"]
    assert lite_results[0]["fake_probability"] == pytest.approx(keras_results[0]["fake_probability"], abs=0.02)
    assert lite_results[0]["random_init_facenet"] is True


@pytest.mark.shared_data
def test_tflite_path_agrees_with_detect_on_real_footage(exported, shared_data_dir, capsys):
    from tfdeepfake.cli import main

    root, bundle, _ = exported
    videos = shared_data_dir / "videos"
    targets = [str(videos / name) for name in (
        "dfdc/fake/brtujopkby.mp4",  # portrait 1080x1920
        "ffpp_c23/fake/Face2Face_c23_750_743.mp4",  # 1080p
        "ffpp_c23/real/original_youtube_c23_519.mp4")]  # 480p
    assert main(["detect", *targets, "--model", str(bundle), "--json"]) == 0
    keras_results = json.loads(capsys.readouterr().out)
    assert main(["detect", *targets, "--tflite", str(root / "out" / "tflite"), "--json"]) == 0
    lite_results = json.loads(capsys.readouterr().out)
    for k, lite in zip(keras_results, lite_results):
        assert lite["faces_found"] == k["faces_found"] == 4, (k, lite)
        assert lite["fake_probability"] == pytest.approx(k["fake_probability"], abs=0.02)
        if abs(k["fake_probability"] - k["threshold"]) > 0.02:
            assert lite["verdict"] == k["verdict"]
