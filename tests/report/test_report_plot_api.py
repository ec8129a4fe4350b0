"""The documented plotting API: every public plot_* returns a Figure, takes a Result too, draws into ax."""

from __future__ import annotations

import inspect
import re

import pytest
from matplotlib.figure import Figure

import peergrid
import peergrid.report as report
from peergrid.report import PLOTS, plot_daily_profiles, plot_savings, plot_soc

PLOT_FUNCS = [name for name in report.__all__ if name.startswith("plot_")]


def test_every_plot_is_public_and_in_plots():
    assert set(PLOT_FUNCS) == {f.__name__ for f in PLOTS.values()}


@pytest.mark.parametrize("name", PLOT_FUNCS)
def test_plot_docstring_is_numpy_style_with_units(name):
    doc = inspect.getdoc(getattr(report, name))
    assert "Parameters\n----------" in doc and "Returns\n-------" in doc
    assert "matplotlib.figure.Figure" in doc
    assert re.search(r"(\bkWh?\b|\bcurrency\b|%)", doc), "units missing"


@pytest.mark.parametrize("name", PLOT_FUNCS)
def test_plot_accepts_a_single_result(comparison, name):
    fig = getattr(report, name)(comparison["sdr"])
    assert isinstance(fig, Figure)
    fig.canvas.draw()


@pytest.mark.parametrize("func", [plot_daily_profiles, plot_savings, plot_soc])
def test_plot_draws_into_given_axes(comparison, func):
    fig = Figure()
    ax = fig.add_subplot(1, 2, 2)
    out = func(comparison, ax=ax)
    assert out is fig
    assert ax.lines or ax.patches
    assert len(fig.axes) == 1


def test_plot_rejects_other_objects():
    with pytest.raises(peergrid.DataError):
        plot_savings({"sdr": 1})
