"""Extract the CityLearn 2022 challenge data into one compact Parquet file.

Usage::

    .venv/bin/python scripts/extract_citylearn.py              # pip download the wheel
    .venv/bin/python scripts/extract_citylearn.py --wheel /tmp/cl/CityLearn-2.1.2-py3-none-any.whl

The wheel ``CityLearn==2.1.2`` (MIT licence) is fetched with
``pip download --no-deps`` (or taken from ``--wheel``) and read with :mod:`zipfile`;
CityLearn itself is never installed or imported (its pins do not install on
Python 3.11). Writes

* ``src/peergrid/data/citylearn_2022.parquet`` — 8,760 hourly rows (UTC period
  starts) with per-home load and PV per kWp, weather, TOU price, carbon intensity;
  scalar metadata (PV kWp, battery attributes, provenance, faulty-PV check) is JSON
  in the Parquet schema metadata under the key ``peergrid.citylearn``;
* ``src/peergrid/data/CITYLEARN_LICENSE.txt`` — the licence text shipped in the
  wheel, plus what was extracted and how to cite it.

Time axis (checked against the Month/Hour/Day Type columns below): rows are hourly,
``Hour`` is hour-*ending* 1..24 in local standard time (``Daylight Savings Status``
is 0 throughout; California, so fixed UTC−8 = ``Etc/GMT+8``), ``Day Type`` 1 =
Monday .. 7 = Sunday. Row 0 is 2022-07-31 23:00–24:00 local = 2022-08-01T07:00Z.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from peergrid.data.citylearn import (
    CITATION,
    DATA_START,
    FAULTY_PV_REL_THRESHOLD,
    LICENCE,
    METADATA_KEY,
    SOURCE,
    detect_faulty_pv,
)

VERSION = "2.1.2"
DATASET_DIR = "citylearn/data/citylearn_challenge_2022_phase_all/"
N_HOMES = 17
N_ROWS = 8760
LOCAL_TZ = "Etc/GMT+8"  # fixed UTC-8 (POSIX sign convention)
REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "src" / "peergrid" / "data"

WEATHER_COLUMNS = {
    "Outdoor Drybulb Temperature [C]": "temp_air_c",
    "Relative Humidity [%]": "relative_humidity",
    "Diffuse Solar Radiation [W/m2]": "dhi_wm2",
    "Direct Solar Radiation [W/m2]": "dni_wm2",
}


def fetch_wheel(dest: Path) -> Path:
    """Download the CityLearn wheel with pip (no dependencies) into ``dest``."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", f"CityLearn=={VERSION}",
           "-d", str(dest)]
    subprocess.run(cmd, check=True)
    wheels = sorted(dest.glob(f"[Cc]ity[Ll]earn-{VERSION}-*.whl"))
    if not wheels:
        raise SystemExit(f"pip download did not produce a CityLearn {VERSION} wheel in {dest}")
    return wheels[0]


def read_csv(zf: zipfile.ZipFile, name: str) -> pd.DataFrame:
    """Read one CSV of the 2022 dataset from the wheel."""
    with zf.open(DATASET_DIR + name) as fh:
        frame = pd.read_csv(fh)
    if len(frame) != N_ROWS:
        raise SystemExit(f"{name}: expected {N_ROWS} rows, found {len(frame)}")
    return frame


def build_index() -> pd.DatetimeIndex:
    """Hourly UTC period starts of the 8,760 rows."""
    return pd.date_range(DATA_START, periods=N_ROWS, freq="1h")


def check_time_columns(frame: pd.DataFrame, index: pd.DatetimeIndex, name: str) -> None:
    """Assert that Month / Hour (ending) / Day Type agree with ``index``."""
    local = index.tz_convert(LOCAL_TZ)
    expected = {
        "Month": local.month.to_numpy(),
        "Hour": local.hour.to_numpy() + 1,  # hour-ending 1..24
        "Day Type": local.day_of_week.to_numpy() + 1,  # 1 = Monday
    }
    for col, want in expected.items():
        got = frame[col].to_numpy()
        if not np.array_equal(got, want):
            row = int(np.argmax(got != want))
            raise SystemExit(
                f"{name}: column {col!r} row {row} is {got[row]}, expected {want[row]}"
            )
    if (frame["Daylight Savings Status"] != 0).any():
        raise SystemExit(f"{name}: daylight-saving status is not 0 throughout")


def extract(wheel: Path, out_dir: Path) -> dict[str, object]:
    """Read the wheel and write the Parquet and licence files; return a summary."""
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    index = build_index()
    homes = [f"home_{i:02d}" for i in range(1, N_HOMES + 1)]
    with zipfile.ZipFile(wheel) as zf:
        licence_names = [n for n in zf.namelist() if n.endswith(".dist-info/LICENSE")]
        if not licence_names:
            raise SystemExit("no LICENSE file in the wheel's dist-info")
        licence_text = zf.read(licence_names[0]).decode("utf-8")
        schema = json.loads(zf.read(DATASET_DIR + "schema.json"))
        loads, pvs, pv_kwp, battery = {}, {}, {}, {}
        for i, home in enumerate(homes, start=1):
            b = schema["buildings"][f"Building_{i}"]
            if b["energy_simulation"] != f"Building_{i}.csv":
                raise SystemExit(f"schema: Building_{i} points at {b['energy_simulation']}")
            frame = read_csv(zf, f"Building_{i}.csv")
            check_time_columns(frame, index, f"Building_{i}.csv")
            load = frame["Equipment Electric Power [kWh]"].to_numpy(np.float64)
            pv = frame["Solar Generation [W/kW]"].to_numpy(np.float64) / 1000.0  # kWh/kWp/h
            for what, arr in (("load", load), ("pv", pv)):
                if not np.all(np.isfinite(arr)) or np.any(arr < 0):
                    raise SystemExit(f"Building_{i}.csv: {what} has NaN or negative values")
            loads[home], pvs[home] = load, pv
            pv_kwp[home] = float(b["pv"]["attributes"]["nominal_power"])
            attrs = b["electrical_storage"]["attributes"]
            battery[home] = {
                "capacity_kwh": float(attrs["capacity"]),
                "power_kw": float(attrs["nominal_power"]),
                "efficiency": float(attrs["efficiency"]),
                "capacity_loss_coefficient": float(attrs["capacity_loss_coefficient"]),
                "loss_coefficient": float(attrs["loss_coefficient"]),
            }
        weather = read_csv(zf, "weather.csv")
        pricing = read_csv(zf, "pricing.csv")
        carbon = read_csv(zf, "carbon_intensity.csv")

    pv_frame = pd.DataFrame(pvs, index=index)
    faulty = detect_faulty_pv(pv_frame)
    yields = (pv_frame.sum() * N_ROWS / len(pv_frame)).round(1).to_dict()

    columns: dict[str, pa.Array] = {"timestamp": pa.array(index.as_unit("s"))}
    for home in homes:  # float32: ~7 significant digits, far below metering precision
        columns[f"load_{home}"] = pa.array(loads[home].astype(np.float32))
    for home in homes:
        columns[f"pv_{home}"] = pa.array(pvs[home].astype(np.float32))
    for src, dst in WEATHER_COLUMNS.items():  # few distinct values: float64, dictionary-coded
        columns[dst] = pa.array(weather[src].to_numpy(np.float64))
    columns["retail_price"] = pa.array(pricing["Electricity Pricing [$/kWh]"].to_numpy(np.float64))
    columns["carbon_intensity"] = pa.array(carbon["kg_CO2/kWh"].to_numpy(np.float32))

    meta = {
        "dataset": "CityLearn 2022 challenge (citylearn_challenge_2022_phase_all)",
        "source": SOURCE,
        "licence": LICENCE,
        "citation": CITATION,
        "wheel": wheel.name,
        "wheel_sha256": digest,
        "time": (
            "timestamp = UTC period start, hourly; CSV 'Hour' is hour-ending local standard "
            "time UTC-8 (no DST); row 0 = 2022-07-31 23:00-24:00 local = 2022-08-01T07:00Z"
        ),
        "units": {
            "load_home_XX": "kWh per hour (Equipment Electric Power [kWh])",
            "pv_home_XX": "kWh per kWp per hour (Solar Generation [W/kW] / 1000)",
            "temp_air_c": "degC (outdoor dry-bulb)",
            "relative_humidity": "percent",
            "dhi_wm2": "W/m2 (Diffuse Solar Radiation)",
            "dni_wm2": "W/m2 (Direct Solar Radiation)",
            "retail_price": "USD/kWh (Electricity Pricing, time-of-use)",
            "carbon_intensity": "kgCO2/kWh",
        },
        "homes": homes,
        "pv_kwp": pv_kwp,
        "battery": battery,
        "pv_yield_kwh_per_kwp": yields,
        "faulty_pv_rule": (
            f"annual PV yield < {FAULTY_PV_REL_THRESHOLD:g} x median yield of all homes"
        ),
        "faulty_pv": list(faulty),
    }
    table = pa.table(columns)
    table = table.replace_schema_metadata({METADATA_KEY: json.dumps(meta, sort_keys=True)})
    out_dir.mkdir(parents=True, exist_ok=True)
    parquet_path = out_dir / "citylearn_2022.parquet"
    buf = io.BytesIO()
    # Encodings chosen for size (about 0.77 MB): delta for the regular timestamps,
    # byte-stream-split for the float32 measurements, dictionaries for the few
    # distinct weather/price values; zstd level 19 on top.
    measured = [c for c in columns if c.startswith(("load_", "pv_", "carbon"))]
    encodings = dict.fromkeys(measured, "BYTE_STREAM_SPLIT")
    encodings["timestamp"] = "DELTA_BINARY_PACKED"
    pq.write_table(
        table,
        buf,
        compression="zstd",
        compression_level=19,
        use_dictionary=[*WEATHER_COLUMNS.values(), "retail_price"],
        column_encoding=encodings,
        write_statistics=False,
    )
    parquet_path.write_bytes(buf.getvalue())

    licence_path = out_dir / "CITYLEARN_LICENSE.txt"
    licence_path.write_text(
        "citylearn_2022.parquet is extracted from the CityLearn "
        f"{VERSION} wheel (PyPI, sha256 {digest}),\n"
        "directory citylearn/data/citylearn_challenge_2022_phase_all/, by "
        "scripts/extract_citylearn.py.\n\n"
        f"Source: {SOURCE}\n\n"
        f"Please cite:\n{CITATION}\n\n"
        "The CityLearn package, including this data, is distributed under the following "
        "licence\n(verbatim copy of the wheel's LICENSE file):\n\n"
        + "-" * 72
        + "\n"
        + licence_text.rstrip()
        + "\n",
        encoding="utf-8",
    )
    return {
        "parquet": str(parquet_path),
        "parquet_bytes": parquet_path.stat().st_size,
        "licence": str(licence_path),
        "faulty_pv": list(faulty),
        "pv_yield_kwh_per_kwp": yields,
        "wheel_sha256": digest,
    }


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel", type=Path, help="use this CityLearn wheel instead of pip")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory")
    args = parser.parse_args(argv)
    if args.wheel is not None:
        if not args.wheel.is_file():
            raise SystemExit(f"--wheel {args.wheel}: no such file")
        summary = extract(args.wheel, args.out)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            summary = extract(fetch_wheel(Path(tmp)), args.out)
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
