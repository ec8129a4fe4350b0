"""Benchmark: read and check a long smart-meter export (docs/data.md, *Speed*).

Writes a long CSV ``timestamp,meter,wh`` of N meters x one year at 15 minutes with naive
Europe/Berlin timestamps (both clock changes inside) to a temporary directory, then
times :func:`peergrid.data.meters.read_meter_table` (CSV parsing) and
:func:`peergrid.data.meters.parse_meters` (timestamps, DST, pivot, checks) in this
process, and the ``peergrid data check`` command as a user runs it (wall time,
start-up included). Last line: one JSON object
``{"meters", "rows", "file_mb", "read_s", "parse_s", "check_wall_s", "peak_rss_mb"}``.

Run:  python benchmarks/data_check.py [--meters N] [--quick]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def write_export(path: Path, meters: int, days: int) -> int:
    """Write the long CSV; returns the number of rows."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.csv as pcsv

    local = pd.date_range("2023-01-01", periods=96 * days, freq="15min", tz="Europe/Berlin")
    stamps = np.array(local.tz_localize(None).strftime("%Y-%m-%d %H:%M"))  # naive wall-clock, DST repeats
    ids = np.array([f"M{i:05d}" for i in range(meters)])
    rng = np.random.default_rng(0)
    table = pa.table({"timestamp": np.repeat(stamps, meters), "meter": np.tile(ids, len(stamps)),
                      "wh": rng.integers(0, 500, len(stamps) * meters)})
    pcsv.write_csv(table, path)
    return table.num_rows


def main(argv: list[str] | None = None) -> dict:
    """Run the benchmark and print the JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meters", type=int, default=100)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--quick", action="store_true", help="tiny sizes for the test suite")
    args = parser.parse_args(argv)
    if args.quick:
        args.meters, args.days = 10, 14

    from peergrid.data.meters import parse_meters, read_meter_table

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "meters.csv"
        rows = write_export(path, args.meters, args.days)
        t0 = time.perf_counter()
        table = read_meter_table(path)
        t1 = time.perf_counter()
        data = parse_meters(table, tz="Europe/Berlin", units="Wh", origin=str(path))
        t2 = time.perf_counter()
        exe = Path(sys.executable).parent / "peergrid"
        cmd = [str(exe), "data", "check", str(path), "--tz", "Europe/Berlin", "--units", "Wh", "--json"]
        t3 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        t4 = time.perf_counter()
        if proc.returncode != 0:
            print(proc.stderr, file=sys.stderr)
            raise SystemExit(1)
        assert json.loads(proc.stdout)["meters"] == args.meters
        figures = {
            "meters": args.meters,
            "rows": rows,
            "steps": data.report.steps,
            "file_mb": round(path.stat().st_size / 1e6, 1),
            "read_s": round(t1 - t0, 3),
            "parse_s": round(t2 - t1, 3),
            "check_wall_s": round(t4 - t3, 3),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1),
        }
    print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    main()
