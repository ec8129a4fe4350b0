"""Zoom decisions act on the radio: zoom-bounded ADR, coverage and hand-over (peergrid.zoom.uplinks)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from peergrid.core.errors import ConfigError
from peergrid.zoom.lora import Deployment, LinkBudget, RadioParams, adr, link_budget, noise_floor_dbm
from peergrid.zoom.uplinks import (
    ZoomRadioParams,
    coverage_mask,
    join_config,
    simulate_uplinks,
    vmg_plan,
    zoom_step,
)

FLOOR = noise_floor_dbm()  # -117.03 dBm (-174 + 10 log10(125 kHz) + 6 dB)


def _adr(snr, sf, tx, cap=None):
    s, t = adr(np.array([snr]), np.array([sf]), np.array([tx]), rssi_max=np.array([snr + FLOOR]), sf_max=cap)
    return int(s[0]), float(t[0])


def test_adr_hand_margins_with_zoom_cap():
    # SF12, SNR_max -2 dB: SNR margin -2 + 20 = 18, RSSI margin -119.03 + 137 = 17.97 -> 7.97 dB -> 2 steps: SF10
    assert _adr(-2.0, 12, 14.0) == (10, 14.0)
    # same link under zoom 9: the device is moved to the cap first; margin at SF9 = min(-2 + 12.5, -119.03 + 129)
    # - 10 = -0.03 -> one step up: power is at its maximum and the SF at the cap: SF9, 14 dBm (a thinner link
    # than ADR alone would choose)
    assert _adr(-2.0, 12, 14.0, cap=9) == (9, 14.0)
    # SF7 at 8 dBm, SNR_max -7 dB: margin min(-7 + 7.5, -124.03 + 123) - 10 = -11.03 -> floor(-11.03/3) = -4 steps:
    # +2 dB x 3 = 14 dBm (power first), the fourth step raises the SF to 8 (the reverse rule)
    assert _adr(-7.0, 7, 8.0, cap=12) == (8, 14.0)
    # ... but never above the zoom cap
    assert _adr(-7.0, 7, 8.0, cap=7) == (7, 14.0)
    # without a cap the Semtech rule never raises the SF
    assert _adr(-7.0, 7, 8.0) == (7, 14.0)
    # SNR_max 20 dB under cap 10: margin at SF10 = min(20 + 15, -97.03 + 132) - 10 = 24.97 -> 8 steps:
    # SF10 -> SF7 (3 steps), then 5 power steps of 2 dB: 14 -> 4 dBm
    assert _adr(20.0, 12, 14.0, cap=10) == (7, 4.0)


def test_adr_rejects_bad_cap():
    with pytest.raises(ConfigError):
        adr(np.array([0.0]), np.array([12]), np.array([14.0]), sf_max=13)


@settings(max_examples=200, deadline=None)
@given(snr=st.floats(-30.0, 30.0), sf0=st.integers(7, 12), cap=st.integers(7, 12), tx_steps=st.integers(0, 6))
def test_adr_respects_the_cap_and_power_range(snr, sf0, cap, tx_steps):
    p = RadioParams()
    tx0 = p.tx_max_dbm - 2.0 * tx_steps
    sf, tx = _adr(snr, sf0, tx0, cap=cap)
    assert 7 <= sf <= cap and p.tx_min_dbm <= tx <= p.tx_max_dbm
    if sf > min(sf0, cap):  # the SF only rises once the power is at its maximum
        assert tx == p.tx_max_dbm


def _budget(snr_db: np.ndarray, gateways: np.ndarray, G: int) -> LinkBudget:
    """A hand-built link budget: mean SNR at full power per (device, column)."""
    snr = np.asarray(snr_db, dtype=float)
    rssi = snr + FLOOR
    home = np.argmax(rssi, axis=1)
    return LinkBudget(rssi, snr, np.asarray(gateways), home, G, RadioParams(shadowing_db=0.0, fading_db=0.0))


def test_coverage_mask_hand_case():
    p = RadioParams()
    zp = ZoomRadioParams(coverage_margin_db=2.0)
    # SF9 needs -12.5 dB SNR and -129 dBm (-12 dB SNR): margin 2 -> SNR >= -10 covers at zoom 9
    snr = np.array([[-9.9, -10.1], [np.nan, -16.0]])
    zoom = np.array([[9, 9], [12, 12]])
    # SF12 needs -20 dB: -16 covers with 4 dB
    assert coverage_mask(snr, zoom, p, zp).tolist() == [[True, False], [False, True]]


def test_zoom_in_squeezes_hands_over_and_moves_vmgs():
    """Device 0 near gateway 0; device 1 between gateways, weak at 0, covered by 1 only at SF12."""
    # columns: device rows, gateway ids per column
    snr = np.array([[5.1, -25.0], [-14.0, -16.5]])
    gw = np.array([[0, 1], [0, 1]])
    b = _budget(snr, gw, 2)
    cfg = join_config(b)
    log = simulate_uplinks(b, cfg, steps=24, step_s=900.0, seed=0)
    assert np.allclose(log.snr_mean[:, :2][~np.isnan(log.snr_mean[:, :2])], snr[~np.isnan(log.snr_mean[:, :2])])
    wide = zoom_step(b, log, cfg, 12)
    # zoom 12: device 0: margin min(5.1 + 20, -111.93 + 137) - 10 = 15.07 -> 5 steps: SF7 at 14 dBm;
    # device 1 served by its best gateway 0; margin at SF12 = min(-14 + 20, -131.03 + 137) - 10 = -4.03 -> stays
    assert wide.home(b).tolist() == [0, 0] and wide.in_zoom.all()
    assert wide.sf.tolist() == [7, 12]
    # zoom gateway 0 in to SF10 (covers SNR >= -15 + 2 = -13 dB and RSSI >= -132 + 2): device 1 (-14 dB)
    # leaves gateway 0 and hands over to gateway 1, still at zoom 12, which covers it (-16.5 >= -20 + 2)
    log2 = simulate_uplinks(b, wide, steps=24, seed=1)
    z = zoom_step(b, log2, wide, np.array([10, 12]))
    assert z.home(b).tolist() == [0, 1] and z.in_zoom.all()
    plan = vmg_plan(b, z)
    assert plan.vmg.tolist() == [0, 1]
    # zoom both in to SF9: device 1 is covered nowhere -> the coordinator's wide layer, served uncapped
    log3 = simulate_uplinks(b, z, steps=24, seed=2)
    z9 = zoom_step(b, log3, z, 9)
    assert not z9.in_zoom[1] and vmg_plan(b, z9).vmg[1] == 2  # wide code = G
    # squeeze: device at -11 dB, ADR alone keeps SF12 (margin at SF12 = min(9, -128.03 + 137) - 10 < 0),
    # zoom 10 covers it (-11 >= -15 + 2) and the cap moves it to SF10 at full power
    b2 = _budget(np.array([[-11.0]]), np.array([[0]]), 1)
    c2 = join_config(b2)
    l2 = simulate_uplinks(b2, c2, steps=24, seed=3)
    assert zoom_step(b2, l2, c2, 12).sf.tolist() == [12]
    squeezed = zoom_step(b2, l2, c2, 10)
    assert squeezed.sf.tolist() == [10] and squeezed.tx_dbm.tolist() == [14.0] and squeezed.in_zoom.all()


def test_lower_power_shrinks_coverage():
    """When ADR lowers a device's TX power, fewer gateways hear it (coverage moves with power)."""
    d = Deployment.grid(400, 9, 400.0, seed=0)
    b = link_budget(d, seed=0)
    cfg = join_config(b)
    full = simulate_uplinks(b, cfg, steps=24, seed=0)
    cfg2 = zoom_step(b, full, cfg, 12)
    cfg2 = zoom_step(b, simulate_uplinks(b, cfg2, steps=24, seed=1), cfg2, 12)
    low = cfg2.tx_dbm < 14.0
    assert low.any()
    after = simulate_uplinks(b, cfg2, steps=24, seed=2)
    heard_full = np.isfinite(full.snr_mean).sum(axis=1)
    heard_after = np.isfinite(after.snr_mean).sum(axis=1)
    assert heard_after[low].mean() < heard_full[low].mean()
    # lower SF and power cost less energy per uplink
    assert after.energy_j.sum() < full.energy_j.sum()
