"""Benchmark: the PeerSim federation workload of issue 6, in peergrid's cycle-driven engine.

PeerSim 1.0.5 (Java 17, cycle-driven) was timed on this model in earlier sessions (issue 6:
about 36 s and 0.5 GB at 10^6 nodes x 100 cycles, 4.4 s at 10^5; issue 19, side by side on
this machine: 36-47 s at 10^6 and 2.3-2.6 s at 10^5, JVM start included). PeerSim is not
installable here (not on PyPI, Debian or npm), so this script cannot run it: it prints the
recorded figures as the reference, flagged ``"peersim_measured": false``. The model: random
k-out wiring with k = 10; each node
produces one of 3 energy types with a capacity drawn from U(1, 10) kWh renewed every
cycle; every cycle each node requests, with probability 0.25, one random type and a
quantity from U(1, 5) kWh, filled jointly by scanning its neighbours in order (each
partial fill is one exchange, cost = quantity x type price + payoff 1); every 15 cycles
each node adds a link to a random neighbour-of-neighbour. PeerSim's totals: about 0.31
exchanges and 0.73 kWh consumed per node-cycle.

The compiled (numba) kernels are loaded or compiled by a small warm-up run first
(``jit_seconds``); ``seconds`` is the timed simulation, ``process_seconds`` everything from
the script's start (interpreter imports, warm-up, simulation: the figure to hold against
PeerSim's time with its JVM start). ``--kernel numpy`` runs the numpy reference kernels
(bit-identical results) for a ratio measured on the same machine state.

Prints progress on stderr, then as its last stdout line one JSON object:
{"nodes", "cycles", "seconds", "peak_rss_mb", "exchanges_per_node_cycle", "consumption_per_node_cycle",
 ..., "kernel", "jit_seconds", "process_seconds", "load_avg", "peersim_measured", "peersim_seconds_recorded",
 "speedup_vs_recorded_peersim"}.

Run:  python benchmarks/federation_peersim_workload.py [--nodes N] [--cycles C] [--kernel auto|numba|numpy] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time

T_START = time.perf_counter()

#: PeerSim 1.0.5 (Java 17) on this workload, 100 cycles, seconds including the JVM start, as
#: measured side by side with peergrid in issue 19 (low, high). Not re-measured: PeerSim is
#: not installable on this machine.
PEERSIM_RECORDED = {100_000: (2.3, 2.6), 1_000_000: (36.0, 47.0)}


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
    parser.add_argument("--kernel", choices=("auto", "numba", "numpy"), default="auto")
    parser.add_argument("--quick", action="store_true", help="tiny sizes for the test suite")
    args = parser.parse_args(argv)
    if args.quick:
        args.nodes, args.cycles = 2_000, 30

    t_import = time.perf_counter()
    from peergrid.federation import simulate

    t_jit = time.perf_counter()
    simulate(workload(500, 16, args.seed), kernel=args.kernel)  # load (or compile) the numba kernels
    jit_seconds = time.perf_counter() - t_jit
    print(f"warm-up (kernels loaded) in {jit_seconds:.2f} s", file=sys.stderr)
    cfg = workload(args.nodes, args.cycles, args.seed)
    t0 = time.perf_counter()
    c0 = time.process_time()
    result = simulate(cfg, kernel=args.kernel)
    seconds = time.perf_counter() - t0
    cpu = time.process_time() - c0
    process_seconds = time.perf_counter() - T_START
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
        "kernel": args.kernel,
        "jit_seconds": round(jit_seconds, 3),
        "process_seconds": round(process_seconds, 3),
        "load_avg": [round(x, 2) for x in os.getloadavg()],
        "peersim_measured": False,
        "peersim_seconds_recorded": None,
        "speedup_vs_recorded_peersim": None,
    }
    ref = PEERSIM_RECORDED.get(args.nodes) if args.cycles == 100 else None
    if ref is not None:
        figures["peersim_seconds_recorded"] = list(ref)
        figures["speedup_vs_recorded_peersim"] = {
            "simulate": [round(ref[0] / seconds, 2), round(ref[1] / seconds, 2)],
            "process": [round(ref[0] / process_seconds, 2), round(ref[1] / process_seconds, 2)],
        }
    print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    main()
