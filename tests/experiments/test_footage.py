"""The footage experiment end to end on a few generated clips laid out like
../shared/data/videos (FF++-style names, DFDC metadata, real_only/), with a tiny
random-init stand-in for FaceNet: every output must say RANDOM INIT."""

import json
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest

from tfdeepfake.experiments.footage import index_footage, main, prepare_embeddings, run_footage
from tfdeepfake.experiments.footage_methods import METHODS
from tfdeepfake.experiments.footage_report import RANDOM_BANNER
from tfdeepfake.experiments.steps import Steps
from tfdeepfake.faces.settings import FaceSettings


def _link(target: Path, link: Path) -> None:
    link.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(target, link)


def make_footage(root: Path) -> Path:
    """3 real + 3 fake generated clips arranged as the shared folder is: an FF++ original of
    person 000 and a Deepfakes fake named 000_515 (target 000, source 515); DFDC clips with a
    metadata file naming one fake's original (present) and another's (absent); one real-only
    clip. The names are assigned here; the generated faces only need to be detectable."""
    from tfdeepfake.synthetic import make_synthetic_dataset

    gen = make_synthetic_dataset(root / "generated", num_real=3, num_fake=3, seconds=0.5,
                                 fps=8, size=(160, 120), num_identities=2, workers=1)
    videos = root / "videos"
    _link(gen / "real/real_000.mp4", videos / "ffpp_c23/real/original_youtube_c23_000.mp4")
    _link(gen / "fake/fake_000.mp4", videos / "ffpp_c23/fake/Deepfakes_c23_000_515.mp4")
    _link(gen / "real/real_001.mp4", videos / "dfdc/real/aaaaaaaaaa.mp4")
    _link(gen / "fake/fake_001.mp4", videos / "dfdc/fake/bbbbbbbbbb.mp4")
    _link(gen / "fake/fake_002.mp4", videos / "dfdc/fake/cccccccccc.mp4")
    (videos / "dfdc/metadata").mkdir()
    (videos / "dfdc/metadata/part_0_metadata.json").write_text(json.dumps({
        "bbbbbbbbbb.mp4": {"label": "FAKE", "split": "train", "original": "aaaaaaaaaa.mp4"},
        "cccccccccc.mp4": {"label": "FAKE", "split": "train", "original": "zzzzzzzzzz.mp4"}}))
    _link(gen / "real/real_002.mp4", videos / "real_only/someone.mp4")
    return videos


@pytest.fixture(scope="module")
def footage(tmp_path_factory):
    from tests.export.export_helpers import tiny_facenet

    root = tmp_path_factory.mktemp("footage")
    videos = make_footage(root)
    embedder = tiny_facenet()
    results = run_footage(videos, root / "out", quick=True, n_boot=50, embedder=embedder)
    return videos, root / "out", results, embedder


def test_index_reads_labels_people_and_dfdc_originals(footage):
    videos, _, _, _ = footage
    labelled, extra, infos = index_footage(videos)
    by_id = {v.video_id: v for v in infos}
    assert len(labelled) == 5 and [r.video_id for r in extra] == ["real_only/someone"]
    assert {v.label for k, v in by_id.items() if "/real/" in k} == {0}
    assert {v.label for k, v in by_id.items() if "/fake/" in k} == {1}
    fake = by_id["ffpp_c23/fake/Deepfakes_c23_000_515"]
    assert fake.identities == {"ffpp:000", "ffpp:515"} and fake.group == "ffpp:000"
    assert by_id["ffpp_c23/real/original_youtube_c23_000"].identities == {"ffpp:000"}
    assert {r.method for r in labelled} == {None, "Deepfakes"}
    # a DFDC fake carries its original's person, named by the metadata
    assert by_id["dfdc/fake/bbbbbbbbbb"].identities == by_id["dfdc/real/aaaaaaaaaa"].identities
    assert by_id["dfdc/fake/cccccccccc"].identities == {"dfdc:zzzzzzzzzz"}


def test_every_protocol_scores_every_video_once_and_identity_folds_do_not_leak(footage):
    _, _, results, _ = footage
    infos = {v["video_id"]: v for v in results["videos"]}
    assert len(infos) == 5
    assert set(results["protocols"]) == {"lovo", "identity_lovo", "lodo", "identity_lpo"}
    for name, protocol in results["protocols"].items():
        seed = protocol["seeds"]["0"]
        assert set(seed["methods"]) == set(METHODS), name
        if protocol["pairs"]:
            assert len(protocol["folds"]) == 2 * 3
            # two pairs leave only one class to train on (everyone else shares a person)
            assert sorted(seed["skipped_folds"]) == [
                "dfdc/real/aaaaaaaaaa vs ffpp_c23/fake/Deepfakes_c23_000_515",
                "ffpp_c23/real/original_youtube_c23_000 vs dfdc/fake/bbbbbbbbbb"]
            for method, result in seed["methods"].items():
                assert result["metrics"]["pairs"] == 4, method
            assert seed["methods"]["prior"]["metrics"]["auc"] == 0.5
            assert not any(f["identity_leaks"] for f in protocol["folds"])
            continue
        for method, result in seed["methods"].items():
            assert set(result["scores"]) == set(infos), (name, method)
            assert result["metrics"]["n"] == 5 and result["metrics"]["n_fake"] == 3
            assert result["metrics"]["ci"]["auc"]["n"] == 50
        leaks = [f["identity_leaks"] for f in protocol["folds"]]
        if name == "identity_lovo":
            assert not any(leaks)
            excluded = {f["name"]: list(f["excluded"]) for f in protocol["folds"]}
            assert excluded["dfdc/real/aaaaaaaaaa"] == ["dfdc/fake/bbbbbbbbbb"]
            assert excluded["ffpp_c23/fake/Deepfakes_c23_000_515"] == [
                "ffpp_c23/real/original_youtube_c23_000"]
            assert excluded["dfdc/fake/cccccccccc"] == []
        if name == "lovo":
            assert any(leaks)  # plain LOVO does train on the test video's person
    assert sorted(f["name"] for f in results["protocols"]["lodo"]["folds"]) == ["dfdc", "ffpp_c23"]
    assert results["protocols"]["lovo"]["seeds"]["0"]["methods"]["prior"]["metrics"]["auc"] == 0.0
    assert results["real_only"]["0"]["triplet+rf"]["n"] == 1
    nn = results["confound"]["nearest_neighbour"]
    assert nn["n"] == 5 and len(nn["rows"]) == 5


def test_outputs_say_random_init(footage):
    _, out, results, _ = footage
    text = (out / "results.md").read_text()
    assert RANDOM_BANNER in text and "RANDOM INIT" in text and "QUICK MODE" in text
    assert "87.5%" in text and "NOT comparable" in text
    saved = json.loads((out / "results.json").read_text())
    assert saved["facenet"]["random_init"] is True and "RANDOM INIT" in saved["facenet"]["label"]
    assert "python -m tfdeepfake.experiments.footage" in saved["command"]


def test_a_rerun_reuses_the_caches_and_the_fits(footage):
    from tfdeepfake.cache.embeddings import load_embedding_table
    from tfdeepfake.experiments.footage import training_config
    from tfdeepfake.experiments.footage_methods import FoldFitter

    videos, out, results, embedder = footage
    labelled, extra, infos = index_footage(videos)
    steps = Steps()
    cache, _ = prepare_embeddings(labelled + extra, out, FaceSettings(num_frames=6), embedder,
                                  steps)
    assert [r["status"] for r in steps.rows] == ["skipped", "skipped"]
    fitter = FoldFitter(load_embedding_table(cache), infos, training_config(True),
                        val_fraction=0.15, run_root=out / "runs", source=cache.name)
    fitter._fit_and_score = None  # a fit would fail: the saved one must be read
    again = fitter.scores(sorted(v.video_id for v in infos), 0)
    assert set(again["methods"]) == set(METHODS)
    for method, scores in again["methods"].items():
        assert {v: s for v, s in scores.items() if v.startswith("real_only/")} == \
            results["real_only"]["0"][method]["scores"]


def test_the_command_refuses_to_run_without_pretrained_weights(footage, tmp_path, capsys):
    videos, _, _, _ = footage
    code = main(["--videos", str(videos), "--out", str(tmp_path / "o"), "--quick",
                 "--facenet-weights", str(tmp_path / "missing.h5")])
    assert code == 2
    assert "weights" in capsys.readouterr().err
    assert not (tmp_path / "o" / "results.md").exists()
