"""Reservation prices of the bidding agents from the tariff and the planned battery state (hand-built cases)."""

from types import SimpleNamespace

import numpy as np
import pytest

from peergrid.market import clear_net, orders_from_net
from peergrid.market.agents import order_reservations, order_soc, reservation_prices, storage_value


def test_storage_value_looks_at_the_cheapest_coming_retail_price():
    lb = [0.40, 0.40, 0.20, 0.30, 0.35]
    # H = 2: slot 0 sees (0.40, 0.20), slot 1 (0.20, 0.30), slot 2 (0.30, 0.35), slot 3 (0.35), slot 4 itself
    assert storage_value(lb, horizon=2, efficiency=1.0).tolist() == pytest.approx([0.20, 0.20, 0.30, 0.35, 0.35])
    assert storage_value(lb, horizon=2, efficiency=0.9)[0] == pytest.approx(0.18)


def test_reservation_prices_hand_computed():
    # λb = 0.30, λs = 0.10, v = 0.20: no battery → (λb, λs); s = 0.5 → (0.25, 0.15); full → buyer waits at v
    buy, sell = reservation_prices(0.30, 0.10, value=0.20, soc=[np.nan, 0.0, 0.5, 1.0])
    assert buy.tolist() == pytest.approx([0.30, 0.30, 0.25, 0.20])
    assert sell.tolist() == pytest.approx([0.10, 0.20, 0.15, 0.10])
    # v is clipped into [λs, λb]: a value above retail changes nothing for the buyer
    buy, sell = reservation_prices(0.30, 0.10, value=0.50, soc=[0.5])
    assert buy.tolist() == pytest.approx([0.30]) and sell.tolist() == pytest.approx([0.20])
    # without storage information: the tariff
    buy, sell = reservation_prices([0.3, 0.4], 0.1)
    assert buy.tolist() == [0.3, 0.4] and sell.tolist() == [0.1, 0.1]


def test_order_soc_start_of_slot_and_several_batteries_per_member():
    book = orders_from_net([[1.0, -1.0, 1.0], [1.0, -1.0, 1.0]], 0.30, 0.10)
    # member 0 owns batteries 0 and 2 (10 + 10 kWh), member 1 battery 1 (5 kWh), member 2 none
    energy = [[4.0, 5.0, 6.0], [2.0, 0.0, 0.0]]  # end of step 0, end of step 1
    soc = order_soc(book, owners=[0, 1, 0], energy=energy, capacity=[10.0, 5.0, 10.0])
    got = {(int(t), int(i)): s for t, i, s in zip(book.slot, book.participant, soc, strict=True)}
    assert got[(0, 0)] == pytest.approx(0.5) and got[(1, 0)] == pytest.approx(0.5)  # slot 1 starts at end of 0
    assert got[(0, 1)] == pytest.approx(1.0) and got[(1, 1)] == pytest.approx(1.0)
    assert np.isnan(got[(0, 2)]) and np.isnan(got[(1, 2)])


def test_seller_with_a_full_battery_accepts_less_buyer_with_a_full_battery_waits():
    """Two slots, λb = 0.40 then 0.20 (cheap later), λs = 0.05, η = 0.9: v_0 = 0.18, v_1 = 0.18 (itself)."""
    net = [[1.0, -1.0, 1.0, -1.0], [1.0, -1.0, 1.0, -1.0]]  # members 0, 2 buy; 1, 3 sell
    lb, ls = np.array([0.40, 0.20]), np.array([0.05, 0.05])
    book = orders_from_net(net, lb, ls)
    # member 0 (buyer) and 1 (seller) have full batteries, 2 (buyer) and 3 (seller) empty ones
    bat = SimpleNamespace(owners=[0, 1, 2, 3], energy=np.tile([10.0, 10.0, 0.0, 0.0], (2, 1)), capacity=[10.0] * 4)
    limit, lo, hi = order_reservations(book, lb, ls, bat, horizon=4)
    got = {(int(t), int(i)): r for t, i, r in zip(book.slot, book.participant, limit, strict=True)}
    assert got[(0, 0)] == pytest.approx(0.18)  # full battery: the buyer waits for 0.9 · 0.20
    assert got[(0, 2)] == pytest.approx(0.40)  # empty battery: the grid alternative λb
    assert got[(0, 1)] == pytest.approx(0.05)  # full battery: the seller accepts λs
    assert got[(0, 3)] == pytest.approx(0.18)  # empty battery: storing is worth v
    assert np.all(lo <= limit) and np.all(limit <= hi)
    no_bat = order_reservations(book, lb, ls, None)[0]
    np.testing.assert_allclose(no_bat, np.where(book.side > 0, lb[book.slot], ls[book.slot]))


def test_zic_orders_stay_within_the_battery_aware_reservation():
    rng = np.random.default_rng(2)
    T, N = 48, 8
    net = rng.normal(0, 1, (T, N))
    lb = rng.uniform(0.2, 0.4, T)
    energy = rng.uniform(0, 5, (T, 3))
    bat = SimpleNamespace(owners=np.array([0, 3, 5]), energy=energy, capacity=np.full(3, 5.0))
    c = clear_net(net, lb, 0.05, "pay-as-bid", bidding="zic", seed=3, batteries=bat, round_slots=24)
    # pay-as-bid: each order trades at its own limit, so a bill per kWh shows the order price
    book = orders_from_net(net, lb, 0.05)
    limit, _, _ = order_reservations(book, lb, 0.05, bat, horizon=24)
    r = np.zeros((T, N))
    r[book.slot, book.participant] = limit
    peer, bill = c.peer, c.bill
    grid = np.where(net > 0, (net - np.maximum(peer, 0)) * lb[:, None], (net + np.maximum(-peer, 0)) * 0.05)
    traded = np.abs(peer) > 1e-12
    unit = np.where(traded, (bill - grid) / np.where(traded, peer, 1.0), np.nan)  # peer price per kWh
    buyers = traded & (peer > 0)
    sellers = traded & (peer < 0)
    assert buyers.any() and sellers.any()
    assert np.all(unit[buyers] <= r[buyers] + 1e-9) and np.all(unit[sellers] >= r[sellers] - 1e-9)
