"""Benchmark: a network-aware year on a 100-bus LV feeder (issue 17, docs/grid.md).

N households (default 200, two per bus) on a radial 100-bus feeder (4 cable feeders of 25
buses, phases cycling a/b/c), 35,040 steps of 15 min, 50 % with PV (5–15 kWp), 30 % with
batteries, greedy control, SDR market, ``grid=`` with the default limits and
``fee_per_kwh = 0.01``: flows of every slot, export curtailment and re-matching, eq. 12
line fees and losses. The flow error is ``peergrid.grid.validate_flow`` (the vectorised flow
against pandapower's AC flow) on sampled slots of the settled positions.

Prints progress lines on stderr, then as its last stdout line one JSON object:
{"buses", "households", "steps", "seconds", "max_abs_loading_error_pct", "peak_rss_mb", ...}.

Run:  python benchmarks/network_year.py [--buses N] [--households N] [--vim] [--quick]
(``--vim``: a VIM limit of 2 %, i.e. the unbalanced three-phase flow.)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import sys
import time

import numpy as np


def peak_rss_mb() -> float:
    """Peak resident set size of this process, MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def loading_error(res, slots: np.ndarray, unbalanced: bool) -> float:
    """Max abs line-loading error (percentage points) of the flow against pandapower's AC flow."""
    import peergrid.grid as G

    p = res.net / res.community.dt
    check = G.validate_flow(res.network.feeder, p, slots=slots, dt=res.community.dt, unbalanced=unbalanced)
    return float(check.loading_pct)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--buses", type=int, default=100, help="LV buses of the feeder (incl. the busbar)")
    parser.add_argument("--households", type=int, default=None, help="default: 2 per bus")
    parser.add_argument("--steps", type=int, default=35040, help="15-min steps (35,040 = 1 year)")
    parser.add_argument("--vim", action="store_true", help="VIM limit 2 %%: unbalanced three-phase flow")
    parser.add_argument("--samples", type=int, default=20, help="slots validated against pandapower")
    parser.add_argument("--quick", action="store_true", help="tiny sizes for the test suite")
    args = parser.parse_args(argv)
    if args.quick:
        args.buses, args.steps, args.samples = 12, 96 * 2, 4
    households = args.households or 2 * (args.buses - 1)

    import peergrid
    from peergrid.data import synthetic_community

    t0 = time.perf_counter()
    com = synthetic_community(
        households, start="2022-06-01", periods=args.steps, freq="15min", pv_share=0.5, battery_share=0.3,
        seed=1, pv_kwp_range=(5.0, 15.0),
    )  # fmt: skip
    parts = com.participants.copy()
    parts["node"] = 1 + np.arange(households) % (args.buses - 1)
    com = dataclasses.replace(com, participants=parts)
    grid = {"feeder": "default", "fee_per_kwh": 0.01, **({"max_vim_pct": 2.0} if args.vim else {})}
    t1 = time.perf_counter()
    res = peergrid.simulate(com, market="sdr", control="greedy", grid=grid)
    metrics = res.metrics
    _ = res.participants
    t2 = time.perf_counter()
    rng = np.random.default_rng(0)
    worst = int(np.argmax(res.network.slot["max_line_loading_pct"]))
    sample = rng.choice(args.steps, min(args.samples, args.steps), replace=False)
    slots = np.unique(np.concatenate([sample, [worst]]))
    unbalanced = bool(res.network.info["unbalanced"])
    err = loading_error(res, slots, unbalanced)
    t3 = time.perf_counter()
    info = res.summary()["grid"]
    method = res.network.info["flow"]
    print(f"built the community in {t1 - t0:.2f} s; network-aware simulation {t2 - t1:.2f} s "
          f"({method}); validation on {len(slots)} slots {t3 - t2:.2f} s", file=sys.stderr)  # fmt: skip
    figures = {
        "buses": args.buses,
        "households": households,
        "steps": args.steps,
        "seconds": round(t2 - t0, 3),
        "max_abs_loading_error_pct": float(f"{err:.3g}"),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "simulate_seconds": round(t2 - t1, 3),
        "validation_seconds": round(t3 - t2, 3),
        "validated_slots": len(slots),
        "flow": method,
        "unbalanced": unbalanced,
        "violating_slots_before": info["violating_slots_before"],
        "violating_slots_after": info["violating_slots_after"],
        "curtailed_kwh": round(metrics["curtailed_kwh"], 3),
        "losses_kwh": round(metrics["losses_kwh"], 3),
        "line_fees": round(metrics["line_fees"], 4),
        "max_line_loading_pct": round(metrics["max_line_loading_pct"], 3),
        "min_voltage_pu": round(metrics["min_voltage_pu"], 5),
    }
    print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    main()
