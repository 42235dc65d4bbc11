"""What `export` can write, by name. No TensorFlow here: the CLI builds its choices from
these when `--help` runs."""

# A SavedModel in TF Serving's layout, and TFLite face models for `detect --tflite`.
FORMATS = ("savedmodel", "tflite")

# TFLite face models (``tfdeepfake.export.tflite`` says what each is); the first is the
# plain conversion.
TFLITE_VARIANTS = ("float32", "float16", "dynamic_int8", "int8")
