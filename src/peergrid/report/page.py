"""Self-contained HTML report and JSON summary of a :class:`~peergrid.simulate.Comparison`.

:func:`write_report` renders the figures of :mod:`peergrid.report.plots` (PNG, SVG
or PDF at a chosen resolution), embeds them as base64 data URIs in one
``report.html`` (inline CSS, no scripts, no external resources: it opens offline
and can be mailed as one file) and writes the figure files and ``summary.json``
alongside. ``summary.json`` records everything needed to rebuild the same page from
the saved results (:func:`rebuild_report`, ``peergrid report DIR``).
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import io
import json
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from peergrid.core.errors import ConfigError, DataError
from peergrid.core.numfmt import unsigned_zero
from peergrid.data.meters import format_span
from peergrid.market.mechanisms import REGISTRY, is_order_market
from peergrid.metrics.registry import METRICS, TABLE_METRICS
from peergrid.report._common import report_css
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
from peergrid.simulate.result import Comparison

__all__ = [
    "DEFAULT_DPI",
    "FORMATS",
    "METRIC_COLUMNS",
    "check_format",
    "file_provenance",
    "glossary_entries",
    "metrics_table_html",
    "rebuild_report",
    "save_figure",
    "summary_json",
    "to_jsonable",
    "write_report",
]

#: Metrics table columns: key, label (:data:`peergrid.metrics.METRICS`), format kind.
METRIC_COLUMNS: tuple[tuple[str, str, str], ...] = tuple((k, METRICS[k].label, METRICS[k].kind) for k in TABLE_METRICS)

#: Figure file formats of :func:`write_report` and :func:`save_figure`.
FORMATS: tuple[str, ...] = ("png", "svg", "pdf")
DEFAULT_DPI = 110  # dots per inch of PNG figures, and the on-screen size of every embedded figure
_MIME = {"png": "image/png", "svg": "image/svg+xml"}

#: Glossary of the metrics table: (term, text), from :data:`peergrid.metrics.METRICS`.
_DEFINITIONS: tuple[tuple[str, str], ...] = tuple(
    (f"{m.label} ({m.reference})" if m.reference else m.label, m.definition)
    for m in (METRICS[k] for k in TABLE_METRICS)
)

#: Extra glossary entry shown when the report holds an order-book market.
_BIDDING: tuple[str, str] = (
    "Bidding strategies (order-book markets)",
    "truthful: every buyer bids its alternative, the retail price λb, and every seller asks its "
    "alternative, the feed-in tariff λs, so all orders cross and the auctions trade as much as the "
    "pool rules; zero-intelligence: every limit price is drawn uniformly from [λs, λb] (seeded; "
    "budget-constrained zero-intelligence traders, Gode & Sunder 1993), so the books cross only in "
    "part and unmatched energy goes to the grid; zic: the same within each member's reservation "
    "prices, which reflect its planned battery state (a full battery lets a buyer wait, an empty one "
    "makes a seller ask more); zip: ZIP traders (Cliff 1997) that start from seeded profit margins and "
    "learn them day by day toward the observed trade prices (Widrow–Hoff rule with momentum).",
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
    "D. Cliff, “Minimal-intelligence agents for bargaining behaviors in market-based environments”, "
    "HP Laboratories Technical Report HPL-97-91, 1997 — ZIP bidding agents.",
)


def glossary_entries(markets: Sequence[str]) -> list[tuple[str, str, str]]:
    """Glossary entries ``(market, term, text)`` of ``markets``, in :data:`peergrid.market.REGISTRY` order.

    ``term`` and ``text`` are the registry's :attr:`~peergrid.market.Mechanism.term` and
    :attr:`~peergrid.market.Mechanism.description`.

    Markets without an entry (none of the simulator's) get a generic one, so every
    market of a report is explained. When an order-book market is present, the
    bidding strategies follow as an entry with market ``""``.
    """
    shown = [m for m in REGISTRY if m in markets] + [m for m in markets if m not in REGISTRY]
    out = [
        (m, REGISTRY[m].term, REGISTRY[m].description)
        if m in REGISTRY
        else (m, market_label(m), "Market mechanism without a glossary entry.")
        for m in shown
    ]
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


def file_provenance(paths: Sequence[str | Path]) -> list[dict[str, object]]:
    """Path, size and SHA-256 of data files, for ``summary.json``.

    Parameters
    ----------
    paths : sequence of str or pathlib.Path
        Files read by the study (missing files are listed with ``sha256 = None``).

    Returns
    -------
    list of dict
        ``{"path", "bytes", "sha256"}`` per file, in the given order.
    """
    import hashlib

    out: list[dict[str, object]] = []
    for p in paths:
        path = Path(p)
        if not path.is_file():
            out.append({"path": str(path), "bytes": None, "sha256": None})
            continue
        h = hashlib.sha256()
        with path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        out.append({"path": str(path), "bytes": path.stat().st_size, "sha256": h.hexdigest()})
    return out


def summary_json(
    comparison: Comparison,
    scenario: Mapping | None = None,
    *,
    title: str | None = None,
    notes: Sequence[str] | None = None,
    provenance: Mapping | None = None,
    figures: Mapping | None = None,
) -> dict:
    """JSON-safe record of a study: what was run, on which data, with which result.

    Parameters
    ----------
    comparison : Comparison
        The results.
    scenario : mapping, optional
        The scenario as run (:func:`peergrid.simulate.scenario.recorded_scenario`; nested tables allowed).
    title : str, optional
        Report title.
    notes : sequence of str, optional
        Free-text notes of the report.
    provenance : mapping, optional
        Extra run facts, merged in: ``command``, ``seeds`` (name → seed), ``data``
        (``files`` with SHA-256, see :func:`file_provenance`), ``tariff`` (name and
        definition); anything else is kept as given.
    figures : mapping, optional
        ``{"format": "png", "dpi": 110}`` of the report's figure files.

    Returns
    -------
    dict
        Keys ``peergrid_version``, ``title``, ``scenario``, ``notes``, ``seeds``,
        ``data`` (``source``, ``tz``, ``files``), ``tz``, ``tariff``, ``figures``,
        ``community`` (:meth:`~peergrid.Community.summary`), ``control`` and
        ``markets`` (``{name: metrics}``), plus any other provenance keys; NaN → None,
        numpy → Python. :func:`rebuild_report` reads it back.
    """
    from peergrid import __version__

    com = comparison.community
    extra = dict(provenance or {})
    data = {"source": com.source, "tz": com.tz, "files": []} | dict(extra.pop("data", None) or {})
    first = next(iter(comparison.values()), None)
    record = {
        "peergrid_version": __version__,
        "title": title,
        "scenario": dict(scenario) if scenario is not None else None,
        "notes": list(notes or []),
        "seeds": dict(extra.pop("seeds", None) or {}),
        "data": data,
        "tz": com.tz,
        "tariff": extra.pop("tariff", None),
        "figures": dict(figures) if figures is not None else {"format": "png", "dpi": DEFAULT_DPI},
        **extra,
        "community": com.summary(),
        "control": first.control if first is not None else None,
        "markets": {name: res.summary() for name, res in comparison.items()},
    }
    return to_jsonable(record)  # type: ignore[return-value]


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
    return unsigned_zero(_fmt_energy_signed(kwh))


def _fmt_energy_signed(kwh: float) -> str:
    a = abs(kwh)
    if a >= 1e7:
        return f"{kwh / 1e6:,.2f} GWh"
    if a >= 1e4:
        return f"{kwh / 1e3:,.1f} MWh"
    return f"{kwh:,.1f} kWh"


def _fmt(kind: str, value: object, currency: str) -> str:
    v = _finite(value)
    if v is not None:
        return unsigned_zero(_fmt_signed(kind, v, currency))
    return '<span class="muted" title="not defined">–</span>'


def _fmt_signed(kind: str, v: float, currency: str) -> str:
    if kind == "pct":
        return f"{v:.1%}"
    if kind == "money":
        return f"{v:,.2f}\u00a0{_esc(currency)}"
    if kind == "kw":
        return f"{v:,.1f}\u00a0kW"
    if kind == "kwh":
        return _fmt_energy(v).replace(" ", "\u00a0")
    if kind == "kg":
        return f"{v:,.1f}\u00a0kgCO2"
    return f"{v:.3f}"


def _fmt_step(hours: float) -> str:
    minutes = hours * 60.0
    if minutes < 60 and abs(minutes - round(minutes)) < 1e-9:
        return f"{round(minutes)} min"
    return f"{hours:g} h"


def _fmt_time(ts: pd.Timestamp, tz: str = "UTC") -> str:
    local = ts.tz_convert(tz)
    offset = local.strftime("%z")
    return f"{local:%Y-%m-%d %H:%M} (UTC{offset[:3]}:{offset[3:]})" if tz != "UTC" else f"{local:%Y-%m-%d %H:%M} UTC"


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
        f'<th scope="col" title="{_esc(METRICS[key].definition)}">{_esc(METRICS[key].heading(cur))}</th>'
        for key, _, _ in METRIC_COLUMNS
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
    span = format_span(pd.Timedelta(hours=com.T * com.dt))
    tz = display_tz(com)
    return [
        ("Name", str(s["name"])),
        ("Participants", f"{s['participants']:,}"),
        ("Prosumers", f"{s['prosumers']:,}"),
        ("Consumers", f"{s['consumers']:,}"),
        ("Batteries", f"{s['batteries']:,}"),
        (
            "Span",
            f"{_fmt_time(com.index[0], tz)} to {_fmt_time(com.index[-1] + com.index.freq, tz)} ({span})",
        ),
        ("Step", f"{_fmt_step(float(s['step_hours']))} ({s['steps']:,} steps)"),
        ("Time zone", f"{tz} (times, daily profiles and figures are local; data are stored in UTC)"),
        ("Total load", _fmt_energy(float(s["load_kwh"]))),
        ("Total generation", _fmt_energy(float(s["generation_kwh"]))),
        ("Retail price λb", _fmt_range(com.retail, com.currency)),
        ("Feed-in tariff λs", _fmt_range(com.feed_in, com.currency)),
        *(
            [("Carbon intensity", _fmt_range(com.carbon_intensity, "kgCO2").replace("(time-of-use)", "(time-varying)"))]
            if com.carbon_intensity is not None
            else []
        ),
        ("Battery control", res.control),
        ("Data source", str(s["source"])),
    ]


def _scenario_rows(scenario: Mapping, prefix: str = "") -> list[tuple[str, str]]:
    """One row per parameter; nested tables (TOML sections) become ``section.key`` rows."""
    rows = []
    for k, v in scenario.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping) and v:
            rows.extend(_scenario_rows(v, f"{key}."))
            continue
        if v is None:
            continue
        text = v if isinstance(v, str) else json.dumps(to_jsonable(v), ensure_ascii=False)
        rows.append((key, text))
    return rows


def _figure_specs(comparison: Comparison) -> list[tuple[str, Callable[[], Figure], str, str]]:
    """(stem, figure builder, alt text, caption) for every plot, in page order."""
    com = comparison.community
    tz = display_tz(com)
    week = representative_week(comparison)
    market = profile_market(comparison)
    p2p = [m for m in comparison if m != "baseline"]
    names = ", ".join(m.upper() for m in p2p) or "none"
    first = next(iter(comparison.values()))
    n_batt = int(first.battery.owners.size)
    vs = f"the no-P2P baseline (dashed) and {market.upper()} (solid)" if market != "baseline" else "the no-P2P baseline"
    from peergrid.report.forecast_report import forecast_of, plot_forecast

    fc = forecast_of(comparison)
    forecast = (
        [
            (
                "forecast",
                lambda: plot_forecast(comparison, week),
                f"Two panels over the {week.label}. Top: line chart of the community's actual net load and "
                f"its day-ahead forecast ({fc.forecast.forecaster}) in kW. Bottom: bar chart of the "
                "imbalance, realised minus planned net energy, in kW.",
                f"Community net load (load − generation), actual (solid) vs day-ahead forecast (dashed), "
                f"{week.label}; bottom: the imbalance settled at grid prices (+ extra import, − extra export).",
            )
        ]
        if fc is not None and fc.forecast is not None
        else []
    )
    return [
        (
            "daily_profiles",
            lambda: plot_daily_profiles(comparison, market),
            f"Line chart of the mean daily profile by hour of day ({tz}) of community load, generation, "
            f"grid import and grid export in kW, for {vs}.",
            f"Mean daily profile by hour of day ({tz}). Load and generation do not depend on the "
            f"market; grid import and export are shown for {vs}.",
        ),
        (
            "prices",
            lambda: plot_prices(comparison, week),
            f"Two panels. Top: line chart of internal buy and sell prices per mechanism ({names}) over "
            f"the {week.label}, with retail and feed-in prices as reference lines. Bottom: box plots of "
            "the volume-weighted price distribution over the whole horizon.",
            f"Internal prices ({com.currency}/kWh), {week.label}: buy prices solid, sell prices dashed; "
            "gaps where the slot had no buyers or sellers. Bottom: volume-weighted distribution over "
            "the whole horizon (buy weighted by deficit, sell by surplus, hatched); triangle = mean.",
        ),
        (
            "savings",
            lambda: plot_savings(comparison),
            f"Box plots of per-participant savings in {com.currency} relative to the no-P2P baseline "
            f"for each mechanism ({names}), split by prosumers and consumers.",
            f"Per-participant savings over the horizon vs the no-P2P baseline ({com.currency}); "
            "above zero = better off with P2P trading.",
        ),
        (
            "soc",
            lambda: plot_soc(comparison, week),
            (
                f"Line chart of battery state of charge (percent) over the {week.label} for up to 8 "
                f"batteries and the mean of all {n_batt} batteries."
                if n_batt
                else "Placeholder figure: the community has no batteries."
            ),
            (
                f"Battery state of charge, {week.label}; "
                + (
                    f"the schedule under {first.market.upper()} (price response: every market has its own)."
                    if first.coordination is not None
                    else "the battery schedule is the same for every market."
                )
                if n_batt
                else "The community has no batteries."
            ),
        ),
        (
            "energy_flows",
            lambda: plot_energy_flows(comparison),
            "Stacked bar charts per market. Left: local generation split into self-consumed, sold to "
            "peers and exported to the grid. Right: demand split into self-supplied, bought from "
            "peers and imported from the grid.",
            "Energy balance over the horizon per market. Self-consumed = generation − surplus "
            "(including own battery); self-supplied = load − deficit. Percentages are shares of the bar.",
        ),
        *forecast,
    ]


def check_format(fmt: str, dpi: int) -> tuple[str, int]:
    """Validate a figure format and resolution.

    Returns
    -------
    tuple
        ``(format, dpi)`` with the format lower-cased.

    Raises
    ------
    ConfigError
        Unknown format, or dpi outside 10–2400.
    """
    f = str(fmt).lower().lstrip(".")
    if f not in FORMATS:
        raise ConfigError(f"figure format {fmt!r} is not one of {', '.join(FORMATS)}")
    if isinstance(dpi, bool) or not isinstance(dpi, (int, np.integer)) or not 10 <= int(dpi) <= 2400:
        raise ConfigError(f"dpi {dpi!r} must be a whole number from 10 to 2400")
    return f, int(dpi)


def save_figure(fig: Figure, target: str | Path | io.BytesIO, format: str = "png", dpi: int = DEFAULT_DPI) -> None:
    """Save a figure reproducibly as PNG, SVG or PDF.

    The same figure gives the same bytes on every call: no creation date or
    software stamp in the metadata, fixed SVG element ids.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        A figure, e.g. from a ``plot_*`` function.
    target : str, pathlib.Path or file-like
        Output file or binary buffer.
    format : {"png", "svg", "pdf"}
        File format; SVG and PDF are vector formats (``dpi`` then only applies to
        embedded raster parts).
    dpi : int
        Resolution, dots per inch (a 10 x 5.2 in figure at 300 dpi is 3000 x 1560 px).

    Raises
    ------
    ConfigError
        Unknown format or out-of-range dpi.
    """
    import matplotlib

    fmt, dpi = check_format(format, dpi)
    metadata = {"png": {"Software": None}, "svg": {"Date": None, "Creator": None}, "pdf": {"CreationDate": None}}
    with matplotlib.rc_context({"svg.hashsalt": "peergrid", "svg.fonttype": "path"}):
        fig.savefig(target, format=fmt, dpi=dpi, metadata=metadata[fmt])


# ---- entry point ------------------------------------------------------------------------------------
def write_report(
    comparison: Comparison,
    out_dir: str | Path,
    *,
    title: str = "peergrid study",
    scenario: Mapping | None = None,
    notes: Sequence[str] | None = None,
    format: str = "png",
    dpi: int = DEFAULT_DPI,
    provenance: Mapping | None = None,
    on_stage: Callable[[str], None] | None = None,
) -> Path:
    """Write a self-contained HTML report of a comparison.

    Files written into ``out_dir`` (created if missing): ``daily_profiles``,
    ``prices``, ``savings``, ``soc`` and ``energy_flows`` figures in ``format``
    (``.png``, ``.svg`` or ``.pdf``), ``summary.json`` (see :func:`summary_json`) and
    ``report.html`` with the figures embedded as data URIs (PNG, or SVG when
    ``format="svg"``; a PDF report embeds PNGs and writes the PDFs alongside),
    inline CSS and no external resources.

    Parameters
    ----------
    comparison : Comparison
        Results of :func:`peergrid.compare`.
    out_dir : str or pathlib.Path
        Output directory.
    title : str
        Page title.
    scenario : mapping, optional
        Scenario parameters (nested tables allowed), shown as a table and stored
        in ``summary.json``.
    notes : sequence of str, optional
        Free-text notes shown near the top of the page.
    format : {"png", "svg", "pdf"}
        Format of the figure files.
    dpi : int
        Resolution of raster figures, dots per inch (default 110); the page shows
        every figure at the same on-screen size whatever the resolution.
    provenance : mapping, optional
        Run facts stored in ``summary.json`` (see :func:`summary_json`).
    on_stage : callable, optional
        Called with a short description before each stage (figures, page), e.g. to
        show progress.

    Returns
    -------
    pathlib.Path
        Path of ``report.html``.

    Examples
    --------
    >>> import peergrid
    >>> from peergrid.data import synthetic_community
    >>> from peergrid.report import write_report
    >>> cmp = peergrid.compare(synthetic_community(10, periods=48, freq="1h", seed=1))
    >>> write_report(cmp, "out/example", format="svg").name  # doctest: +SKIP
    'report.html'
    """
    if len(comparison) == 0:
        raise DataError("cannot report an empty comparison")
    fmt, dpi = check_format(format, dpi)
    stage = on_stage or (lambda _name: None)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    generated = _dt.datetime.now(_dt.UTC).replace(microsecond=0)

    summary = summary_json(
        comparison,
        scenario,
        title=title,
        notes=notes,
        provenance=provenance,
        figures={"format": fmt, "dpi": dpi},
    )
    (out / "summary.json").write_text(json.dumps(summary, indent=2, allow_nan=False), encoding="utf-8")

    figures = []
    embed = "svg" if fmt == "svg" else "png"
    for stem, build, alt, caption in _figure_specs(comparison):
        stage(f"figure: {stem}")
        fig = build()
        buf = io.BytesIO()
        save_figure(fig, buf, embed, dpi)
        data = buf.getvalue()
        if fmt == embed:
            (out / f"{stem}.{fmt}").write_bytes(data)
        else:
            save_figure(fig, out / f"{stem}.{fmt}", fmt, dpi)
        uri = f"data:{_MIME[embed]};base64," + base64.b64encode(data).decode("ascii")
        w, h = (round(float(v) * DEFAULT_DPI) for v in fig.get_size_inches())
        figures.append(
            f'<figure id="fig-{stem}"><img src="{uri}" alt="{_esc(alt)}" width="{w}" height="{h}">'
            f"<figcaption>{_esc(caption)} <span class=muted>(also saved as <code>{stem}.{fmt}</code>)"
            "</span></figcaption></figure>"
        )
        del fig

    stage("page")
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
            + _kv_table(_scenario_rows(scenario), "Scenario parameters as run (defaults made explicit).")
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
    from peergrid.report.forecast_report import forecast_section_html

    forecasts = forecast_section_html(comparison)
    if forecasts:
        nav.append(("forecasts", "Forecasts"))
        sections.append(forecasts)
    from peergrid.report.bills import bills_section_html

    nav.append(("bills", "Bills"))
    sections.append(bills_section_html(comparison))
    from peergrid.report.coordination import coordination_section_html

    if coordination := coordination_section_html(comparison, dpi):
        nav.append(("coordination", "Price response"))
        sections.append(coordination)
    from peergrid.report.grid_report import grid_section_html

    if grid := grid_section_html(comparison, dpi):
        nav.append(("grid", "Feeder"))
        sections.append(grid)
    from peergrid.report.invest_report import invest_section_html

    if invest := invest_section_html(comparison, scenario.get("invest") if scenario else None, dpi):
        nav.append(("invest", "Investment"))
        sections.append(invest)
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
        f"<title>{_esc(title)}</title>\n<style>\n{report_css()}</style>\n</head>\n<body>\n<main>\n"
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


#: ``summary.json`` keys recomputed from the results when a report is rebuilt.
_RECOMPUTED = frozenset(
    {"peergrid_version", "title", "scenario", "notes", "figures", "community", "control", "markets", "tz"}
)


def rebuild_report(
    directory: str | Path,
    out_dir: str | Path | None = None,
    *,
    format: str | None = None,
    dpi: int | None = None,
    on_stage: Callable[[str], None] | None = None,
) -> Path:
    """Rebuild the report of a study from its saved results and ``summary.json``.

    The results are read with :meth:`Comparison.from_parquet` (only the columns
    needed) and title, scenario parameters, notes, provenance and figure format
    come from ``summary.json``, so the page equals the original one except for its
    generation time.

    Parameters
    ----------
    directory : str or pathlib.Path
        A directory written by ``peergrid simulate/compare/demo --out``.
    out_dir : str or pathlib.Path, optional
        Where to write (default ``directory``).
    format : {"png", "svg", "pdf"}, optional
        Figure format; default the one recorded in ``summary.json`` (else PNG).
    dpi : int, optional
        Figure resolution; default the recorded one (else 110).
    on_stage : callable, optional
        Progress hook called with a short description before each stage.

    Returns
    -------
    pathlib.Path
        Path of the rebuilt ``report.html``.
    """
    directory = Path(directory)
    comparison = Comparison.from_parquet(directory, on_stage=on_stage)
    record: dict = {}
    summary_file = directory / "summary.json"
    if summary_file.is_file():
        try:
            loaded = json.loads(summary_file.read_text(encoding="utf-8"))
        except (ValueError, OSError):
            loaded = None
        record = loaded if isinstance(loaded, dict) else {}
    scenario = record.get("scenario")
    if isinstance(scenario, str):  # older summary.json: the scenario's name only
        scenario = {"name": scenario}
    figures = record.get("figures") if isinstance(record.get("figures"), dict) else {}
    notes = record.get("notes")
    return write_report(
        comparison,
        out_dir if out_dir is not None else directory,
        title=record.get("title") or f"peergrid report: {comparison.community.name}",
        scenario=scenario if isinstance(scenario, dict) else None,
        notes=[str(n) for n in notes] if isinstance(notes, list) else None,
        format=format or figures.get("format") or "png",
        dpi=dpi or figures.get("dpi") or DEFAULT_DPI,
        provenance={k: v for k, v in record.items() if k not in _RECOMPUTED},
        on_stage=on_stage,
    )
