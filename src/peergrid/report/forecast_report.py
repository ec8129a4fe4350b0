"""The report's forecast pieces: a forecast-vs-actual figure and the "Forecasts" section.

Shown only for runs on forecasts (``Result.forecast`` set, :mod:`peergrid.simulate.forecasting`):
:func:`plot_forecast` draws the community's actual net energy against the day-ahead forecast
the members planned and traded on, and the imbalance settled at grid prices;
:func:`forecast_section_html` states the forecaster, its errors and the imbalance cost.
"""

from __future__ import annotations

import html

import numpy as np
from matplotlib.figure import Figure

from peergrid.simulate.result import Comparison, Result

__all__ = ["forecast_of", "forecast_section_html", "plot_forecast"]


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def forecast_of(comparison: Comparison | Result) -> Result | None:
    """The first result of a comparison that ran on forecasts, or None."""
    results = [comparison] if isinstance(comparison, Result) else list(comparison.values())
    return next((r for r in results if r.forecast is not None), None)


def plot_forecast(comparison: Comparison | Result, window: object | None = None) -> Figure:
    """Community net energy: actual vs day-ahead forecast, and the imbalance, over a window.

    Parameters
    ----------
    comparison : Comparison or Result
        A run on forecasts (``Result.forecast`` set).
    window : Window, optional
        Steps to draw (default :func:`peergrid.report.plots.representative_week`).

    Returns
    -------
    matplotlib.figure.Figure
        Top: Σ members' actual net energy (load − generation) and its day-ahead forecast, kW.
        Bottom: Σ members' imbalance (realised − planned net), kW; + = extra import.
    """
    from peergrid.core.errors import DataError
    from peergrid.report._common import new_figure, time_axis, time_values
    from peergrid.report.plots import display_tz, representative_week

    res = forecast_of(comparison)
    if res is None or res.forecast is None:
        raise DataError("the results did not run on forecasts (forecaster = 'perfect')")
    com = res.community
    tz = display_tz(com)
    win = window or representative_week(comparison if isinstance(comparison, Comparison) else Comparison({"r": res}))
    sl = win.slice  # type: ignore[attr-defined]
    actual = (com.load[sl].sum(axis=1) - com.generation[sl].sum(axis=1)) / com.dt
    imb = res.forecast.imbalance[sl].sum(axis=1) / com.dt
    fc = actual - imb  # forecast net before control = actual − δ
    x = time_values(com.index[sl])
    fig, axes = new_figure(11, 6.0, nrows=2, sharex=True, gridspec_kw={"height_ratios": [2, 1]})
    top, bottom = axes[0], axes[1]
    top.plot(x, actual, color="black", lw=1.4, label="actual")
    top.plot(x, fc, color="#377eb8", lw=1.4, ls="--", label=f"forecast ({res.forecast.forecaster})")
    top.axhline(0.0, color="grey", lw=0.6)
    top.set_ylabel("net load (kW)")
    top.set_title(f"Community net load (load − generation): actual vs day-ahead forecast\n{win.label}")  # type: ignore[attr-defined]
    top.grid(alpha=0.3)
    top.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=9, frameon=False)
    width = np.median(np.diff(x)) if x.size > 1 else np.timedelta64(1, "h")
    bottom.bar(x, imb, width=width, align="edge", color=np.where(imb >= 0, "#e41a1c", "#4daf4a"))
    bottom.axhline(0.0, color="grey", lw=0.6)
    bottom.set_ylabel("imbalance (kW)")
    bottom.set_title("Imbalance settled at grid prices (+ extra import, − extra export)", fontsize=10)
    bottom.grid(alpha=0.3)
    time_axis(bottom, tz)
    return fig


def forecast_section_html(comparison: Comparison) -> str:
    """The "Forecasts" section: forecaster, forecast errors and the imbalance line per market.

    Returns an empty string when the comparison did not run on forecasts.
    """
    res = forecast_of(comparison)
    if res is None or res.forecast is None:
        return ""
    fc = res.forecast
    cur = res.community.currency
    s = fc.summary()
    err = s["errors"]
    opts = ", ".join(f"{k} = {v}" for k, v in s["options"].items())

    def e(kind: str) -> str:
        d = err.get(kind, {})
        return (
            f"MAE {d.get('mae', float('nan')):.3f}, RMSE {d.get('rmse', float('nan')):.3f} per member; "
            f"community MAE {d.get('community_mae', float('nan')):.2f}"
        )

    rows = [
        ("Forecaster", f"{fc.forecaster} ({opts})"),
        ("Net load forecast error (kWh per step)", e("net")),
        ("Load forecast error (kWh per step)", e("load")),
        ("Generation forecast error (kWh per step)", e("generation")),
        (
            "Imbalance",
            f"{s['imbalance_kwh']:,.1f} kWh (extra import {s['imbalance_import_kwh']:,.1f} kWh, "
            f"extra export {s['imbalance_export_kwh']:,.1f} kWh)",
        ),
    ]
    body = "".join(f'<tr><th scope="row">{_esc(k)}</th><td>{_esc(v)}</td></tr>' for k, v in rows)
    lines = []
    for name, r in comparison.items():
        if r.forecast is None:
            continue
        m = r.forecast.summary(r.clearing, r.net)
        lines.append(
            f'<li data-market="{_esc(name)}"><strong>{_esc(name)}</strong>: imbalance cost '
            f"{m['imbalance_cost']:,.2f} {_esc(cur)} in the members' bills; realised grid import "
            f"{m['realised_grid_import_kwh']:,.1f} kWh, export {m['realised_grid_export_kwh']:,.1f} kWh; "
            f"supplier margin {m['supplier_margin']:,.2f} {_esc(cur)}</li>"
        )
    return (
        '<section id="forecasts" aria-labelledby="h-forecasts"><h2 id="h-forecasts">Forecasts</h2>'
        "<p>Members planned their batteries and traded on day-ahead forecasts of their load and generation; "
        "batteries followed the plan and each member's deviation (realised − planned net energy) was "
        "settled with the grid: extra import at the retail price, extra export at the feed-in price. The "
        "supplier margin is what members paid beyond the grid bill of the community's realised exchange "
        "and the operator's fees (deviations settled member by member instead of netted).</p>"
        f'<div class="scroll"><table class="kv"><caption>Day-ahead forecast errors (forecast − actual) and '
        f"imbalance; the same in every market.</caption><tbody>{body}</tbody></table></div>"
        f"<ul>{''.join(lines)}</ul></section>"
    )
