"""tfdeepfake: tell real face videos from deepfakes with TensorFlow/Keras.

Data flows one way: datasets -> video -> faces -> cache -> pipelines -> models
-> classifiers -> evaluation -> export -> cli. A module imports only from
stages before its own.
"""

__version__ = "0.1.0"

# before any TensorFlow import: Keras 2 (tf-keras) on TensorFlow >= 2.16 (tfdeepfake/compat.py)
from tfdeepfake import compat as _compat  # noqa: E402,F401
