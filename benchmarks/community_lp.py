"""Benchmark: community-wide battery LP (HiGHS) and a year of sliding-horizon MPC (issue 5).

1. Community-wide LP (joint dispatch at the PCC) for 1,000 households x 96 steps
   (15 min, one day; 50 % PV, 30 % batteries, synthetic_community), built as sparse
   matrices and solved with highspy. Target: <= 5 s including model build.
2. The same LP formulated with linopy (model-build time; then solved through linopy
   with HiGHS to check it has the same optimum). ``null`` if linopy is not installed.
3. MPC of 100 households for one year at 30-min resolution: one-day horizon, re-plan
   every 30 min (17,520 re-plans), persistence forecast, community mode, warm-started
   re-solves; plus the perfect-foresight LP (one-day windows with one-day look-ahead)
   and the optimality gap.
4. Individual-mode LP (every home's battery against its own net, the controller ``lp``)
   for 1,000 households x 14 days at 15 min, one-day windows with a one-day look-ahead:
   the exact price-taker DP (:mod:`peergrid.control.pricetaker`, numba) against HiGHS on
   the same input in the same run (seconds, bills, relative difference); then the DP
   alone for a year of the same community with a daily horizon.

Prints progress on stderr and, as its last stdout line, one JSON object with at least
{"households", "steps", "seconds", "build_seconds", "linopy_or_pyomo_build_seconds",
"mpc_100x1y_seconds"}. ``--quick`` uses tiny sizes (and a small MPC) for the test suite;
its "mpc_100x1y_seconds" is then the time of that small MPC.

Run:  python benchmarks/community_lp.py [--quick] [--households N] [--mpc-households N] [--mpc-days D]
      [--dp-days D] [--dp-year-days D]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from importlib import metadata

import numpy as np


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def linopy_build(community, owners, fleet, tie_break: float):
    """The community LP of :mod:`peergrid.control.lp` written with linopy; returns (model, seconds)."""
    import linopy
    import pandas as pd
    import xarray as xr

    t0 = time.perf_counter()
    T, M, dt = community.T, owners.size, community.dt
    time_ix = pd.RangeIndex(T, name="time")
    batt_ix = pd.RangeIndex(M, name="battery")

    def per_battery(values):
        return xr.DataArray(np.broadcast_to(values, (T, M)), coords=[time_ix, batt_ix])

    m = linopy.Model()
    pmax = per_battery(fleet.power * dt)
    c = m.add_variables(lower=0.0, upper=pmax, name="charge")
    d = m.add_variables(lower=0.0, upper=pmax, name="discharge")
    e_lo = np.broadcast_to(fleet.e_min, (T, M)).copy()
    e_lo[-1] = np.maximum(fleet.e_min, fleet.e_init)  # end SOC >= initial
    e = m.add_variables(lower=per_battery(e_lo), upper=per_battery(fleet.e_max), name="energy")
    imp = m.add_variables(lower=0.0, coords=[time_ix], name="import")
    exp = m.add_variables(lower=0.0, coords=[time_ix], name="export")
    eta_c = xr.DataArray(fleet.eff_charge, coords=[batt_ix])
    inv_eta_d = xr.DataArray(1.0 / fleet.eff_discharge, coords=[batt_ix])
    rhs = np.zeros((T, M))
    rhs[0] = fleet.e_init
    with warnings.catch_warnings():  # e.shift leaves t = 0 without a predecessor: that term is meant to vanish
        warnings.simplefilter("ignore")
        soc = e - e.shift(time=1) - eta_c * c + inv_eta_d * d
    m.add_constraints(soc == per_battery(rhs), name="soc")
    residual = xr.DataArray(community.net.sum(axis=1), coords=[time_ix])
    m.add_constraints((c - d).sum("battery") - imp + exp == -residual, name="balance")
    retail = xr.DataArray(community.retail, coords=[time_ix])
    feed_in = xr.DataArray(community.feed_in, coords=[time_ix])
    m.add_objective((retail * imp).sum() - (feed_in * exp).sum() + tie_break * (c.sum() + d.sum()))
    return m, time.perf_counter() - t0


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--households", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=96, help="15-min steps of the community LP")
    parser.add_argument("--mpc-households", type=int, default=100)
    parser.add_argument("--mpc-days", type=int, default=365, help="days of 30-min MPC")
    parser.add_argument("--mpc-mode", default="community", choices=["community", "individual"])
    parser.add_argument("--no-linopy", action="store_true", help="skip the linopy comparison")
    parser.add_argument("--dp-days", type=int, default=14, help="days of the DP-vs-HiGHS individual LP")
    parser.add_argument("--dp-year-days", type=int, default=365, help="days of the DP-only run")
    parser.add_argument("--quick", action="store_true", help="tiny sizes for the test suite")
    args = parser.parse_args(argv)
    if args.quick:
        args.households, args.steps, args.mpc_households, args.mpc_days = 40, 96, 10, 2
        args.dp_days, args.dp_year_days = 2, 7

    from peergrid.control import battery_fleet
    from peergrid.control.lp import lp_schedule
    from peergrid.control.mpc import mpc
    from peergrid.data import synthetic_community

    figures: dict[str, object] = {"households": args.households, "steps": args.steps}

    # ---- 1. community-wide LP --------------------------------------------------------------------
    com = synthetic_community(
        args.households, start="2022-08-01", periods=args.steps, freq="15min", pv_share=0.5, battery_share=0.3, seed=1
    )
    owners, fleet = battery_fleet(com)
    lp_schedule(com.select(participants=slice(0, 10), steps=slice(0, 4)), mode="community")  # warm-up: imports
    t0 = time.perf_counter()
    lp = lp_schedule(com, mode="community", window=None)
    seconds = time.perf_counter() - t0
    log(
        f"community LP {args.households} x {args.steps}: {owners.size} batteries, {seconds:.2f} s "
        f"(build {lp.build_seconds:.3f} s, HiGHS {lp.solve_seconds:.2f} s), bill {lp.cost:.2f}"
    )
    figures.update(
        {
            "batteries": int(owners.size),
            "lp_columns": int(args.steps * (3 * owners.size + 2)),
            "lp_rows": int(args.steps * (owners.size + 1)),
            "seconds": round(seconds, 3),
            "build_seconds": round(lp.build_seconds, 4),
            "solve_seconds": round(lp.solve_seconds, 3),
            "lp_cost": round(lp.cost, 4),
        }
    )

    # ---- 2. the same LP in linopy ----------------------------------------------------------------
    linopy_build_s = linopy_solve_s = linopy_diff = None
    if not args.no_linopy:
        try:
            import linopy  # noqa: F401

            have_linopy = True
        except ImportError:
            have_linopy = False
            log("linopy is not installed: linopy_or_pyomo_build_seconds = null")
        if have_linopy:
            tie = 1e-6 * float(np.max(com.retail))
            small = com.select(participants=slice(0, 10), steps=slice(0, 4))
            small_owners, small_fleet = battery_fleet(small)
            _, first_s = linopy_build(small, small_owners, small_fleet, tie)  # warm-up: lazy imports, caches
            log(f"linopy warm-up build (10 x 4): {first_s:.3f} s")
            model, linopy_build_s = linopy_build(com, owners, fleet, tie)
            t0 = time.perf_counter()
            status = model.solve("highs", progress=False, output_flag=False)
            linopy_solve_s = time.perf_counter() - t0
            if status[0] == "ok":
                c = model.solution["charge"].values
                d = model.solution["discharge"].values
                after = com.net.copy()
                after[:, owners] += c - d
                from peergrid.control.lp import grid_cost

                linopy_diff = abs(grid_cost(after, com.retail, com.feed_in, "community") - lp.cost)
            log(
                f"linopy: build {linopy_build_s:.3f} s, solve through linopy {linopy_solve_s:.2f} s, "
                f"|bill difference| {linopy_diff}"
            )
    figures.update(
        {
            "linopy_or_pyomo_build_seconds": None if linopy_build_s is None else round(linopy_build_s, 4),
            "linopy_solve_seconds": None if linopy_solve_s is None else round(linopy_solve_s, 3),
            "linopy_cost_difference": linopy_diff,
            "linopy_version": _version("linopy"),
        }
    )

    # ---- 3. a year of MPC ----------------------------------------------------------------------
    steps = 48 * args.mpc_days
    year = synthetic_community(
        args.mpc_households, start="2022-01-01", periods=steps, freq="30min", pv_share=0.5, battery_share=0.3, seed=1
    )
    t0 = time.perf_counter()
    s = mpc(
        year,
        horizon_steps=48,
        replan_every_steps=1,
        forecaster="persistence",
        mode=args.mpc_mode,
        report_gap=False,
        progress=_progress(steps),
    )
    mpc_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    ref = lp_schedule(year, mode=args.mpc_mode)
    lp_year_seconds = time.perf_counter() - t0
    gap = (s.cost - ref.cost) / abs(ref.cost) if ref.cost else None
    log(
        f"MPC {args.mpc_households} households x {steps} steps ({args.mpc_mode}): {s.replans} re-plans in "
        f"{mpc_seconds:.1f} s ({1000 * mpc_seconds / max(s.replans, 1):.2f} ms each, HiGHS {s.solve_seconds:.1f} s); "
        f"perfect-foresight LP ({ref.windows} windows) {lp_year_seconds:.1f} s; gap {gap}"
    )
    figures.update(
        {
            "mpc_households": args.mpc_households,
            "mpc_steps": steps,
            "mpc_mode": args.mpc_mode,
            "mpc_replans": s.replans,
            "mpc_100x1y_seconds": round(mpc_seconds, 2),
            "mpc_ms_per_replan": round(1000 * mpc_seconds / max(s.replans, 1), 3),
            "mpc_solve_seconds": round(s.solve_seconds, 2),
            "mpc_cost": round(s.cost, 2),
            "lp_year_cost": round(ref.cost, 2),
            "lp_year_seconds": round(lp_year_seconds, 2),
            "lp_year_windows": ref.windows,
            "mpc_gap_relative": None if gap is None else round(gap, 5),
            "highspy_version": _version("highspy"),
        }
    )

    # ---- 4. individual LP: exact price-taker DP vs HiGHS ------------------------------------------
    figures.update(dp_versus_highs(args.households, args.dp_days, args.dp_year_days))
    print(json.dumps(figures))
    return figures


def dp_versus_highs(households: int, days: int, year_days: int) -> dict:
    """Controller ``lp`` (individual mode) by the exact DP and by HiGHS on the same community."""
    from peergrid.control import battery_fleet
    from peergrid.control.lp import lp_schedule
    from peergrid.data import synthetic_community

    com = synthetic_community(
        households, start="2022-07-01", periods=96 * days, freq="15min", pv_share=0.5, battery_share=0.3, seed=1
    )
    owners, _ = battery_fleet(com)
    lp_schedule(com.select(participants=slice(0, 10), steps=slice(0, 8)), method="dp")  # JIT (cached) warm-up
    t0 = time.perf_counter()
    dp = lp_schedule(com, window=96, lookahead=96, method="dp")
    dp_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    hi = lp_schedule(com, window=96, lookahead=96, method="highs")
    hi_s = time.perf_counter() - t0
    rel = abs(dp.cost - hi.cost) / abs(hi.cost) if hi.cost else abs(dp.cost - hi.cost)
    log(
        f"individual LP {households} x {96 * days} ({owners.size} batteries, one-day windows + one-day look-ahead): "
        f"DP {dp_s:.3f} s, HiGHS {hi_s:.2f} s ({hi_s / dp_s:.0f}x); bills {dp.cost:.4f} / {hi.cost:.4f} "
        f"(relative difference {rel:.2e})"
    )
    year = synthetic_community(
        households, start="2022-01-01", periods=96 * year_days, freq="15min", pv_share=0.5, battery_share=0.3, seed=1
    )
    t0 = time.perf_counter()
    dy = lp_schedule(year, window=96, lookahead=0, method="dp")
    year_s = time.perf_counter() - t0
    log(
        f"individual LP by DP, {households} x {96 * year_days} steps, daily horizon: {year_s:.2f} s "
        f"(kernel {dy.solve_seconds:.2f} s)"
    )
    return {
        "dp_households": households,
        "dp_batteries": int(owners.size),
        "dp_steps": 96 * days,
        "dp_seconds": round(dp_s, 4),
        "dp_highs_seconds": round(hi_s, 3),
        "dp_speedup": round(hi_s / dp_s, 1),
        "dp_cost": round(dp.cost, 6),
        "dp_highs_cost": round(hi.cost, 6),
        "dp_cost_relative_difference": rel,
        "dp_year_steps": 96 * year_days,
        "dp_year_seconds": round(year_s, 3),
        "dp_year_kernel_seconds": round(dy.solve_seconds, 3),
        "dp_year_windows": dy.windows,
    }


def _progress(total: int):
    marks = {round(total * k / 10) for k in range(1, 10)}
    t0 = time.perf_counter()

    def report(done: int) -> None:
        if done in marks:
            log(f"  MPC {done}/{total} steps, {time.perf_counter() - t0:.1f} s")

    return report


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


if __name__ == "__main__":
    main()
