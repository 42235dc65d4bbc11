"""Protocols that cannot leak identity, pooled metrics, and the identity-vs-label measures,
on small hand-made video sets (no TensorFlow)."""

import math

import numpy as np
import pytest

from tfdeepfake.evaluation.protocols import (
    PROTOCOLS,
    Fold,
    VideoInfo,
    check_folds,
    fold_counts,
    identity_confound,
    identity_disjoint_leave_one_video_out,
    identity_leaks,
    leave_one_dataset_out,
    leave_one_video_out,
    linear_probe_lovo,
    nearest_neighbour_confound,
    pooled_video_metrics,
    video_means,
)


def ffpp_like():
    """Shaped like ../shared/data/videos: FF++ originals with fakes that target them (and
    carry their source's face), one fake whose original is absent; DFDC videos, each its
    own person."""
    v = [VideoInfo("ffpp/real/519", 0, "ffpp", frozenset({"ffpp:519"})),
         VideoInfo("ffpp/real/634", 0, "ffpp", frozenset({"ffpp:634"})),
         VideoInfo("ffpp/fake/DF_519_515", 1, "ffpp", frozenset({"ffpp:519", "ffpp:515"}),
                   "ffpp:519"),
         VideoInfo("ffpp/fake/FS_634_660", 1, "ffpp", frozenset({"ffpp:634", "ffpp:660"}),
                   "ffpp:634"),
         VideoInfo("ffpp/fake/F2F_750_743", 1, "ffpp", frozenset({"ffpp:750", "ffpp:743"}),
                   "ffpp:750"),
         # a second fake of a source person: shares 515 with DF_519_515 only
         VideoInfo("ffpp/fake/DF_900_515", 1, "ffpp", frozenset({"ffpp:900", "ffpp:515"}),
                   "ffpp:900"),
         VideoInfo("dfdc/real/a", 0, "dfdc", frozenset({"dfdc:a"})),
         VideoInfo("dfdc/real/b", 0, "dfdc", frozenset({"dfdc:b"})),
         VideoInfo("dfdc/fake/c", 1, "dfdc", frozenset({"dfdc:x"}))]
    return v


def test_identity_disjoint_folds_never_train_on_a_test_person():
    videos = ffpp_like()
    folds = identity_disjoint_leave_one_video_out(videos)
    check_folds(folds, videos)
    assert len(folds) == len(videos)
    for fold in folds:
        assert identity_leaks(fold, videos) == []
        # nothing is dropped that did not have to be: all others are in training
        assert len(fold.train) + len(fold.excluded) + 1 == len(videos)
    by_test = {f.test[0]: f for f in folds}
    assert set(by_test["ffpp/real/519"].excluded) == {"ffpp/fake/DF_519_515"}
    assert set(by_test["ffpp/fake/DF_519_515"].excluded) == {"ffpp/real/519",
                                                             "ffpp/fake/DF_900_515"}
    assert by_test["dfdc/real/a"].excluded == ()


def test_plain_leave_one_video_out_leaks_and_the_check_says_where():
    videos = ffpp_like()
    folds = leave_one_video_out(videos)
    check_folds(folds, videos)
    leaky = {f.test[0]: identity_leaks(f, videos) for f in folds}
    assert leaky["ffpp/real/519"] == [("ffpp/real/519", "ffpp/fake/DF_519_515", "ffpp:519")]
    assert leaky["dfdc/real/a"] == []


def test_leave_one_dataset_out_covers_every_dataset_once():
    videos = ffpp_like() + [VideoInfo("celebdf/real/z", 0, "celebdf", frozenset({"c:z"}))]
    folds = leave_one_dataset_out(videos)
    check_folds(folds, videos)
    assert sorted(f.name for f in folds) == ["celebdf", "dfdc", "ffpp"]
    by_name = {f.name: f for f in folds}
    for name, fold in by_name.items():
        assert {v.dataset for v in videos if v.video_id in fold.test} == {name}
        assert name not in {v.dataset for v in videos if v.video_id in fold.train}
    assert fold_counts(by_name["dfdc"], videos) == {
        "train": {"real": 3, "fake": 4}, "test": {"real": 2, "fake": 1}, "excluded": 0}
    with pytest.raises(ValueError, match="2 datasets"):
        leave_one_dataset_out([v for v in videos if v.dataset == "ffpp"])


def test_bad_inputs_are_refused():
    videos = ffpp_like()
    with pytest.raises(ValueError, match="unique"):
        leave_one_video_out(videos + videos[:1])
    with pytest.raises(ValueError, match="tested exactly once"):
        check_folds([Fold("x", (), (videos[0].video_id,))], videos)
    with pytest.raises(ValueError, match="label"):
        VideoInfo("v", 2, "d", frozenset())
    assert set(PROTOCOLS) == {"lovo", "identity_lovo", "lodo", "identity_lpo"}
    # a video without known people is its own person
    assert VideoInfo("v", 0, "d", frozenset()).identities == {"v"}


def test_pooled_metrics_and_intervals():
    labels = [0, 0, 0, 1, 1, 1]
    scores = [0.1, 0.2, 0.7, 0.6, 0.8, 0.9]
    m = pooled_video_metrics(labels, scores, n_boot=200)
    assert m["auc"] == pytest.approx(8 / 9)
    assert (m["tp"], m["fp"], m["tn"], m["fn"]) == (3, 1, 2, 0)
    assert m["accuracy"] == pytest.approx(5 / 6)
    assert m["ci"]["auc"]["low"] <= m["auc"] <= m["ci"]["auc"]["high"]
    assert m["ci"]["accuracy"]["high"] <= 1.0 and m["ci"]["accuracy"]["low"] < 5 / 6
    one_class = pooled_video_metrics([0, 0], [0.2, 0.7], n_boot=50)
    assert math.isnan(one_class["auc"]) and one_class["fp"] == 1
    assert one_class["ci"]["accuracy"]["used"] == 50


def planted(seed=0, people=6, frames=8, dim=16):
    """Each person has a real and a fake video; frames = person centre + small noise, the
    label adds only a tiny shift: an embedding that encodes who, not whether."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(people, dim)) * 3.0
    shift = rng.normal(size=dim) * 0.05
    feats, vids, videos = [], [], []
    for p in range(people):
        for label in (0, 1):
            vid = f"d{p % 2}/{'fake' if label else 'real'}/{p}"
            x = centres[p] + label * shift + rng.normal(scale=0.3, size=(frames, dim))
            feats.append(x / np.linalg.norm(x, axis=1, keepdims=True))
            vids += [vid] * frames
            videos.append(VideoInfo(vid, label, f"d{p % 2}", frozenset({f"p{p}"})))
    return np.concatenate(feats), np.array(vids), videos


def test_a_planted_identity_confound_is_detected():
    features, video_ids, videos = planted()
    report = identity_confound(features, video_ids, videos)
    nn = report["nearest_neighbour"]
    assert nn["same_identity"]["count"] == nn["n"] == 12
    assert nn["same_label"]["count"] == 0  # the nearest video is the other label's twin
    pairs = report["pairwise"]
    assert pairs["same_identity"]["auc"] == 1.0 and pairs["same_identity"]["positive_pairs"] == 6
    assert pairs["same_label"]["auc"] < 0.6
    assert report["probe_identity"]["accuracy"] == 1.0 and report["probe_identity"]["n"] == 12
    assert report["probe_label"]["accuracy"] <= 0.5


def test_no_confound_when_the_label_organises_the_embedding():
    rng = np.random.default_rng(1)
    centres = {0: rng.normal(size=16) * 3, 1: rng.normal(size=16) * 3}
    feats, vids, videos = [], [], []
    for i in range(8):
        label = i % 2
        vid = f"d/{i}"
        x = centres[label] + rng.normal(scale=0.5, size=(6, 16))
        feats.append(x)
        vids += [vid] * 6
        videos.append(VideoInfo(vid, label, "d", frozenset({f"p{i}"})))
    report = identity_confound(np.concatenate(feats), np.array(vids), videos)
    assert report["nearest_neighbour"]["same_label"]["rate"] == 1.0
    assert report["nearest_neighbour"]["same_identity"]["count"] == 0
    assert report["pairwise"]["same_label"]["auc"] == 1.0
    assert report["probe_label"]["accuracy"] == 1.0
    assert report["probe_identity"]["n"] == 0  # nobody appears twice: nothing to probe


def test_video_means_and_probe_edge_cases():
    ids, means = video_means(np.array([[3.0, 0], [1.0, 0], [0, 2.0]]), ["b", "b", "a"])
    assert ids.tolist() == ["a", "b"]
    np.testing.assert_allclose(means, [[0, 1], [1, 0]])
    probe = linear_probe_lovo(np.eye(3), ["a", "b", "c"], {"a": "x", "b": "y", "c": "z"})
    assert probe["correct"] == 0  # every class is unseen when its only video is held out
    with pytest.raises(ValueError, match="no target"):
        linear_probe_lovo(np.eye(2), ["a", "b"], {"a": "x"})
    with pytest.raises(ValueError, match="one mean per video"):
        nearest_neighbour_confound(np.eye(2), ffpp_like())


def test_identity_components_link_videos_through_shared_people():
    from tfdeepfake.evaluation.protocols import identity_components

    groups = identity_components(ffpp_like())
    # 519 <- DF_519_515 -> 515 <- DF_900_515: one group; 634 with its fake; DFDC apart
    assert (groups["ffpp/real/519"] == groups["ffpp/fake/DF_519_515"]
            == groups["ffpp/fake/DF_900_515"])
    assert groups["ffpp/real/634"] == groups["ffpp/fake/FS_634_660"] != groups["ffpp/real/519"]
    assert len({groups["dfdc/real/a"], groups["dfdc/real/b"], groups["dfdc/fake/c"]}) == 3


def test_leave_pair_out_folds_and_auc():
    from tfdeepfake.evaluation.protocols import identity_disjoint_leave_pair_out, pair_auc

    videos = ffpp_like()
    folds = identity_disjoint_leave_pair_out(videos)
    check_folds(folds, videos, pairs=True)
    assert len(folds) == 4 * 5
    assert all(identity_leaks(f, videos) == [] for f in folds)
    pair = next(f for f in folds if f.test == ("ffpp/real/519", "ffpp/fake/DF_519_515"))
    assert pair.excluded == ("ffpp/fake/DF_900_515",)  # shares the source 515
    with pytest.raises(ValueError, match="pair must be tested exactly once"):
        check_folds(folds[1:], videos, pairs=True)
    wins = np.array([[1.0, 0.0, 0.5], [1.0, 1.0, np.nan]])
    result = pair_auc(wins, n_boot=200)
    assert result["auc"] == pytest.approx(3.5 / 5) and result["pairs"] == 5
    assert 0.0 <= result["ci"]["auc"]["low"] <= result["auc"] <= result["ci"]["auc"]["high"] <= 1
    with pytest.raises(ValueError, match="non-empty"):
        pair_auc(np.full((2, 2), np.nan))


def test_a_featureless_scorer_is_at_zero_under_pooled_leave_one_out_and_half_under_pairs():
    """Why leave-pair-out is reported: scoring every video by the share of fakes in its
    training set carries no information, yet pooled leave-one-out gives it AUC 0."""
    from tfdeepfake.evaluation.protocols import identity_disjoint_leave_pair_out, pair_auc

    videos = ffpp_like()
    label = {v.video_id: v.label for v in videos}

    def prior(fold):
        return np.mean([label[i] for i in fold.train])

    lovo = {f.test[0]: prior(f) for f in leave_one_video_out(videos)}
    ids = sorted(lovo)
    assert pooled_video_metrics([label[i] for i in ids], [lovo[i] for i in ids],
                                n_boot=10)["auc"] == 0.0
    folds = identity_disjoint_leave_pair_out(videos)
    reals = sorted({f.test[0] for f in folds})
    fakes = sorted({f.test[1] for f in folds})
    wins = np.full((len(reals), len(fakes)), 0.5)  # one model scores both videos alike
    assert pair_auc(wins, n_boot=10)["auc"] == 0.5
    # ... but a scorer that knows each dataset's base rate in training is pushed below 0.5:
    # a pair's real lowers its own dataset's real share, its fake its own fake share
    two = [VideoInfo(f"{d}/{k}{i}", int(k == "f"), d, frozenset({f"{d}{k}{i}"}))
           for d in ("a", "b") for k in ("r", "f") for i in (0, 1)]
    by_id = {v.video_id: v for v in two}
    folds = identity_disjoint_leave_pair_out(two)
    reals = sorted({f.test[0] for f in folds})
    fakes = sorted({f.test[1] for f in folds})
    wins = np.zeros((4, 4))
    for fold in folds:
        share = {d: np.mean([by_id[i].label for i in fold.train if by_id[i].dataset == d])
                 for d in ("a", "b")}
        s_r, s_f = (share[by_id[v].dataset] for v in fold.test)
        wins[reals.index(fold.test[0]), fakes.index(fold.test[1])] = (
            1.0 if s_f > s_r else 0.5 if s_f == s_r else 0.0)
    # the 8 cross-dataset pairs are all lost, the 8 within-dataset pairs tie
    assert pair_auc(wins, n_boot=10)["auc"] == 0.25
