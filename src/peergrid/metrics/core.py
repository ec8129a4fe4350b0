"""Community performance metrics, each citing the paper and equation it implements.

All functions are pure: arrays (kWh, currency) in, numbers out.
"""

from __future__ import annotations

import math

import numpy as np

from peergrid.core.types import ArrayLike, FloatArray


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
    contribution: ArrayLike, tau_c: float = 0.0, gamma: ArrayLike = 1.0
) -> FloatArray:
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
    out: FloatArray = (1.0 - tau_c) * weighted / total
    return out


def peak_to_average(power_kw: ArrayLike) -> float:
    """Peak-to-average ratio of a power series, 1 (NaN when the mean is 0).

    Parameters
    ----------
    power_kw : numpy.ndarray
        Power per step, kW.
    """
    p = np.asarray(power_kw, dtype=np.float64)
    mean = float(p.mean()) if p.size else 0.0
    return float(p.max() / mean) if mean > 0 else float("nan")


def jain_index(x: ArrayLike) -> float:
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


def storage_throughput(charge_kwh: float, discharge_kwh: float) -> float:
    """Storage throughput: the total amount of charging and discharging of the ESS (Lange (2025), ESS utilisation).

    Lange (2025) measures ESS utilisation as "the total amount of charging and
    discharging in the Energy Storage System"; peergrid counts both bus-side.

    Parameters
    ----------
    charge_kwh, discharge_kwh : float
        Total bus-side energy charged / discharged over the horizon, kWh (≥ 0).

    Returns
    -------
    float
        charge + discharge, kWh.

    Examples
    --------
    >>> storage_throughput(30.0, 27.0)
    57.0
    """
    return float(charge_kwh) + float(discharge_kwh)


def storage_utilisation(throughput_kwh: float, capacity_kwh: float, hours: float) -> float:
    """Storage utilisation per installed capacity: full cycles per day.

    throughput / (2 · capacity · days): one full charge plus one full discharge of the
    whole installed capacity per day gives 1. Unlike the throughput it does not grow
    with the number of batteries or the length of the run, so communities and windows
    of different size compare.

    Parameters
    ----------
    throughput_kwh : float
        Σ charge + discharge (:func:`storage_throughput`), kWh.
    capacity_kwh : float
        Total installed storage capacity, kWh.
    hours : float
        Length of the horizon, h.

    Returns
    -------
    float
        Full cycles per day, 1/day; NaN without storage or horizon.

    Examples
    --------
    >>> storage_utilisation(40.0, 10.0, 48.0)   # 2 full cycles in 2 days
    1.0
    """
    days = hours / 24.0
    return _ratio(throughput_kwh, 2.0 * capacity_kwh * days) if days > 0 else float("nan")


def pm_increase(pm: float, pm_reference: float) -> float:
    """Performance increase of a model over a comparator (Lange (2025), ≈ 5 %, on the PM of eq. 8).

    Lange (2025) reports an "overall system performance increase of approximately 5 %"
    of the proposed model relative to the comparator methods, and defines performance
    by the performance measure PM (eq. 8). peergrid reads it as the relative increase
    of PM: (PM − PM_ref) / |PM_ref|. The paper does not say whether 5 % is relative or
    in PM points; the absolute change PM − PM_ref is reported beside it where this
    metric is used (``peergrid reproduce lange``).

    Parameters
    ----------
    pm : float
        PM of the model (eq. 8), 1.
    pm_reference : float
        PM of the comparator, 1.

    Returns
    -------
    float
        Relative increase, 1 (0.05 = 5 %); NaN when PM_ref is 0 or either is NaN.

    Examples
    --------
    >>> round(pm_increase(0.42, 0.40), 6)
    0.05
    >>> round(pm_increase(-0.1, -0.2), 6)   # a negative reference: less negative is better
    0.5
    """
    pm, ref = float(pm), float(pm_reference)
    if not (math.isfinite(pm) and math.isfinite(ref)) or ref == 0:
        return float("nan")
    return (pm - ref) / abs(ref)


def ess_utilisation(
    charge_kwh: float, discharge_kwh: float, capacity_kwh: float, hours: float | None = None
) -> dict[str, float]:
    """Energy-storage utilisation figures (Lange (2025), ESS usage; Tooki et al. (2025), eq. 17).

    Parameters
    ----------
    charge_kwh, discharge_kwh : float
        Total bus-side energy charged / discharged, kWh.
    capacity_kwh : float
        Total installed storage capacity, kWh.
    hours : float, optional
        Length of the horizon, h; when given, ``storage_utilisation`` is included.

    Returns
    -------
    dict
        ``ess_charged_mwh``, ``ess_discharged_mwh``, ``ess_equivalent_cycles``
        (discharged / capacity), ``ess_efficiency_pct`` (Tooki eq. 17, useful
        output / input × 100), ``storage_throughput_kwh`` (charge + discharge, kWh)
        and, with ``hours``, ``storage_utilisation`` (full cycles per day).
    """
    throughput = storage_throughput(charge_kwh, discharge_kwh)
    out = {
        "ess_charged_mwh": charge_kwh / 1000.0,
        "ess_discharged_mwh": discharge_kwh / 1000.0,
        "ess_equivalent_cycles": _ratio(discharge_kwh, capacity_kwh),
        "ess_efficiency_pct": efficiency_pct(discharge_kwh, charge_kwh),
        "storage_throughput_kwh": throughput,
    }
    if hours is not None:
        out["storage_utilisation"] = storage_utilisation(throughput, capacity_kwh, hours)
    return out


# ---- Tooki et al. eqs. 14–18 -------------------------------------------------------


def power_w(voltage_v: ArrayLike, current_a: ArrayLike) -> FloatArray | float:
    """Electrical power P = V · I (Tooki et al. eq. 14), W."""
    return np.multiply(voltage_v, current_a)


def energy_kwh(power_watts: ArrayLike, hours: ArrayLike) -> FloatArray | float:
    """Energy of a constant-power device E = P · t / 1000 (Tooki et al. eq. 15), kWh.

    Parameters
    ----------
    power_watts : array-like
        Power rating, W.
    hours : array-like
        Time in use, h.
    """
    return np.multiply(power_watts, hours) / 1000.0


def energy_cost(energy: ArrayLike, tariff: ArrayLike) -> FloatArray | float:
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
