"""Benchmark: the full Petri et al. experiment sweep (1-8 + overlay) on the local and Dask backends.

Runs every experiment with ``--seeds`` seeds on each backend (Dask: a LocalCluster of
``--workers`` single-threaded worker processes), checks that every run's numbers are
identical across backends, and prints as its last line one JSON object:
{"tasks", "seeds", "seconds_local", "seconds_dask", "speedup", "identical", ...}.

Run:  python benchmarks/federation_sweep.py [--seeds 10] [--workers 2] [--backends local,dask] [--quick]
"""

from __future__ import annotations

import argparse
import json
import sys
import time


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--backends", default="local,dask")
    parser.add_argument("--nodes", type=int, default=None)
    parser.add_argument("--cycles", type=int, default=None)
    parser.add_argument("--experiments", default="all")
    parser.add_argument("--quick", action="store_true", help="tiny sizes for the test suite")
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds, args.nodes, args.cycles, args.experiments, args.backends = 2, 60, 10, "1,7", "local"

    import pandas as pd

    from peergrid.federation.experiments import EXPERIMENTS, assess, experiment_base, experiment_points
    from peergrid.federation.sweep import ROW_METRICS, build_tasks, execute, make_seeds, summarize

    names = list(EXPERIMENTS) if args.experiments == "all" else args.experiments.split(",")
    scale = {k: v for k, v in (("nodes", args.nodes), ("cycles", args.cycles)) if v is not None}
    seeds = make_seeds(args.seeds, 0)
    tasks = []
    for name in names:
        tasks += build_tasks(experiment_base(name, scale), experiment_points(name, scale), seeds, name)
    figures: dict = {"tasks": len(tasks), "seeds": args.seeds, "experiments": names, "workers": args.workers}
    frames = {}
    for backend in args.backends.split(","):
        t0 = time.perf_counter()
        rows = pd.DataFrame(execute(tasks, backend, workers=args.workers))  # type: ignore[arg-type]
        figures[f"seconds_{backend}"] = round(time.perf_counter() - t0, 2)
        frames[backend] = rows
        print(f"{backend}: {len(tasks)} runs in {figures[f'seconds_{backend}']} s", file=sys.stderr)
    cols = ["experiment", "point", "seed", *ROW_METRICS]
    first = next(iter(frames.values()))
    figures["identical"] = all(first[cols].equals(f[cols]) for f in frames.values())
    if "seconds_local" in figures and "seconds_dask" in figures:
        figures["speedup"] = round(figures["seconds_local"] / figures["seconds_dask"], 2)
    summary = summarize(first)
    figures["agrees"] = {name: bool(assess(name, summary[summary["experiment"] == name])["agrees"]) for name in names}
    print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    main()
