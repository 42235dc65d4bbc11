"""The ``sbi`` detector: a backbone fine-tuned on real faces and their self-blended
pseudo-fakes (SBI, Shiohara & Yamasaki, CVPR 2022), so it learns blending artefacts rather
than identities. It needs real videos only.

A face's score is the network's fake probability; a video's is the aggregation (the mean by
default) of its faces' scores; the decision threshold is 0.5. Trained from a face cache
(``tfdeepfake extract``) whose ``train`` (and ``val``) split holds real videos; fake videos
there are ignored with a warning (``cache_fakes="ignore"``) or refused (``"refuse"``).
Validation: the cache's ``val`` split, else whole identity groups of real ``train`` videos
(``carve_validation``), with fixed pseudo-fakes of their faces. Training faces are held in
memory. The network and its options: ``tfdeepfake.models.sbi_classifier`` and
``SBITrainingConfig``; the pseudo-fakes: ``tfdeepfake.synthetic.self_blend``.

The model folder (``tfdeepfake.detectors.base``)::

    model.json          the common keys (``facenet``: the FaceNet the backbone started
                        from, or null), plus
                          input_size   int, the network's square input
                          backbone     {"kind", "trainable_from", "dropout", "facenet_model"}
                          weights      "model.weights.h5"
                          self_blend   the pseudo-fake settings trained with
    model.weights.h5    the whole network (fine-tuned backbone and head), best epoch
    run/history.csv     per-epoch losses

The folder holds every weight, so loading needs no FaceNet weights file.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from tfdeepfake.cache.faces import iter_face_videos
from tfdeepfake.constants import FAKE, REAL
from tfdeepfake.detectors.base import (
    Detector,
    ModelFolder,
    ModelFolderError,
    Scores,
    TrainOptions,
    carve_validation,
    common_meta,
    counts_of,
    require,
)
from tfdeepfake.detectors.sbi_training import MONITORS, OPTIMIZERS, SBITrainingConfig, fit_sbi
from tfdeepfake.detectors.xception import (
    face_cache_settings,
    per_face_of_split,
    require_cache,
    run_dir_of,
    scan_face_cache,
)
from tfdeepfake.models.sbi_classifier import BACKBONES, FEATURE_LAYERS, TRAINABLE_FROM
from tfdeepfake.pipelines.self_blend import real_faces

logger = logging.getLogger(__name__)

WEIGHTS_FILE = "model.weights.h5"
TRAINED_LAYERS_FILE = "trained_layers.h5"  # write_trained_only's folders
DECISION_THRESHOLD = 0.5
SCORE_BATCH_SIZE = 64
CACHE_FAKES = ("ignore", "refuse")


def build_from_meta(backbone: dict, input_size: int, where) -> Any:
    """The untrained network ``model.json``'s ``backbone`` describes (to load weights into)."""
    from tfdeepfake.models.sbi_classifier import build_sbi_classifier

    kind = _require_in(backbone, "kind", str, where)
    trainable_from = _require_in(backbone, "trainable_from", str, where)
    dropout = float(_require_in(backbone, "dropout", (int, float), where))
    if kind not in BACKBONES or trainable_from not in TRAINABLE_FROM:
        raise ModelFolderError(f"{where} [backbone]: kind {kind!r} / trainable_from "
                               f"{trainable_from!r}; valid kinds: {', '.join(BACKBONES)}")
    network = None
    if kind == "facenet":
        from tfdeepfake.models.facenet import build_facenet_network, facenet_spec

        model_key = _require_in(backbone, "facenet_model", str, where)
        try:
            network = build_facenet_network(facenet_spec(model_key))
        except (KeyError, ValueError) as error:
            raise ModelFolderError(f"{where} [backbone]: key 'facenet_model': {error}") from None
    try:
        return build_sbi_classifier(kind, input_size=input_size, trainable_from=trainable_from,
                                    dropout=dropout, facenet_network=network,
                                    texture=backbone.get("texture"))
    except ValueError as error:
        raise ModelFolderError(f"{where} [backbone]: {error}") from None


def _require_in(section: dict, key: str, kind, where):
    return require(section, key, kind, f"{where} [backbone]")


def _load_trained_only(folder: ModelFolder, meta: dict, backbone: dict, input_size: int,
                       facenet_weights):
    """A folder that holds only the trained layers (``write_trained_only``): the pretrained
    FaceNet it started from is built from the installed weights (checked against the
    recorded identity), then the trained layers are set on it."""
    from tfdeepfake.detectors.trained_layers import TrainedLayersError, load_trained_layers
    from tfdeepfake.models.facenet import FaceNetIdentity
    from tfdeepfake.models.sbi_classifier import build_sbi_classifier

    where = folder.meta_path
    spec = meta["weights"]
    if spec.get("base") != "facenet" or backbone.get("kind") != "facenet":
        raise ModelFolderError(f"{where} [weights]: trained layers only make sense on the "
                               f"facenet backbone (base {spec.get('base')!r})")
    try:
        identity = FaceNetIdentity.from_dict(require(meta, "facenet", dict, where))
    except ValueError as error:
        raise ModelFolderError(f"{where}: {error}") from None
    embedder = identity.build(facenet_weights)
    model = build_sbi_classifier("facenet", input_size=input_size,
                                 trainable_from=backbone["trainable_from"],
                                 dropout=float(backbone["dropout"]),
                                 facenet_network=embedder.model, texture=backbone.get("texture"))
    try:
        load_trained_layers(model, folder.path(require(spec, "file", str, where)))
    except TrainedLayersError as error:
        raise ModelFolderError(str(error)) from None
    return model


def write_trained_only(detector: "SelfBlendedDetector", out_dir, dtype: str = "float16"
                       ) -> "SelfBlendedDetector":
    """A copy of a facenet-backbone ``sbi`` model folder at ``out_dir`` that stores only
    the trained layers (in ``dtype``) and takes the rest from the installed FaceNet: a
    model small enough to ship. Returns the copy, loaded."""
    from tfdeepfake.detectors.trained_layers import save_trained_layers

    if detector.backbone.get("kind") != "facenet" or not detector.meta.get("facenet"):
        raise ValueError("only a model fine-tuned from pretrained FaceNet can leave FaceNet's "
                         "layers out")
    folder = ModelFolder(out_dir).start()
    save_trained_layers(detector.model, folder.root / TRAINED_LAYERS_FILE, dtype)
    meta = {k: v for k, v in detector.meta.items()}
    meta["weights"] = {"file": TRAINED_LAYERS_FILE, "base": "facenet", "dtype": dtype,
                       "layers": "trainable layers only; the rest is the recorded FaceNet"}
    folder.write_meta(meta)
    return SelfBlendedDetector.from_folder(folder, folder.read_meta())


# Below this many real training videos ``train`` warns (the study's 1- and 2-video fits:
# docs/results-sbi.md).
FEW_VIDEOS = 5


class SelfBlendedDetector(Detector):
    name = "sbi"
    source_kind = "faces"
    description = ("a backbone (pretrained FaceNet, fine-tuned) trained on real videos only, "
                   "with self-blended pseudo-fakes; a video scores the aggregate of its faces")
    config_class = SBITrainingConfig
    option_choices = {"backbone": BACKBONES, "trainable_from": TRAINABLE_FROM,
                      "optimizer": OPTIMIZERS, "monitor": MONITORS, "cache_fakes": CACHE_FAKES}

    def __init__(self, folder: ModelFolder, meta: dict[str, Any], model):
        super().__init__(folder, meta)
        self.model = model
        self.input_size = int(meta["input_size"])
        self.backbone = dict(meta["backbone"])
        self._infer = self._features = self._feature_model = None

    # -- lifecycle ----------------------------------------------------------------

    @classmethod
    def train(cls, source, out_dir, config: SBITrainingConfig | None = None,
              options: TrainOptions = TrainOptions(), *, cache_fakes: str = "ignore",
              facenet_weights: str | None = None) -> "SelfBlendedDetector":
        """Train on the real ``train`` videos of face cache ``source`` into ``out_dir``.

        ``cache_fakes``: what to do with fake videos in the training splits, ``ignore``
        them (with a warning) or ``refuse`` the cache. ``facenet_weights``: the pretrained
        FaceNet file to start from (default: the installed weights).
        """
        from tfdeepfake.models.strategy import shared_strategy

        config = config or SBITrainingConfig()
        if cache_fakes not in CACHE_FAKES:
            raise ValueError(f"unknown cache_fakes {cache_fakes!r}; valid: {', '.join(CACHE_FAKES)}")
        require_cache(source, "faces", "the sbi detector")
        face_settings = face_cache_settings(source)
        rows, loaded = scan_face_cache(source)
        usable = [r for r in rows if r.split in ("train", "val") and r.frames > 0]
        fakes = sorted(r.video_id for r in usable if r.label == FAKE)
        if fakes and cache_fakes == "refuse":
            raise ValueError(f"{source}: {len(fakes)} fake training videos (e.g. {fakes[0]}); the "
                             "sbi detector trains on real videos only, its fakes are self-blended "
                             "(pass cache_fakes='ignore' / --cache-fakes ignore to skip them)")
        if fakes:
            logger.warning("%s: %d fake training videos ignored: the sbi detector trains on real "
                           "videos and their self-blended pseudo-fakes", source, len(fakes))
        reals = [r for r in rows if r.label == REAL]
        train_ids, val_ids, how = carve_validation(reals, options.val_fraction, options.seed)
        if not train_ids:
            raise ValueError(f"{source}: no real training videos with faces (split 'train'); the "
                             "sbi detector needs real videos, it makes its own fakes")
        if len(train_ids) < FEW_VIDEOS:
            logger.warning("%s: only %d real training video(s): with so few people the network "
                           "may learn their faces instead of blending artefacts; real videos of "
                           "many people help", source, len(train_ids))
        if loaded is None:
            loaded = list(iter_face_videos(source, video_ids=train_ids | val_ids))
        train = real_faces([v for v in loaded if v.video_id in train_ids], face_settings,
                           config.max_faces_per_video)
        val = real_faces([v for v in loaded if v.video_id in val_ids], face_settings,
                         config.max_faces_per_video) if val_ids else None
        if config.input_size != face_settings.size:
            logger.warning("%s holds %d px crops; they are resized to the network's %d px",
                           source, face_settings.size, config.input_size)
        strategy = shared_strategy(options.strategy)
        folder = ModelFolder(out_dir).start()
        run_dir = run_dir_of(folder, options)
        fit = fit_sbi(train, val, config, seed=options.seed, run_dir=run_dir, strategy=strategy,
                      facenet_weights=facenet_weights)
        from tfdeepfake.models.train_baselines import strategy_record

        training = {"config": config.to_dict(), "strategy": strategy_record(strategy, options.strategy),
                    "run_dir": str(run_dir), "val_fraction": options.val_fraction, **fit.record()}
        data = {"source": str(source), "train": counts_of(rows, train_ids),
                "val": counts_of(rows, val_ids), "validation": how, "fake_videos_ignored": fakes,
                "pseudo_fakes": "one self-blended copy of every real training face per epoch"}
        return save_sbi_model(folder.root, fit.model, config, face_settings=face_settings,
                              facenet=fit.facenet, aggregation=options.aggregation,
                              seed=options.seed, training=training, data=data)

    @classmethod
    def from_folder(cls, folder: ModelFolder, meta: dict[str, Any], **kwargs) -> "SelfBlendedDetector":
        # ``facenet_weights`` (from load_detector) is not needed: the folder holds every weight.
        where = folder.meta_path
        input_size = require(meta, "input_size", int, where)
        backbone = require(meta, "backbone", dict, where)
        if isinstance(meta.get("weights"), dict):
            return cls(folder, meta, _load_trained_only(folder, meta, backbone, input_size,
                                                        kwargs.get("facenet_weights")))
        weights = folder.path(require(meta, "weights", str, where))
        model = build_from_meta(backbone, input_size, where)
        folder.load_weights(model, weights)
        return cls(folder, meta, model)

    # -- scoring ------------------------------------------------------------------

    def score_faces(self, faces: np.ndarray, variant: str | None = None) -> np.ndarray:
        """Fake probability ``[N]`` of face crops ``[N, S, S, 3]``, resized to the network's
        input as training resized them."""
        if self._infer is None:
            import tensorflow as tf

            model = self.model
            self._infer = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
        return self._batched(faces, self._infer).reshape(-1).astype(np.float64)

    def embed(self, faces: np.ndarray) -> np.ndarray:
        """``feature_model``'s features ``[N, D]`` of face crops: the input of the poster's
        triplet head on this backbone (``detectors.tuned_backbone``)."""
        if self._features is None:
            import tensorflow as tf

            model = self.feature_model()
            self._features = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
        return self._batched(faces, self._features).astype(np.float32)

    def feature_model(self):
        """Keras model: faces (0..255, ``input_size``) -> the pooled features of
        ``feature_layer``, L2-normalised as FaceNet's embeddings are (built once; ``embed``
        and the export share it)."""
        if self._feature_model is None:
            from tensorflow import keras

            features = keras.layers.Flatten()(self.model.get_layer(self.feature_layer).output)
            self._feature_model = keras.Model(
                self.model.input, keras.layers.UnitNormalization()(features),
                name=f"{self.model.name}_features")
        return self._feature_model

    def _batched(self, faces: np.ndarray, fn) -> np.ndarray:
        import tensorflow as tf

        from tfdeepfake.pipelines.frames import resize_faces

        faces = np.asarray(faces)
        if faces.ndim != 4 or faces.shape[-1] != 3:
            raise ValueError(f"faces must be [N, S, S, 3], got shape {faces.shape}")
        out = []
        for start in range(0, len(faces), SCORE_BATCH_SIZE):
            batch = faces[start:start + SCORE_BATCH_SIZE]
            x = (resize_faces(batch, self.input_size) if batch.shape[1] != self.input_size
                 else tf.constant(batch.astype(np.float32)))
            out.append(fn(x).numpy())
        return np.concatenate(out) if out else np.zeros((0,), np.float32)

    heat_map_kind = "occlusion"

    def heat_map(self, faces: np.ndarray, variant: str | None = None) -> np.ndarray:
        """Occlusion maps (``tfdeepfake.models.occlusion``): how far a grey patch over each
        region moves the fake probability."""
        from tfdeepfake.models.occlusion import occlusion_maps

        return occlusion_maps(faces, lambda images: self.score_faces(images)[:, None])

    def explain(self, video_path, out_dir, num_frames: int = 8, *, alpha: float = 0.4,
                face_detector=None) -> dict:
        """Occlusion heat maps on the faces of one video (``detectors.explain``)."""
        from tfdeepfake.detectors.explain import explain_video

        return explain_video(self, video_path, out_dir, num_frames, self.heat_map,
                             kind="occlusion", input_size=self.face_settings.size, alpha=alpha,
                             face_detector=face_detector)

    def split_scores(self, source, split: str) -> dict[str, Scores]:
        probs, labels, ids = per_face_of_split(source, split, self.score_faces,
                                               "the sbi detector")
        return {self.name: Scores("frame", labels, probs, ids, self.threshold(), self.aggregation)}

    @property
    def feature_layer(self) -> str:
        """The layer exported as the ``embedding`` output."""
        return FEATURE_LAYERS[self.backbone["kind"]]

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "input_size": self.input_size, "backbone": self.backbone}


def save_sbi_model(out_dir, model, config: SBITrainingConfig, *, face_settings, facenet,
                   aggregation: str, seed: int, training: dict, data: dict,
                   threshold: float = DECISION_THRESHOLD) -> SelfBlendedDetector:
    """Write a trained network as an ``sbi`` model folder (``model.json`` last) and return
    the detector loaded from it."""
    from tfdeepfake.models.sbi_classifier import weights_only

    folder = ModelFolder(out_dir)
    if folder.meta_path.exists():
        folder.start()
    folder.root.mkdir(parents=True, exist_ok=True)
    weights_only(model).save_weights(str(folder.root / WEIGHTS_FILE))
    facenet_model = (facenet or {}).get("model") if config.backbone == "facenet" else None
    meta = common_meta(
        SelfBlendedDetector.name, face_settings, threshold=threshold, aggregation=aggregation,
        seed=seed, training=training, data=data, facenet=facenet,
        input_size=int(config.input_size), weights=WEIGHTS_FILE,
        backbone={"kind": config.backbone, "trainable_from": config.trainable_from,
                  "dropout": float(config.dropout), "facenet_model": facenet_model},
        self_blend=config.blend.to_dict())
    folder.write_meta(meta)
    logger.info("sbi detector saved to %s", folder.root)
    return SelfBlendedDetector(folder, folder.read_meta(), model)


__all__ = ["CACHE_FAKES", "SelfBlendedDetector", "TRAINED_LAYERS_FILE", "WEIGHTS_FILE",
           "build_from_meta", "save_sbi_model", "write_trained_only"]
