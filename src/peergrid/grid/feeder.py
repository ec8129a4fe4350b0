"""Low-voltage feeders on pandapower: a default radial LV feeder, or a user's own net.

A *feeder* is a ``pandapowerNet`` with one extra table, ``net["peergrid_participants"]``
(columns ``id``, ``bus``, ``phase``, ``load``), that says on which bus and phase each
community participant sits and which row of ``net.load`` carries its net power. Every
flow function in :mod:`peergrid.grid` reads that table, so rows of a ``(T, N)`` power
array line up with the community's participants.

The default feeder (:func:`build_feeder`) is the textbook European LV layout: a 20 kV
slack (``ext_grid``), one MV/LV distribution transformer (pandapower standard type
``"0.4 MVA 20/0.4 kV"``, Dyn5) and radial 0.4 kV cable feeders of ``NAYY 4x150 SE``
(0.208 Ω/km, 270 A) leaving the LV busbar, one house connection every 30 m. Bus
``k`` of the net is *node* ``k`` of the community (``participants["node"]``); node 0
is the LV busbar at the transformer secondary; the MV bus gets index ``n_buses``.

Zero-sequence data (needed only by the unbalanced flow, :func:`add_zero_sequence`)
are engineering defaults, not measured values:

- cables: ``r0 = 4 r1``, ``x0 = 4 x1`` (four-core cable, neutral conductor of the same
  cross-section as the phases carries the zero-sequence return, Z0 ≈ Zph + 3 Zn),
  ``c0 = c1``;
- transformer: vector group without the clock number (``"Dyn5"`` → ``"Dyn"``, the
  phase shift stays in ``shift_degree``), ``vk0 = vk``, ``vkr0 = vkr``,
  ``mag0_percent = 100``, ``mag0_rx = 0``, ``si0_hv_partial = 0.9`` (the values
  pandapower's own 3-phase tests and error messages suggest);
- MV grid: short-circuit power ``s_sc_max_mva = 100`` (typical 20 kV), ``rx_max = 0.1``,
  ``r0x0_max = 0.1``, ``x0x_max = 1.0``.

References
----------
L. Thurner et al., "pandapower — an open-source Python tool for convenient modeling,
analysis, and optimization of electric power systems", IEEE Trans. Power Syst. 33(6), 2018.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import breadth_first_order

from peergrid.core.community import Community
from peergrid.core.errors import DataError, ModelError
from peergrid.core.types import AnyArray, ArrayLike, FloatArray, IntArray
from peergrid.grid._pp import PARTICIPANTS_KEY, pandapower

if TYPE_CHECKING:
    from pandapower.auxiliary import pandapowerNet

#: Default LV cable (pandapower standard type): 0.208 Ω/km, 0.08 Ω/km, 270 A.
DEFAULT_LINE_TYPE = "NAYY 4x150 SE"
#: Default MV/LV transformer (pandapower standard type): 400 kVA, 20/0.4 kV, Dyn5, vk 6 %.
DEFAULT_TRAFO_TYPE = "0.4 MVA 20/0.4 kV"
#: Default cable length between neighbouring house connections, km.
DEFAULT_SECTION_KM = 0.03
#: Number of LV buses of the default feeder when neither a community nor ``n_buses`` is given.
DEFAULT_BUSES = 20
#: Buses per radial feeder when ``n_feeders`` is not given (≈ 750 m of cable at 30 m spacing).
BUSES_PER_FEEDER = 25
#: Phase labels a participant may carry (``"abc"`` = three-phase connection, power split equally).
PHASES = ("a", "b", "c", "abc")

#: Zero-sequence defaults filled in by :func:`add_zero_sequence` (see the module docstring).
ZERO_SEQUENCE: dict[str, float] = {
    "r0_r1": 4.0,
    "x0_x1": 4.0,
    "c0_c1": 1.0,
    "mag0_percent": 100.0,
    "mag0_rx": 0.0,
    "si0_hv_partial": 0.9,
    "s_sc_max_mva": 100.0,
    "rx_max": 0.1,
    "r0x0_max": 0.1,
    "x0x_max": 1.0,
}


def build_feeder(
    community: Community | None = None,
    *,
    n_buses: int | None = None,
    n_feeders: int | None = None,
    parents: Sequence[int] | IntArray | None = None,
    line_type: str | Sequence[str] = DEFAULT_LINE_TYPE,
    length_km: ArrayLike = DEFAULT_SECTION_KM,
    trafo_type: str = DEFAULT_TRAFO_TYPE,
    s_sc_mva: float = ZERO_SEQUENCE["s_sc_max_mva"],
    vm_pu: float = 1.0,
    placement: Literal["node", "spread"] = "node",
    name: str | None = None,
) -> pandapowerNet:
    """Build a radial low-voltage feeder, optionally with a community's participants on it.

    Parameters
    ----------
    community : Community, optional
        Participants to place: one pandapower load per participant (``p_mw = 0`` until a
        flow sets it) on bus ``participants["node"]`` and phase ``participants["phase"]``.
    n_buses : int, optional
        Number of LV buses (nodes ``0 .. n_buses-1``; node 0 is the LV busbar). Default:
        ``max(node) + 1`` for ``placement="node"``, ``N + 1`` for ``"spread"``,
        :data:`DEFAULT_BUSES` without a community.
    n_feeders : int, optional
        Number of radial cable feeders leaving the busbar; buses ``1 .. n_buses-1`` are
        split into that many contiguous chains. Default ``ceil((n_buses-1) / 25)``.
        Ignored when ``parents`` is given.
    parents : array-like of int, optional
        Explicit radial tree: ``parents[k]`` is the upstream node of node ``k`` (``k ≥ 1``;
        ``parents[0]`` is ignored). Line ``k-1`` runs from ``parents[k]`` to ``k``.
    line_type : str or sequence of str
        pandapower line standard type(s), one per line if a sequence.
    length_km : float or array-like
        Cable length of every line (or one per line), km.
    trafo_type : str
        pandapower transformer standard type; its HV/LV voltages set the bus voltages.
    s_sc_mva : float
        Short-circuit power of the MV grid at the slack, MVA (zero-sequence model only).
    vm_pu : float
        Slack voltage magnitude at the MV bus, per unit.
    placement : {"node", "spread"}
        ``"node"`` uses the participants' ``node`` and ``phase`` columns; ``"spread"``
        ignores them and puts participant ``i`` on node ``1 + i mod (n_buses-1)`` and
        phase ``"abc"[i mod 3]`` (a balanced default placement).
    name : str, optional
        Net name (default: the community's name or ``"peergrid LV feeder"``).

    Returns
    -------
    pandapowerNet
        A net with LV buses ``0 .. n_buses-1``, MV bus ``n_buses``, one transformer, one
        line per non-root node, one load per participant, zero-sequence data for
        :func:`~peergrid.grid.power_flow_3ph`, and the ``net["peergrid_participants"]``
        table.

    Raises
    ------
    DataError
        Unknown phase label, node outside the feeder, invalid ``parents``.
    ModelError
        Unknown standard type, non-positive lengths or sizes.
    """
    pp = pandapower()
    if placement not in ("node", "spread"):
        raise DataError(f"placement must be 'node' or 'spread', got {placement!r}")
    nodes, phases, ids = _placement(community, placement)
    if n_buses is None:
        if community is None:
            n_buses = DEFAULT_BUSES
        elif placement == "spread":
            n_buses = len(ids) + 1
        else:
            n_buses = int(nodes.max()) + 1 if len(nodes) else 1
        if parents is not None:
            n_buses = len(parents)
    n_buses = int(n_buses)
    if n_buses < 1:
        raise ModelError(f"n_buses must be >= 1, got {n_buses}")
    if placement == "spread" and len(ids):
        nodes = 1 + np.arange(len(ids)) % (n_buses - 1) if n_buses > 1 else np.zeros(len(ids), dtype=np.int64)
    if len(nodes) and (nodes.min() < 0 or nodes.max() >= n_buses):
        bad = int(np.argmax((nodes < 0) | (nodes >= n_buses)))
        raise DataError(f"participant {ids[bad]!r} is on node {nodes[bad]} but the feeder has nodes 0..{n_buses - 1}")

    parent = _tree(n_buses, n_feeders, parents)
    net = pp.create_empty_network(name=name or (community.name if community is not None else "peergrid LV feeder"))
    std_trafo = pp.available_std_types(net, "trafo")
    if trafo_type not in std_trafo.index:
        raise ModelError(f"unknown transformer standard type {trafo_type!r}; known: {sorted(std_trafo.index)}")
    vn_hv, vn_lv = float(std_trafo.at[trafo_type, "vn_hv_kv"]), float(std_trafo.at[trafo_type, "vn_lv_kv"])
    pp.create_buses(net, n_buses, vn_lv, index=np.arange(n_buses), name=[f"node {k}" for k in range(n_buses)])
    mv = pp.create_bus(net, vn_hv, index=n_buses, name="MV")
    if not (s_sc_mva > 0 and 0.8 <= vm_pu <= 1.2):
        raise ModelError(f"need s_sc_mva > 0 and 0.8 <= vm_pu <= 1.2, got {s_sc_mva}, {vm_pu}")
    pp.create_ext_grid(net, mv, vm_pu=vm_pu, s_sc_max_mva=s_sc_mva, s_sc_min_mva=0.8 * s_sc_mva)
    pp.create_transformer(net, mv, 0, trafo_type, name="MV/LV")

    n_lines = n_buses - 1
    if n_lines:
        lengths = np.asarray(length_km, dtype=np.float64)
        if lengths.ndim and lengths.shape != (n_lines,):
            raise DataError(f"length_km: expected a scalar or {n_lines} lengths (one per line), got {lengths.shape}")
        lengths = np.broadcast_to(lengths, (n_lines,)).copy()
        if not np.all(np.isfinite(lengths) & (lengths > 0)):
            raise ModelError("length_km must be positive and finite for every line")
        types = [line_type] * n_lines if isinstance(line_type, str) else list(line_type)
        if len(types) != n_lines:
            raise DataError(f"line_type: expected 1 or {n_lines} standard types, got {len(types)}")
        known = pp.available_std_types(net, "line").index
        unknown = sorted(set(types) - set(known))
        if unknown:
            raise ModelError(f"unknown line standard type {unknown[0]!r}; LV types: {_lv_types(net)}")
        children = np.arange(1, n_buses)
        pp.create_lines(
            net,
            parent[children],
            children,
            lengths,
            types,
            name=[f"line {p}-{c}" for p, c in zip(parent[children], children, strict=True)],
        )
    add_zero_sequence(net)
    return _attach_participants(net, ids, nodes, phases)


def feeder_from_net(
    net: pandapowerNet,
    mapping: pd.DataFrame | Mapping[str, int] | Community,
) -> pandapowerNet:
    """Put community participants on a user's pandapower net.

    Parameters
    ----------
    net : pandapowerNet
        Any pandapower net with an ``ext_grid``. It is deep-copied, never modified.
        Its existing loads and static generators stay as a fixed background.
    mapping : DataFrame, mapping of id to bus, or Community
        Where each participant sits: a DataFrame with columns ``id`` and ``bus`` (or
        ``node``) and optionally ``phase`` (default ``"a"``); a ``{id: bus}`` mapping; or a
        :class:`Community` whose ``node`` column holds pandapower bus indices. Row order is
        the participant order of the ``(T, N)`` power arrays.

    Returns
    -------
    pandapowerNet
        The copy, with one load per participant (``p_mw = 0``) and the
        ``net["peergrid_participants"]`` table. Zero-sequence data are not touched here;
        :func:`~peergrid.grid.power_flow_3ph` fills missing ones on its own copy.

    Raises
    ------
    DataError
        Unknown bus, unknown phase, duplicate ids, missing columns.
    """
    if not hasattr(net, "bus") or not hasattr(net, "ext_grid"):
        raise DataError("feeder_from_net: expected a pandapowerNet")
    if len(net.ext_grid) == 0:
        raise ModelError("feeder_from_net: the net has no ext_grid (slack)")
    if isinstance(mapping, Community):
        table = mapping.participants.rename(columns={"node": "bus"})[["id", "bus", "phase"]]
    elif isinstance(mapping, pd.DataFrame):
        table = mapping.rename(columns={"node": "bus"}) if "bus" not in mapping else mapping
        missing = {"id", "bus"} - set(table.columns)
        if missing:
            raise DataError(f"feeder_from_net: mapping lacks column(s) {sorted(missing)}")
    elif isinstance(mapping, Mapping):
        table = pd.DataFrame({"id": list(mapping.keys()), "bus": list(mapping.values())})
    else:
        raise DataError(f"feeder_from_net: mapping must be a DataFrame, a dict or a Community, got {type(mapping)}")
    ids = table["id"].astype(str).to_numpy()
    dup = pd.Series(ids).duplicated().to_numpy()
    if dup.any():
        raise DataError(f"feeder_from_net: duplicate participant id {ids[int(np.argmax(dup))]!r}")
    buses = pd.to_numeric(table["bus"], errors="coerce").to_numpy()
    unknown = ~np.isin(buses, net.bus.index.to_numpy())
    if unknown.any():
        i = int(np.argmax(unknown))
        raise DataError(f"participant {ids[i]!r} is on bus {table['bus'].iloc[i]}, which the net does not have")
    phases = _phases(table["phase"] if "phase" in table else pd.Series(["a"] * len(ids)), ids)
    out = copy.deepcopy(net)
    old = out.get(PARTICIPANTS_KEY)
    if isinstance(old, pd.DataFrame) and len(old):
        out.load = out.load.drop(index=old["load"].to_numpy(), errors="ignore")
    return _attach_participants(out, ids, buses.astype(np.int64), phases)


def participant_table(net: pandapowerNet) -> pd.DataFrame:
    """The ``id``/``bus``/``phase``/``load`` table of a feeder (see :func:`build_feeder`).

    Raises
    ------
    DataError
        The net was not made by :func:`build_feeder` or :func:`feeder_from_net`.
    """
    table = net.get(PARTICIPANTS_KEY) if hasattr(net, "get") else None
    if not isinstance(table, pd.DataFrame):
        raise DataError("net has no participants: build it with build_feeder() or feeder_from_net()")
    return table


def line_capacity_kw(net: pandapowerNet) -> FloatArray:
    """Thermal capacity of every line as apparent power at nominal voltage, kW (≈ kVA at unity power factor).

    ``P_max = √3 · V_n · I_max · df · parallel`` with ``V_n`` the from-bus nominal voltage
    (kV) and ``I_max = max_i_ka`` (kA); this is the ``P_Max`` of Tooki et al. eq. 12.

    Returns
    -------
    numpy.ndarray
        ``(L,)`` capacities in the order of ``net.line.index``, kW.
    """
    line = net.line
    vn = net.bus["vn_kv"].reindex(line["from_bus"]).to_numpy(dtype=np.float64)
    out: FloatArray = (
        np.sqrt(3.0)
        * vn
        * line["max_i_ka"].to_numpy(dtype=np.float64)
        * line["df"].to_numpy(dtype=np.float64)
        * line["parallel"].to_numpy(dtype=np.float64)
        * 1000.0
    )
    return out


def add_zero_sequence(net: pandapowerNet, *, overwrite: bool = False) -> None:
    """Fill the zero-sequence data pandapower's unbalanced flow needs, in place.

    Only missing or NaN values are filled unless ``overwrite``; the defaults are
    :data:`ZERO_SEQUENCE` (see the module docstring for their justification).

    Parameters
    ----------
    net : pandapowerNet
        Modified in place: ``line`` r0/x0/c0, ``trafo`` vector group and zero-sequence
        parameters, ``ext_grid`` short-circuit data.
    overwrite : bool
        Replace existing values too.
    """
    z = ZERO_SEQUENCE

    def fill(table: pd.DataFrame, column: str, values: FloatArray | float | str) -> None:
        new: pd.Series[Any] | float | str = (
            pd.Series(values, index=table.index) if isinstance(values, np.ndarray) else values
        )
        if overwrite or column not in table:
            table[column] = new
        else:
            table[column] = table[column].where(table[column].notna(), new)

    if len(net.line):
        fill(net.line, "r0_ohm_per_km", z["r0_r1"] * net.line["r_ohm_per_km"].to_numpy(dtype=np.float64))
        fill(net.line, "x0_ohm_per_km", z["x0_x1"] * net.line["x_ohm_per_km"].to_numpy(dtype=np.float64))
        fill(net.line, "c0_nf_per_km", z["c0_c1"] * net.line["c_nf_per_km"].to_numpy(dtype=np.float64))
    if len(net.trafo):
        groups = net.trafo["vector_group"] if "vector_group" in net.trafo else pd.Series("Dyn", index=net.trafo.index)
        net.trafo["vector_group"] = groups.fillna("Dyn").astype(str).str.rstrip("0123456789")
        fill(net.trafo, "vk0_percent", net.trafo["vk_percent"].to_numpy(dtype=np.float64))
        fill(net.trafo, "vkr0_percent", net.trafo["vkr_percent"].to_numpy(dtype=np.float64))
        for key in ("mag0_percent", "mag0_rx", "si0_hv_partial"):
            fill(net.trafo, key, z[key])
    for key in ("s_sc_max_mva", "rx_max", "r0x0_max", "x0x_max"):
        fill(net.ext_grid, key, z[key])


# ---- helpers ---------------------------------------------------------------------------


def _placement(community: Community | None, placement: str) -> tuple[IntArray, AnyArray, AnyArray]:
    if community is None:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=object), np.zeros(0, dtype=object)
    parts = community.participants
    ids = parts["id"].astype(str).to_numpy()
    if placement == "spread":
        phases = np.array(["a", "b", "c"], dtype=object)[np.arange(len(ids)) % 3]
        return np.zeros(len(ids), dtype=np.int64), phases, ids
    return parts["node"].to_numpy(dtype=np.int64), _phases(parts["phase"], ids), ids


def _phases(column: pd.Series[Any], ids: AnyArray) -> AnyArray:
    phases = column.astype(str).str.strip().str.lower().to_numpy(dtype=object)
    bad = ~np.isin(phases, PHASES)
    if bad.any():
        i = int(np.argmax(bad))
        raise DataError(f"participant {ids[i]!r} has phase {column.iloc[i]!r}; expected one of {PHASES}")
    return phases


def _tree(n_buses: int, n_feeders: int | None, parents: Sequence[int] | IntArray | None) -> IntArray:
    """Parent node of every node (``-1`` for node 0), validated to form a tree rooted at node 0."""
    if parents is not None:
        parent = np.asarray(parents, dtype=np.int64).copy()
        if parent.shape != (n_buses,):
            raise DataError(f"parents: expected {n_buses} entries (one per node), got shape {parent.shape}")
        parent[0] = -1
        child = np.arange(1, n_buses)
        if n_buses > 1 and (parent[1:].min() < 0 or parent[1:].max() >= n_buses or np.any(parent[1:] == child)):
            raise DataError("parents: every node k >= 1 needs a parent in 0..n_buses-1 other than itself")
        graph = coo_matrix((np.ones(n_buses - 1), (parent[1:], child)), shape=(n_buses, n_buses))
        reached = breadth_first_order(graph, 0, directed=True, return_predecessors=False)
        if len(reached) != n_buses:
            raise DataError("parents: not a tree rooted at node 0 (a cycle or a detached node)")
        return parent
    parent = np.arange(-1, n_buses - 1, dtype=np.int64)
    if n_buses > 1:
        if n_feeders is None:
            n_feeders = int(np.ceil((n_buses - 1) / BUSES_PER_FEEDER))
        if not 1 <= n_feeders <= n_buses - 1:
            raise ModelError(f"n_feeders must be in 1..{n_buses - 1}, got {n_feeders}")
        starts = np.array([c[0] for c in np.array_split(np.arange(1, n_buses), n_feeders)])
        parent[starts] = 0
    return parent


def _lv_types(net: pandapowerNet) -> list[str]:
    types = pandapower().available_std_types(net, "line")
    return sorted(types.index[types["voltage_rating"] == "LV"]) if "voltage_rating" in types else sorted(types.index)


def _attach_participants(net: pandapowerNet, ids: AnyArray, buses: IntArray, phases: AnyArray) -> pandapowerNet:
    pp = pandapower()
    if len(ids):
        loads = pp.create_loads(net, buses, 0.0, q_mvar=0.0, name=[f"peergrid {i}" for i in ids])
    else:
        loads = np.zeros(0, dtype=np.int64)
    net[PARTICIPANTS_KEY] = pd.DataFrame(
        {
            "id": pd.Series(ids, dtype=object),
            "bus": np.asarray(buses, dtype=np.int64),
            "phase": pd.Series(phases, dtype=object),
            "load": np.asarray(loads, dtype=np.int64),
        }
    )
    return net
