"""``peergrid clear ORDERS.csv``: clear an order file with one batch mechanism.

Prints the trades and a summary as tables, or one JSON object with ``--json``.
``--out DIR`` writes ``DIR/trades.csv`` and ``DIR/summary.json`` (the JSON document
without the trades) under the output-directory policy of :mod:`peergrid.core.output`;
the former ``--out FILE.csv`` form is refused with a one-line hint.

``--mechanism bilateral --network-aware`` places the participants on a radial LV
feeder (``--feeder`` file, or one house per node of a default feeder in order of
first appearance) and curtails trades that would overload a line or push a voltage
out of its band (:class:`peergrid.grid.FeederLimits`).

Registered on the main app by :func:`register` (``peergrid.cli.main`` calls it).
"""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from peergrid.core.output import OUT_HELP

MAX_TABLE_ROWS = 50


class Mechanism(StrEnum):
    """Batch mechanisms of ``peergrid clear``."""

    uniform = "uniform"
    pay_as_bid = "pay-as-bid"
    mcafee = "mcafee"
    bilateral = "bilateral"


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


def _read_feeder_map(path: Path) -> list[tuple[str, int, str]]:
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
            rows.append((who, n, row[2].strip().lower() if len(row) == 3 else "abc"))
    if not rows:
        raise DataError(f"{path.name}: no participants")
    return rows


def _network_check(book: Any, feeder: Path | None, line_type: str | None, dt: float, limits: dict[str, float]) -> Any:
    """The :class:`peergrid.grid.FeederLimits` of ``--network-aware``: participants on a radial feeder."""
    import importlib.util

    import pandas as pd

    from peergrid.core.errors import ConfigError, DataError

    if importlib.util.find_spec("pandapower") is None:
        raise ConfigError("--network-aware needs pandapower: pip install 'peergrid[grid]'")
    from peergrid.grid import DEFAULT_LINE_TYPE, FeederLimits, build_feeder, feeder_from_net

    labels = [str(x) for x in book.participant_label(np.arange(book.n_participants)).tolist()]
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
) -> tuple[Any, dict[str, Any]]:
    """Read, clear and summarise an order file (the command without printing).

    ``network_aware`` (bilateral only) curtails trades the feeder cannot carry:
    ``feeder`` maps participants to nodes of a radial LV feeder of ``line_type``
    cable, ``dt`` is the slot length in hours (kWh → kW), and ``max_loading``
    (% of the thermal rating), ``v_min`` and ``v_max`` (per unit) are the limits.

    Returns
    -------
    result : MarketResult
    payload : dict
        The JSON document ``peergrid clear --json`` prints.
    """
    from peergrid.core.errors import ConfigError
    from peergrid.market.bilateral import get_order_mechanism
    from peergrid.market.orders import read_orders

    if (retail is None) != (feed_in is None):
        raise ConfigError("give both --retail and --feed-in, or neither")
    if fees is not None and mechanism != "bilateral":
        raise ConfigError("--fees applies to --mechanism bilateral only")
    if (network_aware or feeder is not None or line_type is not None) and mechanism != "bilateral":
        raise ConfigError("--network-aware (--feeder, --line-type) applies to --mechanism bilateral only")
    if (feeder is not None or line_type is not None) and not network_aware:
        raise ConfigError("--feeder and --line-type need --network-aware")
    if not (dt > 0 and max_loading > 0 and 0 < v_min < v_max):
        raise ConfigError("need --dt > 0, --max-loading > 0 and 0 < --v-min < --v-max")
    clear_fn = get_order_mechanism(mechanism)
    book = read_orders(orders)
    options: dict[str, Any] = {"retail": retail, "feed_in": feed_in}
    if mechanism in ("uniform", "bilateral"):
        options["k"] = k
    if fees is not None:
        options["fees"] = _read_fees(fees, book)
    if network_aware:
        limits = {"max_loading_pct": max_loading, "v_min": v_min, "v_max": v_max}
        options["network"] = _network_check(book, feeder, line_type, dt, limits)
    result = clear_fn(book, **options)
    payload = {k_: _jsonable(v) for k_, v in result.summary().items()}
    payload["k"] = k if mechanism in ("uniform", "bilateral") else None
    payload["network_aware"] = network_aware
    curtailed = result.curtailed if result.curtailed is not None else [None] * len(result.slots)
    payload["slots"] = [
        {
            "slot": int(s),
            "traded_kwh": float(t),
            "clearing_price": _jsonable(p),
            "welfare": float(w),
            "curtailed_kwh": _jsonable(c),
        }
        for s, t, p, w, c in zip(
            result.slots.tolist(),
            result.traded.tolist(),
            result.clearing_price.tolist(),
            result.welfare.tolist(),
            list(curtailed),
            strict=True,
        )
    ]
    frame = result.trades.to_frame(book)
    payload["trades"] = [{c: _jsonable(v) for c, v in row.items()} for row in frame.to_dict(orient="records")]
    return result, payload


def clear(
    orders: Annotated[Path, typer.Argument(help="Order CSV: id,participant,side,quantity_kwh,price[,slot].")],
    mechanism: Annotated[Mechanism, typer.Option(help="Clearing mechanism.")] = Mechanism.uniform,
    k: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="k-double auction price k·bid + (1−k)·ask (uniform, bilateral).")
    ] = 0.5,
    retail: Annotated[float | None, typer.Option(help="Grid retail price λb for unmatched bids.")] = None,
    feed_in: Annotated[float | None, typer.Option(help="Feed-in tariff λs for unmatched asks.")] = None,
    fees: Annotated[
        Path | None, typer.Option(help="Bilateral network fees CSV: seller,buyer,fee (currency/kWh).")
    ] = None,
    network_aware: Annotated[
        bool,
        typer.Option(
            "--network-aware",
            help="Bilateral: power flow per slot; curtail trades that overload a line or violate voltage limits.",
        ),
    ] = False,
    feeder: Annotated[
        Path | None,
        typer.Option(help="With --network-aware: CSV participant,node[,phase] placing participants on a feeder."),
    ] = None,
    line_type: Annotated[
        str | None, typer.Option(help="With --network-aware: pandapower cable type (default NAYY 4x150 SE).")
    ] = None,
    dt: Annotated[float, typer.Option(help="Slot length in hours (kWh per slot -> kW).")] = 1.0,
    max_loading: Annotated[float, typer.Option(help="Line loading limit, % of the thermal rating.")] = 100.0,
    v_min: Annotated[float, typer.Option(help="Lowest allowed voltage, per unit.")] = 0.95,
    v_max: Annotated[float, typer.Option(help="Highest allowed voltage, per unit.")] = 1.05,
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
    """Clear ORDERS.csv with a double auction or bilateral matching and print trades and a summary."""
    if out is not None:
        _check_out(out)
    result, payload = clear_orders(
        orders, mechanism.value, k, retail, feed_in, fees,
        network_aware=network_aware, feeder=feeder, line_type=line_type, dt=dt,
        max_loading=max_loading, v_min=v_min, v_max=v_max,
    )  # fmt: skip
    if out is not None:
        _write_out(out, result.trades.to_frame(result.book).to_csv(index=False), payload)
        payload["out"] = str(out)
    if as_json:
        sys.stdout.write(json.dumps(payload, indent=2, allow_nan=False) + "\n")
        return
    _print_human(payload)


def register(app: typer.Typer) -> None:
    """Add the ``clear`` command to ``app`` (the ``peergrid`` typer app), wrapped in ``handle_errors``."""
    from peergrid.cli.main import handle_errors

    app.command("clear")(handle_errors(clear))


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
    ("curtailed", "curtailed_kwh", "{:,.3f} kWh"),
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
        if key not in payload or (payload[key] is None and key in ("k", "curtailed_kwh", "out")):
            continue
        v = payload[key]
        items.append((label, "–" if v is None else fmt.format(v)))
    console.print(format_kv(items))
