"""The tariff in the outputs: report "Bills" section and the CLI JSON ("tariff", "bill" per market)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import peergrid
from peergrid.data import synthetic_community
from peergrid.market.tariff import apply_tariff, shipped_tariff


def test_report_has_a_bills_section(tmp_path) -> None:
    from peergrid.report import write_report

    com = apply_tariff(synthetic_community(6, periods=48, freq="1h", seed=2),
                       shipped_tariff("de-household").with_(local_network=0.03, export_limit_kw=2.0))  # fmt: skip
    cmp = peergrid.compare(com, markets=["baseline", "sdr"])
    html = write_report(cmp, tmp_path / "r", title="bills").read_text()
    assert '<section id="bills"' in html and "Tariff <strong>de-household</strong>" in html
    assert "VAT 19%" in html and "export limit 2 kW" in html
    total = cmp["sdr"].bills()["total"].sum()
    assert f'<td data-bill="total">{total:,.2f}</td>' in html and "Total (EUR)" in html
    assert "-0.00" not in html  # peer payments of pool rules sum to 0


def test_cli_json_names_the_tariff_and_has_the_bill_per_market(tmp_path) -> None:
    from peergrid.cli.main import app

    idx = pd.date_range("2024-06-01", periods=48, freq="1h", tz="UTC")
    rng = np.random.default_rng(0)
    pd.DataFrame(rng.uniform(0, 1, (48, 3)), index=idx, columns=["a", "b", "c"]).to_csv(tmp_path / "load.csv")
    pd.DataFrame(rng.uniform(0, 2, (48, 3)) * [1, 0, 0], index=idx, columns=["a", "b", "c"]).to_csv(
        tmp_path / "gen.csv"
    )
    sc = tmp_path / "mine.toml"
    sc.write_text(
        'name = "mine"\ntariff = "de-household"\n[community]\nsource = "csv"\nload = "load.csv"\n'
        'generation = "gen.csv"\n[simulation]\ncontrol = "none"\nmarkets = ["baseline", "sdr"]\n'
    )
    result = CliRunner().invoke(app, ["compare", str(sc), "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["community"]["tariff"]["name"] == "de-household"
    assert payload["community"]["tariff"]["currency"] == "EUR"
    bill = payload["markets"]["sdr"]["bill"]
    assert bill["tariff"] == "de-household" and bill["currency"] == "EUR"
    assert bill["standing"] == pytest.approx(3 * 0.40 * 2)  # 3 members, 2 days
    assert bill["total"] == pytest.approx(
        bill["energy"] + bill["network"] + bill["local_network"] + bill["standing"] + bill["demand"] + bill["tax"]
        + bill["vat"] - bill["feed_in_credit"] + bill["p2p"]
    )  # fmt: skip
    # the same data without a tariff: an error naming the key, exit 2, no traceback
    sc.write_text(sc.read_text().replace('tariff = "de-household"\n', ""))
    result = CliRunner().invoke(app, ["compare", str(sc), "--json"])
    assert result.exit_code == 2 and "[tariff] is required" in result.output and "Traceback" not in result.output
