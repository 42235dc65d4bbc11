"""The poster's method as a detector: FaceNet embeddings -> a Dense head trained with
semi-hard triplet loss -> KNN / SGD / random forest on the head's outputs; a video's score
aggregates its frames' probabilities (the mean, by default).

Its model folder (``tfdeepfake.detectors.base`` has the common part)::

    <folder>/
      model.json              + facenet (identity), head, classifiers, default_classifier,
                                thresholds (one per classifier)
      head.weights.h5         the triplet head, best epoch
      classifiers/<kind>/     classifier.npz + classifier.json (arrays, no pickle)
      backbone/               only with --backbone: the fine-tuned sbi network the head
                              reads features from (``tuned_backbone``), instead of FaceNet

Training reads an embedding cache (``tfdeepfake embed``): its face settings and FaceNet
identity become the model's, and the model refuses a cache of another FaceNet.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from tfdeepfake.cache.embeddings import load_embedding_table
from tfdeepfake.classifiers import CLASSIFIERS, FrameClassifier, load_classifier
from tfdeepfake.detectors.base import (
    Detector,
    ModelFolder,
    ModelFolderError,
    Scores,
    TrainOptions,
    carve_validation,
    counts_of,
    require,
    require_both_classes,
)
from tfdeepfake.detectors.triplet_folder import (  # noqa: F401 (save_triplet_model: API)
    CLASSIFIERS_DIR,
    DEFAULT_CLASSIFIER,
    HEAD_WEIGHTS,
    cache_settings,
    require_in,
    save_triplet_model,
    video_rows,
)
from tfdeepfake.detectors.triplet_training import (  # noqa: F401 (CLASSIFIER_PARAMS: API)
    CLASSIFIER_PARAMS,
    DEFAULT_CLASSIFIERS,
    TripletTrainingConfig,
    fit_triplet,
)
from tfdeepfake.detectors.tuned_backbone import (
    TunedBackbone,
    backbone_section,
    copy_backbone,
    load_backbone,
)

logger = logging.getLogger(__name__)

THRESHOLD_MODES = ("fixed", "validation")
# Where the fake class comes from: the cache's fake videos, or self-blended pseudo-fakes of
# its real videos (``tfdeepfake.detectors.sbi_training``; then ``source`` is a face cache).
FAKES = ("cache", "sbi")


# -- the detector ----------------------------------------------------------------------------


class TripletDetector(Detector):
    """FaceNet + triplet head + frame classifiers (the variants: ``knn``, ``sgd``, ``rf``)."""

    name = "triplet"
    source_kind = "embeddings"
    description = "FaceNet embeddings -> triplet-loss head -> KNN / SGD / RF (the poster's method)"
    config_class = TripletTrainingConfig
    option_choices = {"default_classifier": DEFAULT_CLASSIFIERS, "threshold_mode": THRESHOLD_MODES,
                      "fakes": FAKES}
    option_help = {
        "classifiers": "frame classifiers fitted on the head's outputs",
        "default_classifier": "the classifier detect and export use unless told otherwise",
        "threshold_mode": "fixed: 0.5 (the poster); validation: Youden's J on the validation videos",
        "fakes": "cache: the cache's fake videos; sbi: self-blended copies of its real faces "
                 "(SOURCE is then a face cache)",
        "backbone": "with --fakes sbi: an sbi model folder whose fine-tuned network replaces "
                    "FaceNet as the embedder (copied into the model folder)"}

    def __init__(self, folder: ModelFolder, meta: dict[str, Any], head,
                 classifiers: dict[str, FrameClassifier], identity,
                 facenet_weights: str | os.PathLike | None = None, embedder=None,
                 backbone: dict[str, Any] | None = None):
        super().__init__(folder, meta)
        self.backbone = backbone  # the model.json section of a tuned backbone, or None
        self.head = head
        self.classifiers = classifiers
        self.identity = identity  # FaceNetIdentity (None: a tuned backbone that had no FaceNet)
        self._facenet_weights = facenet_weights
        self._embedder = embedder

    # -- loading -----------------------------------------------------------------------

    @classmethod
    def from_folder(cls, folder: ModelFolder, meta: dict[str, Any], *,
                    facenet_weights: str | os.PathLike | None = None,
                    embedder=None) -> "TripletDetector":
        """``facenet_weights``: the FaceNet weights file, when not in its default place;
        ``embedder``: an already built ``FaceNetEmbedder`` of the same identity."""
        from tfdeepfake.models.facenet import FaceNetIdentity
        from tfdeepfake.models.triplet_head import build_triplet_head

        where = folder.meta_path
        backbone = backbone_section(folder, meta)
        try:
            # A tuned backbone's FaceNet is provenance only, and absent when it had none.
            identity = (None if backbone and meta.get("facenet") is None else
                        FaceNetIdentity.from_dict(require(meta, "facenet", dict, where)))
        except (TypeError, ValueError) as error:
            raise ModelFolderError(f"{where}: key 'facenet': {error}") from error
        head_meta = require(meta, "head", dict, where)
        input_dim = require_in(head_meta, "head", "input_dim", int, where)
        hidden = require_in(head_meta, "head", "hidden_units", list, where)
        embedding_dim = require_in(head_meta, "head", "embedding_dim", int, where)
        dropout = require_in(head_meta, "head", "dropout", (int, float), where)
        if not all(isinstance(u, int) and not isinstance(u, bool) for u in hidden):
            raise ModelFolderError(f"{where} [head]: key 'hidden_units' should be a list of int, "
                                   f"found {hidden!r}")
        features = backbone["embedding_dim"] if backbone else identity.embedding_dim
        if input_dim != features:
            source = "its backbone" if backbone else identity.label()
            raise ModelFolderError(f"{where} [head]: key 'input_dim' is {input_dim}, but "
                                   f"{source} gives {features}-d embeddings")
        weights = folder.path(require_in(head_meta, "head", "weights", str, where))
        names = require(meta, "classifiers", list, where)
        if not names or any(n not in CLASSIFIERS for n in names) or len(set(names)) != len(names):
            raise ModelFolderError(f"{where}: key 'classifiers' should be distinct names among "
                                   f"{', '.join(CLASSIFIERS)}, found {names!r}")
        default = require(meta, "default_classifier", str, where)
        if default not in names:
            raise ModelFolderError(f"{where}: key 'default_classifier' is {default!r}, not one "
                                   f"of the model's classifiers {names}")
        thresholds = require(meta, "thresholds", dict, where)
        for name in names:
            value = require_in(thresholds, "thresholds", name, (int, float), where)
            if not 0.0 <= value <= 1.0:
                raise ModelFolderError(f"{where} [thresholds]: key {name!r} should be in [0, 1], "
                                       f"found {value}")
        head = build_triplet_head(input_dim=input_dim, hidden_units=tuple(hidden),
                                  embedding_dim=embedding_dim, dropout=float(dropout))
        try:
            head.load_weights(str(weights))
        except (OSError, ValueError) as error:
            raise ModelFolderError(f"{weights}: not the weights of the head model.json "
                                   f"describes ({error})") from error
        classifiers = {}
        for name in names:
            path = folder.path(f"{CLASSIFIERS_DIR}/{name}")
            try:
                clf = load_classifier(path)
            except (OSError, ValueError, KeyError) as error:
                raise ModelFolderError(f"{path}: not a usable {name} classifier ({error})") from error
            if clf.kind != name or clf.n_features_in_ != embedding_dim:
                raise ModelFolderError(f"{path}: holds a {clf.kind} classifier on "
                                       f"{clf.n_features_in_} features; model.json expects {name} "
                                       f"on the head's {embedding_dim}")
            classifiers[name] = clf
        if backbone and embedder is not None:
            logger.info("%s reads its own backbone; the FaceNet given is not used", folder.root)
            embedder = None
        problem = identity.matches(embedder.identity) if embedder is not None else None
        if problem:
            raise ValueError(f"the embedder given is {embedder.identity.label()}, but "
                             f"{folder.root} was trained on {identity.label()}: {problem}")
        return cls(folder, meta, head, classifiers, identity, facenet_weights, embedder, backbone)

    # -- attributes --------------------------------------------------------------------

    @property
    def embedder(self):
        """The FaceNet the model was trained with, built on first use and probe-checked (or
        its tuned backbone)."""
        if self._embedder is None and self.backbone:
            self._embedder = load_backbone(self.folder, self.backbone)
        elif self._embedder is None:
            logger.info("building %s for %s", self.identity.label(), self.path)
            self._embedder = self.identity.build(self._facenet_weights)
        return self._embedder

    @property
    def facenet_label(self) -> str | None:
        """What embeds the faces, as ``detect`` and the model card name it."""
        label = super().facenet_label
        if self.backbone:
            return f"SBI-fine-tuned backbone (from {label or 'no FaceNet'})"
        return label

    @property
    def input_dim(self) -> int:
        """The size of the embeddings the head reads."""
        return int(self.meta["head"]["input_dim"])

    @property
    def variants(self) -> tuple[str, ...]:
        return tuple(self.meta["classifiers"])

    @property
    def default_variant(self) -> str:
        return self.meta["default_classifier"]

    def threshold(self, variant: str | None = None) -> float:
        return float(self.meta["thresholds"][self._variant(variant)])

    def _variant(self, variant: str | None) -> str:
        if variant is None:
            return self.default_variant
        if variant not in self.classifiers:
            raise ValueError(f"{self.path}: no classifier {variant!r}; this model has "
                             f"{', '.join(self.variants)}")
        return variant

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "facenet_label": self.facenet_label,
                "backbone": self.backbone,
                "variants": list(self.variants), "default_variant": self.default_variant,
                "thresholds": dict(self.meta["thresholds"])}

    # -- scoring -----------------------------------------------------------------------

    def head_outputs(self, embeddings: np.ndarray, batch_size: int = 1024) -> np.ndarray:
        """The head's L2-normalised outputs ``[N, E]`` for embeddings ``[N, D]``."""
        embeddings = np.asarray(embeddings, np.float32)
        if embeddings.ndim != 2 or embeddings.shape[1] != self.input_dim:
            raise ValueError(f"embeddings should be [N, {self.input_dim}], got "
                             f"{embeddings.shape}")
        if not len(embeddings):
            return np.zeros((0, int(self.head.output_shape[-1])), np.float32)
        # Called directly rather than through predict(), whose set-up costs ~70 ms a call.
        return np.concatenate([
            np.asarray(self.head(embeddings[start:start + batch_size], training=False), np.float32)
            for start in range(0, len(embeddings), batch_size)])

    def score_embeddings(self, embeddings: np.ndarray, variant: str | None = None) -> np.ndarray:
        """Fake probability ``[N]`` of each FaceNet embedding."""
        clf = self.classifiers[self._variant(variant)]
        return clf.predict_proba_fake(self.head_outputs(embeddings))

    def score_faces(self, faces: np.ndarray, variant: str | None = None) -> np.ndarray:
        faces = np.asarray(faces)
        if not len(faces):
            self._variant(variant)
            return np.zeros(0, np.float64)
        return self.score_embeddings(self.embedder.embed(faces), variant)

    heat_map_kind = "occlusion"

    def heat_map(self, faces: np.ndarray, variant: str | None = None) -> np.ndarray:
        """Occlusion maps (``tfdeepfake.models.occlusion``): how far a grey patch over each
        region moves the head's output. The head's output rather than a classifier's
        probability, because KNN and random-forest probabilities move in steps (1/k, 1/trees)
        and would leave most maps blank; the same map therefore serves every ``variant``."""
        from tfdeepfake.models.occlusion import occlusion_maps

        self._variant(variant)
        return occlusion_maps(faces, lambda images: self.head_outputs(self.embedder.embed(images)))

    def split_scores(self, source: str | os.PathLike, split: str) -> dict[str, Scores]:
        """Frame scores of every classifier on ``split`` of an embedding cache (a face
        cache for a model with a tuned backbone: its faces go through the backbone)."""
        from tfdeepfake.models.facenet import FaceNetIdentity

        if self.backbone:
            return self._scores(*self._backbone_embeddings(source, split))
        _, facenet = cache_settings(source)
        cached = FaceNetIdentity.from_dict(facenet)
        problem = self.identity.matches(cached)
        if problem:
            raise ValueError(f"{source}: embeddings of {cached.label()}, but {self.path} was "
                             f"trained on {self.identity.label()} ({problem}); embed the faces "
                             "again with the model's FaceNet")
        table = load_embedding_table(source, splits=(split,))
        return self._scores(table.embeddings, table.labels, table.video_ids)

    def embedding_pairs(self, source, split: str):
        """``(embeddings, head outputs, labels)`` of ``split``, for evaluate's scatter plot."""
        if self.backbone:
            embeddings, labels, _ = self._backbone_embeddings(source, split)
        else:
            table = load_embedding_table(source, splits=(split,))
            embeddings, labels = table.embeddings, table.labels
        return (embeddings, self.head_outputs(embeddings), labels) if len(embeddings) else None

    def _scores(self, embeddings, labels, video_ids) -> dict[str, Scores]:
        outputs = self.head_outputs(embeddings)
        return {name: Scores(level="frame", labels=labels,
                             probabilities=clf.predict_proba_fake(outputs),
                             video_ids=video_ids, threshold=self.threshold(name),
                             aggregation=self.aggregation)
                for name, clf in self.classifiers.items()}

    def _backbone_embeddings(self, source, split: str):
        from tfdeepfake.detectors.xception import per_face_of_split

        return per_face_of_split(source, split, self.embedder.embed,
                                 "a triplet model on a tuned backbone")

    # -- training ----------------------------------------------------------------------

    @classmethod
    def train(cls, source: str | os.PathLike, out_dir: str | os.PathLike,
              config: TripletTrainingConfig | None = None,
              options: TrainOptions = TrainOptions(), *,
              classifiers: Sequence[str] = DEFAULT_CLASSIFIERS,
              default_classifier: str = DEFAULT_CLASSIFIER,
              threshold_mode: str = "fixed", fakes: str = "cache",
              backbone: str | None = None) -> "TripletDetector":
        """Train the head and the classifiers on the ``train`` (and ``val``) videos of an
        embedding cache; write the model folder ``out_dir``; return the loaded detector.

        ``threshold_mode``: ``fixed`` (0.5, the poster) or ``validation`` (Youden's J on
        the validation videos' scores, per classifier). ``fakes="sbi"``: ``source`` is a
        face cache; its real videos are embedded with the installed FaceNet, and
        self-blended copies of their faces are the fake class (``sbi_training``).
        ``backbone`` (with ``fakes="sbi"``): an ``sbi`` model folder whose fine-tuned
        network replaces FaceNet as the embedder; the model folder keeps a copy of it.
        """
        config = config or TripletTrainingConfig()
        if threshold_mode not in THRESHOLD_MODES:
            raise ValueError(f"unknown threshold mode {threshold_mode!r}; valid: "
                             f"{', '.join(THRESHOLD_MODES)}")
        classifiers = tuple(dict.fromkeys(classifiers))
        unknown = [c for c in classifiers if c not in CLASSIFIERS]
        if unknown or not classifiers:
            raise ValueError(f"unknown classifier(s) {unknown or 'none given'}; valid: "
                             f"{', '.join(CLASSIFIERS)}")
        if default_classifier not in classifiers:
            raise ValueError(f"default classifier {default_classifier!r} is not among "
                             f"{', '.join(classifiers)}")
        if options.strategy != "default":
            logger.warning("the triplet head is small and trains on one device; strategy %r "
                           "is not used", options.strategy)
        if fakes not in FAKES:
            raise ValueError(f"unknown fakes {fakes!r}; valid: {', '.join(FAKES)}")
        if backbone and fakes != "sbi":
            raise ValueError("a tuned backbone (--backbone) trains on self-blended fakes: add "
                             "--fakes sbi and give a face cache")
        tuned = TunedBackbone.load(backbone) if backbone else None
        if fakes == "sbi":
            from tfdeepfake.detectors.sbi_training import sbi_triplet_data

            table, rows, face_settings, facenet = sbi_triplet_data(source, seed=options.seed,
                                                                   embedder=tuned)
        else:
            face_settings, facenet = cache_settings(source)
            table = load_embedding_table(source, splits=("train", "val"))
            rows = video_rows(source, table, ("train", "val"))
        if (facenet or {}).get("random_init"):
            logger.warning("%s: embeddings from a RANDOMLY INITIALISED FaceNet (seed %s)", source,
                           facenet.get("seed"))
        train_ids, val_ids, how = carve_validation(rows, options.val_fraction, options.seed)
        counts = {"train": counts_of(rows, train_ids), "val": counts_of(rows, val_ids),
                  "validation": how}
        require_both_classes(counts["train"], source)
        train = table.select(np.isin(table.video_ids, sorted(train_ids)))
        val = table.select(np.isin(table.video_ids, sorted(val_ids))) if val_ids else None
        if val is not None and len(np.unique(val.labels)) < 2:
            logger.warning("the validation videos hold one class only; keep-best watches the "
                           "training loss and thresholds stay at 0.5")
            val = None
        logger.info("triplet detector: %d train videos, %d validation videos (%s)",
                    len(train_ids), len(val_ids), how)

        out = Path(out_dir)
        ModelFolder(out).start()  # an old model.json goes first: the folder is unfinished
        if tuned is not None:
            copy_backbone(backbone, out)
        run_dir = Path(options.run_dir) if options.run_dir else out / "run"
        fit = fit_triplet(train, val, config, seed=options.seed, run_dir=run_dir,
                          classifiers=classifiers, threshold_mode=threshold_mode,
                          aggregation=options.aggregation)
        training = {"config": config.to_dict(), "threshold_mode": threshold_mode,
                    "embedding_cache": str(source), "fakes": fakes, "run_dir": str(run_dir),
                    "backbone": str(backbone) if backbone else None,
                    "validation_metrics": fit.validation, **fit.training.record()}
        save_triplet_model(out, face_settings=face_settings, facenet=facenet, head=fit.head,
                           classifiers=fit.classifiers, default_classifier=default_classifier,
                           thresholds=fit.thresholds, aggregation=options.aggregation,
                           seed=options.seed, training=training, data=counts,
                           backbone=tuned.record(backbone) if tuned is not None else None)
        folder = ModelFolder(out)
        return cls.from_folder(folder, folder.read_meta())
