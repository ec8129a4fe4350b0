"""Benchmark: a year of N households at 15 min on an order-book market (issue 19, part "books").

The community of ``benchmarks/simulate_year.py`` (50 % PV, 30 % batteries, greedy battery rule,
seed 1) cleared by a batch double auction (pay-as-bid or uniform price, truthful bidding by
default), with all metrics and the per-member table, as in ``simulate_year.py``. ``--compare`` also
runs SDR on the same community (each run in its own process, so every peak RSS is its own) and
reports the time and memory ratios of the order book to SDR, measured in the same run.

Run:  python benchmarks/order_book_year.py [--households N] [--mechanism pay-as-bid|uniform]
                                          [--bidding B] [--compare] [--quick]

Last stdout line: one JSON object {"households", "steps", "mechanism", "bidding", "seconds",
"peak_rss_mb", "load_avg", ...} (with ``--compare`` also "sdr_seconds", "sdr_peak_rss_mb",
"time_ratio", "memory_ratio").
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time


def peak_rss_mb() -> float:
    """Peak resident set size of this process, MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_one(households: int, steps: int, mechanism: str, bidding: str) -> dict:
    """Build the community, simulate one market and compute metrics and the member table, in this process."""
    import peergrid
    from peergrid.data import synthetic_community

    t0 = time.perf_counter()
    community = synthetic_community(
        households, start="2022-08-01", periods=steps, freq="15min", pv_share=0.5, battery_share=0.3, seed=1
    )
    t1 = time.perf_counter()
    rss_build = peak_rss_mb()
    result = peergrid.simulate(community, market=mechanism, control="greedy", bidding=bidding)
    t2 = time.perf_counter()
    rss_simulate = peak_rss_mb()
    metrics = result.metrics
    parts = result.participants
    t3 = time.perf_counter()
    print(f"{mechanism}: built in {t1 - t0:.2f} s (peak {rss_build:.0f} MiB), simulated in {t2 - t1:.2f} s "
          f"(peak {rss_simulate:.0f} MiB), metrics in {t3 - t2:.2f} s", file=sys.stderr)  # fmt: skip
    return {
        "households": households,
        "steps": steps,
        "mechanism": mechanism,
        "bidding": bidding,
        "seconds": round(t3 - t0, 3),
        "build_seconds": round(t1 - t0, 3),
        "simulate_seconds": round(t2 - t1, 3),
        "metrics_seconds": round(t3 - t2, 3),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "self_sufficiency": round(float(metrics["self_sufficiency"]), 6),
        "cost_reduction": round(float(metrics["cost_reduction"]), 6),
        "traded_kwh": round(float(parts["bought_kwh"].sum()), 3),
        "community_bill": round(float(parts["bill"].sum()), 3),
    }


def _subprocess(args: argparse.Namespace, mechanism: str) -> dict:
    cmd = [sys.executable, __file__, "--single", "--households", str(args.households), "--steps", str(args.steps),
           "--mechanism", mechanism, "--bidding", args.bidding]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    sys.stderr.write(proc.stderr)
    if proc.returncode != 0:
        raise SystemExit(f"{mechanism} run failed (exit {proc.returncode})")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--households", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=35040, help="15-min steps (35,040 = 1 year)")
    parser.add_argument("--mechanism", default="pay-as-bid", help="pay-as-bid | uniform (any order book, or sdr)")
    parser.add_argument("--bidding", default="truthful", help="truthful | zero-intelligence | zic | zip")
    parser.add_argument("--compare", action="store_true", help="also run SDR on the same community (ratios)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes for the test suite")
    parser.add_argument("--single", action="store_true", help=argparse.SUPPRESS)  # one run in this process
    args = parser.parse_args(argv)
    if args.quick:
        args.households, args.steps = 20, 96 * 7
    if args.single:
        figures = run_one(args.households, args.steps, args.mechanism, args.bidding)
    else:
        figures = _subprocess(args, args.mechanism)
        if args.compare:
            sdr = _subprocess(args, "sdr")
            figures |= {
                "sdr_seconds": sdr["seconds"],
                "sdr_peak_rss_mb": sdr["peak_rss_mb"],
                "time_ratio": round(figures["seconds"] / sdr["seconds"], 2),
                "memory_ratio": round(figures["peak_rss_mb"] / sdr["peak_rss_mb"], 2),
            }
    figures["load_avg"] = [round(v, 2) for v in os.getloadavg()]
    print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    main()
