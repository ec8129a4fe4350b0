"""Which lines a bilateral transfer uses on a radial feeder, and the line-utilisation fee.

On a radial (tree) feeder the path between two buses is unique. With ``R`` the
*root-path matrix* (``R[b, l] = ±1`` when line ``l`` lies on the path from the slack
bus to bus ``b``, the sign saying whether power flowing away from the slack runs
``from_bus → to_bus`` (+1) or against the line's orientation (−1)), a transfer of
``q`` kW from seller bus ``s`` to buyer bus ``b`` changes the line flows (lossless,
DC-like estimate) by ``q · (R[b] − R[s])``: it flows down the buyer's root path and
up the seller's, and the shared upstream part cancels. The rows ``R[b] − R[s]`` for
all pairs form the signed *incidence* (pairs × lines) returned by :func:`line_paths`.

Tooki et al. eq. 12 charges the buyer a line-utilisation fee for every line the trade
uses::

    H_ab = Σ_{L ∈ path(a, b)} τ_L · P_L / P_max,L

with ``τ_L`` the utilisation fee of line ``L`` (currency/kWh here, so ``H`` is a price
adder per kWh traded), ``P_L`` the line flow and ``P_max,L`` the line capacity
(:func:`peergrid.grid.line_capacity_kw`). :func:`line_utilisation_fee` evaluates it
for all pairs and slots at once as ``|A| @ (τ · |P| / P_max)``.

References
----------
O. O. Tooki, O. M. Popoola, J. D. Pam (2025), "Towards sustainable energy: Implementation framework
for a decentralized peer-to-peer transactive energy system", eq. 12.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.sparse.csgraph import breadth_first_order

from peergrid.core.errors import DataError, ModelError
from peergrid.core.types import ArrayLike, FloatArray, IndexArray, IntArray
from peergrid.grid.charges import utilisation_fee

if TYPE_CHECKING:
    from pandapower.auxiliary import pandapowerNet


@dataclass(frozen=True)
class RadialTree:
    """Parent pointers and root paths of a radial feeder (see :func:`radial_tree`).

    Attributes
    ----------
    bus : numpy.ndarray
        ``(B,)`` pandapower bus indices; every other array uses positions into it.
    line : numpy.ndarray
        ``(L,)`` pandapower line indices (columns of ``root_paths`` and of incidences).
    root : int
        Position of the slack (first in-service ``ext_grid``) bus.
    parent : numpy.ndarray
        ``(B,)`` position of each bus's upstream bus; ``-1`` for the root and for buses
        not connected to it.
    parent_line : numpy.ndarray
        ``(B,)`` position of the line to the parent, ``-1`` when the connection is a
        transformer or bus-bus switch (or for the root).
    depth : numpy.ndarray
        ``(B,)`` number of branches between the bus and the root (``-1`` if unreached).
    root_paths : scipy.sparse.csr_matrix
        ``(B, L)`` signed root-path matrix ``R`` (module docstring).
    line_r_ohm : numpy.ndarray
        ``(L,)`` series resistance of each line, Ω.
    """

    bus: IntArray
    line: IntArray
    root: int
    parent: IntArray
    parent_line: IntArray
    depth: IntArray
    root_paths: sparse.csr_matrix
    line_r_ohm: FloatArray

    def positions(self, buses: ArrayLike, what: str = "bus") -> IndexArray:
        """Positions of pandapower bus indices in :attr:`bus`; DataError for unknown buses."""
        arr = np.atleast_1d(np.asarray(buses))
        if arr.dtype.kind not in "iu":
            if arr.dtype.kind == "f" and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
                arr = arr.astype(np.int64)
            else:
                raise DataError(f"{what}: expected integer bus indices, got {arr.dtype}")
        pos = pd.Index(self.bus).get_indexer(arr.ravel()).reshape(arr.shape)  # type: ignore[arg-type]  # takes arrays
        if np.any(pos < 0):
            raise DataError(f"{what}: unknown bus {arr.ravel()[int(np.argmax(pos.ravel() < 0))]}")
        unreached = self.depth[pos] < 0
        if np.any(unreached):
            bad = arr.ravel()[int(np.argmax(unreached.ravel()))]
            raise DataError(f"{what}: bus {bad} is not connected to the slack")
        return pos


def radial_tree(net: pandapowerNet) -> RadialTree:
    """Parent pointers of a radial feeder, rooted at its slack bus.

    Branches are in-service lines (minus those opened by a line switch), in-service
    two-winding transformers (minus open trafo switches) and closed bus-bus switches.

    Parameters
    ----------
    net : pandapowerNet
        A radial net with at least one in-service ``ext_grid``.

    Returns
    -------
    RadialTree

    Raises
    ------
    ModelError
        No in-service slack, or the part connected to the slack has a loop (meshed net)
        or parallel branches.
    """
    bus_index = pd.Index(net.bus.index)
    nb = len(bus_index)
    eg = net.ext_grid[net.ext_grid["in_service"].astype(bool)]
    if eg.empty:
        raise ModelError("radial_tree: the net has no in-service ext_grid (slack)")
    root = int(bus_index.get_loc(eg["bus"].iloc[0]))

    line = net.line
    line_ok = line["in_service"].to_numpy(dtype=bool).copy()
    sw = net.switch if "switch" in net and len(net.switch) else None
    trafo = net.trafo
    trafo_ok = trafo["in_service"].to_numpy(dtype=bool).copy() if len(trafo) else np.zeros(0, dtype=bool)
    bb_from = bb_to = np.zeros(0, dtype=np.int64)
    if sw is not None:
        opened = sw[~sw["closed"].astype(bool)]
        line_ok &= ~line.index.isin(opened.loc[opened["et"] == "l", "element"])
        if len(trafo):
            trafo_ok &= ~trafo.index.isin(opened.loc[opened["et"] == "t", "element"])
        bb = sw[(sw["et"] == "b") & sw["closed"].astype(bool)]
        bb_from, bb_to = bb["bus"].to_numpy(dtype=np.int64), bb["element"].to_numpy(dtype=np.int64)

    lf = bus_index.get_indexer(line["from_bus"].to_numpy())
    lt = bus_index.get_indexer(line["to_bus"].to_numpy())
    tf = bus_index.get_indexer(trafo["hv_bus"].to_numpy()) if len(trafo) else np.zeros(0, dtype=np.int64)
    tt = bus_index.get_indexer(trafo["lv_bus"].to_numpy()) if len(trafo) else np.zeros(0, dtype=np.int64)
    bf, bt = bus_index.get_indexer(bb_from), bus_index.get_indexer(bb_to)
    # edge list: lines keep their position as edge id (kind line); others get id -1 (no line column)
    line_pos = np.flatnonzero(line_ok)
    src = np.concatenate([lf[line_ok], tf[trafo_ok], bf])
    dst = np.concatenate([lt[line_ok], tt[trafo_ok], bt])
    edge_line = np.concatenate([line_pos, np.full(int(trafo_ok.sum()) + len(bf), -1)])
    keep = (src >= 0) & (dst >= 0) & (src != dst)
    src, dst, edge_line = src[keep], dst[keep], edge_line[keep]

    graph = sparse.coo_matrix((np.ones(len(src)), (src, dst)), shape=(nb, nb)).tocsr()
    order, pred = breadth_first_order(graph, root, directed=False, return_predecessors=True)
    reached = np.zeros(nb, dtype=bool)
    reached[order] = True
    n_edges = int(np.count_nonzero(reached[src] & reached[dst]))
    if n_edges != len(order) - 1:
        raise ModelError(
            f"radial_tree: the feeder is not radial ({n_edges} branches for {len(order)} connected buses); "
            "line paths need a tree"
        )
    parent = np.where(pred < 0, -1, pred).astype(np.int64)
    parent[root] = -1

    # branch to the parent of every reached non-root bus, found by sorted (min, max) pair keys
    lo, hi = np.minimum(src, dst), np.maximum(src, dst)
    keys = lo.astype(np.int64) * nb + hi
    sort = np.argsort(keys)
    child = order[1:]
    ckeys = np.minimum(child, parent[child]).astype(np.int64) * nb + np.maximum(child, parent[child])
    edge = sort[np.searchsorted(keys[sort], ckeys)]
    parent_line = np.full(nb, -1, dtype=np.int64)
    parent_line[child] = edge_line[edge]
    # +1 when the line is oriented away from the root (from_bus is the parent)
    sign = (
        np.where(lf[np.maximum(parent_line[child], 0)] == parent[child], 1.0, -1.0) if len(lf) else np.ones(len(child))
    )

    depth = np.full(nb, -1, dtype=np.int64)
    depth[root] = 0
    cols: list[list[int]] = [[] for _ in range(nb)]
    vals: list[list[float]] = [[] for _ in range(nb)]
    for k, b in enumerate(child):  # BFS order: the parent is always done first
        p = parent[b]
        depth[b] = depth[p] + 1
        if parent_line[b] >= 0:
            cols[b] = [*cols[p], int(parent_line[b])]
            vals[b] = [*vals[p], float(sign[k])]
        else:
            cols[b], vals[b] = cols[p], vals[p]
    indptr = np.concatenate([[0], np.cumsum([len(c) for c in cols])])
    root_paths = sparse.csr_matrix(
        (
            np.fromiter((v for row in vals for v in row), dtype=np.float64, count=int(indptr[-1])),
            np.fromiter((c for row in cols for c in row), dtype=np.int64, count=int(indptr[-1])),
            indptr,
        ),
        shape=(nb, len(line)),
    )
    r_ohm = (
        line["r_ohm_per_km"].to_numpy(dtype=np.float64)
        * line["length_km"].to_numpy(dtype=np.float64)
        / line["parallel"].to_numpy(dtype=np.float64)
    )
    return RadialTree(
        bus=bus_index.to_numpy(),
        line=line.index.to_numpy(),
        root=root,
        parent=parent,
        parent_line=parent_line,
        depth=depth,
        root_paths=root_paths,
        line_r_ohm=r_ohm,
    )


def line_paths(
    net: pandapowerNet | RadialTree,
    buses_from: ArrayLike,
    buses_to: ArrayLike,
) -> sparse.csr_matrix:
    """Lines each transfer ``buses_from[p] → buses_to[p]`` uses on a radial feeder.

    Parameters
    ----------
    net : pandapowerNet or RadialTree
        The feeder (pass a :class:`RadialTree` from :func:`radial_tree` to reuse it
        across many calls).
    buses_from, buses_to : int or array-like of int
        pandapower bus indices of sellers and buyers (broadcast against each other).

    Returns
    -------
    scipy.sparse.csr_matrix
        ``(P, L)`` signed incidence: ``+1`` where the transfer's power runs along the
        line's ``from_bus → to_bus`` orientation, ``−1`` against it, 0 for unused lines.
        Columns follow ``net.line.index``. ``incidence.T @ q_kw`` is the lossless line
        flow change caused by transfers ``q_kw``.

    Raises
    ------
    DataError
        Unknown or disconnected bus, or shapes that do not broadcast.
    ModelError
        The net is not radial.
    """
    tree = net if isinstance(net, RadialTree) else radial_tree(net)
    try:
        src, dst = np.broadcast_arrays(np.atleast_1d(np.asarray(buses_from)), np.atleast_1d(np.asarray(buses_to)))
    except ValueError as exc:
        raise DataError(f"line_paths: buses_from and buses_to do not broadcast ({exc})") from None
    if src.ndim != 1:
        raise DataError(f"line_paths: expected 1-D bus arrays, got shape {src.shape}")
    ps, pb = tree.positions(src, "buses_from"), tree.positions(dst, "buses_to")
    inc: sparse.csr_matrix = (tree.root_paths[pb] - tree.root_paths[ps]).tocsr()
    inc.eliminate_zeros()
    return inc


def participant_root_paths(net: pandapowerNet, tree: RadialTree | None = None) -> sparse.csr_matrix:
    """Signed root-path rows ``R[bus(i)]`` of every participant of a feeder, ``(N, L)``.

    Row ``i`` marks the lines between participant ``i`` and the slack (signs as in
    :class:`RadialTree`); pair incidences follow as ``rows[buyer] − rows[seller]``, and
    :func:`peergrid.grid.charges.radial_fee_matrix` takes this matrix directly.

    Parameters
    ----------
    net : pandapowerNet
        Feeder with a participants table (:func:`~peergrid.grid.build_feeder`).
    tree : RadialTree, optional
        Precomputed :func:`radial_tree` of ``net``.

    Returns
    -------
    scipy.sparse.csr_matrix
    """
    from peergrid.grid.feeder import participant_table

    tree = radial_tree(net) if tree is None else tree
    pos = tree.positions(participant_table(net)["bus"].to_numpy(), "participant bus")
    rows: sparse.csr_matrix = tree.root_paths[pos]
    return rows


def transfer_flows_kw(incidence: sparse.csr_matrix | FloatArray, transfer_kw: ArrayLike) -> FloatArray:
    """Lossless line flows caused by transfers: ``incidenceᵀ @ q`` (kW, + = along the line's orientation).

    Parameters
    ----------
    incidence : sparse matrix or ndarray
        ``(P, L)`` from :func:`line_paths`.
    transfer_kw : numpy.ndarray
        ``(P,)`` or ``(T, P)`` transferred power per pair, kW.

    Returns
    -------
    numpy.ndarray
        ``(L,)`` or ``(T, L)`` line flows, kW.
    """
    q = np.asarray(transfer_kw, dtype=np.float64)
    if q.shape[-1] != incidence.shape[0]:
        raise DataError(f"transfer_kw: expected {incidence.shape[0]} pairs in the last axis, got shape {q.shape}")
    return np.asarray((incidence.T @ q.T).T)


def line_utilisation_fee(
    incidence: sparse.csr_matrix | FloatArray,
    flows_kw: ArrayLike,
    p_max_kw: ArrayLike,
    tau: ArrayLike,
) -> FloatArray:
    """Line-utilisation fee of Tooki et al. eq. 12 for every pair (and slot).

    ``H_p = Σ_L |A[p, L]| · τ_L · |P_L| / P_max,L``: every line the transfer uses
    (non-zero incidence) costs its fee ``τ_L`` times its utilisation ``|P_L| / P_max,L``.
    The formula lives in :func:`peergrid.grid.charges.utilisation_fee` (one implementation of
    eq. 12, in the grid layer); this adapter checks the arrays against the incidence's lines.

    Parameters
    ----------
    incidence : sparse matrix or ndarray
        ``(P, L)`` line incidence of the pairs (:func:`line_paths`).
    flows_kw : numpy.ndarray
        ``(L,)`` or ``(T, L)`` line flows ``P_L``, kW (e.g. ``FlowResult.line_p_kw``);
        the sign is ignored.
    p_max_kw : float or numpy.ndarray
        Line capacities ``P_max,L`` (scalar or ``(L,)``), kW, > 0
        (:func:`~peergrid.grid.line_capacity_kw`).
    tau : float or numpy.ndarray
        Utilisation fee ``τ_L`` per line (scalar or ``(L,)``), currency/kWh at full
        utilisation, ≥ 0.

    Returns
    -------
    numpy.ndarray
        ``(P,)`` (or ``(T, P)`` for 2-D flows) fee ``H`` per pair, currency/kWh.

    Raises
    ------
    DataError
        Shapes that do not match the incidence, NaN, non-positive capacity or negative fee.
    """
    n_lines = incidence.shape[1]
    flows = np.asarray(flows_kw, dtype=np.float64)
    if flows.ndim not in (1, 2) or flows.shape[-1] != n_lines:
        raise DataError(f"flows_kw: expected shape ({n_lines},) or (T, {n_lines}), got {flows.shape}")
    for name, value in (("p_max_kw", p_max_kw), ("tau", tau)):
        if np.ndim(value) and np.shape(value) != (n_lines,):
            raise DataError(f"{name}: expected a scalar or shape ({n_lines},), got {np.shape(value)}")
    return utilisation_fee(incidence, flows, p_max_kw, tau)
