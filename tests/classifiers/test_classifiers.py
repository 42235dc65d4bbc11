import json
import re

import numpy as np
import pytest
from scipy.special import expit

from tfdeepfake.classifiers import (
    CLASSIFIERS,
    KnnFrameClassifier,
    RandomForestFrameClassifier,
    SgdFrameClassifier,
    load_classifier,
    make_classifier,
    save_classifier,
)
from tfdeepfake.classifiers.forest import float32_floor

CONTRACT = {
    "sgd": {"coef": np.float32, "intercept": np.float32},
    "knn": {"train_embeddings": np.float32, "train_labels": np.int32},
    "rf": {
        "children_left": np.int32,
        "children_right": np.int32,
        "feature": np.int32,
        "threshold": np.float32,
        "leaf_fake_probability": np.float32,
    },
}


def data(seed=0, n=200, dim=6):
    rng = np.random.RandomState(seed)
    x = rng.randn(n, dim).astype(np.float32)
    y = (x[:, 0] + 0.7 * x[:, 1] + 0.5 * rng.randn(n) > 0).astype(int)
    return x, y


def small(name):
    return make_classifier(name, n_trees=10) if name == "rf" else make_classifier(name)


@pytest.mark.parametrize("name", sorted(CLASSIFIERS))
def test_matches_sklearn_and_round_trips_without_pickle(name, tmp_path):
    x, y = data()
    x_test = np.concatenate([data(seed=1, n=50)[0], x[:30]])
    clf = small(name)
    assert clf.fit(x, y) is clf
    prob = clf.predict_proba_fake(x_test)
    assert prob.shape == (80,) and ((prob >= 0) & (prob <= 1)).all()
    np.testing.assert_allclose(prob, clf.estimator_.predict_proba(x_test)[:, 1], atol=1e-6)

    arrays, meta = clf.to_arrays()
    assert json.loads(json.dumps(meta)) == meta and meta["kind"] == name
    for key, dtype in CONTRACT[name].items():
        assert arrays[key].dtype == dtype, key
    rebuilt = type(clf).from_arrays(arrays, meta)
    assert not hasattr(rebuilt, "estimator_")
    np.testing.assert_allclose(rebuilt.predict_proba_fake(x_test), prob, atol=1e-6)

    save_classifier(tmp_path, clf)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["classifier.json", "classifier.npz"]
    with np.load(tmp_path / "classifier.npz", allow_pickle=False) as npz:
        assert all(npz[k].dtype != object for k in npz.files)
    loaded = load_classifier(tmp_path)
    assert type(loaded) is type(clf)
    np.testing.assert_allclose(loaded.predict_proba_fake(x_test), prob, atol=1e-6)
    if name == "rf":
        np.testing.assert_array_equal(loaded.predict_proba_fake(x_test), prob)


def test_array_shapes_follow_the_contract():
    x, y = data()
    sgd = SgdFrameClassifier().fit(x, y).to_arrays()[0]
    assert sgd["coef"].shape == (6,) and sgd["intercept"].shape == ()
    knn, meta = KnnFrameClassifier().fit(x, y).to_arrays()
    assert knn["train_embeddings"].shape == (200, 6) and meta["k"] == 10
    rf, meta = RandomForestFrameClassifier(n_trees=7).fit(x, y).to_arrays()
    assert rf["children_left"].shape == (7, meta["max_nodes"])
    leaves = rf["children_left"] == -1
    assert (rf["children_right"][leaves] == -1).all()


def test_default_hyperparameters_are_the_posters():
    x, y = data()
    assert KnnFrameClassifier().fit(x, y).estimator_.n_neighbors == 10
    sgd = SgdFrameClassifier().fit(x, y).estimator_
    assert sgd.loss == "log_loss"
    assert RandomForestFrameClassifier().n_trees == 100


def test_rf_reaches_sklearn_leaves_exactly_on_tied_values():
    # a coarse grid: many ties, thresholds halfway between float32 neighbours
    rng = np.random.RandomState(0)
    x = (rng.randint(0, 7, size=(300, 3)) * np.float32(0.1)).astype(np.float32)
    x[:, 2] = np.float32(1.0) + rng.randint(0, 3, 300) * np.finfo(np.float32).eps
    y = ((x[:, 0] + x[:, 2] + 0.1 * rng.randn(300)) > 1.3).astype(int)
    clf = RandomForestFrameClassifier(n_trees=15, seed=1).fit(x, y)
    sk_leaves = np.stack([tree.apply(x) for tree in clf.estimator_.estimators_], axis=1)
    np.testing.assert_array_equal(clf.leaf_indices(x), sk_leaves)
    expected = clf.estimator_.predict_proba(x)[:, 1]
    np.testing.assert_allclose(clf.predict_proba_fake(x), expected, atol=1e-6)


def test_float32_floor():
    values = np.array([0.1, 1.0, 1.0 + 1e-12, -0.3, 2.5e-8])
    out = float32_floor(values)
    assert out.dtype == np.float32
    assert (out.astype(np.float64) <= values).all()
    assert (np.nextafter(out, np.float32(np.inf)).astype(np.float64) > values).all()


def test_knn_vote_on_a_hand_written_case():
    x = np.array([[0.0], [1.0], [2.0], [10.0], [11.0], [12.0]], np.float32)
    y = np.array([0, 0, 1, 1, 1, 1])
    knn = KnnFrameClassifier(k=3).fit(x, y)
    prob = knn.predict_proba_fake(np.array([[0.4], [11.0], [5.0]], np.float32))
    np.testing.assert_allclose(prob, [1 / 3, 1.0, 1 / 3])


def test_knn_k_larger_than_training_set_is_clamped():
    x = np.array([[0.0], [1.0], [2.0]], np.float32)
    knn = KnnFrameClassifier(k=10).fit(x, [0, 1, 1])
    assert knn.to_arrays()[1]["k"] == 3
    np.testing.assert_allclose(knn.predict_proba_fake([[0.0]]), [2 / 3])


def test_sgd_is_a_sigmoid_of_a_linear_score():
    x, y = data()
    clf = SgdFrameClassifier(seed=3).fit(x, y)
    arrays, _ = clf.to_arrays()
    expected = expit(x.astype(np.float64) @ arrays["coef"] + arrays["intercept"])
    np.testing.assert_allclose(clf.predict_proba_fake(x), expected, atol=1e-7)
    np.testing.assert_array_equal(clf.predict(x), (expected >= 0.5).astype(int))


def test_errors():
    x, y = data()
    with pytest.raises(ValueError, match="valid: knn, rf, sgd"):
        make_classifier("svm")
    with pytest.raises(ValueError, match="both real and fake"):
        KnnFrameClassifier().fit(x, np.ones(len(x), int))
    with pytest.raises(ValueError, match="labels must be"):
        KnnFrameClassifier().fit(x, np.arange(len(x)) % 3)
    clf = SgdFrameClassifier().fit(x, y)
    with pytest.raises(ValueError, match="features"):
        clf.predict_proba_fake(x[:, :3])
    arrays, meta = clf.to_arrays()
    with pytest.raises(ValueError, match="not 'knn'"):
        KnnFrameClassifier.from_arrays(arrays, meta)
    with pytest.raises(ValueError, match="dtype"):
        SgdFrameClassifier.from_arrays({**arrays, "coef": arrays["coef"].astype(np.float64)}, meta)
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        SgdFrameClassifier().predict_proba_fake(x)


def test_load_missing_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="classifier.json"):
        load_classifier(tmp_path)


# --- issue 14 item 8: a malformed saved classifier is one line naming file and key ---------


def _saved(tmp_path, name):
    x, y = data()
    return save_classifier(tmp_path / name, small(name).fit(x, y))


def _edit_json(change):
    def edit(folder):
        path = folder / "classifier.json"
        meta = json.loads(path.read_text())
        change(meta)
        path.write_text(json.dumps(meta))
    return edit


def _edit_arrays(change):
    def edit(folder):
        path = folder / "classifier.npz"
        with np.load(path) as stored:
            arrays = dict(stored)
        change(arrays)
        np.savez(path, **arrays)
    return edit


MALFORMED = [  # (kind, edit, file, what the one line says)
    ("sgd", _edit_json(lambda m: m["params"].update(evil=1)), "classifier.json",
     r"key 'params' has unknown key\(s\) 'evil'; sgd takes alpha, max_iter, seed, tol"),
    ("sgd", _edit_json(lambda m: m["params"].update(alpha="abc")), "classifier.json",
     r"key 'params.alpha' should be int or float, found 'abc'"),
    ("sgd", _edit_json(lambda m: m.update(n_features="abc")), "classifier.json",
     r"key 'n_features' should be int, found 'abc'"),
    ("sgd", _edit_json(lambda m: m.update(kind=["sgd"])), "classifier.json",
     r"key 'kind' should be one of knn, rf, sgd, found \['sgd'\]"),
    ("sgd", _edit_json(lambda m: m.update(params=[1])), "classifier.json",
     r"key 'params' should be dict, found \[1\]"),
    ("sgd", _edit_json(lambda m: m.pop("label_fake")), "classifier.json",
     r"key 'label_fake' is missing"),
    ("sgd", _edit_json(lambda m: m.update(extra=True)), "classifier.json",
     r"unknown key\(s\) 'extra'"),
    ("knn", _edit_json(lambda m: m.update(k="abc")), "classifier.json",
     r"key 'k' should be int, found 'abc'"),
    ("rf", _edit_json(lambda m: m.update(max_tree_depth=True)), "classifier.json",
     r"key 'max_tree_depth' should be int, found True"),
    ("sgd", lambda f: (f / "classifier.json").write_text("[1]"), "classifier.json",
     r"expected a JSON object, found list"),
    ("sgd", lambda f: (f / "classifier.json").write_text("{bad"), "classifier.json",
     r"invalid JSON"),
    ("sgd", _edit_arrays(lambda a: a.update(coef=np.array([object()] * 6, dtype=object))),
     "classifier.npz", r"array 'coef' holds Python objects \(pickled data\)"),
    ("sgd", lambda f: (f / "classifier.npz").write_bytes(b"garbage"), "classifier.npz",
     r"not a .npz archive of arrays"),
    ("knn", _edit_arrays(lambda a: a.update(train_labels=a["train_labels"] * 3)),
     "classifier.npz", r"labels other than 0 \(real\) and 1 \(fake\)"),
    ("rf", _edit_arrays(lambda a: a.update(children_left=a["children_left"] + 10**6)),
     "classifier.npz", r"'children_left' holds node ids outside"),
    ("rf", _edit_arrays(lambda a: a.update(feature=a["feature"] - 1)), "classifier.npz",
     r"'feature' holds feature ids outside \[0, 6\)"),
]


@pytest.mark.parametrize("kind, edit, file, message", MALFORMED)
def test_malformed_saved_classifiers_are_refused_by_file_and_key(tmp_path, kind, edit, file,
                                                                message):
    """These gave TypeError ('unexpected keyword argument evil'), AttributeError, messages
    naming no file ('Object arrays cannot be loaded when allow_pickle=False'), or loaded and
    failed later (an out-of-range node id)."""
    from tfdeepfake.classifiers.base import ClassifierFileError

    folder = _saved(tmp_path, kind)
    edit(folder)
    with pytest.raises(ClassifierFileError) as err:
        load_classifier(folder)
    line = str(err.value)
    assert line.startswith(f"{folder / file}: ") and "\n" not in line, line
    assert re.search(message, line), line
    assert isinstance(err.value, ValueError)  # callers catching ValueError keep working
