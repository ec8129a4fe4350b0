"""Measured uplinks: collisions with capture, PDR falls with load, reproducible with a seed."""

from __future__ import annotations

import numpy as np

from peergrid.zoom.lora import LinkBudget, RadioParams, noise_floor_dbm, time_on_air
from peergrid.zoom.uplinks import RadioConfig, simulate_uplinks

FLOOR = noise_floor_dbm()


def _cell(n: int, snr: float = 10.0, channels: int = 1, capture: float = 6.0, spread: np.ndarray | None = None):
    """n devices heard by one gateway, equal mean SNR (or given), no shadowing / fading."""
    s = np.full((n, 1), snr) if spread is None else np.asarray(spread, dtype=float)[:, None]
    p = RadioParams(shadowing_db=0.0, fading_db=0.0, channels=channels, capture_db=capture, max_transmissions=1)
    b = LinkBudget(s + FLOOR, s, np.zeros((n, 1), dtype=np.int64), np.zeros(n, dtype=np.int64), 1, p)
    cfg = RadioConfig(
        np.zeros(n, dtype=np.int64), np.full(n, 12), np.full(n, 14.0), np.ones(n, dtype=bool), np.array([12])
    )
    return b, cfg


def test_pdr_falls_with_load_like_pure_aloha():
    toa = float(time_on_air(20, 12))  # 1.318912 s
    step = 100.0
    pdrs = []
    for n in (2, 10, 40):
        b, cfg = _cell(n)
        log = simulate_uplinks(b, cfg, steps=400, step_s=step, seed=1)
        pdr = log.received.sum() / log.transmissions.sum()
        # equal powers: any overlap destroys both; uniform starts in [0, step - ToA) -> P(no overlap with one other)
        # = 1 - (2·ToA/(step-ToA) - (ToA/(step-ToA))²) per other packet
        w = toa / (step - toa)
        expected = (1.0 - (2 * w - w * w)) ** (n - 1)
        assert abs(pdr - expected) < 0.03, (n, pdr, expected)
        assert np.all(log.lost_weak == 0) and log.lost_collision.sum() == log.transmissions.sum() - log.received.sum()
        pdrs.append(pdr)
    assert pdrs[0] > pdrs[1] > pdrs[2]
    # the gateway's measurements say the same
    assert abs(log.gw_pdr[0] - pdrs[-1]) < 1e-12 and log.gw_collision_share[0] == 1.0
    assert np.isclose(log.gw_load[0], log.transmissions.sum() * toa / (400 * step))


def test_capture_effect_hand_case():
    """Two devices, always overlapping (step = ToA): the one 10 dB stronger survives, the weaker is lost."""
    toa = float(time_on_air(20, 12))
    b, cfg = _cell(2, spread=np.array([10.0, 0.0]))
    log = simulate_uplinks(b, cfg, steps=50, step_s=toa, seed=0)
    assert log.received.tolist() == [50.0, 0.0]
    # within the 6 dB capture window both are destroyed
    b, cfg = _cell(2, spread=np.array([10.0, 5.0]))
    log = simulate_uplinks(b, cfg, steps=50, step_s=toa, seed=0)
    assert log.received.tolist() == [0.0, 0.0]
    # on different SFs they do not collide (SFs orthogonal)
    cfg2 = RadioConfig(cfg.home_col, np.array([12, 11]), cfg.tx_dbm, cfg.in_zoom, cfg.zoom)
    log = simulate_uplinks(b, cfg2, steps=50, step_s=toa, seed=0)
    assert log.received.tolist() == [50.0, 50.0]


def test_weak_links_and_retransmissions():
    b, cfg = _cell(1, snr=-30.0)  # below SF12's -20 dB
    log = simulate_uplinks(b, cfg, steps=10, seed=0)
    assert log.received.sum() == 0 and log.lost_weak.sum() == 10 and not log.delivered.any()
    # a 50 % link (mean margin 0 dB, 2 dB fading) delivers ~1 - 0.5^8 of readings within 8 transmissions
    p = RadioParams(shadowing_db=0.0, fading_db=2.0)
    s = np.array([[-20.0]])
    b = LinkBudget(s + 20.0 - 137.0 - 0.0, s, np.zeros((1, 1), dtype=np.int64), np.zeros(1, dtype=np.int64), 1, p)
    log = simulate_uplinks(b, cfg, steps=2000, seed=3)
    assert abs(log.received.sum() / log.transmissions.sum() - 0.5) < 0.03
    assert log.delivered.mean() > 0.99 and abs(log.transmissions.sum() / 2000 - 2.0) < 0.1


def test_reproducible_with_seed():
    b, cfg = _cell(30)
    a = simulate_uplinks(b, cfg, steps=50, step_s=60.0, seed=7)
    c = simulate_uplinks(b, cfg, steps=50, step_s=60.0, seed=7)
    d = simulate_uplinks(b, cfg, steps=50, step_s=60.0, seed=8)
    assert np.array_equal(a.delivered, c.delivered) and np.array_equal(a.received, c.received)
    assert not np.array_equal(a.received, d.received)
