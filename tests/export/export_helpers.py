"""Tiny stand-ins shared by the export and lite tests (no real FaceNet, no real data).

The classifier helpers turn fitted scikit-learn models into the "Classifier arrays" of
DEVELOPERS.md the way the classifiers stage is meant to; they stand in until that stage
is wired in.
"""

from __future__ import annotations

import numpy as np

FACE = 160


def make_embeddings(n: int = 120, dim: int = 16, seed: int = 0):
    """Two separable-ish Gaussian blobs on the unit sphere; labels 0 real, 1 fake."""
    rng = np.random.RandomState(seed)
    labels = (np.arange(n) % 2).astype(np.int32)
    centres = rng.normal(size=(2, dim))
    x = centres[labels] + 0.9 * rng.normal(size=(n, dim))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float32), labels


def sgd_arrays(model):
    return (
        {
            "coef": model.coef_.reshape(-1).astype(np.float32),
            "intercept": np.float32(model.intercept_[0]),
        },
        {"kind": "sgd"},
    )


def knn_arrays(model):
    return (
        {
            "train_embeddings": np.asarray(model._fit_X, dtype=np.float32),
            "train_labels": model.classes_[model._y].astype(np.int32),
        },
        {"kind": "knn", "k": int(model.n_neighbors)},
    )


def rf_arrays(model):
    from tfdeepfake.export.tf_classifiers import float32_threshold

    trees = [est.tree_ for est in model.estimators_]
    fake_col = list(model.classes_).index(1)
    max_nodes = max(t.node_count for t in trees)
    shape = (len(trees), max_nodes)
    out = {
        "children_left": np.full(shape, -1, np.int32),
        "children_right": np.full(shape, -1, np.int32),
        "feature": np.full(shape, -2, np.int32),
        "threshold": np.zeros(shape, np.float32),
        "leaf_fake_probability": np.zeros(shape, np.float32),
    }
    for i, t in enumerate(trees):
        n = t.node_count
        out["children_left"][i, :n] = t.children_left
        out["children_right"][i, :n] = t.children_right
        out["feature"][i, :n] = t.feature
        out["threshold"][i, :n] = float32_threshold(t.threshold)
        value = t.value[:, 0, :]
        out["leaf_fake_probability"][i, :n] = value[:, fake_col] / value.sum(axis=1)
    return out, {"kind": "rf", "n_estimators": len(trees)}


def fit_classifier(kind: str, x, y, seed: int = 0):
    """Fit a small scikit-learn model of `kind`; return (model, arrays, meta)."""
    if kind == "sgd":
        from sklearn.linear_model import SGDClassifier

        model = SGDClassifier(loss="log_loss", random_state=seed).fit(x, y)
        return (model, *sgd_arrays(model))
    if kind == "knn":
        from sklearn.neighbors import KNeighborsClassifier

        model = KNeighborsClassifier(n_neighbors=5).fit(x, y)
        return (model, *knn_arrays(model))
    if kind == "rf":
        from sklearn.ensemble import RandomForestClassifier

        model = RandomForestClassifier(n_estimators=7, random_state=seed).fit(x, y)
        return (model, *rf_arrays(model))
    raise ValueError(kind)


def build_tiny_embedder(dim: int = 512, size: int = FACE, seed: int = 0):
    """[N, size, size, 3] uint8 -> [N, dim] L2-normalised; preprocessing inside."""
    import tensorflow as tf

    keras = tf.keras
    tf.keras.utils.set_random_seed(seed)
    inp = keras.Input((size, size, 3), dtype="uint8", name="faces")
    x = keras.layers.Rescaling(1 / 127.5, offset=-1.0, name="standardise")(inp)
    x = keras.layers.Conv2D(4, 5, strides=4, activation="relu", name="conv1")(x)
    x = keras.layers.Conv2D(8, 3, strides=4, activation="relu", name="conv2")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    x = keras.layers.Dense(dim, name="embed")(x)
    out = keras.layers.UnitNormalization(name="l2")(x)
    return keras.Model(inp, out, name="tiny_embedder")


def build_tiny_head(in_dim: int = 512, dim: int = 16, seed: int = 1):
    import tensorflow as tf

    keras = tf.keras
    tf.keras.utils.set_random_seed(seed)
    inp = keras.Input((in_dim,), name="facenet_embedding")
    x = keras.layers.Dense(32, activation="relu", name="dense1")(inp)
    x = keras.layers.Dense(dim, name="dense2")(x)
    out = keras.layers.UnitNormalization(name="l2")(x)
    return keras.Model(inp, out, name="tiny_head")


def make_faces(n: int = 6, size: int = FACE, seed: int = 0):
    """Smooth random uint8 'faces' (blurred noise so convolutions see structure)."""
    rng = np.random.RandomState(seed)
    small = rng.randint(0, 256, size=(n, 10, 10, 3)).astype(np.float32)
    reps = size // 10
    faces = np.repeat(np.repeat(small, reps, axis=1), reps, axis=2)
    faces += rng.normal(scale=20, size=faces.shape)
    return np.clip(faces, 0, 255).astype(np.uint8)
