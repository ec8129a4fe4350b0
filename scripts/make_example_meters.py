"""Write the example smart-meter export of docs/data.md from the shipped CityLearn homes.

Usage (from the repository root)::

    .venv/bin/python scripts/make_example_meters.py          # writes examples/data/meters-long.csv

The file looks like a portal export of ten households' smart meters in Berlin:
long format ``Timestamp,Meter ID,Direction,Energy (Wh)``, naive local timestamps
(Europe/Berlin wall-clock time, period starts), 15-minute energy in whole Wh, two
weeks from Monday 2023-10-23 00:00 to Monday 2023-11-06 00:00 local time, so the
autumn clock change of 2023-10-29 is inside (its repeated 02:00–02:45 local times
appear twice, summer time first, as a chronological export writes them). The
meters measure grid import and, for the four PV homes, grid export per step.
One small gap: meter M07's import at 2023-11-01 10:00 and 10:15 is missing.

Profiles: the measured hourly load and PV per kWp of CityLearn homes 1–10
(:func:`peergrid.data.load_citylearn`, MIT licence), taken at the same local
wall-clock hour of the same calendar day of 2022 (the data are Californian; only the
daily shape matters here), split evenly into 15-minute steps with a small
deterministic ripple (seed 18) so the quarters differ. PV is scaled to each home's
kWp from ``examples/data/participants.csv``. Deterministic: rerunning gives the same bytes.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "examples" / "data" / "meters-long.csv"
TZ = "Europe/Berlin"
START, END = "2023-10-23 00:00", "2023-11-06 00:00"  # local, END exclusive
HOMES = [f"home_{i:02d}" for i in range(1, 11)]
METERS = [f"M{i:02d}" for i in range(1, 11)]
PV_KWP = {"M02": 5.0, "M04": 4.0, "M07": 6.5, "M09": 3.5}
GAP = ("M07", "import", ["2023-11-01 10:00", "2023-11-01 10:15"])
SEED = 18


def build() -> pd.DataFrame:
    """The export as a DataFrame (rows in file order)."""
    from peergrid.data import load_citylearn

    cl = load_citylearn()
    utc = pd.date_range(pd.Timestamp(START, tz=TZ), pd.Timestamp(END, tz=TZ), freq="15min", inclusive="left")
    local = utc.tz_convert(TZ)
    # the CityLearn hour with the same wall-clock day-of-year and hour (2022/23 data, local UTC-8)
    cl_local = cl.index.tz_convert("Etc/GMT+8")
    key = pd.Index(cl_local.strftime("%m-%d %H"))
    pos = key.get_indexer(local.strftime("%m-%d %H"))
    assert (pos >= 0).all()
    rng = np.random.default_rng(SEED)
    ripple = rng.uniform(0.85, 1.15, (len(utc), len(HOMES)))
    load_kwh = cl.load[HOMES].to_numpy()[pos] / 4 * ripple
    pv_kwh = cl.pv_per_kwp[HOMES].to_numpy()[pos] / 4 * np.array([PV_KWP.get(m, 0.0) for m in METERS])
    net = load_kwh - pv_kwh
    imp = np.round(np.clip(net, 0, None) * 1000).astype(int)
    exp = np.round(np.clip(-net, 0, None) * 1000).astype(int)
    stamps = local.strftime("%Y-%m-%d %H:%M")  # naive local wall-clock time (repeats at the clock change)
    T, N = imp.shape
    frames = []
    for direction, values, cols in (("import", imp, range(N)), ("export", exp, [METERS.index(m) for m in PV_KWP])):
        cols = list(cols)
        frames.append(pd.DataFrame({
            "step": np.repeat(np.arange(T), len(cols)),
            "order": np.tile(np.array(cols) * 2 + (direction == "export"), T),
            "Timestamp": np.repeat(stamps, len(cols)),
            "Meter ID": np.tile(np.array(METERS)[cols], T),
            "Direction": direction,
            "Energy (Wh)": values[:, cols].reshape(-1),
        }))
    df = pd.concat(frames).sort_values(["step", "order"], kind="stable")
    meter, direction, times = GAP
    drop = (df["Meter ID"] == meter) & (df["Direction"] == direction) & df["Timestamp"].isin(times)
    return df[~drop].drop(columns=["step", "order"]).reset_index(drop=True)


def main() -> None:
    """Write the CSV (and print its size)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    build().to_csv(args.out, index=False, lineterminator="\n")
    print(f"{args.out}: {args.out.stat().st_size / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
