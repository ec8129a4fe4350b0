"""Clearing benchmark: order-book auctions, pymarket side by side, CDA throughput, feeder power flow.

Usage: ``python benchmarks/clearing.py [--quick]``

* uniform-price k-double auction on 10^4, 10^5 and 10^6 orders (half bids, half
  asks, quantities U(0.1, 5) kWh, prices U(0.05, 0.40)/kWh; best of several runs);
* pymarket's MUDA (``Market.run("muda")``) next to peergrid on *identical* books
  of 10^3 and 10^4 orders (pymarket's time is ``run`` only, not bid entry); the
  peergrid figure is McAfee's truthful trade-reduction auction, its closest
  counterpart (the uniform auction is as fast); pymarket's ``huang`` is tried and
  its error recorded;
* continuous double auction: limit-order submissions per second, single thread;
* feeder power flow, 100-bus LV feeder × 96 slots, from
  ``peergrid.grid.benchmark_powerflow`` when that module exists (else null).

``--quick`` uses tiny sizes and skips pymarket and the power flow (null).
Progress goes to stderr; the last line of stdout is one JSON object.
"""

from __future__ import annotations

import argparse
import importlib
import json
import platform
import sys
import time
import traceback
from collections.abc import Callable

import numpy as np
import pandas as pd

from peergrid.market.auction import mcafee, uniform_price
from peergrid.market.cda import ContinuousDoubleAuction
from peergrid.market.orders import OrderBook


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def make_book(n: int, seed: int = 0) -> OrderBook:
    """Half bids, half asks; continuous random prices (no ties, as pymarket's MUDA requires)."""
    rng = np.random.default_rng(seed)
    return OrderBook.from_arrays(
        participant=np.arange(n),
        side=np.where(np.arange(n) < n // 2, 1, -1),
        quantity=rng.uniform(0.1, 5.0, n),
        price=rng.uniform(0.05, 0.40, n),
    )


def _exp(n: int) -> int:
    """Decimal exponent of a power of ten (10**4 -> 4)."""
    return len(str(n)) - 1


def best_of(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def bench_uniform(sizes: list[int]) -> dict[str, float]:
    out = {}
    for n in sizes:
        book = make_book(n)
        uniform_price(book)  # warm-up
        s = best_of(lambda b=book: uniform_price(b), repeat=7 if n <= 10**5 else 5)
        exp = _exp(n)
        out[f"uniform_1e{exp}_s"] = s
        log(f"uniform-price auction, {n:>9,} orders: {s * 1e3:9.2f} ms")
    return out


def _pymarket_market(book: OrderBook):
    import pymarket as pm

    mar = pm.Market()
    for q, p, u, s in zip(
        book.quantity.tolist(), book.price.tolist(), book.participant.tolist(), book.side.tolist(), strict=True
    ):
        mar.accept_bid(q, p, u, s > 0)
    return mar


def bench_pymarket(sizes: list[int]) -> dict[str, object]:
    out: dict[str, object] = {}
    try:
        import pymarket

        out["pymarket_version"] = getattr(pymarket, "__version__", "unknown")
    except Exception as exc:  # not installed, or broken on this numpy/pandas
        out["pymarket_error"] = f"{type(exc).__name__}: {exc}"
        log(f"pymarket unavailable: {out['pymarket_error']}")
        for n in sizes:
            exp = _exp(n)
            out[f"pymarket_muda_1e{exp}_s"] = None
        return out
    for n in sizes:
        exp = _exp(n)
        book = make_book(n)
        key = f"pymarket_muda_1e{exp}_s"
        try:
            mar = _pymarket_market(book)
            t = time.perf_counter()
            trans, _ = mar.run("muda", r=np.random.RandomState(0))
            out[key] = time.perf_counter() - t
            out[f"pymarket_muda_1e{exp}_traded_kwh"] = float(trans.get_df()["quantity"].sum()) / 2.0
            log(f"pymarket muda,             {n:>9,} orders: {out[key] * 1e3:9.2f} ms")
        except Exception as exc:
            out[key] = None
            out["pymarket_muda_error"] = f"{type(exc).__name__}: {exc}"
            log(f"pymarket muda failed at {n:,} orders: {out['pymarket_muda_error']}")
    # pymarket's Huang trade-reduction mechanism, reported to crash on current pandas
    n = sizes[0]
    exp = _exp(n)
    try:
        mar = _pymarket_market(make_book(n))
        t = time.perf_counter()
        mar.run("huang")
        out[f"pymarket_huang_1e{exp}_s"] = time.perf_counter() - t
        out["pymarket_huang_error"] = None
    except Exception as exc:
        out[f"pymarket_huang_1e{exp}_s"] = None
        frame = traceback.extract_tb(exc.__traceback__)[-1]
        out["pymarket_huang_error"] = (
            f"{type(exc).__name__}: {exc} ({frame.filename.split('site-packages/')[-1]}:{frame.lineno})"
        )
        log(f"pymarket huang failed: {out['pymarket_huang_error']}")
    return out


def bench_peergrid_side_by_side(sizes: list[int]) -> dict[str, float]:
    out = {}
    for n in sizes:
        exp = _exp(n)
        book = make_book(n)
        mcafee(book)
        out[f"peergrid_1e{exp}_s"] = best_of(lambda b=book: mcafee(b), repeat=9)
        out[f"peergrid_uniform_1e{exp}_s"] = best_of(lambda b=book: uniform_price(b), repeat=9)
        out[f"peergrid_mcafee_1e{exp}_traded_kwh"] = float(mcafee(book).traded.sum())
        log(f"peergrid mcafee,           {n:>9,} orders: {out[f'peergrid_1e{exp}_s'] * 1e3:9.3f} ms")
    return out


def bench_cda(n: int) -> dict[str, float]:
    rng = np.random.default_rng(1)
    side = np.where(rng.random(n) < 0.5, 1, -1).tolist()
    price = np.round(rng.normal(0.20, 0.02, n), 3).tolist()  # 0.001 tick: realistic shared price levels
    qty = np.round(rng.uniform(0.1, 5.0, n), 3).tolist()
    part = rng.integers(0, 1000, n).tolist()
    book = ContinuousDoubleAuction()
    submit = book.submit
    t = time.perf_counter()
    for i in range(n):
        submit(part[i], side[i], qty[i], price[i])
    dt = time.perf_counter() - t
    log(f"CDA: {n:,} submissions in {dt:.3f} s = {n / dt:,.0f}/s, {book.n_fills:,} fills, {len(book):,} resting")
    return {"cda_orders_per_s": n / dt, "cda_orders": n, "cda_fills": book.n_fills}


def bench_powerflow() -> float | None:
    try:
        grid = importlib.import_module("peergrid.grid")
        fn = grid.benchmark_powerflow
    except (ImportError, AttributeError) as exc:
        log(f"power flow: not available ({type(exc).__name__}: {exc})")
        return None
    seconds = float(fn(buses=100, slots=96))
    log(f"power flow, 100 buses x 96 slots: {seconds:.3f} s")
    return seconds


def main(argv: list[str] | None = None) -> dict[str, object]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny sizes; skip pymarket and the power flow")
    args = ap.parse_args(argv)
    quick = args.quick
    figures: dict[str, object] = {
        "quick": quick,
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "python": platform.python_version(),
        "uniform_1e4_s": None,
        "uniform_1e5_s": None,
        "uniform_1e6_s": None,
    }
    figures |= bench_uniform([10**3, 10**4] if quick else [10**4, 10**5, 10**6])
    side_sizes = [10**3, 10**4]
    figures |= bench_peergrid_side_by_side(side_sizes)
    if quick:
        figures |= {"pymarket_muda_1e3_s": None, "pymarket_muda_1e4_s": None}
    else:
        figures |= bench_pymarket(side_sizes)
    for n in side_sizes:
        exp = _exp(n)
        pm_s, pg_s = figures.get(f"pymarket_muda_1e{exp}_s"), figures.get(f"peergrid_1e{exp}_s")
        figures[f"speedup_vs_pymarket_1e{exp}"] = pm_s / pg_s if pm_s and pg_s else None
    figures |= bench_cda(10**4 if quick else 10**6)
    figures["powerflow_100bus_96_s"] = None if quick else bench_powerflow()
    print(json.dumps(figures, allow_nan=False), flush=True)
    return figures


if __name__ == "__main__":
    main()
