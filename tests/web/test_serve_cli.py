"""`tfdeepfake serve`: its options and errors, without opening a port (the server and the
job queue are replaced by recorders)."""

import json

import pytest

from tfdeepfake.cli import main


class _Recorder:
    """Stands in for the server and the job queue; remembers how they were made."""

    made: list = []

    def __init__(self, *args, **kwargs):
        self.args, self.kwargs, self.closed = args, kwargs, False
        self.models = dict(args[0]) if args and isinstance(args[0], dict) else {}
        self.server_port = 8080
        _Recorder.made.append(self)

    def serve_forever(self):
        raise KeyboardInterrupt  # Ctrl-C at once

    def server_close(self):
        self.closed = True

    def close(self):
        self.closed = True


@pytest.fixture
def recorded(monkeypatch):
    import tfdeepfake.web.jobs
    import werkzeug.serving

    _Recorder.made = []
    monkeypatch.setattr(tfdeepfake.web.jobs, "JobQueue", _Recorder)
    monkeypatch.setattr(werkzeug.serving, "make_server", _Recorder)
    return _Recorder.made


def _model(folder):
    folder.mkdir(parents=True)
    # What ModelFolder.read_meta checks before the queue loads the model for real.
    (folder / "model.json").write_text(json.dumps({"format_version": 2, "detector": "triplet"}))
    return folder


def test_serves_on_this_computer_by_default_and_cleans_up(recorded, tmp_path, capsys):
    model = _model(tmp_path / "saved_models" / "cdf")
    assert main(["serve", "--model", str(model), "--port", "0"]) == 0
    queue, server = recorded
    assert list(queue.args[0]) == ["cdf"] and queue.kwargs["work_dir"] is None
    assert server.args[:2] == ("127.0.0.1", 0) and server.kwargs == {"threaded": True}
    assert queue.closed and server.closed
    assert "http://127.0.0.1:8080/" in capsys.readouterr().out


def test_default_models_are_the_saved_models_folders(recorded, tmp_path, monkeypatch):
    _model(tmp_path / "saved_models" / "b")
    _model(tmp_path / "saved_models" / "a")
    (tmp_path / "saved_models" / "unfinished").mkdir()
    monkeypatch.chdir(tmp_path)
    assert main(["serve"]) == 0
    assert list(recorded[0].args[0]) == ["a", "b"]


def test_errors_are_one_line(recorded, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TFDEEPFAKE_DEFAULT_MODEL", str(tmp_path / "no_default"))
    assert main(["serve"]) == 2
    assert "no --model given and no default model" in capsys.readouterr().err
    assert main(["serve", "--model", str(tmp_path)]) == 2
    assert "model.json" in capsys.readouterr().err
    model = _model(tmp_path / "m")
    assert main(["serve", "--model", str(model), "--videos", str(tmp_path / "nope")]) == 2
    assert "not a folder (--videos)" in capsys.readouterr().err
    assert main(["serve", "--model", str(model), "--max-upload-mb", "0"]) == 2
    assert recorded == []  # nothing started


def test_without_saved_models_the_default_model_is_served(recorded, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    default = _model(tmp_path / "bundled" / "default_model")
    monkeypatch.setenv("TFDEEPFAKE_DEFAULT_MODEL", str(default))
    assert main(["serve", "--port", "0"]) == 0
    assert list(recorded[0].args[0].values()) == [default]


def test_help_does_not_import_tensorflow_or_flask():
    import subprocess
    import sys

    code = ("import sys\nfrom tfdeepfake.cli import main\ntry: main(['serve', '--help'])\n"
            "except SystemExit: pass\n"
            "print(sorted(m for m in ('tensorflow', 'sklearn', 'flask') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"
