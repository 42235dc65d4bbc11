import sys
import types

import pytest

from tfdeepfake.lite import interpreter


def test_prefers_ai_edge_litert():
    pytest.importorskip("ai_edge_litert")
    assert interpreter.runtime_name() == "ai_edge_litert"


def test_falls_back_to_tflite_runtime(monkeypatch):
    fake = types.ModuleType("tflite_runtime.interpreter")
    fake.Interpreter = type("Interpreter", (), {})
    monkeypatch.setitem(sys.modules, "ai_edge_litert.interpreter", None)
    monkeypatch.setitem(sys.modules, "tflite_runtime", types.ModuleType("tflite_runtime"))
    monkeypatch.setitem(sys.modules, "tflite_runtime.interpreter", fake)
    assert interpreter.interpreter_class() is fake.Interpreter


def test_helpful_error_without_any_runtime(monkeypatch):
    monkeypatch.setitem(sys.modules, "ai_edge_litert.interpreter", None)
    monkeypatch.setitem(sys.modules, "tflite_runtime.interpreter", None)
    with pytest.raises(ImportError, match="pip install ai-edge-litert"):
        interpreter.interpreter_class()


def test_missing_model_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        interpreter.LiteModel(tmp_path / "nope.tflite")
