"""Model folders are portable between the two stacks (tfdeepfake/compat.py).

A triplet folder trained here is loaded by the other stack's Python (``.venv`` <->
``.venv-modern``, or ``$TFDEEPFAKE_OTHER_PYTHON``) and gives the same scores (1e-5) and
verdicts; the bundled default model gives the same `detect` verdicts on both. Skipped
where the other stack is not installed; ``make test-modern`` runs it on the modern one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import REPO_ROOT, clean_environment
from tfdeepfake import compat

HERE = Path(__file__).resolve().parent


def other_python() -> Path | None:
    override = os.environ.get("TFDEEPFAKE_OTHER_PYTHON")
    if override:
        return Path(override)
    venv = ".venv" if compat.stack() == "modern" else ".venv-modern"
    python = REPO_ROOT / venv / "bin" / "python"
    return python if python.exists() else None


OTHER = other_python()
needs_other = pytest.mark.skipif(OTHER is None, reason="the other stack's venv is absent "
                                 "(.venv / .venv-modern, or TFDEEPFAKE_OTHER_PYTHON)")


def _run_other(*args: str, timeout: int = 300) -> str:
    env = clean_environment()
    env.pop("TF_USE_LEGACY_KERAS", None)  # the other stack decides for itself
    env["PYTHONPATH"] = str(REPO_ROOT)
    result = subprocess.run([str(OTHER), *args], capture_output=True, text=True, env=env,
                            timeout=timeout, cwd=REPO_ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


@needs_other
def test_triplet_folder_scores_the_same_on_the_other_stack(tmp_path):
    from tests.detectors.test_triplet import TINY, write_cache
    from tfdeepfake.cache.embeddings import load_embedding_table
    from tfdeepfake.detectors import TrainOptions, load_detector
    from tfdeepfake.detectors.triplet import TripletDetector

    cache = write_cache(tmp_path / "emb.h5")
    TripletDetector.train(cache, tmp_path / "model", TINY,
                          TrainOptions(val_fraction=0.3, seed=0, aggregation="median"),
                          threshold_mode="validation")
    test = load_embedding_table(cache).only_splits("test")
    np.save(tmp_path / "test.npy", test.embeddings)
    here = load_detector(tmp_path / "model")
    there = json.loads(_run_other(str(HERE / "score_folder.py"), str(tmp_path / "model"),
                                  str(tmp_path / "test.npy")).strip().splitlines()[-1])
    assert sorted(there) == sorted(here.variants)
    for variant, theirs in there.items():
        ours = here.score_embeddings(test.embeddings, variant)
        np.testing.assert_allclose(theirs["scores"], ours, atol=1e-5, err_msg=variant)
        assert theirs["threshold"] == here.threshold(variant)
        np.testing.assert_array_equal(np.asarray(theirs["scores"]) >= theirs["threshold"],
                                      ours >= here.threshold(variant))


def _detect_json(python: Path, video: Path) -> list[dict]:
    cmd = [str(python), "-m", "tfdeepfake.cli", "-q", "detect", "--json", str(video)]
    if python == Path(sys.executable):
        env = clean_environment()
        result = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO_ROOT,
                                timeout=300)
        assert result.returncode == 0, result.stderr[-3000:]
        out = result.stdout
    else:
        out = _run_other(*cmd[1:])
    return json.loads(out[out.index("["):])


@needs_other
def test_default_model_detect_verdicts_match_across_stacks(tmp_path):
    from tfdeepfake.models.facenet_specs import FACENET_MODELS

    weights = Path(os.path.expanduser(FACENET_MODELS["20170512-110547"].cache_dir))
    if not any(weights.glob("*.h5")):
        pytest.skip("FaceNet weights not installed (tfdeepfake weights install)")
    from tfdeepfake.synthetic.dataset import make_benchmark_video

    video = tmp_path / "faceswap.mp4"
    make_benchmark_video(str(video), "480p", 2.0, fake=True)
    ours, theirs = _detect_json(Path(sys.executable), video), _detect_json(OTHER, video)
    assert len(ours) == len(theirs) == 1
    keys = ["verdict", "fake_probability", "faces_found", "threshold", "genuine_share",
            "facenet_weights_sha256"]
    for key in keys:
        if isinstance(ours[0][key], float):
            assert theirs[0][key] == pytest.approx(ours[0][key], abs=1e-4), key
        else:
            assert theirs[0][key] == ours[0][key], key
