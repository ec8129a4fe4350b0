"""Helpers for the order-book market tests (imported by test_market_*.py): strategies, invariant checks."""

import numpy as np
from hypothesis import strategies as st

from peergrid.market.orders import MarketResult, OrderBook

TOL = 1e-9


@st.composite
def order_books(draw, max_orders: int = 8, n_slots: int = 1, integer_quantities: bool = True, n_participants: int = 5):
    """Small random books; prices on a 0.1 grid so that ties are common."""
    n = draw(st.integers(0, max_orders))
    side = draw(st.lists(st.sampled_from([1, -1]), min_size=n, max_size=n))
    if integer_quantities:
        qty = draw(st.lists(st.integers(1, 5), min_size=n, max_size=n))
    else:
        qty = draw(st.lists(st.floats(0.01, 5.0, allow_nan=False), min_size=n, max_size=n))
    price = draw(st.lists(st.integers(0, 10), min_size=n, max_size=n))
    slot = draw(st.lists(st.integers(0, n_slots - 1), min_size=n, max_size=n))
    part = draw(st.lists(st.integers(0, n_participants - 1), min_size=n, max_size=n))
    return OrderBook.from_arrays(
        participant=np.array(part, dtype=np.int64),
        side=np.array(side, dtype=np.int8),
        quantity=np.array(qty, dtype=np.float64),
        price=np.array(price, dtype=np.float64) / 10.0,
        slot=np.array(slot, dtype=np.int64),
    )


def random_book(n: int, seed: int = 0, n_slots: int = 1, tick: float | None = None) -> OrderBook:
    """Half bids, half asks, quantities U(0.1, 5) kWh, prices U(0.05, 0.40)."""
    rng = np.random.default_rng(seed)
    price = rng.uniform(0.05, 0.40, n)
    if tick:
        price = np.round(price / tick) * tick
    return OrderBook.from_arrays(
        participant=rng.integers(0, max(n // 4, 1), n),
        side=np.where(np.arange(n) < n // 2, 1, -1),
        quantity=rng.uniform(0.1, 5.0, n),
        price=price,
        slot=rng.integers(0, n_slots, n),
    )


def assert_invariants(r: MarketResult, uniform: bool = False) -> None:
    """Energy, capacity, budget and individual-rationality invariants of a batch market result."""
    book, t = r.book, r.trades
    scale = max(1.0, float(book.quantity.sum()))
    tol = TOL * scale
    assert np.all(t.quantity > 0)
    # trades pair a bid with an ask of the same slot
    assert np.all(book.side[t.buy] == 1) and np.all(book.side[t.sell] == -1)
    assert np.array_equal(book.slot[t.buy], t.slot) and np.array_equal(book.slot[t.sell], t.slot)
    assert np.array_equal(book.participant[t.buy], t.buyer) and np.array_equal(book.participant[t.sell], t.seller)
    # nobody buys more than bid or sells more than offered
    filled = r.filled
    assert np.all(filled <= book.quantity + tol)
    # energy balance per slot: bought = sold = traded; bids = bought + import; asks = sold + export
    bought = r._per_slot_sum(book.slot, np.where(book.side > 0, filled, 0.0))
    sold = r._per_slot_sum(book.slot, np.where(book.side < 0, filled, 0.0))
    np.testing.assert_allclose(bought, r.traded, atol=tol)
    np.testing.assert_allclose(sold, r.traded, atol=tol)
    demand = r._per_slot_sum(book.slot, np.where(book.side > 0, book.quantity, 0.0))
    supply = r._per_slot_sum(book.slot, np.where(book.side < 0, book.quantity, 0.0))
    np.testing.assert_allclose(bought + r.grid_import, demand, atol=tol)
    np.testing.assert_allclose(sold + r.grid_export, supply, atol=tol)
    # budget balance: Σ buyer payments = Σ seller receipts + fees; the per-order peer bills add up to the fees
    assert np.isclose(t.payment.sum(), t.receipt.sum() + t.fee.sum(), atol=tol)
    peer_bill = np.bincount(t.buy, t.payment, len(book)) - np.bincount(t.sell, t.receipt, len(book))
    assert np.isclose(peer_bill.sum(), t.fee.sum(), atol=tol)
    assert np.all(t.fee >= -tol)
    if uniform:
        np.testing.assert_allclose(t.fee, 0.0, atol=tol)
    # individual rationality
    assert np.all(t.price_buy <= book.price[t.buy] + tol)
    assert np.all(t.price_sell >= book.price[t.sell] - tol)


def reference_quantity(book: OrderBook) -> float:
    """Largest single-price competitive volume: max over p of min(demand(p), supply(p))."""
    bids = book.side > 0
    best = 0.0
    for p in np.unique(book.price):
        d = book.quantity[bids & (book.price >= p)].sum()
        s = book.quantity[~bids & (book.price <= p)].sum()
        best = max(best, min(d, s))
    return float(best)


def reference_welfare(book: OrderBook) -> float:
    """Maximum gains from trade by linear programming over all bid–ask pairs (scipy HiGHS)."""
    from scipy.optimize import linprog

    bids = np.flatnonzero(book.side > 0)
    asks = np.flatnonzero(book.side < 0)
    if not len(bids) or not len(asks):
        return 0.0
    gain = (book.price[bids][:, None] - book.price[asks][None, :]).ravel()
    nb, na = len(bids), len(asks)
    a_ub = np.zeros((nb + na, nb * na))
    for i in range(nb):
        a_ub[i, i * na : (i + 1) * na] = 1.0
    for j in range(na):
        a_ub[nb + j, j::na] = 1.0
    b_ub = np.concatenate((book.quantity[bids], book.quantity[asks]))
    res = linprog(-gain, A_ub=a_ub, b_ub=b_ub, bounds=(0, None), method="highs")
    assert res.status == 0
    return float(-res.fun)


def reference_uniform(book: OrderBook, k: float) -> tuple[np.ndarray, float]:
    """Pay-as-clear by brute force on 1-kWh units (integer quantities, one slot).

    Every order becomes ``quantity`` unit orders; bids are sorted by price descending
    and asks ascending, ties in book order (time priority). The j-th unit bid and the
    j-th unit ask trade while bid ≥ ask; the last trading unit pair is the marginal
    pair (b_m, s_m) and the price is k·b_m + (1 − k)·s_m. Returns the filled kWh per
    order and the price (NaN without trade).
    """
    q = book.quantity.astype(np.int64)
    assert np.all(q == book.quantity), "integer quantities only"
    units = np.repeat(np.arange(len(book)), q)
    bids = [u for u in units if book.side[u] > 0]
    asks = [u for u in units if book.side[u] < 0]
    bids.sort(key=lambda u: (-book.price[u], u))
    asks.sort(key=lambda u: (book.price[u], u))
    filled = np.zeros(len(book))
    price = np.nan
    for b, a in zip(bids, asks, strict=False):
        if book.price[b] < book.price[a]:
            break
        filled[b] += 1.0
        filled[a] += 1.0
        price = k * book.price[b] + (1.0 - k) * book.price[a]
    return filled, price
