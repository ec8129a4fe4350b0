"""Finding 2 (report part): reports, plots and daily profiles use the community's local time.

A hand-built Berlin community whose evening peak is 19:00–20:00 local time, over the
switch to summer time (2023-03-26): the peak is 18:00 UTC in winter and 17:00 UTC in
summer, so a UTC profile shows it at 17–18 h; the local profile must show it at 19 h.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import peergrid
from peergrid.core import make_index
from peergrid.report import display_tz, plot_daily_profiles, plot_prices, plot_soc, write_report

TZ = "Europe/Berlin"


@pytest.fixture(scope="module")
def berlin() -> peergrid.Comparison:
    idx = make_index("2023-03-19 23:00", 24 * 14, "1h")  # 2023-03-20 00:00 CET .. 2023-04-03 (CEST)
    local_hour = idx.tz_convert(TZ).hour.to_numpy()
    peak = np.where(local_hour == 19, 5.0, 1.0)  # kWh per hour = kW
    load = np.column_stack([peak, 2 * peak])
    gen = np.zeros_like(load)
    parts = pd.DataFrame({"id": ["a", "b"]})
    com = peergrid.Community(idx, parts, load, gen, retail=0.3, feed_in=0.08, tz=TZ, currency="EUR")
    return peergrid.compare(com, control="none")


def _load_line(fig):
    (line,) = [ln for ln in fig.axes[0].lines if ln.get_label() == "load"]
    return np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float)


def test_display_tz_is_the_community_tz(berlin):
    assert display_tz(berlin.community) == TZ


def test_daily_profile_peak_at_local_19h(berlin):
    fig = plot_daily_profiles(berlin)
    assert fig.axes[0].get_xlabel() == "hour of day (Europe/Berlin)"
    x, y = _load_line(fig)
    # steps-post: the value at x[i] holds for [x[i], x[i+1]); the community load is 3 kW, 15 kW at 19 h
    assert x[np.argmax(y)] == 19.0
    assert y.max() == pytest.approx(15.0)
    assert np.allclose(np.delete(y[:-1], 19), 3.0)


def test_time_axes_are_local(berlin):
    assert plot_prices(berlin).axes[0].get_xlabel() == f"time ({TZ})"
    assert plot_soc(berlin).axes[0].get_title()  # no batteries: a note, no time axis


def test_report_shows_local_time(berlin, tmp_path):
    text = write_report(berlin, tmp_path).read_text(encoding="utf-8")
    assert "hour of day (Europe/Berlin)" in text
    # the span starts at local midnight (UTC+01:00), not 23:00 UTC; 14 × 24 h later it is 01:00 summer time
    assert re.search(r"2023-03-20 00:00 \(UTC\+01:00\) to 2023-04-03 01:00 \(UTC\+02:00\)", text)
    assert "Europe/Berlin" in text


ZONES = ["Europe/Berlin", "America/New_York", "Australia/Sydney", "Asia/Kolkata", "UTC"]


@settings(max_examples=15, deadline=None)
@given(tz=st.sampled_from(ZONES), hour=st.integers(0, 23), start=st.sampled_from(["2023-03-20", "2023-10-24"]))
def test_profile_peak_is_the_local_hour_in_any_zone(tz, hour, start):
    """Property: a load peaking at local hour h (across a DST change) peaks at h on the profile axis."""
    idx = make_index(pd.Timestamp(start, tz=tz).tz_convert("UTC"), 24 * 14, "1h")
    peak = np.where(idx.tz_convert(tz).hour.to_numpy() == hour, 4.0, 1.0)[:, None]
    com = peergrid.Community(idx, pd.DataFrame({"id": ["a"]}), peak, np.zeros_like(peak), tz=tz)
    x, y = _load_line(plot_daily_profiles(peergrid.compare(com, markets=["baseline"], control="none")))
    assert x[np.argmax(y)] == hour and y.max() == pytest.approx(4.0)
