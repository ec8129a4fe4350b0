"""Figures of a :class:`~peergrid.simulate.Comparison` (the plotting API).

Every ``plot_*`` function takes a comparison (or a single
:class:`~peergrid.simulate.Result`) and returns a :class:`matplotlib.figure.Figure`
built with the object-oriented API and an Agg canvas attached directly — no
:mod:`matplotlib.pyplot`, no ``plt.show()``, so no global state and no interference
with a backend the user already chose (notebooks display the returned figure as
usual). One-panel figures also draw into an existing ``ax``. Times are shown in the
community's local time zone (:attr:`peergrid.Community.tz`), across daylight-saving
changes; storage stays UTC. Save with :func:`peergrid.report.save_figure` (PNG, SVG,
PDF at any dpi) or ``fig.savefig``.

The functions only read what they draw: per-step community totals
(``Result.steps``), per-participant totals (``Comparison.savings()``) and the
battery schedule over one week. They never build the ``T × N`` long table, so a
year of 1,000 households plots in about a second.
"""

from __future__ import annotations

import itertools
import textwrap
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import PercentFormatter

from peergrid.core.community import Community
from peergrid.core.errors import DataError
from peergrid.market.mechanisms import MECHANISM_NAMES
from peergrid.report._common import market_color, new_figure, time_axis, time_values
from peergrid.simulate.result import Comparison, Result

__all__ = [
    "PLOTS",
    "Window",
    "display_tz",
    "energy_flows",
    "market_label",
    "plot_daily_profiles",
    "plot_energy_flows",
    "plot_prices",
    "plot_savings",
    "plot_soc",
    "profile_market",
    "representative_week",
]

_ROLE_COLORS = {"prosumer": "#e6a700", "consumer": "#6a51a3"}
_FLOW_COLORS = {
    "self": "#4daf4a",
    "peer": "#377eb8",
    "grid_export": "#a6cee3",
    "grid_import": "#e41a1c",
}


# ---- shared helpers -------------------------------------------------------------------
def market_label(name: str) -> str:
    """Display label of a market, e.g. ``"SDR – Supply-demand ratio"``."""
    if name == "baseline":
        return "Baseline – no P2P (grid only)"
    long = MECHANISM_NAMES.get(name)
    return f"{name.upper()} – {long}" if long else name


def _tick_label(name: str, width: int = 18) -> str:
    """Two-part tick label of a market: ``"MCAFEE"`` over its long name wrapped at ``width`` characters."""
    if name == "baseline":
        return "no P2P"
    long = MECHANISM_NAMES.get(name)
    return f"{name.upper()}\n" + textwrap.fill(long, width) if long else name.upper()


def _fit_xticklabels(ax, rotation: float = 30.0, pad: float = 4.0) -> None:
    """Rotate the x tick labels of ``ax`` when neighbours would overlap (pad in pixels).

    Lays the figure out first (constrained layout moves the axes), then compares
    the labels' extents; rotated labels are right-aligned at their tick.
    """
    fig = ax.figure
    fig.draw_without_rendering()
    get = getattr(fig.canvas, "get_renderer", None) or getattr(fig, "_get_renderer", None)
    if get is None:  # a user's figure on a canvas that cannot measure text: leave the labels as they are
        return
    renderer = get()
    labels = sorted((t for t in ax.get_xticklabels() if t.get_text()), key=lambda t: t.get_position()[0])
    boxes = [t.get_window_extent(renderer) for t in labels]
    if any(a.x1 + pad > b.x0 for a, b in itertools.pairwise(boxes)):
        for t in labels:
            t.set_rotation(rotation)
            t.set_horizontalalignment("right")
            t.set_rotation_mode("anchor")


def _as_comparison(obj: Comparison | Result) -> Comparison:
    """A comparison; a single result becomes a one-market comparison."""
    if isinstance(obj, Result):
        return Comparison({obj.market: obj})
    if not isinstance(obj, Comparison):
        raise DataError(f"expected a Comparison or a Result, got {type(obj).__name__}")
    return obj


def _axes(ax, width: float, height: float) -> tuple[Figure, object]:
    """A new one-panel figure, or the figure of ``ax`` when given."""
    if ax is None:
        fig, (new,) = new_figure(width, height)
        return fig, new
    return ax.figure, ax


def _first(comparison: Comparison) -> Result:
    if len(comparison) == 0:
        raise DataError("the comparison holds no results")
    return next(iter(comparison.values()))


def _p2p_markets(comparison: Comparison) -> list[str]:
    return [m for m in comparison if m != "baseline"]


def display_tz(community: Community) -> str:
    """Time zone of reports and figures: the community's :attr:`~peergrid.Community.tz`.

    A community in UTC whose ``meta["display_tz"]`` is set (shipped data sets that
    keep the site's local time of day) is shown in that zone.

    Returns
    -------
    str
        IANA time zone name, e.g. ``"Europe/Berlin"``.
    """
    tz = getattr(community, "tz", "UTC") or "UTC"
    if tz != "UTC":
        return tz
    tz = community.meta.get("display_tz") if isinstance(community.meta, dict) else None
    if not tz:
        return "UTC"
    try:
        community.index[:1].tz_convert(str(tz))
    except Exception as exc:  # pytz / zoneinfo raise different types
        raise DataError(f"{community.name}: meta['display_tz'] = {tz!r} is not a known time zone") from exc
    return str(tz)


def _local_index(community: Community) -> pd.DatetimeIndex:
    tz = display_tz(community)
    return community.local_index if tz == community.tz else community.index.tz_convert(tz)


@dataclass(frozen=True)
class Window:
    """A contiguous range of steps with a human-readable description."""

    start: int
    stop: int
    label: str

    @property
    def slice(self) -> slice:
        return slice(self.start, self.stop)


def representative_week(comparison: Comparison | Result) -> Window:
    """The 7 (local) days with the largest community generation.

    Falls back to the first 7 days when nothing is generated, and to the whole
    horizon when it is 7 days or shorter. Days are calendar days in the display
    time zone (:func:`display_tz`).

    Returns
    -------
    Window
        Step range and a label such as ``"week with the largest generation,
        2022-08-08 to 2022-08-14"``.
    """
    res = _first(_as_comparison(comparison))
    com = res.community
    local = _local_index(com)
    codes, days = pd.factorize(local.tz_localize(None).normalize())  # local calendar days
    n_days = len(days)
    if n_days <= 7:
        return Window(0, com.T, f"whole horizon ({n_days} day{'s' if n_days != 1 else ''})")
    starts = np.searchsorted(codes, np.arange(n_days + 1))  # codes are sorted (monotonic index)
    gen = res.steps["generation_kwh"].to_numpy()
    daily = np.bincount(codes, weights=gen, minlength=n_days)
    if not np.any(daily > 0):
        first, how = 0, "first 7 days"
    else:
        weekly = np.convolve(daily, np.ones(7), mode="valid")
        first, how = int(np.argmax(weekly)), "week with the largest generation"
    d0, d1 = days[first], days[first + 6]
    return Window(int(starts[first]), int(starts[first + 7]), f"{how}, {d0:%Y-%m-%d} to {d1:%Y-%m-%d}")


def profile_market(comparison: Comparison | Result) -> str:
    """The market shown against the baseline in the daily profile: SDR if present, else the first P2P one."""
    comparison = _as_comparison(comparison)
    p2p = _p2p_markets(comparison)
    if "sdr" in p2p:
        return "sdr"
    return p2p[0] if p2p else next(iter(comparison))


def _scale(max_kwh: float) -> tuple[float, str]:
    if max_kwh >= 1e7:
        return 1e6, "GWh"
    if max_kwh >= 1e4:
        return 1e3, "MWh"
    return 1.0, "kWh"


def _weighted_stats(values: np.ndarray, weights: np.ndarray, label: str) -> dict | None:
    """Box statistics of ``values`` weighted by ``weights`` (whiskers at the 5th/95th percentiles)."""
    keep = weights > 0
    v, w = values[keep], weights[keep]
    if v.size == 0:
        return None
    order = np.argsort(v, kind="stable")
    v, w = v[order], w[order]
    cw = np.cumsum(w)
    total = cw[-1]
    pos = (cw - 0.5 * w) / total  # mid-point plotting positions
    q05, q25, q50, q75, q95 = np.interp([0.05, 0.25, 0.5, 0.75, 0.95], pos, v)
    return {
        "label": label,
        "whislo": q05,
        "q1": q25,
        "med": q50,
        "q3": q75,
        "whishi": q95,
        "mean": float((v * w).sum() / total),
        "fliers": np.empty(0),
    }


def _tukey_stats(values: np.ndarray) -> dict:
    """Box statistics with Tukey whiskers (furthest points within 1.5 IQR of the box)."""
    x = np.asarray(values, dtype=np.float64)
    q1, med, q3 = np.percentile(x, [25, 50, 75])
    iqr = q3 - q1
    inside = x[(x >= q1 - 1.5 * iqr) & (x <= q3 + 1.5 * iqr)]
    lo, hi = (float(inside.min()), float(inside.max())) if inside.size else (q1, q3)
    return {
        "whislo": lo,
        "q1": q1,
        "med": med,
        "q3": q3,
        "whishi": hi,
        "mean": float(x.mean()),
        "fliers": x[(x < lo) | (x > hi)],
    }


def _draw_boxes(
    ax,
    stats: list[dict],
    positions: np.ndarray,
    width: float,
    colors: list[str],
    hatches: list[str] | None = None,
    *,
    alpha: float = 0.7,
    show_mean: bool = True,
    show_fliers: bool = True,
) -> None:
    """Draw box plots from precomputed statistics.

    Hand-rolled on purpose: ``Axes.boxplot``/``Axes.bxp`` iterate over all rcParams,
    which makes matplotlib import :mod:`matplotlib.pyplot` to resolve the backend —
    global state this module promises not to touch.
    """
    hatches = hatches or [""] * len(stats)
    line = {"color": "black", "lw": 1.0, "solid_capstyle": "butt"}
    for s, p, c, h in zip(stats, positions, colors, hatches, strict=True):
        half = width / 2
        ax.add_patch(
            Rectangle(
                (p - half, s["q1"]),
                width,
                s["q3"] - s["q1"],
                facecolor=to_rgba(c, alpha),
                edgecolor="black",
                hatch=h or None,
                lw=1.0,
            )
        )
        ax.plot([p, p], [s["whislo"], s["q1"]], **line)
        ax.plot([p, p], [s["q3"], s["whishi"]], **line)
        ax.plot([p - half / 2, p + half / 2], [s["whislo"]] * 2, **line)
        ax.plot([p - half / 2, p + half / 2], [s["whishi"]] * 2, **line)
        ax.plot([p - half, p + half], [s["med"]] * 2, color="black", lw=1.8)
        if show_mean:
            ax.plot([p], [s["mean"]], marker="^", ms=7, mfc="white", mec="black", ls="none")
        if show_fliers and len(s["fliers"]):
            ax.plot(np.full(len(s["fliers"]), p), s["fliers"], "o", ms=2.5, color="black", alpha=0.4)


# ---- 1. daily profiles ------------------------------------------------------------------
def plot_daily_profiles(comparison: Comparison | Result, market: str | None = None, *, ax=None) -> Figure:
    """Mean daily profile of load, generation, grid import and export, kW.

    Community totals per step (kWh) are divided by the step length (h) and averaged
    by local time of day (:func:`display_tz`, e.g. "hour of day (Europe/Berlin)"; a
    day with a daylight-saving change counts each local hour it has). Load and
    generation are the same for every market; grid import/export are drawn for the
    no-P2P baseline (dashed) and for ``market`` (solid; default :func:`profile_market`).

    Parameters
    ----------
    comparison : Comparison or Result
        Results to draw (a single result is drawn against its no-P2P baseline).
    market : str, optional
        P2P market to compare with the baseline.
    ax : matplotlib.axes.Axes, optional
        Draw into this axes instead of a new figure.

    Returns
    -------
    matplotlib.figure.Figure
        The figure (one axes; x in hours 0–24 local time, y in kW).

    Examples
    --------
    >>> import peergrid
    >>> from peergrid.data import synthetic_community
    >>> from peergrid.report import plot_daily_profiles
    >>> fig = plot_daily_profiles(peergrid.compare(synthetic_community(10, periods=48, freq="1h", seed=1)))
    >>> fig.axes[0].get_ylabel()
    'mean community power (kW)'
    """
    comparison = _as_comparison(comparison)
    market = market or profile_market(comparison)
    if market not in comparison:
        raise DataError(f"market {market!r} is not in the comparison ({', '.join(comparison)})")
    res = comparison[market]
    com = res.community
    tz = display_tz(com)
    local = _local_index(com)
    minute = local.hour.to_numpy() * 60 + local.minute.to_numpy()
    keys, inv = np.unique(minute, return_inverse=True)
    counts = np.bincount(inv, minlength=keys.size)
    dt = com.dt

    def profile(kwh: np.ndarray) -> np.ndarray:
        mean_kw = np.bincount(inv, weights=kwh, minlength=keys.size) / counts / dt
        return np.append(mean_kw, mean_kw[-1])  # close the last step at 24 h

    x = np.append(keys / 60.0, 24.0 if keys[-1] / 60.0 < 24.0 else keys[-1] / 60.0)
    steps = res.steps
    base = res.baseline
    fig, ax = _axes(ax, 10, 5.2)
    kw = {"drawstyle": "steps-post"}
    ax.plot(x, profile(steps["load_kwh"].to_numpy()), color="black", lw=2, label="load", **kw)
    ax.plot(x, profile(steps["generation_kwh"].to_numpy()), color="#e6a700", lw=2, label="generation", **kw)
    imp, exp = "#d62728", "#1f77b4"
    ax.plot(x, profile(base.grid_import), color=imp, lw=1.6, ls="--", label="grid import – no P2P", **kw)
    ax.plot(x, profile(base.grid_export), color=exp, lw=1.6, ls="--", label="grid export – no P2P", **kw)
    if market != "baseline":
        ax.plot(
            x,
            profile(steps["grid_import_kwh"].to_numpy()),
            color=imp,
            lw=1.8,
            label=f"grid import – {market.upper()}",
            **kw,
        )
        ax.plot(
            x,
            profile(steps["grid_export_kwh"].to_numpy()),
            color=exp,
            lw=1.8,
            label=f"grid export – {market.upper()}",
            **kw,
        )
    ax.set_xlim(0, 24)
    ax.set_xticks(np.arange(0, 25, 3))
    ax.set_ylim(bottom=0)
    ax.set_xlabel(f"hour of day ({tz})")
    ax.set_ylabel("mean community power (kW)")
    title = "Mean daily profile"
    title += f": no-P2P baseline vs {market_label(market)}" if market != "baseline" else ": no-P2P baseline"
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=9, ncols=2, frameon=False)
    return fig


# ---- 2. prices ----------------------------------------------------------------------------
def plot_prices(comparison: Comparison | Result, window: Window | None = None) -> Figure:
    """Internal buy/sell prices per mechanism (currency/kWh): a week of time series and their distribution.

    Top panel: ``price_buy`` (solid) and ``price_sell`` (dashed) per P2P market over
    ``window`` (default :func:`representative_week`), with the retail price λb and
    the feed-in tariff λs as reference lines; prices are left out in slots without
    buyers (sellers). Bottom panel: box plots over the whole horizon, weighted by
    volume (buy prices by the community's deficit, sell prices by its surplus):
    box = quartiles, line = median, triangle = mean, whiskers = 5th–95th percentile.
    The time axis is in local time (:func:`display_tz`).

    Parameters
    ----------
    comparison : Comparison or Result
        Results to draw.
    window : Window, optional
        Steps of the top panel (default :func:`representative_week`).

    Returns
    -------
    matplotlib.figure.Figure
        Two axes (prices in currency/kWh).
    """
    comparison = _as_comparison(comparison)
    res0 = _first(comparison)
    com = res0.community
    tz = display_tz(com)
    window = window or representative_week(comparison)
    sl = window.slice
    markets = list(comparison)
    p2p = _p2p_markets(comparison)
    fig, (ax, bx) = new_figure(11, 8, 2, 1, height_ratios=[3, 2])
    x = time_values(com.index[sl])
    s0 = res0.steps.iloc[sl]
    kw = {"drawstyle": "steps-post"}
    ax.plot(x, s0["retail"].to_numpy(), color="black", lw=2.2, alpha=0.7, label="retail λb", **kw)
    ax.plot(x, s0["feed_in"].to_numpy(), color="black", lw=2.2, alpha=0.7, ls=":", label="feed-in λs", **kw)
    for name in p2p:
        st = comparison[name].steps.iloc[sl]
        c = market_color(name, markets)
        buy = np.where(st["demand_kwh"].to_numpy() > 0, st["price_buy"].to_numpy(), np.nan)
        sell = np.where(st["supply_kwh"].to_numpy() > 0, st["price_sell"].to_numpy(), np.nan)
        ax.plot(x, buy, color=c, lw=1.3, label=f"{name.upper()} buy", **kw)
        ax.plot(x, sell, color=c, lw=1.3, ls="--", label=f"{name.upper()} sell", **kw)
    time_axis(ax, tz)
    ax.set_ylabel(f"price ({com.currency}/kWh)")
    ax.set_title(f"Internal prices per mechanism – {window.label}")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=9, frameon=False)

    stats, colors, hatches, pos, ticks = [], [], [], [], []
    for j, name in enumerate(p2p or markets):  # per market: buy box left, sell box (hatched) right
        st = comparison[name].steps
        ticks.append(name.upper() if name != "baseline" else "no P2P")
        for side, price, vol, dx in (
            ("buy", "price_buy", "demand_kwh", -0.2),
            ("sell", "price_sell", "supply_kwh", 0.2),
        ):
            s = _weighted_stats(st[price].to_numpy(), st[vol].to_numpy(), f"{name.upper()} {side}")
            if s is not None:
                stats.append(s)
                pos.append(j + dx)
                colors.append(market_color(name, markets))
                hatches.append("" if side == "buy" else "//")
    if stats:
        _draw_boxes(bx, stats, np.asarray(pos), 0.34, colors, hatches, alpha=0.75)
        bx.set_xticks(np.arange(len(ticks)), ticks)
        bx.set_xlim(-0.6, len(ticks) - 0.4)
        bx.legend(
            handles=[
                Patch(facecolor="white", edgecolor="black", label="buy (weighted by deficit)"),
                Patch(facecolor="white", edgecolor="black", hatch="//", label="sell (weighted by surplus)"),
            ],
            loc="upper left",
            bbox_to_anchor=(1.0, 1.0),
            fontsize=9,
            frameon=False,
        )
    else:
        bx.text(0.5, 0.5, "no trades in the horizon", transform=bx.transAxes, ha="center", va="center")
    lb, ls = com.retail, com.feed_in
    if np.ptp(lb) == 0:
        bx.axhline(lb[0], color="black", lw=1, alpha=0.6)
    if np.ptp(ls) == 0:
        bx.axhline(ls[0], color="black", lw=1, alpha=0.6, ls=":")
    bx.set_ylabel(f"price ({com.currency}/kWh)")
    bx.set_title(
        "Volume-weighted price distribution over the whole horizon (whiskers: 5th–95th percentile)", fontsize=10
    )
    bx.grid(axis="y", alpha=0.3)
    _fit_xticklabels(bx)
    return fig


# ---- 3. savings --------------------------------------------------------------------------
def plot_savings(comparison: Comparison | Result, *, ax=None) -> Figure:
    """Distribution of per-participant savings vs the no-P2P baseline per mechanism, currency.

    Box plots of ``comparison.savings()`` (currency over the horizon), split by role
    (prosumer / consumer) when both exist; every participant is also drawn as a
    jittered point when there are at most 300.

    Parameters
    ----------
    comparison : Comparison or Result
        Results to draw.
    ax : matplotlib.axes.Axes, optional
        Draw into this axes instead of a new figure.

    Returns
    -------
    matplotlib.figure.Figure
        The figure (one axes; savings in the community's currency).
    """
    comparison = _as_comparison(comparison)
    com = _first(comparison).community
    markets = _p2p_markets(comparison)
    fig, ax = _axes(ax, 10, 5.2)
    ax.axhline(0.0, color="black", lw=1, alpha=0.7)
    ax.set_ylabel(f"savings vs no-P2P baseline ({com.currency})")
    ax.set_title(f"Per-participant savings over the horizon ({com.N} participants)")
    if not markets:
        ax.text(
            0.5,
            0.5,
            "only the no-P2P baseline was simulated: no savings to show",
            transform=ax.transAxes,
            ha="center",
            va="center",
        )
        ax.set_xticks([])
        return fig
    savings = comparison.savings()[markets]
    roles = com.participants["role"].to_numpy()
    present = [r for r in ("prosumer", "consumer") if np.any(roles == r)]
    groups = present if len(present) > 1 else [None]
    width = 0.7 / len(groups)
    rng = np.random.default_rng(0)  # jitter only; fixed for reproducible images
    strip = com.N <= 300
    for k, role in enumerate(groups):
        mask = np.ones(com.N, bool) if role is None else roles == role
        data = [savings[m].to_numpy()[mask] for m in markets]
        pos = np.arange(len(markets)) + (k - (len(groups) - 1) / 2) * width
        color = _ROLE_COLORS.get(role or "", None)
        box_colors = [color or market_color(m, list(comparison)) for m in markets]
        _draw_boxes(
            ax, [_tukey_stats(d) for d in data], pos, width * 0.85, box_colors, alpha=0.6, show_fliers=not strip
        )
        if strip:
            for p, d in zip(pos, data, strict=True):
                jitter = rng.uniform(-width * 0.3, width * 0.3, d.size)
                ax.plot(p + jitter, d, "o", ms=2.5, color="black", alpha=0.45)
    ax.set_xticks(np.arange(len(markets)), [_tick_label(m) for m in markets])
    ax.set_xlim(-0.6, len(markets) - 0.4)
    if len(groups) > 1:
        n = {r: int(np.sum(roles == r)) for r in present}
        ax.legend(
            handles=[Patch(facecolor=_ROLE_COLORS[r], alpha=0.6, label=f"{r}s ({n[r]})") for r in present],
            loc="best",
            frameon=False,
        )
    ax.grid(axis="y", alpha=0.3)
    _fit_xticklabels(ax)
    return fig


# ---- 4. state of charge ----------------------------------------------------------------------
def plot_soc(
    comparison: Comparison | Result, window: Window | None = None, max_batteries: int = 8, *, ax=None
) -> Figure:
    """Battery state of charge (% of capacity) over the representative week.

    Up to ``max_batteries`` batteries (evenly spread over the owners) and the mean
    state of charge of all batteries, against local time (:func:`display_tz`). The
    schedule is shared by all markets of a comparison. Without batteries the figure
    carries a "no batteries" note.

    Parameters
    ----------
    comparison : Comparison or Result
        Results to draw.
    window : Window, optional
        Steps to draw (default :func:`representative_week`).
    max_batteries : int
        Most batteries drawn individually.
    ax : matplotlib.axes.Axes, optional
        Draw into this axes instead of a new figure.

    Returns
    -------
    matplotlib.figure.Figure
        The figure (one axes; state of charge in % of capacity).
    """
    comparison = _as_comparison(comparison)
    res = _first(comparison)
    com = res.community
    tz = display_tz(com)
    window = window or representative_week(comparison)
    sched = res.battery
    n = int(sched.owners.size)
    fig, ax = _axes(ax, 11, 4.8 if n else 2.0)
    if n == 0:
        ax.text(
            0.5, 0.5, "no batteries in this community", transform=ax.transAxes, ha="center", va="center", fontsize=13
        )
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title("Battery state of charge")
        return fig
    sl = window.slice
    cap = np.where(sched.capacity > 0, sched.capacity, 1.0)  # as Result.soc()
    soc = sched.energy[sl] / cap  # (week, n) only
    pick = np.unique(np.linspace(0, n - 1, min(max_batteries, n)).round().astype(np.int64))
    ids = com.ids[sched.owners[pick]]
    x = time_values(com.index[sl])
    for j, pid in zip(pick, ids, strict=True):
        ax.plot(x, soc[:, j], lw=1.0, alpha=0.75, label=str(pid))
    ax.plot(x, soc.mean(axis=1), color="black", lw=2.4, label=f"mean of all {n}")
    time_axis(ax, tz)
    ax.set_ylim(0, 1.02)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_ylabel("state of charge")
    shown = f"{pick.size} of {n} batteries" if pick.size < n else f"{n} batteries"
    ax.set_title(f"Battery state of charge ({shown}) – {window.label}")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=9, frameon=False)
    return fig


# ---- 5. energy flows --------------------------------------------------------------------------
def energy_flows(comparison: Comparison | Result) -> pd.DataFrame:
    """Energy totals (kWh) behind :func:`plot_energy_flows`, one row per market.

    Columns: ``self_consumed`` (generation − surplus), ``p2p_sold``, ``grid_export``
    (these sum to the generation); ``self_supplied`` (load − deficit),
    ``p2p_bought``, ``grid_import`` (these sum to the load up to battery losses).
    """
    comparison = _as_comparison(comparison)
    rows = {}
    for name, res in comparison.items():
        st = res.steps
        gen, load = float(st["generation_kwh"].sum()), float(st["load_kwh"].sum())
        supply, demand = float(st["supply_kwh"].sum()), float(st["demand_kwh"].sum())
        traded = float(st["traded_kwh"].sum())
        rows[name] = {
            "self_consumed": max(gen - supply, 0.0),
            "p2p_sold": traded,
            "grid_export": float(st["grid_export_kwh"].sum()),
            "self_supplied": max(load - demand, 0.0),
            "p2p_bought": traded,
            "grid_import": float(st["grid_import_kwh"].sum()),
        }
    return pd.DataFrame.from_dict(rows, orient="index")


def plot_energy_flows(comparison: Comparison | Result) -> Figure:
    """Energy balance per market, kWh (MWh/GWh when large): stacked bars of where generation goes and demand comes from.

    Left: self-consumed (generation − surplus, incl. own battery), sold to peers,
    exported to the grid. Right: self-supplied (load − deficit), bought from peers,
    imported from the grid. Segment labels give shares of the bar. The totals are
    :func:`energy_flows`.

    Parameters
    ----------
    comparison : Comparison or Result
        Results to draw.

    Returns
    -------
    matplotlib.figure.Figure
        Two axes (energy over the horizon).
    """
    flows = energy_flows(comparison)
    markets = list(flows.index)
    factor, unit = _scale(float(flows.to_numpy().max(initial=0.0)) * 2)
    fig, (ax, bx) = new_figure(11, 5.2, 1, 2, sharey=True)
    x = np.arange(len(markets))
    sides = (
        (
            ax,
            "Local generation: where it goes",
            (
                ("self_consumed", "self-consumed", "self"),
                ("p2p_sold", "sold to peers", "peer"),
                ("grid_export", "grid export", "grid_export"),
            ),
        ),
        (
            bx,
            "Demand: where it comes from",
            (
                ("self_supplied", "self-supplied", "self"),
                ("p2p_bought", "bought from peers", "peer"),
                ("grid_import", "grid import", "grid_import"),
            ),
        ),
    )
    for axis, title, parts in sides:
        bottom = np.zeros(len(markets))
        total = flows[[p[0] for p in parts]].to_numpy().sum(axis=1)
        for col, label, ckey in parts:
            v = flows[col].to_numpy() / factor
            bars = axis.bar(x, v, 0.65, bottom=bottom, label=label, color=_FLOW_COLORS[ckey], edgecolor="white")
            share = np.divide(flows[col].to_numpy(), total, out=np.zeros_like(total), where=total > 0)
            axis.bar_label(
                bars, labels=[f"{s:.0%}" if s >= 0.06 else "" for s in share], label_type="center", fontsize=8
            )
            bottom += v
        axis.set_xticks(x, [m.upper() if m != "baseline" else "no P2P" for m in markets])
        axis.set_title(title)
        axis.grid(axis="y", alpha=0.3)
    ax.set_ylabel(f"energy over the horizon ({unit})")
    legend = (
        ("self", "self-consumed / self-supplied"),
        ("peer", "sold to / bought from peers"),
        ("grid_export", "grid export"),
        ("grid_import", "grid import"),
    )
    fig.legend(  # one legend below both panels: it stays clear of (possibly rotated) tick labels
        handles=[Patch(facecolor=_FLOW_COLORS[k], label=label) for k, label in legend],
        loc="outside lower center",
        ncols=len(legend),
        fontsize=9,
        frameon=False,
    )
    for axis in (ax, bx):
        _fit_xticklabels(axis)
    return fig


#: Report figures by file stem, in page order.
PLOTS: dict[str, Callable[[Comparison], Figure]] = {
    "daily_profiles": plot_daily_profiles,
    "prices": plot_prices,
    "savings": plot_savings,
    "soc": plot_soc,
    "energy_flows": plot_energy_flows,
}
