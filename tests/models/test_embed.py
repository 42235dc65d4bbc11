import numpy as np
import pytest

from tfdeepfake.cache.embeddings import embedding_store, load_embedding_table
from tfdeepfake.cache.faces import face_store
from tfdeepfake.cache.store import CacheError
from tfdeepfake.faces.settings import FaceSettings
from tfdeepfake.models.embed import run_embed
from tfdeepfake.models.facenet import FaceNetEmbedder, FaceNetIdentity, load_facenet


def write_faces(path, videos, size=160):
    store = face_store(path, FaceSettings(size=size))
    rng = np.random.RandomState(0)
    for video_id, label, split, n in videos:
        store.stage_video(video_id, {
            "faces": rng.randint(0, 256, (n, size, size, 3)).astype(np.uint8),
            "frame_indices": np.arange(n, dtype=np.int32) * 3,
            "boxes": np.zeros((n, 4), np.float32), "keypoints": np.zeros((n, 5, 2), np.float32),
            "confidences": np.ones(n, np.float32),
            "sampled_indices": np.arange(n, dtype=np.int32) * 3,
        }, {"label": label, "split": split, "dataset": "t", "method": "m" if label else "",
            "source": "s1", "path": f"{video_id}.mp4", "seconds": 1.5})
    store.commit()
    return path


@pytest.fixture(scope="module")
def embedder():
    return load_facenet("20170512-110547", random_init=True, seed=0)


def test_embed_is_resumable_and_records_the_facenet_identity(tmp_path, embedder):
    faces = write_faces(tmp_path / "faces.h5", [("t/a", 0, "train", 3), ("t/b", 1, "test", 2)])
    first = run_embed(faces, tmp_path / "emb.h5", embedder)
    assert (first.done, first.frames, first.random_init) == (2, 5, True)
    assert first.facenet == "FaceNet 20170512-110547 (RANDOM INIT, seed 0)"
    table = load_embedding_table(tmp_path / "emb.h5")
    assert table.embeddings.shape == (5, 128)
    np.testing.assert_allclose(np.linalg.norm(table.embeddings, axis=1), 1.0, atol=1e-5)
    assert sorted(table.video_ids.tolist()) == ["t/a"] * 3 + ["t/b"] * 2
    np.testing.assert_array_equal(table.frame_indices[table.video_ids == "t/a"], [0, 3, 6])
    settings = embedding_store(tmp_path / "emb.h5").stored_settings()
    assert FaceNetIdentity.from_dict(settings["facenet"]) == embedder.identity
    assert settings["face_settings"]["size"] == 160
    again = run_embed(faces, tmp_path / "emb.h5", embedder)
    assert (again.done, again.skipped) == (0, 2)
    assert load_embedding_table(tmp_path / "emb.h5", splits=("test",)).labels.tolist() == [1, 1]


def test_manifest_attributes_travel_to_the_embedding_cache(tmp_path, embedder):
    faces = write_faces(tmp_path / "faces.h5", [("t/a", 0, "train", 1), ("t/b", 1, "test", 1)])
    run_embed(faces, tmp_path / "emb.h5", embedder)
    attrs = {v.video_id: v.attrs for v in embedding_store(tmp_path / "emb.h5").iter_videos()}
    assert attrs["t/b"]["method"] == "m" and attrs["t/b"]["source"] == "s1"
    assert attrs["t/a"]["path"] == "t/a.mp4" and attrs["t/a"]["dataset"] == "t"
    assert attrs["t/a"]["label"] == 0 and attrs["t/b"]["split"] == "test"
    assert "seconds" not in attrs["t/a"]  # the extraction's timing is not the embedding's


def test_embeddings_from_another_facenet_are_not_mixed(tmp_path, embedder):
    faces = write_faces(tmp_path / "faces.h5", [("t/a", 0, "train", 1)])
    run_embed(faces, tmp_path / "emb.h5", embedder)
    with pytest.raises(CacheError, match="seed"):
        run_embed(faces, tmp_path / "emb.h5", load_facenet("20170512-110547", random_init=True,
                                                           seed=1))
    # the same network with a probe a rounding step away is the same network
    close = FaceNetIdentity(**{**embedder.identity.__dict__,
                               "probe": tuple(v + 1e-5 for v in embedder.identity.probe)})
    again = run_embed(faces, tmp_path / "emb.h5", FaceNetEmbedder(embedder.model, close))
    assert again.skipped == 1
    other_key = FaceNetEmbedder(embedder.model, FaceNetIdentity(
        "20180402-114759", True, 0, None, embedder.identity.probe))
    with pytest.raises(CacheError, match="model"):
        run_embed(faces, tmp_path / "emb.h5", other_key)


def test_face_size_and_embedder_type_are_checked(tmp_path, embedder):
    faces = write_faces(tmp_path / "faces.h5", [("t/a", 0, "train", 1)], size=96)
    with pytest.raises(ValueError, match="96 px.*--size 160"):
        run_embed(faces, tmp_path / "emb.h5", embedder)
    with pytest.raises(TypeError, match="load_facenet"):
        run_embed(faces, tmp_path / "emb.h5", embedder.model)
