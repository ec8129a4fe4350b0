"""Benchmark: bidding strategies on the order-book markets, on the shipped CityLearn data (17 homes).

For each strategy (truthful, zero-intelligence, zic, zip) and each order-book mechanism
(uniform, pay-as-bid, mcafee, bilateral) it simulates the 17 measured CityLearn 2022
homes with greedy batteries and prints the allocative efficiency (gains from trade at
the members' reservation prices over the maximum, peergrid.market.agents.net_efficiency),
the traded energy, the members' savings against the no-P2P baseline, the operator's fees
and the time. The last line is one JSON object with every figure.

Run:  python benchmarks/bidding_agents.py [--days N] [--seed S] [--quick]
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time

STRATEGIES = ("truthful", "zero-intelligence", "zic", "zip")
MECHANISMS = ("uniform", "pay-as-bid", "mcafee", "bilateral")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=365, help="days of the data year (default: all of it)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="3 days (for the test suite)")
    args = parser.parse_args(argv)
    if args.quick:
        args.days = 3

    import peergrid
    from peergrid.data import citylearn_community
    from peergrid.market.agents import net_efficiency

    t0 = time.perf_counter()
    com = citylearn_community(periods=24 * args.days)
    per_day = max(1, round(24.0 / com.dt))
    figures: dict[str, dict[str, dict[str, float]]] = {}
    print(f"{'strategy':<18} {'market':<11} {'efficiency':>10} {'traded_kwh':>11} {'savings':>9} {'fees':>8} {'s':>6}",
          file=sys.stderr)  # fmt: skip
    for bidding in STRATEGIES:
        figures[bidding] = {}
        for market in MECHANISMS:
            t = time.perf_counter()
            res = peergrid.simulate(com, market=market, bidding=bidding, seed=args.seed)
            m = res.metrics
            row = {
                "efficiency": round(
                    net_efficiency(res.clearing.peer, res.net, com.retail, com.feed_in, res.battery, per_day), 4
                ),
                "traded_kwh": round(float(m["traded_kwh"]), 1),
                "savings": round(float(res.participants["savings"].sum()), 2) + 0.0,
                "operator_fees": round(float(m["operator_fees"]), 2) + 0.0,
                "seconds": round(time.perf_counter() - t, 2),
            }
            figures[bidding][market] = row
            line = f"{bidding:<18} {market:<11} {row['efficiency']:>10.3f} {row['traded_kwh']:>11.1f} "
            print(line + f"{row['savings']:>9.2f} {row['operator_fees']:>8.2f} {row['seconds']:>6.2f}", file=sys.stderr)
    out = {
        "homes": int(com.N),
        "days": args.days,
        "steps": int(com.T),
        "seed": args.seed,
        "seconds": round(time.perf_counter() - t0, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1),
        "results": figures,
    }
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
