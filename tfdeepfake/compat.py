"""The two supported stacks, and every difference between them, in one place.

* **faithful** (``requirements.txt``, Python 3.11): TensorFlow 2.15.1, its bundled Keras 2,
  tensorflow-addons 0.23 (the poster's ``tfa.losses.TripletSemiHardLoss``).
* **modern** (``requirements-modern.txt``, Python 3.12/3.13): current TensorFlow with the
  ``tf-keras`` package. From TF 2.16 ``tf.keras`` is Keras 3 unless ``TF_USE_LEGACY_KERAS=1``
  is set before TensorFlow is first imported; this module sets it (importing
  :mod:`tfdeepfake` imports this module and does not import TensorFlow), so ``tf.keras``
  and ``from tensorflow import keras`` are Keras 2 (tf-keras) on both stacks, and so are
  keras-facenet's and mtcnn's networks. TFA does not install there; the triplet loss is
  :mod:`tfdeepfake.models.triplet_loss` (parity-tested against TFA).

Why tf-keras and not Keras 3: under Keras 3 the Keras-2 APIs this project is built on
change at once (Keras-2 ``.h5`` weight files read by layer name, ``tf.saved_model.save`` of
Keras models vs Keras 3's ``model.export``, custom-layer serialisation, ``tf.*`` ops inside
functional models), and mtcnn 1.0.0 and keras-facenet 0.3.2 build their networks with
``tensorflow.keras``; every model folder, SavedModel and TFLite graph would need re-writing
and re-verifying. With tf-keras the same code, weights files, SavedModel and TFLite paths
run unchanged, and the same folders give the same verdicts (tests/compat/test_portability.py);
no per-stack branches were needed beyond the triplet loss and the environment variable.
One pitfall: code that touches ``tf.keras`` before importing tfdeepfake gets Keras 3 and a
mix of the two; :func:`require_keras2` says so in one line (the loss getter calls it).

Nothing here imports TensorFlow at import time.
"""

from __future__ import annotations

import os

# Must precede the first use of ``tf.keras`` (TensorFlow reads it then, once). Set only where the
# tf-keras package is installed: TF 2.15 reads it too and, without tf-keras, would then fail
# to import Keras at all. setdefault: a user who sets it to 0 on purpose gets Keras 3 and
# the one-line refusal of ``require_keras2``.
def _installed(distribution: str) -> bool:
    # The package's metadata, not an import look-up: tfdeepfake.lite (which imports this
    # package) must not even try to import tf_keras, and its tests check that it does not.
    from importlib import metadata

    try:
        metadata.distribution(distribution)
        return True
    except metadata.PackageNotFoundError:
        return False


if _installed("tf-keras"):
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

#: ``TFDEEPFAKE_TRIPLET_LOSS``: ``auto`` (TFA where it imports, else TensorFlow), ``tfa``
#: or ``tensorflow`` (the pure-TensorFlow loss even where TFA is installed).
TRIPLET_LOSS_ENV = "TFDEEPFAKE_TRIPLET_LOSS"
TRIPLET_LOSS_CHOICES = ("auto", "tfa", "tensorflow")


def tensorflow_version() -> tuple[int, int]:
    """(major, minor) of the installed TensorFlow (imports it)."""
    import tensorflow as tf

    major, minor = tf.__version__.split(".")[:2]
    return int(major), int(minor)


def stack() -> str:
    """``"faithful"`` on TensorFlow <= 2.15 (Keras 2 bundled), ``"modern"`` after."""
    return "faithful" if tensorflow_version() < (2, 16) else "modern"


def keras_version() -> str:
    """The version of the Keras that ``tf.keras`` is (tf-keras on the modern stack)."""
    import importlib

    import tensorflow as tf

    # tf.keras is a lazy module without __version__; its Model's package (keras, tf_keras) has
    package = importlib.import_module(tf.keras.Model.__module__.split(".")[0])
    return str(getattr(package, "__version__", "unknown"))


def require_keras2() -> None:
    """Raise one line when ``tf.keras`` is Keras 3 (TensorFlow >= 2.16 without tf-keras, or
    ``TF_USE_LEGACY_KERAS`` set to 0 / TensorFlow imported before tfdeepfake)."""
    version = keras_version()
    if not version.startswith("2."):
        raise RuntimeError(
            f"tfdeepfake needs Keras 2 but tf.keras is Keras {version}: install tf-keras "
            "matching TensorFlow (requirements-modern.txt) and import tfdeepfake before "
            "tensorflow, or set TF_USE_LEGACY_KERAS=1"
        )


def tfa_available() -> bool:
    """Whether tensorflow-addons imports and runs with this TensorFlow (<= 2.15)."""
    try:
        if tensorflow_version() >= (2, 16):
            return False
        import tensorflow_addons  # noqa: F401
    except Exception:  # ImportError, or TFA failing against this TF/Keras
        return False
    return True


def triplet_loss_implementation(choice: str | None = None) -> str:
    """``"tfa"`` or ``"tensorflow"``: which semi-hard triplet loss :func:`triplet_semihard_loss`
    builds for ``choice`` (default: ``$TFDEEPFAKE_TRIPLET_LOSS``, else ``auto``)."""
    choice = (choice or os.environ.get(TRIPLET_LOSS_ENV) or "auto").strip().lower()
    if choice not in TRIPLET_LOSS_CHOICES:
        raise ValueError(f"{TRIPLET_LOSS_ENV}={choice!r}; valid: {', '.join(TRIPLET_LOSS_CHOICES)}")
    if choice == "tfa" and not tfa_available():
        raise ImportError(
            "the TFA triplet loss needs tensorflow-addons 0.21-0.23 with TensorFlow "
            "2.13-2.15 (requirements.txt); unset TFDEEPFAKE_TRIPLET_LOSS to use the "
            "pure-TensorFlow loss"
        )
    if choice == "auto":
        return "tfa" if tfa_available() else "tensorflow"
    return choice


def triplet_semihard_loss(margin: float = 1.0, implementation: str | None = None):
    """The semi-hard triplet loss as a Keras loss: ``tfa.losses.TripletSemiHardLoss`` on
    the faithful stack, :class:`tfdeepfake.models.triplet_loss.TripletSemiHardLoss` where
    TFA is absent (same values and gradients within 1e-5)."""
    require_keras2()
    if triplet_loss_implementation(implementation) == "tfa":
        import tensorflow_addons as tfa

        return tfa.losses.TripletSemiHardLoss(margin=float(margin))
    from tfdeepfake.models.triplet_loss import TripletSemiHardLoss

    return TripletSemiHardLoss(margin=float(margin))
