"""Tooki et al. (2025) eqs. 6–8 and the platform's message traffic (peergrid.economics.communication)."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import peergrid
from peergrid.core.errors import ConfigError
from peergrid.core.timeindex import make_index
from peergrid.economics import (
    PlatformTraffic,
    cloudlet_allocation,
    cloudlet_utilisation,
    communication_cost,
    platform_traffic,
    shannon_rate,
)

BW, PC, SIGMA = 1.4e6, 0.2, 7e7


def test_eq6_communication_cost_by_hand():
    # J = ε_c1 z + ε_c2 z_c²: 0.01 · 2 MB + 0.4 · 0.5² = 0.12
    assert communication_cost(2.0, 0.5, 0.01, 0.4) == pytest.approx(0.12)
    assert communication_cost(np.array([0.0, 1.0]), np.array([1.0, 0.0]), 0.5, 2.0) == pytest.approx([2.0, 0.5])


def test_eq7_cloudlet_utilisation_by_hand():
    # 0.6 · 0.1/0.2 + 0.4 · 0.35/1.4 = 0.3 + 0.1
    assert cloudlet_utilisation(0.1, 0.35e6, 0.2, 1.4e6, eps_s=0.6) == pytest.approx(0.4)
    assert cloudlet_utilisation(0.2, 1.4e6, 0.2, 1.4e6) == pytest.approx(1.0)
    with pytest.raises(ConfigError, match="eps_s \\+ eps_t = 1"):
        cloudlet_utilisation(0.1, 1e5, 0.2, 1.4e6, eps_s=0.5, eps_t=0.6)


def test_eq8_shannon_rate_by_hand():
    # SNR σ·PC/BW = 3e7 · 0.1 / 1e6 = 3 → 1 MHz · log2(4) = 2 Mbit/s
    assert shannon_rate(1e6, 0.1, 3e7) == pytest.approx(2e6)
    # SNR 1 → log2(2) = 1 bit/s/Hz
    assert shannon_rate(2e5, 0.01, 2e7) == pytest.approx(2e5)
    # SNR 10 over 1.4 MHz: 1.4e6 · log2(11) = 4.843 Mbit/s (the default cloudlet's capacity)
    assert shannon_rate(BW, PC, SIGMA) == pytest.approx(1.4e6 * np.log2(11.0))
    assert shannon_rate(0.0, 0.1, 3e7) == 0.0


def test_allocation_corners_by_hand():
    rate = 1e6
    # only power counts (ε_s = 1): the whole bandwidth at the least power, PC = BW (2^(R/BW) − 1)/σ
    a = cloudlet_allocation(rate, bw_max=BW, pc_max=PC, sigma=SIGMA, eps_s=1.0)
    assert a["bw"] == pytest.approx(BW)
    assert a["pc"] == pytest.approx(BW * (2 ** (rate / BW) - 1) / SIGMA, rel=1e-9)
    # only bandwidth counts (ε_s = 0): full power on the least bandwidth
    b = cloudlet_allocation(rate, bw_max=BW, pc_max=PC, sigma=SIGMA, eps_s=0.0)
    assert b["pc"] == pytest.approx(PC, rel=1e-9)
    assert shannon_rate(b["bw"], PC, SIGMA) == pytest.approx(rate, rel=1e-9)
    assert b["bw"] < BW


@settings(max_examples=40, deadline=None)
@given(frac=st.floats(min_value=1e-4, max_value=0.999), eps_s=st.floats(min_value=0.0, max_value=1.0))
def test_allocation_carries_the_rate_at_the_least_utilisation(frac, eps_s):
    cap = shannon_rate(BW, PC, SIGMA)
    rate = frac * cap
    a = cloudlet_allocation(rate, bw_max=BW, pc_max=PC, sigma=SIGMA, eps_s=eps_s)
    assert not a["overloaded"]
    assert a["bw"] <= BW * (1 + 1e-12) and a["pc"] <= PC * (1 + 1e-12)
    assert shannon_rate(a["bw"], a["pc"], SIGMA) == pytest.approx(rate, rel=1e-6)
    assert a["y"] == pytest.approx(cloudlet_utilisation(a["pc"], a["bw"], PC, BW, eps_s))
    # no feasible (BW, PC) on a fine grid does better
    bw = np.linspace(BW / 4000, BW, 4000)
    with np.errstate(over="ignore", invalid="ignore"):
        pc = bw * np.expm1(rate / bw * np.log(2)) / SIGMA
    ok = pc <= PC
    y = eps_s * pc[ok] / PC + (1 - eps_s) * bw[ok] / BW
    assert a["y"] <= y.min() + 1e-6


def test_allocation_overload_and_zero():
    cap = shannon_rate(BW, PC, SIGMA)
    a = cloudlet_allocation(np.array([0.0, 2 * cap]), bw_max=BW, pc_max=PC, sigma=SIGMA)
    assert a["y"][0] == 0.0 and not a["overloaded"][0]
    assert a["overloaded"][1] and a["y"][1] == pytest.approx(2.0)  # demand / capacity
    assert a["bw"][1] == BW and a["pc"][1] == PC
    with pytest.raises(ConfigError):
        cloudlet_allocation(-1.0, bw_max=BW, pc_max=PC, sigma=SIGMA)


def _three_members():
    idx = make_index("2022-06-01", 2, "1h")
    load = np.array([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0]])
    gen = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 3.0]])
    parts = pd.DataFrame({"id": ["a", "b", "c"], "pv_kwp": [0.0, 1.0, 3.0]})
    return peergrid.Community(idx, parts, load, gen, retail=0.3, feed_in=0.05)


def test_platform_traffic_by_hand():
    res = peergrid.simulate(_three_members(), market="sdr", control="none")
    t = PlatformTraffic(reading_bytes=100, order_bytes=50, result_bytes=70, overhead_bytes=10, window_s=8,
                        eps_c1=2.0, eps_c2=3.0)  # fmt: skip
    tr = platform_traffic(res, t)
    # slot 0: nets (1, 0, 0) → 1 order; slot 1: (1, 1, -2) → 3 orders
    assert tr.messages.tolist() == [3 + 2 * 1, 3 + 2 * 3]
    nbytes = np.array([3 * 100 + 1 * 120 + 5 * 10, 3 * 100 + 3 * 120 + 9 * 10])
    assert tr.megabytes == pytest.approx(nbytes / 1e6)
    assert tr.rate == pytest.approx(nbytes * 8 / 8)
    # eq. 6 per slot with ε_c2 over a 1-hour slot
    assert tr.cost == pytest.approx(2.0 * nbytes / 1e6 + 3.0 * 1.0 * tr.utilisation**2)
    s = tr.summary(scale=10)
    assert s["messages"] == pytest.approx(10 * (5 + 9)) and s["overloaded_slots"] == 0
