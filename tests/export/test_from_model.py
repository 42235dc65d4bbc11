"""A model folder exported as SavedModel and TFLite gives the video probability
`detect --model` gives, by the model's own video rule (issue 8, bug 2: exports averaged
whatever the model said)."""

import json
import shutil

import numpy as np
import pytest

from tests.export.export_helpers import (
    mixed_video_faces,
    set_aggregation,
    tiny_facenet,
    tiny_lstm_detector,
    tiny_xception_detector,
    write_face_cache,
    write_mixed_face_video,
    write_triplet_model,
)
from tfdeepfake.faces.settings import FaceSettings

SETTINGS = FaceSettings(num_frames=5)
RULES = {"mean": np.mean, "median": np.median, "max": np.max}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("from_model")
    video = write_mixed_face_video(root / "mixed.mp4")
    embedder = tiny_facenet()
    faces, labels = mixed_video_faces(video, SETTINGS)
    model = write_triplet_model(root / "model", embedder, faces, labels, settings=SETTINGS)
    return {"root": root, "video": video, "embedder": embedder, "faces": faces, "labels": labels,
            "model": model}


def _detector(world, model_dir):
    from tfdeepfake.detectors import load_detector

    return load_detector(model_dir, embedder=world["embedder"])


@pytest.fixture(scope="module")
def exported(world):
    """``exported(aggregation, variant)``: the model with that video rule, exported once."""
    from tfdeepfake.export.from_model import export_model

    done = {}

    def export(aggregation, variant="knn"):
        key = f"{aggregation}-{variant}"
        if key not in done:
            model_dir = world["root"] / f"model-{key}"
            shutil.copytree(world["model"], model_dir)
            set_aggregation(model_dir, aggregation)
            out = world["root"] / f"out-{key}"
            written = export_model(_detector(world, model_dir), out, variant=variant,
                                   tflite_variants=("float32",))
            done[key] = (model_dir, out, written)
        return done[key]

    return export


@pytest.mark.parametrize("how", ["median", "max"])
def test_the_video_probability_follows_the_models_rule_on_every_path(world, exported, how):
    from tfdeepfake.detect import VideoDetector
    from tfdeepfake.export.savedmodel import load_and_predict
    from tfdeepfake.lite.detector import open_export

    model_dir, out, written = exported(how)
    detector = _detector(world, model_dir)
    face_probs = detector.score_faces(world["faces"])
    expected = float(RULES[how](face_probs))
    # The frames disagree (the swapped-colour faces score 1, the others 0), so the rule
    # decides the answer: a path that averages (the old exports) is off by at least 0.4.
    np.testing.assert_array_equal(face_probs, world["labels"])
    assert abs(expected - float(np.mean(face_probs))) >= 0.4

    python = VideoDetector(detector).detect(world["video"])
    served = load_and_predict(written["savedmodel"], world["faces"], np.ones(len(world["faces"]), bool))
    lite = open_export(out / "tflite").predict_video(world["video"])

    assert python.faces_found == int(served["num_faces"]) == lite.num_faces == 5
    assert python.fake_probability == pytest.approx(expected, abs=1e-6)
    assert float(served["fake_probability"]) == pytest.approx(expected, abs=1e-5)
    assert lite.fake_probability == pytest.approx(expected, abs=1e-4)
    assert python.verdict == served["verdict"].decode() == lite.verdict


def test_ignoring_the_rule_gives_a_different_answer(world, exported):
    """What the old exports did (the mean), on the same model: the check above can fail."""
    import tensorflow as tf

    from tfdeepfake.export.from_model import face_scorer
    from tfdeepfake.export.savedmodel import DetectorModule
    from tfdeepfake.lite.detector import LiteDeepfakeDetector

    model_dir, out, _ = exported("max")
    detector = _detector(world, model_dir)
    faces = tf.constant(world["faces"])
    mask = tf.ones(len(world["faces"]), tf.bool)
    averaged = DetectorModule(face_scorer(detector), 0.5, "mean").score_video(faces, mask)
    lite = LiteDeepfakeDetector(out / "tflite" / "face_model_float32.tflite", out / "tflite" / "mtcnn",
                                config=SETTINGS, aggregation="mean").predict_video(world["video"])
    python = detector.score_video(world["faces"])
    assert python == pytest.approx(1.0)
    assert float(averaged["fake_probability"]) == pytest.approx(0.4, abs=1e-5)
    assert lite.fake_probability == pytest.approx(0.4, abs=1e-4)


def test_export_layout_and_model_card(world, exported):
    from tfdeepfake.export.savedmodel import read_model_card

    _, out, written = exported("median")
    version_dir = out / "serving" / "model-median-knn" / "1"
    assert written["savedmodel"] == str(version_dir) and (version_dir / "saved_model.pb").exists()
    label = world["embedder"].identity.label()
    assert written["facenet"] == label and written["aggregation"] == "median"
    card = read_model_card(version_dir)
    assert (card["detector"], card["facenet"], card["threshold"], card["aggregation"]) == (
        "triplet", label, 0.5, "median")
    assert card["decision"]["aggregation"] == "median" and "median" in card["video_rule"]
    assert card["random_init_facenet"] is True and "RANDOMLY" in card["warning"]
    assert card["classifier"]["kind"] == "knn"
    tflite = out / "tflite"
    info = json.loads((tflite / "tflite_export.json").read_text())
    assert (info["aggregation"], info["detector"], info["variant"], info["threshold"]) == (
        "median", "triplet", "knn", 0.5)
    assert info["facenet"] == label and info["random_init_facenet"] is True
    assert json.loads((tflite / "model_card.json").read_text())["aggregation"] == "median"
    assert FaceSettings.from_dict(json.loads((tflite / "extract_config.json").read_text())) == SETTINGS
    assert set(written["mtcnn"]) == {"pnet", "rnet", "onet"}


def test_the_exported_graph_scores_faces_like_the_detector(world):
    """Every classifier as TensorFlow ops, against the detector's own numpy path."""
    import tensorflow as tf

    from tfdeepfake.export.from_model import face_scorer

    detector = _detector(world, world["model"])
    faces = np.concatenate([world["faces"], world["faces"][:, ::-1]])  # and mirrored faces
    for variant in detector.variants:
        probability, embedding = face_scorer(detector, variant).score(tf.constant(faces))
        np.testing.assert_allclose(probability.numpy(), detector.score_faces(faces, variant), atol=1e-5)
        assert embedding.shape == (len(faces), 8)


def test_an_xception_model_exports_with_its_rule(world, tmp_path):
    """The Keras classifier on the face crops (resized inside the graph), max of the faces."""
    from tfdeepfake.detect import VideoDetector
    from tfdeepfake.export.from_model import export_model
    from tfdeepfake.export.savedmodel import load_and_predict, read_model_card
    from tfdeepfake.lite.detector import open_export

    detector = tiny_xception_detector(tmp_path / "xception", SETTINGS, aggregation="max")
    written = export_model(detector, tmp_path / "out", tflite_variants=("float32",))
    faces = world["faces"]
    face_probs = detector.score_faces(faces)
    python = VideoDetector(detector).detect(world["video"])
    assert python.fake_probability == pytest.approx(float(np.max(face_probs)), abs=1e-6)
    assert (python.detector, python.facenet, python.classifier) == ("xception", None, "xception")

    served = load_and_predict(written["savedmodel"], faces)
    np.testing.assert_allclose(served["fake_probability"], face_probs, atol=1e-5)
    assert served["embedding"].shape == (5, 6)
    video = load_and_predict(written["savedmodel"], faces, np.ones(5, bool))
    assert float(video["fake_probability"]) == pytest.approx(python.fake_probability, abs=1e-5)
    lite = open_export(tmp_path / "out" / "tflite").predict_video(world["video"])
    assert lite.fake_probability == pytest.approx(max(lite.face_probabilities))
    assert lite.fake_probability == pytest.approx(python.fake_probability, abs=0.02)

    card = read_model_card(written["savedmodel"])
    assert (card["detector"], card["facenet"], card["aggregation"]) == ("xception", None, "max")
    assert card["graph"]["model_input_size"] == 96 and card["graph"]["face_size"] == 160
    info = json.loads((tmp_path / "out" / "tflite" / "tflite_export.json").read_text())
    assert (info["detector"], info["aggregation"], info["random_init_facenet"]) == ("xception", "max", False)


def test_a_face_cache_calibrates_int8_and_measures_parity(world, tmp_path, helpers):
    from tfdeepfake.export.from_model import export_model

    faces = world["faces"]
    cache = write_face_cache(tmp_path / "faces.h5", SETTINGS, {
        "toy/a": ("train", 1, faces[:2]), "toy/b": ("train", 0, faces[2:]),
        "toy/c": ("test", 0, helpers.make_faces(4, seed=9))})
    written = export_model(_detector(world, world["model"]), tmp_path / "out", formats=("tflite",),
                           face_cache=cache, tflite_variants=("float32", "int8"))
    assert set(written["tflite"]) == {"float32", "int8"} and "savedmodel" not in written
    parity = written["parity"]
    assert parity["float32"]["num_faces"] == 4 and parity["float32"]["max_abs_diff"] <= 1e-5
    assert 0.0 <= parity["int8"]["verdict_agreement"] <= 1.0
    small = write_face_cache(tmp_path / "small.h5", FaceSettings(num_frames=5, size=96),
                             {"toy/a": ("train", 1, helpers.make_faces(2, size=100)[:, :96, :96])})
    with pytest.raises(ValueError, match=r"small.h5: faces are \(96, 96, 3\), the model takes"):
        export_model(_detector(world, world["model"]), tmp_path / "out2", formats=("tflite",),
                     face_cache=small, tflite_variants=("int8",))


def tiny_facenet_128(seed: int = 0):
    """`tiny_facenet`, but 128-d and recorded as FaceNet 20170512-110547 (the installable
    model): the other embedding size every stage must take."""
    from tests.export.export_helpers import build_tiny_embedder
    from tfdeepfake.models.facenet import FaceNetEmbedder, FaceNetIdentity, probe_network

    model = build_tiny_embedder(128, seed=seed, input_dtype="float32")
    identity = FaceNetIdentity(model="20170512-110547", random_init=True, seed=seed,
                               weights_sha256=None, probe=probe_network(model))
    return FaceNetEmbedder(model, identity)


def test_a_128d_facenet_model_exports_and_agrees_on_every_path(world, tmp_path):
    """The 2017 FaceNet's 128-d embeddings through the head, SavedModel, TFLite and
    tfdeepfake.lite: the same video probability and the same FaceNet named everywhere."""
    from tfdeepfake.detect import VideoDetector
    from tfdeepfake.detectors import load_detector
    from tfdeepfake.export.from_model import export_model
    from tfdeepfake.export.savedmodel import load_and_predict, read_model_card
    from tfdeepfake.lite.detector import detect_video, open_export

    embedder = tiny_facenet_128()
    assert embedder.embed(world["faces"]).shape == (5, 128)
    model = write_triplet_model(tmp_path / "model", embedder, world["faces"], world["labels"],
                                settings=SETTINGS, aggregation="max")
    assert json.loads((model / "model.json").read_text())["head"]["input_dim"] == 128
    detector = load_detector(model, embedder=embedder)
    face_probs = detector.score_faces(world["faces"])
    np.testing.assert_array_equal(face_probs, world["labels"])
    written = export_model(detector, tmp_path / "out", tflite_variants=("float32",))

    python = VideoDetector(detector).detect(world["video"])
    served = load_and_predict(written["savedmodel"], world["faces"], np.ones(5, bool))
    lite = open_export(tmp_path / "out" / "tflite")
    result = lite.predict_video(world["video"])
    assert python.fake_probability == pytest.approx(1.0)  # max of faces 1 1 0 0 0
    assert float(served["fake_probability"]) == pytest.approx(1.0, abs=1e-5)
    np.testing.assert_allclose(result.face_probabilities, face_probs, atol=1e-4)
    assert result.fake_probability == pytest.approx(1.0, abs=1e-4)

    label = "FaceNet 20170512-110547 (RANDOM INIT, seed 0)"
    assert written["facenet"] == read_model_card(written["savedmodel"])["facenet"] == label
    verdict = detect_video(lite, world["video"])
    assert verdict["verdict"] == python.verdict == "fake"
    assert (verdict["facenet"], verdict["facenet_model"], verdict["facenet_weights_sha256"]) == (
        python.facenet, python.facenet_model, python.facenet_weights_sha256) == (
        label, "20170512-110547", None)


def test_refusals_name_the_fix(world, tmp_path):
    from tfdeepfake.export.from_model import export_model

    lstm = tmp_path / "lstm"
    lstm.mkdir()
    (lstm / "model.json").write_text(json.dumps({"format_version": 2, "detector": "lstm"}))
    with pytest.raises(ValueError, match=r"'lstm' model cannot be exported.*exportable detectors: "
                                         r"triplet, xception"):
        export_model(lstm, tmp_path / "out")
    detector = _detector(world, world["model"])
    with pytest.raises(ValueError, match="no variant 'svm'; valid: knn, sgd"):
        export_model(detector, tmp_path / "out", variant="svm")
    with pytest.raises(ValueError, match="onnx"):
        export_model(detector, tmp_path / "out", formats=("onnx",))
    with pytest.raises(ValueError, match="'lstm' model cannot be exported"):
        export_model(tiny_lstm_detector(tmp_path / "lstm2", SETTINGS), tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_random_init_facenet_model_exports_and_agrees(world, tmp_path):
    """The real-size network (random weights): SavedModel and TFLite agree with detect."""
    from tfdeepfake.detect import VideoDetector
    from tfdeepfake.detectors import load_detector
    from tfdeepfake.export.from_model import export_model
    from tfdeepfake.export.savedmodel import load_and_predict
    from tfdeepfake.lite.detector import open_export
    from tfdeepfake.models.facenet import load_facenet

    embedder = load_facenet(random_init=True, seed=0)
    model = write_triplet_model(tmp_path / "model", embedder, world["faces"], world["labels"],
                                settings=SETTINGS, aggregation="median", default="sgd")
    detector = load_detector(model)  # the FaceNet is rebuilt from model.json and probe-checked
    written = export_model(detector, tmp_path / "out", tflite_variants=("float32",))
    python = VideoDetector(detector).detect(world["video"])
    served = load_and_predict(written["savedmodel"], world["faces"], np.ones(5, bool))
    lite = open_export(tmp_path / "out" / "tflite").predict_video(world["video"])
    assert float(served["fake_probability"]) == pytest.approx(python.fake_probability, abs=1e-5)
    assert lite.fake_probability == pytest.approx(python.fake_probability, abs=0.02)
    assert written["facenet"] == "FaceNet 20180402-114759 (RANDOM INIT, seed 0)"


@pytest.mark.slow
def test_real_size_xception_model_exports(world, tmp_path):
    """The Xception network itself (random weights, smallest input) through export."""
    from tfdeepfake.detectors.base import ModelFolder, common_meta
    from tfdeepfake.detectors.xception import WEIGHTS_FILE, XceptionDetector
    from tfdeepfake.export.from_model import export_model
    from tfdeepfake.export.savedmodel import load_and_predict
    from tfdeepfake.models.xception import build_xception_classifier

    folder = ModelFolder(tmp_path / "xception").start()
    build_xception_classifier(71, dropout=0.0).save_weights(str(folder.root / WEIGHTS_FILE))
    folder.write_meta(common_meta("xception", SETTINGS, threshold=0.5, aggregation="median", seed=0,
                                  training={}, data={}, input_size=71, dropout=0.0, weights=WEIGHTS_FILE))
    detector = XceptionDetector.from_folder(folder, folder.read_meta())
    written = export_model(folder.root, tmp_path / "out", formats=("savedmodel",))
    served = load_and_predict(written["savedmodel"], world["faces"], np.ones(5, bool))
    assert float(served["fake_probability"]) == pytest.approx(detector.score_video(world["faces"]), abs=1e-5)


@pytest.mark.shared_data
def test_tflite_path_agrees_with_detect_on_real_footage(world, exported, shared_data_dir):
    from tfdeepfake.detect import VideoDetector
    from tfdeepfake.lite.detector import open_export

    model_dir, out, _ = exported("mean", "sgd")
    python = VideoDetector(_detector(world, model_dir), variant="sgd")
    lite = open_export(out / "tflite")
    videos = shared_data_dir / "videos"
    for name in ("dfdc/fake/brtujopkby.mp4",  # portrait 1080x1920
                 "ffpp_c23/fake/Face2Face_c23_750_743.mp4",  # 1080p
                 "ffpp_c23/real/original_youtube_c23_519.mp4"):  # 480p
        verdict, result = python.detect(videos / name), lite.predict_video(videos / name)
        assert verdict.faces_found == result.num_faces == 5, (name, verdict, result)
        # The two MTCNNs cut slightly different crops: close scores, not equal ones.
        assert result.fake_probability == pytest.approx(verdict.fake_probability, abs=0.02), name
        if abs(verdict.fake_probability - verdict.threshold) > 0.02:
            assert result.verdict == verdict.verdict, name
