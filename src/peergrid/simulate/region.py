"""A region of many communities, locally or sharded by community over a Dask cluster.

A *region* is a scenario with a ``[region]`` table (:class:`~peergrid.simulate.scenario.RegionConfig`):
``communities`` synthetic communities of ``homes`` members each, every one with its own
battery control and market(s), optionally with an *inter-community market* on top that clears
the communities' residual grid import and export slot by slot. docs/region.md describes the
design, the TOML table and how to run a million homes on a cluster.

How a region is computed (the same steps on every backend):

1. **Communities** (one task each): community ``i`` is the scenario's synthetic community
   built from a seed spawned from ``[community].seed`` and ``i``
   (``numpy.random.SeedSequence(seed, spawn_key=(i,))``, the ``i``-th child of
   ``SeedSequence(seed).spawn``), with its PV and battery shares drawn from the region's
   ranges, and simulated with :func:`peergrid.compare` — the engine every other command
   uses; no market or controller is re-implemented here. Runs the streaming path supports
   (pool markets, greedy or no control, perfect forecasts, no grid or price response) keep
   only sums (``series="none"``; equal to the full path to rounding, ≈ 1e-15 relative). The task reduces the
   :class:`~peergrid.simulate.Result` to its metrics (scalars) and, per market, the
   community's residual grid import and export ``(T,)`` (kWh per slot), then drops the
   ``(T, N)`` arrays. On Dask the reduction stays on the worker that made it.
2. **Region sums**: the residuals are added over communities in a fixed binary tree (pairs of
   neighbours by community index, level by level), so the float sums do not depend on the
   backend, the number of workers or the order tasks finish in.
3. **Inter-community market**: per market, the region's residual demand D_t = Σ_c import_ct and
   supply G_t = Σ_c export_ct are cleared with a pool rule of :mod:`peergrid.market.sharing`
   (``"bs"``, ``"mmr"``, ``"sdr"``) at the grid tariff λb / λs shared by the communities
   (``"none"`` is the no-P2P rule: every community trades with the grid alone; so is the
   ``"baseline"`` market's row, the no-P2P reference of the whole region). Every
   community buys ``import_ct · peer_share_buy_t`` and sells ``export_ct · peer_share_sell_t``
   from/to other communities and pays ``price_buy_t · import_ct − price_sell_t · export_ct``
   instead of its grid bill ``λb_t · import_ct − λs_t · export_ct``. Pool rules conserve
   energy (Σ bought = Σ sold) and money (Σ community bills = the region's grid bill).
4. **Settlement** (one task per community): each community's inter-community energy and bill,
   from its residuals and the per-slot shares and prices (broadcast once).

Only reductions travel to the client: per community a few dozen scalars per market; per
tree node one ``(markets, T)`` pair of sums; never a member's series.

Results are identical (bit for bit, every float) on ``backend="local"`` and ``backend="dask"``
for the same scenario and seed: community tasks run with single-threaded BLAS everywhere (a
threaded dot product would split its sum by the machine's core count), sums follow a fixed tree.
Across machines this holds for the same software versions and CPU family (OpenBLAS and numba
choose their kernels by CPU).
"""

from __future__ import annotations

import hashlib
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from peergrid.core.errors import ConfigError, DataError
from peergrid.metrics import cost_reduction, self_consumption, self_sufficiency
from peergrid.simulate.scenario import INTER_MARKETS, Scenario

__all__ = [
    "BACKENDS",
    "REGION_SUMS",
    "RegionResult",
    "RegionSpec",
    "community_scenario",
    "community_seed",
    "inter_clearing",
    "settle_inter",
    "simulate_region",
    "tree_sum",
]

#: Where the communities of a region are simulated.
BACKENDS = ("local", "dask")

#: Community metrics summed over the region (extensive quantities, kWh or currency).
REGION_SUMS = (
    "load_kwh",
    "generation_kwh",
    "grid_import_kwh",
    "grid_export_kwh",
    "traded_kwh",
    "community_cost",
    "baseline_cost",
    "purchase_cost",
    "seller_revenue",
    "operator_fees",
    "total_bill",
    "emissions_kg",
)


@dataclass(frozen=True)
class RegionSpec:
    """What to simulate: a scenario with a ``[region]`` table and the markets to run.

    Attributes
    ----------
    scenario : Scenario
        Validated scenario whose ``region`` is set (source ``"synthetic"``).
    markets : tuple of str
        Markets every community runs (canonical names; default: the scenario's, baseline first).
    base_dir : str
        Directory relative files of the scenario resolve against (make it absolute for a remote
        cluster: workers resolve it in their own working directory).
    origin : str
        The scenario file, prefixed to data errors (default ``"scenario"``).
    """

    scenario: Scenario
    markets: tuple[str, ...] = ()
    base_dir: str = "."
    origin: str = ""

    def __post_init__(self) -> None:
        if self.scenario.region is None:
            raise ConfigError("the scenario has no [region] table (docs/region.md)")
        if not self.markets:
            names = [self.scenario.simulation.market] if self.scenario.simulation.market else self.scenario.markets
            object.__setattr__(self, "markets", tuple(dict.fromkeys(["baseline", *names])))
        from peergrid.market import check_market

        object.__setattr__(self, "markets", tuple(check_market(m) for m in self.markets))

    @property
    def communities(self) -> int:
        """Number of communities C."""
        return self.scenario.region.communities  # type: ignore[union-attr]

    @property
    def homes(self) -> int:
        """Members per community."""
        r = self.scenario.region
        return int(r.homes if r.homes is not None else self.scenario.community.households)  # type: ignore[union-attr]

    @property
    def inter_market(self) -> str:
        """The inter-community pool rule (``"none"``, ``"bs"``, ``"mmr"``, ``"sdr"``)."""
        return self.scenario.region.inter_market  # type: ignore[union-attr]


# ---- community seeds and scenarios ------------------------------------------------------------


def community_seed(root: int, index: int) -> np.random.SeedSequence:
    """The seed sequence of community ``index``: the ``index``-th child of ``SeedSequence(root).spawn``.

    Parameters
    ----------
    root : int
        The region's root seed (``[community].seed``, or ``--seed``).
    index : int
        Community index, 0 ≤ index < communities.

    Returns
    -------
    numpy.random.SeedSequence
        Computed directly (``spawn_key=(index,)``): a worker needs no other community's seed.
    """
    return np.random.SeedSequence(int(root), spawn_key=(int(index),))


def community_scenario(scenario: Scenario, index: int) -> tuple[Scenario, dict[str, float | int]]:
    """The one-community scenario of community ``index`` of a region.

    Its synthetic members are drawn with a 63-bit seed from :func:`community_seed`; with
    ``[region] pv_share`` / ``battery_share`` ranges its shares are uniform draws in them
    (from the same seed sequence); order-book markets get their own bidding seed from it
    (``[market].seed`` is replaced).

    Parameters
    ----------
    scenario : Scenario
        The region scenario.
    index : int
        Community index.

    Returns
    -------
    (Scenario, dict)
        The scenario without ``[region]``, and ``{"seed", "homes", "pv_share", "battery_share"}``.
    """
    region = scenario.region
    if region is None:
        raise ConfigError("the scenario has no [region] table")
    words = community_seed(scenario.community.seed, index).generate_state(4, dtype=np.uint64)
    seed = int(words[0] >> np.uint64(1))
    c = scenario.community
    homes = int(region.homes if region.homes is not None else c.households)  # type: ignore[arg-type]
    update: dict[str, Any] = {"households": homes, "seed": seed}
    pv = c.pv_share if c.pv_share is not None else (None if c.prosumers is not None else 0.5)
    if region.pv_share is not None:
        lo, hi = region.pv_share
        pv = lo + (hi - lo) * float(np.random.default_rng(int(words[1])).random())
        update["pv_share"] = pv
    battery = c.battery_share if c.batteries else 0.0
    if region.battery_share is not None:
        lo, hi = region.battery_share
        battery = lo + (hi - lo) * float(np.random.default_rng(int(words[2])).random())
        update["battery_share"] = battery
    upd: dict[str, Any] = {
        "community": c.model_copy(update=update),
        "region": None,
        # order-book bidding (random prices, agents, arrival order) of this community; pool rules ignore it
        "market": scenario.market.model_copy(update={"seed": int(words[3] >> np.uint64(1))}),
    }
    info = {
        "seed": seed,
        "homes": homes,
        "pv_share": math.nan if pv is None else float(pv),
        "battery_share": float(battery),
    }
    return scenario.model_copy(update=upd), info


def _compare_options(sc: Scenario, base_dir: str) -> dict[str, Any]:
    """Keyword arguments of :func:`peergrid.compare` for a scenario (as ``peergrid simulate`` passes them)."""
    return {
        "control": sc.simulation.control,
        **sc.market.options(),
        **{k: getattr(sc.simulation, k) for k in ("coordination", "max_iterations", "tolerance")},
        **sc.forecast_options(),
        **sc.grid_options(base_dir),
        **sc.objective_options(),
    }


# ---- step 1: one community (runs on a worker) ----------------------------------------------------


@dataclass
class _Outcome:
    """A simulated community reduced to scalars and per-slot residuals (kept where it was made)."""

    row: dict[str, Any]  # community facts and {market: metrics}
    residuals: np.ndarray  # (2, M, T): residual grid import, export per market, kWh
    tariff: dict[str, Any] | None = field(default=None, repr=False)  # community 0 only: prices and time


def _one_thread(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Run ``fn`` with single-threaded BLAS: a multi-threaded dot product splits its sum by thread
    count, so results would depend on the machine's cores (Dask's nannies already set one thread)."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:  # pragma: no cover - a core dependency
            return fn(*args, **kwargs)
        with threadpool_limits(limits=1, user_api="blas"):
            return fn(*args, **kwargs)

    return wrapper


@_one_thread
def _run_community(index: int, spec: RegionSpec) -> _Outcome:
    from peergrid.core.errors import PeergridError
    from peergrid.simulate import compare

    sc, info = community_scenario(spec.scenario, index)
    try:
        com = sc.build_community(spec.base_dir)
    except PeergridError as exc:
        raise type(exc)(f"{spec.origin or 'scenario'}: community {index}: {exc}") from None
    options = _compare_options(sc, spec.base_dir)
    comparison = compare(com, markets=spec.markets, series=_series(spec, options), **options)
    retail = np.ascontiguousarray(com.retail, dtype=np.float64)
    feed_in = np.ascontiguousarray(com.feed_in, dtype=np.float64)
    T, M = com.T, len(spec.markets)
    residuals = np.empty((2, M, T))
    metrics: dict[str, dict[str, float]] = {}
    for j, name in enumerate(spec.markets):
        res = comparison[name]
        residuals[0, j] = res.clearing.grid_import
        residuals[1, j] = res.clearing.grid_export
        m = {k: float(v) for k, v in res.metrics.items() if isinstance(v, (int, float, np.floating, np.integer))}
        m["grid_bill"] = float(retail @ residuals[0, j] - feed_in @ residuals[1, j])
        metrics[name] = m
    digest = hashlib.sha256(retail.tobytes() + feed_in.tobytes() + str((com.index[0], com.dt, T)).encode())
    row = {"community": int(index), **info, "tariff_digest": digest.hexdigest(), "markets": metrics}
    tariff = None
    if index == 0:
        tariff = {
            "retail": retail,
            "feed_in": feed_in,
            "index": com.index,
            "dt": float(com.dt),
            "currency": com.currency,
            "control": comparison[spec.markets[0]].control,
        }
    return _Outcome(row, residuals, tariff)


def _series(spec: RegionSpec, options: dict[str, Any]) -> str:
    """``"none"`` (stream, keep only sums: :mod:`peergrid.simulate.stream`) when the run allows it, else ``"full"``."""
    from peergrid.simulate.stream import stream_obstacle

    obstacle = stream_obstacle(
        spec.markets, options["control"], faults=False, coordinated=options["coordination"] != "none",
        forecaster=str(options.get("forecaster", "perfect")), grid=options.get("grid"),
    )  # fmt: skip
    return "none" if obstacle is None else "full"


def _row(outcome: _Outcome) -> dict[str, Any]:
    return outcome.row


def _residuals(outcome: _Outcome) -> np.ndarray:
    return outcome.residuals


def _tariff(outcome: _Outcome) -> dict[str, Any]:
    return outcome.tariff  # type: ignore[return-value]


def _add(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return a + b


# ---- step 2: region sums ------------------------------------------------------------------------


def tree_sum(items: Sequence[Any], add: Callable[[Any, Any], Any]) -> Any:
    """Sum ``items`` in a fixed binary tree: neighbours by index, level by level.

    ``[a, b, c, d, e]`` is summed as ``((a + b) + (c + d)) + e``; the order depends only on
    the number of items, so float sums are the same on every backend.

    Parameters
    ----------
    items : sequence
        Values (or futures) to add, at least one.
    add : callable
        ``add(x, y)`` returning their sum (or a future of it).

    Returns
    -------
    object
        The sum (or its future).
    """
    level = list(items)
    if not level:
        raise DataError("tree_sum of nothing")
    while len(level) > 1:
        nxt = [add(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


# ---- step 3: the inter-community market ---------------------------------------------------------


def inter_clearing(
    demand: np.ndarray, supply: np.ndarray, retail: np.ndarray, feed_in: np.ndarray, rule: str = "sdr"
) -> Any:
    """Clear the region's residual demand and supply per slot with a pool rule.

    Parameters
    ----------
    demand, supply : numpy.ndarray
        ``(T,)`` Σ over communities of residual grid import / export, kWh.
    retail, feed_in : numpy.ndarray
        ``(T,)`` grid prices λb, λs, currency/kWh.
    rule : {"none", "bs", "mmr", "sdr"}
        ``"none"``: the no-P2P rule (nothing traded between communities).

    Returns
    -------
    peergrid.market.Clearing
        Per-slot prices and peer shares between communities.
    """
    from peergrid.market.mechanisms import MECHANISMS

    name = "baseline" if rule == "none" else rule
    if name not in MECHANISMS:
        raise ConfigError(f"inter_market {rule!r}: choose from {', '.join(INTER_MARKETS)}")
    return MECHANISMS[name](demand, supply, retail, feed_in)


def settle_inter(imports: np.ndarray, exports: np.ndarray, shares: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """One community's (or several communities') inter-community trades and bill.

    Parameters
    ----------
    imports, exports : numpy.ndarray
        ``(..., T)`` residual grid import / export, kWh.
    shares : dict
        ``peer_share_buy``, ``peer_share_sell``, ``price_buy``, ``price_sell``: ``(T,)`` from
        :func:`inter_clearing`.

    Returns
    -------
    dict
        ``inter_bought_kwh``, ``inter_sold_kwh`` (energy from / to other communities, kWh) and
        ``inter_bill`` (currency: price_buy · import − price_sell · export), each ``(...)``.
    """
    return {
        "inter_bought_kwh": imports @ shares["peer_share_buy"],
        "inter_sold_kwh": exports @ shares["peer_share_sell"],
        "inter_bill": imports @ shares["price_buy"] - exports @ shares["price_sell"],
    }


@_one_thread
def _settle(outcome: _Outcome, shares: list[dict[str, np.ndarray]]) -> list[dict[str, float]]:
    out = []
    for j, s in enumerate(shares):
        r = settle_inter(outcome.residuals[0, j], outcome.residuals[1, j], s)
        out.append({k: float(v) for k, v in r.items()})
    return out


# ---- result -------------------------------------------------------------------------------------


@dataclass
class RegionResult:
    """Outcome of a region run.

    Attributes
    ----------
    spec : RegionSpec
    communities : pandas.DataFrame
        One row per (community, market): ``community``, ``seed``, ``homes``, ``pv_share``,
        ``battery_share``, ``market``, every metric of :attr:`peergrid.simulate.Result.metrics`,
        ``grid_bill`` (λb · residual import − λs · residual export, currency), ``inter_bought_kwh``,
        ``inter_sold_kwh``, ``inter_bill`` and ``region_cost`` (the community cost with the
        inter-community bill in place of the grid bill).
    totals : pandas.DataFrame
        One row per market: the region metrics (see :meth:`summary` and docs/region.md).
    steps : pandas.DataFrame
        One row per (slot, market): ``time``, ``market``, residual ``demand_kwh`` and
        ``supply_kwh``, ``inter_traded_kwh``, the region's ``grid_import_kwh`` /
        ``grid_export_kwh`` after the inter-community market, its ``price_buy`` / ``price_sell``
        and ``retail`` / ``feed_in``.
    backend : str
    workers : int or None
        Dask workers: of the local cluster, or those connected to ``scheduler`` when the run
        started (None: local backend).
    seconds : float
        Wall time (the only field that differs between backends).
    currency : str
    control : str
    """

    spec: RegionSpec
    communities: pd.DataFrame
    totals: pd.DataFrame
    steps: pd.DataFrame
    backend: str
    workers: int | None
    seconds: float
    currency: str
    control: str

    def summary(self) -> dict[str, Any]:
        """JSON-ready region metrics: ``{"scenario", "region": {...}, "control", "markets": {market: {...}}}``.

        NaN becomes None; ``region`` holds ``communities``, ``homes_per_community``, ``homes``,
        ``inter_market``, ``backend``, ``workers`` and ``seconds``.
        """
        markets = {}
        for rec in self.totals.to_dict(orient="records"):
            name = rec.pop("market")
            markets[name] = {k: _json_number(v) for k, v in rec.items()}
        return {
            "scenario": self.spec.scenario.name,
            "region": {
                "communities": self.spec.communities,
                "homes_per_community": self.spec.homes,
                "homes": self.spec.communities * self.spec.homes,
                "inter_market": self.spec.inter_market,
                "backend": self.backend,
                "workers": self.workers,
                "seconds": round(self.seconds, 3),
            },
            "control": self.control,
            "currency": self.currency,
            "markets": markets,
        }

    def write(self, directory: str | Path) -> list[Path]:
        """Write the tidy tables (``communities.parquet``, ``region.parquet``, ``steps.parquet``).

        Parameters
        ----------
        directory : str or pathlib.Path
            An existing directory (the CLI passes :func:`peergrid.core.output.output_dir`'s).

        Returns
        -------
        list of pathlib.Path
        """
        d = Path(directory)
        paths = []
        for name, frame in (("communities", self.communities), ("region", self.totals), ("steps", self.steps)):
            path = d / f"{name}.parquet"
            frame.to_parquet(path, index=False)
            paths.append(path)
        return paths


def _json_number(v: Any) -> Any:
    if isinstance(v, (float, np.floating)):
        return None if not math.isfinite(float(v)) else float(v)
    if isinstance(v, np.integer):
        return int(v)
    return v


def _totals(
    spec: RegionSpec, frame: pd.DataFrame, sums: np.ndarray, shares: list[dict[str, np.ndarray]], dt: float
) -> pd.DataFrame:
    """The region metrics per market (from community rows in index order and the residual sums)."""
    records = []
    for j, name in enumerate(spec.markets):
        g = frame[frame["market"] == name]
        tot = {k: float(g[k].to_numpy(np.float64).sum()) if k in g else math.nan for k in REGION_SUMS}
        demand, supply = sums[0, j], sums[1, j]
        s = shares[j]
        grid_import = demand * (1.0 - s["peer_share_buy"])
        grid_export = supply * (1.0 - s["peer_share_sell"])
        load, gen = tot["load_kwh"], tot["generation_kwh"]
        region_cost = float(g["region_cost"].to_numpy(np.float64).sum())
        base = tot["baseline_cost"]
        rec: dict[str, Any] = {
            "market": name,
            "communities": len(g),
            "homes": int(g["homes"].sum()),
            **tot,
            "self_sufficiency": self_sufficiency(load, tot["grid_import_kwh"]),
            "self_consumption": self_consumption(gen, tot["grid_export_kwh"]),
            "community_cost_reduction": cost_reduction(tot["community_cost"], base),
            "peak_import_kw": float(demand.max() / dt) if demand.size else math.nan,
            "inter_market": "none" if name == "baseline" else spec.inter_market,
            "inter_traded_kwh": float((demand * s["peer_share_buy"]).sum()),
            "region_grid_import_kwh": float(grid_import.sum()),
            "region_grid_export_kwh": float(grid_export.sum()),
            "region_self_sufficiency": self_sufficiency(load, float(grid_import.sum())),
            "region_self_consumption": self_consumption(gen, float(grid_export.sum())),
            "region_cost": region_cost,
            "region_cost_reduction": cost_reduction(region_cost, base),
            "region_peak_import_kw": float(grid_import.max() / dt) if grid_import.size else math.nan,
        }
        records.append(rec)
    return pd.DataFrame(records)


# ---- the runners --------------------------------------------------------------------------------


class _LocalRunner:
    """Runs every step in this process, one community after another."""

    def communities(self, spec: RegionSpec, progress: Callable[[int], None] | None) -> list[_Outcome]:
        out = []
        for i in range(spec.communities):
            out.append(_run_community(i, spec))
            if progress is not None:
                progress(i + 1)
        return out

    def map(self, fn: Callable[..., Any], items: Sequence[Any], *args: Any) -> list[Any]:
        return [fn(x, *args) for x in items]

    def submit(self, fn: Callable[..., Any], *args: Any) -> Any:
        return fn(*args)

    def gather(self, items: Any) -> Any:
        return items

    def broadcast(self, value: Any) -> Any:
        return value


class _DaskRunner:
    """Runs the same steps as tasks on a Dask cluster; the outcomes stay on the workers."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def communities(self, spec: RegionSpec, progress: Callable[[int], None] | None) -> list[Any]:
        from distributed import as_completed

        spec_f = self.client.scatter(spec, broadcast=True)
        futures = self.client.map(_run_community, range(spec.communities), spec=spec_f, pure=False)
        for done, fut in enumerate(as_completed(futures), 1):
            if fut.status == "error":
                fut.result()  # re-raises the community's error here
            if progress is not None:
                progress(done)
        return futures

    def map(self, fn: Callable[..., Any], items: Sequence[Any], *args: Any) -> list[Any]:
        return self.client.map(fn, items, *[[a] * len(items) for a in args], pure=False)

    def submit(self, fn: Callable[..., Any], *args: Any) -> Any:
        return self.client.submit(fn, *args, pure=False)

    def gather(self, items: Any) -> Any:
        return self.client.gather(items)

    def broadcast(self, value: Any) -> Any:
        return self.client.scatter(value, broadcast=True)


def _execute(spec: RegionSpec, runner: Any, progress: Callable[[int], None] | None,
             on_stage: Callable[[str], None] | None) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict]:
    outcomes = runner.communities(spec, progress)
    if on_stage is not None:
        on_stage("region sums and the inter-community market")
    rows = runner.gather(runner.map(_row, outcomes))
    tariff = runner.gather(runner.submit(_tariff, outcomes[0]))
    digests = {r["tariff_digest"] for r in rows}
    if len(digests) != 1:
        bad = next(r["community"] for r in rows if r["tariff_digest"] != rows[0]["tariff_digest"])
        raise DataError(
            f"community {bad} has other grid prices or time steps than community 0; a region needs one tariff"
        )
    sums = runner.gather(tree_sum(runner.map(_residuals, outcomes), lambda a, b: runner.submit(_add, a, b)))
    retail, feed_in = tariff["retail"], tariff["feed_in"]
    clearings = [
        inter_clearing(sums[0, j], sums[1, j], retail, feed_in, "none" if name == "baseline" else spec.inter_market)
        for j, name in enumerate(spec.markets)
    ]  # the baseline is no P2P anywhere: no inter-community trades either
    shares = [
        {k: np.ascontiguousarray(getattr(c, k)) for k in ("peer_share_buy", "peer_share_sell", "price_buy",
                                                          "price_sell")}
        for c in clearings
    ]  # fmt: skip
    settled = runner.gather(runner.map(_settle, outcomes, runner.broadcast(shares)))
    del outcomes
    records = []
    for row, inter in zip(rows, settled, strict=True):
        facts = {k: row[k] for k in ("community", "seed", "homes", "pv_share", "battery_share")}
        for j, name in enumerate(spec.markets):
            m = row["markets"][name]
            rec = {**facts, "market": name, **m, **inter[j]}
            rec["region_cost"] = m["community_cost"] - m["grid_bill"] + inter[j]["inter_bill"]
            records.append(rec)
    frame = pd.DataFrame(records)
    totals = _totals(spec, frame, sums, shares, tariff["dt"])
    steps = []
    for j, name in enumerate(spec.markets):
        c = clearings[j]
        steps.append(pd.DataFrame({
            "time": tariff["index"],
            "market": name,
            "demand_kwh": sums[0, j],
            "supply_kwh": sums[1, j],
            "inter_traded_kwh": c.traded,
            "grid_import_kwh": c.grid_import,
            "grid_export_kwh": c.grid_export,
            "price_buy": c.price_buy,
            "price_sell": c.price_sell,
            "retail": retail,
            "feed_in": feed_in,
        }))  # fmt: skip
    return frame, totals, pd.concat(steps, ignore_index=True), tariff


def simulate_region(
    spec: RegionSpec | Scenario,
    backend: Literal["local", "dask"] = "local",
    scheduler: str | None = None,
    workers: int | None = None,
    progress: Callable[[int], None] | None = None,
    *,
    on_stage: Callable[[str], None] | None = None,
    processes: bool = True,
    memory_limit: str | int | None = None,
    timeout: str = "20s",
) -> RegionResult:
    """Simulate a region of communities locally or sharded by community over Dask workers.

    Parameters
    ----------
    spec : RegionSpec or Scenario
        The region (a scenario with ``[region]`` runs its own markets).
    backend : {"local", "dask"}
        ``"local"``: one community after another in this process. ``"dask"``: one task per
        community on the scheduler at ``scheduler`` or on a ``LocalCluster`` of ``workers``
        single-threaded worker processes.
    scheduler : str, optional
        Dask scheduler address (``tcp://host:8786``); ``backend="dask"`` only.
    workers : int, optional
        Workers of the local Dask cluster (default 2); not with ``scheduler``.
    progress : callable, optional
        Called with the number of communities simulated so far.
    on_stage : callable, optional
        Called with the name of the step after the communities (for progress displays).
    processes : bool
        Local Dask cluster of processes (True) or threads (False, for quick tests).
    memory_limit : str or int, optional
        Memory per local Dask worker (e.g. ``"4GiB"``).
    timeout : str
        How long to try reaching ``scheduler``.

    Returns
    -------
    RegionResult
        Identical tables on every backend for the same scenario and seed (only
        ``seconds``, ``backend`` and ``workers`` differ).

    Raises
    ------
    ConfigError
        Unknown backend, options that do not apply, a bad or unreachable scheduler.

    Examples
    --------
    >>> from peergrid.simulate.scenario import scenario_from_dict
    >>> from peergrid.simulate.region import simulate_region
    >>> sc = scenario_from_dict({
    ...     "time": {"start": "2022-08-01", "days": 1},
    ...     "community": {"source": "synthetic", "households": 5, "seed": 1},
    ...     "simulation": {"markets": ["sdr"]},
    ...     "region": {"communities": 3, "pv_share": [0.0, 1.0], "inter_market": "sdr"},
    ... })
    >>> res = simulate_region(sc)
    >>> list(res.totals["market"]), len(res.communities)
    (['baseline', 'sdr'], 6)
    >>> bool(res.totals["region_cost"].iloc[1] <= res.totals["community_cost"].iloc[1] + 1e-9)
    True
    """
    if isinstance(spec, Scenario):
        spec = RegionSpec(spec)
    if backend not in BACKENDS:
        raise ConfigError(f"unknown backend {backend!r}; choose from {', '.join(BACKENDS)}")
    if backend == "local" and (scheduler is not None or workers is not None):
        raise ConfigError("--scheduler and --workers apply to --backend dask")
    if scheduler is not None and workers is not None:
        raise ConfigError("--workers sets the size of a local Dask cluster; an external --scheduler has its own")
    if workers is not None:
        cap = 4 * (os.cpu_count() or 1)
        if not 1 <= workers <= cap:
            raise ConfigError(
                f"--workers {workers}: a local cluster takes 1 to {cap} worker processes (4 per core of this "
                "machine); for more, start a Dask cluster and give its --scheduler"
            )
    t0 = time.perf_counter()
    if backend == "local":
        frame, totals, steps, tariff = _execute(spec, _LocalRunner(), progress, on_stage)
        n_workers = None
    else:
        from peergrid.core.cluster import dask_client

        n_workers = None if scheduler is not None else (workers or 2)
        with dask_client(scheduler, n_workers or 2, processes=processes, timeout=timeout,
                         memory_limit=memory_limit) as client:  # fmt: skip
            if scheduler is not None:
                n_workers = len(client.scheduler_info().get("workers", {})) or None
            frame, totals, steps, tariff = _execute(spec, _DaskRunner(client), progress, on_stage)
    return RegionResult(
        spec, frame, totals, steps, backend, n_workers, time.perf_counter() - t0, tariff["currency"],
        tariff["control"],
    )  # fmt: skip
