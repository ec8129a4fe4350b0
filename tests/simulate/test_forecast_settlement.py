"""Trading on forecasts: energy and money balances per slot, perfect = today's behaviour, persistence.

Terms, per slot t (p planned net, a realised net, δ = a − p per member; I, E the market's planned
grid import and export; G(x) = λb·max(x, 0) − λs·max(−x, 0)):

* energy: a_i = bought_i − sold_i + grid_import_i − grid_export_i + δ_i for every member, and
  Σ_i a_i = (I − E) + Σ_i δ_i = the realised exchange at the point of common coupling;
* money: Σ_i (market bill_i + imbalance charge_i) = G(Σ_i a_i) + operator fees + supplier margin,
  imbalance charge_i = λb·max(δ_i, 0) − λs·max(−δ_i, 0), supplier margin ≥ 0 (λb ≥ λs).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import peergrid
from peergrid.data import synthetic_community
from peergrid.simulate import Comparison
from peergrid.simulate.faults import Fault
from peergrid.simulate.forecasting import forecast_view

ATOL = 1e-9


def _grid_bill(x, retail, feed_in):
    return np.maximum(x, 0.0) * retail - np.maximum(-x, 0.0) * feed_in


@settings(max_examples=12, deadline=None)
@given(
    n=st.integers(2, 8),
    days=st.integers(2, 16),
    seed=st.integers(0, 10_000),
    forecaster=st.sampled_from(["persistence", "ridge", "fedavg"]),
    market=st.sampled_from(["bs", "mmr", "sdr", "uniform", "pay-as-bid", "bilateral"]),
    control=st.sampled_from(["none", "greedy"]),
)
def test_energy_and_money_balance_every_slot(n, days, seed, forecaster, market, control):
    com = synthetic_community(n, periods=24 * days, freq="1h", seed=seed, pv_share=0.6, battery_share=0.5)
    opts = {"min_train_days": 2, "train_days": 5, "rounds": 3}
    res = peergrid.simulate(
        com, market=market, control=control, forecaster=forecaster, forecast_options=opts,
        bidding="zero-intelligence", seed=seed,
    )  # fmt: skip
    fc = res.forecast
    view = forecast_view(com, forecaster, opts)
    delta = fc.imbalance
    np.testing.assert_allclose(delta, com.net - view.net, atol=ATOL)
    planned = res.net
    realised = planned + delta
    np.testing.assert_allclose(realised, res.battery.apply(com.net), atol=ATOL)  # batteries follow the plan
    c, a = res.clearing, res.allocation()
    retail, feed_in = com.retail, com.feed_in
    # energy, per member and per slot
    np.testing.assert_allclose(realised, a.bought - a.sold + a.grid_import - a.grid_export + delta, atol=ATOL)
    pcc = realised.sum(axis=1)
    np.testing.assert_allclose(pcc, c.grid_import - c.grid_export + delta.sum(axis=1), atol=ATOL)
    # money, per slot
    charge = np.maximum(delta, 0.0) * retail[:, None] - np.maximum(-delta, 0.0) * feed_in[:, None]
    payments = a.bill.sum(axis=1) + charge.sum(axis=1)
    margin = payments - _grid_bill(pcc, retail, feed_in) - c.fees
    g_plan = _grid_bill(planned.sum(axis=1), retail, feed_in)
    planned_margin = retail * c.grid_import - feed_in * c.grid_export - g_plan  # unmatched orders
    imbalance_margin = charge.sum(axis=1) - (_grid_bill(pcc, retail, feed_in) - g_plan)
    np.testing.assert_allclose(margin, planned_margin + imbalance_margin, atol=1e-8)
    assert margin.min() >= -1e-9
    bal = fc.balance(c, planned)
    np.testing.assert_allclose(bal["supplier_margin"], margin, atol=1e-8)
    np.testing.assert_allclose(bal["realised_net"], pcc, atol=ATOL)
    # the member bills carry the charge, in the participants table and in bills()
    parts = res.participants
    np.testing.assert_allclose(parts["bill"], a.bill.sum(axis=0) + charge.sum(axis=0), atol=1e-8)
    np.testing.assert_allclose(parts["imbalance_charge"], charge.sum(axis=0), atol=1e-8)
    bills = res.bills()
    np.testing.assert_allclose(bills["imbalance"].to_numpy(), charge.sum(axis=0), atol=1e-8)
    m = res.metrics
    assert m["imbalance_cost"] == pytest.approx(charge.sum(), abs=1e-8)
    assert m["imbalance_kwh"] == pytest.approx(np.abs(delta).sum(), abs=1e-8)
    assert m["community_cost"] == pytest.approx(parts["bill"].sum(), abs=1e-7)
    assert m["forecast_mae_kwh"] == pytest.approx(np.abs(com.net - view.net).mean(), abs=1e-12)


def _metrics_equal(a, b):
    return json.dumps(a.summary(), sort_keys=True) == json.dumps(b.summary(), sort_keys=True)


@pytest.mark.parametrize("market", ["sdr", "uniform"])
def test_perfect_forecaster_is_todays_behaviour(market):
    com = synthetic_community(6, periods=24 * 3, freq="1h", seed=5)
    a = peergrid.compare(com, markets=["baseline", market], control="greedy")
    b = peergrid.compare(com, markets=["baseline", market], control="greedy", forecaster="perfect")
    for k in a:
        assert b[k].forecast is None
        assert np.array_equal(a[k].net, b[k].net)
        assert _metrics_equal(a[k], b[k])
        assert a[k].bills().equals(b[k].bills())
        assert a[k].participants.equals(b[k].participants)
        assert a[k].steps.equals(b[k].steps)
        assert "imbalance_kwh" not in b[k].metrics


def test_zero_imbalance_when_the_forecast_is_right():
    """A community that repeats itself every day: persistence is exact from day 1 on."""
    com = synthetic_community(4, periods=24, freq="1h", seed=3)
    rep = synthetic_community(4, periods=24 * 4, freq="1h", seed=3)
    rep.load = np.tile(com.load, (4, 1))
    rep.generation = np.tile(com.generation, (4, 1))
    res = peergrid.simulate(rep, market="sdr", forecaster="persistence")
    d = res.forecast.imbalance
    assert np.all(d[24:] == 0.0) and np.abs(d[:24]).sum() > 0  # day 0: nothing was known
    np.testing.assert_allclose(d[:24], rep.net[:24])


def test_hand_computed_imbalance_charge():
    """Two members, two hourly days; persistence; no batteries: δ = actual − yesterday."""
    import pandas as pd

    idx = pd.date_range("2024-01-01", periods=4, freq="12h", tz="UTC")  # B = 2 steps per day
    load = np.array([[1.0, 0.0], [1.0, 0.0], [2.0, 0.0], [0.5, 0.0]])
    gen = np.array([[0.0, 1.0], [0.0, 1.0], [0.0, 0.5], [0.0, 3.0]])
    parts = pd.DataFrame({"id": ["a", "b"]})
    com = peergrid.Community(idx, parts, load, gen, retail=0.30, feed_in=0.10)
    res = peergrid.simulate(com, market="sdr", control="none", forecaster="persistence")
    np.testing.assert_allclose(res.forecast.imbalance, [[1, -1], [1, -1], [1, 0.5], [-0.5, -2]])
    # charge: a pays 0.3 + 0.3 + 0.3 and gets 0.05; b gets 0.1 + 0.1 + 0.2 and pays 0.15
    np.testing.assert_allclose(res.forecast.member_charge, [0.85, -0.25])
    assert res.metrics["imbalance_cost"] == pytest.approx(0.60)
    assert res.metrics["imbalance_kwh"] == pytest.approx(8.0)


def test_survives_parquet_and_summary(tmp_path):
    com = synthetic_community(5, periods=24 * 3, freq="1h", seed=8)
    cmp = peergrid.compare(com, markets=["baseline", "sdr", "uniform"], forecaster="persistence")
    cmp.to_parquet(tmp_path)
    back = Comparison.from_parquet(tmp_path)
    for k in cmp:
        r0, r1 = cmp[k], back[k]
        np.testing.assert_array_equal(r0.forecast.imbalance, r1.forecast.imbalance)
        assert r1.forecast.forecaster == "persistence"
        assert _metrics_equal(r0, r1)
        np.testing.assert_allclose(r0.bills()["imbalance"], r1.bills()["imbalance"])
        np.testing.assert_allclose(r0.participants["bill"], r1.participants["bill"])
        assert "imbalance" in r1.table().columns
    s = json.loads((tmp_path / "sdr" / "result.json").read_text())
    assert s["forecast"]["forecaster"] == "persistence"
    assert s["metrics"]["forecast"]["imbalance_cost"] == pytest.approx(cmp["sdr"].metrics["imbalance_cost"])


def test_forecasts_and_faults_do_not_combine():
    com = synthetic_community(3, periods=48, freq="1h", seed=1)
    with pytest.raises(peergrid.ConfigError, match="faults"):
        peergrid.simulate(com, forecaster="ridge", faults=[Fault(0, 0, 3, kind="meter")])
    with pytest.raises(peergrid.ConfigError, match="unknown forecaster"):
        peergrid.simulate(com, forecaster="crystal-ball")


def test_price_response_on_forecasts_keeps_the_balances():
    """Coordination (part coord) re-plans on the forecast view; settlement and balances are unchanged."""
    import inspect

    if "coordination" not in inspect.signature(peergrid.compare).parameters:
        pytest.skip("price-response coordination not merged yet")
    com = synthetic_community(5, periods=24 * 4, freq="1h", seed=11, pv_share=0.6, battery_share=0.6)
    opts = {"min_train_days": 1, "train_days": 2}
    cmp = peergrid.compare(
        com, markets=["baseline", "sdr", "uniform"], control="lp", coordination="price-response",
        forecaster="ridge", forecast_options=opts,
    )  # fmt: skip
    view = forecast_view(com, "ridge", opts)
    for res in cmp.values():
        fc = res.forecast
        np.testing.assert_allclose(fc.imbalance, com.net - view.net, atol=ATOL)
        realised = res.net + fc.imbalance
        np.testing.assert_allclose(realised, res.battery.apply(com.net), atol=1e-8)
        c = res.clearing
        np.testing.assert_allclose(realised.sum(axis=1), c.grid_import - c.grid_export + fc.slot_imbalance, atol=1e-8)
        payments = res.allocation().bill.sum(axis=1) + fc.charge().sum(axis=1)
        margin = payments - _grid_bill(realised.sum(axis=1), com.retail, com.feed_in) - c.fees
        assert margin.min() >= -1e-9
        np.testing.assert_allclose(fc.balance(c, res.net)["supplier_margin"], margin, atol=1e-8)
