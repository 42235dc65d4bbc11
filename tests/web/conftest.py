"""What the web tests share: a generated real clip and a face-swapped fake of it, and a tiny
triplet model (random-init stand-in FaceNet, KNN k=1) fitted to call them real and fake, so
the page must show two different verdicts."""

from __future__ import annotations

import numpy as np
import pytest

from tfdeepfake.faces.settings import FaceSettings

SETTINGS = FaceSettings(num_frames=4)


@pytest.fixture(scope="session")
def web_world(tmp_path_factory):
    from tests.export.export_helpers import tiny_facenet, write_triplet_model
    from tfdeepfake.detectors import load_detector
    from tfdeepfake.faces.detector import get_detector
    from tfdeepfake.faces.pipeline import faces_of_video
    from tfdeepfake.synthetic import load_photo, make_face_video, make_swapped_video

    root = tmp_path_factory.mktemp("web")
    videos = root / "videos"
    target, source = load_photo("astronaut"), load_photo("grace_hopper")
    real = make_face_video(target, videos / "real_clip.mp4", seconds=1.0, fps=10, seed=1).path
    fake = make_swapped_video(target, source, videos / "fake_clip.mp4", seconds=1.0, fps=10,
                              seed=1).path
    faces, labels = [], []
    for label, clip in ((0, real), (1, fake)):
        arrays, _ = faces_of_video(clip, SETTINGS, get_detector(SETTINGS.detector))
        faces.append(arrays["faces"])
        labels.append(np.full(len(arrays["faces"]), label))
    embedder = tiny_facenet()
    model = write_triplet_model(root / "model", embedder, np.concatenate(faces),
                                np.concatenate(labels), settings=SETTINGS, classifiers=("knn",))
    detector = load_detector(model, embedder=embedder)
    return {"root": root, "videos": videos, "real": real, "fake": fake, "detector": detector}


@pytest.fixture
def job_queue(web_world, tmp_path):
    from tfdeepfake.web.jobs import JobQueue

    jobs = JobQueue({"tiny": web_world["detector"]}, work_dir=tmp_path / "work")
    yield jobs
    jobs.close()
