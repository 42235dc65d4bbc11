"""embed on Apache Beam (DirectRunner): the same vectors as `run_embed`, each video once."""

import h5py
import numpy as np
import pytest

pytest.importorskip("apache_beam")

from tfdeepfake.cache.embeddings import embedding_store  # noqa: E402
from tfdeepfake.cache.extract import run_extract  # noqa: E402
from tfdeepfake.datasets.records import make_record  # noqa: E402
from tfdeepfake.faces.settings import FaceSettings  # noqa: E402
from tfdeepfake.models.embed import run_embed  # noqa: E402
from tfdeepfake.scale.embed import run_beam_embed  # noqa: E402
from tests.export.export_helpers import tiny_facenet  # noqa: E402
from tests.media import write_face_video  # noqa: E402


def make_tiny():
    """What each Beam worker builds: the same tiny network (seeded) as the driver's."""
    return tiny_facenet(seed=0)


def test_beam_embed_matches_run_embed_and_resumes(tmp_path):
    records = []
    for i, name in enumerate("ab"):
        write_face_video(tmp_path / f"{name}.mp4", num_frames=4)
        records.append(make_record(tmp_path, f"{name}.mp4", i % 2, "train", "t"))
    faces = tmp_path / "faces.h5"
    assert run_extract(records, faces, FaceSettings(num_frames=2, size=160)).done == 2
    embedder = make_tiny()
    local = run_embed(faces, tmp_path / "local.h5", embedder)
    summary, counters = run_beam_embed(faces, tmp_path / "beam.h5", embedder,
                                       make_embedder=make_tiny, videos_per_batch=2)
    assert (summary.done, summary.frames, counters["videos_done"]) == (2, local.frames, 2)
    want = {v.video_id: v for v in embedding_store(tmp_path / "local.h5").iter_videos()}
    got = {v.video_id: v for v in embedding_store(tmp_path / "beam.h5").iter_videos()}
    assert sorted(got) == sorted(want) == ["t/a", "t/b"]
    for video_id, video in want.items():
        np.testing.assert_allclose(got[video_id].arrays["embeddings"],
                                   video.arrays["embeddings"], atol=1e-5)
        assert got[video_id].attrs["label"] == video.attrs["label"]
    with h5py.File(tmp_path / "beam.h5", "r") as f:
        assert len(f["videos"]) == 2
    assert (embedding_store(tmp_path / "beam.h5").stored_settings()
            == embedding_store(tmp_path / "local.h5").stored_settings())
    again, counters = run_beam_embed(faces, tmp_path / "beam.h5", embedder,
                                     make_embedder=make_tiny)
    assert (again.skipped, again.done, counters) == (2, 0, {})
