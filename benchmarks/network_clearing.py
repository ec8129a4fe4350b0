"""Benchmark: a day of order books cleared on a feeder (peergrid.grid.clear_on_feeder, issue 17).

Synthetic day: ``--households`` members on two radial branches of NAYY 4x50 SE (30 m per house),
members on phases a, b, c in turn (``--balanced``: all three-phase), hourly slots; every third
member sells 5–40 kWh from 08 to 17 h, everyone buys 0.5–6 kWh. Clears with ``--mechanism``
on the feeder (eq. 12 fees, curtailment on loading/voltage/VIM, re-matching, losses) with the
AC flow ``--flow`` (``sweep``, the default, or ``pandapower``; ``--flow both`` clears twice and
reports both), then checks every settled slot with pandapower's own flow (``runpp_3ph``, or
``runpp`` when balanced). Prints progress on stderr, then as its last line one JSON object:
{"households", "slots", "mechanism", "flow", "seconds", "traded_kwh", "curtailed_kwh", "rematched_kwh",
"line_fees", "losses_kwh", "feasible", "pandapower_violations", "peak_rss_mb"} (with ``--flow both``
the pandapower run's figures under "pandapower" and "speedup" = its seconds / the sweep's).

Run:  python benchmarks/network_clearing.py [--households 20] [--slots 24] [--mechanism bilateral]
      [--flow sweep|pandapower|both] [--quick]
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time

import numpy as np


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--households", type=int, default=20)
    parser.add_argument("--slots", type=int, default=24)
    parser.add_argument("--mechanism", default="bilateral")
    parser.add_argument("--balanced", action="store_true", help="every member on three phases")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--flow", default="sweep", choices=["sweep", "pandapower", "both"])
    parser.add_argument("--quick", action="store_true", help="tiny sizes for the test suite")
    args = parser.parse_args(argv)
    if args.quick:
        args.households, args.slots = 6, 2
    figures: dict[str, object] = {"households": args.households, "slots": args.slots, "mechanism": args.mechanism}
    try:
        import pandapower  # noqa: F401
    except ImportError:
        figures["skipped"] = "pandapower is not installed (pip install 'peergrid[grid]')"
        print(json.dumps(figures))
        return figures
    import pandas as pd

    from peergrid.grid import (
        FeederLimits,
        build_feeder,
        check_limits,
        clear_on_feeder,
        feeder_from_net,
        power_flow,
        power_flow_3ph,
    )
    from peergrid.market.orders import OrderBook

    rng = np.random.default_rng(args.seed)
    n, slots = args.households, args.slots
    part, side, qty, price, slot = [], [], [], [], []
    for s in range(slots):
        hour = (8 + s) % 24 if args.quick else s
        for m in range(n):
            sells = m % 3 == 0 and 8 <= hour <= 17
            part.append(f"h{m:03d}")
            side.append("sell" if sells else "buy")
            qty.append(rng.uniform(5, 40) if sells else rng.uniform(0.5, 6))
            price.append(rng.uniform(0.06, 0.15) if sells else rng.uniform(0.18, 0.35))
            slot.append(s)
    book = OrderBook.from_arrays(participant=part, side=side, quantity=qty, price=price, slot=slot)
    phases = ["abc"] * n if args.balanced else ["abc"[m % 3] for m in range(n)]
    net = feeder_from_net(
        build_feeder(n_buses=n + 1, n_feeders=2, line_type="NAYY 4x50 SE"),
        pd.DataFrame({"id": [f"h{m:03d}" for m in range(n)], "bus": np.arange(1, n + 1), "phase": phases}),
    )
    labels = [str(x) for x in book.participant_label(np.arange(book.n_participants))]
    row = {x: i for i, x in enumerate(net["peergrid_participants"]["id"].astype(str))}
    codes = np.array([row[x] for x in labels])

    def run(flow: str) -> dict:
        print(f"clearing {len(book)} orders of {n} households in {slots} slots ({args.mechanism}, {flow}) …",
              file=sys.stderr)  # fmt: skip
        t0 = time.perf_counter()
        cleared = clear_on_feeder(book, FeederLimits(net, max_vim_pct=2.0, flow=flow), args.mechanism)
        seconds = time.perf_counter() - t0
        summary = cleared.summary()
        # the settled trades on pandapower's own flow (never the sweep), slot by slot
        t = cleared.result.trades
        bad = 0
        for s in np.unique(t.slot).tolist():
            m = t.slot == s
            p = np.bincount(codes[t.buyer[m]], t.quantity[m], n) - np.bincount(codes[t.seller[m]], t.quantity[m], n)
            flow_pp = power_flow(net, p[None, :]) if args.balanced else power_flow_3ph(net, p[None, :])
            bad += int(check_limits(flow_pp, max_vim_pct=2.0 if not args.balanced else None).any)
        return {
            "flow": cleared.flow,
            "seconds": round(seconds, 2),
            "traded_kwh": round(float(t.quantity.sum()), 3),
            **{k: (round(v, 4) if isinstance(v, float) else v) for k, v in summary.items()},
            "pandapower_violations": bad,
        }  # fmt: skip

    figures.update(run("sweep" if args.flow == "both" else args.flow))
    if args.flow == "both":
        ref = run("pandapower")
        figures["pandapower"] = ref
        figures["speedup"] = round(ref["seconds"] / max(figures["seconds"], 1e-3), 1)  # type: ignore[arg-type]
    figures["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    main()
