"""The texture study's cached feature table knows which regions of the face it was computed on."""

import numpy as np
import pytest

from tfdeepfake.experiments.default_texture import (
    parse_region_layers,
    table_region_layers,
    table_regions,
    texture_table,
)


def test_a_cached_table_is_reused_only_for_the_regions_it_was_computed_on(tmp_path):
    # A table from before regions existed holds the face alone.
    np.savez(tmp_path / "texture_features.npz", ids=np.array(["a"]), x=np.zeros((1, 4)))
    table = texture_table("no-cache-needed.h5", tmp_path)
    assert table_regions(table) == ("face",)
    with pytest.raises(ValueError, match=r"texture_features.npz: features of the regions \['face'\]"):
        texture_table("no-cache-needed.h5", tmp_path, regions=("face", "lower-face"))
    np.savez(tmp_path / "texture_features.npz", ids=np.array(["a"]), x=np.zeros((1, 8)),
             regions=np.array(["face", "lower-face"]))
    again = texture_table("no-cache-needed.h5", tmp_path, regions=("face", "lower-face"))
    assert again["x"].shape == (1, 8)
    # ... and on the layers they were read at.
    with pytest.raises(ValueError, match="Block35_5_Activation"):
        texture_table("no-cache-needed.h5", tmp_path, regions=("face", "lower-face"),
                      region_layers={"lower-face": "Block35_5_Activation"})
    np.savez(tmp_path / "texture_features.npz", ids=np.array(["a"]), x=np.zeros((1, 6)),
             regions=np.array(["face", "mouth"]), region_layers=np.array(["mouth=Mixed_6a"]))
    assert table_region_layers(texture_table("no-cache-needed.h5", tmp_path, regions=("face", "mouth"),
                                             region_layers={"mouth": "Mixed_6a"})) == {"mouth": "Mixed_6a"}


def test_region_layers_are_given_as_region_equals_layer():
    assert parse_region_layers(["mouth=Block35_5_Activation"]) == {"mouth": "Block35_5_Activation"}
    assert parse_region_layers(None) == {}
    with pytest.raises(ValueError, match="REGION=LAYER"):
        parse_region_layers(["Block35_5_Activation"])


def labelled_cache(path):
    """Four genuine collections of two videos and three fake sources of two, one face each;
    ``method`` names the collection or generator, as the shared footage's index does."""
    from tfdeepfake.cache.faces import face_store
    from tfdeepfake.faces.settings import FaceSettings

    store = face_store(path, FaceSettings(num_frames=1))
    videos = {f"toy/real_{c}{i}": (0, f"real_more:{c}") for c in "abcd" for i in range(2)}
    videos |= {f"toy/fake_{g}{i}": (1, f"modern:{g}") for g in "XYZ" for i in range(2)}
    for video_id, (label, method) in videos.items():
        store.stage_video(video_id, {
            "faces": np.zeros((1, 8, 8, 3), np.uint8), "frame_indices": np.zeros(1, np.int32),
            "boxes": np.zeros((1, 4), np.float32), "keypoints": np.zeros((1, 5, 2), np.float32),
            "confidences": np.ones(1, np.float32), "sampled_indices": np.zeros(1, np.int32),
        }, {"label": label, "split": "test", "dataset": "toy", "method": method})
    store.commit()
    return sorted(videos), {v: label for v, (label, _) in videos.items()}


def test_the_twin_reads_a_face_by_both_heads_and_only_runs_the_variants_asked(tmp_path):
    from tfdeepfake.experiments.default_texture import evaluate

    ids, labels = labelled_cache(tmp_path / "faces.h5")
    rng = np.random.default_rng(0)
    # Fakes stand out along feature 0, the pseudo-fakes along feature 1 only: a head fitted
    # with them leans on feature 1, which the twin's mean of logits half keeps.
    x = rng.normal(0, 1, (len(ids), 4)) + np.outer([labels[v] for v in ids], [6.0, 0, 0, 0])
    reals = [v for v in ids if not labels[v]]
    np.savez(tmp_path / "texture_features.npz", ids=np.array(ids), x=x, x_degraded=x + 0.1,
             pf_ids=np.array(reals), pf_real=rng.normal(0, 1, (len(reals), 4)),
             pf_fake=rng.normal(0, 1, (len(reals), 4)) + [0, 3.0, 0, 0],
             regions=np.array(["face"]))
    with pytest.raises(ValueError, match="unknown variants.*valid"):
        evaluate(tmp_path / "faces.h5", tmp_path, sbi_dir=None, recipes=[], only=["twin"])
    results = evaluate(tmp_path / "faces.h5", tmp_path, sbi_dir=None, recipes=[], c=1.0,
                       n_boot=20, only=["texture", "texture+pseudo-fakes", "texture+twin"])
    combos = {name: by_weight["0.0"] for name, by_weight in results["combinations"].items()}
    assert set(combos) == {"texture", "texture+pseudo-fakes", "texture+twin"}
    assert combos["texture"]["all"]["auc"] == 1.0  # feature 0 separates every held-out fake
    scores = {name: {**r["real_scores"], **r["fake_scores"]} for name, r in combos.items()}
    assert set(scores["texture+twin"]) == set(ids)
    for v in ids:  # both heads count: the twin is neither alone
        assert scores["texture+twin"][v] not in (scores["texture"][v],
                                                 scores["texture+pseudo-fakes"][v])
