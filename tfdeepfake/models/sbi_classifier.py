"""The ``sbi`` detector's network: a face backbone and a binary head, face crop -> fake
probability, trained to see blending artefacts (``tfdeepfake.detectors.self_blended``).

Backbones (``BACKBONES``):

- ``facenet``: FaceNet's InceptionResNetV1 (keras-facenet, preprocessing inside), cut at
  its average pool (1792-d); layers from ``trainable_from`` on are trained, the ones before
  stay as loaded (pretrained FaceNet, to fine-tune). Its BatchNorm layers always run in
  inference mode with their loaded statistics: batches of a few dozen faces would give
  noisy statistics, and unfrozen stems would drift from what FaceNet learnt.
- ``xception``: Keras' Xception from random weights (``tfdeepfake.models.xception``), all
  trained: the comparison the issue asks for.
- ``tiny``: two convolutions; for tests and smoke runs only.

Every model takes raw RGB 0..255 ``[N, S, S, 3]``, ends with ``head_dropout`` and the
sigmoid unit ``fake_probability``, and names its pooled features (``FEATURE_LAYERS``),
which the export writes as the ``embedding`` output. Builders return uncompiled models.
"""

from __future__ import annotations

import logging

from tensorflow import keras

from tfdeepfake.models.face_parts import KEYPOINT_SQUARES, FaceLandmarks, KeypointSquare

logger = logging.getLogger(__name__)

BACKBONES = ("facenet", "xception", "tiny")
# Where training starts in InceptionResNetV1, earliest first: the stem's end, the three
# repeated block groups and their reductions, the last block; "all" and "none" (head only).
TRAINABLE_FROM = ("all", "Block35_1", "Mixed_6a", "Block17_1", "Mixed_7a", "Block8_1",
                  "Block8_6", "none")
FEATURE_LAYERS = {"facenet": "features", "xception": "avg_pool", "tiny": "features"}
FACENET_POOL = "AvgPool"
FACENET_BACKBONE = "inception_resnet_v1"
FACENET_STANDARDIZE = "facenet_standardize"
# What a texture head reads: squares of the face crop as fractions of its side (top, left,
# side), each enlarged to the crop's size and passed through FaceNet on its own. The lower face
# enlarged twice (the mouth and chin of a margin-0 crop) lets the middle layer see a lip-sync
# or generated mouth at a finer scale; docs/results.md measures it.
TEXTURE_REGIONS = {"face": (0.0, 0.0, 1.0), "lower-face": (0.5, 0.25, 0.5)}
# Squares placed on each face by its own keypoints (``models.face_parts``: MTCNN's landmark
# network run inside the graph); the mouth, about half the face wide, enlarged twice.
TEXTURE_PARTS = tuple(KEYPOINT_SQUARES)


def set_trainable_from(backbone: keras.Model, trainable_from: str) -> int:
    """Freeze ``backbone``'s layers before the first whose name starts with
    ``trainable_from`` (``all``: none frozen; ``none``: all frozen); returns how many
    layers stay trainable."""
    layers = backbone.layers
    if trainable_from == "all":
        start = 0
    elif trainable_from == "none":
        start = len(layers)
    else:
        starts = [i for i, layer in enumerate(layers) if layer.name.startswith(trainable_from)]
        if not starts:
            raise ValueError(f"trainable_from {trainable_from!r} names no layer of "
                             f"{backbone.name}; valid: {', '.join(TRAINABLE_FROM)}")
        start = starts[0]
    for i, layer in enumerate(layers):
        layer.trainable = i >= start
    return len(layers) - start


def _head(x, dropout: float, seed: int, name: str = "fake_probability"):
    x = keras.layers.Dropout(dropout, seed=seed, name="head_dropout")(x)
    return keras.layers.Dense(1, activation="sigmoid", name=name,
                              kernel_initializer=keras.initializers.GlorotUniform(seed=seed))(x)


def texture_pool(faces, size: int, regions, middle_of, face_middle=None):
    """The average-pooled middle-layer features of each region of ``faces`` (a Keras tensor
    of 0..255 crops), joined in the order of ``regions`` as the layer ``texture_pool``.
    ``middle_of``: ``(pixels, region)`` -> that region's middle layer map (FaceNet's
    standardisation inside; each region may read its own layer, ``region_layers``);
    ``face_middle``: the face's map when the caller has it already (then ``middle_of`` is
    needed for the other regions only)."""
    known = (*TEXTURE_REGIONS, *TEXTURE_PARTS)
    unknown = [r for r in regions if r not in known]
    if unknown or not regions or len(set(regions)) != len(regions):
        raise ValueError(f"texture regions {list(regions)}: give each of "
                         f"{', '.join(known)} at most once")
    alone = len(regions) == 1  # one region: its pooling is `texture_pool` (every older head's)
    pooled = []
    keypoints = None
    for region in regions:
        name = region.replace("-", "_")
        if region == "face":
            middle = face_middle if face_middle is not None else middle_of(faces, region)
        elif region in TEXTURE_PARTS:
            if keypoints is None:
                keypoints = FaceLandmarks(name="texture_keypoints")(faces)
            middle = middle_of(KeypointSquare(region, name=f"texture_square_{name}")([faces, keypoints]),
                               region)
        else:
            top, left, side = (round(f * size) for f in TEXTURE_REGIONS[region])
            crop = keras.layers.Cropping2D(((top, size - top - side), (left, size - left - side)),
                                           name=f"texture_crop_{name}")(faces)
            crop = keras.layers.Resizing(size, size, interpolation="bilinear",
                                         name=f"texture_resize_{name}")(crop)
            middle = middle_of(crop, region)
        pooled.append(keras.layers.GlobalAveragePooling2D(
            name="texture_pool" if alone else f"texture_pool_{name}")(middle))
    return pooled[0] if alone else keras.layers.Concatenate(name="texture_pool")(pooled)


def region_layers(texture: dict) -> dict[str, str]:
    """``{region: the FaceNet layer it is read at}`` of a texture head's settings: ``layer``
    unless ``region_layers`` names another (never for the face, which is read on the way
    through the network)."""
    regions = texture.get("regions", ["face"])
    chosen = dict(texture.get("region_layers") or {})
    stray = sorted(set(chosen) - (set(regions) - {"face"}))
    if stray:
        raise ValueError(f"region_layers {stray}: give a layer for the regions beyond the face "
                         f"only ({', '.join(r for r in regions if r != 'face') or 'none here'})")
    return {r: chosen.get(r, texture["layer"]) for r in regions}


def texture_trunk_name(layer: str, main_layer: str) -> str:
    """The name of the FaceNet copy that runs the regions to ``layer``."""
    return "facenet_texture_trunk" if layer == main_layer else f"facenet_texture_trunk_{layer}"


class CombinedLogits(keras.layers.Layer):
    """``sigmoid(w logit(p) + (1 - w) t)``: the fine-tuned head's probability ``p`` and the
    texture head's logit ``t`` as one fake probability (``w`` = ``weight``)."""

    def __init__(self, weight: float, **kwargs):
        super().__init__(**kwargs)
        self.weight = float(weight)

    def call(self, inputs):
        import tensorflow as tf

        probability, texture_logit = inputs
        p = tf.clip_by_value(probability, 1e-6, 1.0 - 1e-6)
        logit = tf.math.log(p) - tf.math.log(1.0 - p)
        return tf.sigmoid(self.weight * logit + (1.0 - self.weight) * texture_logit)

    def get_config(self):
        return {**super().get_config(), "weight": self.weight}


def _facenet_classifier(network: keras.Model, trainable_from: str, dropout: float,
                        seed: int, texture: dict | None = None) -> keras.Model:
    """``network``: a FaceNet embedder model (``tfdeepfake.models.facenet``: raw pixels ->
    standardisation -> ``inception_resnet_v1``); its layers become the classifier's.

    ``texture`` (``{"layer", "weight"}``, optionally ``"regions"`` and ``"region_layers"``:
    ``texture_pool``, ``region_layers``) adds a second, linear head on the average-pooled
    output of a frozen middle layer of FaceNet (``texture_norm`` -> ``texture_logit``; its
    weights are set after training, ``detectors.texture_head``), combined with the fine-tuned
    head by ``CombinedLogits``: middle layers see texture, where whole generated faces differ
    from camera footage, more than identity."""
    backbone = network.get_layer(FACENET_BACKBONE)
    standardize = network.get_layer(FACENET_STANDARDIZE)
    outputs = [backbone.get_layer(FACENET_POOL).output]
    if texture:
        outputs.append(backbone.get_layer(texture["layer"]).output)
    trunk = keras.Model(backbone.input, outputs, name="facenet_trunk")
    trainable = set_trainable_from(backbone, trainable_from)
    logger.info("FaceNet backbone: %d of %d layers trainable (from %s)", trainable,
                len(backbone.layers), trainable_from)
    size = int(network.input_shape[1])
    faces = keras.Input((size, size, 3), dtype="float32", name="faces")
    # training=False: BatchNorm keeps its loaded statistics (module docs).
    pooled = trunk(standardize(faces), training=False)
    if not texture:
        features = keras.layers.Activation("linear", name="features")(pooled)
        return keras.Model(faces, _head(features, dropout, seed), name="sbi_classifier")
    pooled, middle = pooled
    features = keras.layers.Activation("linear", name="features")(pooled)
    head = _head(features, dropout, seed, name="sbi_probability")
    regions = texture.get("regions", ["face"])
    # Other regions pass through FaceNet again, each to its layer (an earlier one costs less).
    layers = region_layers(texture)
    trunks = {layer: keras.Model(backbone.input, backbone.get_layer(layer).output,
                                 name=texture_trunk_name(layer, texture["layer"]))
              for layer in sorted({layers[r] for r in regions if r != "face"})}
    middle_of = lambda x, region: trunks[layers[region]](standardize(x), training=False)  # noqa: E731
    texture_features = texture_pool(faces, size, regions, middle_of, face_middle=middle)
    normalised = keras.layers.Normalization(name="texture_norm")(
        texture_features)
    texture_logit = keras.layers.Dense(1, name="texture_logit", kernel_initializer="zeros")(
        normalised)
    combined = CombinedLogits(float(texture["weight"]), name="fake_probability")(
        [head, texture_logit])
    return keras.Model(faces, combined, name="sbi_classifier")


def _tiny_classifier(input_size: int, dropout: float, seed: int) -> keras.Model:
    init = keras.initializers.GlorotUniform(seed=seed)
    faces = keras.Input((input_size, input_size, 3), dtype="float32", name="faces")
    x = keras.layers.Rescaling(1 / 127.5, offset=-1.0, name="tiny_preprocess")(faces)
    x = keras.layers.Conv2D(8, 3, strides=2, activation="relu", kernel_initializer=init,
                            name="tiny_conv1")(x)
    x = keras.layers.Conv2D(16, 3, strides=2, activation="relu", kernel_initializer=init,
                            name="tiny_conv2")(x)
    features = keras.layers.GlobalAveragePooling2D(name="features")(x)
    return keras.Model(faces, _head(features, dropout, seed), name="sbi_classifier")


def build_sbi_classifier(backbone: str = "facenet", *, input_size: int = 160,
                         trainable_from: str = "Mixed_7a", dropout: float = 0.5, seed: int = 0,
                         facenet_network: keras.Model | None = None,
                         texture: dict | None = None) -> keras.Model:
    """Face crops ``[N, input_size, input_size, 3]`` (0..255) -> fake probability ``[N, 1]``.

    ``facenet_network`` (``backbone="facenet"`` only): the FaceNet to start from, e.g.
    ``load_facenet().model`` (pretrained) or ``build_facenet_network(spec)`` (to load saved
    weights into); its input size must be ``input_size``. ``trainable_from`` applies to
    FaceNet only (the others train whole).
    """
    if backbone not in BACKBONES:
        raise ValueError(f"unknown backbone {backbone!r}; valid: {', '.join(BACKBONES)}")
    if trainable_from not in TRAINABLE_FROM:
        raise ValueError(f"unknown trainable_from {trainable_from!r}; valid: "
                         f"{', '.join(TRAINABLE_FROM)}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    if backbone == "facenet":
        if facenet_network is None:
            raise ValueError("backbone 'facenet' needs facenet_network (a FaceNet model to "
                             "start from)")
        if int(facenet_network.input_shape[1]) != int(input_size):
            raise ValueError(f"FaceNet takes {facenet_network.input_shape[1]} px faces, "
                             f"input_size is {input_size}")
        return _facenet_classifier(facenet_network, trainable_from, dropout, seed, texture)
    if texture:
        raise ValueError(f"a texture head needs the facenet backbone, not {backbone!r}")
    if facenet_network is not None:
        raise ValueError(f"facenet_network is for backbone 'facenet', not {backbone!r}")
    if backbone == "xception":
        from tfdeepfake.models import xception

        return xception.build_xception_classifier(int(input_size), weights=None,
                                                  dropout=dropout, seed=seed)
    return _tiny_classifier(int(input_size), dropout, seed)


def weights_only(model: keras.Model) -> keras.Model:
    """A functional twin sharing ``model``'s layers but not its optimizer, so saving it
    writes the network's weights only (a compiled model's file also holds optimizer slots)."""
    return keras.Model(model.inputs, model.outputs, name=model.name)


__all__ = ["BACKBONES", "FEATURE_LAYERS", "TRAINABLE_FROM", "CombinedLogits", "build_sbi_classifier",
           "region_layers", "set_trainable_from", "texture_trunk_name", "weights_only"]
