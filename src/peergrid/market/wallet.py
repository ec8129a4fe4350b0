"""Wallet eligibility: admit an order only if its owner's wallet can pay for it.

Tooki et al. use "the prosumer's balance in the wallet ... to determine
eligibility for participation in the energy trading". peergrid's rule:

* a bid of q kWh at limit p commits q·max(p, 0) currency (the most it can cost);
* participant i has funds F_i = balance_i − open_commitments_i + credit_i;
* i's bids are checked in book order (arrival order), each against the funds
  left after i's earlier *admitted* bids — exactly as if they arrived one by one:
  a bid that does not fit is rejected and commits nothing, and a later, smaller
  bid may still fit;
* asks commit nothing and are admitted when the participant has a wallet;
* a participant without a wallet (missing from a mapping, NaN) is rejected.

Every rejected order carries a one-line reason. Vectorised: a stable sort by
participant, then rounds of per-participant cumulative sums; each round admits
every participant's bids up to its first misfit and rejects that misfit and all
later bids that exceed the funds left, so a round decides at least one order per
short participant and a batch typically needs one to three rounds.

References
----------
.. [Tooki2025] O. O. Tooki, O. M. Popoola, J. D. Pam, "Towards sustainable energy: implementation framework
   for a decentralized peer-to-peer transactive energy system", AIMS Press, 2025,
   flowchart of the P2P transaction (wallet-balance eligibility).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import pandas as pd

from peergrid.core.errors import DataError
from peergrid.core.types import AnyArray, BoolArray, FloatArray, IntArray
from peergrid.market.orders import OrderBook, ParticipantValues

REASON_NO_WALLET = "no wallet"
REASON_FUNDS = "insufficient funds"


@dataclass(frozen=True, eq=False)
class Eligibility:
    """Outcome of :func:`check_wallets`, one entry per order of the book.

    Attributes
    ----------
    admitted : numpy.ndarray
        bool.
    reason : numpy.ndarray
        object array of str: ``""`` for admitted orders, else why the order was
        rejected (e.g. ``"insufficient funds: needs 3.00, available 1.20"``).
    required : numpy.ndarray
        Money the order commits, q·max(p, 0) for bids, 0 for asks (currency).
    available : numpy.ndarray
        Funds left for the order when it was checked (currency; NaN without wallet).
    """

    admitted: BoolArray
    reason: AnyArray
    required: FloatArray
    available: FloatArray

    def admitted_book(self, book: OrderBook) -> OrderBook:
        """The admitted orders of ``book`` (the book that was checked)."""
        return book.select(self.admitted)

    def commitments(self, book: OrderBook) -> FloatArray:
        """Money committed by admitted bids per participant code (add to open commitments)."""
        committed = np.bincount(
            book.participant, weights=np.where(self.admitted, self.required, 0.0), minlength=book.n_participants
        )
        return cast(FloatArray, committed)  # weighted: float64 (numpy's stubs say intp)

    def rejected_frame(self, book: OrderBook) -> pd.DataFrame:
        """Rejected orders with their reason."""
        frame = book.to_frame()[~self.admitted].copy()
        frame["reason"] = self.reason[~self.admitted]
        return frame


def check_wallets(
    book: OrderBook, balance: ParticipantValues, committed: ParticipantValues = 0.0, credit: ParticipantValues = 0.0
) -> Eligibility:
    """Admit orders whose owner's wallet covers quantity × limit price.

    Parameters
    ----------
    book : OrderBook
        Orders in arrival order.
    balance : array-like, Mapping or float
        Wallet balance per participant (code-indexed array or label mapping),
        currency. Participants absent from a mapping or NaN have no wallet.
    committed : array-like, Mapping or float
        Money already committed by open orders per participant, currency ≥ 0.
    credit : array-like, Mapping or float
        Credit line per participant (balance may go negative by this much),
        currency ≥ 0.

    Returns
    -------
    Eligibility
    """
    n = len(book)
    if isinstance(balance, dict | pd.Series) or hasattr(balance, "keys"):
        bal = _lookup_mapping(book, balance)
    else:
        arr = np.asarray(balance, dtype=np.float64)
        bal = np.full(n, float(arr)) if arr.ndim == 0 else _lookup_array(book, arr)
    com = book.participant_values(committed, "commitment", default=0.0)
    cre = book.participant_values(credit, "credit", default=0.0)
    if np.any(com < 0) or not np.all(np.isfinite(com)):
        raise DataError("open commitments must be finite and >= 0")
    if np.any(cre < 0) or not np.all(np.isfinite(cre)):
        raise DataError("credit must be finite and >= 0")
    if np.any(np.isinf(bal)):
        raise DataError("wallet balance must be finite")
    buy = book.side > 0
    required = np.where(buy, book.quantity * np.maximum(book.price, 0.0), 0.0)
    funds = bal - com + cre
    has_wallet = ~np.isnan(funds)
    admitted = has_wallet & ~buy
    # bids of participants with a wallet, grouped by participant, in book order
    bids = np.flatnonzero(buy & has_wallet)
    bids = bids[np.argsort(book.participant[bids], kind="stable")]
    state = _decide(book.participant[bids], required[bids], funds[bids])
    admitted[bids] = state
    # funds left when each bid was checked: funds − earlier admitted bids of the participant
    avail = np.full(n, np.nan)
    if len(bids):
        spent = _segment_cumsum(book.participant[bids], np.where(state, required[bids], 0.0))
        avail[bids] = funds[bids] - (spent - np.where(state, required[bids], 0.0))
    avail[has_wallet & ~buy] = funds[has_wallet & ~buy]
    reason = np.full(n, "", dtype=object)
    reason[~has_wallet] = REASON_NO_WALLET
    short = np.flatnonzero(has_wallet & buy & ~admitted)
    if short.size:
        reason[short] = [
            f"{REASON_FUNDS}: needs {r:.2f}, available {max(a, 0.0):.2f}"
            for r, a in zip(required[short].tolist(), avail[short].tolist(), strict=True)
        ]
    return Eligibility(admitted, reason, required, avail)


def _lookup_mapping(book: OrderBook, mapping: Any) -> FloatArray:
    # a dict, a pandas Series or anything with .get(label, default)
    codes = np.arange(book.n_participants)
    labels = book.participant_label(codes)
    table = np.array(
        [float(mapping.get(lab.item() if hasattr(lab, "item") else lab, np.nan)) for lab in labels], dtype=np.float64
    )
    return table[book.participant] if len(table) else np.zeros(0)


def _lookup_array(book: OrderBook, arr: FloatArray) -> FloatArray:
    if arr.ndim != 1:
        raise DataError(f"balance must be 1-D (one per participant code), got shape {arr.shape}")
    table = np.full(max(book.n_participants, len(arr)), np.nan)
    table[: len(arr)] = arr
    return table[book.participant] if len(table) else np.zeros(0)


def _segment_cumsum(group: IntArray, x: FloatArray) -> FloatArray:
    """Cumulative sum of ``x`` restarting at every change of ``group`` (group sorted)."""
    n = len(x)
    if n == 0:
        return np.zeros(0)
    cum = np.cumsum(x)
    head = np.ones(n, dtype=bool)
    head[1:] = group[1:] != group[:-1]
    start = np.maximum.accumulate(np.where(head, np.arange(n), 0))
    out: FloatArray = cum - np.where(start > 0, cum[np.maximum(start - 1, 0)], 0.0)
    return out


def _decide(group: IntArray, cost: FloatArray, funds: FloatArray) -> BoolArray:
    """Sequential first-come-first-served admission per group, in vectorised rounds.

    ``group`` is sorted (orders of a participant contiguous, in arrival order),
    ``funds`` the participant's funds repeated per order. Returns admitted flags.
    """
    n = len(cost)
    admitted = np.zeros(n, dtype=bool)
    left = funds.astype(np.float64).copy()  # funds left per order's participant (kept in sync per group)
    open_ = np.arange(n)
    while open_.size:
        g = group[open_]
        c = cost[open_]
        cum = _segment_cumsum(g, c)
        tol = 1e-9 * np.maximum(1.0, np.abs(left[open_]))
        fits = cum <= left[open_] + tol
        # within each group: orders before the first misfit are admitted
        head = np.ones(open_.size, dtype=bool)
        head[1:] = g[1:] != g[:-1]
        seg = np.cumsum(head) - 1
        misfit = ~fits
        # position of the first misfit of each group (open_.size: none)
        first_bad = np.full(seg[-1] + 1, open_.size)
        np.minimum.at(first_bad, seg[misfit], np.flatnonzero(misfit))
        bad_seen = np.arange(open_.size) >= first_bad[seg]  # a misfit or after one in its group
        ok = ~bad_seen
        admitted[open_[ok]] = True
        spent = np.bincount(seg, weights=np.where(ok, c, 0.0), minlength=seg[-1] + 1)
        rem = left[open_] - spent[seg]
        # the first misfit is rejected; later ones that cannot fit in what is left are rejected too
        is_first = np.zeros(open_.size, dtype=bool)
        has_bad = first_bad < open_.size
        is_first[first_bad[has_bad]] = True
        reject = is_first | (bad_seen & (c > rem + tol))
        keep = bad_seen & ~reject
        left[open_] = rem
        open_ = open_[keep]
    return admitted
