"""Helpers shared by the report modules and the paper reproductions (public names, private module).

A new Agg figure without pyplot state (:func:`new_figure`), the colour of a market in every
figure (:func:`market_color`), time axes drawn in the community's display zone
(:func:`time_values`, :func:`time_axis`) and the report stylesheet (:func:`report_css`).
"""

from __future__ import annotations

from importlib import resources

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

#: Fixed colours of the pool markets; other markets take :data:`_EXTRA_COLORS` in order.
_MARKET_COLORS = {"baseline": "#7f7f7f", "bs": "#1f77b4", "mmr": "#ff7f0e", "sdr": "#2ca02c"}
_EXTRA_COLORS = ("#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#d62728")


def new_figure(width: float, height: float, nrows: int = 1, ncols: int = 1, **kw) -> tuple[Figure, np.ndarray]:
    """A constrained-layout Agg figure of ``width`` × ``height`` inches and its axes, flattened (no pyplot state)."""
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False, **kw)
    return fig, axes.ravel()


def market_color(name: str, markets: list[str]) -> str:
    """Colour of market ``name`` in every figure: fixed for the pool markets, else by position in ``markets``."""
    if name in _MARKET_COLORS:
        return _MARKET_COLORS[name]
    extra = [m for m in markets if m not in _MARKET_COLORS]
    return _EXTRA_COLORS[extra.index(name) % len(_EXTRA_COLORS)] if name in extra else "#333333"


def time_values(index: pd.DatetimeIndex) -> np.ndarray:
    """UTC datetime64 values (matplotlib reads them as UTC; ticks are drawn in the display tz)."""
    return index.tz_convert("UTC").tz_localize(None).to_numpy()


def time_axis(ax, tz: str) -> None:
    """Date ticks of ``ax`` in the zone ``tz`` (concise labels) and the axis label ``time (tz)``."""
    locator = mdates.AutoDateLocator(tz=tz, minticks=4, maxticks=10)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator, tz=tz))
    ax.set_xlabel(f"time ({tz})")


def report_css() -> str:
    """The stylesheet shared by every peergrid HTML page (``report/report.css``)."""
    return resources.files("peergrid.report").joinpath("report.css").read_text(encoding="utf-8")
