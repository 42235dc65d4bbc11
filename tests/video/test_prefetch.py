"""The reader thread: order kept, errors handed over with their path, bounded look-ahead."""

import threading
import time

import pytest

from tfdeepfake.video.prefetch import prefetch


def test_values_come_in_order_and_errors_with_their_path():
    def read(path):
        if path == "bad":
            raise ValueError("cannot read bad")
        return path.upper()

    items = list(prefetch(["a", "bad", "c"], read))
    assert [i.path for i in items] == ["a", "bad", "c"]
    assert [i.value for i in items] == ["A", None, "C"]
    assert isinstance(items[1].error, ValueError) and items[0].error is None
    assert list(prefetch([], read)) == []
    with pytest.raises(ValueError, match="depth"):
        next(prefetch(["a"], read, depth=0))


@pytest.mark.parametrize("depth", [1, 2])
def test_reads_run_at_most_depth_plus_one_ahead(depth):
    started, lock = [], threading.Lock()

    def read(path):
        with lock:
            started.append(path)
        return path

    consumed = 0
    for item in prefetch(list(range(8)), read, depth=depth):
        time.sleep(0.05)  # a slow consumer: the reader waits for it
        consumed += 1
        with lock:
            # One being scored, `depth` waiting in the queue, one held by the thread.
            assert len(started) - consumed <= depth + 1
    assert consumed == 8


def test_closing_early_stops_the_thread():
    reads = []
    items = prefetch(list(range(100)), lambda p: reads.append(p) or p)
    assert next(items).value == 0
    items.close()
    assert len(reads) <= 3
    assert not [t for t in threading.enumerate() if t.name == "video-prefetch"]
