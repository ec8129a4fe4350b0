"""Benchmark: a year of N households at 15-min resolution (issue 19: a streaming year).

N households x 35,040 steps, 50 % with PV, 30 % with batteries, greedy battery rule, SDR
market, all metrics (``result.metrics`` and ``result.participants``). By default the
community is lazy (``synthetic_community(..., lazy=True)``: profiles gathered per block) and
the pool markets stream with ``series="none"`` (only sums kept), which is what makes
10,000 and 100,000 homes fit; ``--series full`` keeps the (T, N) series, ``--eager`` builds
the (T, N) arrays first (the pre-streaming path when combined with ``--series full``).
Prints progress lines on stderr, then as its last stdout line one JSON object:
{"households", "steps", "seconds", "peak_rss_mb", "load_avg", ...}.

Run:  python benchmarks/simulate_year.py [--households N] [--quick] [--market M] [--bidding B]
          [--series auto|none|full] [--dtype float64|float32] [--block STEPS] [--eager] [--threads K]
(``--market pay-as-bid --bidding zip``: the same year on an order-book market with ZIP agents;
order-book markets do not stream: their series are kept and the community is built eagerly.)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time


def peak_rss_mb() -> float:
    """Peak resident set size of this process, MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def cpu_seconds() -> float:
    """User + system CPU time of this process (all threads), s."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--households", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=35040, help="15-min steps (35,040 = 1 year)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes for the test suite")
    parser.add_argument("--market", default="sdr", help="market (default sdr; e.g. pay-as-bid)")
    parser.add_argument("--bidding", default="truthful", help="order-book markets: bidding strategy")
    parser.add_argument(
        "--series", default="auto", choices=("auto", "none", "full"),
        help="what the result keeps (auto: none for the pool markets, full for order books)",
    )  # fmt: skip
    parser.add_argument("--dtype", default="float64", choices=("float64", "float32"), help="kept series' storage")
    parser.add_argument("--block", type=int, default=None, help="steps per block (default: ~2**19 values)")
    parser.add_argument("--eager", action="store_true", help="build the (T, N) load/generation arrays first")
    parser.add_argument("--threads", type=int, default=None, help="threads of the streaming kernels (default 2)")
    args = parser.parse_args(argv)
    if args.quick:
        args.households, args.steps = 20, 96 * 7

    import peergrid
    from peergrid.data import synthetic_community
    from peergrid.market import is_order_market
    from peergrid.simulate import stream as streaming

    if args.threads is not None:
        streaming.THREADS = max(1, args.threads)
    order_book = is_order_market(args.market)
    series = ("full" if order_book else "none") if args.series == "auto" else args.series
    lazy = not (args.eager or order_book)
    stream = {} if order_book else {"series": series, "dtype": args.dtype, "block": args.block}

    t0 = time.perf_counter()
    community = synthetic_community(
        args.households,
        start="2022-08-01",
        periods=args.steps,
        freq="15min",
        pv_share=0.5,
        battery_share=0.3,
        seed=1,
        lazy=lazy,
    )
    t1 = time.perf_counter()
    print(f"built {community!r} in {t1 - t0:.2f} s (lazy={lazy})", file=sys.stderr)
    result = peergrid.simulate(community, market=args.market, control="greedy", bidding=args.bidding, **stream)
    t2 = time.perf_counter()
    metrics = result.metrics
    _ = result.participants
    t3 = time.perf_counter()
    print(f"simulated in {t2 - t1:.2f} s (series={series}), metrics in {t3 - t2:.2f} s", file=sys.stderr)
    figures = {
        "households": args.households,
        "steps": args.steps,
        "seconds": round(t3 - t0, 3),
        "build_seconds": round(t1 - t0, 3),
        "simulate_seconds": round(t2 - t1, 3),
        "metrics_seconds": round(t3 - t2, 3),
        "cpu_seconds": round(cpu_seconds(), 3),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "market": args.market,
        "bidding": args.bidding,
        "series": series,
        "dtype": args.dtype,
        "block": args.block,
        "lazy": lazy,
        "threads": streaming.THREADS,
        "self_sufficiency": round(metrics["self_sufficiency"], 4),
        "cost_reduction": round(metrics["cost_reduction"], 4),
        "load_avg": [round(x, 2) for x in os.getloadavg()],
    }
    print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    main()
