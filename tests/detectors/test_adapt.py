"""Unsupervised adaptation of a model folder to unlabelled target faces
(``detectors.adapt``): no label is read, the adapted folder loads and records what was done,
each method does what it says (adabn, restandardise, self-blend, threshold) and they combine, the guard
rails refuse in one line, and a full disk leaves no folder.

One module-scoped model: the FaceNet sbi network (random init, seeded) with a texture head,
stored as trained layers only (as the default model is), with a calibration record, so every
method applies to it."""

import errno
import hashlib
import json
import os
import shutil

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import h5py
import numpy as np
import pytest

from tfdeepfake.detectors.adapt import (
    ADAPTED_LAYERS_FILE,
    AdaptError,
    adapt_model,
    recentre_thresholds,
    targets_from_cache,
)
from tfdeepfake.faces.settings import FaceSettings

SETTINGS = FaceSettings(num_frames=4)
METHODS = ["adabn", "restandardise", "threshold"]
SEED = 3
FACENET_KEY = "20170512-110547"


# -- building the model and the target faces ----------------------------------------------


def domain_faces(videos: int, per_video: int, *, seed: int, gain: float, offset: float,
                 noise: float) -> list[np.ndarray]:
    """``videos`` lists of ``per_video`` 160 px face crops: the test face, each video with its
    own brightness and a camera's noise (a domain: ``gain``, ``offset``, ``noise``)."""
    import cv2

    from tests.media import FACE

    base = cv2.resize(FACE, (160, 160)).astype(np.float64)
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(videos):
        g = gain * rng.uniform(0.9, 1.1)
        faces = [base * g + offset + rng.normal(0, noise, base.shape) for _ in range(per_video)]
        out.append(np.clip(faces, 0, 255).astype(np.uint8))
    return out


def build_model(root, source_faces: list[np.ndarray]):
    """An sbi model folder at ``root``: random-init FaceNet (seed 0), the fine-tuned head and a
    texture head with small seeded weights, the texture standardisation fitted on
    ``source_faces``, trained layers only (float32), and a calibration whose genuine scores
    are the videos of ``source_faces``. Returns the folder and its detector (the network built
    here: the folder's, bit for bit, without a second FaceNet build)."""
    from tfdeepfake.detectors.base import ModelFolder, common_meta
    from tfdeepfake.detectors.sbi_training import SBITrainingConfig
    from tfdeepfake.detectors.self_blended import TRAINED_LAYERS_FILE, SelfBlendedDetector
    from tfdeepfake.detectors.texture_head import TEXTURE_LAYER
    from tfdeepfake.detectors.trained_layers import save_trained_layers
    from tfdeepfake.models.facenet import load_facenet
    from tfdeepfake.models.sbi_classifier import build_sbi_classifier

    import tensorflow as tf

    embedder = load_facenet(FACENET_KEY, random_init=True, seed=0)
    texture = {"layer": TEXTURE_LAYER, "weight": 0.5}
    model = build_sbi_classifier("facenet", trainable_from="Block8_6", dropout=0.0,
                                 facenet_network=embedder.model, texture=texture)
    rng = np.random.default_rng(0)
    model.get_layer("sbi_probability").set_weights(
        [rng.normal(0, 0.05, (1792, 1)).astype(np.float32), np.zeros(1, np.float32)])
    pooled = tf.keras.Model(model.input, model.get_layer("texture_pool").output)
    features = pooled.predict(np.concatenate(source_faces).astype(np.float32), verbose=0)
    dim = features.shape[1]
    model.get_layer("texture_norm").set_weights(
        [features.mean(0).astype(np.float32), (features.var(0) + 1e-6).astype(np.float32),
         np.int64(len(features))])
    model.get_layer("texture_logit").set_weights(
        [rng.normal(0, 0.05, (dim, 1)).astype(np.float32), np.zeros(1, np.float32)])
    probabilities = model.predict(np.concatenate(source_faces).astype(np.float32), verbose=0)
    real_scores = sorted(float(np.mean(p)) for p in
                         np.split(probabilities.ravel(), np.cumsum([len(f) for f in source_faces])[:-1]))
    folder = ModelFolder(root).start()
    save_trained_layers(model, folder.root / TRAINED_LAYERS_FILE, "float32")
    config = SBITrainingConfig(trainable_from="Block8_6", dropout=0.0)
    meta = common_meta(
        "sbi", SETTINGS, threshold=0.5, aggregation="mean", seed=0, training={},
        data={"note": "test stand-in"}, facenet=embedder.identity.to_dict(), input_size=160,
        backbone={"kind": "facenet", "trainable_from": "Block8_6", "dropout": 0.0,
                  "facenet_model": FACENET_KEY, "texture": texture},
        self_blend=config.blend.to_dict(),
        weights={"file": TRAINED_LAYERS_FILE, "base": "facenet", "dtype": "float32",
                 "layers": "trainable layers only; the rest is the recorded FaceNet"},
        calibration={"real_videos": [f"source{i}.mp4" for i in range(len(source_faces))],
                     "real_scores": {"sbi": real_scores}, "false_positive_rate": 0.25})
    folder.write_meta(meta)
    return folder.root, SelfBlendedDetector(folder, folder.read_meta(), model)


def shared_model(request, tmp_path_factory):
    """``build_model`` once per test session: this file and tests/cli/test_adapt.py adapt the
    same folder (neither writes into it; the tests check that). Kept on the pytest config, which
    both modules see whatever their import names."""
    built = getattr(request.config, "_tfdeepfake_adapt_model", None)
    if built is None:
        source_faces = domain_faces(4, 3, seed=0, gain=1.0, offset=0.0, noise=2.0)
        built = build_model(tmp_path_factory.mktemp("adapt_model") / "model", source_faces)
        request.config._tfdeepfake_adapt_model = built
    return built


def write_cache(path, videos: list[np.ndarray], settings=SETTINGS):
    """A labelled face cache: video ``i`` is fake when ``i`` is odd; splits train/test."""
    from tests.export.export_helpers import write_face_cache

    return write_face_cache(path, settings, {
        f"toy/v{i:02d}": ("train" if i % 3 else "test", i % 2, faces)
        for i, faces in enumerate(videos)})


def folder_hashes(root) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def h5_arrays(path) -> dict[str, np.ndarray]:
    out = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, item: out.__setitem__(name, item[()])
                     if isinstance(item, h5py.Dataset) else None)
    return out


def logit(p):
    p = np.asarray(p, np.float64)
    return np.log(p) - np.log1p(-p)


@pytest.fixture(scope="module")
def world(request, tmp_path_factory):
    from tfdeepfake.detectors import load_detector

    root = tmp_path_factory.mktemp("adapt")
    target_faces = domain_faces(6, 3, seed=1, gain=0.55, offset=30.0, noise=12.0)
    model_dir, source = shared_model(request, tmp_path_factory)
    cache = write_cache(root / "target.h5", target_faces)
    before = folder_hashes(model_dir)
    targets = targets_from_cache(cache, SETTINGS)
    record = adapt_model(model_dir, targets, root / "adapted", methods=METHODS, seed=SEED,
                         min_videos=3)
    return {"root": root, "model": model_dir, "cache": cache, "targets": targets,
            "target_faces": target_faces, "hashes_before": before, "record": record,
            "adapted": root / "adapted", "source": source,
            "loaded": load_detector(root / "adapted")}


def _meta(folder) -> dict:
    return json.loads((folder / "model.json").read_text())


def _batch_norms(detector):
    import tensorflow as tf

    from tfdeepfake.detectors.trained_layers import all_layers

    trunk = detector.model.get_layer("facenet_trunk")
    return trunk, [layer for layer in all_layers(trunk)
                   if isinstance(layer, tf.keras.layers.BatchNormalization)]


def _texture_features(detector, faces):
    import tensorflow as tf

    pooled = tf.keras.Model(detector.model.input, detector.model.get_layer("texture_pool").output)
    return pooled.predict(np.asarray(faces, np.float32), verbose=0)


# -- no label read -------------------------------------------------------------------------


def test_labels_and_splits_are_never_read(world, tmp_path):
    """A copy of the cache with half the labels flipped and, in the other half, the label and
    split attributes deleted: the same adapted weights, bit for bit, and the same record."""
    from tfdeepfake.cache.faces import iter_face_videos

    copy = tmp_path / "relabelled.h5"
    shutil.copy(world["cache"], copy)
    with h5py.File(copy, "r+") as f:
        for i, group in enumerate(f["videos"].values()):
            if i % 2:
                group.attrs["label"] = 1 - int(group.attrs["label"])
                group.attrs["split"] = "val"
            else:
                del group.attrs["label"]
                del group.attrs["split"]
    with pytest.raises(KeyError):  # a reader of labels could not read this copy
        list(iter_face_videos(copy))
    adapt_model(world["model"], targets_from_cache(copy, SETTINGS), tmp_path / "again",
                methods=METHODS, seed=SEED, min_videos=3)
    first, second = h5_arrays(world["adapted"] / ADAPTED_LAYERS_FILE), \
        h5_arrays(tmp_path / "again" / ADAPTED_LAYERS_FILE)
    assert first.keys() == second.keys() and len(first) > 100
    for name in first:
        np.testing.assert_array_equal(first[name], second[name], err_msg=name)
    meta_a, meta_b = _meta(world["adapted"]), _meta(tmp_path / "again")
    assert meta_a.pop("adaptation").pop("date") and meta_b.pop("adaptation").pop("date")
    assert meta_a == meta_b
    record_b = dict(_meta(tmp_path / "again")["adaptation"])
    record_b.pop("date")
    record_a = dict(world["record"])
    record_a.pop("date")
    assert json.loads(json.dumps(record_a)) == record_b and record_b["labels_read"] is False


# -- the model folder ------------------------------------------------------------------------


def test_the_adapted_folder_loads_scores_and_records_the_adaptation(world):
    loaded, source = world["loaded"], world["source"]
    faces = world["target_faces"][0]
    scores = loaded.score_faces(faces)
    assert scores.shape == (3,) and np.all((scores > 0) & (scores < 1))
    assert loaded.name == "sbi" and loaded.random_init_facenet
    record = _meta(world["adapted"])["adaptation"]
    assert record["methods"] == METHODS and record["seed"] == SEED
    assert record["target_videos"] == 6 and record["target_faces"] == 18
    hashes = [hashlib.sha256(np.ascontiguousarray(f).tobytes()).hexdigest()
              for f in world["target_faces"]]
    assert record["target_sha256"] == sorted(hashes) and record["labels_read"] is False
    assert record["source_model"] == str(world["model"])
    assert set(record["steps"]) == set(METHODS)
    meta = _meta(world["adapted"])
    assert meta["weights"]["file"] == ADAPTED_LAYERS_FILE
    assert not (world["adapted"] / "trained_layers.h5").exists()
    assert meta["face_settings"] == SETTINGS.to_dict()
    # the source folder, byte for byte, and its detector
    assert folder_hashes(world["model"]) == world["hashes_before"]
    assert "adaptation" not in source.meta and source.threshold() == 0.5
    assert not list(world["root"].glob(".adapted.*"))  # no temp folder left
    assert source.path == world["model"] and source.meta == _meta(world["model"])


# -- each method ---------------------------------------------------------------------------


def test_adabn_sets_the_trunks_batch_norms_to_the_target_statistics(world):
    """Every BatchNorm layer of the trunk moved (frozen ones included); the first one holds
    the mean and variance of its input over the target faces (one batch: exact)."""
    import tensorflow as tf

    trunk, norms = _batch_norms(world["loaded"])
    _, source_norms = _batch_norms(world["source"])
    assert len(norms) == world["record"]["steps"]["adabn"]["layers"] > 50
    assert any(not layer.trainable for layer in norms)
    for adapted, source in zip(norms, source_norms):
        assert not np.allclose(adapted.moving_mean.numpy(), source.moving_mean.numpy()), adapted.name
    from tfdeepfake.models.sbi_classifier import FACENET_STANDARDIZE

    first = norms[0]
    below = tf.keras.Model(trunk.input, first.input)
    standardize = world["loaded"].model.get_layer(FACENET_STANDARDIZE)
    faces = np.concatenate(world["target_faces"]).astype(np.float32)
    x = below(standardize(tf.constant(faces)), training=False).numpy().astype(np.float64)
    mean, variance = x.mean((0, 1, 2)), x.var((0, 1, 2))
    np.testing.assert_allclose(first.moving_mean.numpy(), mean, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(first.moving_variance.numpy(), variance, rtol=1e-3, atol=1e-5)
    faces = world["target_faces"][1]
    assert np.max(np.abs(world["loaded"].score_faces(faces) - world["source"].score_faces(faces))) > 1e-3


def test_restandardise_after_adabn_uses_the_adapted_features(world):
    """texture_norm holds the target faces' feature mean and variance, as the adapted
    trunk computes them (the methods combine in order)."""
    loaded, source = world["loaded"], world["source"]
    faces = np.concatenate(world["target_faces"])
    features = _texture_features(loaded, faces).astype(np.float64)
    mean, variance, _ = loaded.model.get_layer("texture_norm").get_weights()
    np.testing.assert_allclose(mean, features.mean(0), rtol=1e-3, atol=1e-6)
    np.testing.assert_allclose(variance, features.var(0) + 1e-6, rtol=1e-3, atol=1e-7)
    old_mean = source.model.get_layer("texture_norm").get_weights()[0]
    source_features = _texture_features(source, faces).mean(0)
    assert not np.allclose(mean, old_mean, rtol=1e-2, atol=0)
    assert not np.allclose(mean, source_features, rtol=1e-2, atol=0)  # not the unadapted trunk's


def test_the_combined_threshold_follows_the_adapted_scores(world):
    loaded = world["loaded"]
    scores = [loaded.score_video(f) for f in world["target_faces"]]
    reference = world["source"].meta["calibration"]["real_scores"]["sbi"]
    shift = np.median(logit(scores)) - np.median(logit(reference))
    expected = 1 / (1 + np.exp(-(logit(0.5) + shift)))
    assert loaded.threshold() == pytest.approx(expected, abs=1e-6)
    assert abs(shift) > 1e-3


def test_threshold_moves_by_the_median_logit_shift(world, monkeypatch):
    """A calibration whose genuine scores are the target videos' own scores moved by -1.25 in
    logit space, and a threshold of 0.4: the threshold moves by +1.25 in logit space."""
    source = world["source"]
    scores = [source.score_video(f) for f in world["target_faces"]]
    reference = sorted(float(1 / (1 + np.exp(-(logit(s) - 1.25)))) for s in scores)
    monkeypatch.setitem(source.meta, "calibration", {"real_scores": {"sbi": reference}})
    monkeypatch.setitem(source.meta, "threshold", 0.4)
    thresholds, record = recentre_thresholds(source, world["targets"])
    expected = 1 / (1 + np.exp(-(logit(0.4) + 1.25)))
    step = record["variants"]["sbi"]
    assert step["logit_shift"] == pytest.approx(1.25, abs=1e-6)
    assert step["previous"] == 0.4 and thresholds == {"sbi": pytest.approx(expected, abs=1e-6)}
    assert step["target_median"] == pytest.approx(np.median(scores))
    assert step["calibration_median"] == pytest.approx(np.median(reference))


def test_threshold_needs_calibration_genuine_scores(world, monkeypatch):
    source = world["source"]
    monkeypatch.setitem(source.meta, "calibration", {"real_videos": ["a.mp4"]})
    with pytest.raises(AdaptError, match="calibrat") as caught:
        recentre_thresholds(source, world["targets"])
    assert "\n" not in str(caught.value) and "'sbi'" in str(caught.value)
    monkeypatch.delitem(source.meta, "calibration")
    with pytest.raises(AdaptError, match="calibrate"):
        recentre_thresholds(source, world["targets"])


@pytest.mark.parametrize("methods", [["coral"], ["adabn", "entropy"], []])
def test_unknown_methods_are_refused(world, tmp_path, methods):
    with pytest.raises(AdaptError, match="unknown method") as caught:
        adapt_model(world["model"], world["targets"], tmp_path / "out", methods=methods,
                    min_videos=1)
    assert "valid: adabn, restandardise, self-blend, threshold" in str(caught.value)
    assert not (tmp_path / "out").exists()


# -- guard rails ---------------------------------------------------------------------------


def test_too_few_target_videos_or_an_existing_folder_are_refused(world, tmp_path):
    with pytest.raises(AdaptError, match="6 target videos with faces; adaptation needs at least 7") as caught:
        adapt_model(world["model"], world["targets"], tmp_path / "out", min_videos=7)
    assert "\n" not in str(caught.value) and not (tmp_path / "out").exists()
    (tmp_path / "taken").mkdir()
    with pytest.raises(FileExistsError, match="taken: already exists"):
        adapt_model(world["model"], world["targets"], tmp_path / "taken", min_videos=3)
    with pytest.raises(FileExistsError):
        adapt_model(world["model"], world["targets"], world["model"], min_videos=3)
    assert folder_hashes(world["model"]) == world["hashes_before"]


def test_a_cache_of_other_face_settings_is_refused_naming_the_keys(world, tmp_path):
    other = FaceSettings(num_frames=8, margin=0.5)
    cache = write_cache(tmp_path / "other.h5", world["target_faces"][:2], settings=other)
    with pytest.raises(AdaptError, match=r"other face settings than the model's \(margin, num_frames\)") as caught:
        targets_from_cache(cache, SETTINGS)
    assert "\n" not in str(caught.value)
    assert len(targets_from_cache(cache, other).videos) == 2


def test_a_full_disk_leaves_no_folder_and_a_rerun_works(world, tmp_path, monkeypatch):
    """adabn alone: the write fails on ENOSPC, nothing is left; the rerun writes the folder,
    whose texture standardisation and threshold are the source's (only adabn applied)."""
    from tfdeepfake.cache.files import DiskFullError
    from tfdeepfake.detectors import adapt

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    out = tmp_path / "out"
    monkeypatch.setattr(adapt, "save_adapted_layers", full)
    with pytest.raises(DiskFullError):
        adapt_model(world["model"], world["targets"], out, methods=["adabn"], seed=SEED,
                    min_videos=3)
    assert list(tmp_path.iterdir()) == []
    monkeypatch.undo()
    record = adapt_model(world["model"], world["targets"], out, methods=["adabn"], seed=SEED,
                         min_videos=3)
    assert record["methods"] == ["adabn"] and list(record["steps"]) == ["adabn"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert _meta(out)["threshold"] == 0.5
    written, combined = h5_arrays(out / ADAPTED_LAYERS_FILE), \
        h5_arrays(world["adapted"] / ADAPTED_LAYERS_FILE)
    source = h5_arrays(world["model"] / "trained_layers.h5")
    assert written.keys() == combined.keys()
    for name in written:
        if name.startswith("texture_norm/"):  # restandardise not asked: the source's
            np.testing.assert_array_equal(written[name], source[name])
            assert not np.array_equal(written[name], combined[name]) or name.endswith("/2")
        else:  # the same seed and faces as the combined run: the same statistics
            np.testing.assert_array_equal(written[name], combined[name], err_msg=name)
    assert folder_hashes(world["model"]) == world["hashes_before"]


def test_restandardise_takes_effect_on_a_detector_that_already_scored(world):
    """A traced scoring function holds the Normalization statistics as constants: after
    restandardise the detector must score with the new ones, as the Keras model does."""
    from tfdeepfake.detectors import load_detector
    from tfdeepfake.detectors.adapt import restandardise

    detector = load_detector(world["model"])
    faces = np.concatenate(world["target_faces"])
    before = detector.score_faces(faces)  # traces the scoring function
    restandardise(detector, world["targets"])
    after = detector.score_faces(faces)
    eager = detector.model(faces.astype(np.float32), training=False).numpy().reshape(-1)
    np.testing.assert_allclose(after, eager, atol=1e-5)
    assert not np.allclose(after, before, atol=1e-4)


def test_a_copied_model_card_says_its_numbers_are_the_source_models(world, tmp_path):
    (card_source := tmp_path / "model").mkdir()
    shutil.copytree(world["model"], card_source, dirs_exist_ok=True)
    (card_source / "MODEL_CARD.md").write_text("# Source card\n\nAUC 0.72\n")
    adapt_model(card_source, world["targets"], tmp_path / "adapted", methods=["threshold"],
                min_videos=3)
    card = (tmp_path / "adapted" / "MODEL_CARD.md").read_text()
    assert card.startswith("> **Adapted copy** (`tfdeepfake adapt`, threshold, on 6 unlabelled")
    assert card.endswith("# Source card\n\nAUC 0.72\n")
    assert (card_source / "MODEL_CARD.md").read_text() == "# Source card\n\nAUC 0.72\n"


def test_a_missing_cache_is_named_as_missing(tmp_path):
    """It was called "made with other face settings" (the empty settings of no file)."""
    with pytest.raises(AdaptError, match="nothing.h5: not found; adapt needs a face cache"):
        targets_from_cache(tmp_path / "nothing.h5", SETTINGS)


# -- self-blend ----------------------------------------------------------------------------


def with_curvature(source, root, strength: float):
    """A copy of the shared model folder with a stored curvature ``strength * I`` (the
    intercept's entry too), as ``with_texture_head`` writes it."""
    from tfdeepfake.detectors.texture_head import CURVATURE_FILE

    shutil.copytree(source, root)
    meta = _meta(root)
    dim = len(meta_kernel(root)) + 1
    np.save(root / CURVATURE_FILE, np.eye(dim, dtype=np.float32) * strength, allow_pickle=False)
    meta["texture_head"] = {"curvature": {"file": CURVATURE_FILE, "rows": 100}}
    (root / "model.json").write_text(json.dumps(meta))
    return root


def meta_kernel(folder) -> np.ndarray:
    arrays = h5_arrays(folder / ("adapted_layers.h5" if (folder / "adapted_layers.h5").exists()
                                 else "trained_layers.h5"))
    (name,) = [n for n in arrays if n.startswith("texture_logit/") and arrays[n].ndim == 2]
    return arrays[name][:, 0]


def keypointed_cache(path, videos, settings=SETTINGS):
    """A face cache whose boxes and keypoints put a face where the test face is."""
    from tfdeepfake.cache.faces import face_store

    store = face_store(path, settings)
    box = np.array([20, 20, 140, 140], np.float32)
    points = np.array([[58, 70], [102, 70], [80, 92], [62, 116], [98, 116]], np.float32)
    for i, faces in enumerate(videos):
        n = len(faces)
        store.stage_video(f"toy/v{i:02d}", {
            "faces": np.asarray(faces, np.uint8), "frame_indices": np.arange(n, dtype=np.int32),
            "boxes": np.tile(box, (n, 1)), "keypoints": np.tile(points, (n, 1, 1)),
            "confidences": np.ones(n, np.float32), "sampled_indices": np.arange(n, dtype=np.int32),
        }, {"label": i % 2, "split": "test", "dataset": "toy"})
    store.commit()
    return path


@pytest.fixture(scope="module")
def blend_world(world, tmp_path_factory):
    root = tmp_path_factory.mktemp("self_blend")
    cache = keypointed_cache(root / "target.h5", world["target_faces"])
    targets = targets_from_cache(cache, SETTINGS)
    models = {s: with_curvature(world["model"], root / f"model-{s:g}", s) for s in (10.0, 1e5)}
    records = {s: adapt_model(m, targets, root / f"adapted-{s:g}", methods=["self-blend"],
                              seed=SEED, min_videos=3) for s, m in models.items()}
    return {"root": root, "cache": cache, "targets": targets, "models": models, "records": records}


def test_self_blend_refits_only_the_head_and_a_stiffer_source_holds_it_closer(world, blend_world):
    records, root = blend_world["records"], blend_world["root"]
    step = records[10.0]["steps"]["self-blend"]
    assert step["target_faces_as_genuine"] == 18  # 6 videos x 3 faces
    assert step["pseudo_fakes"] == 36  # 3 faces per video, two recipes
    assert step["source_rows"] == 100 and step["weighting"].startswith("one training face per")
    # The stiffer the source's curvature, the less the head moves.
    assert records[1e5]["steps"]["self-blend"]["weights_cosine"] > step["weights_cosine"]
    assert step["weights_cosine"] < 0.999
    source = h5_arrays(world["model"] / "trained_layers.h5")
    adapted = h5_arrays(root / "adapted-10" / ADAPTED_LAYERS_FILE)
    moved = [n for n in source if not np.array_equal(source[n], adapted[n])]
    assert moved and all(n.startswith("texture_logit/") for n in moved)
    assert _meta(root / "adapted-10")["threshold"] == 0.5  # the model's threshold is kept


def test_the_self_blended_folder_scores(world, blend_world):
    from tfdeepfake.detectors import load_detector

    loaded = load_detector(blend_world["root"] / "adapted-10")
    scores = loaded.score_faces(world["target_faces"][0])
    assert scores.shape == (3,) and np.all(np.isfinite(scores))


def test_self_blend_reads_no_label(world, blend_world, tmp_path):
    copy = tmp_path / "relabelled.h5"
    shutil.copy(blend_world["cache"], copy)
    with h5py.File(copy, "r+") as f:
        for group in f["videos"].values():
            group.attrs["label"] = 1 - int(group.attrs["label"])
    adapt_model(blend_world["models"][10.0], targets_from_cache(copy, SETTINGS), tmp_path / "again",
                methods=["self-blend"], seed=SEED, min_videos=3)
    np.testing.assert_array_equal(meta_kernel(tmp_path / "again"),
                                  meta_kernel(blend_world["root"] / "adapted-10"))


def test_self_blend_refuses_without_curvature_keypoints_or_beside_adabn(world, blend_world, tmp_path):
    from tfdeepfake.detectors.adapt import TargetVideo, Targets

    with pytest.raises(AdaptError, match="no stored curvature"):
        adapt_model(world["model"], blend_world["targets"], tmp_path / "a", methods=["self-blend"],
                    min_videos=3)
    bare = Targets([TargetVideo(v.key, v.sha256, v.faces) for v in blend_world["targets"].videos])
    with pytest.raises(AdaptError, match="needs the faces' keypoints; none for toy/v00 and 5 more"):
        adapt_model(blend_world["models"][10.0], bare, tmp_path / "b", methods=["self-blend"],
                    min_videos=3)
    with pytest.raises(AdaptError, match="does not combine with adabn or restandardise"):
        adapt_model(blend_world["models"][10.0], blend_world["targets"], tmp_path / "c",
                    methods=["adabn", "self-blend"], min_videos=3)
    assert not any((tmp_path / n).exists() for n in "abc")
