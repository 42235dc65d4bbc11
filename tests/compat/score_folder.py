"""Score embeddings with a triplet model folder and print JSON (run by the other stack's
Python in test_portability.py): ``python score_folder.py FOLDER EMBEDDINGS.npy``."""

import json
import sys

import tfdeepfake  # noqa: F401  (before TensorFlow: tf-keras on TF >= 2.16)
import numpy as np

from tfdeepfake.detectors import load_detector

folder, embeddings = sys.argv[1], np.load(sys.argv[2])
detector = load_detector(folder)
print(json.dumps({v: {"scores": detector.score_embeddings(embeddings, v).tolist(),
                      "threshold": detector.threshold(v)} for v in detector.variants}))
