"""Time-stepping engine: community × control × market → :class:`~peergrid.simulate.result.Result`.

The engine is vectorised over time and participants: control runs once (the greedy
rule compiled with numba), each market clears the whole horizon in one call, and
per-participant totals are reduced in time blocks so that a year of 1,000 households
at 15-min resolution stays well inside 2 GiB. With ``series="none"`` (or a lazy
community) the pool markets take the streaming path of :mod:`peergrid.simulate.stream`:
build, control, clearing and reductions in one pass over time blocks, no ``(T, N)``
array at all (10,000 and 100,000 households, docs/scale.md).

Markets are the pool rules (baseline, BS, MMR, SDR: one price pair per slot) and
the order-book mechanisms (uniform, pay-as-bid, McAfee, bilateral), which clear
orders built from the net positions with a bidding strategy
(:mod:`peergrid.market.bidding`) and keep each participant's own outcome.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING

import numpy as np

from peergrid.control import BatterySchedule, Controller, get_controller
from peergrid.core.community import Community
from peergrid.core.errors import ConfigError, DataError
from peergrid.market.bidding import check_order_options, clear_net
from peergrid.market.mechanisms import MECHANISMS, check_market, is_order_market
from peergrid.market.sharing import Clearing, demand_supply, no_p2p
from peergrid.simulate.result import Comparison, Result

if TYPE_CHECKING:
    from peergrid.simulate.faults import Fault, FaultOutcome
    from peergrid.simulate.forecasting import ForecastOutcome
    from peergrid.simulate.network import GridOptions


def clear_market(
    community: Community,
    market: str,
    net: np.ndarray,
    options: Mapping[str, object],
    battery: BatterySchedule,
    totals: tuple[np.ndarray, np.ndarray] | None = None,
) -> Clearing:
    """Clear one market of the simulator on net positions, at the community's grid prices.

    Parameters
    ----------
    community : Community
        Its ``retail`` / ``feed_in`` (λb, λs, currency/kWh) and step length.
    market : str
        Canonical market name: a pool rule or an order-book mechanism.
    net : numpy.ndarray
        ``(T, N)`` net positions, kWh (+ import); pool rules read only ``totals`` when given.
    options : mapping
        Order-book options as checked by :func:`peergrid.market.check_order_options`.
    battery : BatterySchedule
        The battery plan behind ``net``: the bidding agents' reservation prices follow its
        state of charge, and they learn in rounds of one day.
    totals : tuple of numpy.ndarray, optional
        The community's buying and selling energy D, G per slot, kWh, if already computed.

    Returns
    -------
    Clearing
    """
    if is_order_market(market):
        return clear_net(
            net, community.retail, community.feed_in, market, **options, batteries=battery,
            round_slots=max(1, round(24.0 / community.dt)),
        )  # fmt: skip
    demand, supply = demand_supply(net) if totals is None else totals
    return MECHANISMS[market](demand, supply, community.retail, community.feed_in)


def _run_control(
    community: Community, control: str | Controller, progress: Callable[[int], None] | None
) -> tuple[str, BatterySchedule]:
    controller = get_controller(control)
    schedule = controller(community, progress=progress)
    _check_schedule(community, schedule)
    name = control if isinstance(control, str) else getattr(control, "__name__", "custom")
    return str(name).lower(), schedule


def _check_schedule(community: Community, schedule: BatterySchedule) -> None:
    """Raise DataError when a controller's schedule does not fit the community."""
    expected = (community.T, schedule.owners.size)
    if schedule.charge.shape != expected:
        raise DataError(f"controller returned charge of shape {schedule.charge.shape}, expected {expected}")
    if schedule.load_delta is not None and np.shape(schedule.load_delta) != (community.T, community.N):
        raise DataError(
            f"controller returned load_delta of shape {np.shape(schedule.load_delta)}, "
            f"expected {(community.T, community.N)}"
        )


def simulate(
    community: Community,
    market: str = "sdr",
    control: str | Controller = "greedy",
    *,
    progress: Callable[[int], None] | None = None,
    faults: Iterable[Fault] | None = None,
    bidding: str = "truthful",
    k: float = 0.5,
    seed: int = 0,
    fee: float = 0.0,
    learning_rate: float = 0.3,
    momentum: float = 0.05,
    coordination: str = "none",
    max_iterations: int = 10,
    tolerance: float = 1e-4,
    forecaster: str = "perfect",
    forecast_options: Mapping[str, object] | None = None,
    grid: GridOptions | Mapping[str, object] | None = None,
    objective: str = "cost",
    co2_price: float = 0.0,
    series: str = "full",
    dtype: str = "float64",
    block: int | None = None,
) -> Result:
    """Simulate a community with one controller and one market.

    Parameters
    ----------
    community : Community
        Load, generation, tariffs and participants.
    market : str
        A pool rule — ``"baseline"``, ``"bs"``, ``"mmr"``, ``"sdr"`` — or an order-book
        mechanism — ``"uniform"``, ``"pay-as-bid"``, ``"mcafee"``, ``"bilateral"`` (see
        :mod:`peergrid.market` and :mod:`peergrid.market.bidding`).
    control : str or callable
        ``"none"``, ``"greedy"`` or a controller ``f(community, progress=None) -> BatterySchedule``.
    progress : callable, optional
        Called with the number of control steps done (for progress bars).
    faults : iterable of Fault, optional
        Controller or meter faults to inject (see :mod:`peergrid.simulate.faults`).
    bidding : {"truthful", "zero-intelligence", "zic", "zip"}
        Order-book markets: how participants price the orders built from their net
        positions (truthful: buyers at λb, sellers at λs; zero-intelligence: uniform
        random in [λs, λb]; the agents of :mod:`peergrid.market.agents` — zic:
        zero-intelligence-constrained within reservation prices that reflect the
        planned battery state; zip: ZIP traders that learn their margins day by day).
    k : float
        Order-book markets ``uniform`` and ``bilateral``: price k·bid + (1 − k)·ask.
    seed : int
        Order-book markets: seeds the random limit prices, the agents' margins and the arrival order.
    fee : float
        ``bilateral``: network fee per kWh on every pair, currency/kWh.
    learning_rate, momentum : float
        ``bidding="zip"``: β ∈ (0, 1] and γ ∈ [0, 1) of the ZIP margin update.
    coordination : {"none", "price-response"}
        ``"none"``: control runs once against the grid prices. ``"price-response"``: the
        controller re-plans on the market's internal prices until they stop moving
        (:mod:`peergrid.simulate.coordination`); the result keeps the cheapest iterate and
        reports the loop in :attr:`Result.coordination`.
    max_iterations : int
        Price-responsive re-plans allowed (``coordination="price-response"``).
    tolerance : float
        Price tolerance of the convergence rule, currency/kWh.
    forecaster : {"perfect", "persistence", "ridge", "fedavg"}
        What the members know of their load and generation when they plan and trade
        (:mod:`peergrid.simulate.forecasting`). ``"perfect"``: the data (foresight).
        Otherwise the controller plans on day-ahead forecasts, the market clears the
        planned net, batteries follow their plan and each member's deviation
        (realised − planned net) is settled at λb (extra import) or λs (extra export);
        :attr:`Result.forecast` holds the forecast error and the imbalance.
    forecast_options : mapping, optional
        Options of the forecaster (:class:`~peergrid.simulate.forecasting.ForecastOptions`:
        ``train_days``, ``min_train_days``, ``season_days``, ``alpha``, ``rounds``,
        ``local_steps``, ``client_fraction``, ``server_momentum``, ``seed``).
    grid : GridOptions or mapping, optional
        Network-aware run (:mod:`peergrid.simulate.network`): the feeder (``"default"``: built
        from the members' ``node`` / ``phase``) and its limits, keys as the scenario table
        ``[grid]`` (``feeder``, ``max_line_loading_pct``, ``v_min_pu``, ``v_max_pu``,
        ``max_vim_pct``, ``fee_per_kwh``). After the final clearing, exports that break a limit
        are spilled, the market is cleared again on the curtailed positions, and the members pay
        Tooki et al. (2025) eq. 12 line fees and their share of the losses. None (default): no
        network, exactly as before.
    objective : {"cost", "co2", "cost+co2"}
        What the controllers minimise (:func:`peergrid.control.objective_view`): the grid
        bill (``"cost"``, Petri et al. (2020), eq. 4), the emissions of grid import
        (``"co2"``, ties broken by cost) or bill + ``co2_price`` × emissions. The CO2
        objectives need ``community.carbon_intensity``; price-blind controllers (``greedy``,
        ``none``) plan the same under every objective. Markets and bills always use the
        grid prices.
    co2_price : float
        Price of emissions under ``objective="cost+co2"``, currency/kgCO2.
    series : {"full", "none"}
        What the result keeps. ``"full"`` (default): the ``(T, N)`` net after control and the
        battery series, as always. ``"none"``: only per-member and per-step sums and the
        metrics — the run streams over blocks of time steps (:mod:`peergrid.simulate.stream`)
        and its memory does not grow with T·N; :attr:`Result.metrics`,
        :attr:`Result.participants`, :attr:`Result.steps` and :meth:`Result.bills` equal those
        of ``"full"`` to rounding (≤ 1e-12 relative, tested), while :meth:`Result.table`,
        :meth:`Result.allocation`, :meth:`Result.soc` and :meth:`Result.to_parquet` raise
        DataError. Needed from about 5,000 households × a year at 15 min on 2 GiB (a
        ``(T, N)`` float64 array is 2.8 GB at 10,000 households). Streaming supports the pool
        markets, ``control="greedy"`` or ``"none"``, perfect forecasts and no faults, price
        response or network step; other runs with ``series="none"`` raise ConfigError.
    dtype : {"float64", "float32"}
        Storage of the kept series (``series="full"``, streamed): ``"float32"`` halves their
        memory; the sums, metrics and bills are still computed in float64 from the blocks
        (identical to float64), only the stored series are rounded (≤ 6e-8 relative per
        value, see docs/scale.md).
    block : int, optional
        Steps per block of a streamed run (default: about 2**19 values per block, e.g. 52
        steps at 10,000 households). Giving ``block`` (or ``series="none"``, ``dtype="float32"``,
        or a lazy community, :attr:`Community.lazy`) selects the streaming path; results do
        not depend on it beyond rounding.

    Returns
    -------
    Result

    Examples
    --------
    >>> import peergrid
    >>> from peergrid.data import synthetic_community
    >>> com = synthetic_community(20, periods=48, freq="1h", seed=1)
    >>> res = peergrid.simulate(com, market="sdr", control="greedy")
    >>> 0.0 <= res.metrics["self_sufficiency"] <= 1.0
    True
    >>> auction = peergrid.simulate(com, market="uniform", bidding="zero-intelligence", seed=1)
    >>> auction.metrics["traded_kwh"] <= res.metrics["traded_kwh"] + 1e-9
    True
    """
    name = check_market(market)
    return compare(
        community, markets=(name,), control=control, progress=progress, faults=faults,
        bidding=bidding, k=k, seed=seed, fee=fee, learning_rate=learning_rate, momentum=momentum,
        coordination=coordination, max_iterations=max_iterations, tolerance=tolerance,
        forecaster=forecaster, forecast_options=forecast_options, objective=objective, co2_price=co2_price,
        grid=grid, series=series, dtype=dtype, block=block,
    )[name]  # fmt: skip


def compare(
    community: Community,
    markets: Iterable[str] = ("baseline", "bs", "mmr", "sdr"),
    control: str | Controller = "greedy",
    *,
    progress: Callable[[int], None] | None = None,
    faults: Iterable[Fault] | None = None,
    bidding: str = "truthful",
    k: float = 0.5,
    seed: int = 0,
    fee: float = 0.0,
    learning_rate: float = 0.3,
    momentum: float = 0.05,
    on_market: Callable[[str], None] | None = None,
    coordination: str = "none",
    max_iterations: int = 10,
    tolerance: float = 1e-4,
    forecaster: str = "perfect",
    forecast_options: Mapping[str, object] | None = None,
    grid: GridOptions | Mapping[str, object] | None = None,
    objective: str = "cost",
    co2_price: float = 0.0,
    series: str = "full",
    dtype: str = "float64",
    block: int | None = None,
) -> Comparison:
    """Simulate several markets on the same community with one shared control run.

    Parameters
    ----------
    community : Community
    markets : iterable of str
        Market names (pool rules and order-book mechanisms, see :func:`simulate`);
        default all pool mechanisms and the baseline.
    control : str or callable
        Controller (see :func:`simulate`).
    progress : callable, optional
        Progress callback for the control run.
    faults : iterable of Fault, optional
        Controller or meter faults to inject (see :mod:`peergrid.simulate.faults`):
        markets clear on the settled readings; each result's ``faults`` holds the
        clearing on the true readings and the imbalance.
    bidding, k, seed, fee, learning_rate, momentum
        Options of the order-book markets (see :func:`simulate`); the pool rules
        ignore them.
    on_market : callable, optional
        Called with each market's name before it is cleared (after the control run).
    coordination, max_iterations, tolerance
        Price-responsive coordination (see :func:`simulate`): each market gets its own
        schedule, re-planned on that market's internal prices; the price-blind plan is
        made once and shared as every loop's iterate 0.
    forecaster, forecast_options
        Day-ahead forecasts instead of foresight (see :func:`simulate`): the control runs
        once on the forecast view and every market clears the planned net.
    grid : GridOptions or mapping, optional
        Network-aware run (see :func:`simulate`); the curtailment is computed once per net
        array (once for all markets without price response).
    objective, co2_price
        What the controllers minimise (see :func:`simulate`): ``"cost"`` (default),
        ``"co2"`` or ``"cost+co2"`` at ``co2_price`` currency/kgCO2.
    series, dtype, block
        The streaming year (see :func:`simulate`): one pass over blocks of steps clears every
        market at once; with ``series="none"`` only sums are kept.

    Returns
    -------
    Comparison
        Mapping market name → :class:`Result`.
    """
    names = [check_market(m) for m in markets]
    if not names:
        raise DataError("no markets given")
    options = check_order_options(
        bidding=bidding, k=k, seed=seed, fee=fee, learning_rate=learning_rate, momentum=momentum
    )  # fail before the control run
    from peergrid.simulate.coordination import check_coordination

    coordinated = check_coordination(coordination, max_iterations, tolerance) != "none"
    from peergrid.control import check_objective, objective_view

    objective = check_objective(objective, co2_price)
    if objective != "cost":
        objective_view(community, objective, co2_price)  # no carbon intensity: fail before the control run
    fault_list = list(faults) if faults is not None else []
    from peergrid.simulate import network

    grid_options = network.check_grid(grid)
    network.check_combination(grid_options, faults=bool(fault_list), forecaster=forecaster)
    if grid_options is not None:  # a bad feeder fails before the control run
        network.build_grid_feeder(community, grid_options)
    from peergrid.simulate.stream import check_stream_options, stream_obstacle

    series, dtype, block = check_stream_options(series, dtype, block)
    asked = series != "full" or dtype != "float64" or block is not None
    if asked or community.lazy:
        obstacle = stream_obstacle(
            names, control, faults=bool(fault_list), coordinated=coordinated, forecaster=forecaster, grid=grid_options
        )
        if obstacle is None:
            return _streamed(community, names, str(control).strip().lower(), series, dtype, block, progress, on_market)
        if asked:
            raise ConfigError(
                f"series={series!r}, dtype={dtype!r}, block={block!r} need the streaming path, "
                f"which does not support {obstacle}; use the defaults (series='full')"
            )
        # a lazy community on a path that needs whole arrays: they are materialised (once) on first use
    from peergrid.simulate.forecasting import plan_view

    plan, settle = plan_view(community, forecaster, forecast_options, faults=bool(fault_list))
    control_name, schedule = _run_control(objective_view(plan, objective, co2_price), control, progress)
    if coordinated:
        coord = _coordinated(
            community, plan, settle(), names, control, control_name, schedule, options, fault_list, on_market,
            max_iterations, tolerance, objective, co2_price,
        )  # fmt: skip
        return _with_network(community, coord, grid_options, options)
    if not fault_list:
        net = schedule.apply(plan.net, inplace=True)
        true_net = net
    else:
        from peergrid.simulate.faults import apply_faults

        schedule, true_net, net = apply_faults(community, schedule, fault_list)
    demand, supply = demand_supply(net)
    baseline = no_p2p(demand, supply, community.retail, community.feed_in)

    def clear(name: str, x: np.ndarray, d: np.ndarray, g: np.ndarray) -> Clearing:
        return clear_market(community, name, x, options, schedule, (d, g))

    fault_outcome = _fault_outcome(community, fault_list, true_net, net, clear) if fault_list else None
    forecast = settle()  # None with perfect forecasts
    del plan, settle
    results = {}
    for n in names:
        if on_market is not None:
            on_market(n)
        clearing = baseline if n == "baseline" else clear(n, net, demand, supply)
        outcome = fault_outcome(n) if fault_outcome is not None else None
        results[n] = Result(community, n, control_name, schedule, net, clearing, baseline, outcome, forecast=forecast)
    return _with_network(community, Comparison(results), grid_options, options)


def _streamed(
    community: Community,
    names: list[str],
    control: str,
    series: str,
    dtype: str,
    block: int | None,
    progress: Callable[[int], None] | None,
    on_market: Callable[[str], None] | None,
) -> Comparison:
    """:func:`compare` on the streaming path (:func:`peergrid.simulate.stream.stream_run`)."""
    from peergrid.simulate.stream import stream_run

    schedule, net, clearings, reduced = stream_run(
        community, names, control, series=series, dtype=dtype, block=block, progress=progress
    )
    baseline = clearings["baseline"]
    results = {}
    for n in names:
        if on_market is not None:
            on_market(n)
        results[n] = Result(community, n, control, schedule, net, clearings[n], baseline, reduced=reduced)  # type: ignore[arg-type]
    return Comparison(results)


def _with_network(
    community: Community, comparison: Comparison, grid: GridOptions | None, options: Mapping[str, object]
) -> Comparison:
    """The network step after the final clearing (:func:`peergrid.simulate.network.apply_network`)."""
    if grid is None:
        return comparison
    from peergrid.simulate.network import apply_network

    def clear(name: str, x: np.ndarray, battery: BatterySchedule) -> Clearing:
        return clear_market(community, name, x, options, battery)

    return Comparison(apply_network(community, dict(comparison.items()), grid, clear))


def _coordinated(
    community: Community,
    plan: Community,
    forecast: ForecastOutcome | None,
    names: list[str],
    control: str | Controller,
    control_name: str,
    schedule: BatterySchedule,
    options: dict,
    fault_list: list[Fault],
    on_market: Callable[[str], None] | None,
    max_iterations: int,
    tolerance: float,
    objective: str = "cost",
    co2_price: float = 0.0,
) -> Comparison:
    """:func:`compare` under price-response coordination: one loop and one schedule per market.

    The loop plans on ``plan`` (the community, or its forecast view) and clears the planned net.
    Under a CO2 objective every re-plan adds the CO2 terms to the internal prices
    (:func:`peergrid.control.objective_view`) and the kept iterate is the one with the lowest
    cost + CO2 (``"cost+co2"``) or the lowest emissions (``"co2"``).
    """
    from peergrid.simulate.coordination import coordinate

    base = plan.net
    controller = get_controller(control)
    score = None
    if objective != "cost":
        from peergrid.control import objective_view

        inner = controller

        def controller(com: Community, progress: Callable[[int], None] | None = None) -> BatterySchedule:
            return inner(objective_view(com, objective, co2_price), progress=progress)

        score = _objective_score(plan, objective, co2_price)
    results = {}
    for n in names:
        if on_market is not None:
            on_market(n)
        it = coordinate(
            plan, controller, n, options=options, max_iterations=max_iterations, tolerance=tolerance,
            initial=schedule, base_net=base, check=lambda s: _check_schedule(plan, s), score=score,
        )  # fmt: skip
        sched, net, clearing, outcome = it.schedule, it.net, it.clearing, None
        if fault_list:
            from peergrid.simulate.faults import apply_faults

            sched, true_net, net = apply_faults(community, sched, fault_list)

            def clear_own(name: str, x: np.ndarray, d: np.ndarray, g: np.ndarray, s=sched) -> Clearing:
                return clear_market(community, name, x, options, s, (d, g))  # this market's own battery plan

            clearing = clear_market(community, n, net, options, sched)
            outcome = _fault_outcome(community, fault_list, true_net, net, clear_own)(n)
        results[n] = Result(
            community, n, control_name, sched, net, clearing, None, outcome,  # type: ignore[arg-type]
            coordination=it.info, forecast=forecast,
        )  # fmt: skip
    return Comparison(results)


def _objective_score(community: Community, objective: str, co2_price: float) -> Callable[[Clearing], float]:
    """What a coordination loop under a CO2 objective minimises over its iterates, from a clearing."""
    from peergrid.control.prices import CO2_TIE_BREAK

    ci = np.asarray(community.carbon_intensity, dtype=np.float64)

    def score(clearing: Clearing) -> float:
        emissions = float(clearing.grid_import @ ci)
        cost = float(clearing.member_bill.sum())
        return cost + co2_price * emissions if objective == "cost+co2" else emissions + CO2_TIE_BREAK * cost

    return score


def _fault_outcome(
    community: Community,
    faults: list[Fault],
    true_net: np.ndarray,
    net: np.ndarray,
    clear: Callable[[str, np.ndarray, np.ndarray, np.ndarray], Clearing],
) -> Callable[[str], FaultOutcome]:
    """Per-market :class:`FaultOutcome` factory (the market cleared on the true readings)."""
    from peergrid.simulate.faults import FaultOutcome, fault_steps

    true_demand, true_supply = demand_supply(true_net)
    imbalance = true_net.sum(axis=1) - net.sum(axis=1) if true_net is not net else np.zeros(community.T)
    ctrl, meter = fault_steps(community, faults)

    def outcome(market: str) -> FaultOutcome:
        true_clearing = clear(market, true_net, true_demand, true_supply)
        return FaultOutcome(tuple(faults), true_clearing, imbalance, ctrl, meter)

    return outcome
