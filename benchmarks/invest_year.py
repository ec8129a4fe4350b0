"""Benchmark: cost–benefit analysis of a year of N households at 15-min resolution (issue 17, item 5).

1,000 households x 35,040 steps, 50 % with PV, 30 % with batteries, greedy batteries, SDR
market; then :func:`peergrid.economics.appraise`: four whole bills per member, the
platform's per-slot traffic and its cloudlet allocation (Tooki et al. (2025), eqs. 6–8),
25-year cash flows per member and technology, NPV, paybacks, LCOE and IB (eq. 9).
Prints progress lines, then as its last line one JSON object:
{"households", "steps", "simulate_seconds", "appraise_seconds", "peak_rss_mb", ...}.

Run:  python benchmarks/invest_year.py [--households N] [--steps T] [--quick]
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
    args = parser.parse_args(argv)
    if args.quick:
        args.households, args.steps = 20, 96 * 7

    import peergrid
    from peergrid.data import synthetic_community
    from peergrid.economics import CostAssumptions, appraise

    community = synthetic_community(args.households, start="2022-08-01", periods=args.steps, freq="15min",
                                    pv_share=0.5, battery_share=0.3, seed=1)  # fmt: skip
    t0 = time.perf_counter()
    result = peergrid.simulate(community, market="sdr", control="greedy")
    t1 = time.perf_counter()
    appraisal = appraise(result, CostAssumptions())
    community_figures = appraisal.community()
    members = appraisal.member_table()
    t2 = time.perf_counter()
    traffic = appraisal.traffic.summary(appraisal.annual_factor)
    print(f"simulated in {t1 - t0:.2f} s, appraised in {t2 - t1:.2f} s", file=sys.stderr)
    figures = {
        "households": args.households,
        "steps": args.steps,
        "simulate_seconds": round(t1 - t0, 3),
        "appraise_seconds": round(t2 - t1, 3),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "community_npv": round(community_figures["npv"], 0),
        "community_discounted_payback": round(community_figures["discounted_payback"], 2),
        "members_positive_npv": round(float((members["npv"] > 0).mean()), 3),
        "messages_per_year": round(traffic["messages"]),
        "peak_utilisation": round(traffic["peak_utilisation"], 5),
        "communication_cost_per_year": round(traffic["cost"], 2),
    }
    print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    main()
