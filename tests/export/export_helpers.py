"""Tiny stand-ins and model folders shared by the detect, export and lite tests (no real
data; real-size FaceNet only in tests marked slow).

Classifiers come from the classifiers stage (`tfdeepfake.classifiers`), whose arrays are
the "Classifier arrays" of DEVELOPERS.md. Model folders are written by the detectors' own
code (`tfdeepfake.detectors.triplet.save_triplet_model`).
"""

from __future__ import annotations

import numpy as np

FACE = 160


def make_embeddings(n: int = 120, dim: int = 16, seed: int = 0):
    """Two separable-ish Gaussian blobs on the unit sphere; labels 0 real, 1 fake."""
    rng = np.random.RandomState(seed)
    labels = (np.arange(n) % 2).astype(np.int32)
    centres = rng.normal(size=(2, dim))
    x = centres[labels] + 0.9 * rng.normal(size=(n, dim))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float32), labels


def fit_classifier(kind: str, x, y, seed: int = 0):
    """Fit a small classifier of `kind` with the classifiers stage; return (the fitted
    scikit-learn model, arrays, meta) so tests compare exports with scikit-learn itself."""
    from tfdeepfake.classifiers import make_classifier

    params = {"sgd": {"seed": seed}, "knn": {"k": 5}, "rf": {"n_trees": 7, "seed": seed}}
    if kind not in params:
        raise ValueError(kind)
    clf = make_classifier(kind, **params[kind]).fit(x, y)
    arrays, meta = clf.to_arrays()
    return (clf.estimator_, arrays, meta)


def build_tiny_embedder(dim: int = 512, size: int = FACE, seed: int = 0, input_dtype: str = "uint8"):
    """[N, size, size, 3] 0..255 -> [N, dim] L2-normalised; preprocessing inside."""
    import tensorflow as tf

    keras = tf.keras
    tf.keras.utils.set_random_seed(seed)
    inp = keras.Input((size, size, 3), dtype=input_dtype, name="faces")
    x = keras.layers.Rescaling(1 / 127.5, offset=-1.0, name="standardise")(inp)
    x = keras.layers.Conv2D(4, 5, strides=4, activation="relu", name="conv1")(x)
    x = keras.layers.Conv2D(8, 3, strides=4, activation="relu", name="conv2")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    x = keras.layers.Dense(dim, name="embed")(x)
    out = keras.layers.UnitNormalization(name="l2")(x)
    return keras.Model(inp, out, name="tiny_embedder")


def build_tiny_head(in_dim: int = 512, dim: int = 16, seed: int = 1):
    import tensorflow as tf

    keras = tf.keras
    tf.keras.utils.set_random_seed(seed)
    inp = keras.Input((in_dim,), name="facenet_embedding")
    x = keras.layers.Dense(32, activation="relu", name="dense1")(inp)
    x = keras.layers.Dense(dim, name="dense2")(x)
    out = keras.layers.UnitNormalization(name="l2")(x)
    return keras.Model(inp, out, name="tiny_head")


def make_faces(n: int = 6, size: int = FACE, seed: int = 0):
    """Smooth random uint8 'faces' (blurred noise so convolutions see structure)."""
    rng = np.random.RandomState(seed)
    small = rng.randint(0, 256, size=(n, 10, 10, 3)).astype(np.float32)
    reps = size // 10
    faces = np.repeat(np.repeat(small, reps, axis=1), reps, axis=2)
    faces += rng.normal(scale=20, size=faces.shape)
    return np.clip(faces, 0, 255).astype(np.uint8)


# -- model folders through the detectors' own code ----------------------------------------

MIXED_VIDEO_FRAMES = 5
MIXED_VIDEO_FAKE_FRAMES = (0, 1)  # frames whose face has its colour channels swapped


def write_mixed_face_video(path, num_frames: int = MIXED_VIDEO_FRAMES,
                           fake_frames=MIXED_VIDEO_FAKE_FRAMES):
    """A face video in which some frames show the face with red and blue swapped.

    A model fitted to call those faces fake scores the frames of one video far apart (two
    near 1, three near 0), so the mean, median and max of a video differ by a lot."""
    import cv2

    from tests.media import FACE

    width, height, size = 320, 240, 120
    background = np.random.RandomState(0).randint(0, 60, (height, width, 3)).astype(np.uint8)
    face = cv2.resize(FACE, (size, size))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (width, height))
    try:
        for i in range(num_frames):
            frame = background.copy()
            x = 40 + 4 * i
            frame[40:40 + size, x:x + size] = face[..., ::-1] if i in fake_frames else face
            writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    finally:
        writer.release()
    return path


def mixed_video_faces(video, settings):
    """The face crops of ``video`` (TensorFlow MTCNN, the path `detect --model` takes) and
    their labels (1 where the frame is one of ``MIXED_VIDEO_FAKE_FRAMES``)."""
    from tfdeepfake.faces.detector import get_detector
    from tfdeepfake.faces.pipeline import faces_of_video

    arrays, _ = faces_of_video(video, settings, get_detector(settings.detector))
    labels = np.isin(arrays["frame_indices"], MIXED_VIDEO_FAKE_FRAMES).astype(np.int32)
    return arrays["faces"], labels


def tiny_facenet(seed: int = 0):
    """A `FaceNetEmbedder` around a tiny network standing in for FaceNet (512-d, 160 px,
    preprocessing inside), so a test exports in seconds instead of minutes.

    Its identity records the tiny network's own probe, so a model folder written with it
    loads only when this embedder is passed (`load_detector(path, embedder=...)`); built
    from the folder alone, FaceNet's probe check refuses it, as it should."""
    from tfdeepfake.models.facenet import DEFAULT_FACENET_MODEL, FaceNetEmbedder, FaceNetIdentity
    from tfdeepfake.models.facenet import probe_network

    model = build_tiny_embedder(512, seed=seed, input_dtype="float32")
    identity = FaceNetIdentity(model=DEFAULT_FACENET_MODEL, random_init=True, seed=seed,
                               weights_sha256=None, probe=probe_network(model))
    return FaceNetEmbedder(model, identity)


def write_triplet_model(out_dir, embedder, faces, labels, *, settings, aggregation="mean",
                        threshold=0.5, classifiers=("knn", "sgd"), default="knn", seed=0):
    """A triplet model folder written by the triplet detector's own `save_triplet_model`:
    ``embedder`` (a `FaceNetEmbedder`, e.g. random init) -> a small random head -> the
    classifiers fitted on the head outputs of ``faces`` (KNN with k=1, so every face gets
    the label of its nearest training face: probabilities exactly 0 or 1)."""
    from tfdeepfake.classifiers import make_classifier
    from tfdeepfake.detectors.triplet import save_triplet_model
    from tfdeepfake.models.triplet_head import build_triplet_head

    head = build_triplet_head(embedder.embedding_dim, (16,), 8, seed=seed)
    outputs = np.asarray(head(embedder.embed(faces), training=False), np.float32)
    params = {"knn": {"k": 1}, "sgd": {"seed": seed}, "rf": {"n_trees": 7, "seed": seed}}
    fitted = {name: make_classifier(name, **params[name]).fit(outputs, labels) for name in classifiers}
    return save_triplet_model(out_dir, face_settings=settings, facenet=embedder.identity.to_dict(),
                              head=head, classifiers=fitted, default_classifier=default,
                              thresholds={name: threshold for name in classifiers},
                              aggregation=aggregation, seed=seed,
                              data={"note": "fitted on one test video's faces"})


def set_aggregation(model_dir, aggregation: str):
    """The same model with another video rule (model.json edited in place)."""
    import json
    from pathlib import Path

    meta_path = Path(model_dir) / "model.json"
    meta = json.loads(meta_path.read_text())
    meta["aggregation"] = aggregation
    meta_path.write_text(json.dumps(meta, indent=2))
    return model_dir


def build_tiny_classifier(size: int = 96, seed: int = 3, features: int = 6):
    """[N, size, size, 3] 0..255 -> sigmoid [N, 1], preprocessing inside, an ``avg_pool``
    layer: the layout of `tfdeepfake.models.xception.build_xception_classifier`, tiny."""
    import tensorflow as tf

    keras = tf.keras
    keras.utils.set_random_seed(seed)
    image = keras.Input((size, size, 3), name="image")
    x = keras.layers.Rescaling(1 / 127.5, offset=-1.0, name="xception_preprocess")(image)
    x = keras.layers.Conv2D(features, 5, strides=3, activation="relu", name="conv")(x)
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    out = keras.layers.Dense(1, activation="sigmoid", name="fake_probability")(x)
    return keras.Model(image, out, name="tiny_xception")


def _meta(name, settings, aggregation, seed, **extra):
    from tfdeepfake.detectors.base import common_meta

    return common_meta(name, settings, threshold=0.5, aggregation=aggregation, seed=seed,
                       training={}, data={"note": "test stand-in"}, **extra)


def tiny_xception_detector(out_dir, settings, *, aggregation="mean", input_size=96, seed=0):
    """The real `XceptionDetector` around `build_tiny_classifier` (Xception's layout, a few
    hundred weights) instead of the 20M-weight network; held in memory only (no
    model.json: the folder could not rebuild this network)."""
    from tfdeepfake.detectors.base import ModelFolder
    from tfdeepfake.detectors.xception import WEIGHTS_FILE, XceptionDetector

    meta = _meta("xception", settings, aggregation, seed, input_size=input_size, dropout=0.0,
                 weights=WEIGHTS_FILE)
    return XceptionDetector(ModelFolder(out_dir), meta, build_tiny_classifier(input_size, seed))


def tiny_lstm_detector(out_dir, settings, *, num_frames=4, seed=0):
    """The real `LSTMDetector` (one score per video) over a tiny Xception-layout feature
    extractor; held in memory only, like `tiny_xception_detector`."""
    import tensorflow as tf

    from tfdeepfake.detectors.base import ModelFolder
    from tfdeepfake.detectors.lstm import LSTMDetector
    from tfdeepfake.models.lstm import build_lstm_classifier

    classifier = build_tiny_classifier(96, seed)
    extractor = tf.keras.Model(classifier.input, classifier.get_layer("avg_pool").output)
    dim = int(extractor.output_shape[-1])
    meta = _meta("lstm", settings, "mean", seed, features="xception", num_frames=num_frames,
                 feature_dim=dim, units=4, dropout=0.0)
    model = build_lstm_classifier(num_frames, dim, units=4, dropout=0.0, seed=seed)
    return LSTMDetector(ModelFolder(out_dir), meta, model, extractor)


def write_face_cache(path, settings, videos):
    """A face cache through the cache stage's store: ``videos`` maps a video id to
    ``(split, label, faces uint8 [F, S, S, 3])``."""
    from tfdeepfake.cache.faces import face_store

    store = face_store(path, settings)
    for video_id, (split, label, faces) in videos.items():
        n = len(faces)
        store.stage_video(video_id, {
            "faces": np.asarray(faces, np.uint8), "frame_indices": np.arange(n, dtype=np.int32),
            "boxes": np.zeros((n, 4), np.float32), "keypoints": np.zeros((n, 5, 2), np.float32),
            "confidences": np.ones(n, np.float32), "sampled_indices": np.arange(n, dtype=np.int32),
        }, {"label": int(label), "split": split, "dataset": "toy"})
    store.commit()
    return path
