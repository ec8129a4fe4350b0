"""Cost–benefit analysis of a simulated community: PV, batteries, wind and the platform.

:func:`appraise` turns one simulation :class:`~peergrid.simulate.Result` and a set of
:class:`~peergrid.economics.CostAssumptions` into yearly cash flows per member and
technology, and from them CAPEX, OPEX, LCOE, NPV, simple and discounted payback and
the investment boundary of Tooki et al. (2025), eq. 9.

**Benefits are bill savings.** Each member's whole bill (the community's tariff,
:meth:`Result.bills`) is computed four times over the simulated window:

1. ``grid``: buying all its consumption from the grid (no generation, no battery, no P2P);
2. ``generation``: its own generation behind the meter, no battery, no P2P;
3. ``assets``: generation and battery as simulated, no P2P (the no-P2P baseline);
4. ``p2p``: as simulated, with the market (:meth:`Result.bills` ``total``).

Generation saves ``grid − generation``, the battery ``generation − assets``, the
platform ``assets − p2p``; together ``grid − p2p``. Fixed charges appear in all four and
cancel. A member's generation savings are split between PV and wind by its PV share of
generation (:func:`pv_share`). Savings and energies of the window are extrapolated to
a year by ``8760 h / window length`` (a window shorter than a year carries its season's
bias: simulate a whole year for figures you quote).

**Costs.** Year 0: investment; years 1 … Y: O&M (a fraction of the investment; the
platform's hosting per member plus its communication cost, Tooki et al. (2025), eq. 6,
from :func:`~peergrid.economics.platform_traffic`); a component whose life ends before the
horizon is replaced at the end of its life (batteries at their replacement cost, PV
inverters, turbines, the platform's meters and set-up), and the unused share of the last
one is credited as salvage (straight line) in year Y. Output decline (degradation,
capacity fade) shrinks a technology's savings and energy and restarts at replacement.
The platform's costs are shared equally among the members; its benefit to a member is
that member's P2P saving. The no-P2P ``"baseline"`` market has no platform (no costs, no
traffic cost): appraising it gives the assets alone.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from peergrid.core.errors import DataError
from peergrid.economics.assumptions import CostAssumptions
from peergrid.economics.communication import TrafficResult, platform_traffic
from peergrid.economics.finance import cumulative, discount_factors, lcoe, npv, payback

if TYPE_CHECKING:
    from peergrid.core.community import Community
    from peergrid.simulate.result import Result

__all__ = ["TECHNOLOGIES", "Appraisal", "appraise", "investment_boundary", "member_bills", "pv_share"]

#: Technologies of the analysis, in table order.
TECHNOLOGIES: tuple[str, ...] = ("pv", "battery", "wind", "platform")

#: Full-load hours used to split the generation of a member with both PV and wind (h/yr).
FULL_LOAD_HOURS: dict[str, float] = {"pv": 1000.0, "wind": 2000.0}

HOURS_PER_YEAR = 8760.0


def investment_boundary(ci: Any, ic: Any, mc: Any, av_pg: Any) -> np.ndarray | float:
    """Investment boundary, Tooki et al. (2025), eq. 9: ``IB = (CI + IC + MC) / AV_PG``.

    Parameters
    ----------
    ci : array-like
        Capital investment CI, currency.
    ic : array-like
        Inverter cost IC (PV systems), currency.
    mc : array-like
        Maintenance cost MC, currency.
    av_pg : array-like
        Power (energy) generated AV_PG over the same period as the costs, kWh.

    Returns
    -------
    float or numpy.ndarray
        IB, currency/kWh (NaN where ``av_pg`` is 0): the price at which the generation
        pays back its costs, undiscounted. :func:`appraise` uses lifetime totals (CI and IC
        with replacements and net of salvage, MC of all years, AV_PG = lifetime generation =
        horizon × average yearly generation), so IB is an undiscounted LCOE.

    Examples
    --------
    5 kWp of PV at 1,200 /kWp, a 1,250 inverter, 60 a year of O&M for 25 years,
    4,500 kWh a year:

    >>> round(investment_boundary(6000, 1250, 60 * 25, 4500 * 25), 4)
    0.0778
    """
    num = np.asarray(ci, dtype=np.float64) + np.asarray(ic, dtype=np.float64) + np.asarray(mc, dtype=np.float64)
    den = np.asarray(av_pg, dtype=np.float64)
    num, den = np.broadcast_arrays(num, den)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
    return float(out) if out.ndim == 0 else out


def pv_share(community: Community) -> np.ndarray:
    """Each member's share of generation from PV, 1 (the rest is wind).

    Exact for members with only PV (1) or only wind (0), and for communities that carry
    a ``wind_generation`` ``(T, N)`` array (kWh per step; scenario communities with
    ``[wind]`` turbines do). A member with both and no
    separate series is split by rated capacity × full-load hours
    (:data:`FULL_LOAD_HOURS`: PV 1,000 h/yr, wind 2,000 h/yr), an estimate.

    Parameters
    ----------
    community : Community

    Returns
    -------
    numpy.ndarray
        ``(N,)`` in [0, 1] (1 for members without generation capacity).
    """
    parts = community.participants
    pv = parts["pv_kwp"].to_numpy(dtype=np.float64)
    wind = parts["wind_kw"].to_numpy(dtype=np.float64) if "wind_kw" in parts else np.zeros(community.N)
    series = getattr(community, "wind_generation", None)
    if series is not None:
        w = np.asarray(series, dtype=np.float64)
        if w.shape == (community.T, community.N):
            total = community.generation.sum(axis=0)
            windy = w.sum(axis=0)
            with np.errstate(divide="ignore", invalid="ignore"):
                return np.where(total > 0, np.clip(1.0 - windy / np.where(total > 0, total, 1.0), 0.0, 1.0), 1.0)
    a = pv * FULL_LOAD_HOURS["pv"]
    b = wind * FULL_LOAD_HOURS["wind"]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(a + b > 0, a / np.where(a + b > 0, a + b, 1.0), 1.0)


def _blocks(T: int, N: int) -> range:
    step = max(1, (1 << 21) // max(N, 1))
    return range(0, T, step)


def member_bills(result: Result) -> pd.DataFrame:
    """Each member's whole bill over the window in the four cases of the analysis.

    Parameters
    ----------
    result : peergrid.simulate.Result

    Returns
    -------
    pandas.DataFrame
        One row per member (index ``member``), currency: ``grid`` (all consumption from
        the grid), ``generation`` (own generation, no battery, no P2P), ``assets`` (the
        no-P2P baseline as simulated; with forecasts, plus the member's imbalance charge),
        ``p2p`` (:meth:`Result.bills` ``total``).
    """
    from peergrid.market.tariff import BillAccumulator, community_tariff

    com = result.community
    tariff = community_tariff(com)
    accs = {k: BillAccumulator(tariff, com.N, com.dt) for k in ("grid", "generation", "assets")}
    local = com.local_index
    delta = result.battery.load_delta
    step = _blocks(com.T, com.N).step
    zeros = np.zeros((min(step, com.T), com.N))
    for s in _blocks(com.T, com.N):
        blk = slice(s, min(s + step, com.T))
        load = com.load[blk] if delta is None else com.load[blk] + delta[blk]
        own = load - com.generation[blk]
        net = result.net[blk]
        idx = local[blk]
        cases = {"grid": (load, None), "generation": (np.maximum(own, 0.0), np.maximum(-own, 0.0)),
                 "assets": (np.maximum(net, 0.0), np.maximum(-net, 0.0))}  # fmt: skip
        if accs["grid"].pool_ready:  # linear bill (no export limit, no demand charge): rates once, three matmuls
            w_imp = np.stack([tariff.energy_rate.values(idx), tariff.network_rate.values(idx), np.ones(len(idx))], 1)
            w_exp = np.stack([tariff.feed_in_rate.values(idx), np.ones(len(idx))], 1)
            for key, (imp, exp) in cases.items():
                b = np.zeros((com.N, 5))
                b[:, :3] = imp.T @ w_imp
                x = exp.T @ w_exp if exp is not None else np.zeros((com.N, 2))
                accs[key].add_pool_sums(b, x, idx)
        else:
            for key, (imp, exp) in cases.items():
                accs[key].add(idx, imp, zeros[: len(idx)] if exp is None else exp, None)
    out = pd.DataFrame({k: acc.frame(com.ids)["total"].to_numpy() for k, acc in accs.items()},
                       index=pd.Index(com.ids, name="member"))  # fmt: skip
    if result.forecast is not None:
        out["assets"] += result.forecast.member_charge
    out["p2p"] = result.bills()["total"].to_numpy()
    return out


def _schedule(life: int, years: int) -> tuple[np.ndarray, np.ndarray, float]:
    """(replacement years mask over 0…Y, age of the component in years 1…Y, salvage share at Y)."""
    y = np.arange(years + 1)
    replace = (y > 0) & (y < years) & (y % life == 0)
    age = np.zeros(years + 1)
    age[1:] = (y[1:] - 1) % life
    rest = years % life
    salvage = (life - rest) / life if rest else 0.0
    return replace, age, salvage


def _component(
    first: np.ndarray, again: np.ndarray, life: int, years: int
) -> tuple[np.ndarray, np.ndarray]:
    """Investment (year 0 and replacements) and salvage, ``(N, Y + 1)`` each, currency."""
    replace, _, share = _schedule(life, years)
    n = first.shape[0]
    invest = np.zeros((n, years + 1))
    invest[:, 0] = first
    invest[:, replace] = again[:, None]
    salvage = np.zeros((n, years + 1))
    if share:
        last = again if years >= life else first
        salvage[:, years] = share * last
    return invest, salvage


@dataclass
class Appraisal:
    """Result of :func:`appraise`: yearly cash flows and the figures derived from them.

    Attributes
    ----------
    flows : dict of dict of numpy.ndarray
        ``flows[tech][part]``, ``(N, Y + 1)`` arrays per technology (:data:`TECHNOLOGIES`) and
        part: ``investment``, ``om``, ``salvage``, ``savings`` (currency, all ≥ 0 as amounts)
        and ``energy`` (kWh: generated for PV and wind, discharged for the battery, traded
        by the member for the platform).
    members : pandas.DataFrame
        One row per member (see :meth:`member_table`).
    technologies : pandas.DataFrame
        One row per technology and ``total`` (see :meth:`technology_table`).
    bills : pandas.DataFrame
        :func:`member_bills` over the window.
    traffic : TrafficResult
        The platform's per-slot traffic and communication cost over the window.
    assumptions : CostAssumptions
    currency : str
        The community's currency (all money in it).
    market : str
        The simulated market.
    window_days : float
        Length of the simulated window, days.
    annual_factor : float
        8760 h / window length: window totals × this = a year.
    ids : numpy.ndarray
        Member ids, length N.
    capacity : dict of numpy.ndarray
        ``pv`` (kWp), ``battery`` (kWh), ``wind`` (kW) per member.
    ib_parts : dict
        ``ib_parts[tech]`` for ``pv`` and ``wind``: per-member lifetime totals ``ci``, ``ic``,
        ``mc`` (currency) and ``av_pg`` (kWh) of :func:`investment_boundary`.
    """

    flows: dict[str, dict[str, np.ndarray]]
    ids: np.ndarray
    bills: pd.DataFrame
    traffic: TrafficResult
    assumptions: CostAssumptions
    currency: str
    market: str
    window_days: float
    annual_factor: float
    capacity: dict[str, np.ndarray]
    ib_parts: dict[str, dict[str, np.ndarray]]

    @property
    def years(self) -> int:
        """Horizon Y, years."""
        return self.assumptions.lifetime

    @property
    def rate(self) -> float:
        """Discount rate, 1/yr."""
        return self.assumptions.discount_rate

    def cost(self, tech: str) -> np.ndarray:
        """Yearly costs of ``tech`` per member (investment + O&M − salvage), ``(N, Y + 1)``, currency."""
        f = self.flows[tech]
        return f["investment"] + f["om"] - f["salvage"]

    def net(self, tech: str | None = None) -> np.ndarray:
        """Yearly net cash flow (savings − costs) per member, ``(N, Y + 1)``; all technologies when None."""
        techs = TECHNOLOGIES if tech is None else (tech,)
        return sum(self.flows[t]["savings"] - self.cost(t) for t in techs)  # type: ignore[return-value]

    # ---- tables ---------------------------------------------------------------------
    def member_table(self) -> pd.DataFrame:
        """One row per member (index ``member``).

        Columns: ``pv_kwp``, ``battery_kwh``, ``wind_kw``; ``capex`` (year-0 investment
        incl. the platform share), ``opex`` (year-1 O&M incl. the platform share),
        ``savings`` (year-1 bill saving) and its parts ``savings_generation``,
        ``savings_battery``, ``savings_p2p``, currency or currency/yr; ``npv`` (currency),
        ``payback`` and ``discounted_payback`` (years, inf = not within the horizon),
        ``npv_pv``, ``npv_battery``, ``npv_wind``, ``npv_platform`` (the member's NPV per
        technology, currency; they add up to ``npv``),
        ``lcoe`` (generation, PV + wind, currency/kWh), ``lcos`` (battery, per kWh
        discharged, currency/kWh), ``ib`` (eq. 9, generation, currency/kWh); NaN where the
        member has no such asset.
        """
        r = self.rate
        cf = self.net()
        f = self.flows
        gen_cost = self.cost("pv") + self.cost("wind")
        gen_energy = f["pv"]["energy"] + f["wind"]["energy"]
        return pd.DataFrame(
            {
                "pv_kwp": self.capacity["pv"],
                "battery_kwh": self.capacity["battery"],
                "wind_kw": self.capacity["wind"],
                "capex": sum(f[t]["investment"][:, 0] for t in TECHNOLOGIES),
                "opex": sum(f[t]["om"][:, 1] for t in TECHNOLOGIES) if self.years else 0.0,
                "savings": sum(f[t]["savings"][:, 1] for t in TECHNOLOGIES) if self.years else 0.0,
                "savings_generation": (f["pv"]["savings"] + f["wind"]["savings"])[:, 1] if self.years else 0.0,
                "savings_battery": f["battery"]["savings"][:, 1] if self.years else 0.0,
                "savings_p2p": f["platform"]["savings"][:, 1] if self.years else 0.0,
                "npv": npv(cf, r),
                "payback": payback(cf),
                "discounted_payback": payback(cf, r),
                **{f"npv_{t}": npv(self.net(t), r) for t in TECHNOLOGIES},
                "lcoe": lcoe(gen_cost, gen_energy, r),
                "lcos": lcoe(self.cost("battery"), f["battery"]["energy"], r),
                "ib": self._ib(),
            },
            index=pd.Index(self.ids, name="member"),
        )

    def _ib(self, total: bool = False) -> np.ndarray | float:
        parts = {k: self.ib_parts["pv"][k] + self.ib_parts["wind"][k] for k in ("ci", "ic", "mc", "av_pg")}
        if total:
            return investment_boundary(*(float(np.sum(parts[k])) for k in ("ci", "ic", "mc", "av_pg")))
        return investment_boundary(parts["ci"], parts["ic"], parts["mc"], parts["av_pg"])

    def technology_table(self) -> pd.DataFrame:
        """The community's figures per technology and in total (index ``technology``).

        Columns: ``capacity`` and ``unit`` (kWp, kWh, kW, members), ``capex``, ``opex``
        (year 1), ``savings`` (year 1), currency; ``energy_kwh`` (year 1: generated,
        discharged, traded between members); ``npv`` (currency), ``payback`` and
        ``discounted_payback`` (years; NaN for a technology nobody installed); ``lcoe``
        (currency/kWh: of generation for PV and wind, of storage per kWh discharged for the
        battery, of the platform per kWh traded, and for the total all costs — platform and
        storage included — per kWh generated in the community; NaN when there is no such
        energy); ``ib`` (eq. 9, PV, wind and all generation).
        """
        r = self.rate
        rows = {}
        traded = float(np.sum(self.flows["platform"]["energy"][:, 1])) / 2.0 if self.years else 0.0
        for tech in (*TECHNOLOGIES, "total"):
            if tech == "total":
                cost = sum(self.cost(t).sum(axis=0) for t in TECHNOLOGIES)
                net = self.net().sum(axis=0)
                energy = sum(self.flows[t]["energy"].sum(axis=0) for t in ("pv", "wind"))
                inv = sum(self.flows[t]["investment"][:, 0].sum() for t in TECHNOLOGIES)
                om = sum(self.flows[t]["om"][:, 1].sum() for t in TECHNOLOGIES) if self.years else 0.0
                sav = sum(self.flows[t]["savings"][:, 1].sum() for t in TECHNOLOGIES) if self.years else 0.0
                cap, unit, e1 = np.nan, "", float(energy[1]) if self.years else 0.0  # generation
                ib = self._ib(total=True)
            else:
                f = self.flows[tech]
                cost = self.cost(tech).sum(axis=0)
                net = self.net(tech).sum(axis=0)
                energy = f["energy"].sum(axis=0)
                if tech == "platform":
                    energy = energy / 2.0  # each kWh traded is bought once and sold once
                inv = float(f["investment"][:, 0].sum())
                om = float(f["om"][:, 1].sum()) if self.years else 0.0
                sav = float(f["savings"][:, 1].sum()) if self.years else 0.0
                unit = {"pv": "kWp", "battery": "kWh", "wind": "kW", "platform": "members"}[tech]
                cap = float(np.sum(self.capacity[tech])) if tech != "platform" else float(len(self.ids))
                e1 = traded if tech == "platform" else (float(energy[1]) if self.years else 0.0)
                ib = self._ib_tech(tech)
            idle = not np.any(self.flows[tech]["investment"]) if tech != "total" else False
            pb, dpb = (np.nan, np.nan) if idle else (float(payback(net)), float(payback(net, r)))
            rows[tech] = {
                "capacity": cap, "unit": unit, "capex": float(inv), "opex": float(om), "savings": float(sav),
                "energy_kwh": e1, "npv": float(npv(net, r)), "payback": pb, "discounted_payback": dpb,
                "lcoe": float(lcoe(cost, energy, r)), "ib": ib,
            }  # fmt: skip
        return pd.DataFrame.from_dict(rows, orient="index").rename_axis("technology")

    def _ib_tech(self, tech: str) -> float:
        if tech not in ("pv", "wind"):
            return float("nan")
        p = self.ib_parts[tech]
        return float(investment_boundary(*(float(np.sum(p[k])) for k in ("ci", "ic", "mc", "av_pg"))))

    def cash_flow_table(self) -> pd.DataFrame:
        """The community's yearly cash flow (index ``year`` 0 … Y), currency.

        Columns: ``investment`` (incl. replacements), ``om``, ``salvage``, ``savings``,
        ``net`` (= savings + salvage − investment − om), ``discount_factor``,
        ``discounted``, ``cumulative``, ``cumulative_discounted``.
        """
        parts = {k: sum(self.flows[t][k].sum(axis=0) for t in TECHNOLOGIES)
                 for k in ("investment", "om", "salvage", "savings")}  # fmt: skip
        net = parts["savings"] + parts["salvage"] - parts["investment"] - parts["om"]
        d = discount_factors(self.rate, self.years)
        return pd.DataFrame(
            {**parts, "net": net, "discount_factor": d, "discounted": net * d, "cumulative": cumulative(net),
             "cumulative_discounted": cumulative(net, self.rate)},
            index=pd.RangeIndex(self.years + 1, name="year"),
        )  # fmt: skip

    def community(self) -> dict[str, float]:
        """The community's headline figures: ``npv``, ``payback``, ``discounted_payback``,
        ``capex``, ``opex``, ``savings`` (year 1) and ``members_positive_npv`` (share, 1)."""
        t = self.technology_table().loc["total"]
        members = self.member_table()
        return {
            "capex": float(t["capex"]), "opex": float(t["opex"]), "savings": float(t["savings"]),
            "npv": float(t["npv"]), "payback": float(t["payback"]),
            "discounted_payback": float(t["discounted_payback"]), "lcoe": float(t["lcoe"]), "ib": float(t["ib"]),
            "members_positive_npv": float(np.mean(members["npv"].to_numpy() > 0)) if len(members) else 0.0,
        }  # fmt: skip

    def to_dict(self, members: bool = True) -> dict[str, Any]:
        """JSON-ready summary (``inf``/NaN → None).

        Parameters
        ----------
        members : bool
            Include the per-member table (one object per member).

        Returns
        -------
        dict
            ``market``, ``currency``, ``window_days``, ``annual_factor``, ``assumptions``,
            ``community``, ``technologies``, ``communication`` (per year, and the window's
            peaks), ``cash_flow`` (per year), and ``members``.
        """
        tech = self.technology_table()
        out: dict[str, Any] = {
            "market": self.market,
            "currency": self.currency,
            "window_days": self.window_days,
            "annual_factor": self.annual_factor,
            "assumptions": self.assumptions.to_dict(),
            "community": _clean(self.community()),
            "technologies": {k: _clean(v) for k, v in tech.to_dict(orient="index").items()},
            "communication": _clean(self.traffic.summary(self.annual_factor)),
            "cash_flow": {k: [_num(x) for x in v] for k, v in self.cash_flow_table().to_dict(orient="list").items()},
        }
        if members:
            out["members"] = {str(k): _clean(v) for k, v in self.member_table().to_dict(orient="index").items()}
        return out


def _num(x: Any) -> Any:
    if isinstance(x, (float, np.floating)):
        return float(x) if np.isfinite(x) else None
    if isinstance(x, np.integer):
        return int(x)
    return x


def _clean(d: dict) -> dict:
    return {str(k): _num(v) for k, v in d.items()}


def appraise(result: Result, assumptions: CostAssumptions | None = None) -> Appraisal:
    """Cost–benefit analysis of the PV, batteries, wind and trading platform of a simulated community.

    See the module docstring for the cash flows. All money is in the community's currency
    (the assumptions are converted with :meth:`CostAssumptions.factor`).

    Parameters
    ----------
    result : peergrid.simulate.Result
        One market's simulation; its window (any length) is extrapolated to a year.
    assumptions : CostAssumptions, optional
        Costs, lifetimes, finance and the platform's traffic model; default the documented
        defaults (USD: a community billed in another currency needs ``exchange_rate``).

    Returns
    -------
    Appraisal

    Examples
    --------
    >>> import peergrid
    >>> from peergrid.data import synthetic_community
    >>> from peergrid.economics import CostAssumptions, appraise
    >>> com = synthetic_community(10, periods=48, freq="1h", seed=1)
    >>> a = appraise(peergrid.simulate(com, market="sdr"), CostAssumptions())
    >>> sorted(a.technology_table().index)
    ['battery', 'platform', 'pv', 'total', 'wind']
    """
    a = assumptions or CostAssumptions()
    com = result.community
    if com.T == 0 or com.N == 0:
        raise DataError("cannot appraise an empty community")
    fx = a.factor(com.currency)
    hours = com.T * com.dt
    annual = HOURS_PER_YEAR / hours
    Y = a.lifetime
    N = com.N
    parts = com.participants
    pv_kwp = parts["pv_kwp"].to_numpy(dtype=np.float64)
    wind_kw = parts["wind_kw"].to_numpy(dtype=np.float64) if "wind_kw" in parts else np.zeros(N)
    batt_kwh = np.zeros(N)
    sched = result.battery
    if sched.owners.size:
        batt_kwh[sched.owners] = sched.capacity
    discharge = np.zeros(N)
    if sched.owners.size:
        discharge[sched.owners] = sched.discharge.sum(axis=0)

    bills = member_bills(result)
    s_gen = (bills["grid"] - bills["generation"]).to_numpy() * annual
    s_batt = (bills["generation"] - bills["assets"]).to_numpy() * annual
    s_p2p = (bills["assets"] - bills["p2p"]).to_numpy() * annual
    share = pv_share(com)
    gen = com.generation.sum(axis=0) * annual
    member = result.participants
    traded = (member["bought_kwh"].to_numpy() + member["sold_kwh"].to_numpy()) * annual
    traffic = platform_traffic(result, a.platform)
    comm_year = float(np.sum(traffic.cost)) * annual

    y = np.arange(Y + 1)
    esc = np.zeros(Y + 1)
    esc[1:] = (1.0 + a.price_escalation) ** (y[1:] - 1)

    def yearly(first: np.ndarray, life: int, decline: float) -> np.ndarray:
        _, age, _ = _schedule(life, Y)
        f = np.where(y > 0, (1.0 - decline) ** age, 0.0)
        return first[:, None] * f

    flows: dict[str, dict[str, np.ndarray]] = {}
    ib_parts: dict[str, dict[str, np.ndarray]] = {}
    # PV: modules (pv_lifetime) + inverter (inverter_lifetime); savings and energy decline with the modules
    mod_inv, mod_salv = _component(pv_kwp * a.pv_cost_per_kwp * fx, pv_kwp * a.pv_cost_per_kwp * fx, a.pv_lifetime, Y)
    inv_c = pv_kwp * a.inverter_cost_per_kw * fx
    inv_inv, inv_salv = _component(inv_c, inv_c, a.inverter_lifetime, Y)
    pv_capex0 = pv_kwp * (a.pv_cost_per_kwp + a.inverter_cost_per_kw) * fx
    om = np.zeros((N, Y + 1))
    om[:, 1:] = (a.pv_om * pv_capex0)[:, None]
    flows["pv"] = {
        "investment": mod_inv + inv_inv, "om": om, "salvage": mod_salv + inv_salv,
        "savings": yearly(s_gen * share, a.pv_lifetime, a.pv_degradation) * esc,
        "energy": yearly(gen * share, a.pv_lifetime, a.pv_degradation),
    }  # fmt: skip
    ib_parts["pv"] = {
        "ci": (mod_inv - mod_salv).sum(axis=1), "ic": (inv_inv - inv_salv).sum(axis=1), "mc": om.sum(axis=1),
        "av_pg": flows["pv"]["energy"].sum(axis=1),
    }  # fmt: skip
    # battery
    b_inv, b_salv = _component(batt_kwh * a.battery_cost_per_kwh * fx,
                               batt_kwh * a.battery_replacement_cost_per_kwh * fx, a.battery_lifetime, Y)  # fmt: skip
    om = np.zeros((N, Y + 1))
    om[:, 1:] = (a.battery_om * batt_kwh * a.battery_cost_per_kwh * fx)[:, None]
    flows["battery"] = {
        "investment": b_inv, "om": om, "salvage": b_salv,
        "savings": yearly(s_batt, a.battery_lifetime, a.battery_degradation) * esc,
        "energy": yearly(discharge * annual, a.battery_lifetime, a.battery_degradation),
    }  # fmt: skip
    # wind
    w_c = wind_kw * a.wind_cost_per_kw * fx
    w_inv, w_salv = _component(w_c, w_c, a.wind_lifetime, Y)
    om = np.zeros((N, Y + 1))
    om[:, 1:] = (a.wind_om * w_c)[:, None]
    flows["wind"] = {
        "investment": w_inv, "om": om, "salvage": w_salv,
        "savings": yearly(s_gen * (1.0 - share), a.wind_lifetime, a.wind_degradation) * esc,
        "energy": yearly(gen * (1.0 - share), a.wind_lifetime, a.wind_degradation),
    }  # fmt: skip
    ib_parts["wind"] = {
        "ci": (w_inv - w_salv).sum(axis=1), "ic": np.zeros(N), "mc": om.sum(axis=1),
        "av_pg": flows["wind"]["energy"].sum(axis=1),
    }  # fmt: skip
    # platform, shared equally (none in the no-P2P baseline: nothing is traded)
    trading = result.market != "baseline"
    if not trading:
        comm_year = 0.0
        traffic = replace(traffic, cost=np.zeros_like(traffic.cost))
    p_c = np.full(N, (a.platform_fixed / N + a.platform_per_member) * fx * trading)
    p_inv, p_salv = _component(p_c, p_c, a.platform_lifetime, Y)
    om = np.zeros((N, Y + 1))
    om[:, 1:] = (a.platform_opex_per_member * fx + comm_year / N) * trading
    flows["platform"] = {
        "investment": p_inv, "om": om, "salvage": p_salv,
        "savings": yearly(s_p2p, Y, 0.0) * esc,
        "energy": yearly(traded, Y, 0.0),
    }  # fmt: skip

    return Appraisal(
        flows=flows, ids=np.asarray(com.ids), bills=bills, traffic=traffic, assumptions=a, currency=com.currency,
        market=result.market, window_days=hours / 24.0, annual_factor=annual,
        capacity={"pv": pv_kwp, "battery": batt_kwh, "wind": wind_kw}, ib_parts=ib_parts,
    )  # fmt: skip
