"""Radio layer: time on air, link budget, ADR, collisions (peergrid.zoom.lora)."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from peergrid.core.errors import ConfigError, DataError
from peergrid.zoom.lora import (
    SENSITIVITY_DBM,
    SNR_REQ_DB,
    Deployment,
    RadioParams,
    adr,
    collision_pdr,
    link_margin_db,
    min_sf,
    noise_floor_dbm,
    path_loss_db,
    pdr_by_sf,
    plan_radio,
    time_on_air,
)


# ---------------------------------------------------------------------------- time on air
def test_time_on_air_semtech_calculator_values():
    # Semtech LoRa calculator, 20-byte payload, BW 125 kHz, CR 4/5, 8-symbol preamble,
    # explicit header, CRC on, LDRO on for SF11/12. By hand (AN1200.13):
    # SF7: T_sym = 1.024 ms; ceil((160 - 28 + 28 + 16)/28) = 7 -> 8 + 7*5 = 43 symbols;
    #      (8 + 4.25 + 43) * 1.024 = 56.576 ms.
    # SF12: T_sym = 32.768 ms; DE = 1: ceil((160 - 48 + 28 + 16)/40) = 4 -> 8 + 20 = 28 symbols;
    #      (12.25 + 28) * 32.768 = 1318.912 ms.
    assert float(time_on_air(20, 7)) * 1e3 == pytest.approx(56.576, abs=1e-9)
    assert float(time_on_air(20, 12)) * 1e3 == pytest.approx(1318.912, abs=1e-9)
    all_sf = time_on_air(20, np.arange(7, 13)) * 1e3
    np.testing.assert_allclose(all_sf, [56.576, 102.912, 185.344, 370.688, 741.376, 1318.912], atol=1e-9)


def test_time_on_air_options():
    # SF11 without LDRO: ceil(148/44) = 4 -> 28 symbols; T_sym 16.384 ms -> (12.25 + 28) * 16.384 = 659.456 ms
    assert float(time_on_air(20, 11, low_dr_optimize=False)) * 1e3 == pytest.approx(659.456)
    # implicit header is never longer; a longer payload never shorter
    assert time_on_air(20, 9, explicit_header=False) <= time_on_air(20, 9)
    assert time_on_air(51, 9) > time_on_air(20, 9)
    with pytest.raises(ConfigError):
        time_on_air(20, 13)
    with pytest.raises(ConfigError):
        time_on_air(300, 7)


# ---------------------------------------------------------------------------- link budget
def test_path_loss_reference_and_exponent():
    p = RadioParams()
    assert float(path_loss_db(40.0, p)) == pytest.approx(127.41)
    assert float(path_loss_db(400.0, p)) == pytest.approx(127.41 + 20.8)
    with pytest.raises(DataError):
        path_loss_db(np.array([0.0]))
    rng = np.random.default_rng(0)
    sh = path_loss_db(np.full(20000, 100.0), p, rng) - float(path_loss_db(100.0, p))
    assert abs(sh.std() - 3.57) < 0.1


def test_noise_floor_and_min_sf():
    assert noise_floor_dbm(125e3, 6.0) == pytest.approx(-117.03, abs=0.01)
    # RSSI -130 dBm, SNR -13 dB: SF9 needs -129 dBm (missed); SF10 needs -132/-15 (met)
    assert int(min_sf(np.array(-130.0), np.array(-13.0))) == 10
    assert int(min_sf(np.array(-140.0), np.array(-23.0))) == 0
    assert int(min_sf(np.array(-100.0), np.array(17.0))) == 7


def test_deployment_validation():
    with pytest.raises(DataError):
        Deployment(np.zeros((3, 3)), np.zeros((1, 2)))
    with pytest.raises(ConfigError):
        Deployment.grid(0, 5)
    d = Deployment.grid(100, 4, 400.0, seed=1)
    assert d.devices.shape == (100, 2) and d.gateways.shape == (4, 2)
    assert d.devices.max() <= 800.0


# ---------------------------------------------------------------------------- ADR
def test_adr_hand_case():
    # SNR_max = 5 dB at SF12: margin = min(5 + 20, (5 - 117 + 137)) - 10 = 15 -> 5 steps -> SF7
    sf, tx = adr(np.array([5.0]), np.array([12]), np.array([14.0]), rssi_max=np.array([5.0 - 117.0]))
    assert int(sf[0]) == 7 and tx[0] == 14.0
    # margin 30 dB at SF12 -> 10 steps: 5 SF steps, then 5 power steps of 2 dB
    sf, tx = adr(np.array([20.0]), np.array([12]), np.array([14.0]), rssi_max=np.array([-95.0]))
    assert int(sf[0]) == 7 and tx[0] == 4.0
    # negative margin: min(-15 + 20, -132 + 137) - 10 = -5 -> floor(-5/3) = -2: SF unchanged, +4 dB
    sf, tx = adr(np.array([-15.0]), np.array([12]), np.array([8.0]), rssi_max=np.array([-132.0]))
    assert int(sf[0]) == 12 and tx[0] == 12.0
    # ... capped at the maximum power
    sf, tx = adr(np.array([-15.0]), np.array([12]), np.array([12.0]), rssi_max=np.array([-132.0]))
    assert tx[0] == 14.0


@settings(max_examples=300, deadline=None)
@given(
    snr=st.floats(-30.0, 30.0),
    gap=st.floats(-3.0, 3.0),
    sf0=st.integers(7, 12),
    tx_steps=st.integers(0, 6),
    margin=st.floats(0.0, 15.0),
)
def test_adr_never_assigns_an_sf_the_link_misses(snr, gap, sf0, tx_steps, margin):
    p = RadioParams(installation_margin_db=margin)
    tx0 = p.tx_max_dbm - 2.0 * tx_steps
    rssi = snr + noise_floor_dbm() + gap
    sf, tx = adr(np.array([snr]), np.array([sf0]), np.array([tx0]), p, rssi_max=np.array([rssi]))
    sf, tx = int(sf[0]), float(tx[0])
    assert 7 <= sf <= sf0 and p.tx_min_dbm <= tx <= p.tx_max_dbm
    delta = tx - tx0
    after = float(link_margin_db(np.array(rssi + delta), np.array(snr + delta), np.array(sf)))
    before = float(link_margin_db(np.array(rssi), np.array(snr), np.array(sf0)))
    if sf < sf0 or delta < 0:
        # anything ADR lowers keeps the installation margin on the observed link: sensitivity and SNR met
        assert after >= margin - 1e-9
        assert rssi + delta >= SENSITIVITY_DBM[sf - 7] and snr + delta >= SNR_REQ_DB[sf - 7]
    else:
        assert after >= before - 1e-9


def test_plan_radio_links_close_at_assigned_sf():
    radio = plan_radio(Deployment.grid(3000, 9, 400.0, seed=3), seed=3)
    cov = radio.covered
    assert cov.mean() > 0.95
    # mean link (not only the best of 20 uplinks) meets sensitivity and SNR at the assigned SF and power
    assert np.all(radio.margin_db[cov] >= 0.0)
    assert set(np.unique(radio.sf[cov])) <= set(range(7, 13))
    assert np.all(radio.sf[~cov] == 0) and np.all(radio.pdr[~cov] == 0)
    by = pdr_by_sf(radio)
    assert sum(v["devices"] for v in by.values()) == int(cov.sum())
    # closer devices get lower SFs
    dist = radio.budget.rssi.max(axis=1)
    assert np.median(dist[radio.sf == 7]) > np.median(dist[radio.sf == 12])


def test_fixed_sf12_costs_more_airtime_and_pdr():
    radio = plan_radio(Deployment.grid(4000, 4, 400.0, seed=0), seed=0)
    flat = radio.with_fixed_sf(12)
    c = radio.covered
    assert flat.toa_s[c].sum() > radio.toa_s[c].sum()
    assert flat.pdr[c].mean() < radio.pdr[c].mean()
    assert np.all(flat.transmissions[c] >= 1.0) and np.all(flat.transmissions <= RadioParams().max_transmissions)


# ---------------------------------------------------------------------------- collisions
def test_collision_pdr_hand_case():
    p = RadioParams(channels=1)
    toa = float(time_on_air(p.payload_bytes, 7))
    lam = 1.0 / 900.0
    # one gateway; devices 0, 1 equal power on SF7, device 2 10 dB stronger on SF7, device 3 on SF8
    rssi = np.array([[-100.0], [-100.0], [-90.0], [-100.0]])
    gw = np.zeros((4, 1), dtype=np.int64)
    home = np.zeros(4, dtype=np.int64)
    sf = np.array([7, 7, 7, 8])
    pdr = collision_pdr(rssi, gw, home, sf, np.full(4, 14.0), lam, p)
    # weak devices are hit by each other and by the strong one (2 interferers)
    assert pdr[0] == pytest.approx(math.exp(-2 * 2 * lam * toa))
    assert pdr[1] == pytest.approx(pdr[0])
    # the strong one captures both weak packets (10 dB > 6 dB): no destructive interferer
    assert pdr[2] == pytest.approx(1.0)
    # alone on its SF
    assert pdr[3] == pytest.approx(1.0)
    # silent devices (sf 0) neither suffer nor interfere
    pdr2 = collision_pdr(rssi, gw, home, np.array([7, 0, 7, 8]), np.full(4, 14.0), lam, p)
    assert pdr2[1] == 1.0 and pdr2[0] == pytest.approx(math.exp(-2 * lam * toa))


def test_collision_pdr_counts_interferers_at_the_home_gateway_only():
    p = RadioParams(channels=1)
    lam = 1.0 / 900.0
    toa = float(time_on_air(p.payload_bytes, 7))
    # devices 0 and 1 served by gateway 0 and 1; device 2 (home 1) is heard at gateway 0 with equal power as device 0
    rssi = np.array([[-100.0, -120.0], [-100.0, -130.0], [-95.0, -100.0]])
    gw = np.array([[0, 1], [1, 0], [1, 0]])
    home = np.array([0, 0, 0])  # columns: device 2's column 0 is gateway 1
    pdr = collision_pdr(rssi, gw, home, np.array([7, 7, 7]), np.full(3, 14.0), lam, p)
    # at gateway 0: device 0 (-100) sees device 2 (-100, within 6 dB) and device 1 (-130: captured)
    assert pdr[0] == pytest.approx(math.exp(-2 * lam * toa))
    # at gateway 1: device 1 (-100) sees device 0 (-120: captured) and device 2 (-95: stronger, destroys)
    assert pdr[1] == pytest.approx(math.exp(-2 * lam * toa))


def test_neighbour_gateways_limit_matches_dense_budget():
    d = Deployment.grid(2000, 36, 400.0, seed=4)
    dense = plan_radio(d, RadioParams(neighbour_gateways=36), seed=4)
    assert dense.budget.rssi.shape == (2000, 36)
    near = plan_radio(d, RadioParams(neighbour_gateways=12), seed=4)
    assert near.budget.rssi.shape == (2000, 12)
    # the best link is always among the nearest gateways on a grid (shadowing σ = 3.57 dB)
    assert np.mean(near.home == dense.home) > 0.97


def test_pdr_falls_with_load():
    few = plan_radio(Deployment.grid(500, 1, 400.0, seed=0), seed=0)
    many = plan_radio(Deployment.grid(20000, 1, 400.0, seed=0), seed=0)
    assert many.pdr[many.covered].mean() < few.pdr[few.covered].mean()
