"""Plot functions: figures, axes, content, windows, no pyplot state."""

from __future__ import annotations

import itertools
import subprocess
import sys

import numpy as np
import pytest
from matplotlib.figure import Figure

import peergrid
from peergrid.report import (
    PLOTS,
    display_tz,
    energy_flows,
    plot_daily_profiles,
    plot_energy_flows,
    plot_prices,
    plot_savings,
    plot_soc,
    profile_market,
    representative_week,
)

EXPECTED_AXES = {"daily_profiles": 1, "prices": 2, "savings": 1, "soc": 1, "energy_flows": 2}


def _render(fig: Figure) -> None:
    fig.canvas.draw()  # must not raise with the Agg canvas attached


@pytest.mark.parametrize("name", list(EXPECTED_AXES))
def test_plot_returns_figure_with_content(comparison, name):
    fig = PLOTS[name](comparison)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == EXPECTED_AXES[name]
    for ax in fig.axes:
        assert ax.lines or ax.patches, f"{name}: empty axes"
        assert ax.get_title()
    _render(fig)


def test_no_pyplot_and_backend_untouched(tmp_path):
    """Plots and the report neither import pyplot nor switch the user's backend."""
    code = f"""
import sys, matplotlib
matplotlib.use("svg")
import numpy as np, pandas as pd, peergrid
from peergrid.core import make_index
from peergrid.report import write_report
rng = np.random.default_rng(0)
T, N = 96, 4
gen = np.zeros((T, N)); gen[:, :2] = rng.uniform(0, 2, (T, 2))
parts = pd.DataFrame({{"id": list("abcd"), "battery_kwh": [5.0, 0, 0, 0], "battery_kw": [2.5, 0, 0, 0]}})
com = peergrid.Community(make_index("2022-08-01", T, "15min"), parts, rng.uniform(0, 1, (T, N)), gen)
write_report(peergrid.compare(com), {str(tmp_path)!r})
assert "matplotlib.pyplot" not in sys.modules, "pyplot imported"
assert matplotlib.get_backend() == "svg", matplotlib.get_backend()
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (tmp_path / "report.html").is_file()


def test_daily_profiles_lines(comparison, make_community):
    fig = plot_daily_profiles(comparison)
    ax = fig.axes[0]
    labels = [line.get_label() for line in ax.lines]
    assert labels == [
        "load",
        "generation",
        "grid import – no P2P",
        "grid export – no P2P",
        "grid import – SDR",
        "grid export – SDR",
    ]
    assert "Europe/Berlin" in ax.get_xlabel()
    # mean load profile in kW averages to the mean community load power
    com = comparison.community
    x, y = ax.lines[0].get_data()
    assert x[0] == 0 and x[-1] == 24
    assert np.isclose(np.mean(y[:-1]), com.load.sum(axis=1).mean() / com.dt)
    # utc when no display_tz is set
    cmp = peergrid.compare(make_community(96, 4, batteries=0), markets=["baseline", "mmr"])
    ax = plot_daily_profiles(cmp).axes[0]
    assert "UTC" in ax.get_xlabel() and "grid import – MMR" in [ln.get_label() for ln in ax.lines]


def test_prices_panels(comparison):
    fig = plot_prices(comparison)
    top, bottom = fig.axes
    labels = [ln.get_label() for ln in top.lines]
    assert labels[:2] == ["retail λb", "feed-in λs"]
    for m in ("BS", "MMR", "SDR"):
        assert f"{m} buy" in labels and f"{m} sell" in labels
    assert "whole horizon" in top.get_title()
    assert len(bottom.patches) == 6  # buy + sell box per P2P mechanism
    assert [t.get_text() for t in bottom.get_xticklabels()] == ["BS", "MMR", "SDR"]  # buy and sell box per tick
    assert [p.get_hatch() for p in bottom.patches[:2]] == [None, "//"]


def test_prices_weighted_boxes_within_tariffs(comparison):
    from peergrid.report.plots import _weighted_stats

    st = comparison["sdr"].steps
    s = _weighted_stats(st["price_sell"].to_numpy(), st["supply_kwh"].to_numpy(), "x")
    assert 0.08 - 1e-12 <= s["whislo"] <= s["q1"] <= s["med"] <= s["q3"] <= s["whishi"] <= 0.3 + 1e-12
    w = st["supply_kwh"].to_numpy()
    assert np.isclose(s["mean"], (st["price_sell"] * w).sum() / w.sum())
    assert _weighted_stats(np.ones(3), np.zeros(3), "none") is None


def test_representative_week(long_comparison, comparison, make_community):
    w = representative_week(long_comparison)
    assert w.label.startswith("week with the largest generation")
    assert w.stop - w.start == 7 * 96
    gen = long_comparison["sdr"].steps["generation_kwh"].to_numpy()
    daily = gen.reshape(21, 96).sum(axis=1)
    best = int(np.argmax(np.convolve(daily, np.ones(7), "valid")))
    assert w.start == best * 96
    assert representative_week(comparison).label == "whole horizon (4 days)"  # 3 UTC days in Berlin time
    # no generation -> first 7 days
    com = make_community(96 * 10, 4, batteries=0)
    com.generation[:] = 0.0
    com.participants["role"] = "consumer"
    w0 = representative_week(peergrid.compare(com, markets=["baseline"]))
    assert (w0.start, w0.stop) == (0, 7 * 96) and w0.label.startswith("first 7 days")
    fig = plot_prices(long_comparison)
    assert w.label in fig.axes[0].get_title()
    assert len(fig.axes[0].lines[0].get_xdata()) == 7 * 96


def test_savings_split_by_role(comparison, make_community):
    ax = plot_savings(comparison).axes[0]
    assert len(ax.patches) == 6  # 3 mechanisms x 2 roles
    assert {t.get_text() for t in ax.get_legend().get_texts()} == {"prosumers (5)", "consumers (5)"}
    assert "EUR" in ax.get_ylabel()
    # consumers only -> no split, one box per mechanism
    com = make_community(96, 6, batteries=0)
    com.generation[:] = 0.0
    com.participants["role"] = "consumer"
    ax = plot_savings(peergrid.compare(com)).axes[0]
    assert len(ax.patches) == 3 and ax.get_legend() is None


def test_savings_baseline_only(make_community):
    cmp = peergrid.compare(make_community(96, 4, batteries=1), markets=["baseline"])
    fig = plot_savings(cmp)
    assert len(fig.axes) == 1 and "only the no-P2P baseline" in fig.axes[0].texts[0].get_text()
    _render(fig)


def test_soc_lines(long_comparison):
    ax = plot_soc(long_comparison).axes[0]
    labels = [ln.get_label() for ln in ax.lines]
    assert len(labels) == 9 and labels[-1] == "mean of all 10"
    assert "8 of 10 batteries" in ax.get_title()
    for ln in ax.lines:
        y = np.asarray(ln.get_ydata())
        assert len(y) == 7 * 96 and np.all((y >= 0) & (y <= 1 + 1e-9))
    # same numbers as Result.soc()
    res = long_comparison["sdr"]
    w = representative_week(long_comparison)
    soc = res.soc().iloc[w.start : w.stop]
    assert np.allclose(ax.lines[-1].get_ydata(), soc.mean(axis=1).to_numpy())
    assert np.allclose(ax.lines[0].get_ydata(), soc[labels[0]].to_numpy())


def test_soc_without_batteries(no_battery_comparison):
    fig = plot_soc(no_battery_comparison)
    assert len(fig.axes) == 1
    assert "no batteries" in fig.axes[0].texts[0].get_text()
    _render(fig)


def test_energy_flows_balance(comparison):
    flows = energy_flows(comparison)
    com = comparison.community
    gen, load = com.generation.sum(), com.load.sum()
    assert np.allclose(flows[["self_consumed", "p2p_sold", "grid_export"]].sum(axis=1), gen)
    assert (flows.loc["baseline", ["p2p_sold", "p2p_bought"]] == 0).all()
    for m in ("bs", "mmr", "sdr"):
        assert flows.loc[m, "grid_import"] == pytest.approx(comparison[m].metrics["grid_import_kwh"])
        assert flows.loc[m, "p2p_sold"] > 0
    # demand side sums to the load up to battery losses
    assert np.all(flows[["self_supplied", "p2p_bought", "grid_import"]].sum(axis=1) <= load * 1.05)
    fig = plot_energy_flows(comparison)
    left, right = fig.axes
    assert len(left.patches) == 3 * len(comparison) and len(right.patches) == 3 * len(comparison)


def test_display_tz_and_profile_market(comparison, make_community):
    assert display_tz(comparison.community) == "Europe/Berlin"
    assert profile_market(comparison) == "sdr"
    com = make_community(96, 4, batteries=0, meta={"display_tz": "Not/AZone"})
    with pytest.raises(peergrid.DataError, match="display_tz"):
        display_tz(com)


def _overlap(a, b, pad: float = 1.0) -> bool:
    return a.x0 + pad < b.x1 and b.x0 + pad < a.x1 and a.y0 + pad < b.y1 and b.y0 + pad < a.y1


@pytest.mark.parametrize("name", list(EXPECTED_AXES))
def test_eight_markets_readable(order_comparison, name):
    """With all 8 markets no tick labels collide with each other, legends or titles."""
    assert len(order_comparison) == 8
    fig = PLOTS[name](order_comparison)
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    legends = [leg.get_window_extent(r) for leg in [*fig.legends, *(ax.get_legend() for ax in fig.axes)] if leg]
    for ax in fig.axes:
        shown = [t for t in ax.get_xticklabels() if t.get_text() and t.get_visible()]
        ticks = sorted(shown, key=lambda t: t.get_position()[0])
        for a, b in itertools.pairwise(ticks):
            rot = np.deg2rad(a.get_rotation())
            if rot == 0:
                assert not _overlap(a.get_window_extent(r), b.get_window_extent(r)), (name, a.get_text(), b.get_text())
            else:  # parallel rotated labels: perpendicular gap between neighbours > text height
                dx = b.get_window_extent(r).x1 - a.get_window_extent(r).x1
                height = a.get_fontsize() * fig.dpi / 72 * (a.get_text().count("\n") + 1)
                assert dx * np.sin(rot) > 1.2 * height, (name, a.get_text(), b.get_text())
        boxes = [t.get_window_extent(r) for t in ticks] + [ax.title.get_window_extent(r)]
        for box in boxes:
            for leg in legends:
                assert not _overlap(box, leg), (name, "legend overlaps a tick label or title")
