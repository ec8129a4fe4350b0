"""Benchmark: day-ahead forecasts of a year of N households at 15 min, and a run settled on them.

1,000 synthetic households (50 % PV, 30 % batteries) × 35,040 steps: every member's load and
generation forecast day-ahead by persistence, the per-member ridge model (refitted daily on a
28-day rolling window) and FedAvg (one shared model, 20 rounds per day), with the time and the
net forecast error (MAE, kWh per member and step) of each; then one SDR simulation with greedy
control on the ridge forecasts (the imbalance settled at grid prices). Prints progress on
stderr, then as its last line one JSON object:
{"households", "steps", "persistence_s", "ridge_s", "fedavg_s", "mae_persistence_kwh",
"mae_ridge_kwh", "mae_fedavg_kwh", "simulate_ridge_s", "imbalance_kwh", "imbalance_cost",
"peak_rss_mb"}, and each stage's CPU time (``*_cpu_s``: wall time on a shared machine depends
on the other jobs).

Run:  python benchmarks/forecast_year.py [--households N] [--steps T] [--quick]
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
        args.households, args.steps = 20, 96 * 16

    import numpy as np

    import peergrid
    from peergrid.data import synthetic_community
    from peergrid.simulate.forecasting import ForecastOptions, forecast_series, steps_per_day

    community = synthetic_community(
        args.households, start="2022-08-01", periods=args.steps, freq="15min", pv_share=0.5, battery_share=0.3, seed=1
    )
    B = steps_per_day(community.dt)
    opts = ForecastOptions()
    figures: dict[str, object] = {"households": args.households, "steps": args.steps}
    actual = community.net
    for name in ("persistence", "ridge", "fedavg"):
        t0, c0 = time.perf_counter(), time.process_time()
        load = forecast_series(community.load, B, name, opts)
        gen = forecast_series(community.generation, B, name, opts)
        seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
        load -= gen
        del gen
        load -= actual
        mae = float(np.abs(load).mean())
        del load
        figures[f"{name}_s"] = round(seconds, 3)
        figures[f"{name}_cpu_s"] = round(cpu, 3)
        figures[f"mae_{name}_kwh"] = round(mae, 5)
        print(f"{name}: {seconds:.2f} s, net MAE {mae:.4f} kWh per member and step", file=sys.stderr)
    del actual
    t0, c0 = time.perf_counter(), time.process_time()
    res = peergrid.simulate(community, market="sdr", control="greedy", forecaster="ridge")
    m = res.metrics
    figures["simulate_ridge_s"] = round(time.perf_counter() - t0, 3)
    figures["simulate_ridge_cpu_s"] = round(time.process_time() - c0, 3)
    figures["imbalance_kwh"] = round(m["imbalance_kwh"], 1)
    figures["imbalance_cost"] = round(m["imbalance_cost"], 2)
    figures["peak_rss_mb"] = round(peak_rss_mb(), 1)
    print(f"SDR + greedy on ridge forecasts: {figures['simulate_ridge_s']} s", file=sys.stderr)
    print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    main()
