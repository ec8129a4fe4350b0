"""Community performance metrics, each citing the paper and equation it implements.

All functions are pure: arrays (kWh, currency) in, numbers out.
"""

from __future__ import annotations

import numpy as np


def _ratio(num: float, den: float) -> float:
    return float(num / den) if den > 0 else float("nan")


def self_sufficiency(load_kwh: float, grid_import_kwh: float) -> float:
    """Self-sufficiency rate (Lange eq. 6).

    Share of total demand supplied by locally produced renewable energy (own, via
    storage, or from peers) = 1 − grid import / demand.

    Parameters
    ----------
    load_kwh : float
        Total consumption, kWh.
    grid_import_kwh : float
        Energy the members buy from the grid, kWh.

    Returns
    -------
    float
        In [0, 1]; NaN without load.
    """
    return _ratio(load_kwh - grid_import_kwh, load_kwh)


def self_consumption(generation_kwh: float, grid_export_kwh: float) -> float:
    """Self-consumption rate (Lange eq. 5), community form.

    Share of local renewable output consumed inside the community (by its owner,
    its battery or a peer) = 1 − grid export / generation. With the no-P2P
    baseline it equals the strict individual form of eq. 5 (output consumed by the
    same prosumer).

    Parameters
    ----------
    generation_kwh : float
        Total local generation, kWh.
    grid_export_kwh : float
        Energy exported to the grid, kWh.

    Returns
    -------
    float
        In [0, 1]; NaN without generation.
    """
    return _ratio(generation_kwh - grid_export_kwh, generation_kwh)


def cost_reduction(cost: float, baseline_cost: float) -> float:
    """Relative cost reduction due to sharing (Lange (2025), eq. 7).

    Applied to the members' purchase costs it is the *purchase-cost reduction*
    (metric ``cost_reduction``); applied to the community's net bill it is the
    *community net-bill reduction* (``community_cost_reduction``), see
    :data:`peergrid.metrics.METRICS`.

    Parameters
    ----------
    cost : float
        Cost with sharing, currency.
    baseline_cost : float
        Cost of the same members without sharing, currency.

    Returns
    -------
    float
        (baseline − cost) / |baseline|, 1; NaN when the baseline is 0.
    """
    den = abs(baseline_cost)
    return float((baseline_cost - cost) / den) if den > 0 else float("nan")


def performance_measure(income: float, v_min: float, v_max: float) -> float:
    """Performance measure PM = (iESR − v_min) / (v_max − v_min) (Lange eq. 8).

    peergrid takes iESR as the realised income of sellers for their surplus, v_min
    as that income at the feed-in tariff (everything sold to the grid) and v_max
    as that income at the retail price (every kWh displacing a grid purchase). PM is
    then 0 for the no-P2P baseline and 1 when sellers capture the whole retail
    value. Mechanisms that pay sellers less than the feed-in tariff (bill sharing)
    give PM < 0: the value is not clipped, so that this shows.

    Parameters
    ----------
    income : float
        Realised seller income, currency.
    v_min, v_max : float
        Income bounds of the energy-shared region, currency.

    Returns
    -------
    float
        1; NaN when v_max == v_min.
    """
    span = v_max - v_min
    return float((income - v_min) / span) if span > 0 else float("nan")


def sharing_contribution_rate(
    contribution: np.ndarray, tau_c: float = 0.0, gamma: np.ndarray | float = 1.0
) -> np.ndarray:
    """Sharing contribution rate SCR_A (Lange eq. 1).

    SCR_A = (1 − τ_c) Σ_t γ CU_{A,t} / Σ_{j,t} γ CU_{j,t}.

    Parameters
    ----------
    contribution : numpy.ndarray
        ``(T, N)`` or ``(N,)`` energy each user contributed to the pool (sold to
        peers), kWh.
    tau_c : float
        Aggregator's fixed rate of return τ_c, in [0, 1).
    gamma : numpy.ndarray or float
        Weight γ per period (broadcast over time), 1.

    Returns
    -------
    numpy.ndarray
        SCR per user (length N), summing to 1 − τ_c (zeros if nobody contributed).
    """
    cu = np.asarray(contribution, dtype=np.float64)
    if cu.ndim == 2:
        g = np.asarray(gamma, dtype=np.float64)
        weighted = (cu * (g[:, None] if g.ndim == 1 else g)).sum(axis=0)
    else:
        weighted = cu * np.asarray(gamma, dtype=np.float64)
    total = weighted.sum()
    if total <= 0:
        return np.zeros_like(weighted)
    return (1.0 - tau_c) * weighted / total


def peak_to_average(power_kw: np.ndarray) -> float:
    """Peak-to-average ratio of a power series, 1 (NaN when the mean is 0).

    Parameters
    ----------
    power_kw : numpy.ndarray
        Power per step, kW.
    """
    p = np.asarray(power_kw, dtype=np.float64)
    mean = float(p.mean()) if p.size else 0.0
    return float(p.max() / mean) if mean > 0 else float("nan")


def jain_index(x: np.ndarray) -> float:
    """Jain's fairness index J = (Σx)² / (n·Σx²) of non-negative values.

    Parameters
    ----------
    x : numpy.ndarray
        Benefits per participant (e.g. savings, currency); negative values are
        counted as 0 (no benefit).

    Returns
    -------
    float
        In [1/n, 1]; 1 when everyone benefits equally; NaN when nobody benefits.
    """
    v = np.maximum(np.asarray(x, dtype=np.float64), 0.0)
    sq = float((v * v).sum())
    return float(v.sum() ** 2 / (v.size * sq)) if sq > 0 else float("nan")


def ess_utilisation(charge_kwh: float, discharge_kwh: float, capacity_kwh: float) -> dict[str, float]:
    """Energy-storage utilisation figures (Lange, ESS usage; Tooki et al. eq. 17).

    Parameters
    ----------
    charge_kwh, discharge_kwh : float
        Total bus-side energy charged / discharged, kWh.
    capacity_kwh : float
        Total installed storage capacity, kWh.

    Returns
    -------
    dict
        ``ess_charged_mwh``, ``ess_discharged_mwh``, ``ess_equivalent_cycles``
        (discharged / capacity) and ``ess_efficiency_pct`` (Tooki eq. 17, useful
        output / input × 100).
    """
    return {
        "ess_charged_mwh": charge_kwh / 1000.0,
        "ess_discharged_mwh": discharge_kwh / 1000.0,
        "ess_equivalent_cycles": _ratio(discharge_kwh, capacity_kwh),
        "ess_efficiency_pct": efficiency_pct(discharge_kwh, charge_kwh),
    }


# ---- Tooki et al. eqs. 14–18 -------------------------------------------------------


def power_w(voltage_v: np.ndarray | float, current_a: np.ndarray | float) -> np.ndarray | float:
    """Electrical power P = V · I (Tooki et al. eq. 14), W."""
    return np.multiply(voltage_v, current_a)


def energy_kwh(power_watts: np.ndarray | float, hours: np.ndarray | float) -> np.ndarray | float:
    """Energy of a constant-power device E = P · t / 1000 (Tooki et al. eq. 15), kWh.

    Parameters
    ----------
    power_watts : array-like
        Power rating, W.
    hours : array-like
        Time in use, h.
    """
    return np.multiply(power_watts, hours) / 1000.0


def energy_cost(energy: np.ndarray | float, tariff: np.ndarray | float) -> np.ndarray | float:
    """Cost = energy × tariff rate (Tooki et al. eq. 16), currency.

    Parameters
    ----------
    energy : array-like
        kWh.
    tariff : array-like
        currency/kWh (time-of-use arrays broadcast).
    """
    return np.multiply(energy, tariff)


def efficiency_pct(useful_output: float, input_: float) -> float:
    """Energy efficiency = useful output energy / input energy × 100 (Tooki et al. eq. 17), %."""
    return _ratio(useful_output, input_) * 100.0


def process_efficiency_pct(useful_output_power: float, input_power: float) -> float:
    """Process efficiency = useful output power / input power × 100 (Tooki et al. eq. 18), %."""
    return _ratio(useful_output_power, input_power) * 100.0
