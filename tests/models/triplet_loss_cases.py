"""Seeded batches for the semi-hard triplet loss tests (numpy only, so that both stacks
build the same inputs): one, two and many classes, ties in distances, one class only."""

from __future__ import annotations

import numpy as np


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def loss_cases() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """name -> (labels int32 [n], L2-normalised float32 embeddings [n, d])."""
    cases: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for seed in range(3):
        rng = np.random.default_rng(100 + seed)
        n, d = 16, 8
        cases[f"two_classes_{seed}"] = (rng.integers(0, 2, n).astype(np.int32),
                                        _unit(rng.normal(size=(n, d))))
        cases[f"many_classes_{seed}"] = (rng.integers(0, 6, 24).astype(np.int32),
                                         _unit(rng.normal(size=(24, d))))
    rng = np.random.default_rng(7)
    # one class: no negatives at all (TFA's fallback gives the row's smallest distance, 0)
    cases["one_class"] = (np.zeros(10, np.int32), _unit(rng.normal(size=(10, 4))))
    # two classes, P x K as the balanced pipeline builds them
    cases["balanced_pk"] = (np.repeat([0, 1], 8).astype(np.int32), _unit(rng.normal(size=(16, 6))))
    # ties: embeddings on a coarse grid (many equal distances) and exact duplicate rows
    grid = _unit(rng.integers(-1, 2, size=(12, 3)).astype(np.float32) + np.array([0, 0, 3], np.float32))
    cases["ties_grid"] = (rng.integers(0, 3, 12).astype(np.int32), grid)
    base = _unit(rng.normal(size=(4, 5)))
    dup = np.concatenate([base, base, base[:2]])
    cases["ties_duplicates"] = (np.array([0, 1, 0, 1, 1, 0, 0, 1, 1, 0], np.int32), dup)
    # symmetric points: every anchor sees equal distances to several negatives
    angles = np.arange(8) * (np.pi / 4)
    circle = np.stack([np.cos(angles), np.sin(angles)], 1).astype(np.float32)
    cases["ties_circle"] = (np.array([0, 1] * 4, np.int32), circle)
    # not normalised, larger batch, many classes
    rng = np.random.default_rng(11)
    cases["raw_many_classes"] = (rng.integers(0, 10, 40).astype(np.int32),
                                 rng.normal(size=(40, 8)).astype(np.float32))
    return cases


def loss_and_gradient(loss_fn, labels: np.ndarray, embeddings: np.ndarray):
    """(loss, d loss / d embeddings) of a Keras loss object, as numpy."""
    import tensorflow as tf

    x = tf.Variable(embeddings)
    with tf.GradientTape() as tape:
        loss = loss_fn(tf.constant(labels), x)
    return float(loss.numpy()), tape.gradient(loss, x).numpy()
