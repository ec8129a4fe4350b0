"""Every benchmark script runs with --quick and ends with one JSON line of figures."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"
SCRIPTS = sorted(p for p in BENCH.glob("*.py") if not p.name.startswith("_"))
REQUIRED_KEYS = {
    "simulate_year.py": {"households", "steps", "seconds", "peak_rss_mb"},
    "order_book_year.py": {"households", "steps", "mechanism", "seconds", "peak_rss_mb", "load_avg"},
    "closed_loop.py": {"households", "steps", "iterations", "seconds", "peak_rss_mb"},
    "bidding_agents.py": {"homes", "days", "steps", "seconds", "peak_rss_mb", "results"},
    "clearing.py": {
        "uniform_1e6_s",
        "peergrid_1e4_s",
        "pymarket_muda_1e4_s",
        "speedup_vs_pymarket_1e4",
        "cda_orders_per_s",
        "powerflow_100bus_96_s",
    },
    "community_lp.py": {"households", "steps", "seconds", "build_seconds", "linopy_or_pyomo_build_seconds"},
    "powerflow.py": {"buses", "slots", "powerflow_s"},
    "sweep_flow.py": {
        "buses",
        "steps",
        "seconds",
        "seconds_unbalanced",
        "max_abs_loading_error_pct",
        "max_abs_voltage_error_pu",
        "peak_rss_mb",
    },
    "federation_peersim_workload.py": {"nodes", "cycles", "seconds", "peak_rss_mb", "exchanges_per_node_cycle",
                                       "load_avg", "peersim_measured"},
    "federation_sweep.py": {"tasks", "seeds", "seconds_local", "identical"},
    "region_dask.py": {"communities", "homes", "workers", "seconds", "identical_to_local", "load_avg"},
    "service_clearing.py": {"participants", "db", "clear_settle_seconds", "orders_per_s", "p50_ms", "p99_ms"},
    "service_orders.py": {"db", "clients", "orders_per_s", "p50_ms", "p99_ms", "batch_orders_per_s", "errors",
                          "load_avg"},
    "zoom.py": {"devices", "gateways", "steps", "seconds", "radio_s", "vmg_s", "trading_s"},
    "mqtt_ingest.py": {"db", "readings_per_s", "max_lag_s", "dashboard_operator_ms"},
    "attack_review.py": {"db", "attacks", "held", "failed", "requests", "server_errors"},
    "data_check.py": {"meters", "rows", "read_s", "parse_s", "check_wall_s", "peak_rss_mb"},
    "invest_year.py": {"households", "steps", "simulate_seconds", "appraise_seconds", "peak_rss_mb"},
    "network_year.py": {"buses", "households", "steps", "seconds", "max_abs_loading_error_pct", "peak_rss_mb"},
    "network_clearing.py": {"households", "slots", "seconds", "traded_kwh", "curtailed_kwh", "line_fees",
                            "losses_kwh", "feasible", "pandapower_violations", "peak_rss_mb"},
    "forecast_year.py": {
        "households",
        "steps",
        "persistence_s",
        "ridge_s",
        "fedavg_s",
        "mae_persistence_kwh",
        "mae_ridge_kwh",
        "mae_fedavg_kwh",
        "imbalance_kwh",
        "imbalance_cost",
        "peak_rss_mb",
    },
}


def test_there_are_benchmarks():
    assert SCRIPTS


@pytest.mark.parametrize("script", SCRIPTS, ids=[p.stem for p in SCRIPTS])
def test_benchmark_quick(script):
    proc = subprocess.run([sys.executable, str(script), "--quick"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    last = proc.stdout.strip().splitlines()[-1]
    figures = json.loads(last)
    assert isinstance(figures, dict) and figures
    assert REQUIRED_KEYS.get(script.name, set()) <= set(figures)
