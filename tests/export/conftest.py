import importlib.util
import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def load_helpers():
    """tests/export/export_helpers.py as a module (tests run with --import-mode=importlib)."""
    path = Path(__file__).with_name("export_helpers.py")
    spec = importlib.util.spec_from_file_location("tfdeepfake_test_export_helpers", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def helpers():
    return load_helpers()
