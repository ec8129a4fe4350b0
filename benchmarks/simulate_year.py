"""Benchmark: a year of N households at 15-min resolution (issue: foundation).

1,000 households x 35,040 steps, 50 % with PV, 30 % with batteries, greedy battery
rule, SDR market, all metrics. Prints progress lines, then as its last line one JSON
object: {"households", "steps", "seconds", "peak_rss_mb", ...}.

Run:  python benchmarks/simulate_year.py [--households N] [--quick] [--market M] [--bidding B]
(``--market pay-as-bid --bidding zip``: the same year on an order-book market with ZIP agents.)
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time


def peak_rss_mb() -> float:
    """Peak resident set size of this process, MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--households", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=35040, help="15-min steps (35,040 = 1 year)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes for the test suite")
    parser.add_argument("--market", default="sdr", help="market (default sdr; e.g. pay-as-bid)")
    parser.add_argument("--bidding", default="truthful", help="order-book markets: bidding strategy")
    args = parser.parse_args(argv)
    if args.quick:
        args.households, args.steps = 20, 96 * 7

    import peergrid
    from peergrid.data import synthetic_community

    t0 = time.perf_counter()
    community = synthetic_community(
        args.households,
        start="2022-08-01",
        periods=args.steps,
        freq="15min",
        pv_share=0.5,
        battery_share=0.3,
        seed=1,
    )
    t1 = time.perf_counter()
    result = peergrid.simulate(community, market=args.market, control="greedy", bidding=args.bidding)
    t2 = time.perf_counter()
    metrics = result.metrics
    _ = result.participants
    t3 = time.perf_counter()
    print(f"built {community!r} in {t1 - t0:.2f} s", file=sys.stderr)
    print(f"simulated in {t2 - t1:.2f} s, metrics in {t3 - t2:.2f} s", file=sys.stderr)
    figures = {
        "households": args.households,
        "steps": args.steps,
        "seconds": round(t3 - t0, 3),
        "build_seconds": round(t1 - t0, 3),
        "simulate_seconds": round(t2 - t1, 3),
        "metrics_seconds": round(t3 - t2, 3),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "market": args.market,
        "bidding": args.bidding,
        "self_sufficiency": round(metrics["self_sufficiency"], 4),
        "cost_reduction": round(metrics["cost_reduction"], 4),
    }
    print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    main()
