"""Benchmark: a year of power flows on a 100-bus LV feeder with the vectorised sweep (issue 17).

Feeder: :func:`peergrid.grid.synthetic_feeder` (99 households on phases a, b, c behind a
400 kVA 20/0.4 kV Dyn5 transformer, NAYY 4x150 SE cable, 30 m spacing). Profiles: its
15-min day of household load and PV, repeated over 365 days with a seasonal swing (PV
x 0.35 in winter to x 1.0 in summer, load x 1.3 to x 0.8) and independent day-to-day
and household noise, so that the year has evening peaks and midday reverse flow.

Times :func:`peergrid.grid.sweep_flow` for every slot (balanced and three-phase) after a
tiny warm-up run (imports, numba JIT), then compares it with pandapower's AC flow
(``runpp`` / ``runpp_3ph``) on sampled slots with :func:`peergrid.grid.validate_flow`.
Progress on stderr; the last stdout line is one JSON object: {"buses", "steps",
"seconds", "seconds_unbalanced", "max_abs_loading_error_pct", "max_abs_voltage_error_pu",
"peak_rss_mb", ...}.

With ``--networks`` it also compares both flows with pandapower on 5 slots of pandapower's
own LV test feeders (Kerber, Dickert, IEEE European LV) with 12 members on load buses.

Run:  python benchmarks/sweep_flow.py [--buses 100] [--days 365] [--validate 50] [--dtype float32]
      [--networks] [--quick]
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time

import numpy as np


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, MB (Linux ru_maxrss is in kB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def year_profiles(buses: int, days: int, seed: int = 0) -> tuple[object, np.ndarray, float]:
    """The synthetic feeder and ``days`` of 15-min net power (kW) with a seasonal swing."""
    from peergrid.grid import synthetic_feeder

    net, _, dt = synthetic_feeder(buses, 96, seed=seed)
    rng = np.random.default_rng(seed + 1)
    n = buses - 1
    hours = (np.arange(96) + 0.5) * dt
    shape = 0.3 + 0.5 * np.exp(-((hours - 7.5) ** 2) / 2.0) + 1.2 * np.exp(-((hours - 19.0) ** 2) / 8.0)
    sun = np.clip(np.sin(np.pi * (hours - 6.0) / 12.0), 0.0, None)
    season = np.cos(2 * np.pi * (np.arange(days) - 172) / 365.0)  # +1 at midsummer
    pv_day = (0.675 + 0.325 * season) * rng.uniform(0.3, 1.0, days)  # clouds
    load_day = (1.05 - 0.25 * season) * rng.uniform(0.85, 1.15, days)
    kwp = np.where(np.arange(n) % 2 == 0, rng.uniform(3.0, 6.0, n), 0.0)
    size = rng.uniform(0.5, 1.5, n)
    load = (load_day[:, None] * shape[None, :]).reshape(-1)[:, None] * size[None, :]
    load = load * rng.uniform(0.7, 1.3, load.shape)
    pv = (pv_day[:, None] * sun[None, :]).reshape(-1)[:, None] * (0.8 * kwp)[None, :]
    return net, load - pv, dt


#: pandapower's own LV test feeders for ``--networks``: name, factory in ``pandapower.networks``, arguments.
NETWORKS = (
    ("kerber_landnetz_kabel_2", "create_kerber_landnetz_kabel_2", {}),
    ("kerber_vorstadtnetz_kabel_1", "create_kerber_vorstadtnetz_kabel_1", {}),
    (
        "dickert_long_cable_multiple_bad",
        "create_dickert_lv_network",
        {"feeders_range": "long", "linetype": "cable", "customer": "multiple", "case": "bad"},
    ),
    ("ieee_european_lv_on_peak_566", "ieee_european_lv_asymmetric", {"scenario": "on_peak_566"}),
)


def network_errors(slots: int, seed: int) -> dict[str, dict]:
    """validate_flow on pandapower's LV test feeders: 12 members (phases a, b, c) on load buses, random kW."""
    import warnings

    import pandapower.networks as pn
    import pandas as pd

    from peergrid.grid import feeder_from_net, validate_flow

    out = {}
    rng = np.random.default_rng(seed)
    for name, factory, kwargs in NETWORKS:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            net = getattr(pn, factory)(**kwargs)
        buses = net.load["bus"].to_numpy()[:12]
        ids = [f"m{i}" for i in range(len(buses))]
        members = pd.DataFrame({"id": ids, "bus": buses, "phase": list("abc" * 4)[: len(buses)]})
        feeder = feeder_from_net(net, members)
        p = rng.uniform(-5.0, 8.0, (24, len(buses)))
        row: dict[str, object] = {"buses": len(net.bus)}
        for label, unbalanced in (("balanced", False), ("three_phase", True)):
            s = validate_flow(feeder, p, slots=slots, unbalanced=unbalanced, seed=seed).summary()
            keys = ["max_abs_loading_error_pct", "max_abs_voltage_error_pu", "max_abs_losses_error_kwh"]
            keys += ["max_abs_vim_error_pct"] if unbalanced else []
            row[label] = {k: float(f"{s[k]:.2g}") for k in keys}
        out[name] = row
        print(f"{name}: {row}", file=sys.stderr)
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--buses", type=int, default=100, help="LV buses of the feeder")
    parser.add_argument("--days", type=int, default=365, help="days of 15-min slots")
    parser.add_argument("--validate", type=int, default=50, help="slots compared with pandapower")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dtype", choices=["float64", "float32"], default="float64", help="storage of the results")
    parser.add_argument("--networks", action="store_true", help="also validate on pandapower's LV test feeders")
    parser.add_argument("--quick", action="store_true", help="tiny sizes for the test suite")
    args = parser.parse_args(argv)
    if args.quick:
        args.buses, args.days, args.validate = 12, 3, 4

    figures: dict[str, object] = {"buses": args.buses, "steps": 96 * args.days, "dtype": args.dtype}
    try:
        import pandapower  # noqa: F401
    except ImportError:
        figures["skipped"] = "pandapower is not installed (pip install 'peergrid[grid]')"
        print(json.dumps(figures))
        return figures

    from peergrid.core.errors import DataError
    from peergrid.grid import sweep_flow, synthetic_feeder, validate_flow

    net, p, dt = year_profiles(args.buses, args.days, args.seed)
    tiny, tp, tdt = synthetic_feeder(4, 2)
    sweep_flow(tiny, tp, dt=tdt)  # warm-up: imports and the numba kernels (cached on disk after the first run)
    try:
        sweep_flow(tiny, tp, dt=tdt, unbalanced=True)
        three_phase = True
    except DataError:  # unbalanced sweep not available in this version
        three_phase = False
    figures["rss_before_mb"] = round(peak_rss_mb(), 1)

    t0 = time.perf_counter()
    flow = sweep_flow(net, p, dt=dt, dtype=args.dtype)
    figures["seconds"] = round(time.perf_counter() - t0, 3)
    figures["converged"] = int(flow.converged.sum())
    figures["max_loading_pct"] = round(flow.max_loading_pct, 2)
    figures["v_min_pu"] = round(flow.v_min_pu, 4)
    figures["v_max_pu"] = round(flow.v_max_pu, 4)
    figures["losses_kwh"] = round(float(np.nansum(flow.losses_kwh)), 1)
    print(f"balanced year: {figures['seconds']} s, {figures['converged']} slots converged", file=sys.stderr)
    del flow

    figures["seconds_unbalanced"] = None
    if three_phase:
        t0 = time.perf_counter()
        flow3 = sweep_flow(net, p, dt=dt, unbalanced=True, dtype=args.dtype)
        figures["seconds_unbalanced"] = round(time.perf_counter() - t0, 3)
        figures["converged_unbalanced"] = int(flow3.converged.sum())
        figures["max_vim_pct"] = round(flow3.max_vim_pct, 3)
        print(f"unbalanced year: {figures['seconds_unbalanced']} s", file=sys.stderr)
        del flow3
    figures["peak_rss_mb"] = round(peak_rss_mb(), 1)

    s = validate_flow(net, p, slots=args.validate, dt=dt, seed=args.seed).summary()
    figures["validated_slots"] = s["slots"]
    keys = ("max_abs_loading_error_pct", "max_abs_voltage_error_pu", "max_abs_losses_error_kwh")
    for key in keys:
        figures[key] = float(f"{s[key]:.3g}")
    figures["pandapower_s_per_slot"] = round(s["seconds_pandapower"] / max(s["slots"], 1), 4)
    if three_phase:
        s3 = validate_flow(net, p, slots=args.validate, dt=dt, seed=args.seed, unbalanced=True).summary()
        for key in keys:
            figures[key.replace("error", "error_3ph")] = float(f"{s3[key]:.3g}")
        figures["max_abs_vim_error_pct"] = float(f"{s3['max_abs_vim_error_pct']:.3g}")
        figures["losses_rel_error_3ph"] = float(f"{s3['losses_rel_error']:.3g}")
        figures["pandapower_3ph_s_per_slot"] = round(s3["seconds_pandapower"] / max(s3["slots"], 1), 4)
    if args.networks:
        figures["networks"] = network_errors(min(args.validate, 5), args.seed)
    with open("/proc/loadavg") as fh:
        figures["load_average"] = float(fh.read().split()[0])
    print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    main()
