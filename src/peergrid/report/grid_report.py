"""The report's "Feeder" section (network-aware runs, ``grid=`` / scenario ``[grid]``).

:func:`plot_feeder` draws, per market, the daily maximum line loading and the daily minimum
bus voltage over the horizon against the configured limits; :func:`grid_section_html`
tabulates the six network metrics, the limits, the flow method and how many slots broke a
limit before and after curtailment.
"""

from __future__ import annotations

import base64
import html
import io

import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from peergrid.metrics.registry import NETWORK_METRICS
from peergrid.simulate.result import Comparison, Result

__all__ = ["grid_of", "grid_section_html", "plot_feeder"]


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def grid_of(comparison: Comparison | Result) -> Result | None:
    """The first result of a network-aware run, or None."""
    results = [comparison] if isinstance(comparison, Result) else list(comparison.values())
    return next((r for r in results if r.network is not None), None)


def _daily(res: Result, key: str, how: str) -> pd.Series:
    """Daily ``how`` (max/min) of a slot series in local days; every slot for horizons up to 3 days."""
    from peergrid.report.plots import display_tz

    s = pd.Series(res.network.slot[key], index=res.community.index.tz_convert(display_tz(res.community)))  # type: ignore[union-attr]
    if res.community.T * res.community.dt <= 72:
        return s
    return getattr(s.resample("1D"), how)()


def plot_feeder(comparison: Comparison | Result) -> Figure:
    """Daily maximum line loading (top) and daily minimum voltage (bottom) per market.

    Parameters
    ----------
    comparison : Comparison or Result
        A network-aware run (``Result.network`` set; others are skipped).

    Returns
    -------
    matplotlib.figure.Figure
        Two panels over the horizon (local days): % of the rated current and per unit, with
        the configured limits as dashed lines.
    """
    from peergrid.core.errors import DataError
    from peergrid.report._common import market_color
    from peergrid.report.plots import market_label

    results = {"result": comparison} if isinstance(comparison, Result) else dict(comparison.items())
    runs = {n: r for n, r in results.items() if r.network is not None}
    if not runs:
        raise DataError("the results are not network-aware (no grid= / [grid])")
    fig = Figure(figsize=(11, 5.6), layout="constrained")
    FigureCanvasAgg(fig)
    top, bottom = fig.subplots(2, 1, sharex=True)
    names = list(results)
    opts = next(iter(runs.values())).network.options  # type: ignore[union-attr]
    for name, res in runs.items():
        color = market_color(name, names)
        load = _daily(res, "max_line_loading_pct", "max")
        volt = _daily(res, "min_voltage_pu", "min")
        x = load.index.tz_localize(None)
        top.plot(x, load.to_numpy(), color=color, lw=1.2, label=market_label(name))
        bottom.plot(x, volt.to_numpy(), color=color, lw=1.2, label=market_label(name))
    top.axhline(opts.max_line_loading_pct, color="black", ls="--", lw=0.9, label="limit")
    bottom.axhline(opts.v_min_pu, color="black", ls="--", lw=0.9, label="band")
    top.set_ylabel("max line loading (%)")
    per = "daily " if next(iter(runs.values())).community.T * next(iter(runs.values())).community.dt > 72 else ""
    top.set_title(f"Feeder: {per}highest line loading (after curtailment)")
    bottom.set_ylabel("min voltage (pu)")
    bottom.set_title(f"Feeder: {per}lowest bus voltage", fontsize=10)
    for ax in (top, bottom):
        ax.grid(alpha=0.3)
    top.legend(fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return fig


def grid_section_html(comparison: Comparison, dpi: int = 110) -> str:
    """``<section id="grid">``: the feeder, its limits, the network metrics per market and :func:`plot_feeder`.

    Returns an empty string when the run was not network-aware.
    """
    first = grid_of(comparison)
    if first is None or first.network is None:
        return ""
    from peergrid.metrics import METRICS
    from peergrid.report.plots import market_label

    cur = comparison.community.currency
    nw = first.network
    info = nw.summary()
    opts = nw.options
    vim = f", VIM ≤ {opts.max_vim_pct:g} %" if opts.max_vim_pct is not None else ""
    head = "".join(f'<th scope="col">{_esc(METRICS[k].heading(cur))}</th>' for k in NETWORK_METRICS)
    rows = []
    for name, res in comparison.items():
        if res.network is None:
            continue
        m = res.metrics
        cells = "".join(
            f'<td data-metric="{k}">{_esc(METRICS[k].format(m.get(k), cur, unit=False))}</td>' for k in NETWORK_METRICS
        )
        s = res.network.summary()
        rows.append(
            f'<tr data-market="{_esc(name)}"><th scope="row">{_esc(market_label(name))}</th>{cells}'
            f"<td>{s['violating_slots_before']}</td><td>{s['violating_slots_after']}</td>"
            f"<td>{res.network.loss_charge:,.2f}</td></tr>"
        )
    fig = plot_feeder(comparison)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    uri = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
    w, h = (round(float(v) * 110) for v in fig.get_size_inches())
    flow = "an unbalanced (three-phase) power flow" if info["unbalanced"] else "a balanced power flow"
    return (
        '<section id="grid" aria-labelledby="h-grid"><h2 id="h-grid">Feeder</h2>'
        f"<p>The members sit on the feeder <code>{_esc(opts.feeder)}</code> ({info['buses']} buses, "
        f"{info['lines']} lines); every slot's flows come from {flow} ({_esc(info['flow'])}). Limits: line "
        f"and transformer loading ≤ {opts.max_line_loading_pct:g} %, voltage {opts.v_min_pu:g}–"
        f"{opts.v_max_pu:g} pu{vim}. Exports that break a limit were spilled (curtailed) and the market "
        "cleared again on the curtailed positions; violations that import causes cannot be removed by "
        "trading and are counted, not fixed. Buyers pay the line-utilisation fee of Tooki et al. (2025) "
        f"eq. 12 (τ = {opts.fee_per_kwh:g} {_esc(cur)}/kWh at full utilisation, sellers and buyers "
        "paired pro rata); the losses are shared pro rata to each member's |net energy| at the retail "
        "price. Both are in the bills and the community cost.</p>"
        '<div class="scroll"><table class="metrics"><caption>Network metrics per market; slots breaking '
        "a limit before and after curtailment; loss charges paid to the network operator "
        f"({_esc(cur)}).</caption><thead><tr><th scope=col>Market</th>{head}<th scope=col>Slots over a "
        "limit, before</th><th scope=col>after</th><th scope=col>Loss charges</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></div>"
        f'<figure id="fig-feeder"><img src="{uri}" alt="Two line charts over the horizon per market: the '
        'daily highest line loading in percent and the daily lowest bus voltage in per unit, with the '
        f'limits as dashed lines." width="{w}" height="{h}"><figcaption>Daily highest line loading (%) and '
        "lowest bus voltage (pu) after curtailment; dashed: the limits.</figcaption></figure></section>"
    )
