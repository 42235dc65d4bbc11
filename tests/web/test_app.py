"""The web page's routes with Flask's test client (no browser): uploads checked and refused
with a message, picks confined to the folder, jobs run to a verdict and serve their
pictures, uploads and work folders removed."""

import time

import pytest

from tfdeepfake.web.app import create_app
from tfdeepfake.web.files import VideoFolder


@pytest.fixture
def client(job_queue, web_world):
    app = create_app(job_queue, videos=VideoFolder(web_world["videos"]), max_upload_mb=5)
    return app.test_client()


def _upload(client, data: bytes, name: str):
    import io

    return client.post("/upload", data={"video": (io.BytesIO(data), name)},
                       content_type="multipart/form-data")


def _wait(client, job_id, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = client.get(f"/api/jobs/{job_id}").get_json()
        if state["status"] in ("done", "failed"):
            return state
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish in {timeout} s: {state}")


def test_the_form_lists_the_models_and_the_folders_videos(client):
    page = client.get("/").get_data(as_text=True)
    assert "tiny" in page and "fake_clip.mp4" in page and "real_clip.mp4" in page


def test_an_upload_runs_to_a_verdict_with_its_pictures(client, web_world, job_queue):
    response = _upload(client, web_world["fake"].read_bytes(), "../../my clip.mp4")
    assert response.status_code == 303
    job_id = response.headers["Location"].rsplit("/", 1)[1]
    state = _wait(client, job_id)
    assert state["status"] == "done", state
    assert state["verdict"]["verdict"] == "fake" and state["name"] == "my clip.mp4"
    assert state["verdict"]["path"] == "my clip.mp4"  # no server path in what the page gets
    assert state["files"] == ["annotated.mp4", "faces.png", "frames.png", "heatmap.png"]
    page = client.get(f"/jobs/{job_id}").get_data(as_text=True)
    assert "FAKE" in page and 'id="probability"' in page and "annotated.mp4" in page
    for name in ("frames.png", "faces.png", "heatmap.png"):
        image = client.get(f"/jobs/{job_id}/{name}")
        assert image.status_code == 200 and image.data[:8] == b"\x89PNG\r\n\x1a\n"
    video = client.get(f"/jobs/{job_id}/annotated.mp4", headers={"Range": "bytes=0-99"})
    assert video.status_code == 206 and len(video.data) == 100 and video.data[4:8] == b"ftyp"
    # The upload is gone once scored; nothing was ever named after the sender's file name.
    job = job_queue.get(job_id)
    assert not job.video.exists()
    assert not [p for p in job_queue.work_dir.rglob("*") if "clip" in p.name]


def test_a_pick_from_the_folder_runs_and_escapes_are_refused(client, web_world):
    response = client.post("/pick", data={"video": "real_clip.mp4"})
    assert response.status_code == 303
    state = _wait(client, response.headers["Location"].rsplit("/", 1)[1])
    assert state["verdict"]["verdict"] == "real"
    assert web_world["real"].exists()  # a picked video is not ours to delete
    for bad in ("../model/model.json", str(web_world["real"]), "../videos/real_clip.mp4/.."):
        refused = client.post("/pick", data={"video": bad})
        assert refused.status_code == 400 and "not a video of the folder" in refused.get_data(True)


def test_bad_uploads_get_a_message_and_the_server_keeps_serving(client, job_queue):
    text = _upload(client, b"just some text, renamed\n" * 20, "notes.mp4")
    assert text.status_code == 400
    assert "notes.mp4: not a video file" in text.get_data(as_text=True)
    empty = _upload(client, b"", "empty.mp4")
    assert empty.status_code == 400 and "the file is empty" in empty.get_data(as_text=True)
    missing = client.post("/upload", data={}, content_type="multipart/form-data")
    assert missing.status_code == 400 and "choose a video file" in missing.get_data(as_text=True)
    other_model = client.post("/pick", data={"video": "real_clip.mp4", "model": "nope"})
    assert other_model.status_code == 400
    assert not list(job_queue.work_dir.iterdir())  # refused uploads leave nothing behind
    assert client.get("/").status_code == 200


def test_uploads_over_the_limit_are_refused(job_queue):
    import io

    client = create_app(job_queue, max_upload_mb=0.01).test_client()
    response = client.post("/upload", data={"video": (io.BytesIO(b"x" * 20000), "big.mp4")},
                           content_type="multipart/form-data")
    assert response.status_code == 413
    assert "larger than the limit of 0.01 MB" in response.get_data(as_text=True)


def test_unknown_jobs_and_files_are_not_found(client, web_world):
    assert client.get("/jobs/0123").status_code == 404
    assert client.get("/jobs/" + "0" * 32).status_code == 404
    assert client.get("/api/jobs/..%2F..%2Fetc").status_code == 404
    response = _upload(client, web_world["real"].read_bytes(), "r.mp4")
    job_id = response.headers["Location"].rsplit("/", 1)[1]
    _wait(client, job_id)
    for name in ("input.mp4", "verdict.json", "..%2F..%2Fmodel%2Fmodel.json", "report"):
        assert client.get(f"/jobs/{job_id}/{name}").status_code == 404


def test_closing_removes_a_work_folder_it_made(web_world):
    from tfdeepfake.web.jobs import JobQueue

    jobs = JobQueue({"tiny": web_world["detector"]})
    folder = jobs.work_dir
    assert folder.is_dir()
    jobs.close()
    assert not folder.exists()


def test_a_verdict_about_several_people_lists_them_and_says_whose_pictures_these_are(
        client, job_queue, tmp_path):
    """``serve --people``: a video of two people, the second fake, decides the page."""
    from tfdeepfake.web.jobs import Job

    person = {"person": 1, "verdict": "real", "fake_probability": 0.2, "faces_found": 4,
              "box": [10.4, 20.0, 110.0, 140.0], "genuine_share": 0.5}
    other = {**person, "person": 2, "verdict": "fake", "fake_probability": 0.9,
             "box": [200.0, 20.0, 260.0, 90.0], "genuine_share": 0.01}
    job_id, folder = job_queue.new_folder()
    job = Job(job_id, "tiny", "two.mp4", tmp_path / "two.mp4", folder, False, status="done",
              verdict={"verdict": "fake", "fake_probability": 0.9, "threshold": 0.5,
                       "aggregation": "mean", "faces_found": 4, "frames_sampled": 5,
                       "detector": "triplet", "classifier": "knn", "frame_level": True,
                       "people": [person, other]})
    job_queue._jobs[job_id] = job
    page = client.get(f"/jobs/{job_id}").get_data(as_text=True)
    assert 'id="people"' in page
    assert "Person 1: <b>real</b> 0.20, 4 face(s) at [10, 20, 110, 140]" in page
    assert "Person 2: <b>fake</b> 0.90" in page and "(person 2); the pictures below" in page
    job.verdict = {**job.verdict, "people": [other]}  # one person: nothing to list
    assert 'id="people"' not in client.get(f"/jobs/{job_id}").get_data(as_text=True)
