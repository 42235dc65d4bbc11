import numpy as np
import pytest

from tfdeepfake.cache.embeddings import embedding_store, load_embedding_table
from tfdeepfake.cache.faces import face_store
from tfdeepfake.faces.settings import FaceSettings
from tfdeepfake.cache.store import CacheError
from tfdeepfake.models.embed import run_embed


def write_faces(path, videos):
    store = face_store(path, FaceSettings())
    rng = np.random.RandomState(0)
    for video_id, label, split, n in videos:
        store.stage_video(video_id, {
            "faces": rng.randint(0, 256, (n, 160, 160, 3)).astype(np.uint8),
            "frame_indices": np.arange(n, dtype=np.int32) * 3,
            "boxes": np.zeros((n, 4), np.float32), "keypoints": np.zeros((n, 5, 2), np.float32),
            "confidences": np.ones(n, np.float32), "sampled_indices": np.arange(n, dtype=np.int32) * 3,
        }, {"label": label, "split": split, "dataset": "t"})
    store.commit()
    return path


@pytest.fixture(scope="module")
def embedder():
    from tfdeepfake.models.facenet import build_facenet_embedder

    return build_facenet_embedder(random_init=True, seed=0)


def test_embed_is_resumable_and_records_random_init(tmp_path, embedder):
    faces = write_faces(tmp_path / "faces.h5", [("t/a", 0, "train", 3), ("t/b", 1, "test", 2)])
    first = run_embed(faces, tmp_path / "emb.h5", embedder)
    assert (first.done, first.frames, first.random_init) == (2, 5, True)
    table = load_embedding_table(tmp_path / "emb.h5")
    assert table.embeddings.shape == (5, 512)
    np.testing.assert_allclose(np.linalg.norm(table.embeddings, axis=1), 1.0, atol=1e-5)
    assert sorted(table.video_ids.tolist()) == ["t/a"] * 3 + ["t/b"] * 2
    np.testing.assert_array_equal(table.frame_indices[table.video_ids == "t/a"], [0, 3, 6])
    settings = embedding_store(tmp_path / "emb.h5").stored_settings()
    assert settings["random_init"] is True and settings["face_settings"]["size"] == 160
    again = run_embed(faces, tmp_path / "emb.h5", embedder)
    assert (again.done, again.skipped) == (0, 2)
    assert load_embedding_table(tmp_path / "emb.h5", splits=("test",)).labels.tolist() == [1, 1]


def test_embeddings_from_another_embedder_are_not_mixed(tmp_path, embedder):
    from tfdeepfake.models.facenet import build_facenet_embedder

    faces = write_faces(tmp_path / "faces.h5", [("t/a", 0, "train", 1)])
    run_embed(faces, tmp_path / "emb.h5", embedder)
    with pytest.raises(CacheError, match="seed"):
        run_embed(faces, tmp_path / "emb.h5", build_facenet_embedder(random_init=True, seed=1))
