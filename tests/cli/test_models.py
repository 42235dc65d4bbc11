"""`tfdeepfake train` options as cli/models.py builds them from each detector's config."""

import argparse

from tfdeepfake.cli import build_parser
from tfdeepfake.cli.common import dataclass_from_args


def _train_help(name: str) -> str:
    train = build_parser()._subparsers._group_actions[0].choices["train"]
    return train._subparsers._group_actions[0].choices[name].format_help()


def test_train_sbi_help_claims_no_poster_defaults_and_hides_test_only_options():
    sbi = _train_help("sbi")
    assert "the poster's" not in sbi and "\ntraining:" in sbi
    assert "--random-init" not in sbi  # test-only: works, but is not offered
    assert "training (defaults: the poster's where it gives them)" in _train_help("triplet")


def test_random_init_still_parses():
    args = build_parser().parse_args(["train", "sbi", "c.h5", "-o", "m", "--random-init"])
    assert args.cfg_random_init is True


def test_early_stopping_can_be_turned_off():
    from tfdeepfake.detectors.sbi_training import SBITrainingConfig

    parser = build_parser()
    args = parser.parse_args(["train", "sbi", "c.h5", "-o", "m", "--patience", "none"])
    assert dataclass_from_args(SBITrainingConfig, args, prefix="cfg_").patience is None
    args = parser.parse_args(["train", "sbi", "c.h5", "-o", "m", "--patience", "3"])
    assert dataclass_from_args(SBITrainingConfig, args, prefix="cfg_").patience == 3
    assert "none: no early stopping" in " ".join(_train_help("sbi").split())
    args = parser.parse_args(["train", "xception", "c.h5", "-o", "m",
                              "--early-stopping-patience", "None"])
    assert args.cfg_early_stopping_patience is None
    assert isinstance(parser, argparse.ArgumentParser)
