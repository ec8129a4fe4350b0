"""Benchmark: the PeerSim federation workload of issue 6, in peergrid's cycle-driven engine.

PeerSim 1.0.5 (Java 17, cycle-driven) was timed on this model at 10^6 nodes x 100 cycles
(about 36 s, 0.5 GB; 10^5 nodes: 4.4 s): random k-out wiring with k = 10; each node
produces one of 3 energy types with a capacity drawn from U(1, 10) kWh renewed every
cycle; every cycle each node requests, with probability 0.25, one random type and a
quantity from U(1, 5) kWh, filled jointly by scanning its neighbours in order (each
partial fill is one exchange, cost = quantity x type price + payoff 1); every 15 cycles
each node adds a link to a random neighbour-of-neighbour. PeerSim's totals: about 0.31
exchanges and 0.73 kWh consumed per node-cycle.

Prints progress on stderr, then as its last stdout line one JSON object:
{"nodes", "cycles", "seconds", "peak_rss_mb", "exchanges_per_node_cycle", "consumption_per_node_cycle", ...}.

Run:  python benchmarks/federation_peersim_workload.py [--nodes N] [--cycles C] [--quick]
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


def workload(nodes: int, cycles: int, seed: int = 1):
    """The PeerSim workload as a :class:`~peergrid.federation.FederationConfig`."""
    from peergrid.federation import config_from_dict

    return config_from_dict(
        {
            "name": "peersim-workload",
            "nodes": nodes,
            "cycles": cycles,
            "seed": seed,
            "overlay": {"view": 10, "rewiring": "triadic", "period": 15},
            "energy": {"types": 3, "capacity": [1.0, 10.0], "payoff": 1.0},
            "demand": {"request_probability": 0.25, "arrivals": "bernoulli", "quantity": [1.0, 5.0]},
        },
        "<benchmark>",
    )


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=1_000_000)
    parser.add_argument("--cycles", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="tiny sizes for the test suite")
    args = parser.parse_args(argv)
    if args.quick:
        args.nodes, args.cycles = 2_000, 30

    t_import = time.perf_counter()
    from peergrid.federation import simulate

    cfg = workload(args.nodes, args.cycles, args.seed)
    t0 = time.perf_counter()
    c0 = time.process_time()
    result = simulate(cfg)
    seconds = time.perf_counter() - t0
    cpu = time.process_time() - c0
    per = result.per_node_cycle()
    totals = result.totals()
    node_cycles = totals["node_cycles"]
    print(
        f"{args.nodes} nodes x {args.cycles} cycles in {seconds:.2f} s (cpu {cpu:.2f} s, import {t0 - t_import:.2f} s)",
        file=sys.stderr,
    )
    figures = {
        "nodes": args.nodes,
        "cycles": args.cycles,
        "seconds": round(seconds, 3),
        "cpu_seconds": round(cpu, 3),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "exchanges_per_node_cycle": round(per["exchanges"], 5),
        "consumption_per_node_cycle": round(per["consumption_kwh"], 5),
        "requests_per_node_cycle": round(per["requests"], 5),
        "cost_per_node_cycle": round(per["cost"], 5),
        "ns_per_node_cycle": round(1e9 * seconds / node_cycles, 1),
        "bytes_per_node": round(result.bytes_per_node, 1),
        "mean_degree_end": round(float(result.extra.get("mean_degree", 0.0)), 3),
    }
    print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    main()
