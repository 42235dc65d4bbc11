"""Types and ranges of every ``model.json`` key, checked in one place when a folder is read.

``ModelFolder.read_meta`` runs ``validate_meta`` on every folder it reads, before any
network is built: a hand-edited ``"embedding_dim": 1000000000000`` or ``"margin": NaN``
is one line naming the file and the key, not a ``ResourceExhaustedError`` or a failure on
every frame. Only keys that are present are checked: a key a detector needs but that is
absent is its own ``from_folder``'s "is missing" line, and keys this version does not know
are let through (a newer tfdeepfake may add some). Cross-key checks (``default_classifier``
among ``classifiers``, ``input_dim`` matching the FaceNet) stay in each detector.

Choices that live in TensorFlow modules (sbi backbones, LSTM features) are imported only
when a folder of that detector is checked, so reading a folder costs no TensorFlow import
unless the folder needs it.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

# Sizes a real network of this toolkit stays far below; above them a typo builds a network
# that exhausts memory instead of failing.
MAX_UNITS = 4096
MAX_INPUT_SIZE = 1024
MAX_FRAMES = 10_000
MAX_SEED = 2**32 - 1  # NumPy's seeds: non-negative and 32-bit


@dataclasses.dataclass(frozen=True)
class Rule:
    """What one key must hold: ``test`` on the value, then (for lists and JSON objects) the
    items or known keys inside it, each with its own rule."""

    what: str | Callable[[], str]  # "an integer in 1..4096"; a callable for lazy choices
    test: Callable[[Any], bool]
    items: "Rule | None" = None  # each item of a list, or each value of a JSON object
    keys: Mapping[str, "Rule"] | None = None  # the known keys of a JSON object
    branches: tuple["Rule", ...] = ()  # either(): the first that fits checks the inside

    def describe(self) -> str:
        return self.what() if callable(self.what) else self.what


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    # json.loads reads NaN and Infinity: refused here, they poison every score.
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def integer(low: int, high: int) -> Rule:
    return Rule(f"an integer in {low}..{high}", lambda v: _is_int(v) and low <= v <= high)


def number(low: float | None = None, high: float | None = None, *, open_low: bool = False,
           open_high: bool = False) -> Rule:
    def test(v):
        return (_is_number(v) and (low is None or (v > low if open_low else v >= low))
                and (high is None or (v < high if open_high else v <= high)))

    if low is None and high is None:
        return Rule("a finite number", test)
    left, right = "(" if open_low else "[", ")" if open_high else "]"
    return Rule(f"a number in {left}{low:g}, {high:g}{right}", test)


def text(choices: Callable[[], Sequence[str]] | None = None) -> Rule:
    if choices is None:
        return Rule("a string", lambda v: isinstance(v, str))
    return Rule(lambda: f"one of {', '.join(choices())}",
                lambda v: isinstance(v, str) and v in choices())


BOOLEAN = Rule("true or false", lambda v: isinstance(v, bool))
MAPPING = Rule("a JSON object", lambda v: isinstance(v, dict))
SEED = integer(0, MAX_SEED)
RATE = number(0, 1, open_high=True)  # Keras' Dropout rate
UNIT = number(0, 1)
SIZE = integer(32, MAX_INPUT_SIZE)
WIDTH = integer(1, MAX_UNITS)


def section(**keys: Rule) -> Rule:
    return Rule("a JSON object", lambda v: isinstance(v, dict), keys=keys)


def mapping_of(rule: Rule) -> Rule:
    return Rule("a JSON object", lambda v: isinstance(v, dict), items=rule)


def list_of(rule: Rule, *, low: int = 0, high: int | None = None) -> Rule:
    def test(v):
        return isinstance(v, list) and len(v) >= low and (high is None or len(v) <= high)

    what = "a non-empty list" if low == 1 and high is None else "a list"
    if high is not None:
        what = f"a list of {low}..{high} items"
    return Rule(what, test, items=rule)


def nullable(rule: Rule) -> Rule:
    return Rule(lambda: f"{rule.describe()} or null", lambda v: v is None or rule.test(v),
                rule.items, rule.keys)


def either(*rules: Rule) -> Rule:
    """The first of ``rules`` whose own test passes decides the value's inner checks."""
    return Rule(lambda: " or ".join(r.describe() for r in rules),
                lambda v: any(r.test(v) for r in rules), branches=rules)


# -- the choices, imported where they are defined (no copies to drift) --------------------


def _detector_names():
    from tfdeepfake.detectors import DETECTOR_NAMES

    return DETECTOR_NAMES


def _aggregations():
    from tfdeepfake.scoring import AGGREGATIONS

    return tuple(AGGREGATIONS)


def _sampling_modes():
    from tfdeepfake.video.sampling import SAMPLING_MODES

    return tuple(SAMPLING_MODES)


def _face_policies():
    from tfdeepfake.faces.boxes import FACE_POLICIES

    return tuple(FACE_POLICIES)


def _facenet_models():
    from tfdeepfake.models.facenet_specs import FACENET_MODELS

    return tuple(sorted(FACENET_MODELS))


def _classifiers():
    from tfdeepfake.classifiers import CLASSIFIERS

    return tuple(CLASSIFIERS)


def _lstm_features():
    from tfdeepfake.models.train_baselines import LSTM_FEATURES

    return tuple(LSTM_FEATURES)


def _sbi_backbones():
    from tfdeepfake.models.sbi_classifier import BACKBONES

    return tuple(BACKBONES)


def _trainable_from():
    from tfdeepfake.models.sbi_classifier import TRAINABLE_FROM

    return tuple(TRAINABLE_FROM)


def _trained_layer_dtypes():
    from tfdeepfake.detectors.trained_layers import DTYPES

    return tuple(DTYPES)


# -- the schema ---------------------------------------------------------------------------

FACE_SETTINGS = section(
    num_frames=integer(1, MAX_FRAMES), sampling=text(_sampling_modes),
    stride=nullable(integer(1, MAX_FRAMES)), face_policy=text(_face_policies),
    # Total fraction added around the box (faces/boxes.expand_box); 10 is an 11x crop,
    # a negative one crops inside the box.
    margin=number(-1, 10, open_low=True), square=BOOLEAN, size=SIZE,
    detector=section(min_confidence=UNIT, detect_short_side=integer(0, 100_000),
                     min_face_size=integer(12, 20), batch_size=integer(1, 4096),
                     key_frame_interval=integer(1, MAX_FRAMES),
                     retry_short_sides=list_of(integer(0, 100_000), high=16)),
)

FACENET = nullable(section(
    model=text(_facenet_models), random_init=BOOLEAN, seed=nullable(SEED),
    weights_sha256=nullable(text()), probe=list_of(number(), low=1, high=64)))

CALIBRATION = section(
    false_positive_rate=number(0, 1, open_low=True, open_high=True),
    # detect's genuine_share reads these: one list of video scores per variant.
    real_scores=mapping_of(list_of(UNIT)), real_videos=list_of(text()),
    skipped=list_of(MAPPING), thresholds=list_of(MAPPING), rule=text(), date=text())

COMMON = {
    "detector": text(_detector_names),
    "created": text(),
    "face_settings": FACE_SETTINGS,
    "facenet": FACENET,
    "threshold": UNIT,
    "aggregation": text(_aggregations),
    "seed": SEED,
    "training": MAPPING,
    "data": MAPPING,
    "labels": MAPPING,
    "versions": MAPPING,
    "calibration": CALIBRATION,
}

BY_DETECTOR: dict[str, dict[str, Rule]] = {
    "triplet": {
        "head": section(input_dim=WIDTH, hidden_units=list_of(WIDTH, high=16),
                        embedding_dim=WIDTH, dropout=RATE, weights=text()),
        "classifiers": list_of(text(_classifiers), low=1),
        "default_classifier": text(_classifiers),
        "thresholds": mapping_of(UNIT),
        # A tuned backbone (detectors/tuned_backbone.py); absent or null: FaceNet.
        "backbone": nullable(section(folder=text(), kind=text(lambda: ("sbi",)),
                                     embedding_dim=WIDTH, input_size=SIZE, source=text())),
    },
    "xception": {
        "input_size": SIZE, "dropout": RATE, "weights": text(), "weights_source": nullable(MAPPING),
    },
    "lstm": {
        "features": text(_lstm_features), "num_frames": integer(1, MAX_FRAMES),
        "feature_dim": WIDTH, "units": WIDTH, "dropout": RATE, "weights": text(),
        "extractor": nullable(section(weights=text(), input_size=SIZE,
                                      weights_source=nullable(MAPPING))),
    },
    "sbi": {
        "input_size": SIZE,
        # A file of the whole network, or (write_trained_only) its trained layers only.
        "weights": either(text(), section(file=text(), base=text(lambda: ("facenet",)),
                                          dtype=text(_trained_layer_dtypes), layers=text())),
        "backbone": section(kind=text(_sbi_backbones), trainable_from=text(_trainable_from),
                            dropout=RATE, facenet_model=nullable(text(_facenet_models)),
                            texture=nullable(section(layer=text(), weight=UNIT,
                                                     region_layers=mapping_of(text())))),
        "self_blend": MAPPING,
        "texture_head": MAPPING,
    },
}


def _shown(value) -> str:
    shown = repr(value)
    return shown if len(shown) <= 60 else shown[:57] + "..."


def _check(value, rule: Rule, key: str, where) -> None:
    from tfdeepfake.detectors.checks import ModelFolderError

    if not rule.test(value):
        raise ModelFolderError(f"{where}: key {key!r} should be {rule.describe()}, found "
                               f"{_shown(value)}")
    if rule.branches:
        return _check(value, next(r for r in rule.branches if r.test(value)), key, where)
    if isinstance(value, dict) and rule.keys:
        for name, inner in rule.keys.items():
            if name in value:
                _check(value[name], inner, f"{key}.{name}", where)
    if rule.items is not None:
        if isinstance(value, list):
            for i, item in enumerate(value):
                _check(item, rule.items, f"{key}[{i}]", where)
        elif isinstance(value, dict):
            for name, item in value.items():
                _check(item, rule.items, f"{key}.{name}", where)


def validate_meta(meta: Mapping[str, Any], where: Path | str) -> None:
    """Every known key present in ``meta`` (a ``model.json``) checked for type and range;
    the first bad one is a ``ModelFolderError``: ``<file>: key 'head.embedding_dim' should
    be an integer in 1..4096, found 1000000000000``."""
    for name, rule in COMMON.items():
        if name in meta:
            _check(meta[name], rule, name, where)
    # After the check above ``detector`` is absent or a known name.
    for name, rule in BY_DETECTOR.get(meta.get("detector"), {}).items():
        if name in meta:
            _check(meta[name], rule, name, where)


__all__ = ["BY_DETECTOR", "COMMON", "Rule", "validate_meta"]
