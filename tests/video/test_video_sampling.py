import numpy as np
import pytest

from tfdeepfake.video.sampling import SAMPLING_MODES, sample_indices


def test_uniform_takes_segment_centres():
    # 300 frames in 25 segments of 12: centres at 6, 18, ..., 294.
    np.testing.assert_array_equal(sample_indices(300, 25), 6 + 12 * np.arange(25))
    np.testing.assert_array_equal(sample_indices(10, 4), [1, 3, 6, 8])
    np.testing.assert_array_equal(sample_indices(100, 3), [16, 50, 83])


def test_uniform_centre_exactly_on_a_frame_is_not_rounded_down():
    # (3 + 1/2) * 12 / 7 = 6 exactly; float linspace gives 5.999... here.
    np.testing.assert_array_equal(sample_indices(12, 7), [0, 2, 4, 6, 7, 9, 11])


def test_uniform_spans_video_and_is_sorted_unique():
    for n in (26, 31, 97, 300, 751, 1001):
        for k in (2, 5, 25, 26):
            idx = sample_indices(n, k)
            assert len(idx) == min(n, k)
            assert np.all(np.diff(idx) > 0)
            assert idx[0] >= 0 and idx[-1] < n
            # Centres sit within half a segment of the ends.
            assert idx[0] <= n / (2 * k) and idx[-1] >= n - 1 - n / (2 * k)


def test_fewer_frames_than_asked_gives_all_frames():
    np.testing.assert_array_equal(sample_indices(10, 25), np.arange(10))
    np.testing.assert_array_equal(sample_indices(25, 25), np.arange(25))
    np.testing.assert_array_equal(sample_indices(3, 25, "first"), np.arange(3))
    assert sample_indices(0, 25).size == 0


def test_first_mode():
    np.testing.assert_array_equal(sample_indices(100, 5, "first"), np.arange(5))


def test_stride_mode():
    np.testing.assert_array_equal(sample_indices(100, 5, "stride", stride=30), [0, 30, 60, 90])
    np.testing.assert_array_equal(sample_indices(100, 3, "stride", stride=10), [0, 10, 20])
    np.testing.assert_array_equal(sample_indices(5, 25, "stride", stride=1), np.arange(5))


def test_stride_is_ignored_by_other_modes():
    np.testing.assert_array_equal(sample_indices(300, 25, "uniform", stride=7), sample_indices(300, 25))


def test_result_is_int64_and_accepts_numpy_ints():
    idx = sample_indices(np.int32(300), np.int64(25))
    assert idx.dtype == np.int64


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(frame_count=10, mode="random"), "valid modes: uniform, first, stride"),
        (dict(frame_count=10, mode="stride"), "needs stride"),
        (dict(frame_count=10, mode="stride", stride=0), "stride must be >= 1"),
        (dict(frame_count=-1), "frame_count must be >= 0"),
        (dict(frame_count=10, num_frames=0), "num_frames must be >= 1"),
        (dict(frame_count=12.5), "frame_count must be an integer"),
        (dict(frame_count=True), "frame_count must be an integer"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        sample_indices(**kwargs)


def test_modes_constant():
    assert SAMPLING_MODES == ("uniform", "first", "stride")


def test_spread_picks_runs_first_to_last_and_never_repeats():
    from tfdeepfake.video.sampling import spread_picks

    assert spread_picks(25, 12).tolist() == [0, 2, 4, 7, 9, 11, 13, 15, 17, 20, 22, 24]
    assert spread_picks(5, 12).tolist() == [0, 1, 2, 3, 4]
    assert spread_picks(0, 12).tolist() == []
