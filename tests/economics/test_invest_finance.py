"""Discounted cash flow (peergrid.economics.finance): hand-computed values and properties."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from peergrid.core.errors import ConfigError
from peergrid.economics import (
    annuity_factor,
    capital_recovery_factor,
    cumulative,
    discount_factors,
    lcoe,
    npv,
    payback,
)


def test_npv_by_hand():
    # -1000 + 300/1.08 + 300/1.08² + … + 300/1.08⁵ = -1000 + 300 · 3.99271 = 197.81
    assert npv([-1000, 300, 300, 300, 300, 300], 0.08) == pytest.approx(197.8130, abs=1e-4)
    # no discounting: the plain sum
    assert npv([-1000, 300, 300, 300, 300, 300], 0.0) == pytest.approx(500.0)
    # vectorised over leading axes
    out = npv(np.array([[-100.0, 110.0], [-100.0, 121.0]]), 0.1)
    assert out == pytest.approx([0.0, 10.0])


def test_annuity_and_capital_recovery_by_hand():
    # (1 − 1.05^−20) / 0.05 = 12.46221
    assert annuity_factor(0.05, 20) == pytest.approx(12.462210, abs=1e-6)
    assert annuity_factor(0.0, 7) == 7.0
    assert capital_recovery_factor(0.05, 20) == pytest.approx(0.0802426, abs=1e-7)
    assert discount_factors(0.1, 2) == pytest.approx([1.0, 1 / 1.1, 1 / 1.21])
    with pytest.raises(ConfigError):
        discount_factors(-1.0, 3)


def test_lcoe_by_hand():
    # costs 1000 + 20/1.1 + 20/1.21 = 1034.7107; energy 1000/1.1 + 1000/1.21 = 1735.5372
    assert lcoe([1000, 20, 20], [0, 1000, 1000], 0.1) == pytest.approx(1034.7107 / 1735.5372, rel=1e-6)
    assert math.isnan(lcoe([1000, 20], [0, 0], 0.1))


def test_payback_by_hand():
    # cumulative -1000, -700, -400, -100, +200: 3 + 100/300 years
    assert payback([-1000, 300, 300, 300, 300]) == pytest.approx(3 + 1 / 3)
    # discounted at 5 %: cumulative -714.29, -442.18, -183.03, +63.79 → 3 + 183.03/246.81
    d = 300 / 1.05 ** np.arange(1, 5)
    c = -1000 + np.cumsum(d)
    assert payback([-1000, 300, 300, 300, 300], 0.05) == pytest.approx(3 + -c[2] / d[3])
    assert payback([-1000, 100, 100]) == math.inf
    assert payback([0, 5, 5]) == 0.0
    # a later dip (replacement) does not undo the first payback
    assert payback([-100, 150, -200, 10]) == pytest.approx(100 / 150)


flows = st.lists(st.floats(min_value=1.0, max_value=1e4), min_size=1, max_size=30)


@settings(max_examples=60, deadline=None)
@given(capex=st.floats(min_value=0.0, max_value=1e5), savings=flows,
       r1=st.floats(min_value=0.0, max_value=0.3), dr=st.floats(min_value=1e-3, max_value=0.3))  # fmt: skip
def test_npv_decreases_with_the_discount_rate_when_savings_are_positive(capex, savings, r1, dr):
    cf = np.array([-capex, *savings])
    assert npv(cf, r1 + dr) < npv(cf, r1)


@settings(max_examples=60, deadline=None)
@given(costs=st.lists(st.floats(min_value=0.0, max_value=1e5), min_size=2, max_size=30),
       energy=st.floats(min_value=1.0, max_value=1e6), rate=st.floats(min_value=-0.05, max_value=0.3))  # fmt: skip
def test_lcoe_times_discounted_energy_is_the_discounted_cost(costs, energy, rate):
    c = np.array(costs)
    e = np.r_[0.0, np.full(len(c) - 1, energy)]
    d = discount_factors(rate, len(c) - 1)
    assert lcoe(c, e, rate) * (e @ d) == pytest.approx(c @ d, rel=1e-9, abs=1e-6)


@settings(max_examples=80, deadline=None)
@given(cf=st.lists(st.floats(min_value=-1e4, max_value=1e4), min_size=2, max_size=25),
       rate=st.one_of(st.none(), st.floats(min_value=0.0, max_value=0.2)))  # fmt: skip
def test_payback_is_where_the_cumulative_flow_changes_sign(cf, rate):
    pb = payback(cf, rate)
    c = cumulative(cf, rate)
    if math.isinf(pb):
        assert np.all(c < 0)
        return
    if pb == 0.0:
        assert c[0] >= 0
        return
    k = int(np.argmax(c >= 0))  # first year the cumulative flow is non-negative
    assert c[k] >= 0 and np.all(c[:k] < 0)
    assert k - 1 <= pb <= k
    # linear interpolation inside year k: the straight line from c[k - 1] to c[k] crosses zero at pb
    frac = pb - (k - 1)
    assert c[k - 1] + frac * (c[k] - c[k - 1]) == pytest.approx(0.0, abs=1e-6 * max(1.0, abs(c[k - 1]), abs(c[k])))
