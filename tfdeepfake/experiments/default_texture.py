"""The texture head (``detectors.texture_head``) and its combination with ``sbi`` networks,
measured leave-one-generator-out on the shared footage (issue 20).

    python -m tfdeepfake.experiments.default_texture runs/dd/faces.h5 --sbi reports/default -v

Needs the face cache of ``default_detector`` (its ``method`` column: real collections,
fake generators) and, for combinations, that study's fold models (``--sbi``: its ``--out``).
Protocol, for every real fold ``k`` (the collections of ``default_detector``) and every fake
source ``g`` (a modern generator, FF++, DFDC): a texture head is fitted on the reals outside
fold ``k`` and the labelled fakes of every source but ``g`` (each face also once degraded:
shrunk to 56-112 px and JPEG-compressed at quality 30-80, in both classes, so that image
quality is no cue), optionally with self-blended and lip-sync pseudo-fakes of those reals
(and their real partners, augmented alike); it scores the reals of fold ``k`` and the fakes
of ``g``, combined face by face with the fold-``k`` ``sbi`` network as the shipped network
combines them: ``sigmoid(w logit(p_sbi) + (1 - w) t)``. A real video's score is the mean over
the ``g`` models, a fake's the mean over the ``k`` models; no model ever saw the person,
collection or generator it scores. Writes ``texture.json`` and ``texture.md``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from tfdeepfake.constants import FAKE, REAL
from tfdeepfake.scoring import AGGREGATIONS, aggregate_video_scores
from tfdeepfake.video.sampling import spread_picks

logger = logging.getLogger(__name__)

WEIGHTS = (0.0, 0.3, 0.5, 0.7, 1.0)
TRAIN_FACES_PER_VIDEO = 12
PSEUDO_FAKES_PER_VIDEO = 8


def degrade(face: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``face`` shrunk to a 56-112 px side, enlarged back and JPEG-compressed (30-80)."""
    import cv2

    size = face.shape[0]
    side = int(rng.integers(56, 113))
    x = cv2.resize(cv2.resize(face, (side, side), interpolation=cv2.INTER_AREA), (size, size),
                   interpolation=cv2.INTER_LINEAR)
    ok, data = cv2.imencode(".jpg", x[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(30, 81))])
    return cv2.imdecode(data, cv2.IMREAD_COLOR)[..., ::-1] if ok else x


def augmented_pseudo_fakes(faces: np.ndarray, keypoints: np.ndarray, seeds: np.ndarray,
                           recipe) -> tuple[np.ndarray, np.ndarray]:
    """Pseudo-fakes of real ``faces`` made with ``recipe`` (a ``SelfBlendConfig``), and the
    reals: each pair passed through the same quality augmentation, seeded by its face's seed,
    so that image quality is no cue. Returns (reals, fakes)."""
    from tfdeepfake.synthetic.pair_augment import PairAugmentConfig, augment_pair
    from tfdeepfake.synthetic.self_blend import self_blend

    quality = PairAugmentConfig(rescale_probability=0.5, noise_probability=0.3)
    fakes = self_blend(faces, keypoints, seeds, recipe).images
    pairs = [augment_pair(np.stack([r, f]), np.random.default_rng(int(s)), quality)
             for r, f, s in zip(faces, fakes, seeds)]
    return np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])


def texture_table(cache: str | Path, out: Path, seed: int = 0,
                  name: str = "texture_features.npz",
                  regions: Sequence[str] = ("face",),
                  region_layers: dict | None = None) -> dict[str, np.ndarray]:
    """Texture features (of ``regions``, ``models.sbi_classifier.TEXTURE_REGIONS``, each at
    ``TEXTURE_LAYER`` or its layer in ``region_layers``) of every face (``x``), of a degraded
    copy (``x_degraded``), and of pseudo-fakes of real faces with their augmented real
    partners (``pf_fake``, ``pf_real``, ``pf_ids``), cached in ``out/<name>``."""
    path = out / name
    region_layers = dict(region_layers or {})
    if path.exists():
        table = dict(np.load(path))
        stored = table_regions(table)
        if stored != tuple(regions) or table_region_layers(table) != region_layers:
            raise ValueError(f"{path}: features of the regions {list(stored)} (layers "
                             f"{table_region_layers(table) or 'all the same'}), not "
                             f"{list(regions)} ({region_layers or 'all the same'}); give another --out")
        return table
    from tfdeepfake.cache.faces import iter_face_videos
    from tfdeepfake.detectors.texture_head import texture_feature_model, texture_features
    from tfdeepfake.detectors.xception import face_cache_settings
    from tfdeepfake.models.facenet import load_facenet
    from tfdeepfake.pipelines.self_blend import real_faces
    from tfdeepfake.synthetic.self_blend import PSEUDO_FAKE_RECIPES

    model = texture_feature_model(load_facenet().model, regions=tuple(regions),
                                  region_layers=region_layers)
    settings = face_cache_settings(cache)
    rng = np.random.default_rng(seed)
    rows: dict[str, list] = {k: [] for k in ("ids", "x", "x_degraded", "pf_ids", "pf_fake", "pf_real")}
    for video in iter_face_videos(cache):
        if not len(video.faces):
            continue
        faces = np.asarray(video.faces)
        rows["ids"] += [video.video_id] * len(faces)
        rows["x"].append(texture_features(model, faces))
        rows["x_degraded"].append(texture_features(model, np.stack([degrade(f, rng) for f in faces])))
        if video.label != REAL:
            continue
        data = real_faces([video], settings, PSEUDO_FAKES_PER_VIDEO)
        seeds = rng.integers(0, 2**62, len(data))
        for recipe in PSEUDO_FAKE_RECIPES:
            reals, fakes = augmented_pseudo_fakes(data.faces, data.keypoints, seeds, recipe)
            rows["pf_real"].append(texture_features(model, reals))
            rows["pf_fake"].append(texture_features(model, fakes))
            rows["pf_ids"] += [video.video_id] * len(data)
    table = {k: (np.concatenate(v) if k not in ("ids", "pf_ids") else np.asarray(v))
             for k, v in rows.items()}
    table["regions"] = np.asarray(regions)
    if region_layers:
        table["region_layers"] = np.asarray([f"{r}={layer}" for r, layer in sorted(region_layers.items())])
    np.savez(path, **table)
    return table


def table_regions(table: dict) -> tuple[str, ...]:
    """The regions a ``texture_table`` was computed on (tables from before regions: the face)."""
    return tuple(str(r) for r in table.get("regions", ("face",)))


def table_region_layers(table: dict) -> dict[str, str]:
    """The regions a ``texture_table`` read at another layer than ``TEXTURE_LAYER``."""
    return dict(str(item).split("=", 1) for item in table.get("region_layers", ()))


def parse_region_layers(items: Sequence[str] | None) -> dict[str, str]:
    """``["mouth=Block35_5_Activation"]`` -> ``{"mouth": "Block35_5_Activation"}``."""
    out = {}
    for item in items or ():
        region, sep, layer = item.partition("=")
        if not sep or not region or not layer:
            raise ValueError(f"--region-layer {item!r}: give REGION=LAYER, e.g. mouth=Block35_5_Activation")
        out[region] = layer
    return out


@dataclasses.dataclass
class Protocol:
    """The study's folds over a face cache's videos: genuine folds of whole collections, each
    fake source (a generator, FF++, DFDC) held out whole; ``rows_of`` a video's rows in a
    feature table (``ids``), ``train_rows`` the evenly spread ones a fit trains on."""

    videos: dict
    reals: list
    fold_of: dict
    source: dict
    rows_of: dict
    train_rows: dict
    folds: int

    @classmethod
    def of(cls, cache, ids: np.ndarray, folds: int = 3, seed: int = 0) -> "Protocol":
        from tfdeepfake.cache.faces import iter_face_videos
        from tfdeepfake.experiments.default_detector import collection, real_folds

        videos = {v.video_id: v for v in iter_face_videos(cache) if len(v.faces)}
        rows_of = {v: np.flatnonzero(ids == v) for v in videos}
        return cls(videos, sorted(v for v in videos if videos[v].label == REAL),
                   real_folds(videos, folds, seed),
                   {v: collection(videos[v]) for v in videos if videos[v].label == FAKE}, rows_of,
                   {v: r[spread_picks(len(r), TRAIN_FACES_PER_VIDEO)] for v, r in rows_of.items()},
                   folds)

    def splits(self):
        """``(k, g, genuine training rows, fake training rows, the videos it scores)`` for every
        genuine fold ``k`` and fake source ``g``: trained without both, scoring both."""
        for k in range(self.folds):
            for g in sorted(set(self.source.values())):
                real = np.concatenate([self.train_rows[v] for v in self.reals if self.fold_of[v] != k])
                fake = np.concatenate([self.train_rows[v] for v in self.source if self.source[v] != g])
                scored = ([v for v in self.reals if self.fold_of[v] == k]
                          + [v for v in self.source if self.source[v] == g])
                yield k, g, real, fake, scored


def _logit(p) -> np.ndarray:
    p = np.clip(np.asarray(p, np.float64), 1e-6, 1 - 1e-6)
    return np.log(p) - np.log1p(-p)


def sbi_face_scores(cache, sbi_dir: Path, recipe: str, fold_of: dict, folds: int) -> dict:
    """Per-face probabilities of each fold's ``sbi`` network on the videos it did not see
    (its held-out reals and every fake), cached in ``sbi_dir/face_scores-<recipe>.json``."""
    path = sbi_dir / f"face_scores-{recipe}.json"
    if path.exists():
        return json.loads(path.read_text())
    from tfdeepfake.cache.faces import iter_face_videos
    from tfdeepfake.detectors import load_detector

    videos = [v for v in iter_face_videos(cache) if len(v.faces)]
    scores: dict[str, dict[str, list]] = {}
    for k in range(folds):
        detector = load_detector(sbi_dir / "models" / f"{recipe}-fold{k}-seed0")
        for v in videos:
            if v.label == FAKE or fold_of.get(v.video_id) == k:
                scores.setdefault(v.video_id, {})[str(k)] = detector.score_faces(v.faces).tolist()
    path.write_text(json.dumps(scores))
    return scores


def evaluate(cache, out: Path, *, sbi_dir: Path | None, recipes: Sequence[str], folds: int = 3,
             seed: int = 0, c: float = 0.001, n_boot: int = 1000,
             pseudo_share: float = 1.0, extra_train: str | Path | None = None,
             regions: Sequence[str] = ("face",), aggregation: str = "mean",
             only: Sequence[str] | None = None,
             region_layers: dict | None = None) -> dict[str, Any]:
    """``pseudo_share``: the share of pseudo-fake pairs the ``+pseudo-fakes`` variants keep
    (the same evenly spread pairs in every fit), to trade classic swaps against modern fakes.
    The ``+twin`` variants fit both heads, without and with pseudo-fakes, and read a face by
    the mean of their logits (in effect one linear head; measured, not shipped).
    ``only``: the variants to run (default: all).
    ``extra_train``: a face cache of other labelled videos (e.g. the project's generated face
    swaps) added to every fit, both classes, never scored."""
    from tfdeepfake.cache.faces import iter_face_videos
    from tfdeepfake.detectors.texture_head import fit_texture_head
    from tfdeepfake.experiments.default_detector import summarise_scores

    out.mkdir(parents=True, exist_ok=True)
    table = texture_table(cache, out, seed, regions=regions, region_layers=region_layers)
    ids, pf_ids = table["ids"], table["pf_ids"]
    protocol = Protocol.of(cache, ids, folds, seed)
    videos, reals, fold_of = protocol.videos, protocol.reals, protocol.fold_of
    if sbi_dir and recipes:
        # Each fold's sbi network must not have seen the genuine videos it scores here.
        theirs = json.loads((sbi_dir / "results.json").read_text()).get("fold_of", {})
        if any(theirs.get(v) != k for v, k in fold_of.items()):
            raise ValueError(f"{sbi_dir}: its folds are not this study's (seed {seed}); "
                             "use the seed that study used")
    source, rows_of = protocol.source, protocol.rows_of
    results: dict[str, Any] = {"cache": str(cache), "folds": folds, "seed": seed, "c": c,
                               "weights": list(WEIGHTS), "pseudo_share": pseudo_share,
                               "regions": list(regions), "aggregation": aggregation,
                               "region_layers": dict(region_layers or {}),
                               "combinations": {}}
    extra_real, extra_fake = np.zeros((0, table["x"].shape[1])), np.zeros((0, table["x"].shape[1]))
    if extra_train:
        extra = texture_table(extra_train, out, seed, name="extra_texture_features.npz",
                              regions=regions, region_layers=region_layers)
        labels = {v.video_id: v.label for v in iter_face_videos(extra_train)}
        extra_rows = {v: np.flatnonzero(extra["ids"] == v) for v in labels}
        picked = {v: r[spread_picks(len(r), TRAIN_FACES_PER_VIDEO)] for v, r in extra_rows.items() if len(r)}
        by_label = {label: np.concatenate([r for v, r in picked.items() if labels[v] == label])
                    for label in (REAL, FAKE)}
        extra_real = np.concatenate([extra["x"][by_label[REAL]], extra["x_degraded"][by_label[REAL]]])
        extra_fake = np.concatenate([extra["x"][by_label[FAKE]], extra["x_degraded"][by_label[FAKE]]])
        results["extra_train"] = {"cache": str(extra_train), "real_faces": len(extra_real),
                                  "fake_faces": len(extra_fake)}
    kept = np.zeros(len(pf_ids), bool)
    kept[spread_picks(len(pf_ids), int(round(pseudo_share * len(pf_ids))))] = True
    # (name, sbi recipe, the heads averaged: False without pseudo-fakes, True with them)
    variants = [("texture", None, (False,)), ("texture+pseudo-fakes", None, (True,)),
                ("texture+twin", None, (False, True))]
    variants += [(f"{r}+texture", r, (False,)) for r in recipes]
    variants += [(f"{r}+texture+pseudo-fakes", r, (True,)) for r in recipes]
    if only:
        unknown = set(only) - {v[0] for v in variants}
        if unknown:
            raise ValueError(f"unknown variants {sorted(unknown)}; valid: {[v[0] for v in variants]}")
        variants = [v for v in variants if v[0] in set(only)]
    fits: dict[tuple, Any] = {}  # (genuine fold, held-out source, with pseudo-fakes) -> head
    for name, recipe, heads in variants:
        sbi = sbi_face_scores(cache, sbi_dir, recipe, fold_of, folds) if recipe else None
        real_scores = {w: {v: [] for v in reals} for w in WEIGHTS}
        fake_scores = {w: {v: [] for v in source} for w in WEIGHTS}
        for k, g, train_real, train_fake, scored in protocol.splits():
            fitted = []
            for use_pseudo in heads:
                if (k, g, use_pseudo) not in fits:  # the sbi and twin variants reuse them
                    real = [table["x"][train_real], table["x_degraded"][train_real], extra_real]
                    fake = [table["x"][train_fake], table["x_degraded"][train_fake], extra_fake]
                    if use_pseudo:
                        mine = np.array([fold_of[v] != k for v in pf_ids]) & kept
                        real.append(table["pf_real"][mine])
                        fake.append(table["pf_fake"][mine])
                    head = fit_texture_head(np.concatenate(real), np.concatenate(fake), c=c,
                                            regions=regions, region_layers=region_layers)
                    # kept for its logits only: the curvature (a few MB each) is not needed
                    fits[k, g, use_pseudo] = dataclasses.replace(head, curvature=None)
                fitted.append(fits[k, g, use_pseudo])
            for v in scored:
                texture = np.mean([h.logits(table["x"][rows_of[v]]) for h in fitted], axis=0)
                tuned = _logit(sbi[v][str(k)]) if sbi else np.zeros_like(texture)
                for w in (WEIGHTS if sbi else (0.0,)):
                    p = 1.0 / (1.0 + np.exp(-(w * tuned + (1 - w) * texture)))
                    # a video's score from its faces', as detect aggregates them
                    (real_scores if videos[v].label == REAL else fake_scores)[w][v].append(
                        float(aggregate_video_scores(p, np.zeros(len(p)), aggregation)[1][0]))
        results["combinations"][name] = {
            str(w): summarise_scores(videos, {v: float(np.mean(s)) for v, s in real_scores[w].items()},
                                     {v: float(np.mean(s)) for v, s in fake_scores[w].items()},
                                     n_boot, seed)
            for w in (WEIGHTS if sbi else (0.0,))}
        (out / "texture.json").write_text(json.dumps(results, indent=1))
    return results


def markdown(results: dict) -> str:
    lines = ["# Texture head and sbi combinations, leave-one-generator-out", "",
             "Weight `w` on the fine-tuned sbi head's logit, `1 - w` on the texture head's. "
             "Video AUC [bootstrap 95% interval]; real videos called fake at 0.5.", "",
             "| combination | w | all | modern | classic | reals called fake at 0.5 |",
             "|---|---|---|---|---|---|"]
    for name, by_weight in results["combinations"].items():
        for w, r in by_weight.items():
            cells = [f"{r[k]['auc']:.2f} [{r[k]['low']:.2f}, {r[k]['high']:.2f}]"
                     if k == "all" else
                     f"{r['families'][k]['auc']:.2f} [{r['families'][k]['low']:.2f}, "
                     f"{r['families'][k]['high']:.2f}]" for k in ("all", "modern", "classic")]
            fa = r["false_alarms_at_0.5"]
            lines.append(f"| {name} | {w} | " + " | ".join(cells) + f" | {fa['flagged']} / {fa['of']} |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    from tfdeepfake.experiments.steps import script_logging, write_study

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("cache", type=Path)
    p.add_argument("--sbi", type=Path, help="default_detector's --out (its fold models)")
    p.add_argument("--recipe", action="append", default=None)
    p.add_argument("--out", type=Path, default=Path("reports/default-texture"))
    p.add_argument("--c", type=float, default=0.001)
    p.add_argument("--pseudo-share", type=float, default=1.0,
                   help="share of the pseudo-fake pairs the +pseudo-fakes variants keep")
    p.add_argument("--extra-train", type=Path,
                   help="a face cache of other labelled videos added to every fit, never scored")
    p.add_argument("--regions", default="face",
                   help="comma-separated parts of the face the head reads (face, lower-face, "
                        "mouth: placed by the face's own keypoints)")
    p.add_argument("--seed", type=int, default=0,
                   help="the genuine folds, the degraded copies, the pseudo-fakes and the bootstrap")
    p.add_argument("--aggregation", choices=AGGREGATIONS, default="mean",
                   help="a video's score from its faces' (the model.json field detect reads)")
    p.add_argument("--region-layer", action="append", metavar="REGION=LAYER",
                   help="read a region beyond the face at another FaceNet layer (repeat; e.g. "
                        "mouth=Block35_5_Activation: cheaper, scripts/mouth_layer_probe.py)")
    p.add_argument("--only", action="append",
                   help="run this variant only (repeat; e.g. texture, texture+twin); default: all")
    p.add_argument("-v", "--verbose", action="store_true")
    args = p.parse_args(argv)
    script_logging(args.verbose)
    started = time.perf_counter()
    results = evaluate(args.cache, args.out, sbi_dir=args.sbi,
                       recipes=(args.recipe or []) if args.sbi else [], c=args.c, seed=args.seed,
                       pseudo_share=args.pseudo_share, extra_train=args.extra_train,
                       regions=tuple(r.strip() for r in args.regions.split(",")),
                       aggregation=args.aggregation, only=args.only,
                       region_layers=parse_region_layers(args.region_layer))
    print(write_study(args.out, "texture", results, markdown, "tfdeepfake.experiments.default_texture", argv, started))
    return 0


if __name__ == "__main__":
    sys.exit(main())
