"""Test-wide options, markers and tiny-video helpers shared by every stage's tests.

- ``--run-slow``: tests marked ``slow`` are skipped without it.
- ``shared_data``-marked tests skip when ``../shared/data`` is absent; the
  ``shared_data_dir`` fixture gives its path.
- Index-encoded videos: each frame shows its own index as 12 coloured blocks (bit set:
  red, bit clear: dark blue), big flat areas that survive MJPG and H.264 alike, so a test
  can tell exactly which frame it decoded, and that channels are in RGB order. Use the
  ``index_video`` fixture (a factory writing into ``tmp_path``) and ``frame_index``
  (the decoder), or import ``write_index_video`` / ``read_frame_index`` from here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

# before any test module imports TensorFlow: on TF >= 2.16 this makes tf.keras tf-keras
# (Keras 2), as the package itself does (tfdeepfake/compat.py)
import tfdeepfake  # noqa: F401,E402

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"

INDEX_GRID = (3, 4)  # rows, columns of bit blocks: 12 bits, up to 4096 frames
INDEX_BITS = INDEX_GRID[0] * INDEX_GRID[1]
BIT_ON = (220, 40, 40)  # red
BIT_OFF = (30, 30, 110)  # dark blue


# Set in os.environ by in-process CLI runs (`-q`) and by importing the benchmarks; a
# subprocess that inherits them prints (or hides) different noise than a user's shell.
_LOG_LEVEL_VARIABLES = ("TF_CPP_MIN_LOG_LEVEL", "OPENCV_LOG_LEVEL", "OPENCV_FFMPEG_LOGLEVEL")


def clean_environment() -> dict:
    """``os.environ`` without the log-level variables earlier tests may have set."""
    import os

    return {k: v for k, v in os.environ.items() if k not in _LOG_LEVEL_VARIABLES}


def pytest_addoption(parser):
    parser.addoption("--run-slow", action="store_true", default=False,
                     help="also run tests marked slow (real-size networks, long runs)")


def pytest_collection_modifyitems(config, items):
    run_slow = config.getoption("--run-slow")
    have_shared = SHARED_DATA.is_dir()
    skip_slow = pytest.mark.skip(reason="slow: run with --run-slow")
    skip_shared = pytest.mark.skip(reason=f"shared data absent: {SHARED_DATA}")
    for item in items:
        if "slow" in item.keywords and not run_slow:
            item.add_marker(skip_slow)
        if "shared_data" in item.keywords and not have_shared:
            item.add_marker(skip_shared)


BROWSER_TESTS = "tests/web/test_browser.py"


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_terminal_summary(terminalreporter):
    """One line at the end when the real-browser tests were skipped (a run that looks green
    but never opened the page; `make browser-deps` installs what they need). A wrapper, so
    it comes after pytest's own short summary, just before the counts."""
    yield
    skipped = [report for report in terminalreporter.stats.get("skipped", [])
               if report.nodeid.replace("\\", "/").startswith(BROWSER_TESTS)]
    if skipped:
        reason = skipped[0].longrepr[2] if isinstance(skipped[0].longrepr, tuple) else ""
        reason = reason.removeprefix("Skipped: ")
        terminalreporter.write_line(f"browser tests skipped ({BROWSER_TESTS}): {reason}",
                                    yellow=True)


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    """``../shared/data`` beside the repository; skips the test when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data absent: {SHARED_DATA}")
    return SHARED_DATA


def index_frame(index: int, size: tuple[int, int] = (64, 48), gray: bool = False) -> np.ndarray:
    """A frame showing ``index`` in binary: RGB uint8 HxWx3 (or HxW gray). ``size`` is (w, h)."""
    if not 0 <= index < 2**INDEX_BITS:
        raise ValueError(f"index {index} does not fit in {INDEX_BITS} bits")
    w, h = size
    rows, cols = INDEX_GRID
    frame = np.zeros((h, w, 3), np.uint8)
    for bit in range(INDEX_BITS):
        r, c = divmod(bit, cols)
        colour = BIT_ON if (index >> bit) & 1 else BIT_OFF
        frame[r * h // rows:(r + 1) * h // rows, c * w // cols:(c + 1) * w // cols] = colour
    if gray:
        return np.where(frame[..., 0] > 128, 200, 40).astype(np.uint8)
    return frame


def read_frame_index(frame: np.ndarray) -> int:
    """The index ``index_frame`` drew, read from the centre of each block's red channel."""
    frame = np.asarray(frame)
    red = frame if frame.ndim == 2 else frame[..., 0]
    h, w = red.shape
    rows, cols = INDEX_GRID
    value = 0
    for bit in range(INDEX_BITS):
        r, c = divmod(bit, cols)
        cy, cx = (2 * r + 1) * h // (2 * rows), (2 * c + 1) * w // (2 * cols)
        patch = red[cy - 2:cy + 3, cx - 2:cx + 3]
        if patch.mean() > 128:
            value |= 1 << bit
    return value


def write_index_video(path, num_frames: int, size: tuple[int, int] = (64, 48), fps: float = 25.0,
                      codec: str = "mjpg", gray: bool = False, **write_kwargs) -> Path:
    """Write ``num_frames`` index frames with ``tfdeepfake.synthetic.videos.write_video``.

    ``codec`` as there: ``mjpg`` (every frame a keyframe, use ``.avi``), ``h264``
    (pass ``keyint=`` for a GOP length), ``ffv1`` (lossless), ``mp4v``.
    """
    from tfdeepfake.synthetic.videos import write_video

    frames = (index_frame(i, size, gray) for i in range(num_frames))
    return write_video(path, frames, fps, codec, **write_kwargs)


@pytest.fixture
def index_video(tmp_path):
    """Factory: ``index_video(num_frames=40, size=(64, 48), fps=25, codec="mjpg", name=None, **kw)``."""
    counter = iter(range(10**6))

    def make(num_frames: int = 40, size=(64, 48), fps: float = 25.0, codec: str = "mjpg",
             name: str | None = None, **kwargs) -> Path:
        suffix = ".avi" if codec in ("mjpg", "ffv1") else ".mp4"
        path = tmp_path / (name or f"index_{next(counter)}{suffix}")
        return write_index_video(path, num_frames, size, fps, codec, **kwargs)

    return make


@pytest.fixture
def frame_index():
    """The decoder for index videos: ``frame_index(frame) -> int``."""
    return read_frame_index
