"""Export a detector: classifiers as TensorFlow ops, TF Serving SavedModels, TFLite.

- :mod:`tfdeepfake.export.from_model`: ``export_model`` (a model folder -> SavedModel and/or
  TFLite with a model card; the exportable detectors by name);
- :mod:`tfdeepfake.export.tf_classifiers`: SGD / KNN / RF arrays -> ``tf.Module``;
- :mod:`tfdeepfake.export.graph`: the face -> probability graphs both exports share, and
  the video rule (mean / median / max) as TensorFlow ops;
- :mod:`tfdeepfake.export.savedmodel`: the TF Serving layout and its signatures;
- :mod:`tfdeepfake.export.tflite`: TFLite variants and their parity report;
- :mod:`tfdeepfake.export.mtcnn_tflite`: MTCNN's networks as TFLite for
  :mod:`tfdeepfake.lite`.
"""
