"""The report's "Price response" section (runs with ``coordination = "price-response"``)."""

from __future__ import annotations

import base64
import html
import io

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from peergrid.simulate.result import Comparison

__all__ = ["coordination_section_html", "plot_coordination_costs"]


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def plot_coordination_costs(comparison: Comparison) -> Figure:
    """Community cost per iterate of each market's price-response loop (kept iterate marked).

    Parameters
    ----------
    comparison : Comparison
        Results with :attr:`~peergrid.simulate.Result.coordination` set (others are skipped).

    Returns
    -------
    matplotlib.figure.Figure
        One axes: iterate (0 = price-blind) against community cost in the community currency.
    """
    from peergrid.report._common import market_color
    from peergrid.report.plots import market_label

    fig = Figure(figsize=(7.5, 3.4), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    names = list(comparison)
    for name, res in comparison.items():
        info = res.coordination
        if info is None:
            continue
        xs = range(len(info.cost))
        color = market_color(name, names)
        ax.plot(xs, info.cost, marker="o", ms=3, lw=1.4, color=color, label=market_label(name))
        ax.plot([info.kept], [info.cost[info.kept]], marker="*", ms=11, color=color, ls="none")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("iterate (0 = price-blind plan)")
    ax.set_ylabel(f"community cost ({comparison.community.currency})")
    ax.set_title("Price response: community cost per iterate (★ = kept)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return fig


def coordination_section_html(comparison: Comparison, dpi: int = 110) -> str:
    """``<section id="coordination">`` with a table (iterations, converged, cost per iterate) and a plot.

    Parameters
    ----------
    comparison : Comparison
    dpi : int
        Resolution of the embedded PNG.

    Returns
    -------
    str
        Empty when no result carries coordination (price-blind runs).
    """
    runs = [(n, r.coordination) for n, r in comparison.items() if r.coordination is not None]
    if not runs:
        return ""
    from peergrid.report.plots import market_label

    cur = comparison.community.currency
    rows = []
    for name, info in runs:
        costs = " → ".join(f"{c:,.2f}" for c in info.cost)
        rows.append(
            f'<tr data-market="{_esc(name)}"><th scope="row">{_esc(market_label(name))}</th>'
            f"<td>{info.iterations}</td><td>{'yes' if info.converged else 'no'}</td><td>{info.kept}</td>"
            f"<td>{info.cost[0]:,.2f}</td><td>{info.cost[info.kept]:,.2f}</td>"
            f"<td>{info.price_change[-1]:.2g}</td><td class=muted>{_esc(costs)}</td></tr>"
        )
    tol = runs[0][1]
    fig = plot_coordination_costs(comparison)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    uri = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
    w, h = (round(float(v) * 110) for v in fig.get_size_inches())
    return (
        '<section id="coordination" aria-labelledby="h-coordination"><h2 id="h-coordination">Price response</h2>'
        "<p>Each market's controllers re-planned on that market's internal buy/sell prices (damped by "
        "successive averages) until the prices of the plan equalled the prices it was made on "
        f"(within {tol.tolerance:g} {_esc(cur)}/kWh) and no member's net moved by more than "
        f"{tol.energy_tolerance:g} kWh, or {tol.max_iterations} re-plans were made. The result keeps the "
        "iterate with the lowest community cost, so it is never above the price-blind plan (iterate 0).</p>"
        '<div class="scroll"><table class="metrics"><caption>Price-response loop per market; costs in '
        f"{_esc(cur)}.</caption><thead><tr><th scope=col>Market</th><th scope=col>Iterations</th>"
        "<th scope=col>Converged</th><th scope=col>Kept iterate</th><th scope=col>Price-blind cost</th>"
        f"<th scope=col>Kept cost</th><th scope=col>Last price change ({_esc(cur)}/kWh)</th>"
        f"<th scope=col>Cost per iterate</th></tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
        f'<figure id="fig-coordination"><img src="{uri}" alt="Line chart of the community cost of each '
        f'iterate of the price-response loop per market, the kept iterate marked with a star." width="{w}" '
        f'height="{h}"><figcaption>Community cost per iterate ({_esc(cur)}); ★ = the kept iterate.'
        "</figcaption></figure></section>"
    )
