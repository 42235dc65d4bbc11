"""Tiny stand-ins shared by the export and lite tests (no real FaceNet, no real data).

Classifiers come from the classifiers stage (`tfdeepfake.classifiers`), whose arrays are
the "Classifier arrays" of DEVELOPERS.md.
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


def fit_classifier(kind: str, x, y, seed: int = 0):
    """Fit a small classifier of `kind` with the classifiers stage; return (the fitted
    scikit-learn model, arrays, meta) so tests compare exports with scikit-learn itself."""
    from tfdeepfake.classifiers import make_classifier

    params = {"sgd": {"seed": seed}, "knn": {"k": 5}, "rf": {"n_trees": 7, "seed": seed}}
    if kind not in params:
        raise ValueError(kind)
    clf = make_classifier(kind, **params[kind]).fit(x, y)
    arrays, meta = clf.to_arrays()
    return (clf.estimator_, arrays, meta)


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
