"""The serve queue (tfdeepfake/web/jobs.py) with a slow stub detector the test steps by hand:
a model runs one job at a time, later jobs say they are waiting and how many are ahead, the
running job's stage and fraction advance, and models do not wait for each other."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import pytest

from tfdeepfake.web.app import job_state
from tfdeepfake.web.jobs import JobQueue


class SlowStub:
    """Stands in for ``VideoDetector`` (loading) and ``visualize_video`` (a job's run). Each
    job reports a stage, waits for the test to release it, reports half way, waits again."""

    def __init__(self):
        self.lock = threading.Lock()
        self.loaded = threading.Event()
        self.gates: dict[str, list[threading.Event]] = {}
        self.running: dict[str, int] = {}  # model -> jobs inside visualize_video now
        self.most: dict[str, int] = {}  # model -> the most at once
        self.order: list[str] = []  # names, in the order they started
        self.open = False  # after release_all(): nothing waits any more
        self.people: list[bool] = []  # what each model load asked for (serve --people)

    def gate(self, name: str, step: int) -> threading.Event:
        with self.lock:
            if name not in self.gates:
                self.gates[name] = [threading.Event(), threading.Event()]
                if self.open:
                    for event in self.gates[name]:
                        event.set()
            return self.gates[name][step]

    def release_all(self):
        self.loaded.set()
        with self.lock:
            self.open = True
            for events in self.gates.values():
                for event in events:
                    event.set()

    def video_detector(self, source, people=False):
        self.people.append(people)
        assert self.loaded.wait(30), "the test never let the model load"
        return SimpleNamespace(model=source, detector=SimpleNamespace(name="slow stub"))

    def visualize_video(self, video_detector, path, *, report_dir=None, annotate_to=None,
                        progress=None, name=None):
        model = video_detector.model
        with self.lock:
            self.running[model] = self.running.get(model, 0) + 1
            self.most[model] = max(self.most.get(model, 0), self.running[model])
            self.order.append(name)
        try:
            progress("finding and scoring faces", None)
            assert self.gate(name, 0).wait(30)
            progress("writing the annotated video", 0.5)
            assert self.gate(name, 1).wait(30)
            progress("writing the annotated video", 1.0)
            return {"path": name, "verdict": "fake", "fake_probability": 0.9}, {}
        finally:
            with self.lock:
                self.running[model] -= 1


@pytest.fixture
def stub(monkeypatch):
    import tfdeepfake.detect
    import tfdeepfake.visualize.run

    stub = SlowStub()
    # jobs.py imports both where it uses them, so patching the modules reaches it.
    monkeypatch.setattr(tfdeepfake.detect, "VideoDetector", stub.video_detector)
    monkeypatch.setattr(tfdeepfake.visualize.run, "visualize_video", stub.visualize_video)
    yield stub
    stub.release_all()


@pytest.fixture
def make_queue(tmp_path, stub):
    made = []

    def make(*models):
        jobs = JobQueue({m: m for m in models}, work_dir=tmp_path / "work")
        made.append(jobs)
        return jobs

    yield make
    stub.release_all()
    for jobs in made:
        jobs.close()


def _until(condition, what, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting until {what}")


def _submit(jobs, model, name, tmp_path):
    job_id, folder = jobs.new_folder()
    video = tmp_path / f"{name}.mp4"
    video.write_bytes(b"not read by the stub")
    return jobs.submit(job_id, folder, model, video, name, remove_video=True)


def test_a_model_runs_one_job_at_a_time_and_queued_jobs_say_how_many_are_ahead(
        make_queue, stub, tmp_path):
    jobs = make_queue("m")
    a, b, c = (_submit(jobs, "m", name, tmp_path) for name in "abc")
    # The model is still loading: every job waits for it.
    assert [job_state(jobs, j)["stage"] for j in (a, b, c)] == ["loading the model"] * 3
    stub.loaded.set()

    _until(lambda: a.status == "running", "the first job runs")
    state = job_state(jobs, a)
    assert (state["stage"], state["fraction"]) == ("finding and scoring faces", None)
    assert (b.status, c.status) == ("queued", "queued")
    assert [jobs.position(j) for j in (a, b, c)] == [0, 1, 2]
    assert job_state(jobs, b)["stage"] == "waiting: 1 video(s) ahead"
    assert job_state(jobs, c)["stage"] == "waiting: 2 video(s) ahead"

    stub.gate("a", 0).set()
    _until(lambda: a.fraction == 0.5, "the first job is half way")
    assert job_state(jobs, a)["stage"] == "writing the annotated video"
    time.sleep(0.1)
    assert b.status == "queued"  # still waiting while the first one runs

    stub.gate("a", 1).set()
    _until(lambda: b.status == "running", "the second job runs")
    assert a.status == "done" and a.verdict["verdict"] == "fake"
    assert (a.stage, a.fraction) == ("finished", None)
    assert not a.video.exists()  # the upload is removed once scored
    assert job_state(jobs, c)["stage"] == "waiting: 1 video(s) ahead"

    for name in "bc":
        stub.gate(name, 0).set()
        stub.gate(name, 1).set()
    _until(lambda: c.status == "done", "the last job is done")
    assert stub.order == ["a", "b", "c"]  # in the order submitted
    assert stub.most == {"m": 1}  # never two at once
    assert job_state(jobs, c)["status"] == "done"


def test_models_do_not_wait_for_each_other(make_queue, stub, tmp_path):
    jobs = make_queue("x", "y")
    stub.loaded.set()
    x, y = _submit(jobs, "x", "x1", tmp_path), _submit(jobs, "y", "y1", tmp_path)
    _until(lambda: x.status == y.status == "running", "both models run a job")
    assert jobs.position(y) == 0  # a job of another model is not ahead of it
    x2 = _submit(jobs, "x", "x2", tmp_path)
    assert job_state(jobs, x2)["stage"] == "waiting: 1 video(s) ahead"
    stub.release_all()
    _until(lambda: x2.status == "done" and y.status == "done", "every job is done")
    assert stub.most == {"x": 1, "y": 1}


def test_a_failing_job_does_not_stop_the_worker(make_queue, stub, tmp_path, monkeypatch):
    import tfdeepfake.visualize.run

    real = stub.visualize_video

    def sometimes_fails(video_detector, path, **kwargs):
        if kwargs["name"] == "bad":
            raise ValueError("cannot read bad.mp4")
        return real(video_detector, path, **kwargs)

    monkeypatch.setattr(tfdeepfake.visualize.run, "visualize_video", sometimes_fails)
    jobs = make_queue("m")
    stub.release_all()
    bad, good = _submit(jobs, "m", "bad", tmp_path), _submit(jobs, "m", "good", tmp_path)
    _until(lambda: good.status == "done", "the job after the failure is done")
    assert (bad.status, bad.error) == ("failed", "cannot read bad.mp4")
    assert job_state(jobs, bad)["error"] == "cannot read bad.mp4"
    assert not bad.video.exists()


def test_serve_people_loads_every_model_to_judge_every_person(stub, tmp_path):
    jobs = JobQueue({"a": "a", "b": "b"}, work_dir=tmp_path / "work", people=True)
    try:
        stub.release_all()
        _until(lambda: all(m.state == "ready" for m in jobs.models.values()), "the models load")
        assert stub.people == [True, True]
    finally:
        jobs.close()
