"""Tests of peergrid.data.resample: exact energy conversion between fixed steps."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from peergrid.core.errors import DataError
from peergrid.data import resample_energy, resample_intensive

START = pd.Timestamp("2022-08-01T07:00Z")
STEPS_MIN = [15, 30, 60, 150]


def idx(periods: int, freq: str = "1h") -> pd.DatetimeIndex:
    return pd.date_range(START, periods=periods, freq=freq)


# ---- hand-computed cases -----------------------------------------------------------


def test_hourly_to_150min_hand_computed() -> None:
    s = pd.Series([1.0, 2, 3, 4, 5], index=idx(5))
    out = resample_energy(s, "150min")
    assert out.tolist() == pytest.approx([1 + 2 + 1.5, 1.5 + 4 + 5])
    assert list(out.index) == [START, START + pd.Timedelta("150min")]
    assert pd.Timedelta(out.index.freq) == pd.Timedelta("150min")


def test_150min_to_hourly_splits_evenly() -> None:
    s = pd.Series([5.0, 10.0], index=idx(2, "150min"))
    out = resample_energy(s, "1h")
    # 30-min pieces: 1,1,1,1,1 | 2,2,2,2,2 -> hours 2, 2, 1+2, 4, 4
    assert out.tolist() == pytest.approx([2.0, 2.0, 3.0, 4.0, 4.0])


def test_15min_to_hourly_sums() -> None:
    s = pd.Series(np.arange(8.0), index=idx(8, "15min"))
    out = resample_energy(s, "1h")
    assert out.tolist() == [0 + 1 + 2 + 3, 4 + 5 + 6 + 7]
    assert out.index.freq == pd.Timedelta("1h")


def test_hourly_to_30min_splits() -> None:
    s = pd.Series([2.0, 4.0], index=idx(2))
    assert resample_energy(s, "30min").tolist() == [1.0, 1.0, 2.0, 2.0]


def test_identity_returns_copy() -> None:
    s = pd.Series([1.0, 2.0], index=idx(2))
    out = resample_energy(s, "1h")
    assert out.equals(s) and out is not s


def test_intensive_mean_and_hold() -> None:
    s = pd.Series([1.0, 2, 3, 4, 5], index=idx(5))
    # 30-min holds: 1,1,2,2,3 | 3,4,4,5,5
    assert resample_intensive(s, "150min").tolist() == pytest.approx([1.8, 4.2])
    assert resample_intensive(s.iloc[:2], "30min").tolist() == [1.0, 1.0, 2.0, 2.0]
    q = pd.Series([0.2, 0.4, 0.6, 0.8], index=idx(4, "15min"))
    assert resample_intensive(q, "1h").tolist() == pytest.approx([0.5])


def test_dataframe_keeps_columns() -> None:
    df = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "b": [0.0, 0.0, 4.0, 4.0]}, index=idx(4, "30min"))
    out = resample_energy(df, "1h")
    assert list(out.columns) == ["a", "b"]
    assert out.to_numpy().tolist() == [[3.0, 0.0], [7.0, 8.0]]


def test_numpy_input_returns_values_and_index() -> None:
    x = np.arange(12.0).reshape(4, 3)
    values, new_index = resample_energy(x, "2h", index=idx(4))
    assert values.shape == (2, 3)
    assert values.tolist() == [[3.0, 5.0, 7.0], [15.0, 17.0, 19.0]]
    assert new_index.equals(idx(2, "2h"))
    v1, _ = resample_energy(np.array([1.0, 2.0]), "30min", index=idx(2))
    assert v1.tolist() == [0.5, 0.5, 1.0, 1.0]


def test_trim_drops_trailing_partial_step() -> None:
    s = pd.Series([1.0, 2, 3, 4, 5, 6], index=idx(6))
    out = resample_energy(s, "150min", trim=True)  # 6 h = 2 x 150 min + 1 h dropped
    assert out.tolist() == pytest.approx([4.5, 10.5])
    assert len(out) == 2


def test_large_array_shape() -> None:
    x = np.ones((35040, 200))
    values, index = resample_energy(x, "1h", index=idx(35040, "15min"))
    assert values.shape == (8760, 200)
    assert np.all(values == 4.0)
    assert len(index) == 8760


# ---- errors -------------------------------------------------------------------------


def test_non_divisible_span_raises_with_span_and_freq() -> None:
    s = pd.Series([1.0, 2, 3, 4], index=idx(4))
    with pytest.raises(DataError, match=r"span 4h \(4 steps of 1h\).*freq=150min"):
        resample_energy(s, "150min")


def test_span_shorter_than_one_step_raises_even_with_trim() -> None:
    s = pd.Series([1.0, 2.0], index=idx(2))
    with pytest.raises(DataError, match="shorter than one"):
        resample_energy(s, "150min", trim=True)


def test_gap_raises() -> None:
    index = idx(5).delete(2)
    with pytest.raises(DataError, match="gap"):
        resample_energy(pd.Series(np.ones(4), index=index), "2h")


def test_duplicate_raises() -> None:
    index = pd.DatetimeIndex([START, START, START + pd.Timedelta("1h")])
    with pytest.raises(DataError, match="duplicate"):
        resample_energy(pd.Series(np.ones(3), index=index), "30min")


def test_naive_index_raises() -> None:
    index = pd.date_range("2022-08-01", periods=4, freq="1h")
    with pytest.raises(DataError, match="timezone"):
        resample_energy(pd.Series(np.ones(4), index=index), "2h")


def test_index_without_freq_is_accepted() -> None:
    index = pd.DatetimeIndex([START + pd.Timedelta(hours=h) for h in range(4)])
    assert index.freq is None
    assert resample_energy(pd.Series(np.ones(4), index=index), "2h").tolist() == [2.0, 2.0]


def test_numpy_needs_matching_index() -> None:
    with pytest.raises(DataError, match="index="):
        resample_energy(np.ones(4), "2h")
    with pytest.raises(DataError, match="4 rows"):
        resample_energy(np.ones(4), "2h", index=idx(5))
    with pytest.raises(DataError, match="shape"):
        resample_energy(np.ones((2, 2, 2)), "2h", index=idx(2))


def test_bad_freq_raises() -> None:
    s = pd.Series(np.ones(4), index=idx(4))
    with pytest.raises(DataError, match="fixed time step"):
        resample_energy(s, "MS")
    with pytest.raises(DataError, match="fixed time step"):
        resample_intensive(s, "nonsense")


# ---- property tests -----------------------------------------------------------------


@st.composite
def energy_case(draw: st.DrawFn) -> tuple[np.ndarray, int, int]:
    src = draw(st.sampled_from(STEPS_MIN))
    dst = draw(st.sampled_from(STEPS_MIN))
    lcm = src * dst // math.gcd(src, dst)
    k = draw(st.integers(1, 6))
    t = k * lcm // src
    n = draw(st.integers(1, 4))
    values = draw(
        arrays(np.float64, (t, n), elements=st.floats(0.0, 1e4, allow_nan=False, width=64))
    )
    return values, src, dst


@settings(max_examples=200, deadline=None)
@given(energy_case())
def test_energy_is_conserved(case: tuple[np.ndarray, int, int]) -> None:
    values, src, dst = case
    index = idx(values.shape[0], f"{src}min")
    out, new_index = resample_energy(values, f"{dst}min", index=index)
    assert out.shape == (values.shape[0] * src // dst, values.shape[1])
    assert len(new_index) == out.shape[0]
    np.testing.assert_allclose(out.sum(axis=0), values.sum(axis=0), rtol=1e-9, atol=1e-12)
    assert np.all(out >= 0)


@settings(max_examples=100, deadline=None)
@given(energy_case())
def test_roundtrip_through_finer_step(case: tuple[np.ndarray, int, int]) -> None:
    values, src, _ = case
    index = idx(values.shape[0], f"{src}min")
    fine, fine_index = resample_energy(values, "15min", index=index)
    back, _ = resample_energy(fine, f"{src}min", index=fine_index)
    np.testing.assert_allclose(back, values, rtol=1e-9, atol=1e-9)


@settings(max_examples=100, deadline=None)
@given(energy_case())
def test_intensive_preserves_time_weighted_mean(case: tuple[np.ndarray, int, int]) -> None:
    values, src, dst = case
    index = idx(values.shape[0], f"{src}min")
    out, _ = resample_intensive(values, f"{dst}min", index=index)
    np.testing.assert_allclose(out.mean(axis=0), values.mean(axis=0), rtol=1e-9, atol=1e-9)
    assert out.min() >= values.min() - 1e-9 and out.max() <= values.max() + 1e-9
