"""Wallet eligibility: first come, first served against balance − commitments; reasons for rejections."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from peergrid import DataError
from peergrid.market.orders import OrderBook
from peergrid.market.wallet import REASON_FUNDS, REASON_NO_WALLET, check_wallets


def test_hand_computed():
    book = OrderBook.from_arrays(
        participant=["a", "a", "a", "b", "c", "a"],
        side=["buy", "buy", "buy", "buy", "sell", "buy"],
        quantity=[10, 10, 1, 5, 3, 1],
        price=[0.5, 0.5, 0.5, 0.3, 0.1, 0.5],
    )
    e = check_wallets(book, {"a": 6.0, "b": 1.0})
    # a: 5.00 admitted (1.00 left), 5.00 rejected, 0.50 admitted, 0.50 admitted; b: 1.50 > 1.00; c has no wallet
    assert e.admitted.tolist() == [True, False, True, False, False, True]
    assert e.reason.tolist() == [
        "",
        f"{REASON_FUNDS}: needs 5.00, available 1.00",
        "",
        f"{REASON_FUNDS}: needs 1.50, available 1.00",
        REASON_NO_WALLET,
        "",
    ]
    np.testing.assert_allclose(e.required, [5, 5, 0.5, 1.5, 0, 0.5])
    assert len(e.admitted_book(book)) == 3
    np.testing.assert_allclose(e.commitments(book), [6.0, 0.0, 0.0])
    assert e.rejected_frame(book).reason.tolist()[0].startswith(REASON_FUNDS)


def test_commitments_credit_and_sellers():
    book = OrderBook.from_arrays(participant=[0, 0, 1], side=[1, 1, -1], quantity=[1, 1, 5], price=[2.0, -1.0, 0.1])
    e = check_wallets(book, balance=[3.0, 0.0], committed=[2.0, 0.0])
    assert e.admitted.tolist() == [False, True, True]  # 2.00 > 1.00; a negative bid commits nothing; asks pass
    e = check_wallets(book, balance=[3.0, 0.0], committed=[2.0, 0.0], credit=[1.0, 0.0])
    assert e.admitted.tolist() == [True, True, True]
    assert check_wallets(book, balance=0.0).admitted.tolist() == [False, True, True]
    with pytest.raises(DataError, match="commitments"):
        check_wallets(book, balance=1.0, committed=-1.0)


def sequential(book, funds):
    """Reference: orders one by one against the funds left."""
    left = dict(enumerate(funds))
    out = []
    for p, s, q, pr in zip(book.participant, book.side, book.quantity, book.price, strict=True):
        need = q * max(pr, 0.0) if s > 0 else 0.0
        ok = need <= left[p] + 1e-9 * max(1.0, abs(left[p]))
        if ok:
            left[p] -= need
        out.append(ok)
    return out


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 3), st.sampled_from([1, -1]), st.floats(0.1, 10), st.floats(-0.2, 1.0)), max_size=40
    ),
    st.lists(st.floats(0, 20), min_size=4, max_size=4),
)
def test_matches_one_by_one_admission(orders, funds):
    if not orders:
        return
    p, s, q, pr = map(np.array, zip(*orders, strict=True))
    book = OrderBook.from_arrays(participant=p, side=s, quantity=q, price=pr)
    e = check_wallets(book, balance=funds)
    assert e.admitted.tolist() == sequential(book, funds)
    # admitted commitments never exceed funds; every rejection has a reason
    spent = e.commitments(book)
    assert np.all(spent[: len(funds)] <= np.asarray(funds)[: len(spent)] + 1e-6)
    assert all(bool(r) != a for r, a in zip(e.reason, e.admitted, strict=True))
