"""The battery-dispatch LP of :mod:`peergrid.control.lp`: balance groups, bills and the sparse model.

:class:`HorizonLP` assembles the LP of an H-step horizon (formulation in :mod:`peergrid.control.lp`)
as one ``scipy.sparse`` CSC matrix passed to HiGHS with ``passModel`` — columns time-major, step t
holding ``[c (M), d (M), e (M), imp (K), exp (K)]``, rows ``[SOC (M), balance (K)]`` — and changes
costs, bounds and right-hand sides in place for the next window or re-plan. How it is solved and
run over time lives in :mod:`peergrid.control.lp.dispatch`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Literal

import numpy as np
import scipy.sparse as sp

from peergrid.assets.battery import BatteryFleet
from peergrid.control._common import check_lp_mode
from peergrid.core.errors import ConfigError, ModelError

__all__ = ["HorizonLP", "Mode", "grid_cost", "group_codes"]

Mode = Literal["community", "individual"]

_INF = math.inf


# ---- small helpers ---------------------------------------------------------------------
def _new_highs() -> object:
    """A silent HiGHS instance (no licence banner on stdout)."""
    try:
        import highspy
    except ImportError:  # pragma: no cover - highspy is a dependency
        raise ConfigError("the LP controllers need highspy: pip install highspy") from None
    # The low-level class prints nothing if output is switched off before any other call;
    # highspy.Highs() registers callbacks first and so prints the banner.
    cls = getattr(highspy, "_Highs", highspy.Highs)
    h = cls()
    h.setOptionValue("output_flag", False)
    return h


def group_codes(n: int, owners: np.ndarray, mode: str) -> tuple[np.ndarray, int]:
    """Balance group of every participant for an LP ``mode``.

    Parameters
    ----------
    n : int
        Number of participants N.
    owners : numpy.ndarray
        Participant column of each battery (length M).
    mode : {"community", "individual"}

    Returns
    -------
    codes : numpy.ndarray of int64, shape (N,)
        Group of every participant. Groups ``0 … K−1`` contain batteries; in
        ``"individual"`` mode participants without a battery get ``−1`` (their bill
        does not depend on the schedule).
    k : int
        Number of groups with decisions K.
    """
    mode = check_lp_mode(mode)
    if mode == "community":
        return np.zeros(n, dtype=np.int64), 1
    codes = np.full(n, -1, dtype=np.int64)
    codes[owners] = np.arange(owners.size)
    return codes, int(owners.size)


def grid_cost(
    net: np.ndarray, retail: np.ndarray | float, feed_in: np.ndarray | float, mode: str = "individual"
) -> float:
    """Grid bill of a net-energy series, currency.

    Parameters
    ----------
    net : numpy.ndarray
        ``(T, N)`` net energy after control, kWh (+ import).
    retail, feed_in : numpy.ndarray or float
        λb and λs per step, currency/kWh.
    mode : {"individual", "community"}
        ``"individual"``: every participant trades with the grid alone,
        Σ_t Σ_i λb·x⁺ − λs·x⁻ (the no-P2P baseline bill); ``"community"``: one meter
        at the PCC, Σ_t λb·(Σ_i x)⁺ − λs·(Σ_i x)⁻ (the community bill every pool
        mechanism settles).

    Returns
    -------
    float
    """
    mode = check_lp_mode(mode)
    net = np.asarray(net, dtype=np.float64)
    lb = np.broadcast_to(np.asarray(retail, dtype=np.float64), net.shape[:1])
    ls = np.broadcast_to(np.asarray(feed_in, dtype=np.float64), net.shape[:1])
    if mode == "community":
        x = net.sum(axis=1)
        return float(lb @ np.maximum(x, 0.0) - ls @ np.maximum(-x, 0.0))
    return _row_block_bill(net, None, lb, ls)


def _row_block_bill(load: np.ndarray, generation: np.ndarray | None, retail: np.ndarray, feed_in: np.ndarray) -> float:
    """Σ of every participant's own grid bill of ``load − generation`` (``(T, N)``), in row blocks.

    Uses λb·x⁺ − λs·x⁻ = (λb − λs)·x⁺ + λs·x, so a block needs one temporary;
    ``generation=None`` bills ``load`` itself (a net series).
    """
    T, N = load.shape
    pos = np.empty(T)
    tot = np.empty(T)
    step = max(1, (1 << 20) // max(N, 1))
    for start in range(0, T, step):
        rows = slice(start, start + step)
        x = load[rows] - generation[rows] if generation is not None else np.array(load[rows])
        tot[rows] = x.sum(axis=1)
        np.maximum(x, 0.0, out=x)
        pos[rows] = x.sum(axis=1)
    lb = np.broadcast_to(np.asarray(retail, dtype=np.float64), (T,))
    ls = np.broadcast_to(np.asarray(feed_in, dtype=np.float64), (T,))
    return float((lb - ls) @ pos + ls @ tot)



# ---- the model -------------------------------------------------------------------------
class HorizonLP:
    """Sparse battery-dispatch LP over H steps, built once and updated in place.

    Parameters
    ----------
    fleet : BatteryFleet
        The M batteries.
    groups : numpy.ndarray
        Balance group ``0 … K−1`` of every battery (length M).
    n_groups : int
        Number of balance groups K.
    dt : float
        Step length, h.
    horizon : int
        Number of steps H of every plan.
    tie_break : float
        Throughput cost ε, currency per kWh charged or discharged.
    options : dict, optional
        Extra HiGHS options (``{"solver": "ipm"}``, ``{"simplex_strategy": 4}``, ...).

    Notes
    -----
    The H time blocks of the model form a ring. A plan starts at the *origin* block;
    the SOC row of the origin block has no link to the block before it and carries
    the initial content on its right-hand side. :meth:`roll` moves the origin by the
    re-plan interval S (two matrix coefficients per battery change), so the blocks of
    the steps that two successive plans share keep their place and HiGHS re-solves
    from the previous optimal basis (a hot start: no basis is copied through Python).
    :meth:`set_data` changes the net energy, prices, initial content and end-SOC
    bound of the next plan through ``changeColsCost``, ``changeRowsBounds`` and
    ``changeColsBounds`` (only entries that differ from the previous plan);
    :meth:`solve` runs HiGHS and returns the plan in step order.

    A bounds-only variant (H + 1 blocks, one "anchor" block whose content is fixed
    to the initial SOC by its bounds and whose SOC row is free) needs no coefficient
    changes, but took about 1.7× the simplex iterations per re-plan and was about
    25 % slower on 100 households with a one-day horizon, so the ring cuts its link
    with ``changeCoeff`` instead. Cold starts (``clearSolver`` before every re-plan)
    are 5–7× slower.
    """

    def __init__(
        self,
        fleet: BatteryFleet,
        groups: np.ndarray,
        n_groups: int,
        dt: float,
        horizon: int,
        *,
        tie_break: float = 0.0,
        options: dict[str, object] | None = None,
    ) -> None:
        import highspy

        t0 = time.perf_counter()
        if horizon < 1:
            raise ConfigError(f"LP horizon must be >= 1 step, got {horizon}")
        groups = np.asarray(groups, dtype=np.int64)
        M, K, H = fleet.size, int(n_groups), int(horizon)
        if groups.shape != (M,) or (M and (groups.min() < 0 or groups.max() >= K)):
            raise ModelError(f"battery groups must be {M} codes in 0..{K - 1}")
        if not (math.isfinite(tie_break) and tie_break >= 0):
            raise ConfigError(f"tie_break must be a finite number >= 0, got {tie_break}")
        self.fleet, self.groups, self.dt = fleet, groups, float(dt)
        self.M, self.K, self.H = M, K, H
        self.B, self.R = 3 * M + 2 * K, M + K
        B, R = self.B, self.R
        t = np.arange(H, dtype=np.int64)[:, None]
        m = np.arange(M, dtype=np.int64)[None, :]
        k = np.arange(K, dtype=np.int64)[None, :]
        col_c = t * B + m
        col_d = col_c + M
        col_e = col_c + 2 * M
        col_imp = t * B + 3 * M + k
        col_exp = col_imp + K
        row_soc = t * R + m
        row_bal = t * R + M + k
        row_bal_m = t * R + M + groups[None, :]
        ones_hm = np.ones((H, M))
        eta_c = np.broadcast_to(fleet.eff_charge, (H, M))
        inv_eta_d = np.broadcast_to(1.0 / fleet.eff_discharge, (H, M))
        rows = np.concatenate(
            [
                row_soc.ravel(),  # +e_t
                row_soc[1:].ravel(),  # −e_{t−1} (no link into the origin block 0)
                row_soc.ravel(),  # −η_c c_t
                row_soc.ravel(),  # +d_t/η_d
                row_bal_m.ravel(),  # +c_t
                row_bal_m.ravel(),  # −d_t
                row_bal.ravel(),  # −imp_t
                row_bal.ravel(),  # +exp_t
            ]
        )
        cols = np.concatenate(
            [
                col_e.ravel(),
                col_e[:-1].ravel(),
                col_c.ravel(),
                col_d.ravel(),
                col_c.ravel(),
                col_d.ravel(),
                col_imp.ravel(),
                col_exp.ravel(),
            ]
        )
        vals = np.concatenate(
            [
                ones_hm.ravel(),
                -ones_hm[1:].ravel(),
                -eta_c.ravel(),
                inv_eta_d.ravel(),
                ones_hm.ravel(),
                -ones_hm.ravel(),
                -np.ones(H * K),
                np.ones(H * K),
            ]
        )
        A = sp.csc_matrix((vals, (rows, cols)), shape=(H * R, H * B))
        A.sort_indices()

        pmax = fleet.power * self.dt
        lower = np.zeros((H, B))
        upper = np.full((H, B), _INF)
        upper[:, :M] = pmax
        upper[:, M : 2 * M] = pmax
        lower[:, 2 * M : 3 * M] = fleet.e_min
        upper[:, 2 * M : 3 * M] = fleet.e_max
        cost = np.zeros((H, B))
        cost[:, : 2 * M] = tie_break

        lp = highspy.HighsLp()
        lp.num_col_ = H * B
        lp.num_row_ = H * R
        lp.col_cost_ = cost.ravel()
        lp.col_lower_ = lower.ravel()
        lp.col_upper_ = upper.ravel()
        lp.row_lower_ = np.zeros(H * R)
        lp.row_upper_ = np.zeros(H * R)
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = A.indptr.astype(np.int32)
        lp.a_matrix_.index_ = A.indices.astype(np.int32)
        lp.a_matrix_.value_ = A.data
        self._highs = h = _new_highs()
        for key, value in (options or {}).items():
            if h.setOptionValue(str(key), value) != highspy.HighsStatus.kOk:
                raise ConfigError(f"bad HiGHS option {key}={value!r}")
        if h.passModel(lp) != highspy.HighsStatus.kOk:
            raise ModelError("HiGHS rejected the battery LP (check the battery parameters)")
        self._kOptimal = highspy.HighsModelStatus.kOptimal

        # index sets (int32 for highspy), all (H, ·) in block order
        self._col_cost = np.concatenate([col_imp, col_exp], axis=1).astype(np.int32)
        self._rows = np.arange(H * R, dtype=np.int32)
        self._row_soc = row_soc
        self._col_e = col_e.astype(np.int32)
        self._col_cd = np.concatenate([col_c, col_d], axis=1).astype(np.int32)
        self._upper_cd = np.concatenate([pmax, pmax])
        self._origin = 0
        self._padded = False
        self._terminal = H - 1
        self._steps = H
        self._last: dict[str, tuple[np.ndarray, ...]] = {}
        self.build_seconds = time.perf_counter() - t0
        self.solve_seconds = 0.0
        self.solves = 0

    # ---- updates -------------------------------------------------------------------
    def _blocks(self) -> np.ndarray:
        """Block of each planned step 0 … H−1."""
        return (self._origin + np.arange(self.H)) % self.H

    def roll(self, s: int) -> None:
        """Move the origin ``s`` steps on: the next plan starts ``s`` steps later.

        The blocks of the steps both plans share keep their variables (and their
        basis status); the freed blocks at the front become the new tail.
        """
        H, M = self.H, self.M
        s = int(s) % H
        if s == 0 or M == 0:
            return
        h = self._highs
        old, new = self._origin, (self._origin + s) % H
        rows_new = self._row_soc[new]
        cols_new = self._col_e[(new - 1) % H]
        rows_old = self._row_soc[old]
        cols_old = self._col_e[(old - 1) % H]
        for j in range(M):  # 2·M coefficient changes: cut the link into the new origin, restore the old one
            h.changeCoeff(int(rows_new[j]), int(cols_new[j]), 0.0)
            h.changeCoeff(int(rows_old[j]), int(cols_old[j]), -1.0)
        self._origin = new

    def set_data(
        self,
        residual: np.ndarray,
        retail: np.ndarray,
        feed_in: np.ndarray,
        e0: np.ndarray,
        e_end: np.ndarray | None = None,
        steps: int | None = None,
    ) -> None:
        """Set the data of the next plan (in step order, starting at the origin).

        Parameters
        ----------
        residual : numpy.ndarray
            ``(steps, K)`` net energy of every balance group before storage, kWh.
        retail, feed_in : numpy.ndarray
            λb and λs of the ``steps`` planned steps, currency/kWh.
        e0 : numpy.ndarray
            Stored energy at the start of the plan, kWh (length M).
        e_end : numpy.ndarray, optional
            Lower bound on the stored energy after the last planned step, kWh;
            ``None`` = the SOC floor.
        steps : int, optional
            Number of real steps (≤ H, default H); the remaining steps of the model
            are padded with idle batteries and zero prices.
        """
        H, M, K, R = self.H, self.M, self.K, self.R
        steps = H if steps is None else int(steps)
        if not 1 <= steps <= H:
            raise ConfigError(f"plan length must be in 1..{H}, got {steps}")
        h = self._highs
        blocks = self._blocks()
        # costs of imp (+λb) and exp (−λs), block order
        cost = np.zeros((H, 2 * K))
        cost[blocks[:steps], :K] = np.asarray(retail, dtype=np.float64)[:, None]
        cost[blocks[:steps], K:] = -np.asarray(feed_in, dtype=np.float64)[:, None]
        self._change(h.changeColsCost, "cost", self._col_cost.ravel(), cost.ravel())
        # rows: SOC rows 0 except the origin (e0); balance rows Σ(c − d) − imp + exp = −r
        rhs = np.zeros((H, R))
        rhs[blocks[:steps], M:] = -np.asarray(residual, dtype=np.float64)
        rhs[self._origin, :M] = np.clip(e0, self.fleet.e_min, self.fleet.e_max)
        self._change(h.changeRowsBounds, "rows", self._rows, rhs.ravel(), rhs.ravel())
        # padded steps: idle batteries
        if steps < H or self._padded:
            up = np.zeros((H, 2 * M))
            up[blocks[:steps]] = self._upper_cd
            idx = self._col_cd.ravel()
            h.changeColsBounds(idx.size, idx, np.zeros(idx.size), up.ravel())
            self._padded = steps < H
        # end condition on e after the last real step (and reset the previous one)
        fleet = self.fleet
        last = int(blocks[steps - 1])
        if self._terminal != last:
            h.changeColsBounds(M, self._col_e[self._terminal], fleet.e_min, fleet.e_max)
            self._terminal = last
        lo = fleet.e_min if e_end is None else np.clip(e_end, fleet.e_min, fleet.e_max)
        h.changeColsBounds(M, self._col_e[last], lo, fleet.e_max)
        self._steps = steps

    def _change(self, method: Callable, key: str, index: np.ndarray, *values: np.ndarray) -> None:
        """Pass only the entries that differ from the last call to a HiGHS ``change*`` method."""
        last = self._last.get(key)
        if last is None:
            idx, new = index, values
        else:
            diff = np.zeros(index.size, dtype=bool)
            for v, old in zip(values, last, strict=True):
                diff |= v != old
            idx = index[diff]
            new = tuple(v[diff] for v in values)
        if idx.size:
            method(idx.size, idx, *new)
        self._last[key] = values

    def cold_start(self) -> None:
        """Forget the basis: the next solve starts from scratch (for comparisons)."""
        self._highs.clearSolver()

    # ---- solve ---------------------------------------------------------------------
    def solve(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
        """Solve the current plan.

        Returns
        -------
        charge, discharge, energy : numpy.ndarray
            ``(steps, M)`` planned bus-side charge and discharge (kWh per step) and
            stored energy at the end of each step (kWh), in step order.
        objective : float
            LP objective of the plan (including the tie-break), currency.

        Raises
        ------
        ModelError
            The plan is infeasible or HiGHS fails.
        """
        h = self._highs
        t0 = time.perf_counter()
        h.run()
        status = h.getModelStatus()
        if status != self._kOptimal:
            h.clearSolver()  # retry once from scratch
            h.run()
            status = h.getModelStatus()
        self.solve_seconds += time.perf_counter() - t0
        self.solves += 1
        if status != self._kOptimal:
            text = h.modelStatusToString(status)
            if "nfeasible" in text:
                raise ModelError(
                    "battery LP is infeasible: the end-SOC condition cannot be met with the given power and SOC limits"
                )
            raise ModelError(f"HiGHS could not solve the battery LP (status: {text})")
        M = self.M
        x = np.asarray(h.getSolution().col_value).reshape(self.H, self.B)[self._blocks()[: self._steps]]
        fleet = self.fleet
        pmax = fleet.power * self.dt
        charge = np.clip(x[:, :M], 0.0, pmax)
        discharge = np.clip(x[:, M : 2 * M], 0.0, pmax)
        energy = np.clip(x[:, 2 * M : 3 * M], fleet.e_min, fleet.e_max)
        return charge, discharge, energy, float(h.getInfo().objective_function_value)
