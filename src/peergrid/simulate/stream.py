"""The streaming year: build, control, clear and reduce in blocks of time steps.

:func:`peergrid.simulate` / :func:`peergrid.compare` take this path when asked for it
(``series="none"``, ``dtype="float32"``, ``block=...``) or when the community is lazy
(:attr:`peergrid.Community.lazy`, e.g. ``synthetic_community(..., lazy=True)``). One pass over
the horizon, block by block of ``B`` steps:

1. the block's load and generation are read from the community (gathered from the profile
   tables of a lazy source, or sliced from arrays) and turned into net energy ``x`` (B, N);
2. the battery controller runs on the owners' columns with its state carried from the
   previous block (``greedy``: :class:`peergrid.control.greedy.GreedyState`; ``none``: idle),
   and ``x`` becomes the net after control;
3. the community's demand and supply per slot (Lange eqs. 3–4) and every pool rule's clearing
   of the block's slots follow (the pool rules are per-slot functions, so the clearing of a
   block equals the slots of the year's clearing);
4. every per-member sum the :class:`~peergrid.simulate.result.Result` needs (energy bought,
   sold, purchase cost, revenue, bill components, emissions, for every market and the no-P2P
   baseline) is accumulated by a second compiled kernel as Σ max(x, 0)·w_b and Σ max(−x, 0)·w_s
   over the per-slot weights w of all markets at once.

With ``series="full"`` the net after control and the battery schedule are also written into
``(T, N)`` / ``(T, M)`` arrays (of ``dtype``), allocated once; with ``series="none"`` only the
reductions are kept (memory independent of T·N beyond one block). Metrics, the participant
table, per-step totals and bills are computed in float64 from the blocks in both cases, so
they agree with the array path to rounding (≤ 1e-12 relative, tested; only the order of the sums
differs) and do not depend on ``dtype``.

Supported: pool markets (``baseline``, ``bs``, ``mmr``, ``sdr``), controllers ``"greedy"`` and
``"none"``, perfect forecasts, no faults, no price response, no network step.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial

import numpy as np
import pandas as pd

from peergrid.core.community import Community
from peergrid.core.errors import ConfigError
from peergrid.market.mechanisms import MECHANISMS
from peergrid.market.sharing import Clearing

#: ``series`` values of :func:`peergrid.simulate`.
SERIES = ("full", "none")
#: ``dtype`` values of :func:`peergrid.simulate` (storage of the kept series).
DTYPES = ("float64", "float32")
#: Controllers the streaming path runs block by block.
STREAM_CONTROLS = ("none", "greedy")
#: Target number of values per block (B·N) when ``block`` is not given: 2**19 (4 MiB per float64 block).
BLOCK_VALUES = 1 << 19
#: Largest allowed ``block`` (steps).
MAX_BLOCK = 1 << 24


@dataclass
class Reductions:
    """What a streamed :class:`~peergrid.simulate.result.Result` keeps instead of (or besides) series.

    Attributes
    ----------
    series : {"full", "none"}
        Whether the ``(T, N)`` net and the battery series were kept.
    load_member, generation_member : numpy.ndarray
        Σ over steps per member, kWh (length N).
    load_slot, generation_slot : numpy.ndarray
        Σ over members per step, kWh (length T).
    charge_owner, discharge_owner : numpy.ndarray
        Σ over steps per battery, kWh (length M).
    charge_slot, discharge_slot, energy_slot : numpy.ndarray
        Σ over batteries per step: charge, discharge (kWh) and stored energy at the step's end (kWh).
    sums : dict
        Per market: the per-member sums of ``Result._participant_sums`` (kWh, currency).
    emissions : dict
        Per market: each member's emissions from its own grid import, kgCO2 (NaN without intensity).
    bills : dict
        Per market, for tariffs with an export limit or a demand charge: the bill table.
    baseline_total_bill : float or None
        Σ members' whole bills without P2P (tariffs with an export limit or a demand charge).
    """

    series: str
    load_member: np.ndarray
    generation_member: np.ndarray
    load_slot: np.ndarray
    generation_slot: np.ndarray
    charge_owner: np.ndarray
    discharge_owner: np.ndarray
    charge_slot: np.ndarray
    discharge_slot: np.ndarray
    energy_slot: np.ndarray
    sums: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    emissions: dict[str, np.ndarray] = field(default_factory=dict)
    bills: dict[str, pd.DataFrame] = field(default_factory=dict)
    baseline_total_bill: float | None = None


def _row_build_py(
    t: int,
    lo: int,
    hi: int,
    lt: np.ndarray,
    lc: np.ndarray,
    lf: np.ndarray,
    gt: np.ndarray,
    gc: np.ndarray,
    gf: np.ndarray,
    x: np.ndarray,
    member: np.ndarray,
    slot: np.ndarray,
) -> None:
    """Row ``t``, members lo…hi−1: load ``lt[t, lc[i]]·lf[i]``, generation ``gt[t, gc[i]]·gf[i]``, net; sums."""
    sl = 0.0
    sg = 0.0
    for i in range(lo, hi):
        li = lt[t, lc[i]] * lf[i]
        gi = gt[t, gc[i]] * gf[i]
        x[t, i] = li - gi
        member[0, i] += li
        member[1, i] += gi
        sl += li
        sg += gi
    slot[0, t] = sl
    slot[1, t] = sg


def _row_split_py(t: int, lo: int, hi: int, x: np.ndarray, slot: np.ndarray) -> None:
    """Row ``t``, members lo…hi−1: Σ max(x, 0) and Σ max(−x, 0), the demand D and supply G (Lange eqs. 3–4)."""
    sd = 0.0
    ss = 0.0
    for i in range(lo, hi):
        xi = x[t, i]
        pi = max(xi, 0.0)
        sd += pi
        ss += pi - xi  # max(−x, 0), exactly
    slot[2, t] = sd
    slot[3, t] = ss


def _accumulate_py(
    x: np.ndarray, wb: np.ndarray, ws: np.ndarray, acc_b: np.ndarray, acc_s: np.ndarray, bounds: np.ndarray
) -> None:
    """``acc_b += (max(x, 0)ᵀ · wb)ᵀ`` and ``acc_s += (max(−x, 0)ᵀ · ws)ᵀ``; ``acc_*`` are ``(K, N)``.

    Member chunks ``bounds[c]…bounds[c+1]−1`` each own their accumulator columns (a ``prange``);
    row by row and weight by weight, each update runs over contiguous members.
    """
    B = x.shape[0]
    for ch in prange(bounds.size - 1):
        lo, hi = bounds[ch], bounds[ch + 1]
        for t in range(B):
            for k in range(wb.shape[1]):
                w = wb[t, k]
                if w != 0.0:
                    for i in range(lo, hi):
                        acc_b[k, i] += max(x[t, i], 0.0) * w
            for k in range(ws.shape[1]):
                w = ws[t, k]
                if w != 0.0:
                    for i in range(lo, hi):
                        acc_s[k, i] += max(-x[t, i], 0.0) * w


def _row_battery_py(
    t: int,
    jlo: int,
    jhi: int,
    owners: np.ndarray,
    greedy: bool,
    p: np.ndarray,
    e_min: np.ndarray,
    e_max: np.ndarray,
    eta_c: np.ndarray,
    eta_d: np.ndarray,
    e: np.ndarray,
    c_out: np.ndarray,
    d_out: np.ndarray,
    e_out: np.ndarray,
    x: np.ndarray,
    member: np.ndarray,
    slot: np.ndarray,
) -> None:
    """Row ``t``, batteries jlo…jhi−1 on their owners' columns (strict IEEE arithmetic, no reassociation).

    The arithmetic of :func:`peergrid.control.greedy._greedy_python` (bit-identical schedule);
    ``x`` becomes the net after control, x + (charge − discharge).
    """
    sc = 0.0
    sdis = 0.0
    se = 0.0
    for j in range(jlo, jhi):
        i = owners[j]
        ej = e[j]
        c = 0.0
        d = 0.0
        if greedy:
            xi = x[t, i]
            pj, lo, hi = p[j], e_min[j], e_max[j]
            room = (hi - ej) * (1.0 / eta_c[j])
            avail = (ej - lo) * eta_d[j]
            deficit = xi if xi > 0.0 else 0.0
            surplus = deficit - xi
            c = surplus if surplus < pj else pj
            c = c if c < room else room
            d = deficit if deficit < pj else pj
            d = d if d < avail else avail
            ej = ej + eta_c[j] * c
            ej = ej - d * (1.0 / eta_d[j])
            ej = ej if ej > lo else lo
            ej = ej if ej < hi else hi
            e[j] = ej
            x[t, i] = xi + (c - d)
        c_out[t, j] = c
        d_out[t, j] = d
        e_out[t, j] = ej
        member[2, i] += c
        member[3, i] += d
        sc += c
        sdis += d
        se += ej
    slot[4, t] = sc
    slot[5, t] = sdis
    slot[6, t] = se


def _block_kernel_py(
    lt: np.ndarray,
    lc: np.ndarray,
    lf: np.ndarray,
    gt: np.ndarray,
    gc: np.ndarray,
    gf: np.ndarray,
    owners: np.ndarray,
    greedy: bool,
    p: np.ndarray,
    e_min: np.ndarray,
    e_max: np.ndarray,
    eta_c: np.ndarray,
    eta_d: np.ndarray,
    e: np.ndarray,
    c_out: np.ndarray,
    d_out: np.ndarray,
    e_out: np.ndarray,
    x: np.ndarray,
    member: np.ndarray,
    slot: np.ndarray,
    bounds: np.ndarray,
    jbounds: np.ndarray,
) -> None:
    """One block of B steps, fused row by row: net before control, the battery rule, net after control.

    Load and generation of member i at row t are ``lt[t, lc[i]]·lf[i]`` and ``gt[t, gc[i]]·gf[i]``
    (a profile table gathered and scaled, or a block with identity columns and factors 1).
    Writes ``x`` (net after control) ``(B, N)`` and the battery ``c_out``,
    ``d_out``, ``e_out`` ``(B, M)``, carries ``e`` (stored energy, kWh); adds to ``member``
    ``(4, N)`` Σ load, Σ generation, Σ charge, Σ discharge and sets ``slot[c]`` ``(7, B)`` of member
    chunk c (``bounds[c]…bounds[c+1]−1``, its batteries ``jbounds[c]…jbounds[c+1]−1``): Σ load,
    Σ generation, demand D, supply G, Σ charge, Σ discharge, Σ stored energy per step. Chunks run
    one after the other (a ``prange``, serial when compiled without ``parallel``); the caller adds
    the chunks' partial sums in a fixed order. The sums may be reassociated (vectorised); the battery
    arithmetic is strict.
    """
    for ch in prange(bounds.size - 1):
        lo, hi, jlo, jhi = bounds[ch], bounds[ch + 1], jbounds[ch], jbounds[ch + 1]
        part = slot[ch]
        for t in range(x.shape[0]):
            _row_build(t, lo, hi, lt, lc, lf, gt, gc, gf, x, member, part)
            _row_battery(
                t, jlo, jhi, owners, greedy, p, e_min, e_max, eta_c, eta_d, e, c_out, d_out, e_out, x, member, part
            )
            _row_split(t, lo, hi, x, part)


try:  # numba is a core dependency
    from numba import njit, prange

    _fast = {"reassoc", "nsz"}  # reorder sums only: no FMA contraction, no approximations
    _row_build = njit(cache=True, nogil=True, fastmath=_fast)(_row_build_py)
    _row_split = njit(cache=True, nogil=True, fastmath=_fast)(_row_split_py)
    _row_battery = njit(cache=True, nogil=True)(_row_battery_py)
    # serial on purpose: on a shared 2-core machine OpenMP threads that spin while another process
    # holds a core made a 10,000-home year 2x slower (measured); parallelism comes from running
    # communities side by side (peergrid.simulate.region). The chunks keep the sums' order fixed.
    _block_kernel = njit(cache=True, nogil=True)(_block_kernel_py)
    _accumulate = njit(cache=True, nogil=True, fastmath=True)(_accumulate_py)
except ImportError:  # pragma: no cover
    prange = range
    _row_build, _row_split, _row_battery, _block_kernel, _accumulate = (
        _row_build_py,
        _row_split_py,
        _row_battery_py,
        _block_kernel_py,
        _accumulate_py,
    )


#: Threads of the compiled kernels (plain Python threads over nogil kernels: they block, never spin).
THREADS = min(2, os.cpu_count() or 1)

#: Member chunks of the kernels (fixed, so the order of the sums never depends on threads).
CHUNKS = 8


def _chunks(N: int) -> np.ndarray:
    """Bounds of :data:`CHUNKS` member chunks (multiples of 8 members: whole cache lines), length ≤ CHUNKS + 1."""
    per = -(-N // CHUNKS)  # ceil(N / CHUNKS)
    step = max(8, -(-per // 8) * 8)
    return np.unique(np.r_[np.arange(0, N, step), N]).astype(np.int64)


def _build_chunks(args: tuple, parts: np.ndarray, bounds: np.ndarray, jbounds: np.ndarray, g0: int, g1: int) -> None:
    """:func:`_block_kernel` on member chunks g0…g1−1 (their columns and partial sums only)."""
    _block_kernel(*args, parts[g0:g1], bounds[g0 : g1 + 1], jbounds[g0 : g1 + 1])


def _accumulate_chunks(args: tuple, bounds: np.ndarray, g0: int, g1: int) -> None:
    """:func:`_accumulate` on member chunks g0…g1−1."""
    _accumulate(*args, bounds[g0 : g1 + 1])


def _runner(chunks: int, threads: int | None) -> tuple[Callable[[Callable[[int, int], None]], None], object]:
    """``run(fn)`` calling ``fn(g0, g1)`` on contiguous groups of member chunks, one group per thread."""
    n = max(1, min(int(threads or THREADS), chunks))
    edges = [round(g * chunks / n) for g in range(n + 1)]
    if n == 1:
        return (lambda fn: fn(0, chunks)), None
    pool = ThreadPoolExecutor(max_workers=n, thread_name_prefix="peergrid-stream")

    def run(fn: Callable[[int, int], None]) -> None:
        futures = [pool.submit(fn, edges[g], edges[g + 1]) for g in range(1, n)]
        fn(edges[0], edges[1])  # this thread takes the first group
        for f in futures:
            f.result()

    return run, pool


def check_stream_options(series: str, dtype: str, block: int | None) -> tuple[str, str, int | None]:
    """Validate ``series``, ``dtype`` and ``block`` of :func:`peergrid.simulate`.

    Raises
    ------
    ConfigError
        An unknown value, or a block that is not a positive int ≤ :data:`MAX_BLOCK`.
    """
    s = str(series).strip().lower() if isinstance(series, str) else series
    if s not in SERIES:
        raise ConfigError(f"series must be one of {', '.join(SERIES)}, got {series!r}")
    d = str(np.dtype(dtype)) if isinstance(dtype, (str, type, np.dtype)) and _is_dtype(dtype) else dtype
    if d not in DTYPES:
        raise ConfigError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    if block is not None:
        if isinstance(block, bool) or not isinstance(block, (int, np.integer)) or not 1 <= int(block) <= MAX_BLOCK:
            raise ConfigError(f"block must be a whole number of steps in 1..{MAX_BLOCK}, got {block!r}")
        block = int(block)
    return s, d, block  # type: ignore[return-value]


def _is_dtype(value: object) -> bool:
    try:
        np.dtype(value)  # type: ignore[call-overload]
    except TypeError:
        return False
    return True


def stream_obstacle(
    names: Sequence[str],
    control: object,
    *,
    faults: bool,
    coordinated: bool,
    forecaster: str,
    grid: object,
) -> str | None:
    """Why a run cannot stream (None when it can): a reason naming the option."""
    others = [n for n in names if n not in MECHANISMS]
    if others:
        return f"market {others[0]!r} (streaming supports the pool markets {', '.join(MECHANISMS)})"
    if not isinstance(control, str) or control.strip().lower() not in STREAM_CONTROLS:
        name = control if isinstance(control, str) else getattr(control, "__name__", "custom")
        return f"control {name!r} (streaming supports {', '.join(STREAM_CONTROLS)})"
    if faults:
        return "injected faults"
    if coordinated:
        return 'coordination="price-response"'
    if str(forecaster).strip().lower() != "perfect":
        return f"forecaster {forecaster!r}"
    if grid is not None:
        return "a network-aware run (grid=)"
    return None


def block_rows(N: int, block: int | None) -> int:
    """Steps per block: ``block``, or about :data:`BLOCK_VALUES` values (at least one step)."""
    return int(block) if block is not None else max(1, BLOCK_VALUES // max(N, 1))


def stream_run(
    community: Community,
    names: Sequence[str],
    control: str,
    *,
    series: str = "none",
    dtype: str = "float64",
    block: int | None = None,
    progress: Callable[[int], None] | None = None,
    threads: int | None = None,
) -> tuple[object, np.ndarray | None, dict[str, Clearing], Reductions]:
    """One pass over the horizon: control, clearing of every pool market and all reductions.

    Parameters
    ----------
    community : Community
        Array or lazy community.
    names : sequence of str
        Pool markets to clear (the no-P2P baseline is always cleared too).
    control : {"greedy", "none"}
    series : {"full", "none"}
        Keep the ``(T, N)`` net after control and the ``(T, M)`` battery series, or not.
    dtype : {"float64", "float32"}
        Storage of the kept series.
    block : int, optional
        Steps per block (default: about :data:`BLOCK_VALUES` values per block).
    progress : callable, optional
        Called with the number of steps done after each block.
    threads : int, optional
        Threads running the compiled kernels on disjoint member chunks (default
        :data:`THREADS`); the results do not depend on it (the chunks and the order of their
        sums are fixed).

    Returns
    -------
    schedule : BatterySchedule
        With ``(T, M)`` arrays when series are kept, else ``(0, M)`` placeholders.
    net : numpy.ndarray or None
        ``(T, N)`` net energy after control (kWh, of ``dtype``) when series are kept.
    clearings : dict
        Market name → :class:`~peergrid.market.Clearing` of the year (``"baseline"`` included).
    reductions : Reductions
    """
    from peergrid.control import BatterySchedule, battery_fleet
    from peergrid.control.greedy import GreedyState
    from peergrid.market.tariff import BillAccumulator, community_tariff

    com = community
    T, N = com.T, com.N
    rows_per = block_rows(N, block)
    keep = series == "full"
    store = np.dtype(dtype)
    markets = list(dict.fromkeys(["baseline", *names]))
    owners, fleet = battery_fleet(com)
    M = owners.size
    greedy = control == "greedy" and M > 0
    state = GreedyState(fleet, com.dt)

    net_out = np.empty((T, N), dtype=store) if keep else None
    sched_shape = (T, M) if keep else (0, M)
    charge_out = np.zeros(sched_shape, dtype=store)
    discharge_out = np.zeros(sched_shape, dtype=store)
    energy_out = np.zeros(sched_shape, dtype=store)

    demand, supply = np.empty(T), np.empty(T)
    load_slot, gen_slot = np.empty(T), np.empty(T)
    charge_slot, discharge_slot, energy_slot = np.zeros(T), np.zeros(T), np.zeros(T)

    tariff = community_tariff(com)
    probe = BillAccumulator(tariff, N, com.dt)
    pool_ready = probe.pool_ready
    local = com.local_index
    retail = np.asarray(com.retail, dtype=np.float64)
    feed_in = np.asarray(com.feed_in, dtype=np.float64)
    ci = None if com.carbon_intensity is None else np.asarray(com.carbon_intensity, dtype=np.float64)
    if pool_ready:  # the tariff's per-step rates, once (pool_weights evaluates them per block otherwise)
        rates = {
            "energy": tariff.energy_rate.values(local),
            "network": tariff.network_rate.values(local),
            "local": tariff.local_network_rate.values(local),
            "feed_in": tariff.feed_in_rate.values(local),
        }
        bill_accs: dict[str, BillAccumulator] = {}
        base_acc = None
    else:  # export limit / demand charge: each member's per-step grid energy is needed, per block
        rates = {}
        bill_accs = {m: BillAccumulator(tariff, N, com.dt) for m in names}
        base_acc = BillAccumulator(tariff, N, com.dt)
    p2p_extra = {m: np.zeros(N) for m in names}

    # column layout of the weight matrices (deficit side: wb, surplus side: ws): two shared columns
    # (1, baseline price), then per market fb, price_buy, [energy, network, import, local network,
    # p2p] and the emissions weight; fs, price_sell, [feed-in, export, p2p]
    cols = list(dict.fromkeys(names))
    kb_m, ks_m = 8, 5
    kb, ks = 2 + kb_m * len(cols), 2 + ks_m * len(cols)
    acc_b = np.zeros((kb, N))  # (columns, members): the kernel adds along contiguous members
    acc_s = np.zeros((ks, N))
    owner_cols = np.ascontiguousarray(owners, dtype=np.int64)
    member = np.zeros((4, N))
    cap = min(rows_per, T)
    buf = np.empty((cap, N))
    bat = [np.empty((cap, M)) for _ in range(3)]
    bounds = _chunks(N)
    jbounds = np.searchsorted(owner_cols, bounds).astype(np.int64)
    run, pool = _runner(bounds.size - 1, threads)

    try:
        for start in range(0, T, rows_per):
            rows = slice(start, min(start + rows_per, T))
            B = rows.stop - rows.start
            lt, lc, lf = com.gather_spec("load", rows)
            gt, gc, gf = com.gather_spec("generation", rows)
            x = buf[:B]
            c_b, d_b, e_b = (b[:B] for b in bat)
            parts = np.zeros((bounds.size - 1, 7, B))

            kernel_args = (lt, lc, lf, gt, gc, gf, owner_cols, greedy, state.p, state.e_min, state.e_max,
                           state.eta_c, state.eta_d, state.energy, c_b, d_b, e_b, x, member)  # fmt: skip
            run(partial(_build_chunks, kernel_args, parts, bounds, jbounds))
            slot = parts.sum(axis=0)  # the chunks' partial sums, in a fixed order
            load_slot[rows], gen_slot[rows] = slot[0, :B], slot[1, :B]
            d_blk, g_blk = slot[2, :B].copy(), slot[3, :B].copy()
            demand[rows], supply[rows] = d_blk, g_blk
            charge_slot[rows], discharge_slot[rows], energy_slot[rows] = slot[4, :B], slot[5, :B], slot[6, :B]
            if keep:
                net_out[rows] = x  # type: ignore[index]
                charge_out[rows], discharge_out[rows], energy_out[rows] = c_b, d_b, e_b
            r, f = retail[rows], feed_in[rows]
            base = MECHANISMS["baseline"](d_blk, g_blk, r, f)
            clear = {m: base if m == "baseline" else MECHANISMS[m](d_blk, g_blk, r, f) for m in cols}
            wb = np.zeros((B, kb))
            ws = np.zeros((B, ks))
            wb[:, 0] = 1.0
            ws[:, 0] = 1.0
            wb[:, 1] = base.price_buy
            ws[:, 1] = base.price_sell
            for j, m in enumerate(cols):
                c_m = clear[m]
                fb, fs = c_m.peer_share_buy, c_m.peer_share_sell
                ob, os_ = 2 + j * kb_m, 2 + j * ks_m
                wb[:, ob] = fb
                wb[:, ob + 1] = c_m.price_buy
                ws[:, os_] = fs
                ws[:, os_ + 1] = c_m.price_sell
                if pool_ready:  # the columns of BillAccumulator.pool_weights and the p2p payment
                    gb, gs = 1.0 - fb, 1.0 - fs
                    wb[:, ob + 2] = gb * rates["energy"][rows]
                    wb[:, ob + 3] = gb * rates["network"][rows]
                    wb[:, ob + 4] = gb
                    wb[:, ob + 5] = fb * rates["local"][rows]
                    wb[:, ob + 6] = c_m.price_buy - (1.0 - fb) * r
                    ws[:, os_ + 2] = gs * rates["feed_in"][rows]
                    ws[:, os_ + 3] = gs
                    ws[:, os_ + 4] = -(c_m.price_sell - (1.0 - fs) * f)
                if ci is not None:
                    wb[:, ob + 7] = (1.0 - fb) * ci[rows]
            run(partial(_accumulate_chunks, (x, wb, ws, acc_b, acc_s), bounds))  # zero weights are skipped
            if not pool_ready:
                lb = local[rows]
                pos = np.maximum(x, 0.0)
                base_acc.add(lb, pos, pos - x, None)  # type: ignore[union-attr]
                for m in cols:
                    a = clear[m].allocate(x)
                    bill_accs[m].add(lb, a.grid_import, a.grid_export, a.bought)
                    p2p_extra[m] += a.bill.sum(axis=0) - (a.grid_import.T @ r - a.grid_export.T @ f)
            if progress is not None:
                progress(rows.stop)
    finally:
        if pool is not None:
            pool.shutdown()  # type: ignore[attr-defined]
    load_member, gen_member = member[0], member[1]
    charge_owner, discharge_owner = member[2, owners], member[3, owners]

    clearings = {m: MECHANISMS[m](demand, supply, retail, feed_in) for m in markets}
    red = Reductions(
        series=series,
        load_member=load_member,
        generation_member=gen_member,
        load_slot=load_slot,
        generation_slot=gen_slot,
        charge_owner=charge_owner,
        discharge_owner=discharge_owner,
        charge_slot=charge_slot,
        discharge_slot=discharge_slot,
        energy_slot=energy_slot,
    )
    acc_b, acc_s = acc_b.T, acc_s.T  # (members, columns)
    for j, m in enumerate(cols):
        ob, os_ = 2 + j * kb_m, 2 + j * ks_m
        sums = {
            "deficit": acc_b[:, 0],
            "baseline_purchase_cost": acc_b[:, 1],
            "surplus": acc_s[:, 0],
            "baseline_revenue": acc_s[:, 1],
            "bought": acc_b[:, ob],
            "purchase_cost": acc_b[:, ob + 1],
            "sold": acc_s[:, os_],
            "revenue": acc_s[:, os_ + 1],
        }
        if pool_ready:  # as BillAccumulator.pool_weights orders them (local kWh = bought)
            sums |= {
                "_bill_buy": acc_b[:, [ob + 2, ob + 3, ob + 4, ob + 5, ob, ob + 6]],
                "_bill_sell": acc_s[:, [os_ + 2, os_ + 3, os_ + 4]],
            }
        else:
            df = bill_accs[m].frame(com.ids)
            df.insert(df.columns.get_loc("total"), "p2p", p2p_extra[m])
            df["total"] += df["p2p"]
            red.bills[m] = df
        red.sums[m] = sums
        red.emissions[m] = acc_b[:, ob + 7].copy() if ci is not None else np.full(N, math.nan)
    if not pool_ready:
        red.baseline_total_bill = float(base_acc.frame(com.ids)["total"].sum())  # type: ignore[union-attr]
    schedule = BatterySchedule(owners, charge_out, discharge_out, energy_out, fleet.capacity)
    return schedule, net_out, clearings, red
