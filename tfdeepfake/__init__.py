"""tfdeepfake: tell real face videos from deepfakes with TensorFlow/Keras.

Data flows one way: datasets -> video -> faces -> cache -> pipelines -> models
-> classifiers -> evaluation -> export -> cli. A module imports only from
stages before its own.
"""

__version__ = "0.1.0"
