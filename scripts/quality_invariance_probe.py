"""Does the texture head gain when it is told to ignore what degrading a face changes?
(issue 20: "quality must not be a cue").

    python scripts/quality_invariance_probe.py reports/default-texture-m0-mouth --mu 0 --mu 3 --mu 30

The shipped recipe already trains on each face and a degraded copy (shrunk to 56-112 px,
JPEG 30-80) in both classes. Here the fit is also penalised for scoring a face and its copy
differently: the logistic regression's ridge ``|w|^2 / 2C`` becomes ``w' (I + mu S) w / 2C``,
``S`` the mean outer product of the standardised differences between the training faces and
their copies (both classes); fitted by whitening the features with ``I + mu S``'s Cholesky
factor. ``mu`` 0 is the shipped recipe. The study's protocol and its cached features
(``default_texture``'s ``texture_features.npz`` and ``texture.json`` in the folder given):
genuine folds of whole collections, each fake source held out whole; a video's score the
mean of its faces' probabilities, averaged over the fits that did not see it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np


def fit(z: np.ndarray, y: np.ndarray, differences: np.ndarray, mu: float, c: float):
    """(coef over ``z``, intercept) of the penalised fit."""
    import scipy.linalg
    from sklearn.linear_model import LogisticRegression

    factor = None
    if mu > 0:
        spread = differences.T @ differences / len(differences)
        factor = np.linalg.cholesky(np.eye(len(spread)) + mu * spread)
        z = scipy.linalg.solve_triangular(factor, z.T, lower=True).T
    model = LogisticRegression(C=c, max_iter=3000, class_weight="balanced").fit(z, y)
    coef = model.coef_[0]
    if factor is not None:  # back to the standardised features' coordinates
        coef = scipy.linalg.solve_triangular(factor.T, coef, lower=False)
    return coef, float(model.intercept_[0])


def main(argv=None) -> int:
    from tfdeepfake.experiments.default_detector import summarise_scores
    from tfdeepfake.experiments.default_texture import Protocol

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("study", type=Path, help="a default_texture --out folder")
    p.add_argument("--mu", type=float, action="append", required=True)
    p.add_argument("--bootstrap", type=int, default=1000)
    args = p.parse_args(argv)
    study = json.loads((args.study / "texture.json").read_text())
    table = dict(np.load(args.study / "texture_features.npz"))
    c, seed = study["c"], study["seed"]
    protocol = Protocol.of(study["cache"], table["ids"], seed=seed)
    print("| mu | all | modern | classic | genuine called fake at 0.5 |\n|---|---|---|---|---|")
    for mu in args.mu:
        scores: dict[str, list] = {v: [] for v in protocol.videos}
        for _, _, real, fake, scored in protocol.splits():
            x = np.concatenate([table["x"][real], table["x_degraded"][real],
                                table["x"][fake], table["x_degraded"][fake]]).astype(np.float64)
            y = np.r_[np.zeros(2 * len(real)), np.ones(2 * len(fake))]
            mean, sd = x.mean(0), np.sqrt(x.var(0) + 1e-6)
            both = np.r_[real, fake]
            differences = (table["x"][both] - table["x_degraded"][both]) / sd
            coef, intercept = fit((x - mean) / sd, y, differences, mu, c)
            for v in scored:
                logits = (table["x"][protocol.rows_of[v]] - mean) / sd @ coef + intercept
                scores[v].append(float(np.mean(1 / (1 + np.exp(-logits)))))
        summary = summarise_scores(protocol.videos, {v: float(np.mean(scores[v])) for v in protocol.reals},
                                   {v: float(np.mean(scores[v])) for v in protocol.source},
                                   args.bootstrap, seed)
        cells = [summary["all"], summary["families"]["modern"], summary["families"]["classic"]]
        fa = summary["false_alarms_at_0.5"]
        print(f"| {mu:g} | " + " | ".join(f"{m['auc']:.3f} [{m['low']:.2f}, {m['high']:.2f}]" for m in cells)
              + f" | {fa['flagged']} / {fa['of']} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
