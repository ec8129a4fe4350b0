"""Benchmark: LoRaWAN cluster zooming — radio + VMG formation + trading for one day at 15 min.

Timed per size (issue 7 target: 10,000 devices, 50 gateways, 96 steps in ≤ 10 s):

* **radio**: link budget (N × G path loss with shadowing), join at SF12, two ADR
  rounds over 20-uplink SNR histories, ALOHA + capture PDR (3 fixed-point
  iterations) — :func:`peergrid.zoom.lora.plan_radio`;
* **vmg**: per-gateway ring sums, zoom levels from the re-zooming rule on the
  day (agents' balance criterion), VMG codes — :func:`peergrid.zoom.vmg.rezoom`,
  :func:`~peergrid.zoom.vmg.form_vmgs`;
* **trading**: SDR in every VMG and step at once (group codes t·K + k), inter-VMG
  balancing by the coordinator, grid settlement — :func:`peergrid.zoom.vmg.trade`.

The household profiles (:func:`peergrid.data.synthetic_community`) are built
before the clock starts and reported separately (``data_s``). Full mode also
times 100,000 devices (scaling); gateways scale with devices (one per 200).

Prints progress on stderr, then as its last stdout line one JSON object:
{"devices", "gateways", "steps", "seconds", "radio_s", "vmg_s", "trading_s", "data_s",
"peak_rss_mb", "scaling": [{"devices", "gateways", "seconds", ...}, ...]}.

Run:  python benchmarks/zoom.py [--devices N] [--gateways G] [--quick]
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


def run_once(devices: int, gateways: int, steps: int = 96, seed: int = 0) -> dict:
    """Time radio, VMG formation and trading for one network size."""
    import numpy as np

    from peergrid.data import synthetic_community
    from peergrid.zoom import Deployment, form_vmgs, plan_radio, rezoom, trade
    from peergrid.zoom.vmg import ring_sums

    t = time.perf_counter()
    c = synthetic_community(devices, start="2022-08-01 08:00", periods=steps, freq="15min", seed=seed)
    net = c.load - c.generation
    data_s = time.perf_counter() - t

    t0 = time.perf_counter()
    radio = plan_radio(Deployment.grid(devices, gateways, 400.0, seed=seed), seed=seed)
    t1 = time.perf_counter()
    plan = form_vmgs(radio, 9)
    rd = ring_sums(np.maximum(net, 0.0), plan)
    rs = ring_sums(np.maximum(-net, 0.0), plan)
    plan = form_vmgs(radio, rezoom(plan, rd, rs, 0.7))
    t2 = time.perf_counter()
    res = trade(net, plan, c.retail, c.feed_in, "sdr", "grid", coordinator=True)
    t3 = time.perf_counter()
    money_gap = float(np.abs(res.bill.sum(axis=1) - res.grid_bill).max())
    return {
        "devices": devices,
        "gateways": gateways,
        "steps": steps,
        "seconds": round(t3 - t0, 3),
        "radio_s": round(t1 - t0, 3),
        "vmg_s": round(t2 - t1, 3),
        "trading_s": round(t3 - t2, 3),
        "data_s": round(data_s, 3),
        "covered_share": round(float(radio.covered.mean()), 4),
        "vmgs_nonempty": int((plan.sizes() > 0).sum()),
        "p2p_kwh": round(float(res.bought.sum()), 3),
        "money_gap": money_gap,
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=None, help="default 10,000 (1,000 with --quick)")
    parser.add_argument("--gateways", type=int, default=None, help="default: one per 200 devices (50 at 10,000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="small size for the test suite, no scaling run")
    args = parser.parse_args(argv)
    if args.devices is None:
        args.devices = 1_000 if args.quick else 10_000
    if args.devices < 1:
        parser.error("--devices must be >= 1")
    gateways = args.gateways or max(1, round(args.devices / 200))

    main_run = run_once(args.devices, gateways, seed=args.seed)
    print(f"{args.devices:,} devices / {gateways} gateways: {main_run['seconds']:.2f} s", file=sys.stderr)
    scaling = [main_run]
    if not args.quick:
        for n in (1_000, 100_000):
            if n == args.devices:
                continue
            r = run_once(n, max(1, round(n / 200)), seed=args.seed)
            print(f"{n:,} devices / {r['gateways']} gateways: {r['seconds']:.2f} s", file=sys.stderr)
            scaling.append(r)
    scaling.sort(key=lambda r: r["devices"])
    figures = {**main_run, "peak_rss_mb": round(peak_rss_mb(), 1), "target_s": 10.0, "scaling": scaling}
    print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    main()
