"""A TFLite interpreter without TensorFlow: ``ai-edge-litert``, else ``tflite-runtime``.

Nothing here (or anywhere in :mod:`tfdeepfake.lite`) imports TensorFlow.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

_INSTALL_HINT = (
    "tfdeepfake.lite needs a TFLite interpreter: `pip install ai-edge-litert` "
    "(LiteRT, the successor of tflite-runtime) or `pip install tflite-runtime`."
)


def interpreter_class():
    """The ``Interpreter`` class of ai-edge-litert, or of tflite-runtime as a fallback."""
    try:
        from ai_edge_litert.interpreter import Interpreter

        return Interpreter
    except ImportError as litert_error:
        try:
            from tflite_runtime.interpreter import Interpreter

            return Interpreter
        except ImportError:
            raise ImportError(_INSTALL_HINT) from litert_error


def runtime_name() -> str:
    cls = interpreter_class()
    return cls.__module__.split(".")[0]


class LiteModel:
    """A TFLite model run through its (first) signature with resizable batch inputs.

    ``model(**inputs) -> dict[str, np.ndarray]``; inputs are cast to the signature's
    dtypes. Not thread-safe: use one instance per thread.
    """

    def __init__(self, model: str | Path | bytes, num_threads: int | None = None, signature: str | None = None):
        cls = interpreter_class()
        if isinstance(model, (bytes, bytearray)):
            self._interpreter = cls(model_content=bytes(model), num_threads=num_threads)
            self.path = None
        else:
            self.path = Path(model)
            if not self.path.is_file():
                raise FileNotFoundError(f"TFLite model not found: {self.path}")
            self._interpreter = cls(model_path=str(self.path), num_threads=num_threads)
        signatures = self._interpreter.get_signature_list()
        if not signatures:
            raise ValueError(f"TFLite model {self.path or '<bytes>'} has no signature")
        self.signature = signature or next(iter(signatures))
        if self.signature not in signatures:
            raise ValueError(f"signature {self.signature!r} not in {list(signatures)}")
        self._runner = self._interpreter.get_signature_runner(self.signature)
        self.input_details = self._runner.get_input_details()
        self.output_details = self._runner.get_output_details()
        self._last_shapes: dict[str, tuple[int, ...]] = {}

    @property
    def input_names(self) -> list[str]:
        return list(self.input_details)

    @property
    def output_names(self) -> list[str]:
        return list(self.output_details)

    def __call__(self, **inputs: Any) -> dict[str, np.ndarray]:
        missing = set(self.input_details) - set(inputs)
        if missing:
            raise ValueError(f"missing inputs {sorted(missing)}; model takes {self.input_names}")
        feed = {
            name: np.ascontiguousarray(value, dtype=self.input_details[name]["dtype"])
            for name, value in inputs.items()
        }
        out = self._runner(**feed)
        return {name: _dequantize(np.asarray(value), self.output_details[name]) for name, value in out.items()}


def _dequantize(value: np.ndarray, detail: Mapping[str, Any]) -> np.ndarray:
    scale, zero = detail.get("quantization", (0.0, 0))
    if scale and value.dtype in (np.int8, np.uint8, np.int16):
        return (value.astype(np.float32) - zero) * np.float32(scale)
    return value
