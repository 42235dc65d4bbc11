"""Export the detector: classifiers as TensorFlow ops, TF Serving SavedModels, TFLite.

- :mod:`tfdeepfake.export.tf_classifiers`: SGD / KNN / RF arrays -> ``tf.Module``;
- :mod:`tfdeepfake.export.graph`: the face -> probability graph both exports share;
- :mod:`tfdeepfake.export.savedmodel`: ``export_savedmodel`` (TF Serving layout);
- :mod:`tfdeepfake.export.tflite`: TFLite variants and their parity report;
- :mod:`tfdeepfake.export.mtcnn_tflite`: MTCNN's networks as TFLite for
  :mod:`tfdeepfake.lite`.
"""
