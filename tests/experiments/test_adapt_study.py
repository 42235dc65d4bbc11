"""The adaptation study's bookkeeping (experiments/adapt_study.py): sources, AUCs, tables."""

from types import SimpleNamespace

import pytest

from tfdeepfake.experiments.adapt_study import (COMBINATIONS, POOLED, _auc, markdown,
                                                 mean_auc_interval, source_of, summarise)


def video(video_id, method=None, dataset="shared"):
    return SimpleNamespace(video_id=video_id, attrs={"method": method}, dataset=dataset)


def test_a_modern_fake_and_its_genuine_input_share_a_source():
    assert source_of(video("shared/fake_modern/LatentSync-ale701__out", "modern:LatentSync")) == \
        source_of(video("shared/fake_modern_inputs/latentsync__demo", "modern_inputs")) == \
        "repo:latentsync"
    assert source_of(video("shared/ffpp_c23/fake/x", "ffpp")) == "ffpp"
    assert source_of(video("shared/real_more/lia__d1", "real_more:wyhsirius/LIA")) == \
        "real_more:wyhsirius/LIA"


def test_the_pairwise_auc_counts_ties_half():
    assert _auc([0.1, 0.2], [0.3, 0.4]) == 1.0
    assert _auc([0.5], [0.5]) == 0.5
    assert _auc([0.1, 0.6], [0.5]) == 0.5


def test_mean_auc_is_the_mean_over_sources_with_an_interval_around_it():
    labels = {"a0": 0, "a1": 1, "a2": 1, "b0": 0, "b1": 0, "b2": 1}
    scores = {"a": {"a0": 0.1, "a1": 0.9, "a2": 0.8}, "b": {"b0": 0.7, "b1": 0.2, "b2": 0.5}}
    result = mean_auc_interval(scores, labels, n_boot=200, seed=0)
    assert result["sources"] == {"a": 1.0, "b": 0.5}
    assert result["mean"] == 0.75
    assert 0.0 <= result["low"] <= result["mean"] <= result["high"] <= 1.0


def test_summarise_counts_false_alarms_at_each_runs_own_threshold():
    labels = {"m0": 0, "m1": 1, "r0": 0, "r1": 0}

    def run(scores, threshold):
        table = {c: {"scores": scores, "threshold": threshold} for c in COMBINATIONS}
        return {"transductive": table, "inductive": table}

    runs = {"mixed|0": run({"m0": 0.6, "m1": 0.9}, 0.5),
            "reals|0": run({"r0": 0.4, "r1": 0.7}, 0.65),
            f"{POOLED}|0": run({"m0": 0.6, "m1": 0.9}, 0.7)}
    results = summarise(runs, labels, ["mixed"], ["reals"], [0], n_boot=50)
    row = results["protocols"]["transductive"]["none"]["seeds"][0]
    assert row["mean"] == 1.0
    assert (row["false_alarms"], row["genuine"]) == (2, 3)  # m0 at 0.5, r1 at 0.65
    assert (row["fakes_caught"], row["fakes"]) == (1, 1)
    pooled = results["pooled"]["inductive"]["none"]["seeds"][0]
    assert (pooled["false_alarms"], pooled["genuine"]) == (0, 1)
    assert (pooled["fakes_caught"], pooled["fakes"]) == (1, 1)
    table = markdown(results)
    assert "| none | 1.000 (1.000) |" in table and "pooled" in table


def test_a_seed_missing_from_the_runs_is_an_error_not_a_silent_gap():
    with pytest.raises(KeyError):
        summarise({}, {}, ["mixed"], [], [0], n_boot=10)


def test_only_the_combinations_every_run_holds_are_tabled():
    """A study run with --combination (self-blend, say) tables those and the reference, not
    empty rows for the methods it skipped."""
    labels = {"m0": 0, "m1": 1}
    kept = ("none", "self-blend", "self-blend+threshold")
    table = {c: {"scores": {"m0": 0.2, "m1": 0.9}, "threshold": 0.5} for c in kept}
    runs = {f"{s}|0": {"transductive": table, "inductive": table} for s in ("mixed", POOLED)}
    results = summarise(runs, labels, ["mixed"], [], [0], n_boot=20)
    assert list(results["protocols"]["inductive"]) == list(kept)
    assert list(results["pooled"]["transductive"]) == list(kept)
    assert "| self-blend+threshold | 1.000 (1.000) |" in markdown(results)
