"""train_method / evaluate_bundle / bundles / detect on small synthetic data."""

import json

import numpy as np
import pytest

from tfdeepfake.bundle import BundleError, load_bundle
from tfdeepfake.cache.embeddings import embedding_store, load_embedding_table
from tfdeepfake.faces.settings import FaceSettings
from tfdeepfake.method import evaluate_bundle, head_outputs, train_method
from tfdeepfake.models.train_triplet import TripletTrainingConfig


def write_separable_embeddings(path, videos_per_class=(8, 8, 6), frames=6, dim=512, seed=0):
    """Unit vectors around two class centres; split per video (train, val, test counts)."""
    rng = np.random.RandomState(seed)
    centres = {0: rng.normal(size=dim), 1: rng.normal(size=dim)}
    store = embedding_store(path, {"model": "test", "random_init": True, "seed": 0,
                                   "face_settings": FaceSettings().to_dict()})
    for split, count in zip(("train", "val", "test"), videos_per_class):
        for label in (0, 1):
            for v in range(count):
                x = centres[label] + rng.normal(scale=1.5, size=(frames, dim))
                x /= np.linalg.norm(x, axis=1, keepdims=True)
                store.stage_video(f"t/{split}/{label}/{v}",
                                  {"embeddings": x.astype(np.float32),
                                   "frame_indices": np.arange(frames, dtype=np.int32)},
                                  {"label": label, "split": split, "dataset": "t"})
    store.commit()
    return path


@pytest.fixture(scope="module")
def embedder():
    from tfdeepfake.models.facenet import build_facenet_embedder

    return build_facenet_embedder(random_init=True, seed=3)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, embedder):
    root = tmp_path_factory.mktemp("method")
    cache = write_separable_embeddings(root / "emb.h5")
    config = TripletTrainingConfig(epochs=4, hidden_units=(64,), embedding_dim=16, seed=0)
    result = train_method(cache, root / "bundle", root / "run", embedder, FaceSettings(),
                          training_config=config, threshold="validation")
    return root, cache, result


def test_training_writes_a_bundle_with_logs(trained):
    root, _, result = trained
    meta = json.loads((root / "bundle" / "bundle.json").read_text())
    assert meta["embedder"]["random_init"] is True and meta["embedder"]["seed"] == 3
    assert meta["classifiers"] == ["knn", "rf", "sgd"]
    assert meta["training"]["data"]["train"]["train"]["videos"] == 16
    assert (root / "run" / "history.csv").exists()
    assert set(result.thresholds) == {"knn", "sgd", "rf"}
    assert all(0 <= t <= 1 for t in result.thresholds.values())
    assert "loss" in result.history and "val_loss" in result.history


def test_test_split_is_never_used_for_training(trained):
    root, _, _ = trained
    meta = json.loads((root / "bundle" / "bundle.json").read_text())
    assert set(meta["training"]["data"]["train"]) == {"train"}
    assert set(meta["training"]["data"]["val"]) == {"val"}


def test_bundle_round_trip_predicts_identically(trained):
    root, cache, _ = trained
    table = load_embedding_table(cache, splits=("test",))
    first, second = load_bundle(root / "bundle"), load_bundle(root / "bundle")
    out1, out2 = head_outputs(first.head, table.embeddings), head_outputs(second.head, table.embeddings)
    np.testing.assert_array_equal(out1, out2)
    for name in first.classifiers:
        np.testing.assert_array_equal(first.classifiers[name].predict_proba_fake(out1),
                                      second.classifiers[name].predict_proba_fake(out2))


def test_evaluation_separates_separable_data_and_writes_the_report(trained):
    root, cache, _ = trained
    results = evaluate_bundle(load_bundle(root / "bundle"), cache, root / "report")
    for name in ("knn", "sgd", "rf"):
        assert results[name]["video"]["auc"] > 0.9, (name, results[name]["video"])
        assert results[name]["video"]["n"] == 12
    for figure in ("roc_video.png", "confusion_rf.png", "embeddings_before_after.png"):
        assert (root / "report" / figure).stat().st_size > 1000
    table = (root / "report" / "measures_video.md").read_text()
    assert "Triplets + SGD" in table and "0.95833" in table  # the poster's RF AUC beside ours


def test_a_bundle_refuses_a_different_embedder(trained):
    root, _, _ = trained
    bundle = load_bundle(root / "bundle")
    bundle.meta["embedder"]["seed"] = 4
    with pytest.raises(BundleError, match="does not match"):
        bundle.build_embedder()


def test_missing_bundle_is_a_clear_error(tmp_path):
    with pytest.raises(BundleError, match="not a model bundle"):
        load_bundle(tmp_path)
