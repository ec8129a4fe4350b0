"""Self-contained HTML report and JSON summary of a :class:`~peergrid.simulate.Comparison`.

:func:`write_report` renders the figures of :mod:`peergrid.report.plots` to PNG,
embeds them as base64 data URIs in one ``report.html`` (inline CSS, no scripts,
no external resources: it opens offline and can be mailed as one file) and writes
the PNGs and ``summary.json`` alongside.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import io
import json
import math
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from peergrid.core.errors import DataError
from peergrid.market.bidding import is_order_market
from peergrid.report.plots import (
    display_tz,
    market_label,
    plot_daily_profiles,
    plot_energy_flows,
    plot_prices,
    plot_savings,
    plot_soc,
    profile_market,
    representative_week,
)
from peergrid.simulate.engine import Comparison

__all__ = [
    "MARKET_GLOSSARY",
    "METRIC_COLUMNS",
    "glossary_entries",
    "metrics_table_html",
    "summary_json",
    "to_jsonable",
    "write_report",
]

#: Metrics table columns: key, header, format kind.
METRIC_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("self_sufficiency", "Self-sufficiency", "pct"),
    ("self_consumption", "Self-consumption", "pct"),
    ("community_cost", "Community cost", "money"),
    ("cost_reduction", "Cost reduction", "pct"),
    ("pm", "PM", "num"),
    ("peak_import_kw", "Peak import", "kw"),
    ("jain_fairness", "Jain fairness", "num"),
    ("share_better_off", "Better off", "pct"),
    ("traded_kwh", "P2P traded", "kwh"),
)

_DPI = 110

_DEFINITIONS: tuple[tuple[str, str], ...] = (
    (
        "Self-sufficiency (Lange eq. 6)",
        "Share of the community's total demand supplied by locally produced renewable energy "
        "(own generation, storage or peers): 1 − grid import / load.",
    ),
    (
        "Self-consumption (Lange eq. 5)",
        "Share of local renewable output consumed inside the community (by its owner, its battery "
        "or a peer): 1 − grid export / generation. For the no-P2P baseline this is the strict "
        "individual form of eq. 5 (output consumed by the same prosumer).",
    ),
    (
        "Community cost",
        "Sum of all member bills over the horizon; in every slot it equals the community's bill at "
        "the point of common coupling, λb · import − λs · export (negative = net income).",
    ),
    (
        "Cost reduction (Lange eq. 7)",
        "Reduction in the energy purchasing cost of buyers due to sharing: "
        "(cost without P2P − cost with P2P) / cost without P2P.",
    ),
    (
        "PM – performance measure (Lange eq. 8)",
        "PM = (iESR − v_min) / (v_max − v_min), with iESR the sellers' realised income for their "
        "surplus, v_min that income at the feed-in tariff λs and v_max at the retail price λb. "
        "0 for the no-P2P baseline, 1 when sellers capture the whole retail value; negative when a "
        "mechanism pays sellers less than λs (possible under bill sharing).",
    ),
    ("Peak import", "Largest community grid import power over the horizon, kW (energy per step / step length)."),
    (
        "Jain fairness",
        "Jain's index (Σx)² / (n · Σx²) of the per-participant savings x, negative savings counted "
        "as 0 (Jain, Chiu & Hawe 1984); 1 when everyone saves the same.",
    ),
    ("Better off", "Share of participants whose bill is not higher than without P2P trading."),
    ("P2P traded", "Energy exchanged between members (through the pool or the order book) over the horizon."),
)

#: Glossary of every market the simulator runs (:data:`peergrid.market.bidding.MARKETS`): name → (term, text).
#: The report lists the entries of the markets it shows, in this order.
MARKET_GLOSSARY: dict[str, tuple[str, str]] = {
    "baseline": (
        "No P2P (baseline)",
        "Every member trades with the grid alone: buyers pay the retail price λb, sellers receive "
        "the feed-in tariff λs.",
    ),
    "sdr": (
        "SDR – supply-demand ratio",
        "All buyers pay P_buy(SDR) and all sellers receive P_sell(SDR), functions of the ratio of "
        "community supply to demand in the slot; for SDR > 1 both equal λs "
        "(Liu et al. 2017; Lange eqs. 2–4).",
    ),
    "mmr": (
        "MMR – mid-market rate",
        "Peers trade at (λb + λs) / 2; the unmatched side of the slot trades with the grid at "
        "λb or λs (Long et al. 2017).",
    ),
    "bs": (
        "BS – bill sharing",
        "The community's grid bill in the slot is shared in proportion to each member's own import "
        "and export; sell prices can fall below λs (as evaluated by Zhou et al. 2018).",
    ),
    "uniform": (
        "UNIFORM – uniform-price double auction (pay-as-clear)",
        "Order book: in every slot each member with a deficit bids for it and each member with a "
        "surplus offers it, at a limit price set by the bidding strategy. Bids are sorted by price "
        "descending, asks ascending; the traded quantity is where the demand and supply curves "
        "cross, and every trade of the slot settles at one price p = k·b_m + (1 − k)·s_m of the "
        "marginal bid b_m and ask s_m (k-double auction, Satterthwaite & Williams 1989; k = 0.5 "
        "is the mid-point). Buyers pay what sellers receive (no operator fees); unmatched energy "
        "settles with the grid at λb / λs.",
    ),
    "pay-as-bid": (
        "PAY-AS-BID – pay-as-bid double auction",
        "The same orders and the same allocation as the uniform auction, but every order settles at "
        "its own limit: a buyer pays its bid, a seller receives its ask. The spread between them is "
        "kept by the market operator (operator fees), so members gain less than under the uniform "
        "price for the same bids.",
    ),
    "mcafee": (
        "MCAFEE – McAfee's trade-reduction double auction",
        "McAfee 1992: with k efficient bid–ask pairs in price order, the first excluded pair sets "
        "p0 = (b_{k+1} + s_{k+1}) / 2. If s_k ≤ p0 ≤ b_k all k pairs trade at p0; otherwise the "
        "least valuable pair is dropped, buyers pay b_k, sellers receive s_k and the difference "
        "goes to the operator. Truthful bidding is a dominant strategy for single-unit traders at "
        "the cost of at most one trade; peergrid applies the rule to whole orders (a heuristic for "
        "multi-kWh orders).",
    ),
    "bilateral": (
        "BILATERAL – bilateral trading with network fees",
        "Tooki et al. 2025, eqs. 10–12: every bid i and ask j of a slot form a candidate contract "
        "with network fee H per kWh (line-utilisation fee, eq. 12; in the simulator one fee for "
        "every pair, scenario [market] fee). Feasible pairs (b_i − H ≥ a_j + H) are matched "
        "greedily by fee ascending, then surplus descending, at contract price "
        "γ = k·(b_i − H) + (1 − k)·(a_j + H); the buyer pays γ + H (eq. 11) and the seller "
        "receives γ − H (eq. 10), the fees go to the operator.",
    ),
}

#: Extra glossary entry shown when the report holds an order-book market.
_BIDDING: tuple[str, str] = (
    "Bidding strategies (order-book markets)",
    "truthful: every buyer bids its alternative, the retail price λb, and every seller asks its "
    "alternative, the feed-in tariff λs, so all orders cross and the auctions trade as much as the "
    "pool rules; zero-intelligence: every limit price is drawn uniformly from [λs, λb] (seeded; "
    "budget-constrained zero-intelligence traders, Gode & Sunder 1993), so the books cross only in "
    "part and unmatched energy goes to the grid.",
)

_REFERENCES: tuple[str, ...] = (
    "E. A. Lange, “Cloud-coordinated peer-to-peer energy sharing for urban community microgrids: "
    "cost reduction and reliability analysis using IRES 2020 load profiles”, 2025 — eqs. 2–8.",
    "N. Liu, X. Yu, C. Wang, C. Li, L. Ma, J. Lei, “Energy-sharing model with price-based demand "
    "response for microgrids of peer-to-peer prosumers”, IEEE Trans. Power Systems 32(5), 2017 "
    "— SDR pricing.",
    "C. Long, J. Wu, C. Zhang, L. Thomas, M. Cheng, N. Jenkins, “Peer-to-peer energy trading in a "
    "community microgrid”, IEEE PES General Meeting, 2017 — MMR.",
    "Y. Zhou, J. Wu, C. Long, “Evaluation of peer-to-peer energy sharing mechanisms based on a "
    "multiagent simulation framework”, Applied Energy 222, 2018 — BS and the comparison "
    "framework.",
    "R. Jain, D.-M. Chiu, W. Hawe, “A quantitative measure of fairness and discrimination for "
    "resource allocation in shared computer systems”, DEC Research Report TR-301, 1984.",
)

#: References of the order-book markets, listed when the report holds one.
_ORDER_REFERENCES: tuple[str, ...] = (
    "R. P. McAfee, “A dominant strategy double auction”, Journal of Economic Theory 56(2), "
    "434–450, 1992 — trade-reduction auction (MCAFEE).",
    "M. A. Satterthwaite, S. R. Williams, “Bilateral trade with the sealed bid k-double auction: "
    "existence and efficiency”, Journal of Economic Theory 48(1), 107–133, 1989 — the k price rule "
    "(UNIFORM, BILATERAL).",
    "Tooki et al., “Decentralized P2P-based transactive energy system”, 2025 — supplier profit, "
    "buyer cost and line-utilisation fee, eqs. 10–12 (BILATERAL).",
    "D. K. Gode, S. Sunder, “Allocative efficiency of markets with zero-intelligence traders: market "
    "as a partial substitute for individual rationality”, Journal of Political Economy 101(1), "
    "119–137, 1993 — zero-intelligence bidding.",
)


def glossary_entries(markets: Sequence[str]) -> list[tuple[str, str, str]]:
    """Glossary entries ``(market, term, text)`` of ``markets``, in :data:`MARKET_GLOSSARY` order.

    Markets without an entry (none of the simulator's) get a generic one, so every
    market of a report is explained. When an order-book market is present, the
    bidding strategies follow as an entry with market ``""``.
    """
    shown = [m for m in MARKET_GLOSSARY if m in markets] + [m for m in markets if m not in MARKET_GLOSSARY]
    out = [(m, *MARKET_GLOSSARY.get(m, (market_label(m), "Market mechanism without a glossary entry."))) for m in shown]
    if any(is_order_market(m) for m in markets):
        out.append(("", *_BIDDING))
    return out


# ---- JSON ----------------------------------------------------------------------------------
def to_jsonable(value: object) -> object:
    """Convert numpy/pandas values to JSON-safe Python (NaN/inf → None, arrays → lists).

    Mappings become dicts with string keys, sequences lists, timestamps ISO strings,
    paths strings; anything else unknown becomes ``str(value)``.
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (np.bool_,)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        v = float(value)
        return v if math.isfinite(v) else None
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return [to_jsonable(v) for v in value.tolist()]
    if isinstance(value, (pd.Series, pd.Index)):
        return [to_jsonable(v) for v in value.tolist()]
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, (pd.Timestamp, _dt.datetime, _dt.date, _dt.time)):
        return value.isoformat()
    if isinstance(value, (pd.Timedelta, _dt.timedelta)):
        return str(pd.Timedelta(value))
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item"):  # other numpy scalars
        try:
            return to_jsonable(value.item())
        except (TypeError, ValueError):
            pass
    return str(value)


def summary_json(comparison: Comparison, scenario: Mapping | None = None) -> dict:
    """JSON-safe summary of a comparison.

    Returns
    -------
    dict
        ``{"scenario": scenario or None, "community": community.summary(),
        "markets": {name: result.summary()}}`` with NaN → None and numpy → Python.
    """
    return to_jsonable(
        {
            "scenario": dict(scenario) if scenario is not None else None,
            "community": comparison.community.summary(),
            "markets": {name: res.summary() for name, res in comparison.items()},
        }
    )  # type: ignore[return-value]


# ---- formatting ------------------------------------------------------------------------------
def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def _finite(v: object) -> float | None:
    try:
        f = float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _fmt_energy(kwh: float) -> str:
    a = abs(kwh)
    if a >= 1e7:
        return f"{kwh / 1e6:,.2f} GWh"
    if a >= 1e4:
        return f"{kwh / 1e3:,.1f} MWh"
    return f"{kwh:,.1f} kWh"


def _fmt(kind: str, value: object, currency: str) -> str:
    v = _finite(value)
    if v is None:
        return '<span class="muted" title="not defined">–</span>'
    if kind == "pct":
        return f"{v:.1%}"
    if kind == "money":
        return f"{v:,.2f}\u00a0{_esc(currency)}"
    if kind == "kw":
        return f"{v:,.1f}\u00a0kW"
    if kind == "kwh":
        return _fmt_energy(v).replace(" ", "\u00a0")
    return f"{v:.3f}"


def _fmt_step(hours: float) -> str:
    minutes = hours * 60.0
    if minutes < 60 and abs(minutes - round(minutes)) < 1e-9:
        return f"{round(minutes)} min"
    return f"{hours:g} h"


def _fmt_time(ts: pd.Timestamp) -> str:
    return f"{ts.tz_convert('UTC'):%Y-%m-%d %H:%M} UTC"


def _fmt_range(arr: np.ndarray, currency: str) -> str:
    lo, hi = float(np.min(arr)), float(np.max(arr))
    if lo == hi:
        return f"{lo:.4g} {currency}/kWh"
    return f"{lo:.4g} – {hi:.4g} {currency}/kWh (time-of-use)"


# ---- HTML pieces -----------------------------------------------------------------------------------
def metrics_table_html(comparison: Comparison) -> str:
    """The metrics table (rows = markets) as an HTML ``<table>`` fragment."""
    cur = comparison.community.currency
    head = "".join(
        f'<th scope="col">{_esc(label)}{f" ({_esc(cur)})" if kind == "money" else ""}</th>'
        for _, label, kind in METRIC_COLUMNS
    )
    rows = []
    for name, res in comparison.items():
        m = res.metrics
        cells = "".join(
            f'<td data-metric="{key}">{_fmt(kind, m.get(key), cur)}</td>' for key, _, kind in METRIC_COLUMNS
        )
        rows.append(f'<tr data-market="{_esc(name)}"><th scope="row">{_esc(market_label(name))}</th>{cells}</tr>')
    return (
        '<div class="scroll"><table class="metrics">'
        "<caption>Metrics over the whole horizon, one row per market; definitions below. "
        "– = not defined (e.g. no generation).</caption>"
        f'<thead><tr><th scope="col">Market</th>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def _kv_table(rows: Sequence[tuple[str, str]], caption: str, raw: frozenset[str] = frozenset()) -> str:
    body = "".join(
        f'<tr><th scope="row">{_esc(k)}</th>'
        f"<td{' class=source' if k == 'Data source' else ''}>{v if k in raw else _esc(v)}</td></tr>"
        for k, v in rows
    )
    return (
        f'<div class="scroll"><table class="kv"><caption>{_esc(caption)}</caption><tbody>{body}</tbody></table></div>'
    )


def _community_rows(comparison: Comparison) -> list[tuple[str, str]]:
    com = comparison.community
    s = com.summary()
    res = next(iter(comparison.values()))
    days = com.T * com.dt / 24.0
    return [
        ("Name", str(s["name"])),
        ("Participants", f"{s['participants']:,}"),
        ("Prosumers", f"{s['prosumers']:,}"),
        ("Consumers", f"{s['consumers']:,}"),
        ("Batteries", f"{s['batteries']:,}"),
        ("Span", f"{_fmt_time(com.index[0])} to {_fmt_time(com.index[-1] + com.index.freq)} ({days:g} days)"),
        ("Step", f"{_fmt_step(float(s['step_hours']))} ({s['steps']:,} steps)"),
        ("Display time zone", display_tz(com)),
        ("Total load", _fmt_energy(float(s["load_kwh"]))),
        ("Total generation", _fmt_energy(float(s["generation_kwh"]))),
        ("Retail price λb", _fmt_range(com.retail, com.currency)),
        ("Feed-in tariff λs", _fmt_range(com.feed_in, com.currency)),
        ("Battery control", res.control),
        ("Data source", str(s["source"])),
    ]


def _scenario_rows(scenario: Mapping) -> list[tuple[str, str]]:
    rows = []
    for k, v in scenario.items():
        if isinstance(v, str):
            text = v
        else:
            text = json.dumps(to_jsonable(v), ensure_ascii=False)
        rows.append((str(k), text))
    return rows


def _figure_specs(comparison: Comparison) -> list[tuple[str, object, str, str]]:
    """(stem, figure, alt text, caption) for every plot, in page order."""
    com = comparison.community
    tz = display_tz(com)
    week = representative_week(comparison)
    market = profile_market(comparison)
    p2p = [m for m in comparison if m != "baseline"]
    names = ", ".join(m.upper() for m in p2p) or "none"
    n_batt = int(next(iter(comparison.values())).battery.owners.size)
    vs = f"the no-P2P baseline (dashed) and {market.upper()} (solid)" if market != "baseline" else "the no-P2P baseline"
    return [
        (
            "daily_profiles",
            plot_daily_profiles(comparison, market),
            f"Line chart of the mean daily profile by hour of day ({tz}) of community load, generation, "
            f"grid import and grid export in kW, for {vs}.",
            f"Mean daily profile by hour of day ({tz}). Load and generation do not depend on the "
            f"market; grid import and export are shown for {vs}.",
        ),
        (
            "prices",
            plot_prices(comparison, week),
            f"Two panels. Top: line chart of internal buy and sell prices per mechanism ({names}) over "
            f"the {week.label}, with retail and feed-in prices as reference lines. Bottom: box plots of "
            "the volume-weighted price distribution over the whole horizon.",
            f"Internal prices ({com.currency}/kWh), {week.label}: buy prices solid, sell prices dashed; "
            "gaps where the slot had no buyers or sellers. Bottom: volume-weighted distribution over "
            "the whole horizon (buy weighted by deficit, sell by surplus, hatched); triangle = mean.",
        ),
        (
            "savings",
            plot_savings(comparison),
            f"Box plots of per-participant savings in {com.currency} relative to the no-P2P baseline "
            f"for each mechanism ({names}), split by prosumers and consumers.",
            f"Per-participant savings over the horizon vs the no-P2P baseline ({com.currency}); "
            "above zero = better off with P2P trading.",
        ),
        (
            "soc",
            plot_soc(comparison, week),
            (
                f"Line chart of battery state of charge (percent) over the {week.label} for up to 8 "
                f"batteries and the mean of all {n_batt} batteries."
                if n_batt
                else "Placeholder figure: the community has no batteries."
            ),
            (
                f"Battery state of charge, {week.label}; the battery schedule is the same for every market."
                if n_batt
                else "The community has no batteries."
            ),
        ),
        (
            "energy_flows",
            plot_energy_flows(comparison),
            "Stacked bar charts per market. Left: local generation split into self-consumed, sold to "
            "peers and exported to the grid. Right: demand split into self-supplied, bought from "
            "peers and imported from the grid.",
            "Energy balance over the horizon per market. Self-consumed = generation − surplus "
            "(including own battery); self-supplied = load − deficit. Percentages are shares of the bar.",
        ),
    ]


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_DPI, metadata={"Software": None})
    return buf.getvalue()


def _css() -> str:
    return resources.files("peergrid.report").joinpath("report.css").read_text(encoding="utf-8")


# ---- entry point ------------------------------------------------------------------------------------
def write_report(
    comparison: Comparison,
    out_dir: str | Path,
    *,
    title: str = "peergrid study",
    scenario: dict | None = None,
    notes: list[str] | None = None,
) -> Path:
    """Write a self-contained HTML report of a comparison.

    Files written into ``out_dir`` (created if missing): ``daily_profiles.png``,
    ``prices.png``, ``savings.png``, ``soc.png``, ``energy_flows.png``,
    ``summary.json`` (see :func:`summary_json`) and ``report.html`` with the PNGs
    embedded as data URIs, inline CSS and no external resources.

    Parameters
    ----------
    comparison : Comparison
        Results of :func:`peergrid.compare`.
    out_dir : str or pathlib.Path
        Output directory.
    title : str
        Page title.
    scenario : dict, optional
        Scenario parameters, shown as a table and stored in ``summary.json``.
    notes : list of str, optional
        Free-text notes shown near the top of the page.

    Returns
    -------
    pathlib.Path
        Path of ``report.html``.
    """
    if len(comparison) == 0:
        raise DataError("cannot report an empty comparison")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    generated = _dt.datetime.now(_dt.UTC).replace(microsecond=0)

    summary = summary_json(comparison, scenario)
    (out / "summary.json").write_text(json.dumps(summary, indent=2, allow_nan=False), encoding="utf-8")

    figures = []
    for stem, fig, alt, caption in _figure_specs(comparison):
        data = _png(fig)
        (out / f"{stem}.png").write_bytes(data)
        uri = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
        w, h = (round(float(v) * _DPI) for v in fig.get_size_inches())
        figures.append(
            f'<figure id="fig-{stem}"><img src="{uri}" alt="{_esc(alt)}" width="{w}" height="{h}">'
            f"<figcaption>{_esc(caption)} <span class=muted>(also saved as <code>{stem}.png</code>)"
            "</span></figcaption></figure>"
        )

    from peergrid import __version__

    sections = []
    nav = [("community", "Community")]
    sections.append(
        '<section id="community" aria-labelledby="h-community"><h2 id="h-community">Community</h2>'
        + _kv_table(_community_rows(comparison), "Community summary; the data source states provenance and licence.")
        + "</section>"
    )
    if scenario:
        nav.append(("scenario", "Scenario"))
        sections.append(
            '<section id="scenario" aria-labelledby="h-scenario"><h2 id="h-scenario">Scenario</h2>'
            + _kv_table(_scenario_rows(scenario), "Scenario parameters as given.")
            + "</section>"
        )
    if notes:
        nav.append(("notes", "Notes"))
        items = "".join(f"<li>{_esc(n)}</li>" for n in notes)
        sections.append(
            f'<section id="notes" aria-labelledby="h-notes"><h2 id="h-notes">Notes</h2><ul>{items}</ul></section>'
        )
    nav.append(("metrics", "Metrics"))
    sections.append(
        '<section id="metrics" aria-labelledby="h-metrics"><h2 id="h-metrics">Metrics</h2>'
        + metrics_table_html(comparison)
        + "</section>"
    )
    from peergrid.report.bills import bills_section_html

    nav.append(("bills", "Bills"))
    sections.append(bills_section_html(comparison))
    nav.append(("figures", "Figures"))
    sections.append(
        '<section id="figures" aria-labelledby="h-figures"><h2 id="h-figures">Figures</h2>'
        + "".join(figures)
        + "</section>"
    )
    nav.append(("definitions", "Definitions"))
    defs = "".join(f"<dt>{_esc(t)}</dt><dd>{_esc(d)}</dd>" for t, d in _DEFINITIONS)
    mechs = "".join(
        (f'<dt data-market="{_esc(m)}">' if m else "<dt>") + f"{_esc(t)}</dt><dd>{_esc(d)}</dd>"
        for m, t, d in glossary_entries(list(comparison))
    )
    orders = any(is_order_market(m) for m in comparison)
    refs = "".join(f"<li>{_esc(r)}</li>" for r in _REFERENCES + (_ORDER_REFERENCES if orders else ()))
    sections.append(
        '<section id="definitions" aria-labelledby="h-definitions"><h2 id="h-definitions">Definitions</h2>'
        f"<h3>Metrics</h3><dl>{defs}</dl><h3>Market mechanisms</h3><dl>{mechs}</dl>"
        f'<h3>References</h3><ol class="refs">{refs}</ol></section>'
    )
    nav_html = "".join(f'<li><a href="#{a}">{_esc(t)}</a></li>' for a, t in nav)
    stamp = generated.isoformat().replace("+00:00", "Z")
    page = (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<meta name="generator" content="peergrid {_esc(__version__)}">\n'
        f"<title>{_esc(title)}</title>\n<style>\n{_css()}</style>\n</head>\n<body>\n<main>\n"
        f"<header><h1>{_esc(title)}</h1>"
        f'<p class="meta">Generated <time datetime="{stamp}">{generated:%Y-%m-%d %H:%M:%S} UTC</time> '
        f"by peergrid {_esc(__version__)} · markets: "
        f"{_esc(', '.join(market_label(m) for m in comparison))}</p></header>\n"
        f'<nav aria-label="Contents"><ol>{nav_html}</ol></nav>\n'
        + "\n".join(sections)
        + f"\n<footer>Report generated {stamp} by peergrid {_esc(__version__)}. "
        "Self-contained page: figures are embedded; no external resources are loaded.</footer>\n"
        "</main>\n</body>\n</html>\n"
    )
    path = out / "report.html"
    path.write_text(page, encoding="utf-8")
    return path
