"""Frame classifiers fitted on triplet-head outputs: KNN, SGD (logistic), random forest.

Each is saved as numpy arrays plus JSON (``save_classifier`` / ``load_classifier``),
never pickled; see DEVELOPERS.md, "Classifier arrays".
"""

from __future__ import annotations

from tfdeepfake.classifiers.base import FrameClassifier, load_classifier, save_classifier
from tfdeepfake.classifiers.forest import RandomForestFrameClassifier
from tfdeepfake.classifiers.knn import KnnFrameClassifier
from tfdeepfake.classifiers.sgd import SgdFrameClassifier

CLASSIFIERS: dict[str, type[FrameClassifier]] = {
    "knn": KnnFrameClassifier,
    "sgd": SgdFrameClassifier,
    "rf": RandomForestFrameClassifier,
}


def get_classifier_class(name: str) -> type[FrameClassifier]:
    """The classifier class called ``name``; ``ValueError`` lists the valid names."""
    try:
        return CLASSIFIERS[name]
    except KeyError:
        raise ValueError(
            f"unknown classifier {name!r}; valid: {', '.join(sorted(CLASSIFIERS))}"
        ) from None


def make_classifier(name: str, **params) -> FrameClassifier:
    """An unfitted classifier, e.g. ``make_classifier("knn", k=10)``."""
    return get_classifier_class(name)(**params)


__all__ = [
    "CLASSIFIERS",
    "FrameClassifier",
    "KnnFrameClassifier",
    "RandomForestFrameClassifier",
    "SgdFrameClassifier",
    "get_classifier_class",
    "load_classifier",
    "make_classifier",
    "save_classifier",
]
