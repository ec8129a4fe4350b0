"""Benchmark: a year of N households at 15 min with price-responsive LP control under SDR (issue 16).

1,000 synthetic households × 35,040 steps (50 % with PV, 30 % with batteries). Every battery
owner's LP plans one day at a time (individual mode, end SOC = initial); the coordinator
(:mod:`peergrid.simulate.coordination`) clears SDR on the plan, hands the internal prices back
and the LPs re-plan, up to ``--max-iterations`` times, keeping the cheapest iterate. Prints
progress on stderr, then as its last line one JSON object:
{"households", "steps", "iterations", "seconds", "peak_rss_mb", ...}.

Run:  python benchmarks/closed_loop.py [--households N] [--quick]
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
    parser.add_argument("--max-iterations", type=int, default=10, help="price-responsive re-plans at most")
    parser.add_argument("--quick", action="store_true", help="tiny sizes for the test suite")
    args = parser.parse_args(argv)
    if args.quick:
        args.households, args.steps = 20, 96 * 2

    import peergrid
    from peergrid.control import lp_schedule
    from peergrid.data import synthetic_community

    def daily_lp(community, progress=None):
        """Individual LP, one-day horizon (96 steps), no look-ahead, end SOC = initial each day."""
        return lp_schedule(community, progress, mode="individual", window=96, lookahead=0)

    t0 = time.perf_counter()
    community = synthetic_community(
        args.households, start="2022-08-01", periods=args.steps, freq="15min", pv_share=0.5, battery_share=0.3, seed=1
    )
    t1 = time.perf_counter()
    plans = [0]

    def counted(community, progress=None):
        plans[0] += 1
        return daily_lp(community, progress)

    result = peergrid.simulate(
        community, market="sdr", control=counted, coordination="price-response", max_iterations=args.max_iterations
    )
    t2 = time.perf_counter()
    metrics = result.metrics
    t3 = time.perf_counter()
    info = result.coordination
    print(f"built {community!r} in {t1 - t0:.2f} s", file=sys.stderr)
    print(
        f"price response: {info.iterations} iteration(s), converged={info.converged}, kept {info.kept}; "
        f"{plans[0]} LP plans in {t2 - t1:.2f} s, metrics in {t3 - t2:.2f} s",
        file=sys.stderr,
    )
    figures = {
        "households": args.households,
        "steps": args.steps,
        "iterations": info.iterations,
        "seconds": round(t3 - t0, 3),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "converged": info.converged,
        "kept": info.kept,
        "build_seconds": round(t1 - t0, 3),
        "coordination_seconds": round(t2 - t1, 3),
        "metrics_seconds": round(t3 - t2, 3),
        "cost_price_blind": round(info.cost[0], 2),
        "cost_kept": round(info.cost[info.kept], 2),
        "batteries": int(result.battery.owners.size),
        "self_sufficiency": round(metrics["self_sufficiency"], 4),
    }
    print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    main()
