"""The poster's method (FaceNet embeddings, semi-hard triplet head, KNN / SGD / RF) under the
default-model studies' protocol, for the side-by-side table of issue 20.

    python -m tfdeepfake.experiments.default_poster runs/dd/faces.h5 --out reports/default-poster -v

Real videos in the three folds of real collections of ``default_detector``; fake sources
(modern generators, FF++, DFDC) in three folds as well (``assign_folds`` over their video
counts). For each pair (real fold ``k``, fake fold ``j``) the method is trained, with the
poster's settings, on the other reals and the other fake sources, and scores the reals of
``k`` and the fakes of ``j``: 9 fits, no person, collection or generator seen. Coarser than
the texture head's one-source-at-a-time folds (each fit here misses a third of the fake
sources), which favours the texture head; said where the numbers are shown.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np

from tfdeepfake.constants import FAKE, REAL

logger = logging.getLogger(__name__)
CLASSIFIERS = ("knn", "sgd", "rf")


def embeddings(cache, out: Path):
    """Pretrained FaceNet embeddings of every face, cached in ``out/embeddings.npz``."""
    path = out / "embeddings.npz"
    if path.exists():
        data = np.load(path)
        return data["ids"], data["x"]
    from tfdeepfake.cache.faces import iter_face_videos
    from tfdeepfake.models.facenet import load_facenet

    embedder = load_facenet()
    ids, rows = [], []
    for video in iter_face_videos(cache):
        if len(video.faces):
            rows.append(embedder.embed(np.asarray(video.faces)))
            ids += [video.video_id] * len(video.faces)
    ids, x = np.asarray(ids), np.concatenate(rows).astype(np.float32)
    np.savez(path, ids=ids, x=x)
    return ids, x


def evaluate(cache, out: Path, *, seed: int = 0, n_boot: int = 1000) -> dict:
    from tfdeepfake.cache.embeddings import EmbeddingTable
    from tfdeepfake.cache.faces import iter_face_videos
    from tfdeepfake.detectors.triplet_training import TripletTrainingConfig, fit_triplet
    from tfdeepfake.experiments.default_detector import assign_folds, collection, summarise_scores

    out.mkdir(parents=True, exist_ok=True)
    ids, x = embeddings(cache, out)
    videos = {v.video_id: v for v in iter_face_videos(cache) if len(v.faces)}
    label = np.array([videos[v].label for v in ids])
    reals = sorted(v for v in videos if videos[v].label == REAL)
    fakes = sorted(v for v in videos if videos[v].label == FAKE)
    count = lambda names: {g: sum(collection(videos[v]) == g for v in names)  # noqa: E731
                           for g in {collection(videos[v]) for v in names}}
    real_fold = assign_folds(count(reals), 3, seed)
    fake_fold = assign_folds(count(fakes), 3, seed)
    fold_of = {v: (real_fold if videos[v].label == REAL else fake_fold)[collection(videos[v])]
               for v in videos}
    row_fold = np.array([fold_of[v] for v in ids])
    scores = {c: {"real": {v: [] for v in reals}, "fake": {v: [] for v in fakes}} for c in CLASSIFIERS}
    for k in range(3):
        for j in range(3):
            train = ((label == REAL) & (row_fold != k)) | ((label == FAKE) & (row_fold != j))
            table = EmbeddingTable(x[train], label[train], ids[train],
                                   np.zeros(int(train.sum()), np.int64),
                                   np.full(int(train.sum()), "train"))
            with tempfile.TemporaryDirectory() as run_dir:
                fit = fit_triplet(table, None, TripletTrainingConfig(), seed=seed, run_dir=run_dir,
                                  classifiers=CLASSIFIERS)
            tested = ((label == REAL) & (row_fold == k)) | ((label == FAKE) & (row_fold == j))
            outputs = np.asarray(fit.head.predict(x[tested], batch_size=1024, verbose=0), np.float32)
            for name, classifier in fit.classifiers.items():
                probs = classifier.predict_proba_fake(outputs)
                for v in set(ids[tested]):
                    side = "real" if videos[v].label == REAL else "fake"
                    scores[name][side][v].append(float(probs[ids[tested] == v].mean()))
            logger.info("poster's method: real fold %d, fake fold %d done", k, j)
    results = {"cache": str(cache), "seed": seed, "classifiers": {}}
    for name in CLASSIFIERS:
        results["classifiers"][name] = summarise_scores(
            videos, {v: float(np.mean(s)) for v, s in scores[name]["real"].items()},
            {v: float(np.mean(s)) for v, s in scores[name]["fake"].items()}, n_boot, seed)
    return results


def main(argv: Sequence[str] | None = None) -> int:
    from tfdeepfake.experiments.steps import script_logging

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("cache", type=Path)
    p.add_argument("--out", type=Path, default=Path("reports/default-poster"))
    p.add_argument("-v", "--verbose", action="store_true")
    args = p.parse_args(argv)
    script_logging(args.verbose)
    results = evaluate(args.cache, args.out)
    results["command"] = " ".join(["python -m tfdeepfake.experiments.default_poster",
                                   *(argv if argv is not None else sys.argv[1:])])
    (args.out / "poster.json").write_text(json.dumps(results, indent=1))
    for name, r in results["classifiers"].items():
        fams = r["families"]
        print(f"{name}: all {r['all']['auc']:.2f} [{r['all']['low']:.2f}, {r['all']['high']:.2f}]"
              f"; modern {fams['modern']['auc']:.2f} [{fams['modern']['low']:.2f}, "
              f"{fams['modern']['high']:.2f}]; classic {fams['classic']['auc']:.2f} "
              f"[{fams['classic']['low']:.2f}, {fams['classic']['high']:.2f}]; reals called fake "
              f"at 0.5: {r['false_alarms_at_0.5']['flagged']}/{r['false_alarms_at_0.5']['of']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
