"""Compiled order books on net positions: :func:`peergrid.market.clear_net` in time blocks (numba).

The books of :func:`~peergrid.market.clear_net` have a fixed shape — slot t holds at most one
order per participant i (a bid of ``net[t, i]`` kWh if positive, an ask of ``−net[t, i]`` kWh
if negative) — so they need no :class:`~peergrid.market.OrderBook` at all: this kernel reads a
``(T_block, N)`` block of net positions, builds each slot's bids and asks in two small scratch
arrays, sorts them by price priority (ties: arrival order), finds the efficient quantity Q* of
the slot with the same crossing rule as :func:`~peergrid.market.auction._efficient`, fills
the accepted orders, prices them (pay-as-bid: each order at its own limit; uniform: the
k-price of the marginal pair) and writes each participant's peer energy and bill straight into
the ``(T, N)`` outputs — no per-order arrays of the whole horizon, no Python per slot.

Same orders and priorities as the :class:`OrderBook` path (``clear_net(..., engine="book")``):
the same limit prices (truthful λb / λs; zero-intelligence λs + u·(λb − λs) from the same
uniform stream u, drawn in slot-major order; ZI-C within the agents' reservation prices, u
in the order of their slot-sorted book) and the same arrival order (the same seeded
permutation). Energies differ only by rounding: the book path lays all slots on one cumulative
axis, so its fills carry rounding noise of the order of ulp(Σ Q) and it drops segments below
64·eps·max(1, Σ Q); here cumulative sums restart at every slot and the sliver threshold is
64·eps·max(1, Q_t) (tests: equal to 1e-9 relative on random books).
"""

from __future__ import annotations

import mmap
from typing import Any

import numpy as np

try:  # numba is a core dependency; the fallback only keeps imports working without it
    from numba import njit

    HAVE_NUMBA = True
except ImportError:  # pragma: no cover
    HAVE_NUMBA = False

    def njit(*args: Any, **kwargs: Any) -> Any:  # type: ignore[no-redef]
        def wrap(f: Any) -> Any:
            return f

        return wrap if not args or not callable(args[0]) else args[0]


PAY_AS_BID = 0
UNIFORM = 1

TRUTHFUL = 0  # bids at λb, asks at λs
ZERO_INTELLIGENCE = 1  # λs + u·(λb − λs), u in slot-major order
ZIC = 2  # ZI-C within reservation prices: bids λs + u·(r − λs), asks r + u·(λb − r), u in arrival order per slot

_SLIVER = 64.0 * np.finfo(np.float64).eps


_PACK = 20  # bits of an order's index within its slot in a packed (arrival rank, index) sort key


@njit(cache=True, nogil=True)
def _priority(price, arrival, n, descending, idx, key, packed):  # type: ignore[no-untyped-def]  # numba kernel
    """Order of ``n`` orders by price priority, ties by arrival (writes ``idx[:n]``).

    Arrival ranks are distinct: sorting the packed keys ``rank · 2**20 + index`` in place orders
    the orders by arrival without an index sort (``argsort`` for slots of 2**20 orders or more).
    """
    if n < (1 << _PACK):
        for r in range(n):
            packed[r] = (np.int64(arrival[r]) << _PACK) | r
        packed[:n].sort()
        for r in range(n):
            idx[r] = packed[r] & ((1 << _PACK) - 1)
    else:
        order = np.argsort(arrival[:n])
        for r in range(n):
            idx[r] = order[r]
    p0 = price[idx[0]]
    same = True
    for r in range(1, n):
        if price[idx[r]] != p0:
            same = False
            break
    if same:
        return
    for r in range(n):
        key[r] = -price[idx[r]] if descending else price[idx[r]]
    second = np.argsort(key[:n], kind="mergesort")  # stable: equal prices keep arrival order
    for r in range(n):
        packed[r] = idx[second[r]]
    for r in range(n):
        idx[r] = packed[r]


@njit(cache=True, nogil=True)
def clear_block(x, lb, ls, first, rank, u, pricing, limit, mode, k, peer, bill, traded, fees, paid, received):  # type: ignore[no-untyped-def]
    """Clear every slot of a block of net positions (one thread: no OpenMP runtime in forked workers).

    Parameters
    ----------
    x : ndarray (Tb, N)
        Net energy of the block's slots, kWh (finite).
    lb, ls : ndarray (Tb,)
        λb and λs of the slots, currency/kWh.
    first : ndarray (Tb,) int64
        Slot-major index of each slot's first order in the whole horizon (nonzero entries of net
        counted row by row).
    rank : ndarray int
        Arrival rank of every order of the block (slot-major, the first one is order ``first[0]``).
    u : ndarray
        Uniform numbers of the block's orders (empty for truthful bidding).
    pricing : int
        ``TRUTHFUL`` (bids at λb, asks at λs), ``ZERO_INTELLIGENCE`` (``ls + u·(lb − ls)``,
        ``u`` in slot-major order) or ``ZIC`` (bids ``ls + u·(r − ls)``, asks ``r + u·(lb − r)``
        with r = ``limit[t, i]``, ``u`` in arrival order within each slot: the order of the
        agents' slot-sorted book).
    limit : ndarray (Tb, N)
        ``ZIC``: reservation price of each member's order, currency/kWh (else unused).
    mode : int
        ``PAY_AS_BID`` or ``UNIFORM``.
    k : float
        Uniform price parameter in [0, 1].
    peer, bill : ndarray (Tb, N)
        Outputs: peer energy (+ bought, − sold), kWh, and bill (+ paid, − received), currency.
    traded, fees, paid, received : ndarray (Tb,)
        Outputs per slot: energy bought from peers (kWh), operator fees, money paid by buyers and
        received by sellers (currency).
    """
    _clear_slots(0, x.shape[0], x, lb, ls, first, rank, u, pricing, limit, mode, k, peer, bill, traded, fees, paid,
                 received)  # fmt: skip


@njit(cache=True, nogil=True)
def _clear_slots(t0, t1, x, lb, ls, first, rank, u, pricing, limit, mode, k, peer, bill, traded, fees, paid, received):  # type: ignore[no-untyped-def]
    """Slots ``t0 ≤ t < t1`` of :func:`clear_block` (one thread, its own scratch arrays)."""
    N = x.shape[1]
    zi = pricing == ZERO_INTELLIGENCE
    zic = pricing == ZIC
    base = first[0]
    o_arr = np.empty(N, np.int64)
    o_pos = np.empty(N, np.int64)  # + bid index + 1, or − (ask index + 1)
    b_who = np.empty(N, np.int64)
    a_who = np.empty(N, np.int64)
    b_q = np.empty(N)
    a_q = np.empty(N)
    b_p = np.empty(N)
    a_p = np.empty(N)
    b_arr = np.empty(N, np.int64)
    a_arr = np.empty(N, np.int64)
    b_idx = np.empty(N, np.int64)
    a_idx = np.empty(N, np.int64)
    key = np.empty(N)
    packed = np.empty(N, np.int64)
    b_start = np.empty(N)
    b_end = np.empty(N)
    a_start = np.empty(N)
    a_end = np.empty(N)
    for t in range(t0, t1):
        hi = lb[t]
        lo = ls[t]
        nb = 0
        na = 0
        o = first[t]
        for i in range(N):
            v = x[t, i]
            peer[t, i] = 0.0
            bill[t, i] = 0.0
            if v > 0.0:
                b_who[nb] = i
                b_q[nb] = v
                b_p[nb] = lo + u[o - base] * (hi - lo) if zi else hi
                b_arr[nb] = rank[o - base]
                nb += 1
                o += 1
            elif v < 0.0:
                a_who[na] = i
                a_q[na] = -v
                a_p[na] = lo + u[o - base] * (hi - lo) if zi else lo
                a_arr[na] = rank[o - base]
                na += 1
                o += 1
        if zic and nb + na > 0:  # the r-th arrival of the slot takes the r-th number of the slot
            m = 0
            for r in range(nb):
                o_arr[m] = b_arr[r]
                o_pos[m] = r + 1
                m += 1
            for r in range(na):
                o_arr[m] = a_arr[r]
                o_pos[m] = -(r + 1)
                m += 1
            seq = np.argsort(o_arr[:m])
            for r in range(m):
                w = o_pos[seq[r]]
                z = u[first[t] - base + r]
                if w > 0:
                    lim = limit[t, b_who[w - 1]]
                    b_p[w - 1] = lo + z * (lim - lo)
                else:
                    lim = limit[t, a_who[-w - 1]]
                    a_p[-w - 1] = lim + z * (hi - lim)
        tr = 0.0
        fee = 0.0
        pay = 0.0
        rec = 0.0
        if nb > 0 and na > 0:
            _priority(b_p, b_arr, nb, True, b_idx, key, packed)
            _priority(a_p, a_arr, na, False, a_idx, key, packed)
            c = 0.0
            for r in range(nb):
                b_start[r] = c
                c += b_q[b_idx[r]]
                b_end[r] = c
            c = 0.0
            for r in range(na):
                a_start[r] = c
                c += a_q[a_idx[r]]
                a_end[r] = c
            # accepted prefixes: an order's first kWh meets a counter-order it crosses
            j = 0
            nbacc = 0
            for r in range(nb):
                while j < na and a_end[j] <= b_start[r]:
                    j += 1
                if j == na or b_p[b_idx[r]] < a_p[a_idx[j]]:
                    break
                nbacc += 1
            j = 0
            naacc = 0
            for r in range(na):
                while j < nb and b_end[j] <= a_start[r]:
                    j += 1
                if j == nb or b_p[b_idx[j]] < a_p[a_idx[r]]:
                    break
                naacc += 1
            if nbacc > 0 and naacc > 0:
                Q = min(b_end[nbacc - 1], a_end[naacc - 1])
                tol = _SLIVER * max(1.0, Q)
                price = k * b_p[b_idx[nbacc - 1]] + (1.0 - k) * a_p[a_idx[naacc - 1]]
                for r in range(nbacc):
                    if b_start[r] >= Q:
                        break
                    f = min(b_end[r], Q) - b_start[r]
                    if f <= tol:
                        continue
                    s = b_idx[r]
                    p = b_p[s] if mode == PAY_AS_BID else price
                    peer[t, b_who[s]] = f
                    bill[t, b_who[s]] = f * p
                    tr += f
                    fee += f * p
                for r in range(naacc):
                    if a_start[r] >= Q:
                        break
                    f = min(a_end[r], Q) - a_start[r]
                    if f <= tol:
                        continue
                    s = a_idx[r]
                    p = a_p[s] if mode == PAY_AS_BID else price
                    peer[t, a_who[s]] = -f
                    bill[t, a_who[s]] = -(f * p)
                    fee -= f * p
        # residuals at the grid's prices
        for r in range(nb):
            i = b_who[r]
            res = b_q[r] - peer[t, i]
            b = bill[t, i] + (res * hi if res > 0.0 else 0.0)
            bill[t, i] = b
            pay += b
        for r in range(na):
            i = a_who[r]
            res = a_q[r] + peer[t, i]
            b = bill[t, i] - (res * lo if res > 0.0 else 0.0)
            bill[t, i] = b
            rec -= b
        traded[t] = tr
        fees[t] = fee if mode == PAY_AS_BID else 0.0
        paid[t] = pay
        received[t] = rec


@njit(cache=True, nogil=True)
def count_orders(x, out):  # type: ignore[no-untyped-def]  # numba kernel
    """Nonzero entries of each row of ``x`` (the orders of each slot), into ``out``."""
    T, N = x.shape
    for t in range(T):
        c = 0
        for i in range(N):
            if x[t, i] != 0.0:
                c += 1
        out[t] = c


class ArrivalRanks:
    """Arrival rank of each of ``n`` orders (slot-major index → position) under ``rng.permutation(n)``.

    The :class:`OrderBook` path shuffles its slot-major book with ``book.select(perm)``: order
    ``perm[j]`` arrives j-th. :attr:`rank` is the inverse permutation, int32 when it fits (int64
    from 2**31 orders on), in its own anonymous memory map so that :meth:`release` can hand
    the pages of cleared orders back to the system while the books' outputs grow.
    ``rng.shuffle`` of an ``arange`` draws the same permutation as ``rng.permutation(n)``
    whatever the integer type, so the permutation is int32 too (two int32 arrays of n at the
    peak, one kept).

    Parameters
    ----------
    n : int
        Number of orders.
    rng : numpy.random.Generator
        Draws the permutation (advanced as ``rng.permutation(n)`` would).
    """

    def __init__(self, n: int, rng: np.random.Generator) -> None:
        dtype = np.int32 if n < 2**31 else np.int64
        perm = np.arange(n, dtype=dtype)
        rng.shuffle(perm)
        nbytes = n * np.dtype(dtype).itemsize
        self._map = mmap.mmap(-1, nbytes) if nbytes else None
        self.rank = np.frombuffer(self._map, dtype=dtype) if self._map is not None else np.empty(0, dtype=dtype)
        _invert(perm, self.rank)
        self._released = 0

    def release(self, stop: int) -> None:
        """Give back the whole pages holding the ranks of orders ``< stop`` (they read as 0 afterwards)."""
        if self._map is None:
            return
        end = (stop * self.rank.itemsize) // mmap.PAGESIZE * mmap.PAGESIZE
        if end > self._released and hasattr(self._map, "madvise"):
            self._map.madvise(mmap.MADV_DONTNEED, self._released, end - self._released)
            self._released = end


@njit(cache=True, nogil=True)
def _invert(perm, out):  # type: ignore[no-untyped-def]  # numba kernel
    """``out[perm[j]] = j`` for every j (the inverse permutation)."""
    for j in range(perm.shape[0]):
        out[perm[j]] = j


@njit(cache=True, nogil=True)
def allocate_rows(net, peer, bill, bought, sold, grid_import, grid_export, bill_out):  # type: ignore[no-untyped-def]
    """Each member's own outcome from its net position and peer trades (one pass; see ``OrderClearing.allocate``).

    ``bought = max(peer, 0)``, ``sold = max(−peer, 0)``, ``grid_import = max(max(net, 0) − bought, 0)``,
    ``grid_export = max(max(−net, 0) − sold, 0)``, ``bill_out = bill`` — elementwise, the same
    floating-point operations as the numpy expressions.
    """
    T, N = net.shape
    for t in range(T):
        for i in range(N):
            p = peer[t, i]
            x = net[t, i]
            b = p if p > 0.0 else 0.0
            s = -p if -p > 0.0 else 0.0
            d = x if x > 0.0 else 0.0
            g = -x if -x > 0.0 else 0.0
            bought[t, i] = b
            sold[t, i] = s
            gi = d - b
            ge = g - s
            grid_import[t, i] = gi if gi > 0.0 else 0.0
            grid_export[t, i] = ge if ge > 0.0 else 0.0
            bill_out[t, i] = bill[t, i]


@njit(cache=True, nogil=True)
def participant_sums(peer, bill, block, out):  # type: ignore[no-untyped-def]  # numba kernel
    """Per-member Σ bought, Σ sold, Σ purchase cost and Σ revenue into ``out`` (4, N).

    Summed row by row within blocks of ``block`` rows and then across blocks, as
    ``np.maximum(block_rows, 0).sum(axis=0)`` accumulated block by block does (bit for bit).
    """
    T, N = peer.shape
    acc = np.empty((4, N))
    for start in range(0, T, block):
        stop = min(start + block, T)
        acc[:] = 0.0
        for t in range(start, stop):
            for i in range(N):
                p = peer[t, i]
                b = bill[t, i]
                acc[0, i] += p if p > 0.0 else 0.0
                acc[1, i] += -p if -p > 0.0 else 0.0
                acc[2, i] += b if b > 0.0 else 0.0
                acc[3, i] += -b if -b > 0.0 else 0.0
        for i in range(N):
            for r in range(4):
                out[r, i] += acc[r, i]
