"""``peergrid clear ORDERS.csv``: clear an order file with one batch mechanism.

Prints the trades and a summary as tables, or one JSON object with ``--json``.
``--out DIR`` writes ``DIR/trades.csv`` and ``DIR/summary.json`` (the JSON document
without the trades) under the output-directory policy of :mod:`peergrid.core.output`;
the former ``--out FILE.csv`` form is refused with a one-line hint.

Network mode (every mechanism): ``--network FEEDER.json`` reads a pandapower JSON feeder
through :func:`peergrid.grid.read_feeder` (hostile input: vetted before pandapower sees it),
with members on buses and phases from ``--feeder MAP.csv`` (``participant,node[,phase]``,
node = pandapower bus index) or from the file's own ``peergrid_participants`` table;
``--network-aware`` is the same clearing on the generated default radial LV feeder
(``--feeder`` then places members on its nodes, one house per node in order of first
appearance without it). Both run :func:`peergrid.grid.clear_on_feeder`: Tooki et al.
(2025) eq. 12 fees from the flows the trades cause (paid by the buyer), curtailment on
line loading, voltage band and VIM (eq. 13), re-matching of the freed volume, and losses
allocated to trades.

The command is a module-level function on the module-level typer app :data:`app`
(``peergrid.cli.main`` merges it into ``peergrid``; ``CliRunner().invoke(app, [...])`` runs it alone).
"""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from peergrid.cli._common import handle_errors
from peergrid.core.output import OUT_HELP
from peergrid.market.mechanisms import K_OPTION, mechanism_names, takes_option

MAX_TABLE_ROWS = 50

app = typer.Typer(pretty_exceptions_enable=False)
"""``peergrid clear`` alone (one command: invoked without its name)."""


#: Batch mechanisms of ``peergrid clear``: the order books of :data:`peergrid.market.REGISTRY`.
Mechanism = StrEnum("Mechanism", {name.replace("-", "_"): name for name in mechanism_names("order-book")})
#: The mechanisms ``--k`` applies to (uniform, bilateral).
_K_MECHANISMS = ", ".join(name for name in mechanism_names("order-book") if takes_option(name, "k"))


class Flow(StrEnum):
    """AC flows of network mode (:class:`peergrid.grid.FeederLimits` ``flow``)."""

    sweep = "sweep"
    pandapower = "pandapower"


def _jsonable(x: Any) -> Any:
    if isinstance(x, float | np.floating):
        return float(x) if np.isfinite(x) else None
    if isinstance(x, np.integer):
        return int(x)
    return x


def _read_fees(path: Path, book: Any) -> dict[tuple[Any, Any], float]:
    """A ``seller,buyer,fee`` CSV (fee in currency/kWh) as a pair mapping by participant label."""
    import csv

    from peergrid.core.errors import DataError

    labels = {str(v): v for v in book.participant_label(np.arange(book.n_participants)).tolist()}
    fees: dict[tuple[Any, Any], float] = {}
    with Path(path).open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh)
        header = [h.strip().lower() for h in next(reader, [])]
        if header != ["seller", "buyer", "fee"]:
            raise DataError(f"{path.name} line 1: header must be seller,buyer,fee")
        for row in reader:
            if not row or not any(c.strip() for c in row):
                continue
            if len(row) != 3:
                raise DataError(f"{path.name} line {reader.line_num}: expected 3 fields, got {len(row)}")
            try:
                fee = float(row[2])
            except ValueError:
                raise DataError(f"{path.name} line {reader.line_num}: fee {row[2].strip()!r} is not a number") from None
            if not fee >= 0:
                raise DataError(f"{path.name} line {reader.line_num}: fee must be >= 0, got {row[2].strip()!r}")
            a, b = row[0].strip(), row[1].strip()
            fees[(labels.get(a, a), labels.get(b, b))] = fee
    return fees


def _read_feeder_map(path: Path, default_phase: str = "abc") -> list[tuple[str, int, str]]:
    """A ``participant,node[,phase]`` CSV as (participant, node, phase) rows; one-line errors with the line number."""
    import csv

    from peergrid.core.errors import DataError

    rows: list[tuple[str, int, str]] = []
    with Path(path).open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh)
        header = [h.strip().lower() for h in next(reader, [])]
        if header not in (["participant", "node"], ["participant", "node", "phase"]):
            raise DataError(f"{path.name} line 1: header must be participant,node[,phase]")
        seen: set[str] = set()
        for row in reader:
            if not row or not any(c.strip() for c in row):
                continue
            if len(row) != len(header):
                raise DataError(f"{path.name} line {reader.line_num}: expected {len(header)} fields, got {len(row)}")
            who, node = row[0].strip(), row[1].strip()
            try:
                n = int(node)
            except ValueError:
                raise DataError(f"{path.name} line {reader.line_num}: node {node!r} is not an integer") from None
            if n < 0:
                raise DataError(f"{path.name} line {reader.line_num}: node must be >= 0, got {n}")
            if who in seen:
                raise DataError(f"{path.name} line {reader.line_num}: participant {who!r} listed twice")
            seen.add(who)
            rows.append((who, n, row[2].strip().lower() if len(row) == 3 else default_phase))
    if not rows:
        raise DataError(f"{path.name}: no participants")
    return rows


def _feeder_limits(
    book: Any,
    network: Path | None,
    feeder: Path | None,
    line_type: str | None,
    dt: float,
    limits: dict[str, Any],
) -> Any:
    """The :class:`peergrid.grid.FeederLimits` of network mode: members on ``--network`` or the default feeder."""
    import importlib.util

    import pandas as pd

    from peergrid.core.errors import ConfigError, DataError

    if importlib.util.find_spec("pandapower") is None:
        raise ConfigError("--network / --network-aware need pandapower: pip install 'peergrid[grid]'")
    from peergrid.grid import DEFAULT_LINE_TYPE, FeederLimits, build_feeder, feeder_from_net, read_feeder

    labels = [str(x) for x in book.participant_label(np.arange(book.n_participants)).tolist()]
    if network is not None:
        table = None
        if feeder is not None:
            table = pd.DataFrame(_read_feeder_map(feeder, default_phase="abc"), columns=["id", "bus", "phase"])
        net = read_feeder(network, table)
        if "peergrid_participants" not in net or not len(net["peergrid_participants"]):
            raise DataError(f"{network.name}: no members on the feeder; map them with --feeder MAP.csv")
        on = set(net["peergrid_participants"]["id"].astype(str))
        missing = [x for x in labels if x not in on]
        if missing:
            where = feeder.name if feeder is not None else network.name
            raise DataError(f"{where}: no bus for participant {missing[0]!r}")
        return FeederLimits(net, dt=dt, **limits)
    if feeder is None:  # one house per node, in order of first appearance in the order file
        first = pd.unique(book.participant)
        rows = [(labels[c], k + 1, "abc") for k, c in enumerate(first.tolist())]
    else:
        rows = _read_feeder_map(feeder)
        mapped = {r[0] for r in rows}
        missing = [x for x in labels if x not in mapped]
        if missing:
            raise DataError(f"{feeder.name}: no node for participant {missing[0]!r}")
    table = pd.DataFrame(rows, columns=["id", "bus", "phase"])
    try:
        net = build_feeder(n_buses=int(table["bus"].max()) + 1, line_type=line_type or DEFAULT_LINE_TYPE)
    except (KeyError, ValueError) as exc:  # unknown pandapower standard type
        raise ConfigError(f"--line-type {line_type!r}: {str(exc).splitlines()[0]}") from None
    return FeederLimits(feeder_from_net(net, table), dt=dt, **limits)


#: Network figures of ``peergrid clear`` in network mode (top-level JSON keys; null otherwise).
NETWORK_KEYS = (
    "line_fees", "losses_kwh", "rematched_kwh", "max_line_loading_pct", "min_voltage_pu", "max_vim_pct", "tau",
    "feasible",
)  # fmt: skip


def _check_out(out: Path) -> None:
    """Refuse the former ``--out FILE.csv`` form (and any file) before any work, with the new usage."""
    from peergrid.core.errors import ConfigError
    from peergrid.core.output import check_output_dir

    if (out.is_file() and not out.is_symlink()) or (not out.exists() and out.suffix.lower() == ".csv"):
        raise ConfigError(
            f"--out {out}: --out is now a directory (peergrid writes trades.csv and summary.json into it); "
            f"e.g. --out {out.with_suffix('') if out.suffix else out.parent / 'clear'}"
        )
    check_output_dir(out)


def _write_out(out: Path, trades_csv: str, payload: dict[str, Any]) -> None:
    """Write ``trades.csv`` and ``summary.json`` into ``out`` atomically (:func:`peergrid.core.output.output_dir`)."""
    from peergrid.core.output import output_dir

    summary = {k: v for k, v in payload.items() if k != "trades"} | {"trades": "trades.csv"}
    with output_dir(out, command="peergrid clear") as tmp:
        (tmp / "trades.csv").write_text(trades_csv, encoding="utf-8")
        (tmp / "summary.json").write_text(json.dumps(summary, indent=2, allow_nan=False) + "\n", encoding="utf-8")


def clear_orders(
    orders: Path,
    mechanism: str = "uniform",
    k: float = 0.5,
    retail: float | None = None,
    feed_in: float | None = None,
    fees: Path | None = None,
    network_aware: bool = False,
    feeder: Path | None = None,
    line_type: str | None = None,
    dt: float = 1.0,
    max_loading: float = 100.0,
    v_min: float = 0.95,
    v_max: float = 1.05,
    network: Path | None = None,
    max_vim: float = 2.0,
    tau: float = 0.01,
    rounds: int = 4,
    flow: str = "sweep",
) -> tuple[Any, dict[str, Any]]:
    """Read, clear and summarise an order file (the command without printing).

    Network mode (``network`` a pandapower JSON feeder, or ``network_aware`` for the
    default feeder) clears with :func:`peergrid.grid.clear_on_feeder`: ``feeder`` maps
    participants to buses, ``line_type`` is the default feeder's cable, ``dt`` the slot
    length in hours (kWh → kW), ``max_loading`` (% of the thermal rating), ``v_min``,
    ``v_max`` (per unit) and ``max_vim`` (%) the limits, ``tau`` the eq. 12 fee at full
    utilisation (currency/kWh), ``rounds`` the most matching rounds per slot and ``flow`` the
    AC flow (``"sweep"``, default, or ``"pandapower"``; see :class:`peergrid.grid.FeederLimits`).

    Returns
    -------
    result : MarketResult
    payload : dict
        The JSON document ``peergrid clear --json`` prints.
    """
    from peergrid.core.errors import ConfigError
    from peergrid.io import read_orders
    from peergrid.market.mechanisms import get_order_mechanism

    networked = network_aware or network is not None
    if (retail is None) != (feed_in is None):
        raise ConfigError("give both --retail and --feed-in, or neither")
    if fees is not None and mechanism != "bilateral":
        raise ConfigError("--fees applies to --mechanism bilateral only")
    if fees is not None and networked:
        raise ConfigError("--fees and --network/--network-aware exclude each other: network mode computes eq. 12 fees")
    if network is not None and (network_aware or line_type is not None):
        raise ConfigError("--network FEEDER.json is the feeder: drop --network-aware and --line-type")
    if (feeder is not None or line_type is not None) and not networked:
        raise ConfigError("--feeder and --line-type need --network FEEDER.json or --network-aware")
    if not (dt > 0 and max_loading > 0 and 0 < v_min < v_max and max_vim > 0 and tau >= 0 and rounds >= 1):
        raise ConfigError(
            "need --dt > 0, --max-loading > 0, 0 < --v-min < --v-max, --max-vim > 0, --tau >= 0 and --rounds >= 1"
        )
    clear_fn = get_order_mechanism(mechanism)
    book = read_orders(orders)
    options: dict[str, Any] = {"retail": retail, "feed_in": feed_in}
    if takes_option(mechanism, "k"):
        options["k"] = k
    if fees is not None:
        options["fees"] = _read_fees(fees, book)
    extra: dict[str, Any] = dict.fromkeys(NETWORK_KEYS)
    slot_extra: dict[str, Any] = {}
    trade_extra: dict[str, Any] = {}
    if networked:
        from peergrid.grid import clear_on_feeder

        limits = {"max_loading_pct": max_loading, "v_min": v_min, "v_max": v_max, "max_vim_pct": max_vim,
                  "flow": flow}  # fmt: skip
        check = _feeder_limits(book, network, feeder, line_type, dt, limits)
        cleared = clear_on_feeder(
            book, check, mechanism, tau=tau, k=k, retail=retail, feed_in=feed_in, max_rounds=rounds
        )
        result = cleared.result
        extra = {key: _jsonable(v) for key, v in cleared.summary().items() if key in NETWORK_KEYS}
        slot_extra = {
            "line_fees": cleared.slot_line_fees,
            "losses_kwh": cleared.slot_losses_kwh,
            "max_line_loading_pct": cleared.slot_max_loading_pct,
            "min_voltage_pu": cleared.slot_min_voltage_pu,
            "max_vim_pct": cleared.slot_max_vim_pct,
        }
        trade_extra = {"fee_per_kwh": cleared.fee_per_kwh, "line_fee": cleared.line_fees,
                       "losses_kwh": cleared.losses_kwh}  # fmt: skip
    else:
        result = clear_fn(book, **options)
    payload = {k_: _jsonable(v) for k_, v in result.summary().items()}
    payload["k"] = k if takes_option(mechanism, "k") else None
    payload["network_aware"] = networked
    payload["network"] = str(network) if network is not None else ("default" if network_aware else None)
    payload.update(extra)
    payload["flow"] = cleared.flow if networked else None
    curtailed = result.curtailed if result.curtailed is not None else [None] * len(result.slots)
    payload["slots"] = [
        {
            "slot": int(s),
            "traded_kwh": float(t),
            "clearing_price": _jsonable(p),
            "welfare": float(w),
            "curtailed_kwh": _jsonable(c),
        }
        | {key: _jsonable(v[i]) for key, v in slot_extra.items()}
        for i, (s, t, p, w, c) in enumerate(
            zip(
                result.slots.tolist(),
                result.traded.tolist(),
                result.clearing_price.tolist(),
                result.welfare.tolist(),
                list(curtailed),
                strict=True,
            )
        )
    ]
    frame = result.trades.to_frame(book)
    for key, values in trade_extra.items():
        frame[key] = values
    payload["trades"] = [{c: _jsonable(v) for c, v in row.items()} for row in frame.to_dict(orient="records")]
    return result, payload


@app.command("clear")
@handle_errors
def clear(
    orders: Annotated[Path, typer.Argument(help="Order CSV: id,participant,side,quantity_kwh,price[,slot].")],
    mechanism: Annotated[Mechanism, typer.Option(help="Clearing mechanism.")] = Mechanism.uniform,
    k: Annotated[
        float,
        typer.Option(
            min=float(K_OPTION.low), max=float(K_OPTION.high),
            help=f"k-double auction price k·bid + (1−k)·ask ({_K_MECHANISMS}).",
        ),
    ] = K_OPTION.default,
    retail: Annotated[float | None, typer.Option(help="Grid retail price λb for unmatched bids.")] = None,
    feed_in: Annotated[float | None, typer.Option(help="Feed-in tariff λs for unmatched asks.")] = None,
    fees: Annotated[
        Path | None,
        typer.Option(help="Bilateral fees CSV: seller,buyer,fee (currency/kWh); not with network mode."),
    ] = None,
    network: Annotated[
        Path | None,
        typer.Option(
            "--network",
            metavar="FEEDER.json",
            help="Network mode on a pandapower JSON feeder (read safely; members from --feeder or the file): "
            "eq. 12 fees from the flows, curtailment on loading/voltage/VIM, freed volume re-matched, losses.",
        ),
    ] = None,
    network_aware: Annotated[
        bool,
        typer.Option(
            "--network-aware",
            help="Network mode on the generated default radial LV feeder (same clearing as --network).",
        ),
    ] = False,
    feeder: Annotated[
        Path | None,
        typer.Option(
            metavar="MAP.csv",
            help="Network mode: CSV participant,node[,phase] (node = bus index; phase a|b|c|abc, default abc).",
        ),
    ] = None,
    line_type: Annotated[
        str | None, typer.Option(help="With --network-aware: pandapower cable type (default NAYY 4x150 SE).")
    ] = None,
    dt: Annotated[float, typer.Option(help="Slot length in hours (kWh per slot -> kW).")] = 1.0,
    max_loading: Annotated[float, typer.Option(help="Line loading limit, % of the thermal rating.")] = 100.0,
    v_min: Annotated[float, typer.Option(help="Lowest allowed voltage, per unit.")] = 0.95,
    v_max: Annotated[float, typer.Option(help="Highest allowed voltage, per unit.")] = 1.05,
    max_vim: Annotated[
        float, typer.Option(help="VIM limit (Tooki eq. 13), %; checked when members sit on single phases.")
    ] = 2.0,
    tau: Annotated[float, typer.Option(help="Network mode: eq. 12 line fee at full utilisation, currency/kWh.")] = 0.01,
    rounds: Annotated[int, typer.Option(help="Network mode: most matching rounds per slot (1 = no re-matching).")] = 4,
    flow: Annotated[
        Flow, typer.Option(help="Network mode: AC flow, the vectorised sweep or pandapower's Newton-Raphson.")
    ] = Flow.sweep,
    out: Annotated[
        Path | None,
        typer.Option(
            help="Also write trades.csv and summary.json into this directory. " + OUT_HELP,
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object with stable keys (trades included).")
    ] = False,
) -> None:
    """Clear ORDERS.csv with a double auction or bilateral matching and print trades and a summary.

    Network mode: --network FEEDER.json (a pandapower feeder; members from --feeder MAP.csv or
    the file) or --network-aware (the generated default feeder; --feeder places members on its
    nodes). Both clear every mechanism on the feeder's power flows, charge the eq. 12 fees to
    buyers and report line_fees, curtailed_kwh, losses_kwh, max_line_loading_pct,
    min_voltage_pu and max_vim_pct.
    """
    if out is not None:
        _check_out(out)
    result, payload = clear_orders(
        orders, mechanism.value, k, retail, feed_in, fees,
        network_aware=network_aware, feeder=feeder, line_type=line_type, dt=dt,
        max_loading=max_loading, v_min=v_min, v_max=v_max, network=network, max_vim=max_vim, tau=tau,
        rounds=rounds, flow=flow.value,
    )  # fmt: skip
    if out is not None:
        _write_out(out, result.trades.to_frame(result.book).to_csv(index=False), payload)
        payload["out"] = str(out)
    if as_json:
        sys.stdout.write(json.dumps(payload, indent=2, allow_nan=False) + "\n")
        return
    _print_human(payload)


SUMMARY_LABELS: tuple[tuple[str, str, str], ...] = (
    ("mechanism", "mechanism", "{}"),
    ("orders", "n_orders", "{:,}"),
    ("slots", "n_slots", "{:,}"),
    ("trades", "n_trades", "{:,}"),
    ("traded", "traded_kwh", "{:,.3f} kWh"),
    ("clearing price", "clearing_price", "{:.4f} /kWh"),
    ("buyers pay (average)", "price_buy", "{:.4f} /kWh"),
    ("sellers get (average)", "price_sell", "{:.4f} /kWh"),
    ("welfare", "welfare", "{:,.4f}"),
    ("network fees", "fees", "{:,.4f}"),
    ("k", "k", "{:g}"),
    ("grid import", "grid_import_kwh", "{:,.3f} kWh"),
    ("grid export", "grid_export_kwh", "{:,.3f} kWh"),
    ("grid bill", "grid_bill", "{:,.4f}"),
    ("network-aware", "network_aware", "{}"),
    ("feeder", "network", "{}"),
    ("curtailed", "curtailed_kwh", "{:,.3f} kWh"),
    ("re-matched", "rematched_kwh", "{:,.3f} kWh"),
    ("line fees (eq. 12)", "line_fees", "{:,.4f}"),
    ("losses", "losses_kwh", "{:,.3f} kWh"),
    ("max line loading", "max_line_loading_pct", "{:.1f} %"),
    ("min voltage", "min_voltage_pu", "{:.4f} pu"),
    ("max VIM", "max_vim_pct", "{:.3f} %"),
    ("within limits", "feasible", "{}"),
    ("written to", "out", "{}"),
)
"""(label, JSON key, format) of the human summary of ``peergrid clear``; missing keys are left out."""


def _print_human(payload: dict[str, Any]) -> None:
    from rich.table import Table

    from peergrid.cli.ui import format_kv, out_console

    console = out_console()
    trades = payload["trades"]
    table = Table(title=f"Trades ({payload['mechanism']})", header_style="bold")
    cols = ["slot", "buyer", "seller", "quantity_kwh", "price_buy", "price_sell"]
    for c in cols:
        table.add_column(c.replace("_kwh", " (kWh)").replace("_", " "), justify="right")
    for row in trades[:MAX_TABLE_ROWS]:
        table.add_row(*(f"{row[c]:.4f}" if isinstance(row[c], float) else str(row[c]) for c in cols))
    if trades:
        console.print(table)
    else:
        console.print("no trades")
    if len(trades) > MAX_TABLE_ROWS:
        console.print(f"… {len(trades) - MAX_TABLE_ROWS} more trades (use --json or --out DIR for all)")
    items = []
    for label, key, fmt in SUMMARY_LABELS:
        if key not in payload or (
            payload[key] is None and key in ("k", "curtailed_kwh", "out", "network", *NETWORK_KEYS)
        ):
            continue
        v = payload[key]
        items.append((label, "–" if v is None else fmt.format(v)))
    console.print(format_kv(items))
