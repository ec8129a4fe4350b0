"""Scenario ``[tariff]``: no silent defaults, old keys, full model, tariff files (issue 18, finding 3)."""

from __future__ import annotations

import tomllib

import numpy as np
import pandas as pd
import pytest

from peergrid import ConfigError
from peergrid.core.community import Community
from peergrid.market.tariff import apply_tariff, energy_prices, shipped_tariff
from peergrid.simulate.scenario import build, scenario_from_dict

LOAD = pd.DataFrame(
    {"a": [1.0, 0.5, 0.2, 0.8], "b": [0.3, 0.3, 0.3, 0.3]},
    index=pd.date_range("2024-03-30 23:00", periods=4, freq="1h", tz="UTC"),
)


def csv_dir(tmp_path, tariff: str | None) -> str:
    LOAD.to_csv(tmp_path / "load.csv")
    text = 'name = "mine"\n[community]\nsource = "csv"\nload = "load.csv"\n' + (tariff or "")
    path = tmp_path / "mine.toml"
    path.write_text(text)
    return str(path)


def build_file(path: str) -> Community:
    with open(path, "rb") as fh:
        return build(scenario_from_dict(tomllib.load(fh), path), path)


def test_csv_without_tariff_is_an_error_naming_the_key(tmp_path) -> None:
    """Issue 18 finding 1/3: a missing [tariff] silently applied the Californian TOU in USD to csv data."""
    path = csv_dir(tmp_path, None)
    with pytest.raises(ConfigError, match=r"\[tariff\] is required for source = 'csv'") as exc:
        build_file(path)
    assert "mine.toml" in str(exc.value) and "de-household" in str(exc.value)


def test_csv_numeric_tariff_needs_a_currency(tmp_path) -> None:
    path = csv_dir(tmp_path, "[tariff]\nretail = 0.3\nfeed_in = 0.1\n")
    with pytest.raises(ConfigError, match=r"\[tariff\]\.currency is required"):
        build_file(path)


def test_csv_old_keys_with_currency_are_a_flat_tariff(tmp_path) -> None:
    com = build_file(csv_dir(tmp_path, '[tariff]\ncurrency = "CHF"\nretail = 0.3\nfeed_in = 0.1\n'))
    assert com.currency == "CHF" and com.tariff is not None and com.tariff.name == "flat"
    np.testing.assert_allclose(com.retail, 0.3)
    np.testing.assert_allclose(com.feed_in, 0.1)
    assert com.summary()["tariff"]["name"] == "flat" and com.summary()["tariff"]["currency"] == "CHF"


def test_csv_with_a_shipped_tariff_by_name(tmp_path) -> None:
    com = build_file(_top(tmp_path, 'tariff = "de-household"'))
    assert com.currency == "EUR" and com.tariff.name == "de-household"
    np.testing.assert_allclose(com.retail, (0.16 + 0.11 + 0.0205) * 1.19)
    np.testing.assert_allclose(com.feed_in, 0.0803)


def _top(tmp_path, line: str) -> str:
    LOAD.to_csv(tmp_path / "load.csv")
    path = tmp_path / "mine.toml"
    path.write_text(f'name = "mine"\n{line}\n[community]\nsource = "csv"\nload = "load.csv"\n')
    return str(path)


def test_csv_with_a_tariff_file_relative_to_the_scenario_and_overrides(tmp_path) -> None:
    (tmp_path / "tariffs").mkdir()
    (tmp_path / "tariffs" / "coop.toml").write_text(
        'currency = "EUR"\nenergy = 0.20\nnetwork = 0.10\nlocal_network = 0.02\nvat = 0.10\nfeed_in = 0.06\n'
        "standing_per_day = 0.3\n"
    )
    com = build_file(_top(tmp_path, 'tariff = "tariffs/coop.toml"'))
    assert com.tariff.name == "coop" and com.tariff.local_network_rate.price == 0.02
    np.testing.assert_allclose(com.retail, 0.33)
    # a [tariff] table with file = ... and keys that change it
    com2 = build_file(csv_dir(tmp_path, '[tariff]\nfile = "tariffs/coop.toml"\nexport_limit_kw = 4.0\n'))
    assert com2.tariff.export_limit_kw == 4.0 and com2.tariff.standing_per_day == 0.3
    with pytest.raises(ConfigError, match=r"tariff file .*nope\.toml not found; shipped tariffs are"):
        build_file(_top(tmp_path, 'tariff = "nope.toml"'))


def test_csv_full_model_inline_tou_and_dynamic(tmp_path) -> None:
    tariff = (
        '[tariff]\ncurrency = "EUR"\nnetwork = 0.05\nvat = 0.2\nfeed_in = 0.04\n'
        '[tariff.energy]\ntype = "tou"\ndefault = 0.10\nperiods = [{start = 0, end = 1, price = 0.30}]\n'
    )
    com = build_file(csv_dir(tmp_path, tariff))
    # the csv community is in UTC here: steps at 23, 00, 01, 02 h
    np.testing.assert_allclose(com.retail, np.array([0.15, 0.35, 0.15, 0.15]) * 1.2)
    (tmp_path / "prices.csv").write_text(
        "time,price\n2024-03-30T23:00Z,0.1\n2024-03-31T00:00Z,0.2\n2024-03-31T01:00Z,0.3\n2024-03-31T02:00Z,0.4\n"
    )
    com = build_file(csv_dir(tmp_path, '[tariff]\ncurrency = "EUR"\ndynamic = "prices.csv"\n'))
    np.testing.assert_allclose(com.retail, [0.1, 0.2, 0.3, 0.4])
    assert com.tariff.to_dict()["energy"]["source"] == "prices.csv"


def test_tou_of_a_scenario_tariff_follows_the_community_clock(tmp_path) -> None:
    """TOU periods are matched in Community.tz (Europe/Berlin across the 31 March 2024 DST change)."""
    sc = scenario_from_dict(
        {"community": {"source": "csv", "load": "load.csv"},
         "tariff": {"currency": "EUR", "energy": {"type": "tou", "default": 0.1,
                                                  "periods": [{"start": 3, "end": 4, "price": 0.3}]}}}
    )  # fmt: skip
    com = Community.from_frames(LOAD, tz="Europe/Berlin", retail=0.0, feed_in=0.0)
    berlin = apply_tariff(com, sc.resolve_tariff(com))
    assert list(berlin.local_index.hour) == [0, 1, 3, 4]
    np.testing.assert_allclose(berlin.retail, [0.1, 0.1, 0.3, 0.1])


def test_unknown_and_conflicting_keys_are_named() -> None:
    with pytest.raises(ConfigError, match="standing"):
        scenario_from_dict({"tariff": {"standing": 1.0}}, "s.toml")
    with pytest.raises(ConfigError, match="give one of retail, energy, dynamic"):
        scenario_from_dict({"tariff": {"retail": 0.3, "energy": 0.3}}, "s.toml")
    with pytest.raises(ConfigError, match="vat"):
        scenario_from_dict({"tariff": {"vat": 19}}, "s.toml")


def _small(extra: dict | None = None, source: str = "citylearn") -> dict:
    d: dict = {"name": "small", "time": {"periods": 48}, "community": {"source": source}}
    if source == "synthetic":
        d["community"]["households"] = 4
    if extra is not None:
        d["tariff"] = extra
    return d


def test_citylearn_default_is_the_data_sets_own_tariff_unchanged() -> None:
    from peergrid.data import citylearn_community

    com = scenario_from_dict(_small()).build_community()
    ref = citylearn_community(periods=48)
    assert com.tariff.name == "citylearn" and com.currency == "USD"
    np.testing.assert_array_equal(com.retail, ref.retail)
    np.testing.assert_array_equal(com.feed_in, 0.07)
    same = scenario_from_dict(_small({"retail": "citylearn"})).build_community()
    np.testing.assert_array_equal(same.retail, ref.retail)


def test_dataset_defaults_and_changes() -> None:
    flat = scenario_from_dict(_small({"retail": 0.25}, "synthetic")).build_community()
    assert flat.currency == "USD" and flat.tariff.name == "flat"
    np.testing.assert_allclose(flat.retail, 0.25)
    np.testing.assert_allclose(flat.feed_in, 0.07)
    vat = scenario_from_dict(_small({"vat": 0.1, "feed_in": 0.05})).build_community()
    assert vat.tariff.name == "citylearn"
    ref = scenario_from_dict(_small()).build_community()
    np.testing.assert_allclose(vat.retail, ref.retail * 1.1)
    np.testing.assert_allclose(vat.feed_in, 0.05)
    with pytest.raises(ConfigError, match="does not match the citylearn tariff's 'USD'"):
        scenario_from_dict(_small({"currency": "EUR"})).build_community()


def test_milford_haven_default_tariff_is_named_gbp_and_local() -> None:
    sc = scenario_from_dict({"community": {"source": "milford-haven"}, "time": {"freq": "30min"}})
    com = sc.build_community()
    assert com.tariff.name == "milford-haven" and com.currency == "GBP" and com.tz == "Europe/London"
    assert np.flatnonzero(com.retail == 0.30).tolist() == list(range(32, 38))  # 16:00-19:00 local
    with pytest.raises(ConfigError, match="applies to source = 'milford-haven' only"):
        scenario_from_dict(_small({"retail": "milford-haven"})).build_community()


def test_csv_citylearn_tou_is_the_shipped_tou_in_local_time(tmp_path) -> None:
    com = build_file(csv_dir(tmp_path, '[tariff]\nretail = "citylearn"\n'))
    assert com.currency == "USD" and com.tariff.name == "citylearn"
    retail, _ = energy_prices(shipped_tariff("citylearn"), com.local_index)
    np.testing.assert_allclose(com.retail, retail)


def test_scenario_tou_in_time_tz_across_dst_with_naive_local_meter_data(tmp_path) -> None:
    """[time] tz = Europe/Berlin: naive meter times are local, and so are the TOU hours (31 March 2024)."""
    (tmp_path / "load.csv").write_text(
        "time,a,b\n2024-03-31 00:00,1,1\n2024-03-31 01:00,1,1\n2024-03-31 03:00,1,1\n2024-03-31 04:00,1,1\n"
    )
    (tmp_path / "prices.csv").write_text(  # naive day-ahead prices, EUR/MWh, local time
        "time,price\n2024-03-31 00:00,100\n2024-03-31 01:00,80\n2024-03-31 03:00,120\n2024-03-31 04:00,90\n"
    )
    head = 'name = "dst"\n[time]\ntz = "Europe/Berlin"\n[community]\nsource = "csv"\nload = "load.csv"\n'
    (tmp_path / "tou.toml").write_text(
        head + '[tariff]\ncurrency = "EUR"\nfeed_in = 0.0\n[tariff.energy]\ntype = "tou"\ndefault = 0.1\n'
        "periods = [{start = 3, end = 4, price = 0.3}]\n"
    )
    com = build_file(str(tmp_path / "tou.toml"))
    assert com.tz == "Europe/Berlin" and list(com.local_index.hour) == [0, 1, 3, 4]
    np.testing.assert_allclose(com.retail, [0.1, 0.1, 0.3, 0.1])
    (tmp_path / "dyn.toml").write_text(
        head + '[tariff]\ncurrency = "EUR"\n[tariff.energy]\ntype = "dynamic"\nfile = "prices.csv"\nunit = "MWh"\n'
    )
    com = build_file(str(tmp_path / "dyn.toml"))
    np.testing.assert_allclose(com.retail, [0.10, 0.08, 0.12, 0.09])
