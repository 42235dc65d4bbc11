"""The poster's experiments, regenerated with one call (``tfdeepfake reproduce``).

``reproduce(v1_root, v2_root, out_dir)`` indexes Celeb-DF v1 and v1 + v2 merged, extracts
faces, embeds them with FaceNet where an experiment trains on embeddings, trains every
experiment's detector from its config (``tfdeepfake/configs/*.yaml``), evaluates it on the
official test lists and writes ``out_dir/poster_tables.md``: the poster's numbers beside ours,
with figures and ``poster_results.json`` (everything, with seed, versions and timings).

- ``config``: the YAML schema (``ExperimentConfig``, ``load_experiment_config``, quick overrides);
- ``data``: generated videos (quick), index, extract, embed;
- ``steps``: timed steps and the records that make reruns continue;
- ``runner``: ``reproduce`` and one experiment's train + evaluate;
- ``tables``: the Markdown tables.

``quick=True`` runs the same steps on generated videos laid out like Celeb-DF v1 and v2
(``tfdeepfake.synthetic.celebdf``) with the tiny sizes of ``configs/quick.yaml``: a smoke test
of the machinery in minutes on 2 CPU cores, **not** a reproduction; every output says so.
"""

from tfdeepfake.experiments.config import (
    DATASETS,
    EXPERIMENTS,
    ExperimentConfig,
    PosterRow,
    apply_overrides,
    config_dir,
    experiment_configs,
    load_experiment_config,
    load_quick_overrides,
    parse_experiment_config,
)
from tfdeepfake.experiments.data import RANDOM_FACENET_NOTE

# The runner and tables import the evaluation stack (scikit-learn); loaded on first use so
# `tfdeepfake --help` (which lists EXPERIMENTS) stays quick.
_LAZY = {"DEFAULT_INDEX_OPTIONS": "runner", "reproduce": "runner", "QUICK_NOTE": "tables",
         "RANDOM_XCEPTION_NOTE": "tables"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DATASETS",
    "DEFAULT_INDEX_OPTIONS",
    "EXPERIMENTS",
    "ExperimentConfig",
    "PosterRow",
    "QUICK_NOTE",
    "RANDOM_FACENET_NOTE",
    "RANDOM_XCEPTION_NOTE",
    "apply_overrides",
    "config_dir",
    "experiment_configs",
    "load_experiment_config",
    "load_quick_overrides",
    "parse_experiment_config",
    "reproduce",
]
