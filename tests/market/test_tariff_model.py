"""The tariff model: hand-computed prices and bills (peergrid.market.tariff)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from peergrid import ConfigError, DataError
from peergrid.market.tariff import (
    BILL_COLUMNS,
    SHIPPED_TARIFFS,
    Period,
    Rate,
    Tariff,
    bill_components,
    bill_total,
    energy_prices,
    read_price_csv,
    read_tariff,
    shipped_tariff,
    tariff_from_mapping,
)

BERLIN = "Europe/Berlin"


def test_flat_tariff_marginal_prices_include_network_tax_and_vat() -> None:
    t = Tariff(currency="EUR", energy=0.10, network=0.08, tax_per_kwh=0.02, vat=0.19, feed_in=0.08,
               standing_per_day=1.0, demand_per_kw_month=10.0)  # fmt: skip
    idx = pd.date_range("2024-01-01", periods=3, freq="1h", tz=BERLIN)
    retail, feed_in = energy_prices(t, idx)
    np.testing.assert_allclose(retail, 0.20 * 1.19)  # fixed charges are not marginal
    np.testing.assert_allclose(feed_in, 0.08)


def test_tou_across_the_spring_dst_change_in_berlin() -> None:
    # 2024-03-31: clocks go 02:00 CET -> 03:00 CEST. Steps from 23:00 UTC on the 30th, hourly.
    tou = Rate.tou([Period(0.30, start=2, end=4, name="night peak")], default=0.10)
    t = Tariff(currency="EUR", energy=tou)
    idx = pd.date_range("2024-03-30 23:00", periods=4, freq="1h", tz="UTC")
    local = idx.tz_convert(BERLIN)
    assert list(local.hour) == [0, 1, 3, 4]  # 02 h local does not exist that night
    retail, _ = energy_prices(t, local)
    np.testing.assert_allclose(retail, [0.10, 0.10, 0.30, 0.10])
    # read on the UTC clock (23, 00, 01, 02 h) the peak would land on the last step instead
    retail_utc, _ = energy_prices(t, idx)
    np.testing.assert_allclose(retail_utc, [0.10, 0.10, 0.10, 0.30])


def test_tou_autumn_dst_repeated_hour_priced_twice_on_the_local_clock() -> None:
    tou = Rate.tou([Period(0.40, start=2, end=3)], default=0.20)
    idx = pd.date_range("2024-10-27 00:00", periods=3, freq="1h", tz="UTC")  # 02, 02, 03 h local
    retail, _ = energy_prices(Tariff(currency="EUR", energy=tou), idx.tz_convert(BERLIN))
    np.testing.assert_allclose(retail, [0.40, 0.40, 0.20])


def test_tou_first_matching_period_wins_weekday_weekend_months_and_wrap() -> None:
    tou = Rate.tou(
        [
            Period(0.50, start=17, end=20, days="weekday", months=(1,)),
            Period(0.05, start=22, end=6),  # wraps midnight
            Period(0.30, start=0, end=24, days="weekend"),
        ],
        default=0.20,
    )
    # 2024-01-05 is a Friday, 2024-01-06 a Saturday, 2024-02-02 a Friday
    stamps = ["2024-01-05 18:00", "2024-01-06 18:00", "2024-01-06 23:00", "2024-01-05 05:30", "2024-02-02 18:00"]
    idx = pd.DatetimeIndex(stamps).tz_localize(BERLIN)
    np.testing.assert_allclose(tou.values(idx), [0.50, 0.30, 0.05, 0.05, 0.20])


def test_tou_without_default_must_cover_every_step() -> None:
    tou = Rate.tou([Period(0.1, start=0, end=12)])
    idx = pd.date_range("2024-01-01 11:00", periods=2, freq="1h", tz=BERLIN)
    with pytest.raises(ConfigError, match="no period covers 2024-01-01T12:00:00"):
        tou.values(idx)


def test_feed_in_above_retail_is_refused() -> None:
    t = Tariff(currency="EUR", energy=Rate.tou([Period(0.05, 0, 6)], default=0.30), feed_in=0.08)
    idx = pd.date_range("2024-01-01", periods=2, freq="6h", tz=BERLIN)
    with pytest.raises(DataError, match=r"feed-in 0\.08 exceeds the retail price 0\.05"):
        energy_prices(t, idx)


def test_bill_two_members_four_steps_hand_computed() -> None:
    """2 members x 4 hourly steps around the DST change; every component by hand."""
    tou = Rate.tou([Period(0.40, start=3, end=24)], default=0.20)
    t = Tariff(currency="EUR", energy=tou, network=0.10, local_network=0.02, tax_per_kwh=0.01, vat=0.20,
               standing_per_day=0.48, demand_per_kw_month=2.0, feed_in=0.05, export_limit_kw=1.0)  # fmt: skip
    idx = pd.date_range("2024-03-31 00:00", periods=4, freq="1h", tz="UTC")  # 01, 03, 04, 05 h Berlin
    imp = np.array([[1.0, 0.0], [2.0, 0.0], [0.0, 0.5], [0.5, 0.0]])
    exp = np.array([[0.0, 1.5], [0.0, 0.0], [0.0, 0.0], [0.0, 0.8]])
    loc = np.array([[0.0, 0.0], [0.0, 0.0], [1.0, 0.0], [0.0, 0.0]])
    b = bill_components(t, idx, BERLIN, imp, exp, loc, ids=["a", "b"])
    assert list(b.columns[: len(BILL_COLUMNS)]) == list(BILL_COLUMNS)
    a = b.loc["a"]
    # energy: 1·0.20 (01 h) + 2·0.40 (03 h) + 0.5·0.40 (05 h) = 1.20
    assert a["energy"] == pytest.approx(1.20)
    assert a["network"] == pytest.approx(3.5 * 0.10)
    assert a["local_network"] == pytest.approx(1.0 * 0.02)
    assert a["tax"] == pytest.approx(3.5 * 0.01)
    assert a["standing"] == pytest.approx(0.48 * 4 / 23)  # 4 h of the 23-hour local day 31 March
    assert a["demand"] == pytest.approx(2.0 * 2.0)  # peak 2 kW in March
    charges = 1.20 + 0.35 + 0.02 + 0.035 + 0.48 * 4 / 23 + 4.0
    assert a["vat"] == pytest.approx(0.2 * charges)
    assert a["total"] == pytest.approx(1.2 * charges)
    bb = b.loc["b"]
    # b: export 1.5 kWh at step 0 (0.5 spilled above 1 kW · 1 h), 0.8 at step 3: paid 1.8 kWh
    assert bb["spilled_kwh"] == pytest.approx(0.5)
    assert bb["export_kwh"] == pytest.approx(2.3)
    assert bb["feed_in_credit"] == pytest.approx(1.8 * 0.05)
    assert bb["energy"] == pytest.approx(0.5 * 0.40)
    charges_b = 0.20 + 0.05 + 0.005 + 0.48 * 4 / 23 + 2.0 * 0.5
    assert bb["total"] == pytest.approx(1.2 * charges_b - 0.09)
    tot = bill_total(b)
    assert tot["total"] == pytest.approx(a["total"] + bb["total"])


def test_demand_charge_months_are_local_calendar_months() -> None:
    """31 Jan 23:30 UTC is already 1 Feb in Berlin: the two peaks fall in different local months."""
    t = Tariff(currency="EUR", energy=0.0, demand_per_kw_month=10.0)
    idx = pd.date_range("2024-01-31 22:00", periods=4, freq="30min", tz="UTC")  # 23:00 .. 00:30 local
    imp = np.array([[1.0], [0.0], [2.0], [0.5]])  # kWh per half hour -> 2, 0, 4, 1 kW
    b = bill_components(t, idx, BERLIN, imp, np.zeros_like(imp))
    # Berlin: January peak 2 kW (22:00 UTC = 23:00), February peak 4 kW (23:00 UTC = 00:00 on 1 Feb)
    assert b["billed_peak_kw"].iloc[0] == pytest.approx(6.0)
    assert b["demand"].iloc[0] == pytest.approx(60.0)
    # in UTC all four steps lie in January: one peak of 4 kW
    u = bill_components(t, idx, "UTC", imp, np.zeros_like(imp))
    assert u["demand"].iloc[0] == pytest.approx(40.0)


def test_standing_charge_counts_local_calendar_days_across_clock_changes() -> None:
    """March in Berlin has a 23-hour day and October a 25-hour one; each month is still 31 days
    of standing charge (it was T·dt/24 = 30.96 and 31.04 days before)."""
    t = Tariff(currency="EUR", energy=0.0, standing_per_day=1.0)
    for month in ("2026-03", "2026-10"):
        start = pd.Timestamp(f"{month}-01", tz=BERLIN)
        idx = pd.date_range(start, start + pd.DateOffset(months=1), freq="15min", inclusive="left").tz_convert("UTC")
        zeros = np.zeros((len(idx), 2))
        b = bill_components(t, idx, BERLIN, zeros, zeros)
        assert b["standing"].tolist() == pytest.approx([31.0, 31.0], abs=1e-9)
    half = pd.date_range("2026-03-29 00:00", periods=46, freq="15min", tz=BERLIN).tz_convert("UTC")  # 12 of 23 h
    b = bill_components(t, half, BERLIN, np.zeros((46, 1)), np.zeros((46, 1)))
    assert b["standing"].iloc[0] == pytest.approx(11.5 / 23)


def test_dynamic_prices_from_csv_naive_local_and_mwh(tmp_path) -> None:
    f = tmp_path / "prices.csv"
    f.write_text("time,eur_mwh\n2024-06-01 00:00,100\n2024-06-01 01:00,250\n2024-06-01 02:00,-10\n")
    s = read_price_csv(f, unit="MWh", tz=BERLIN)
    assert s.index[0] == pd.Timestamp("2024-05-31 22:00", tz="UTC")
    np.testing.assert_allclose(s.to_numpy(), [0.10, 0.25, -0.01])
    rate = Rate.dynamic(s, source="prices.csv")
    idx = pd.date_range("2024-05-31 22:00", periods=6, freq="30min", tz="UTC")
    np.testing.assert_allclose(rate.values(idx.tz_convert(BERLIN)), [0.10, 0.10, 0.25, 0.25, -0.01, -0.01])
    with pytest.raises(DataError, match="prices cover"):
        rate.values(pd.date_range("2024-05-31 21:00", periods=2, freq="1h", tz="UTC"))
    with pytest.raises(DataError, match="prices cover"):
        rate.values(pd.date_range("2024-06-01 01:00", periods=2, freq="1h", tz="UTC"))


def test_read_price_csv_errors(tmp_path) -> None:
    with pytest.raises(ConfigError, match="price file not found"):
        read_price_csv(tmp_path / "nope.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text("time,price\n2024-06-01 00:00,x\n")
    with pytest.raises(DataError, match="non-numeric or missing price in row 2"):
        read_price_csv(bad)


def test_mapping_keys_are_checked_and_named() -> None:
    with pytest.raises(ConfigError, match="missing key 'currency'"):
        tariff_from_mapping({"energy": 0.3})
    with pytest.raises(ConfigError, match="unknown key 'standing'"):
        tariff_from_mapping({"currency": "EUR", "energy": 0.3, "standing": 1})
    with pytest.raises(ConfigError, match="exactly one of"):
        tariff_from_mapping({"currency": "EUR", "energy": 0.3, "retail": 0.3})
    with pytest.raises(ConfigError, match="vat"):
        tariff_from_mapping({"currency": "EUR", "energy": 0.3, "vat": 19})
    with pytest.raises(ConfigError, match=r"tariff.energy: unknown key 'peak'"):
        tariff_from_mapping({"currency": "EUR", "energy": {"type": "tou", "peak": 1}})
    t = tariff_from_mapping({"currency": "EUR", "retail": 0.3, "feed_in": 0.1})
    assert t.energy_rate.price == 0.3 and t.feed_in_rate.price == 0.1 and t.vat == 0.0


@pytest.mark.parametrize("name", SHIPPED_TARIFFS)
def test_shipped_tariffs_load_and_round_trip_to_dict(name: str) -> None:
    t = shipped_tariff(name)
    assert t.name == name
    d = t.to_dict()
    assert d["currency"] == t.currency
    again = tariff_from_mapping({k: v for k, v in d.items() if v is not None and k != "local_network"})
    idx = pd.date_range("2024-01-01", periods=24 * 8, freq="1h", tz="UTC")
    for a, b in zip(energy_prices(t, idx), energy_prices(again, idx), strict=True):
        np.testing.assert_allclose(a, b)


def test_de_household_gross_price() -> None:
    t = shipped_tariff("de-household")
    retail, feed_in = energy_prices(t, pd.date_range("2024-01-01", periods=1, freq="1h", tz=BERLIN))
    assert retail[0] == pytest.approx((0.16 + 0.11 + 0.0205) * 1.19)
    assert feed_in[0] == pytest.approx(0.0803)


def test_citylearn_tou_file_reproduces_the_dataset_price() -> None:
    from peergrid.data import load_citylearn

    price = load_citylearn().retail_price
    retail, _ = energy_prices(shipped_tariff("citylearn"), price.index.tz_convert("Etc/GMT+8"))
    differ = np.abs(retail - price.to_numpy()) > 1e-9
    assert differ.sum() == 2  # the data switch season at 23:00 on 31 May and 30 Sep (UTC-8)


def test_milford_haven_tou_file_equals_the_builder() -> None:
    from peergrid.data.milford_haven import milford_haven_community

    com = milford_haven_community("2019-04-16", 1, "30min")
    retail, feed_in = energy_prices(read_tariff(_shipped("milford-haven")), com.index.tz_convert("Europe/London"))
    np.testing.assert_allclose(retail, com.retail)
    np.testing.assert_allclose(feed_in, com.feed_in)


def _shipped(name: str):
    from peergrid.market import tariff as mod

    return mod._shipped_dir() / f"{name}.toml"


def test_tariff_rejects_bad_values() -> None:
    with pytest.raises(ConfigError, match="currency"):
        Tariff(currency="", energy=0.3)
    with pytest.raises(ConfigError, match="standing_per_day"):
        Tariff(currency="EUR", energy=0.3, standing_per_day=-1)
    with pytest.raises(ConfigError, match="export_limit_kw"):
        Tariff(currency="EUR", energy=0.3, export_limit_kw=float("nan"))
    with pytest.raises(ConfigError, match="start/end"):
        Period(0.1, start=5, end=5)
    # a negative price is named as such (it used to say "expected a price (number) or a table")
    with pytest.raises(ConfigError, match=r"tariff\.energy: price must be a number >= 0, got -0\.1"):
        tariff_from_mapping({"currency": "EUR", "energy": -0.1})
    with pytest.raises(ConfigError, match=r"expected a price .* got 'abc'"):
        tariff_from_mapping({"currency": "EUR", "energy": "abc"})
