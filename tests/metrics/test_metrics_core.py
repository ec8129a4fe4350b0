"""Metrics against hand-computed values (Lange eqs. 1, 5–8; Tooki et al. eqs. 14–18)."""

import math

import numpy as np
import pytest

from peergrid import metrics as M


def test_lange_rates():
    assert M.self_sufficiency(100.0, 25.0) == pytest.approx(0.75)  # eq. 6
    assert M.self_consumption(40.0, 10.0) == pytest.approx(0.75)  # eq. 5
    assert M.cost_reduction(80.0, 100.0) == pytest.approx(0.20)  # eq. 7
    assert M.cost_reduction(-5.0, -4.0) == pytest.approx(0.25)  # revenue grows by a quarter
    assert math.isnan(M.self_consumption(0.0, 0.0))


def test_performance_measure_eq8():
    assert M.performance_measure(15.0, 10.0, 30.0) == pytest.approx(0.25)
    assert M.performance_measure(10.0, 10.0, 30.0) == 0.0
    assert M.performance_measure(30.0, 10.0, 30.0) == 1.0
    assert M.performance_measure(5.0, 10.0, 30.0) == pytest.approx(-0.25)  # not clipped


def test_sharing_contribution_rate_eq1():
    cu = np.array([[1.0, 3.0, 0.0], [1.0, 1.0, 0.0]])
    np.testing.assert_allclose(M.sharing_contribution_rate(cu), [1 / 3, 2 / 3, 0.0])
    np.testing.assert_allclose(M.sharing_contribution_rate(cu, tau_c=0.1), [0.3, 0.6, 0.0])
    # γ per period weights the second period double: (1+2, 3+2) / 8
    np.testing.assert_allclose(M.sharing_contribution_rate(cu, gamma=np.array([1.0, 2.0])), [3 / 8, 5 / 8, 0])
    np.testing.assert_array_equal(M.sharing_contribution_rate(np.zeros(3)), np.zeros(3))


def test_peak_and_fairness():
    assert M.peak_to_average(np.array([1.0, 2.0, 3.0])) == pytest.approx(1.5)
    assert M.jain_index(np.array([1.0, 1.0, 1.0])) == pytest.approx(1.0)
    assert M.jain_index(np.array([1.0, 0.0, 0.0, 0.0])) == pytest.approx(0.25)
    assert M.jain_index(np.array([2.0, -1.0])) == pytest.approx(0.5)


def test_tooki_eqs_14_to_18():
    assert M.power_w(230.0, 10.0) == pytest.approx(2300.0)  # eq. 14
    assert M.energy_kwh(2300.0, 2.0) == pytest.approx(4.6)  # eq. 15
    assert M.energy_cost(4.6, 50.0) == pytest.approx(230.0)  # eq. 16 (NGN)
    np.testing.assert_allclose(M.energy_cost(np.array([1.0, 2.0]), np.array([0.2, 0.5])), [0.2, 1.0])
    assert M.efficiency_pct(90.0, 100.0) == pytest.approx(90.0)  # eq. 17
    assert M.process_efficiency_pct(4.5, 5.0) == pytest.approx(90.0)  # eq. 18


def test_ess_utilisation():
    u = M.ess_utilisation(1000.0, 900.0, 10.0)
    assert u["ess_charged_mwh"] == pytest.approx(1.0)
    assert u["ess_equivalent_cycles"] == pytest.approx(90.0)
    assert u["ess_efficiency_pct"] == pytest.approx(90.0)
