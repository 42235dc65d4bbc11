"""Video -> probability with TFLite only, against the TensorFlow path on the same frames."""

import json
import subprocess
import sys
import textwrap

import cv2
import numpy as np
import pytest

pytest.importorskip("ai_edge_litert", reason="needs ai-edge-litert (requirements.txt)")

from tests.lite.tf_blocker import BLOCKER
from tfdeepfake.faces.settings import FaceSettings
from tfdeepfake.faces.boxes import iou, select_face
from tfdeepfake.faces.crop import crop_face
from tfdeepfake.lite.detector import LiteDeepfakeDetector
from tfdeepfake.video.reader import read_sampled_frames
from tfdeepfake.video.sampling import sample_indices

CONFIG = FaceSettings(num_frames=4)


def write_video(path, frames, fps=10):
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    try:
        for frame in frames:
            writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    finally:
        writer.release()
    return path


@pytest.fixture(scope="module")
def face_video(photos, tmp_path_factory):
    base = photos["astronaut"]
    frames = [np.roll(base, shift=(3 * i, 2 * i), axis=(0, 1)) for i in range(10)]
    return write_video(tmp_path_factory.mktemp("video") / "astronaut.mp4", frames)


@pytest.fixture(scope="module")
def detector(face_model_dir, mtcnn_dir):
    return LiteDeepfakeDetector(face_model_dir["dir"] / "face_model_float32.tflite", mtcnn_dir, config=CONFIG)


def test_video_matches_tensorflow_path(detector, face_video, face_model_dir):
    import tensorflow as tf

    from tfdeepfake.export.graph import FaceScorer
    from tfdeepfake.faces.detector import FaceDetector

    result = detector.predict_video(face_video)
    assert result.frame_indices == sample_indices(10, CONFIG.num_frames).tolist()
    assert result.face_frame_indices == result.frame_indices and result.num_faces == 4
    assert result.fake_probability == pytest.approx(np.mean(result.face_probabilities))
    assert result.verdict == ("fake" if result.fake_probability >= 0.5 else "real")
    assert json.loads(json.dumps(result.to_dict()))["num_faces"] == 4

    # The TensorFlow path: mtcnn package detector through the same key frames, carried
    # boxes and retries (detect_video), same selection and crop, Keras scorer.
    frames, indices, _ = read_sampled_frames(face_video, CONFIG.num_frames)
    reference = FaceDetector(CONFIG.detector).detect_video(frames)
    crops = []
    for faces, box in zip(reference, result.boxes):
        face = faces[select_face(np.stack([f.box for f in faces]), np.array([f.confidence for f in faces]))]
        assert iou(face.box, box) > 0.9
        crops.append(crop_face(frames[len(crops)], face.box, CONFIG.size, margin=CONFIG.margin))
    scorer = FaceScorer(face_model_dir["embedder"], face_model_dir["head"], "sgd", face_model_dir["arrays"])
    expected, _ = scorer.score(tf.constant(np.stack(crops)))
    np.testing.assert_allclose(result.face_probabilities, expected.numpy(), atol=2e-2)
    assert result.fake_probability == pytest.approx(float(np.mean(expected)), abs=1e-2)


def test_scores_match_lite_model_exactly(detector, face_model_dir, helpers):
    import tensorflow as tf

    from tfdeepfake.export.graph import FaceScorer

    faces = helpers.make_faces(30, seed=3)
    scorer = FaceScorer(face_model_dir["embedder"], face_model_dir["head"], "sgd", face_model_dir["arrays"])
    expected, _ = scorer.score(tf.constant(faces))
    np.testing.assert_allclose(detector.score_faces(faces), expected.numpy(), atol=1e-4)
    assert detector.score_faces(np.zeros((0, 160, 160, 3), np.uint8)).shape == (0,)


def test_video_without_faces(detector, tmp_path):
    from skimage import data

    path = write_video(tmp_path / "coffee.mp4", [data.coffee()] * 5)
    result = detector.predict_video(path)
    assert result.verdict == "no_face" and np.isnan(result.fake_probability) and not result.is_fake
    assert result.to_dict()["fake_probability"] is None


@pytest.mark.parametrize("how, reduce", [("median", np.median), ("max", np.max)])
def test_aggregation_comes_from_tflite_export_json(face_model_dir, mtcnn_dir, face_video, tmp_path,
                                                   detector, how, reduce):
    model_dir = tmp_path / "export"
    model_dir.mkdir()
    (model_dir / "face_model_float32.tflite").write_bytes(
        (face_model_dir["dir"] / "face_model_float32.tflite").read_bytes())
    info = json.loads((face_model_dir["dir"] / "tflite_export.json").read_text())
    (model_dir / "tflite_export.json").write_text(json.dumps({**info, "aggregation": how}))
    lite = LiteDeepfakeDetector(model_dir / "face_model_float32.tflite", mtcnn_dir, config=CONFIG)
    assert lite.aggregation == how and detector.aggregation == "mean"

    result = lite.predict_video(face_video)
    probs = np.asarray(result.face_probabilities)
    assert result.aggregation == how and len(probs) == 4
    assert result.fake_probability == pytest.approx(float(reduce(probs)))
    assert result.face_probabilities == detector.predict_video(face_video).face_probabilities
    # The probabilities differ, so the rule shows in the video score.
    assert result.fake_probability != pytest.approx(float(np.mean(probs)), abs=1e-9)


def test_unknown_aggregation_is_an_error(face_model_dir, mtcnn_dir):
    with pytest.raises(ValueError, match="unknown aggregation 'mode'; expected one of mean"):
        LiteDeepfakeDetector(face_model_dir["dir"] / "face_model_float32.tflite", mtcnn_dir,
                             config=CONFIG, aggregation="mode")


def test_size_mismatch_is_an_error(face_model_dir, mtcnn_dir):
    with pytest.raises(ValueError, match="160 px"):
        LiteDeepfakeDetector(face_model_dir["dir"] / "face_model_float32.tflite", mtcnn_dir,
                             config=FaceSettings(size=128))


TF_FREE_SCRIPT = BLOCKER + textwrap.dedent(
    """
    import json
    from tfdeepfake.faces.settings import FaceSettings
    from tfdeepfake.lite.detector import LiteDeepfakeDetector
    from tfdeepfake.lite.interpreter import runtime_name
    detector = LiteDeepfakeDetector(sys.argv[1], sys.argv[2], config=FaceSettings(num_frames=4))
    result = detector.predict_video(sys.argv[3]).to_dict()
    result["runtime"] = runtime_name()
    result["tf_loaded"] = loaded_blocked() + ATTEMPTS
    print(json.dumps(result))
    """
)


def test_runs_without_tensorflow(detector, face_video, face_model_dir, mtcnn_dir):
    model = face_model_dir["dir"] / "face_model_float32.tflite"
    proc = subprocess.run(
        [sys.executable, "-c", TF_FREE_SCRIPT, str(model), str(mtcnn_dir), str(face_video)],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["tf_loaded"] == [] and out["runtime"] == "ai_edge_litert"
    expected = detector.predict_video(face_video)
    assert out["num_faces"] == expected.num_faces
    np.testing.assert_allclose(out["face_probabilities"], expected.face_probabilities, atol=1e-6)


def test_the_verdict_names_the_facenet_from_the_model_card(face_model_dir, mtcnn_dir, face_video,
                                                           tmp_path):
    """detect --tflite gives the FaceNet's label, key and weights' hash as detect --model does,
    read from the export's model_card.json; None without a card; a broken card is named."""
    from tfdeepfake.lite.detector import detect_video

    model_dir = tmp_path / "export"
    model_dir.mkdir()
    model = model_dir / "face_model_float32.tflite"
    model.write_bytes((face_model_dir["dir"] / "face_model_float32.tflite").read_bytes())
    bare = detect_video(LiteDeepfakeDetector(model, mtcnn_dir, config=CONFIG), tmp_path / "none.mp4")
    assert (bare["facenet"], bare["facenet_model"], bare["facenet_weights_sha256"]) == (None,) * 3

    digest = "cd" * 32
    card = {"facenet": "FaceNet 20170512-110547 (pretrained)",
            "facenet_identity": {"model": "20170512-110547", "random_init": False, "seed": None,
                                 "weights_sha256": digest, "probe": [0.1, 0.2]}}
    (model_dir / "model_card.json").write_text(json.dumps(card))
    lite = LiteDeepfakeDetector(model, mtcnn_dir, config=CONFIG)
    verdict = detect_video(lite, face_video)
    assert verdict["verdict"] in ("real", "fake") and verdict["faces_found"] == 4
    assert (verdict["facenet"], verdict["facenet_model"], verdict["facenet_weights_sha256"]) == (
        card["facenet"], "20170512-110547", digest)
    unknown = detect_video(lite, tmp_path / "none.mp4")
    assert unknown["verdict"] == "unknown" and unknown["facenet_weights_sha256"] == digest

    (model_dir / "model_card.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"model_card.json: not valid JSON"):
        LiteDeepfakeDetector(model, mtcnn_dir, config=CONFIG)


def test_people_judges_each_person_with_the_tflite_model(detector, face_video, tmp_path):
    """``detect --tflite --people``: a person per track of faces, each scored on their own;
    the video takes the most fake person's verdict; one person scores as without --people."""
    from tests.test_detect import _write_two_people_video
    from tfdeepfake.lite.detector import detect_video

    alone, one = detect_video(detector, face_video), detect_video(detector, face_video, people=True)
    assert [p["person"] for p in one["people"]] == [1]
    assert one["fake_probability"] == pytest.approx(alone["fake_probability"])
    assert one["people"][0]["faces_found"] == alone["faces_found"] == 4

    two = detect_video(detector, _write_two_people_video(tmp_path / "two.mp4"), people=True)
    left, right = two["people"]
    assert left["box"][2] < 200 < right["box"][0]  # the larger face, on the left, is person 1
    assert two["fake_probability"] == max(left["fake_probability"], right["fake_probability"])
    assert two["verdict"] == ("fake" if two["fake_probability"] >= detector.threshold else "real")

    from skimage import data

    none = detect_video(detector, write_video(tmp_path / "coffee.mp4", [data.coffee()] * 5),
                        people=True)
    assert none["verdict"] == "unknown" and none["people"] == [] and none["frames_sampled"] == 4
