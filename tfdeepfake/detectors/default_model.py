"""The model folder bundled with the package, used when a command is given no ``--model``.

It lives in ``tfdeepfake/default_model/`` (package data), holds only what the installed
FaceNet does not already give (``self_blended.write_trained_only``), and carries its model
card (``MODEL_CARD.md``) beside ``model.json``. ``TFDEEPFAKE_DEFAULT_MODEL`` points the
commands at another folder (a model of your own, made the default for a deployment).
"""

from __future__ import annotations

import os
from pathlib import Path

from tfdeepfake.detectors.base import ModelFolderError

BUNDLED_MODEL_DIR = Path(__file__).resolve().parent.parent / "default_model"
ENVIRONMENT_VARIABLE = "TFDEEPFAKE_DEFAULT_MODEL"
MODEL_CARD = "MODEL_CARD.md"


def default_model_dir() -> Path:
    """The default model folder: ``$TFDEEPFAKE_DEFAULT_MODEL`` if set, else the bundled one."""
    chosen = os.environ.get(ENVIRONMENT_VARIABLE)
    return Path(chosen).expanduser() if chosen else BUNDLED_MODEL_DIR


def resolve_model(model: str | os.PathLike | None) -> tuple[Path, bool]:
    """``(folder, is_default)``: ``model`` itself, or the default folder when it is None
    (an error naming the folder and the fix when there is none)."""
    if model is not None:
        return Path(model), False
    folder = default_model_dir()
    if not (folder / "model.json").is_file():
        where = (f"${ENVIRONMENT_VARIABLE}={folder}" if os.environ.get(ENVIRONMENT_VARIABLE)
                 else str(folder))
        raise ModelFolderError(f"no --model given and no default model at {where} (no "
                               "model.json): give --model FOLDER")
    return folder, True


__all__ = ["BUNDLED_MODEL_DIR", "ENVIRONMENT_VARIABLE", "MODEL_CARD", "default_model_dir",
           "resolve_model"]
