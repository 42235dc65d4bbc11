import numpy as np
import pytest

from tfdeepfake.models.face_verification import (
    PhotoSet,
    csv_pairs,
    folder_pairs,
    pair_auc,
    photo_sets,
    verification_report,
)

OLD = "20170512-110547"


def touch(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


def test_folder_pairs_uses_identity_folders_and_skips_group_photos(tmp_path):
    for name in ("ann/1.jpg", "ann/2.png", "bob/1.jpg", "multi_face/group.jpg",
                 "nested/cy/1.jpg", "nested/cy/2.jpeg", "notes.txt", "loose.jpg"):
        touch(tmp_path / "set" / name)
    photo_set = folder_pairs(tmp_path / "set")
    names = [f"{p.parent.name}/{p.name}" for p in photo_set.photos]
    assert names == ["ann/1.jpg", "ann/2.png", "bob/1.jpg", "cy/1.jpg", "cy/2.jpeg"]
    assert photo_set.identities == ["ann", "ann", "bob", "cy", "cy"]
    assert len(photo_set.pairs) == 10
    assert sorted((i, j) for i, j, same in photo_set.pairs if same) == [(0, 1), (3, 4)]


def test_csv_pairs_finds_photos_by_name_and_rejects_bad_rows(tmp_path):
    root = tmp_path / "deepface_tests"
    for name in ("ann/img1.jpg", "ann/img2.jpg", "bob/img3.jpg"):
        touch(root / name)
    (root / "master.csv").write_text("file_x,file_y,Decision\nimg1.jpg,img2.jpg,Yes\n"
                                     "img1.jpg,img3.jpg,No\n")
    photo_set = csv_pairs(root)
    assert [p.name for p in photo_set.photos] == ["img1.jpg", "img2.jpg", "img3.jpg"]
    assert photo_set.pairs == [(0, 1, True), (0, 2, False)]
    assert [s.name for s in photo_sets(tmp_path)] == ["deepface_tests"]
    (root / "master.csv").write_text("file_x,file_y,Decision\nimg1.jpg,img9.jpg,Yes\n")
    with pytest.raises(ValueError, match=r"master.csv: line 2: file_y 'img9.jpg'"):
        csv_pairs(root)
    (root / "master.csv").write_text("file_x,file_y,Decision\nimg1.jpg,img2.jpg,maybe\n")
    with pytest.raises(ValueError, match="Decision must be Yes or No"):
        csv_pairs(root)
    (root / "master.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="expected columns"):
        csv_pairs(root)
    with pytest.raises(FileNotFoundError, match="no such folder"):
        photo_sets(tmp_path / "absent")


def test_pair_auc_on_known_distances():
    points = np.array([[0.0, 0.0], [0.1, 0.0], [1.0, 0.0], [0.0, 1.0]])
    # same pairs at distance 0.1 and 1.41, different pairs at 1.0 and 1.0: 2 of 4 orderings
    pairs = [(0, 1, True), (2, 3, True), (0, 2, False), (0, 3, False)]
    assert pair_auc(points, pairs) == pytest.approx(0.5)
    assert pair_auc(points, [(0, 1, True), (0, 2, False), (0, 3, False)]) == 1.0
    assert pair_auc(points, [(0, 1, True)]) is None


class ColourEmbedder:
    """Embeds a crop as its mean colour: photos of one 'person' share a colour."""

    input_size = 8

    class identity:  # noqa: N801 - stands in for a FaceNetIdentity
        @staticmethod
        def to_dict():
            return {"model": "colour"}

        @staticmethod
        def label():
            return "colour"

    def embed(self, faces):
        return np.asarray(faces, np.float32).mean(axis=(1, 2))


def test_report_counts_pairs_and_skips_photos_without_a_face(tmp_path):
    paths = [tmp_path / f"{i}.jpg" for i in range(4)]
    photo_set = PhotoSet("s", paths, ["a", "a", "b", "b"],
                         [(0, 1, True), (2, 3, True), (0, 2, False), (1, 3, False)])
    colours = {paths[0]: (200, 0, 0), paths[1]: (190, 10, 0), paths[2]: (0, 0, 200)}
    crops = {p: np.full((8, 8, 3), c, np.uint8) for p, c in colours.items()}  # 3.jpg: no face
    report = verification_report(ColourEmbedder(), [photo_set], crops, required_auc=0.99)
    assert report["photos_without_face"] == [str(paths[3])]
    assert report["sets"]["s"] == {"auc": 1.0, "pairs": 2, "same_pairs": 1,
                                   "different_pairs": 1, "pairs_skipped": 2, "identities": 2}
    assert report["passed"] and report["min_auc"] == 1.0
    with pytest.raises(ValueError, match="no face was found"):
        verification_report(ColourEmbedder(), [photo_set], {})


# -- the real weights on the shared photos ---------------------------------------------


@pytest.fixture(scope="module")
def real_facenet():
    from tfdeepfake.models.facenet import load_facenet, weights_path_for

    if not weights_path_for(OLD).is_file():
        pytest.skip(f"FaceNet {OLD} weights absent: run `tfdeepfake weights install`")
    return load_facenet(OLD)


@pytest.fixture(scope="module")
def shared_photos(shared_data_dir):
    from tfdeepfake.models.face_verification import crop_photos

    root = shared_data_dir / "faces"
    if not root.is_dir():
        pytest.skip(f"no face photos at {root}")
    sets = photo_sets(root)
    crops = crop_photos(sorted({p for s in sets for p in s.photos}), 160)
    return sets, crops


def rewired(embedder, preprocessing):
    """The same backbone (shared weights) behind another preprocessing, posing as the
    real embedder: what a wrong export or a wrong model key would produce."""
    from tensorflow import keras

    from tfdeepfake.models.facenet import BACKBONE_NAME, FaceNetEmbedder

    inputs = keras.Input((160, 160, 3))
    x = preprocessing(inputs) if preprocessing else inputs
    model = keras.Model(inputs, embedder.model.get_layer(BACKBONE_NAME)(x))
    return FaceNetEmbedder(model, embedder.identity)


@pytest.mark.shared_data
def test_real_facenet_verifies_faces_and_wrong_preprocessing_is_caught(real_facenet,
                                                                      shared_photos):
    from tensorflow import keras

    from tfdeepfake.models.facenet import PROBE_TOLERANCE, probe_network

    sets, crops = shared_photos
    good = verification_report(real_facenet, sets, crops)
    assert good["passed"], good["sets"]
    assert good["sets"]["deepface_tests"]["pairs"] == 300
    assert all(s["auc"] >= 0.99 for s in good["sets"].values())
    assert not good["photos_without_face"]

    # No standardisation at all (raw 0..255 pixels into the backbone): verification fails.
    raw = verification_report(rewired(real_facenet, None), sets, crops)
    assert not raw["passed"] and raw["min_auc"] < 0.9, raw["sets"]

    # 2018's fixed standardisation on the 2017 weights: measured AUC 1.000 on these sets
    # too (embeddings keep cosine ~0.98 to the right ones), so verification alone cannot
    # tell it apart; the probe check does, and refuses such a network.
    fixed = rewired(real_facenet, keras.layers.Rescaling(1 / 127.5, -1.0))
    probe = np.array(probe_network(fixed.model))
    assert np.max(np.abs(probe - np.array(real_facenet.identity.probe))) > 10 * PROBE_TOLERANCE
    faces = np.stack([crops[p] for p in sorted(crops)][:8])
    cosine = np.sum(fixed.embed(faces) * real_facenet.embed(faces), axis=1)
    assert cosine.mean() < 0.995
