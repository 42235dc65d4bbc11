"""TensorFlow-free inference with TFLite models (ai-edge-litert or tflite-runtime).

- :mod:`tfdeepfake.lite.interpreter`: the interpreter import and a signature runner;
- :mod:`tfdeepfake.lite.mtcnn`: the MTCNN cascade in numpy over TFLite networks;
- :mod:`tfdeepfake.lite.detector`: video -> frames -> faces -> fake probability.

Nothing in this package imports TensorFlow; build its models with
:mod:`tfdeepfake.export.tflite` and :mod:`tfdeepfake.export.mtcnn_tflite`.
"""
