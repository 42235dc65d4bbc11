"""A second head for an ``sbi`` network: a linear classifier on the average-pooled output of
a frozen middle layer of FaceNet, fitted on real faces against labelled fakes and
pseudo-fakes, and combined with the fine-tuned head's logit (``sbi_classifier.CombinedLogits``).

Why: the self-blended head learns blending boundaries, which whole generated faces (talking
heads, portrait animation) do not have; a middle layer (``Block17_10``, 8x8 cells of a 160 px
face) still describes texture more than identity, and there generated faces differ from
camera footage. It costs nothing at run time: the layer is computed on the way to the
fine-tuned blocks anyway. Fitted with scikit-learn (logistic regression on standardised
features); stored as Keras weights (a ``Normalization`` and a ``Dense`` layer), no pickle.
"""

from __future__ import annotations

import dataclasses
import numpy as np

TEXTURE_LAYER = "Block17_10_Activation"
CURVATURE_FILE = "texture_curvature.npy"


@dataclasses.dataclass
class TextureHead:
    """A fitted linear head: ``logit = coef . ((x - mean) / sqrt(variance)) + intercept``."""

    layer: str
    mean: np.ndarray  # [D]: per region of `regions`, in order, the layer's channels
    variance: np.ndarray  # [D]
    coef: np.ndarray  # [D]
    intercept: float
    record: dict
    # [D + 1, D + 1]: the curvature of the fitting objective at the fitted weights (standardised
    # features, intercept last). It stands in for the training data when `adapt --method
    # self-blend` refits the head on a user's footage without them.
    curvature: np.ndarray | None = None
    regions: tuple[str, ...] = ("face",)  # models.sbi_classifier.TEXTURE_REGIONS
    # {region: layer} where a region beyond the face is read at another layer than `layer`
    region_layers: dict = dataclasses.field(default_factory=dict)

    def logits(self, features: np.ndarray) -> np.ndarray:
        z = (np.asarray(features, np.float64) - self.mean) / np.sqrt(self.variance)
        return z @ self.coef + self.intercept


def fit_texture_head(real: np.ndarray, fake: np.ndarray, *, layer: str = TEXTURE_LAYER,
                     c: float = 0.001, record: dict | None = None,
                     regions: tuple[str, ...] = ("face",),
                     region_layers: dict | None = None) -> TextureHead:
    """Logistic regression (classes balanced, L2 strength ``1/c``) on standardised features
    of real (label 0) and fake (label 1) faces (``texture_feature_model``'s, of ``regions``)."""
    from sklearn.linear_model import LogisticRegression

    x = np.concatenate([real, fake]).astype(np.float64)
    y = np.concatenate([np.zeros(len(real)), np.ones(len(fake))])
    if not len(real) or not len(fake):
        raise ValueError("a texture head needs real and fake faces")
    mean, variance = x.mean(axis=0), x.var(axis=0) + 1e-6
    z = (x - mean) / np.sqrt(variance)
    model = LogisticRegression(C=c, max_iter=3000, class_weight="balanced")
    model.fit(z, y)
    coef, intercept = model.coef_[0].astype(np.float64), float(model.intercept_[0])
    return TextureHead(layer, mean, variance, coef, intercept,
                       {**(record or {}), "real_faces": int(len(real)), "fake_faces": int(len(fake)),
                        "c": c, "method": "logistic regression, balanced classes"},
                       curvature=objective_curvature(z, y, coef, intercept, c),
                       regions=tuple(regions), region_layers=dict(region_layers or {}))


def objective_curvature(z: np.ndarray, y: np.ndarray, coef: np.ndarray, intercept: float,
                        c: float) -> np.ndarray:
    """The Hessian of scikit-learn's balanced logistic objective divided by ``C`` (the summed,
    class-weighted log loss plus ``|w|^2 / 2C``; the intercept unpenalised) at ``coef``,
    ``intercept``, over the standardised rows ``z``; intercept last."""
    rows = np.c_[z, np.ones(len(z))]
    counts = np.bincount(y.astype(int), minlength=2)
    weight = (len(y) / (2.0 * counts))[y.astype(int)]
    p = 1.0 / (1.0 + np.exp(-(z @ coef + intercept)))
    ridge = np.r_[np.full(z.shape[1], 1.0 / c), 0.0]
    return (rows * (weight * p * (1 - p))[:, None]).T @ rows + np.diag(ridge)


def pulled_fit(coef: np.ndarray, intercept: float, curvature: np.ndarray, z: np.ndarray,
               labels: np.ndarray, weights: np.ndarray, steps: int = 50) -> tuple[np.ndarray, float]:
    """Minimise the weighted log loss of rows ``z`` (standardised features) plus
    ``(w - w0)' H (w - w0) / 2``, ``w0`` = (``coef``, ``intercept``), ``H`` = ``curvature``:
    damped Newton steps on a convex objective."""
    rows = np.c_[z, np.ones(len(z))]
    start = np.r_[coef, intercept]

    def objective(w):
        a = rows @ w
        return weights @ (np.logaddexp(0, a) - labels * a) + 0.5 * (w - start) @ curvature @ (w - start)

    w = start.copy()
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-(rows @ w)))
        gradient = rows.T @ (weights * (p - labels)) + curvature @ (w - start)
        hessian = (rows * (weights * p * (1 - p))[:, None]).T @ rows + curvature
        step, rate, before = np.linalg.solve(hessian, gradient), 1.0, objective(w)
        while objective(w - rate * step) > before and rate > 1e-4:  # never uphill
            rate /= 2
        w = w - rate * step
        if np.abs(rate * step).max() < 1e-8:
            break
    return w[:-1], float(w[-1])


def load_curvature(detector) -> tuple[np.ndarray, int]:
    """``(curvature, training rows)`` of a model folder's texture head, or ``ValueError``
    naming the folder when it has none (heads fitted before it was stored)."""
    record = (detector.meta.get("texture_head") or {}).get("curvature") or {}
    path = detector.folder.root / record.get("file", CURVATURE_FILE) if record else None
    if path is None or not path.is_file():
        raise ValueError(f"{detector.path}: its texture head has no stored curvature "
                         f"({CURVATURE_FILE}); refit it with this version (ship_default)")
    curvature = np.load(path, allow_pickle=False).astype(np.float64)
    dim = int(detector.model.get_layer("texture_logit").get_weights()[0].shape[0]) + 1
    if curvature.shape != (dim, dim):
        raise ValueError(f"{path}: curvature of shape {curvature.shape}, the head needs {(dim, dim)}")
    return curvature, int(record["rows"])


def texture_feature_model(facenet_network, layer: str = TEXTURE_LAYER,
                          regions: tuple[str, ...] = ("face",), region_layers: dict | None = None):
    """Keras model: faces (0..255) -> the average-pooled ``layer`` of a FaceNet network, per
    region, each at its own layer where ``region_layers`` names one
    (``models.sbi_classifier.texture_pool``: the graph the classifier scores with)."""
    from tensorflow import keras

    from tfdeepfake.models.sbi_classifier import (FACENET_BACKBONE, FACENET_STANDARDIZE,
                                                  region_layers as layers_of, texture_pool)

    layers = layers_of({"layer": layer, "regions": list(regions), "region_layers": region_layers})
    backbone = facenet_network.get_layer(FACENET_BACKBONE)
    trunks = {name: keras.Model(backbone.input, backbone.get_layer(name).output)
              for name in sorted(set(layers.values()))}
    standardize = facenet_network.get_layer(FACENET_STANDARDIZE)
    size = int(facenet_network.input_shape[1])
    faces = keras.Input((size, size, 3), dtype="float32")
    pooled = texture_pool(faces, size, regions,
                          lambda x, region: trunks[layers[region]](standardize(x), training=False))
    return keras.Model(faces, pooled)


def texture_features(model, faces: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """``texture_feature_model``'s features of ``faces`` ``[N, S, S, 3]`` (0..255)."""
    import tensorflow as tf

    fn = getattr(model, "_tfdeepfake_infer", None)
    if fn is None:  # one traced function per model, not one per call
        fn = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
        model._tfdeepfake_infer = fn
    out = [fn(tf.constant(np.asarray(faces[i:i + batch_size], np.float32))).numpy()
           for i in range(0, len(faces), batch_size)]
    return np.concatenate(out) if out else np.zeros((0, model.output_shape[-1]), np.float32)


def with_texture_head(detector, head: TextureHead, out_dir, *, weight: float = 0.5,
                      facenet_weights=None, face_settings=None):
    """A new ``sbi`` model folder at ``out_dir``: ``detector``'s network with ``head`` added
    (``weight`` on the fine-tuned head's logit, ``1 - weight`` on the texture logit), or in
    place of the texture head ``detector`` has (the bundled default, to re-ship it); the
    trained layers only, FaceNet from the installed weights (``write_trained_only``).
    ``face_settings``: the crops ``head`` was fitted on (default: ``detector``'s); with
    another margin the fine-tuned head may not count (``weight`` 0)."""
    from tfdeepfake.detectors.base import ModelFolder
    from tfdeepfake.detectors.self_blended import TRAINED_LAYERS_FILE, SelfBlendedDetector
    from tfdeepfake.detectors.trained_layers import save_trained_layers, trained_layers
    from tfdeepfake.models.facenet import FaceNetIdentity
    from tfdeepfake.models.sbi_classifier import build_sbi_classifier

    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"weight must be in [0, 1], got {weight}")
    backbone = dict(detector.backbone)
    if backbone.get("kind") != "facenet":
        raise ValueError(f"{detector.path}: needs a facenet-backbone sbi model")
    backbone.pop("texture", None)  # replaced by `head`
    crops = face_settings or detector.face_settings
    if weight > 0 and crops.margin != detector.face_settings.margin:
        # The fine-tuned head would score crops unlike those it was trained on.
        raise ValueError(f"crop margin {crops.margin:g}, but {detector.path}'s network was "
                         f"trained on margin {detector.face_settings.margin:g}: use weight 0")
    texture = {"layer": head.layer, "weight": float(weight)}
    if tuple(head.regions) != ("face",):  # folders from before regions read as the face alone
        texture["regions"] = list(head.regions)
    if head.region_layers:
        texture["region_layers"] = dict(head.region_layers)
    if weight == 0:
        # The fine-tuned blocks would not count: keep FaceNet's own (nothing to store).
        backbone["trainable_from"] = "none"
    embedder = FaceNetIdentity.from_dict(detector.meta["facenet"]).build(facenet_weights)
    model = build_sbi_classifier("facenet", input_size=detector.input_size,
                                 trainable_from=backbone["trainable_from"],
                                 dropout=float(backbone["dropout"]),
                                 facenet_network=embedder.model, texture=texture)
    names = {layer.name for layer in trained_layers(model)} | {"fake_probability"}
    for layer in trained_layers(detector.model):
        if layer.name not in names or layer.name in ("texture_norm", "texture_logit"):
            continue  # a texture head being replaced: `head` sets its own below
        name = "sbi_probability" if layer.name == "fake_probability" else layer.name
        target = _find(model, name)
        target.set_weights(layer.get_weights())
    model.get_layer("texture_norm").set_weights(
        [head.mean.astype(np.float32), head.variance.astype(np.float32), np.int64(1)])
    model.get_layer("texture_logit").set_weights(
        [head.coef.reshape(-1, 1).astype(np.float32), np.float32([head.intercept])])
    folder = ModelFolder(out_dir).start()
    save_trained_layers(model, folder.root / TRAINED_LAYERS_FILE, "float16")
    meta = dict(detector.meta)
    meta["backbone"] = {**backbone, "texture": texture}
    meta["texture_head"] = dict(head.record)
    if head.curvature is not None:
        np.save(folder.root / CURVATURE_FILE, head.curvature.astype(np.float32), allow_pickle=False)
        meta["texture_head"]["curvature"] = {
            "file": CURVATURE_FILE, "rows": int(head.record["real_faces"] + head.record["fake_faces"]),
            "what": "Hessian of the head's fitting objective at its weights (standardised "
                    "features, intercept last); adapt --method self-blend uses it"}
    meta["face_settings"] = crops.to_dict()
    meta["weights"] = {"file": TRAINED_LAYERS_FILE, "base": "facenet", "dtype": "float16",
                       "layers": "trainable layers only; the rest is the recorded FaceNet"}
    folder.write_meta(meta)
    return SelfBlendedDetector.from_folder(folder, folder.read_meta(),
                                           facenet_weights=facenet_weights)


def _find(model, name: str):
    from tfdeepfake.detectors.trained_layers import all_layers

    for layer in all_layers(model):
        if layer.name == name:
            return layer
    raise ValueError(f"layer {name!r} is not in {model.name}")


__all__ = ["CURVATURE_FILE", "TEXTURE_LAYER", "TextureHead", "fit_texture_head", "load_curvature",
           "objective_curvature", "pulled_fit", "texture_feature_model", "texture_features",
           "with_texture_head"]
