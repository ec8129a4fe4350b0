"""Cost–benefit analysis of a simulated community (peergrid.economics.appraise): hand-computed cases."""

import math

import numpy as np
import pandas as pd
import pytest

import peergrid
from peergrid.core.errors import ConfigError
from peergrid.core.timeindex import make_index
from peergrid.data import synthetic_community
from peergrid.economics import (
    CostAssumptions,
    PlatformTraffic,
    annuity_factor,
    appraise,
    discount_factors,
    investment_boundary,
    member_bills,
    pv_share,
)

FREE = dict(inverter_cost_per_kw=0.0, pv_om=0.0, pv_degradation=0.0, battery_om=0.0, battery_degradation=0.0,
            wind_om=0.0, wind_degradation=0.0, platform_fixed=0.0, platform_per_member=0.0,
            platform_opex_per_member=0.0, platform=PlatformTraffic(eps_c1=0.0, eps_c2=0.0))  # fmt: skip


def _day(pv=(2.0, 0.0), wind=(0.0, 0.0)):
    """Two members for one day: a consumes 1 kWh/h and generates 2 kWh/h from 10 to 14 h; b consumes 1 kWh/h."""
    idx = make_index("2022-06-01", 24, "1h")
    load = np.ones((24, 2))
    gen = np.zeros((24, 2))
    gen[10:14, 0] = 2.0
    parts = pd.DataFrame({"id": ["a", "b"], "pv_kwp": list(pv), "wind_kw": list(wind)})
    return peergrid.Community(idx, parts, load, gen, retail=0.3, feed_in=0.05, currency="USD")


def test_pv_only_member_by_hand():
    res = peergrid.simulate(_day(), market="baseline", control="none")
    a = CostAssumptions(lifetime=10, pv_lifetime=10, discount_rate=0.1, pv_cost_per_kwp=1000.0, **FREE)
    ap = appraise(res, a)
    assert ap.annual_factor == pytest.approx(365.0)
    bills = member_bills(res)
    # a: 24 kWh from the grid = 7.20; with PV: 20 kWh bought (6.00), 4 kWh sold (0.20) → 5.80
    assert bills.loc["a", "grid"] == pytest.approx(7.2)
    assert bills.loc["a", "generation"] == pytest.approx(5.8)
    assert bills.loc["a", "assets"] == pytest.approx(5.8) and bills.loc["a", "p2p"] == pytest.approx(5.8)
    m = ap.member_table()
    saving = 1.4 * 365  # 511 a year
    assert m.loc["a", "savings"] == pytest.approx(saving)
    assert m.loc["a", "capex"] == pytest.approx(2000.0)
    assert m.loc["a", "npv"] == pytest.approx(-2000 + saving * annuity_factor(0.1, 10))  # 1139.88
    assert m.loc["a", "payback"] == pytest.approx(2000 / saving)  # 3.914 years
    energy = 8.0 * 365  # 2920 kWh a year
    assert m.loc["a", "lcoe"] == pytest.approx(2000 / (energy * annuity_factor(0.1, 10)))
    assert m.loc["a", "ib"] == pytest.approx(2000 / (energy * 10))  # eq. 9: 0.0685
    # b has nothing and the baseline has no platform: no costs, no savings
    assert m.loc["b", "capex"] == 0 and m.loc["b", "npv"] == pytest.approx(0.0, abs=1e-9)
    assert math.isnan(m.loc["b", "lcoe"])
    tech = ap.technology_table()
    assert math.isnan(tech.loc["wind", "payback"]) and tech.loc["platform", "capex"] == 0


def test_eq9_investment_boundary_by_hand():
    assert investment_boundary(6000, 1250, 1500, 112500) == pytest.approx(8750 / 112500)
    assert math.isnan(investment_boundary(1.0, 0.0, 0.0, 0.0))


def test_replacement_salvage_and_degradation_by_hand():
    res = peergrid.simulate(_day(), market="baseline", control="none")
    a = CostAssumptions(lifetime=10, pv_lifetime=10, discount_rate=0.0, pv_cost_per_kwp=1000.0,
                        **{**FREE, "inverter_cost_per_kw": 100.0, "pv_degradation": 0.1})  # fmt: skip
    a = CostAssumptions(**{**a.to_dict(), "inverter_lifetime": 4, "platform": a.platform})
    ap = appraise(res, a)
    pv = ap.flows["pv"]
    # inverter 200 at year 0, replaced at the end of years 4 and 8; the last one has 2 of its 4 years left at 10
    assert pv["investment"][0].tolist() == [2200, 0, 0, 0, 200, 0, 0, 0, 200, 0, 0]
    assert pv["salvage"][0, 10] == pytest.approx(100.0)
    # savings decline 10 %/yr from the first year
    assert pv["savings"][0, 1:4] == pytest.approx(511 * np.array([1.0, 0.9, 0.81]))
    # IB (eq. 9): CI 2000, IC 3·200 − 100, MC 0, lifetime generation Σ 2920·0.9^k
    gen = 2920 * np.sum(0.9 ** np.arange(10))
    assert ap.member_table().loc["a", "ib"] == pytest.approx((2000 + 500) / gen)


def test_platform_p2p_savings_and_shares():
    com = _day()
    res = peergrid.simulate(com, market="mmr", control="none")
    a = CostAssumptions(lifetime=5, discount_rate=0.05, platform_fixed=100.0, platform_per_member=10.0,
                        platform_opex_per_member=4.0, platform=PlatformTraffic(eps_c1=0.0, eps_c2=0.0))  # fmt: skip
    ap = appraise(res, a)
    bills = member_bills(res)
    m = ap.member_table()
    # b buys a's 4 kWh surplus at the mid-market rate (0.3 + 0.05)/2 = 0.175 instead of 0.30: saves 0.50 a day
    assert bills.loc["b", "assets"] - bills.loc["b", "p2p"] == pytest.approx(4 * (0.3 - 0.175))
    assert m.loc["b", "savings_p2p"] == pytest.approx(0.5 * 365)
    # platform shared equally: 100/2 + 10 each, 4 a year each
    assert ap.flows["platform"]["investment"][:, 0] == pytest.approx([60.0, 60.0])
    assert ap.flows["platform"]["om"][:, 1] == pytest.approx([4.0, 4.0])
    # the parts add up to grid − p2p
    total = (bills["grid"] - bills["p2p"]) * 365
    parts = m["savings_generation"] + m["savings_battery"] + m["savings_p2p"]
    assert parts.to_numpy() == pytest.approx(total.to_numpy())


def test_members_add_up_to_the_community_and_lcoe_identity():
    com = synthetic_community(12, periods=72, freq="1h", pv_share=0.6, battery_share=0.5, seed=4)
    ap = appraise(peergrid.simulate(com, market="sdr"), CostAssumptions(exchange_rate=1.0))
    m, t = ap.member_table(), ap.technology_table()
    assert m["npv"].sum() == pytest.approx(t.loc["total", "npv"], rel=1e-9)
    assert m["capex"].sum() == pytest.approx(t.loc["total", "capex"], rel=1e-9)
    per_tech = m[["npv_pv", "npv_battery", "npv_wind", "npv_platform"]].sum(axis=1)
    assert per_tech.to_numpy() == pytest.approx(m["npv"].to_numpy(), rel=1e-9, abs=1e-6)
    assert m["npv_battery"].sum() == pytest.approx(t.loc["battery", "npv"], rel=1e-9)
    assert t.loc[["pv", "battery", "wind", "platform"], "npv"].sum() == pytest.approx(t.loc["total", "npv"], rel=1e-9)
    cf = ap.cash_flow_table()
    assert cf["cumulative_discounted"].iloc[-1] == pytest.approx(t.loc["total", "npv"], rel=1e-9)
    d = discount_factors(ap.rate, ap.years)
    cost = ap.cost("pv").sum(axis=0)
    energy = ap.flows["pv"]["energy"].sum(axis=0)
    assert t.loc["pv", "lcoe"] * (energy @ d) == pytest.approx(cost @ d, rel=1e-9)
    payload = ap.to_dict()
    assert set(payload["members"]) == set(com.ids)
    assert payload["community"]["npv"] == pytest.approx(t.loc["total", "npv"])


def test_wind_members_and_split():
    com = _day(pv=(0.0, 0.0), wind=(2.0, 0.0))
    assert pv_share(com).tolist() == [0.0, 1.0]
    ap = appraise(peergrid.simulate(com, market="baseline", control="none"),
                  CostAssumptions(lifetime=10, wind_lifetime=10, wind_cost_per_kw=1000.0, **FREE))  # fmt: skip
    t = ap.technology_table()
    assert t.loc["wind", "capex"] == 2000 and t.loc["pv", "capex"] == 0
    assert t.loc["wind", "savings"] == pytest.approx(511.0)
    both = _day(pv=(1.0, 0.0), wind=(1.0, 0.0))  # full-load hours 1000 vs 2000: a third from PV
    assert pv_share(both)[0] == pytest.approx(1 / 3)


def test_currency_mismatch_needs_an_exchange_rate():
    com = _day()
    com.currency = "EUR"
    res = peergrid.simulate(com, market="sdr", control="none")
    with pytest.raises(ConfigError, match="exchange_rate"):
        appraise(res, CostAssumptions())
    a = appraise(res, CostAssumptions(exchange_rate=0.5, pv_cost_per_kwp=1000.0, **FREE))
    assert a.member_table().loc["a", "capex"] == pytest.approx(1000.0)  # 2 kWp · 1000 USD · 0.5 EUR/USD


@pytest.mark.parametrize(
    "extra",
    [{}, {"demand_per_kw_month": 5.0, "export_limit_kw": 1.0}],
    ids=["linear-tariff", "demand-charge-and-export-limit"],
)
def test_member_bills_equal_the_tariffs_bill_components(extra):
    from peergrid.market.tariff import Tariff, apply_tariff, bill_components

    tariff = Tariff(currency="USD", energy=0.25, network=0.08, tax_per_kwh=0.02, vat=0.19, standing_per_day=0.3,
                    feed_in=0.06, **extra)  # fmt: skip
    com = apply_tariff(synthetic_community(8, periods=96 * 3, freq="15min", pv_share=0.5, battery_share=0.5, seed=2),
                       tariff)  # fmt: skip
    res = peergrid.simulate(com, market="mmr")
    bills = member_bills(res)

    def total(imp, exp):
        return bill_components(tariff, com.index, com.tz, imp, exp)["total"].to_numpy()

    own = com.load - com.generation
    assert bills["grid"].to_numpy() == pytest.approx(total(com.load, np.zeros_like(com.load)))
    assert bills["generation"].to_numpy() == pytest.approx(total(np.maximum(own, 0), np.maximum(-own, 0)))
    assert bills["assets"].to_numpy() == pytest.approx(total(np.maximum(res.net, 0), np.maximum(-res.net, 0)))
    assert bills["p2p"].to_numpy() == pytest.approx(res.bills()["total"].to_numpy())


def test_eq9_ib_is_the_undiscounted_lcoe_of_the_generation():
    com = synthetic_community(10, periods=48, freq="1h", pv_share=0.6, battery_share=0.3, seed=5)
    res = peergrid.simulate(com, market="sdr")
    m = appraise(res, CostAssumptions(discount_rate=0.0, lifetime=30)).member_table()
    gen = m["pv_kwp"] > 0
    assert gen.any()
    assert m.loc[gen, "ib"].to_numpy() == pytest.approx(m.loc[gen, "lcoe"].to_numpy(), rel=1e-12)
    # discounting makes the LCOE the larger (costs come first, energy later)
    m5 = appraise(res, CostAssumptions(discount_rate=0.05, lifetime=30)).member_table()
    assert np.all(m5.loc[gen, "lcoe"].to_numpy() > m5.loc[gen, "ib"].to_numpy())
