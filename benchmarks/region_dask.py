"""Benchmark: a region of C communities × H homes, locally and sharded over Dask workers.

Simulates the region once on the local backend and once per ``--workers`` count on a Dask
``LocalCluster`` of single-threaded worker processes (``--memory-limit`` each, reached through
its scheduler address as ``--scheduler`` would; start-up and each worker's warm-up — imports,
compiled kernels, data — timed apart, as the local run's process is warm too), checks that
every table (per-community metrics, region totals, per-slot sums) is identical to the local
run, and prints as its last line one JSON object: {"communities", "homes", "workers",
"seconds", "identical_to_local", "seconds_local", "seconds_by_workers", "speedup", "load_avg", ...}
(``workers`` / ``seconds``: the largest worker count and its wall time; ``peak_rss_mb`` the
client's, ``worker_peak_rss_mb`` the largest worker's).

Run:  python benchmarks/region_dask.py [--communities 100] [--homes 100] [--days 365] [--freq 15min]
      [--workers 1,2] [--inter sdr] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time


def peak_rss_mb() -> float:
    """Peak resident set size of this process, MiB: ``VmHWM`` (reset by exec, unlike ``ru_maxrss``,
    which a spawned Dask worker inherits from the process that forked it)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def warm_up() -> None:
    """What a worker does once before its first community (imports, compiled kernels, data)."""
    from peergrid.simulate.region import simulate_region
    from peergrid.simulate.scenario import scenario_from_dict

    simulate_region(scenario_from_dict({
        "time": {"start": "2022-08-01", "days": 1},
        "community": {"source": "synthetic", "households": 2},
        "simulation": {"markets": ["sdr"]},
        "region": {"communities": 1, "inter_market": "sdr"},
    }))  # fmt: skip


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--communities", type=int, default=100)
    parser.add_argument("--homes", type=int, default=100, help="homes per community")
    parser.add_argument("--days", type=float, default=365)
    parser.add_argument("--freq", default="15min")
    parser.add_argument("--workers", default="1,2", help="Dask worker counts to run, e.g. 1,2")
    parser.add_argument("--inter", default="sdr", help="inter-community market: none, bs, mmr, sdr")
    parser.add_argument("--memory-limit", default="4GiB", help="memory per Dask worker")
    parser.add_argument("--quick", action="store_true", help="tiny sizes for the test suite")
    args = parser.parse_args(argv)
    if args.quick:
        args.communities, args.homes, args.days, args.freq, args.workers = 4, 10, 2, "1h", "2"
    counts = [int(w) for w in str(args.workers).split(",") if w.strip()]

    import logging

    import pandas as pd
    from distributed import Client, LocalCluster

    from peergrid.simulate.region import simulate_region
    from peergrid.simulate.scenario import scenario_from_dict

    sc = scenario_from_dict(
        {
            "name": "region-benchmark",
            "time": {"start": "2022-08-01", "days": args.days, "freq": args.freq},
            "community": {"source": "synthetic", "households": args.homes, "seed": 1},
            "simulation": {"control": "greedy", "markets": ["sdr"]},
            "region": {
                "communities": args.communities,
                "pv_share": [0.1, 0.8],
                "battery_share": [0.0, 0.4],
                "inter_market": args.inter,
            },
        },
        "region_dask.py",
    )

    def tick(label: str, total: int):
        step = max(1, total // 10)

        def progress(done: int) -> None:
            if done % step == 0 or done == total:
                print(f"{label}: {done}/{total} communities", file=sys.stderr)

        return progress

    warm_up()
    t0 = time.perf_counter()
    local = simulate_region(sc, progress=tick("local", args.communities))
    seconds_local = time.perf_counter() - t0
    print(f"local: {seconds_local:.1f} s", file=sys.stderr)
    by_workers: dict[str, float] = {}
    startup: dict[str, float] = {}
    worker_rss: dict[str, float] = {}
    identical = True
    for w in counts:
        t0 = time.perf_counter()
        with LocalCluster(n_workers=w, threads_per_worker=1, processes=True, dashboard_address=None,
                          memory_limit=args.memory_limit, silence_logs=logging.ERROR) as cluster:  # fmt: skip
            with Client(cluster) as client:
                client.run(warm_up)  # imports, numba's cached kernels, the CityLearn data: once per worker
            startup[str(w)] = round(time.perf_counter() - t0, 2)
            t0 = time.perf_counter()
            res = simulate_region(
                sc, backend="dask", scheduler=cluster.scheduler_address,
                progress=tick(f"dask {w} workers", args.communities),
            )  # fmt: skip
            by_workers[str(w)] = round(time.perf_counter() - t0, 2)
            with Client(cluster) as client:
                worker_rss[str(w)] = round(max(client.run(peak_rss_mb).values()), 1)
        print(f"dask, {w} workers: {by_workers[str(w)]:.1f} s (+ {startup[str(w)]:.1f} s cluster start-up)",
              file=sys.stderr)
        for name in ("communities", "totals", "steps"):
            try:
                pd.testing.assert_frame_equal(getattr(local, name), getattr(res, name), check_exact=True)
            except AssertionError as exc:
                identical = False
                print(f"dask {w} workers: {name} differs: {str(exc).splitlines()[0]}", file=sys.stderr)
    sdr = local.summary()["markets"]["sdr"]
    figures = {
        "communities": args.communities,
        "homes": args.homes,
        "homes_total": args.communities * args.homes,
        "steps": int(len(local.steps) // 2),
        "freq": args.freq,
        "workers": counts[-1] if counts else 0,
        "seconds": by_workers[str(counts[-1])] if counts else None,
        "identical_to_local": identical,
        "seconds_local": round(seconds_local, 2),
        "seconds_by_workers": by_workers,
        "speedup": round(by_workers[str(counts[0])] / by_workers[str(counts[-1])], 2) if len(counts) > 1 else None,
        "cluster_startup_seconds": startup,
        "memory_limit": args.memory_limit,
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "worker_peak_rss_mb": worker_rss,
        "inter_market": args.inter,
        "self_sufficiency": round(sdr["self_sufficiency"], 4),
        "region_self_sufficiency": round(sdr["region_self_sufficiency"], 4),
        "inter_traded_kwh": round(sdr["inter_traded_kwh"], 1),
        "load_avg": [round(x, 2) for x in os.getloadavg()],
    }
    print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    main()
