"""Benchmark: feeder power flow, 100-bus LV feeder x 96 slots, balanced and three-phase (issue 4).

Synthetic feeder (:func:`peergrid.grid.synthetic_feeder`): 99 households on a 0.4 kV
feeder of NAYY 4x150 SE cable behind a 400 kVA 20/0.4 kV transformer, one day at 15 min
with household load and PV. Times :func:`peergrid.grid.power_flow` (pandapower ``runpp``
with recycled internals) and :func:`peergrid.grid.power_flow_3ph` (``runpp_3ph``) after
a warm-up run (imports and numba JIT excluded). Prints progress on stderr, then as its
last line one JSON object: {"buses", "slots", "powerflow_s", "powerflow_3ph_s", ...}.

Run:  python benchmarks/powerflow.py [--buses 100] [--slots 96] [--quick]
"""

from __future__ import annotations

import argparse
import json
import sys


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--buses", type=int, default=100, help="LV buses of the feeder")
    parser.add_argument("--slots", type=int, default=96, help="slots (96 = one day at 15 min)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes for the test suite")
    args = parser.parse_args(argv)
    if args.quick:
        args.buses, args.slots = 6, 4

    figures: dict[str, object] = {"buses": args.buses, "slots": args.slots}
    try:
        import pandapower
    except ImportError:
        figures["skipped"] = "pandapower is not installed (pip install 'peergrid[grid]')"
        print(json.dumps(figures))
        return figures

    from peergrid.grid import benchmark_powerflow, benchmark_powerflow_3ph
    from peergrid.grid._pp import has_numba

    figures["powerflow_s"] = round(benchmark_powerflow(args.buses, args.slots, numba=False), 4)
    print(f"balanced flow (no numba): {figures['powerflow_s']:.3f} s", file=sys.stderr)
    if has_numba() and not args.quick:
        figures["powerflow_numba_s"] = round(benchmark_powerflow(args.buses, args.slots, numba=True), 4)
        print(f"balanced flow (numba): {figures['powerflow_numba_s']:.3f} s", file=sys.stderr)
        figures["powerflow_s"] = min(figures["powerflow_s"], figures["powerflow_numba_s"])
    figures["powerflow_3ph_s"] = round(benchmark_powerflow_3ph(args.buses, args.slots, numba=False), 4)
    print(f"three-phase flow: {figures['powerflow_3ph_s']:.3f} s", file=sys.stderr)
    figures["per_slot_ms"] = round(1000 * figures["powerflow_s"] / args.slots, 3)
    figures["per_slot_3ph_ms"] = round(1000 * figures["powerflow_3ph_s"] / args.slots, 3)
    figures["numba"] = has_numba()
    figures["pandapower"] = pandapower.__version__
    print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    main()
