"""The generated face-swap set: real clips of identity-labelled photos and their face-swapped
twins, laid out so the footage experiment indexes them with both people of every fake.
Made here from the shipped photos and seeded variants of them (no shared data, no MTCNN)."""

import json

import numpy as np
import pytest

from tfdeepfake.constants import FAKE, REAL
from tfdeepfake.evaluation.protocols import PROTOCOLS
from tfdeepfake.experiments.footage import PEOPLE_FILE, index_footage, read_people_file
from tfdeepfake.experiments.generated_swaps import (MANIFEST, build_generated_swaps, find_people,
                                                    make_generated_swaps, partners)


def test_partners_pair_people_and_close_an_odd_set_with_a_cycle():
    assert partners(["b", "a", "d", "c"]) == {"a": "b", "b": "a", "c": "d", "d": "c"}
    odd = partners(["a", "b", "c", "d", "e"])
    assert odd == {"a": "b", "b": "a", "c": "d", "d": "e", "e": "c"}
    assert all(odd[p] != p for p in odd)
    with pytest.raises(ValueError, match="2 people"):
        partners(["alone"])


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    from tfdeepfake.synthetic import make_identities

    a, b, c, d, e, f = make_identities(6, seed=3)
    people = {"set_a": {"ann": a, "bob": b}, "set_b": {"cat": c, "dan": d, "eve": e}}
    root = tmp_path_factory.mktemp("genswaps")
    manifest = make_generated_swaps(people, root, real_only={"fay": f}, seconds=0.5, fps=8,
                                    size=(160, 120), seed=1)
    return root, manifest


def test_the_layout_lists_both_people_of_every_fake(generated):
    root, manifest = generated
    labelled, extra, infos = index_footage(root)
    by_id = {v.video_id: v for v in infos}
    assert len(labelled) == 10 and [r.video_id for r in extra] == ["real_only/fay"]
    assert sorted(by_id) == sorted(
        [f"set_a/real/{p}" for p in ("ann", "bob")] + ["set_a/fake/ann--bob", "set_a/fake/bob--ann"]
        + [f"set_b/real/{p}" for p in ("cat", "dan", "eve")]
        + ["set_b/fake/cat--dan", "set_b/fake/dan--eve", "set_b/fake/eve--cat"])
    fake = by_id["set_b/fake/dan--eve"]
    assert fake.label == FAKE and fake.dataset == "set_b"
    assert fake.identities == {"person:dan", "person:eve"} and fake.group == "person:dan"
    assert by_id["set_b/real/dan"].identities == {"person:dan"}
    assert by_id["set_b/real/dan"].label == REAL
    assert {r.method for r in labelled} == {None, "generated_faceswap"}
    # identity-disjoint folds drop the target's and the source's clips
    folds = {f.name: f for f in PROTOCOLS["identity_lovo"](infos)}
    assert sorted(folds["set_b/fake/dan--eve"].excluded) == [
        "set_b/fake/cat--dan", "set_b/fake/eve--cat", "set_b/real/dan", "set_b/real/eve"]
    assert sorted(folds["set_a/real/ann"].excluded) == ["set_a/fake/ann--bob",
                                                       "set_a/fake/bob--ann"]
    saved = json.loads((root / MANIFEST).read_text())
    assert len(saved["videos"]) == 11 and saved["settings"]["size"] == [160, 120]


def test_a_fake_is_its_real_twin_with_only_the_face_changed(generated):
    from tfdeepfake.video.reader import read_frames

    root, _ = generated
    real, _ = read_frames(root / "set_a/real/ann.mp4", [2])
    fake, _ = read_frames(root / "set_a/fake/ann--bob.mp4", [2])
    diff = np.abs(real[0].astype(np.float32) - fake[0].astype(np.float32)).mean(axis=2)
    changed = diff > 25
    assert changed.sum() > 200  # a face was pasted in
    ys, xs = np.nonzero(changed)
    # ... in one face-sized place (a few compression speckles aside); elsewhere the frames
    # are the same up to compression
    (x0, x1), (y0, y1) = np.percentile(xs, [2, 98]), np.percentile(ys, [2, 98])
    assert x1 - x0 < 60 and y1 - y0 < 60
    far = np.ones_like(changed)
    far[max(int(y0) - 15, 0):int(y1) + 15, max(int(x0) - 15, 0):int(x1) + 15] = False
    assert diff[far].mean() < 3 and changed[far].mean() < 0.01


def test_real_only_people_must_be_new(tmp_path):
    from tfdeepfake.synthetic import make_identities

    a, b = make_identities(2)
    with pytest.raises(ValueError, match="real-only"):
        make_generated_swaps({"s": {"ann": a, "bob": b}}, tmp_path, real_only={"ann": a},
                             seconds=0.25, fps=4, size=(160, 120))


def test_people_file_must_list_every_video_and_name_people(generated, tmp_path):
    root, _ = generated
    listed = read_people_file(root / "set_a")
    assert listed["set_a/fake/ann--bob.mp4".split("/", 1)[1]]["primary"] == "person:ann"
    assert read_people_file(tmp_path) is None
    copy = tmp_path / "videos"
    for rel in ("set_a/real/ann.mp4", "set_a/real/bob.mp4", "set_a/fake/ann--bob.mp4"):
        (copy / rel).parent.mkdir(parents=True, exist_ok=True)
        (copy / rel).symlink_to(root / rel)
    people = json.loads((root / "set_a" / PEOPLE_FILE).read_text())
    del people["videos"]["real/bob.mp4"]
    (copy / "set_a" / PEOPLE_FILE).write_text(json.dumps(people))
    with pytest.raises(ValueError, match=r"people.json: no entry for real/bob.mp4"):
        index_footage(copy)
    people["videos"]["real/bob.mp4"] = {"people": []}
    (copy / "set_a" / PEOPLE_FILE).write_text(json.dumps(people))
    with pytest.raises(ValueError, match=r"videos\['real/bob.mp4'\].people: expected a non-empty"):
        index_footage(copy)
    people["videos"]["real/bob.mp4"] = {"people": ["person:bob"], "primary": "person:ann"}
    (copy / "set_a" / PEOPLE_FILE).write_text(json.dumps(people))
    with pytest.raises(ValueError, match=r"\.primary: expected one of"):
        index_footage(copy)


def test_build_from_photo_folders_detects_faces_and_reuses_a_finished_set(tmp_path):
    """The command's path: photos on disk, MTCNN landmarks, group photos skipped; a rerun
    with the same photos renders nothing."""
    import cv2

    from tfdeepfake.synthetic import make_identities

    faces = tmp_path / "faces"
    for name, photo in zip(("ann", "bob", "new"), make_identities(3, seed=5)):
        folder = faces / ("extra" if name == "new" else "set") / name
        folder.mkdir(parents=True)
        cv2.imwrite(str(folder / "1.jpg"), cv2.cvtColor(np.asarray(photo.image), cv2.COLOR_RGB2BGR))
    (faces / "set" / "multi_face").mkdir()
    (faces / "set" / "multi_face" / "group.jpg").write_bytes(b"not read")
    assert list(find_people(faces / "set")) == ["ann", "bob"]
    out = tmp_path / "out"
    kwargs = dict(sets=["set"], real_only_sets=["extra"], seconds=0.25, fps=4, size=(160, 120))
    manifest = build_generated_swaps(faces, out, **kwargs)
    assert sorted(v["path"] for v in manifest["videos"]) == [
        "real_only/new.mp4", "set/fake/ann--bob.mp4", "set/fake/bob--ann.mp4",
        "set/real/ann.mp4", "set/real/bob.mp4"]
    stamp = (out / "set/fake/ann--bob.mp4").stat().st_mtime_ns
    again = build_generated_swaps(faces, out, **kwargs)
    assert again["videos"] == manifest["videos"]
    assert (out / "set/fake/ann--bob.mp4").stat().st_mtime_ns == stamp
    # another clip length is another set
    build_generated_swaps(faces, out, **{**kwargs, "seconds": 0.5})
    assert (out / "set/fake/ann--bob.mp4").stat().st_mtime_ns != stamp


@pytest.mark.shared_data
def test_the_shared_photo_sets_hold_the_people_the_results_count(shared_data_dir):
    faces = shared_data_dir / "faces"
    counts = {s: len(find_people(faces / s)) for s in
              ("deepface_tests", "face_recognition_examples", "openface_examples")}
    assert counts == {"deepface_tests": 13, "face_recognition_examples": 6,
                      "openface_examples": 4}
    assert sorted(find_people(faces / "facenet_pytorch_tests/test_images")) == [
        "angelina_jolie", "kate_siegel", "paul_rudd", "shea_whigham"]


def test_the_confound_measure_tells_the_face_from_the_footage(generated):
    """Frame features that encode only the face in the frame (a fake's source): the face
    person is probed right for every video, the footage person and the label are not."""
    from tfdeepfake.experiments.generated_swaps_analysis import confound_of

    _, manifest = generated
    rng = np.random.default_rng(0)
    faces = sorted({v["source"] or v["target"] for v in manifest["videos"]})
    ids, features = [], []
    for v in manifest["videos"]:
        centre = np.eye(len(faces))[faces.index(v["source"] or v["target"])] * 3
        for _ in range(4):
            ids.append(v["path"].removesuffix(".mp4"))
            features.append(centre + rng.normal(0, 0.3, len(faces)))
    result = confound_of(manifest, np.array(features), np.array(ids))
    assert result["videos"] == 10  # the real-only clip is not labelled
    face, footage, label = result["face person"], result["footage person"], result["label"]
    assert face["probe"]["correct"] == 10 and face["nearest_shares"]["count"] == 10
    assert face["pairwise_auc"] == 1.0
    assert footage["probe"]["correct"] == 0 and label["probe"]["correct"] == 0


def test_within_dataset_pairs_leave_out_the_pairs_across_datasets():
    from tfdeepfake.experiments.generated_swaps_analysis import within_dataset_pairs

    reals, fakes = ["a/real/x", "b/real/y"], ["a/fake/p", "b/fake/q", "b/fake/r"]
    # across datasets the fake always wins, within a dataset it always loses
    wins = [[0.0, 1.0, 1.0], [1.0, 0.0, 0.0]]
    results = {"protocols": {"identity_lpo": {"seeds": {"0": {"methods": {"m": {
        "wins": wins, "reals": reals, "fakes": fakes}}}}}}}
    got = within_dataset_pairs(results, n_boot=50)["0"]["m"]
    assert got["auc"] == 0.0 and got["pairs"] == 3
    assert within_dataset_pairs({"protocols": {}}) == {}


def test_per_set_auc_scores_each_held_out_set_with_an_interval():
    from tfdeepfake.experiments.generated_swaps_analysis import per_set_auc

    manifest = {"videos": [{"path": f"{s}/{k}/{i}.mp4", "label": int(k == "fake")}
                           for s in ("a", "b") for k in ("real", "fake") for i in range(4)]}
    # set a: every fake above every real; set b: the other way round
    scores = {f"{s}/{k}/{i}": (0.9 if (k == "fake") == (s == "a") else 0.1) + i / 100
              for s in ("a", "b") for k in ("real", "fake") for i in range(4)}
    results = {"protocols": {"lodo": {"seeds": {"0": {"methods": {"m": {"scores": scores}}}}}}}
    got = per_set_auc(results, manifest, n_boot=200)["0"]["m"]
    assert got["a"]["auc"] == 1.0 and got["b"]["auc"] == 0.0 and got["a"]["n"] == 8
    assert got["a"]["ci"]["low"] == 1.0 and got["b"]["ci"]["high"] == 0.0
    assert per_set_auc({"protocols": {}}, manifest) == {}


def test_share_ci_brackets_the_share():
    from tfdeepfake.experiments.generated_swaps_analysis import share_ci

    ci = share_ci(37, 46)
    assert ci["low"] < 37 / 46 < ci["high"] and 0.6 < ci["low"] and ci["high"] < 0.95
    assert share_ci(0, 46)["high"] == 0.0
