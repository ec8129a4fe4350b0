"""``peergrid clear ORDERS.csv``: clear an order file with one batch mechanism.

Registered on the main app by :func:`register` (``peergrid.cli.main`` calls it).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

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


def _write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary sibling file (no partial file on error)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def clear_orders(
    orders: Path,
    mechanism: str = "uniform",
    k: float = 0.5,
    retail: float | None = None,
    feed_in: float | None = None,
    fees: Path | None = None,
) -> tuple[Any, dict[str, Any]]:
    """Read, clear and summarise an order file (the command without printing).

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
    clear_fn = get_order_mechanism(mechanism)
    book = read_orders(orders)
    options: dict[str, Any] = {"retail": retail, "feed_in": feed_in}
    if mechanism in ("uniform", "bilateral"):
        options["k"] = k
    if fees is not None:
        options["fees"] = _read_fees(fees, book)
    result = clear_fn(book, **options)
    payload = {k_: _jsonable(v) for k_, v in result.summary().items()}
    payload["k"] = k if mechanism in ("uniform", "bilateral") else None
    payload["slots"] = [
        {
            "slot": int(s),
            "traded_kwh": float(t),
            "clearing_price": _jsonable(p),
            "welfare": float(w),
        }
        for s, t, p, w in zip(
            result.slots.tolist(),
            result.traded.tolist(),
            result.clearing_price.tolist(),
            result.welfare.tolist(),
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
    out: Annotated[Path | None, typer.Option(help="Also write the trades to this CSV file.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object with stable keys.")] = False,
) -> None:
    """Clear ORDERS.csv with a double auction or bilateral matching and print trades and a summary."""
    result, payload = clear_orders(orders, mechanism.value, k, retail, feed_in, fees)
    if out is not None:
        _write_atomic(out, result.trades.to_frame(result.book).to_csv(index=False))
        payload["out"] = str(out)
    if as_json:
        sys.stdout.write(json.dumps(payload, indent=2, allow_nan=False) + "\n")
        return
    _print_human(payload)


def register(app: typer.Typer) -> None:
    """Add the ``clear`` command to ``app`` (the ``peergrid`` typer app), wrapped in ``handle_errors``."""
    from peergrid.cli.main import handle_errors

    app.command("clear")(handle_errors(clear))


def _print_human(payload: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=None if sys.stdout.isatty() else 140)
    trades = payload["trades"]
    table = Table(title=f"Trades ({payload['mechanism']})", header_style="bold")
    cols = ["slot", "buy_id", "sell_id", "buyer", "seller", "quantity_kwh", "price_buy", "price_sell"]
    for c in cols:
        table.add_column(c, justify="right")
    for row in trades[:MAX_TABLE_ROWS]:
        table.add_row(*(f"{row[c]:.4f}" if isinstance(row[c], float) else str(row[c]) for c in cols))
    console.print(table)
    if len(trades) > MAX_TABLE_ROWS:
        console.print(f"… {len(trades) - MAX_TABLE_ROWS} more trades (use --json or --out for all)")
    summary = {k: v for k, v in payload.items() if k not in ("trades", "slots")}
    console.print_json(json.dumps(summary, allow_nan=False))
