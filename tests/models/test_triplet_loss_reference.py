"""The pure-TensorFlow semi-hard triplet loss against TFA's stored values (any stack).

``triplet_loss_reference.json`` holds tensorflow-addons 0.23's loss and gradients on
``triplet_loss_cases.loss_cases()`` (TensorFlow 2.15.1); ``test_triplet_loss_parity``
checks on the faithful stack that they are TFA's; ``make test-modern`` runs this file
on the modern stack.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.models.triplet_loss_cases import loss_and_gradient, loss_cases
from tfdeepfake import compat
from tfdeepfake.models.triplet_loss import TripletSemiHardLoss

REFERENCE = json.loads(Path(__file__).with_name("triplet_loss_reference.json").read_text("utf-8"))
TOL = 1e-5


@pytest.mark.parametrize("name", sorted(loss_cases()))
def test_pure_loss_matches_tfa_reference(name):
    labels, x = loss_cases()[name]
    value, grad = loss_and_gradient(TripletSemiHardLoss(1.0), labels, x)
    assert abs(value - REFERENCE[name]["loss"]) <= TOL
    np.testing.assert_allclose(grad, np.asarray(REFERENCE[name]["gradient"], np.float32),
                               atol=TOL, rtol=0)


def test_getter_and_keras_serialisation(monkeypatch):
    from tensorflow import keras

    monkeypatch.setenv(compat.TRIPLET_LOSS_ENV, "tensorflow")
    loss = compat.triplet_semihard_loss(0.5)
    assert isinstance(loss, TripletSemiHardLoss) and loss.margin == 0.5
    clone = keras.losses.deserialize(keras.losses.serialize(loss))
    assert isinstance(clone, TripletSemiHardLoss) and clone.margin == 0.5
    monkeypatch.setenv(compat.TRIPLET_LOSS_ENV, "nope")
    with pytest.raises(ValueError, match="valid: auto, tfa, tensorflow"):
        compat.triplet_semihard_loss()


def test_tf_keras_is_keras_2():
    compat.require_keras2()
    assert compat.keras_version().startswith("2.")


def test_keras_3_is_refused_in_one_line():
    """TF >= 2.16 with TF_USE_LEGACY_KERAS=0: tf.keras is Keras 3, and the loss getter says
    what to do in one line."""
    import subprocess
    import sys

    if compat.stack() != "modern":
        pytest.skip("TensorFlow <= 2.15 has no Keras 3")
    code = ("import tfdeepfake.compat as c\n"
            "try:\n    c.triplet_semihard_loss()\n"
            "except RuntimeError as e:\n    print('REFUSED', e)\n")
    env = {k: v for k, v in __import__("os").environ.items()} | {"TF_USE_LEGACY_KERAS": "0"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         timeout=120).stdout
    line = [x for x in out.splitlines() if x.startswith("REFUSED")]
    assert len(line) == 1 and "needs Keras 2 but tf.keras is Keras 3" in line[0], out
