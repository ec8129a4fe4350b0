"""Cycle-driven federation engine on numpy arrays (the PeerSim model of Petri et al. 2020).

State is a set of per-node arrays (alive flag, cluster, produced energy types as a
bit mask, price factor, capacity left this cycle) and the overlay in CSR form
(:class:`~peergrid.federation.overlay.Overlay`). One cycle, in PeerSim's order
(controls first, then the nodes' protocol):

1. dynamics — every ``[[dynamics]]`` control active at this cycle adds or removes
   nodes with PeerSim ``DynamicNetwork`` semantics;
2. overlay rewiring every ``overlay.period`` cycles (Newscast or triadic closure);
3. migration every ``migration.period`` cycles (cycle > 0);
4. production: every alive producer's capacity is renewed, U(capacity) kWh, offered
   with probability α / (α + h) when an engagement response h > 0 is configured;
5. demand: each alive node issues a request with probability p (Bernoulli) or a
   Poisson(p) number of requests; injected nodes issue one request on arrival. A
   request asks for one energy type (uniform over S), a quantity U(quantity) kWh and,
   optionally, a price at most type price × (1 + tolerance);
6. matching (:func:`fill_jointly`): the requester's cluster manager broadcasts the
   request to the candidates — the requester's view in order (``scope = "view"``) or
   the cluster members producing that type, cheapest first (``scope = "cluster"``) —
   and the request is filled *jointly*: each candidate with the type, capacity and an
   acceptable price delivers ``min(need, capacity)``; every partial fill is one
   exchange. All requests advance one candidate rank at a time; requests reaching the
   same provider in the same rank are served in request order, so capacity is never
   oversold and each kWh is delivered by exactly one provider;
7. metrics (Petri et al. eqs. 1–3): exchanges (count and kWh), cost = Σ quantity ×
   price + α per exchange (+ commission fees), consumption = energy received by
   consumers; and eq. 2 as printed, ``cost_eq2`` = Σ_j quantity_j / energy.network(t) ×
   (price_j + α), with energy.network(t) the energy the network offers in cycle t (the
   producers' renewed capacity, ``offered_kwh``).

Everything is vectorised over nodes and requests; the Python loops run over cycles
and, in the numpy kernels, over candidate ranks (at most the view size, or a cluster's
providers of a type). The default numba kernels (:mod:`peergrid.federation._kernels`)
do the matching in one compiled pass per rank, the triadic rewiring and the initial view
draw in single passes, with bit-identical results (``simulate(..., kernel="numpy")``
runs the numpy reference).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from peergrid.core.errors import ConfigError
from peergrid.federation import _kernels
from peergrid.federation.config import DynamicNetworkConfig, FederationConfig
from peergrid.federation.migration import cluster_wealth, plan_migrations
from peergrid.federation.overlay import (
    Overlay,
    add_triadic_links,
    newscast,
    overlay_stats,
    sample_views,
)

__all__ = ["METRICS", "Federation", "FederationResult", "fill_jointly", "simulate"]

#: Per-cycle metrics recorded by the engine (units in brackets).
METRICS: dict[str, str] = {
    "nodes": "alive nodes",
    "requests": "service requests issued",
    "requested_kwh": "energy requested [kWh]",
    "fulfilled": "requests filled completely",
    "exchanges": "exchanges, one per partial fill (Petri et al. eq. 1)",
    "exchanged_kwh": "energy exchanged [kWh] (Petri et al. eq. 1, quantity form)",
    "consumption_kwh": "energy consumed by requesting nodes [kWh] (Petri et al. eq. 3)",
    "energy_cost": "Σ quantity × price [m.u.]",
    "payoffs": "Σ α per exchange [m.u.]",
    "fees": "migration commission fees [m.u.]",
    "cost": "energy_cost + payoffs + fees [m.u.] (Petri et al. eq. 2 without its normalisation)",
    "offered_kwh": "energy offered in the network, Σ producers' capacity this cycle [kWh] (eq. 2 energy.network)",
    "cost_eq2": "Σ quantity / offered_kwh × (price + α) [m.u.] (Petri et al. eq. 2 as printed)",
    "migrations": "nodes that changed cluster",
}


def fill_jointly(
    start: np.ndarray,
    length: np.ndarray,
    source: np.ndarray,
    req_node: np.ndarray,
    req_type: np.ndarray,
    need: np.ndarray,
    cap: np.ndarray,
    type_mask: np.ndarray | None,
    price_factor: np.ndarray | None = None,
    max_factor: float | None = None,
    exclude_self: bool = False,
    typed_stride: int | None = None,
    scratch: tuple[np.ndarray, np.ndarray] | None = None,
    kernel: str = "auto",
    order_stride: int = 0,
    _check: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fill requests jointly by scanning their candidate providers rank by rank.

    Request ``q``'s candidates are ``source[start[q] : start[q] + length[q]]`` in order.
    At rank ``r`` every unfilled request looks at its ``r``-th candidate ``p``; if ``p``
    produces the requested type, has capacity left and (optionally) an acceptable price
    factor, it delivers ``min(need, capacity)``. Requests meeting the same provider at
    the same rank are served in request order (a segmented cumulative sum), so a
    provider never delivers more than its capacity.

    Parameters
    ----------
    start, length : numpy.ndarray
        ``(R,)`` int64 candidate list of each request.
    source : numpy.ndarray
        Candidate provider ids (CSR ``indices`` or a cluster registry).
    req_node, req_type : numpy.ndarray
        ``(R,)`` requester id and requested energy type.
    need : numpy.ndarray
        ``(R,)`` kWh still needed; **updated in place**.
    cap : numpy.ndarray
        Capacity left per node (kWh); **updated in place**. Dead nodes have 0.
    type_mask : numpy.ndarray
        uint32 bit mask of the energy types each node produces.
    price_factor : numpy.ndarray, optional
        Price factor of every provider (its price = type price × factor).
    max_factor : float, optional
        Highest acceptable price factor (requests within a price range).
    exclude_self : bool
        Skip candidates equal to the requester (cluster registries contain it).
    typed_stride : int, optional
        Typed-capacity layout for single-type producers: ``cap`` then has one block of
        ``typed_stride`` entries per energy type, ``cap[t * typed_stride + p]`` being
        what ``p`` has left of type ``t`` (zero for other types), and ``type_mask`` is
        not used. One memory access then checks both the type and the capacity.
    scratch : (numpy.ndarray, numpy.ndarray), optional
        Reusable int32 and all-False bool arrays of ``cap.size`` (saves two allocations per call).
    kernel : {"auto", "numba", "numpy"}
        ``"numba"``: the compiled one-pass-per-rank kernel
        (:func:`peergrid.federation._kernels.fill_ranks`); ``"numpy"``: the vectorised
        reference (one numpy pass per operation and rank); ``"auto"``: numba when installed.
        Both give bit-identical results.
    order_stride : int
        With the bit-mask layout and single-type producers, ``order_stride`` = the typed
        layout's ``typed_stride`` makes the numba kernel round exactly as the numpy kernel
        does in the typed layout (providers met by several requests in one rank are summed in
        the typed layout's order). 0: round as the numpy kernel in the given layout.

    Returns
    -------
    req, prov, qty : numpy.ndarray
        One entry per exchange: request index, provider id, kWh (> 0).
    """
    if kernel not in ("auto", "numba", "numpy"):
        raise ValueError(f"kernel = {kernel!r}: expected 'auto', 'numba' or 'numpy'")
    act = np.flatnonzero((length > 0) & (need > 0))
    a_pos = start[act]
    a_len = length[act]
    typed = typed_stride is not None
    floats = need.dtype == np.float64 and cap.dtype == np.float64  # updated in place: no conversion
    use_numba = kernel == "numba" or (kernel == "auto" and _kernels.HAVE_NUMBA and floats)
    if use_numba and _check and _kernels.HAVE_NUMBA and floats:
        # compiled code checks no bounds: odd inputs take the numpy path (same results, same errors)
        use_numba = _numba_safe(act, a_pos, a_len, source, req_node, req_type, cap, type_mask,
                                price_factor, max_factor, exclude_self, typed_stride)  # fmt: skip
    if use_numba:
        if not (_kernels.HAVE_NUMBA and floats):
            raise ValueError("kernel = 'numba' needs numba installed and float64 need and cap")
        if typed:
            tag = req_type[act].astype(np.int64) * typed_stride
            mask_arr = np.zeros(1, np.uint8)
        else:
            tag = req_type[act].astype(np.int64)
            mask_arr = type_mask
        use_price = max_factor is not None and price_factor is not None
        r_, p_, q_, n_out = _kernels.fill_ranks(
            act.astype(np.int64),
            np.asarray(a_pos, np.int64),
            np.asarray(a_len, np.int64),
            tag,
            source,
            np.asarray(req_node, np.int64),
            need,
            cap,
            mask_arr,
            typed,
            price_factor if use_price else np.ones(1),
            float(max_factor) if use_price else 0.0,
            use_price,
            bool(exclude_self),
            0 if typed else int(order_stride),
        )
        return r_[:n_out], p_[:n_out], q_[:n_out]
    if scratch is None or scratch[0].size < cap.size:
        scratch = (np.zeros(cap.size, np.int32), np.zeros(cap.size, bool))
    slot, flag = scratch  # which entry of a round claimed a provider; providers met by several requests
    out_r: list[np.ndarray] = []
    out_p: list[np.ndarray] = []
    out_q: list[np.ndarray] = []
    if typed:
        a_tag = req_type[act].astype(np.int64) * typed_stride  # offset of the type's capacity block
    else:
        a_tag = req_type[act].astype(type_mask.dtype)  # bit of the type in the mask
    r = 0
    while act.size:
        prov = source[a_pos + r]
        if typed:
            key = a_tag + prov
            cv = cap[key]
            ok = cv > 0  # zero unless the provider makes this type and has energy left
        else:
            key = prov
            bit = (type_mask[prov] >> a_tag) & 1
            ok = bit.view(bool) if bit.dtype == np.uint8 else bit.astype(bool)
            cv = cap[prov]
            ok &= cv > 0
        if max_factor is not None and price_factor is not None:
            ok &= price_factor[prov] <= max_factor
        if exclude_self:
            ok &= prov != req_node[act]
        k = np.flatnonzero(ok)
        done = None
        if k.size:
            sel = act[k]
            p = prov[k]
            pk = key[k]
            nd = need[sel]
            cp = cv[k]
            fill = np.minimum(nd, cp)
            # providers met by several requests at this rank are served in request order
            ar = np.arange(k.size, dtype=np.int32)
            slot[pk] = ar
            clash = pk[slot[pk] != ar]
            if clash.size:
                flag[clash] = True
                multi = np.flatnonzero(flag[pk])
                flag[clash] = False
                o = multi[np.argsort(pk[multi], kind="stable")]
                pm, nm = pk[o], nd[o]
                first = np.empty(o.size, bool)
                first[0] = True
                np.not_equal(pm[1:], pm[:-1], out=first[1:])
                starts = np.flatnonzero(first)
                excl = np.cumsum(nm) - nm
                before = excl - excl[starts][np.cumsum(first) - 1]
                fm = np.maximum(np.minimum(nm, cp[o] - before), 0.0)
                fill[o] = fm
                left = cp - fill
                group_left = cp[o[starts]] - np.add.reduceat(fm, starts)
                left[o] = group_left[np.cumsum(first) - 1]  # every entry of a provider writes the same value
            else:
                left = cp - fill
            cap[pk] = np.where(left > 1e-9, left, 0.0)
            rest = nd - fill
            need[sel] = rest
            pos = np.flatnonzero(fill > 0)
            out_r.append(sel[pos])
            out_p.append(p[pos])
            out_q.append(fill[pos])
            done = k[rest <= 0]
        r += 1
        alive = a_len > r
        if done is not None and done.size:
            alive[done] = False
        nxt = np.flatnonzero(alive)
        act, a_pos, a_len, a_tag = act[nxt], a_pos[nxt], a_len[nxt], a_tag[nxt]
    if not out_r:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    return np.concatenate(out_r), np.concatenate(out_p).astype(np.int64), np.concatenate(out_q)


def _numba_safe(
    act, a_pos, a_len, source, req_node, req_type, cap, type_mask, price_factor, max_factor, exclude_self, stride
) -> bool:
    """Whether every index the numba kernel may use is in range (compiled code checks no bounds).

    Inputs outside these ranges (negative ids that numpy indexing wraps, out-of-range ids or types
    that numpy refuses with ``IndexError`` or treats as "no such type") go to the numpy kernel,
    which then behaves exactly as before.
    """
    if act.size == 0:
        return True
    if a_pos.min() < 0 or int((a_pos + a_len).max()) > np.asarray(source).size:
        return False
    reach = np.repeat(a_pos, a_len) + (np.arange(int(a_len.sum())) - np.repeat(np.cumsum(a_len) - a_len, a_len))
    ids = np.asarray(source)[reach]
    limit = cap.size if stride is None else int(stride)
    if type_mask is not None and stride is None:
        limit = min(limit, type_mask.size)
    if max_factor is not None and price_factor is not None:
        limit = min(limit, np.asarray(price_factor).size)
    if ids.size and (int(ids.min()) < 0 or int(ids.max()) >= limit):
        return False
    t = np.asarray(req_type)[act]
    if int(t.min()) < 0:
        return False
    if stride is not None and int(t.max()) * int(stride) + limit > cap.size:
        return False
    if stride is None and int(t.max()) >= 8 * type_mask.itemsize:
        return False
    return not (exclude_self and np.asarray(req_node).size <= int(act.max()))


@dataclass
class FederationResult:
    """Outcome of one federation run.

    Attributes
    ----------
    config : FederationConfig
    seed : int
    per_cycle : dict[str, numpy.ndarray]
        ``(cycles,)`` series of every metric in :data:`METRICS`.
    overlay_start, overlay_end : dict or None
        :func:`~peergrid.federation.overlay.overlay_stats` before the first and after
        the last cycle (when ``overlay.sample > 0``).
    exchanges : dict[str, numpy.ndarray] or None
        Exchange log when recorded: ``cycle``, ``request`` (global request number),
        ``requester``, ``provider``, ``type``, ``kwh``, ``price``; and ``requests``:
        the request table (``cycle``, ``requester``, ``type``, ``kwh``).
    seconds : float
        Wall time of the run.
    bytes_per_node : float
        Memory of the state arrays and the overlay per allocated node at the end.
    """

    config: FederationConfig
    seed: int
    per_cycle: dict[str, np.ndarray]
    overlay_start: dict | None = None
    overlay_end: dict | None = None
    exchanges: dict[str, np.ndarray] | None = None
    requests: dict[str, np.ndarray] | None = None
    seconds: float = 0.0
    bytes_per_node: float = 0.0
    extra: dict = field(default_factory=dict)

    @property
    def cycles(self) -> int:
        """Number of simulated cycles."""
        return int(self.per_cycle["requests"].size)

    def totals(self) -> dict[str, float]:
        """Totals over all cycles of every metric (``nodes``: node-cycles)."""
        out = {k: float(v.sum()) for k, v in self.per_cycle.items()}
        out["node_cycles"] = out.pop("nodes")
        out["unmet_kwh"] = out["requested_kwh"] - out["consumption_kwh"]
        return out

    def per_node_cycle(self) -> dict[str, float]:
        """Totals divided by the node-cycles (alive nodes summed over cycles)."""
        t = self.totals()
        nc = max(t["node_cycles"], 1.0)
        return {k: t[k] / nc for k in ("requests", "exchanges", "consumption_kwh", "cost")}

    def to_frame(self):
        """Per-cycle metrics as a :class:`pandas.DataFrame` indexed by cycle."""
        import pandas as pd

        df = pd.DataFrame(self.per_cycle)
        df.index.name = "cycle"
        return df

    def summary(self) -> dict:
        """JSON-able summary with stable keys."""
        c = self.config
        out = {
            "name": c.name,
            "nodes": c.nodes,
            "cycles": self.cycles,
            "seed": self.seed,
            "seconds": round(self.seconds, 4),
            "totals": _round_dict(self.totals()),
            "per_node_cycle": _round_dict(self.per_node_cycle(), 6),
            "bytes_per_node": round(self.bytes_per_node, 1),
        }
        if self.overlay_start is not None:
            start, end = _round_dict(self.overlay_start, 5), _round_dict(self.overlay_end or {}, 5)
            out["overlay"] = {"start": start, "end": end}
        return out


def _round_dict(d: dict, nd: int = 4) -> dict:
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else round(v, nd)) for k, v in d.items()}


def _bernoulli_positions(n: int, p: float, rng: np.random.Generator) -> np.ndarray:
    """Positions ``i < n`` of independent Bernoulli(p) successes, drawn as geometric gaps.

    Same law as ``np.flatnonzero(rng.random(n) < p)`` but draws about ``p * n`` numbers.
    """
    if p <= 0 or n == 0:
        return np.zeros(0, np.int64)
    if p >= 1:
        return np.arange(n, dtype=np.int64)
    pos = np.zeros(0, np.int64)
    last = -1
    while True:
        size = int(p * (n - last) + 6 * math.sqrt(n * p * (1 - p)) + 16)
        new = last + np.cumsum(rng.geometric(p, size))
        pos = np.concatenate([pos, new])
        if new[-1] >= n:
            return pos[pos < n]
        last = int(new[-1])


def _java_round(x: float) -> int:
    return math.floor(x + 0.5)


class Federation:
    """Mutable state of a federation, advanced one cycle at a time by :meth:`step`.

    Parameters
    ----------
    config : FederationConfig
    rng : numpy.random.Generator
        The single random stream of the run (consumed in a fixed order).
    record : bool
        Keep a log of every request and exchange (tests, small runs).
    kernel : {"auto", "numba", "numpy"}
        Compiled kernels (matching, capacity renewal, triadic rewiring) or the numpy
        reference versions; ``"auto"``: numba when installed. Results are bit-identical.
    """

    def __init__(
        self, config: FederationConfig, rng: np.random.Generator, record: bool = False, kernel: str = "auto"
    ) -> None:
        if kernel not in ("auto", "numba", "numpy"):
            raise ValueError(f"kernel = {kernel!r}: expected 'auto', 'numba' or 'numpy'")
        if kernel == "numba" and not _kernels.HAVE_NUMBA:
            raise ValueError("kernel = 'numba' needs numba installed")
        self.cfg = config
        self.rng = rng
        self.record = record
        self.kernel = kernel if kernel != "auto" else ("numba" if _kernels.HAVE_NUMBA else "numpy")
        e = config.energy
        self.n_types = e.types
        self.type_price = np.asarray(e.type_prices(), float)
        self.k_clusters = config.clusters.count
        self.alpha = float(e.payoff)
        h = e.engagement_payoff
        self.engaged = 1.0 if h <= 0 else (self.alpha / (self.alpha + h) if self.alpha + h > 0 else 0.0)
        self.max_factor = None if config.demand.price_tolerance is None else 1.0 + config.demand.price_tolerance
        n = config.nodes
        self.n = 0
        self._cap = 0
        self._alloc(n)
        self.cluster[:n] = rng.permutation(n) % self.k_clusters
        self._init_nodes(np.arange(n))
        self.n = n
        self.alive[:n] = True
        self.alive_idx = np.arange(n, dtype=np.int64)
        v = sample_views(
            self.alive_idx,
            config.overlay.view,
            self.alive_idx,
            rng,
            self.cluster,
            self.k_clusters,
            config.overlay.federation_links,
        )
        self.overlay = Overlay.from_padded(v)
        self.earned = np.zeros(self.k_clusters)
        # single-type producers: capacity in a typed layout (one block per type), see fill_jointly
        # numpy kernel: single-type producers' capacity in a typed layout (one gather checks type and
        # capacity); the numba kernel reads the 1-byte type mask first and the capacity only on a match
        self.typed = e.types_per_node == 1 and self.kernel == "numpy"
        self._typed_cap = np.zeros(0)
        self._typed_idx = np.zeros(0, np.int64)
        self._scratch: tuple[np.ndarray, np.ndarray] | None = None
        self._registry: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self.request_count = 0
        self.log: dict[str, list[np.ndarray]] = {
            k: [] for k in ("cycle", "request", "requester", "provider", "type", "kwh", "price")
        }
        self.req_log: dict[str, list[np.ndarray]] = {k: [] for k in ("cycle", "requester", "type", "kwh")}

    # ---- node arrays -------------------------------------------------------------------
    def _alloc(self, size: int) -> None:
        if size <= self._cap:
            return
        new = max(size, int(self._cap * 1.5) + 16) if self._cap else size
        specs = {
            "alive": (bool, False),
            "cluster": (np.int32, 0),
            "mask": (np.uint8 if self.n_types <= 8 else (np.uint16 if self.n_types <= 16 else np.uint32), 0),
            "producer": (bool, False),
            "factor": (np.float64, 1.0),
            "cap": (np.float64, 0.0),
        }
        for name, (dt, fill) in specs.items():
            arr = np.full(new, fill, dt)
            if self._cap:
                arr[: self._cap] = getattr(self, name)
            setattr(self, name, arr)
        self._cap = new

    def _init_nodes(self, ids: np.ndarray) -> None:
        e, rng, m = self.cfg.energy, self.rng, ids.size
        if e.types_per_node == 1:
            bits = np.left_shift(np.uint32(1), rng.integers(0, e.types, m).astype(np.uint32))
        else:
            chosen = np.argsort(rng.random((m, e.types)), axis=1)[:, : e.types_per_node].astype(np.uint32)
            bits = np.bitwise_or.reduce(np.left_shift(np.uint32(1), chosen), axis=1)
        self.mask[ids] = bits.astype(self.mask.dtype)
        self.producer[ids] = True if e.producer_share >= 1 else rng.random(m) < e.producer_share
        if e.price_spread > 0:
            self.factor[ids] = rng.uniform(1 - e.price_spread, 1 + e.price_spread, m)

    def nbytes(self) -> int:
        """Bytes held by the node arrays and the overlay."""
        arrays = [
            self.alive,
            self.cluster,
            self.mask,
            self.producer,
            self.factor,
            self.cap,
            self._typed_cap,
            self._typed_idx,
            *(self._scratch or ()),
        ]
        return int(sum(a.nbytes for a in arrays) + self.overlay.nbytes())

    # ---- controls ------------------------------------------------------------------------
    def _dynamics(self, ctl: DynamicNetworkConfig, t: int) -> np.ndarray:
        """PeerSim ``DynamicNetwork.execute``: returns the ids of injected nodes."""
        size = int(self.alive_idx.size)
        add = ctl.add
        maxsize = ctl.maxsize if ctl.maxsize is not None else 2**31 - 1
        if add == 0:
            return np.zeros(0, np.int64)
        if not ctl.substitute and ((maxsize <= size and add > 0) or (ctl.minsize >= size and add < 0)):
            return np.zeros(0, np.int64)
        toadd = toremove = 0
        if add > 0:
            toadd = _java_round(add * size if add < 1 else add)
            if not ctl.substitute:
                toadd = min(toadd, maxsize - size)
            else:
                toremove = toadd
        else:
            toremove = _java_round(-add * size if add > -1 else -add)
            if not ctl.substitute:
                toremove = min(toremove, size - ctl.minsize)
            else:
                toadd = toremove
        toremove = min(toremove, size)
        if toremove > 0:
            gone = self.rng.choice(self.alive_idx, size=toremove, replace=False)
            self.alive[gone] = False
            self.cap[gone] = 0.0
            self.alive_idx = np.flatnonzero(self.alive[: self.n])
            self._registry = None
        if toadd <= 0:
            return np.zeros(0, np.int64)
        ids = np.arange(self.n, self.n + toadd, dtype=np.int64)
        self._alloc(self.n + toadd)
        self.cluster[ids] = self.rng.integers(0, self.k_clusters, toadd)
        self._init_nodes(ids)
        self.alive[ids] = True
        self.n += toadd
        self.alive_idx = np.flatnonzero(self.alive[: self.n])
        o = self.cfg.overlay
        views = sample_views(ids, o.view, self.alive_idx, self.rng, self.cluster, self.k_clusters, o.federation_links)
        self.overlay = self.overlay.grow(int(ids[0])).append_rows(views, np.full(views.shape, t, np.int32))
        self._registry = None
        return ids if ctl.request else np.zeros(0, np.int64)

    def _rewire(self, t: int) -> None:
        o = self.cfg.overlay
        if o.rewiring == "newscast":
            self.overlay = newscast(
                self.overlay, self.alive, o.view, t, self.rng, self.cluster, self.k_clusters, o.federation_links
            )
        elif o.rewiring == "triadic":
            self.overlay = add_triadic_links(self.overlay, self.alive, t, self.rng, self.kernel)

    def _migrate(self, t: int) -> tuple[int, float]:
        m = self.cfg.migration
        members = np.bincount(self.cluster[self.alive_idx], minlength=self.k_clusters)
        wealth = cluster_wealth(self.earned, members)
        movers, target = plan_migrations(m.strategy, m.probability, self.alive_idx, self.cluster, wealth, self.rng)
        self.earned[:] = 0.0
        if movers.size == 0:
            return 0, 0.0
        self.cluster[movers] = target
        o = self.cfg.overlay
        views = sample_views(
            movers,
            o.view,
            self.alive_idx,
            self.rng,
            self.cluster,
            self.k_clusters,
            0.0 if self.k_clusters <= 1 else o.federation_links,
        )
        self.overlay = self.overlay.replace_rows(movers, views, np.full(views.shape, t, np.int32))
        self._registry = None
        return int(movers.size), float(movers.size * m.fee)

    # ---- one cycle -----------------------------------------------------------------------
    def _requests(self, injected: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        d, rng = self.cfg.demand, self.rng
        ids = self.alive_idx
        if d.arrivals == "bernoulli":
            req = ids[_bernoulli_positions(ids.size, d.request_probability, rng)]
        else:
            req = np.repeat(ids, rng.poisson(d.request_probability, ids.size))
        if injected.size:
            req = np.concatenate([req, injected])
        if d.order == "shuffle":
            req = req[rng.permutation(req.size)]
        typ = rng.integers(0, self.n_types, req.size)
        qty = rng.uniform(d.quantity[0], d.quantity[1], req.size)
        return req, typ, qty

    def _cluster_registry(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Producers grouped by (cluster, type), cheapest first: the managers' capability registers."""
        if self._registry is None:
            ids = self.alive_idx[self.producer[self.alive_idx]]
            bits = ((self.mask[ids][:, None].astype(np.uint32) >> np.arange(self.n_types, dtype=np.uint32)) & 1) > 0
            node = np.broadcast_to(ids[:, None], bits.shape)[bits]
            typ = np.broadcast_to(np.arange(self.n_types), bits.shape)[bits]
            key = self.cluster[node].astype(np.int64) * self.n_types + typ
            order = np.lexsort((node, self.factor[node], key))
            size = np.bincount(key, minlength=self.k_clusters * self.n_types).astype(np.int64)
            start = np.concatenate([[0], np.cumsum(size)[:-1]])
            self._registry = (node[order].astype(np.int64), start, size)
        return self._registry

    def step(self, t: int) -> dict[str, float]:
        """Advance one cycle ``t`` and return its metrics."""
        cfg, rng = self.cfg, self.rng
        injected = [self._dynamics(ctl, t) for ctl in cfg.dynamics if ctl.active(t)]
        inj = np.concatenate(injected) if injected else np.zeros(0, np.int64)
        if cfg.overlay.rewiring != "none" and t % cfg.overlay.period == 0:
            self._rewire(t)
        migrations, fees = 0, 0.0
        if cfg.migration.strategy != "none" and t > 0 and t % cfg.migration.period == 0:
            migrations, fees = self._migrate(t)
        # production
        n, e = self.n, cfg.energy
        cap = self.cap
        stride = None
        if self.typed:
            stride = self._cap
            if self._typed_cap.size != self.n_types * stride:
                self._typed_cap = np.zeros(self.n_types * stride)
                self._typed_idx = np.zeros(0, np.int64)
                self._scratch = None
            if self._typed_idx.size != n:
                ptype = np.log2(self.mask[:n]).astype(np.int64)
                self._typed_idx = ptype * stride + np.arange(n)
        if self.kernel == "numba":
            # U(capacity) in place, no temporary: Generator.uniform is low + (high - low) × u with the
            # same doubles u as Generator.random, so the values are bit-identical
            lo, hi = float(e.capacity[0]), float(e.capacity[1])
            c = rng.random(n, out=cap[:n])
            np.multiply(c, hi - lo, out=c)
            np.add(c, lo, out=c)
        else:
            cap[:n] = rng.uniform(e.capacity[0], e.capacity[1], n)
        if self.alive_idx.size < n or e.producer_share < 1:
            cap[:n] *= self.alive[:n] & self.producer[:n]
        if self.engaged < 1.0:
            cap[:n] *= rng.random(n) < self.engaged
        offered = float(cap[:n].sum())  # energy.network(t) of Petri et al. eq. 2
        if self.typed:
            self._typed_cap[self._typed_idx] = cap[:n]
            cap = self._typed_cap
        if self.kernel == "numpy" and (self._scratch is None or self._scratch[0].size != cap.size):
            self._scratch = (np.zeros(cap.size, np.int32), np.zeros(cap.size, bool))
        # demand
        req, typ, qty = self._requests(inj)
        need = qty.copy()
        if cfg.clusters.scope == "view" and self.kernel == "numba" and not self.typed:
            # fill_jointly's numba path without its numpy preamble: the engine's arrays are in range
            ov = self.overlay
            act, a_pos, a_len, tag = _kernels.view_requests(ov.indptr, req, typ, need)
            use_price = self.max_factor is not None
            r_, p_, q_, n_out = _kernels.fill_ranks(
                act,
                a_pos,
                a_len,
                tag,
                ov.indices,
                req,
                need,
                cap,
                self.mask,
                False,
                self.factor if use_price else np.ones(1),
                float(self.max_factor) if use_price else 0.0,
                use_price,
                False,
                self._cap if e.types_per_node == 1 else 0,  # round as the numpy kernel's typed layout
            )
            ri, prov, q = r_[:n_out], p_[:n_out], q_[:n_out]
        else:
            if cfg.clusters.scope == "view":
                ov = self.overlay
                start = ov.indptr[req]
                length = ov.indptr[req + 1] - start
                source, excl = ov.indices, False
            else:
                source, seg_start, seg_size = self._cluster_registry()
                key = self.cluster[req].astype(np.int64) * self.n_types + typ
                start, length, excl = seg_start[key], seg_size[key], True
            ri, prov, q = fill_jointly(
                start,
                length,
                source,
                req,
                typ,
                need,
                cap,
                None if self.typed else self.mask,
                self.factor,
                self.max_factor,
                excl,
                stride,
                self._scratch,
                self.kernel,
                self._cap if e.types_per_node == 1 else 0,  # round as the numpy kernel's typed layout
                _check=False,  # the engine's own arrays: ids, types and lists are in range by construction
            )
        price = self.type_price[typ[ri]] * self.factor[prov]
        if cfg.migration.strategy != "none":
            self.earned += self.alpha * np.bincount(self.cluster[prov], minlength=self.k_clusters)
        if self.record:
            base = self.request_count
            for k, v in (
                ("cycle", np.full(ri.size, t)),
                ("request", base + ri),
                ("requester", req[ri]),
                ("provider", prov),
                ("type", typ[ri]),
                ("kwh", q),
                ("price", price),
            ):
                self.log[k].append(v)
            for k, v in (("cycle", np.full(req.size, t)), ("requester", req), ("type", typ), ("kwh", qty)):
                self.req_log[k].append(v)
        self.request_count += int(req.size)
        kwh = float(q.sum())
        energy_cost = float((q * price).sum())
        payoffs = self.alpha * ri.size
        # Petri et al. eq. 2: each exchange weighs its cost (price + payoff α) by its share quantity(t) /
        # energy.network(t) of the energy the network offers in the cycle
        cost_eq2 = (energy_cost + self.alpha * kwh) / offered if offered > 0 else 0.0
        return {
            "nodes": float(self.alive_idx.size),
            "requests": float(req.size),
            "requested_kwh": float(qty.sum()),
            "fulfilled": float(np.count_nonzero(need <= 0)),
            "exchanges": float(ri.size),
            "exchanged_kwh": kwh,
            "consumption_kwh": kwh,
            "energy_cost": energy_cost,
            "payoffs": payoffs,
            "fees": fees,
            "cost": energy_cost + payoffs + fees,
            "offered_kwh": offered,
            "cost_eq2": cost_eq2,
            "migrations": float(migrations),
        }


def simulate(
    config: FederationConfig,
    seed: int | None = None,
    *,
    rng: np.random.Generator | None = None,
    record: bool = False,
    progress: Callable[[int], None] | None = None,
    kernel: str = "auto",
) -> FederationResult:
    """Run a federation for ``config.cycles`` cycles.

    Parameters
    ----------
    config : FederationConfig
    seed : int, optional
        Seed of the run's random stream (default ``config.seed``). The same seed gives
        the same result on every machine and backend.
    rng : numpy.random.Generator, optional
        Use this generator instead of a seed.
    record : bool
        Keep the full request and exchange log (memory grows with the exchanges).
    progress : callable, optional
        Called with the number of completed cycles.
    kernel : {"auto", "numba", "numpy"}
        Compiled (numba) or numpy kernels; the results are bit-identical (see :class:`Federation`).

    Returns
    -------
    FederationResult
    """
    seed = config.seed if seed is None else int(seed)
    if seed < 0:
        raise ConfigError(f"seed = {seed} must be >= 0")
    rng = np.random.default_rng(seed) if rng is None else rng
    t0 = time.perf_counter()
    fed = Federation(config, rng, record=record, kernel=kernel)
    sample = config.overlay.sample
    start_stats = overlay_stats(fed.overlay, fed.alive, sample, seed=seed) if sample else None
    series = {k: np.zeros(config.cycles) for k in METRICS}
    for t in range(config.cycles):
        m = fed.step(t)
        for k, v in m.items():
            series[k][t] = v
        if progress is not None:
            progress(t + 1)
    end_stats = overlay_stats(fed.overlay, fed.alive, sample, seed=seed) if sample else None
    log = reqs = None
    if record:
        log = {k: (np.concatenate(v) if v else np.zeros(0)) for k, v in fed.log.items()}
        reqs = {k: (np.concatenate(v) if v else np.zeros(0)) for k, v in fed.req_log.items()}
    return FederationResult(
        config=config,
        seed=seed,
        per_cycle=series,
        overlay_start=start_stats,
        overlay_end=end_stats,
        exchanges=log,
        requests=reqs,
        seconds=time.perf_counter() - t0,
        bytes_per_node=fed.nbytes() / max(fed.n, 1),
        extra={"mean_degree": float(fed.overlay.nnz / max(fed.alive_idx.size, 1)), "allocated_nodes": fed.n},
    )
