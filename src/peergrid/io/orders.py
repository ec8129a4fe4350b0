"""Order files: :func:`read_orders` reads an order CSV into a :class:`~peergrid.market.OrderBook`.

The market layer is I/O-free (docs/DESIGN.md); reading files for it happens here, at the edge
(``peergrid clear ORDERS.csv``, studies, tests). Hostile input: every problem is one
:class:`~peergrid.core.errors.DataError` naming the file, the line and the problem.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from peergrid.core.errors import DataError
from peergrid.market.orders import BUY, CSV_COLUMNS, CSV_OPTIONAL, SELL, OrderBook

__all__ = ["read_orders"]


def _fail_line(path: Path, line: int, message: str) -> DataError:
    return DataError(f"{path.name} line {line}: {message}")


def read_orders(path: str | Path) -> OrderBook:
    """Read an order CSV file.

    The header must contain ``id,participant,side,quantity_kwh,price``; an optional
    ``slot`` column (integers) groups orders into separate auctions and an
    optional ``reputation`` column gives scores in [0, 1]. Other columns are an
    error (a typo such as ``qty`` would otherwise be silently ignored). Blank lines
    are skipped.

    Parameters
    ----------
    path : str or pathlib.Path
        The CSV file (UTF-8, comma separated).

    Returns
    -------
    OrderBook
        Orders in file order (file order is time priority for equal prices).

    Raises
    ------
    DataError
        One line naming the file, the line number and the problem: missing or
        unknown column, wrong number of fields, bad side, non-numeric or
        non-positive quantity, non-finite price, non-integer slot, duplicate id.
    """
    path = Path(path)
    try:
        return _read_orders(path)
    except UnicodeDecodeError as exc:
        raise DataError(f"{path.name}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def _read_orders(path: Path) -> OrderBook:
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        while header is not None and not any(h.strip() for h in header):
            header = next(reader, None)
        if header is None:
            raise DataError(f"{path.name}: empty file, expected header {','.join(CSV_COLUMNS)}")
        cols = [h.strip().lower() for h in header]
        header_line = reader.line_num
        missing = [c for c in CSV_COLUMNS if c not in cols]
        if missing:
            raise _fail_line(path, header_line, f"header lacks column(s) {', '.join(missing)}")
        unknown = [c for c in cols if c not in CSV_COLUMNS + CSV_OPTIONAL]
        if unknown:
            raise _fail_line(path, header_line, f"unknown column(s) {', '.join(unknown)}")
        dup = sorted({c for c in cols if cols.count(c) > 1})
        if dup:
            raise _fail_line(path, header_line, f"duplicate column(s) {', '.join(dup)}")
        width = len(cols)
        rows: list[list[str]] = []
        lines: list[int] = []
        for row in _rows(reader, path):
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            if len(row) != width:
                raise _fail_line(path, reader.line_num, f"expected {width} fields, got {len(row)}")
            rows.append(row)
            lines.append(reader.line_num)
    if not rows:
        raise DataError(f"{path.name}: no orders")
    columns = {c: [r[j].strip() for r in rows] for j, c in enumerate(cols)}
    line_of = np.asarray(lines)

    def numeric(name: str, check, what: str) -> np.ndarray:
        raw = columns[name]
        try:
            arr = np.array(raw, dtype=np.float64)
        except ValueError:
            for i, v in enumerate(raw):
                try:
                    float(v)
                except ValueError:
                    raise _fail_line(path, int(line_of[i]), f"{name} {v!r} is not a number") from None
            raise  # pragma: no cover - numpy and float() disagree
        bad = ~check(arr)
        if bad.any():
            i = int(np.argmax(bad))
            raise _fail_line(path, int(line_of[i]), f"{name} must be {what}, got {raw[i]!r}")
        return arr

    quantity = numeric("quantity_kwh", lambda a: np.isfinite(a) & (a > 0), "a finite number > 0")
    price = numeric("price", np.isfinite, "finite")
    side_words = pd.Series(columns["side"], dtype=object).str.lower()
    side = side_words.map({"buy": BUY, "sell": SELL})
    if side.isna().any():
        i = int(np.argmax(side.isna().to_numpy()))
        raise _fail_line(path, int(line_of[i]), f"side must be 'buy' or 'sell', got {columns['side'][i]!r}")
    slot = None
    if "slot" in columns:
        s = numeric("slot", lambda a: np.isfinite(a) & (a == np.round(a)) & (np.abs(a) < 2**53), "an integer")
        slot = s.astype(np.int64)
    reputation = None
    if "reputation" in columns:
        reputation = numeric("reputation", lambda a: (a >= 0) & (a <= 1), "in [0, 1]")
    empty = [i for i, v in enumerate(columns["id"]) if not v]
    if empty:
        raise _fail_line(path, int(line_of[empty[0]]), "empty id")
    empty = [i for i, v in enumerate(columns["participant"]) if not v]
    if empty:
        raise _fail_line(path, int(line_of[empty[0]]), "empty participant")
    ids = _maybe_int(columns["id"])
    dup = pd.Index(ids).duplicated()
    if dup.any():
        i = int(np.argmax(dup))
        raise _fail_line(path, int(line_of[i]), f"duplicate id {columns['id'][i]!r}")
    participants = _maybe_int(columns["participant"])
    return OrderBook.from_arrays(
        participant=participants,
        side=side.to_numpy(dtype=np.int8),
        quantity=quantity,
        price=price,
        slot=slot,
        id=ids,
        reputation=reputation,
    )


def _rows(reader: Any, path: Path) -> Iterable[list[str]]:
    """Rows of a csv reader; csv errors become one-line DataErrors with the line number."""
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise _fail_line(path, reader.line_num, f"malformed CSV ({exc})") from None
        yield row


def _maybe_int(values: list[str]) -> np.ndarray:
    """Integer ids stay integers; anything else stays a string."""
    try:
        return np.array([int(v) for v in values], dtype=np.int64)
    except (ValueError, OverflowError):
        return np.asarray(values, dtype=object)
