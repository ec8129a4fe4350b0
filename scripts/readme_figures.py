"""Rerun the cheap benchmarks of the README's table and print its rows with the conditions they ran under.

Benchmark times on a shared machine depend on what else runs: the README states each figure
with the machine and the load it was measured under, and this script reproduces the cheap
ones (each well under a minute) on yours:

    python scripts/readme_figures.py                 # simulate_year (1,000 homes), zoom, powerflow
    python scripts/readme_figures.py --only simulate_year --repeat 3
    python scripts/readme_figures.py --json          # one JSON object instead of Markdown rows

Every benchmark runs in its own process (imports and data loading count, as for a user), one
after the other; the 1-minute load average (``os.getloadavg``) is read before and after each.
A load average above the number of cores means other work competed for the CPU and the figure
is pessimistic. The expensive rows (10,000 homes, the federation sweep, the service and MQTT
benchmarks that need PostgreSQL and Mosquitto, pymarket's MUDA) are not rerun here: run their
scripts as the README says.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: name -> (script arguments, function turning the benchmark's JSON into the README's figure text)
BENCHMARKS = {
    "simulate_year": (
        ["benchmarks/simulate_year.py", "--households", "1000"],
        lambda f: (f"{f['households']:,} homes {f['seconds']:.1f} s (build {f['build_seconds']:.1f} s, simulate "
                   f"{f['simulate_seconds']:.1f} s, metrics {f['metrics_seconds']:.1f} s), {f['peak_rss_mb']:,.0f} MB"),
    ),
    "zoom": (
        ["benchmarks/zoom.py", "--devices", "10000"],
        lambda f: "; ".join(f"{r['devices']:,} devices / {r['gateways']} gateways {r['seconds']:.2f} s"
                            for r in f["scaling"]),
    ),
    "powerflow": (
        ["benchmarks/powerflow.py"],
        lambda f: (f.get("skipped") or
                   f"{f['powerflow_s']:.2f} s balanced, {f['powerflow_3ph_s']:.1f} s three-phase"),
    ),
}


def machine() -> dict:
    """CPU model, core count, OS and Python of this machine."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": model, "cores": os.cpu_count(), "os": platform.platform(terse=True),
            "python": platform.python_version()}


def run(name: str, quick: bool = False) -> dict:
    """Run one benchmark in a fresh process; its figures, wall time and the load around it."""
    args = BENCHMARKS[name][0] + (["--quick"] if quick else [])
    load_before = os.getloadavg()[0]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")]))}
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=900, env=env)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{name} failed:\n{proc.stderr[-2000:]}")
    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    return {"benchmark": name, "command": "python " + " ".join(args), "figures": figures,
            "wall_s": round(wall, 2), "load_before": round(load_before, 2), "load_after": round(os.getloadavg()[0], 2)}


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", choices=sorted(BENCHMARKS), help="run only this (repeatable)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per benchmark (each is printed)")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout instead of Markdown")
    parser.add_argument("--quick", action="store_true", help="tiny sizes (checks the script, figures meaningless)")
    args = parser.parse_args(argv)
    names = args.only or list(BENCHMARKS)
    info = machine()
    runs = [run(name, args.quick) for name in names for _ in range(max(1, args.repeat))]
    if args.json:
        print(json.dumps({"machine": info, "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                          "runs": runs}))
        return runs
    print(f"<!-- {dt.date.today()}: {info['cpu']}, {info['cores']} cores, {info['os']}, Python {info['python']} -->")
    print("| command | figure | process wall time | 1-min load before → after |")
    print("|---|---|---|---|")
    for r in runs:
        text = BENCHMARKS[r["benchmark"]][1](r["figures"])
        print(f"| `{r['command']}` | {text} | {r['wall_s']:.1f} s | {r['load_before']:.2f} → {r['load_after']:.2f} |")
    return runs


if __name__ == "__main__":
    main()
