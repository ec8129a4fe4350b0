"""Review 2: empty files, span formatting, participants mismatch, tariff currency case."""

from __future__ import annotations

import pandas as pd
import pytest

from peergrid.core.errors import ConfigError, DataError
from peergrid.data.meters import format_span, read_meters
from peergrid.market.tariff import Tariff
from peergrid.simulate.scenario import build, load_scenario


@pytest.mark.parametrize("text", ["", "\n", "\r\n  \n\t\n"])
def test_empty_csv_is_a_data_error(tmp_path, text):
    p = tmp_path / "e.csv"
    p.write_text(text)
    with pytest.raises(DataError, match=r"e\.csv: is empty"):
        read_meters(p)


def test_empty_parquet_is_a_data_error(tmp_path):
    p = tmp_path / "e.parquet"
    p.write_bytes(b"")
    with pytest.raises(DataError, match="is empty"):
        read_meters(p)


@pytest.mark.parametrize(("td", "text"), [
    ("34 days 23 h", "34 days 23 h"), ("1 day", "1 day"), ("2 days", "2 days"), ("23 h", "23 h"),
    ("45 min", "45 min"), ("1 day 1 h 15 min", "1 day 1 h 15 min"), ("7 days 30 min", "7 days 30 min"),
])
def test_format_span(td, text):
    assert format_span(pd.Timedelta(td.replace(" h", "h").replace(" min", "min"))) == text


def scenario(tmp_path, participants):
    local = pd.date_range("2024-05-01", periods=48, freq="h")
    pd.DataFrame({"timestamp": local.strftime("%Y-%m-%d %H:%M").repeat(2), "meter": ["A", "B"] * 48,
                  "kwh": 1.0}).to_csv(tmp_path / "m.csv", index=False)
    (tmp_path / "p.csv").write_text("id,pv_kwp\n" + "".join(f"{i},1\n" for i in participants))
    s = tmp_path / "s.toml"
    s.write_text('[community]\nsource = "csv"\nload = "m.csv"\nparticipants = "p.csv"\n\n'
                 '[tariff]\nretail = 0.3\ncurrency = "eur"\n')
    return build(load_scenario(s), str(s))


def test_participants_mismatch_names_missing_and_unknown(tmp_path):
    with pytest.raises(DataError) as exc:
        scenario(tmp_path, ["A", "C", "D"])
    msg = str(exc.value)
    assert "'B'" in msg and "'C'" in msg and "'D'" in msg
    assert "no row" in msg and "no meter data" in msg and len(msg.splitlines()) == 1


def test_lower_case_currency_is_stored_upper_case(tmp_path):
    assert Tariff(currency="eur", energy=0.3).currency == "EUR"
    assert Tariff(currency=" chf ", energy=0.3).currency == "CHF"
    com = scenario(tmp_path, ["A", "B"])
    assert com.currency == "EUR"


@pytest.mark.parametrize("bad", ["", "  ", "euros", "E1R", "€"])
def test_bad_currency_is_one_line(bad):
    with pytest.raises(ConfigError, match="currency"):
        Tariff(currency=bad, energy=0.3)


def test_report_span_is_days_and_hours():
    from types import SimpleNamespace

    from peergrid.core.community import Community
    from peergrid.report.page import _community_rows

    index = pd.date_range(pd.Timestamp("2024-03-01", tz="Europe/Vienna"),
                          pd.Timestamp("2024-04-05", tz="Europe/Vienna"), freq="h", inclusive="left")
    load = pd.DataFrame(1.0, index=index.tz_convert("UTC"), columns=["A", "B"])
    com = Community.from_frames(load, None, None, retail=0.3, feed_in=0.0, tz="Europe/Vienna")
    comparison = type("C", (dict,), {})({"baseline": SimpleNamespace(control="greedy")})
    comparison.community = com
    span = dict(_community_rows(comparison))["Span"]
    assert span.endswith("(34 days 23 h)"), span
