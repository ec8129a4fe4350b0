"""Forecasts instead of foresight: day-ahead forecasts, the forecast view, imbalance settlement.

Members do not know tomorrow. With ``forecaster`` other than ``"perfect"``,
:func:`peergrid.simulate` and :func:`peergrid.compare` run in two settlements:

1. **Day ahead (plan).** Every member's load and generation are forecast one day
   ahead (:func:`forecast_series`); the controller plans its battery schedule on this
   *forecast view* of the community (:func:`forecast_view`: the same community with
   load and generation replaced), and the market clears the **planned** net
   ``p = forecast load − forecast generation + battery schedule (+ load_delta)``.
2. **Metered (imbalance).** Batteries follow their plan; the deviations go to the grid.
   The realised net is ``a = actual load − actual generation + the same battery
   schedule``, so each member's imbalance is ``δ = a − p = (actual − forecast net)``
   and is settled per member and slot at the grid prices: extra import at λb, extra
   export at λs, ``charge = λb·max(δ, 0) − λs·max(−δ, 0)`` — the rule of the trading
   service's metered phase (:mod:`peergrid.service.clearing`: metered net minus the
   contracted position, per member, at the interval's λb / λs). In the simulator the
   contracted position is the whole plan (peer trades and the planned grid energy).

Balances, per slot ``t`` (``I``, ``E`` the market's planned grid import and export,
``G(x) = λb·max(x, 0) − λs·max(−x, 0)`` the grid bill of a net exchange ``x``):

* energy: Σ_i a_i = (I − E) + Σ_i δ_i = the realised exchange at the point of common
  coupling (PCC); each member's a_i = bought − sold + grid import − grid export + δ_i;
* money: Σ_i (market bill_i + charge_i) = G(Σ_i a_i) + operator fees + supplier margin,
  with supplier margin = λb·I − λs·E − G(Σ_i p_i) + Σ_i charge_i − (G(Σ_i a_i) − G(Σ_i p_i)) ≥ 0
  when λb ≥ λs: what the supplier earns by settling each member's deviation (and
  an order book's unmatched orders) separately instead of the community's net exchange
  (0 with perfect forecasts under the pool rules).

Forecasters (all day-ahead: the forecast of day ``d`` uses data of days before ``d`` only;
a *day* is ``B = round(24 h / step)`` steps from the first step of the run):

``"perfect"``
    The data (today's behaviour, bit-identical; no imbalance).
``"persistence"``
    The same slot ``season_days`` days earlier (1: yesterday, 7: last week; before
    that much history, yesterday; on day 0 nothing is known: zero).
    Hyndman & Athanasopoulos (2021), *Forecasting: Principles and Practice*, §5.2.
``"ridge"``
    One ridge model per member and quantity on the lag features of
    :func:`peergrid.forecast.ridge.lag_features` (same slot 1, 2 and 7 days earlier,
    previous day's mean, two time-of-day harmonics, bias), refitted every day in closed
    form on a rolling window of the ``train_days`` days before the forecast day
    (0: all past days). Lag features exist from day 7; until ``min_train_days``
    training days exist the forecast is persistence.
``"fedavg"``
    One model per quantity shared by all members, trained with FedAvg (McMahan et al.
    (2017), Algorithm 1; server momentum as in :func:`peergrid.forecast.federated.fedavg`):
    members are the clients, each runs ``local_steps`` full-batch gradient steps on its
    own window of lag features per round, only weights leave a member; ``rounds`` rounds
    per day, warm-started from the previous day's model; a seeded ``client_fraction``
    of the members takes part in each round. Same window and fallback as ``"ridge"``.

Forecasts are clipped at 0 (load and generation are non-negative), and a member whose
training window (ridge, FedAvg) holds no generation is forecast to generate nothing.
"""

from __future__ import annotations

import copy
import math
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from functools import cached_property

import numpy as np

from peergrid.core.community import Community
from peergrid.core.errors import ConfigError, DataError
from peergrid.forecast.ridge import LAGS_DAYS, lag_features, n_features

__all__ = [
    "FORECASTERS",
    "ForecastOptions",
    "ForecastOutcome",
    "forecast_series",
    "forecast_view",
    "imbalance_charge",
    "settle_forecast",
]

#: Forecaster names accepted by :func:`peergrid.simulate` / ``[simulation] forecaster``.
FORECASTERS = ("perfect", "persistence", "ridge", "fedavg")


@dataclass(frozen=True)
class ForecastOptions:
    """Options of the day-ahead forecasters (``[forecast]`` table of a scenario).

    Attributes
    ----------
    train_days : int
        Ridge/FedAvg: rolling training window, days before the forecast day (0: all past days).
    min_train_days : int
        Ridge/FedAvg: training days needed before the model is used (persistence until then).
    season_days : int
        Persistence (and the fallback): 1 = same slot yesterday, 7 = same slot last week.
    alpha : float
        Ridge penalty on the non-bias weights (features in kWh).
    rounds : int
        FedAvg: communication rounds per day.
    local_steps : int
        FedAvg: gradient steps per client and round.
    client_fraction : float
        FedAvg: share of the members drawn (seeded) to take part in each round, (0, 1].
    server_momentum : float
        FedAvg: server momentum β in [0, 1) (0 = plain FedAvg).
    seed : int
        Seeds the FedAvg client draws.
    """

    train_days: int = 28
    min_train_days: int = 7
    season_days: int = 1
    alpha: float = 1e-3
    rounds: int = 20
    local_steps: int = 5
    client_fraction: float = 1.0
    server_momentum: float = 0.9
    seed: int = 0

    def __post_init__(self) -> None:
        checks = (
            ("train_days", self.train_days >= 0),
            ("min_train_days", self.min_train_days >= 1),
            ("season_days", self.season_days >= 1),
            ("alpha", math.isfinite(self.alpha) and self.alpha > 0),
            ("rounds", self.rounds >= 1),
            ("local_steps", self.local_steps >= 1),
            ("client_fraction", 0.0 < self.client_fraction <= 1.0),
            ("server_momentum", 0.0 <= self.server_momentum < 1.0),
            ("seed", self.seed >= 0),
        )
        for name, ok in checks:
            if not ok:
                raise ConfigError(f"forecast option {name} = {getattr(self, name)!r} is out of range")
        if self.train_days and self.train_days < self.min_train_days:
            raise ConfigError(
                f"forecast option train_days = {self.train_days} is shorter than min_train_days = {self.min_train_days}"
            )

    @classmethod
    def from_mapping(cls, options: Mapping[str, object] | None) -> ForecastOptions:
        """Options from keyword arguments; unknown names are rejected by name."""
        options = dict(options or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise ConfigError(f"unknown forecast option {unknown[0]!r}; choose from {', '.join(sorted(known))}")
        return cls(**options)  # type: ignore[arg-type]

    def as_dict(self) -> dict[str, object]:
        """The options as a JSON-ready dict."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def check_forecaster(name: object) -> str:
    """The canonical forecaster name, or a :class:`ConfigError` naming the choices."""
    key = str(name).strip().lower() if isinstance(name, str) else None
    if key not in FORECASTERS:
        raise ConfigError(f"unknown forecaster {name!r}; choose from {', '.join(FORECASTERS)}")
    return key


def steps_per_day(dt_hours: float) -> int:
    """Steps of one forecast day, ``B = round(24 h / step)`` (at least 1)."""
    return max(round(24.0 / float(dt_hours)), 1)


# ---- the forecasters --------------------------------------------------------------------
def _persistence(x: np.ndarray, B: int, season_days: int) -> np.ndarray:
    """Same slot ``season_days`` days earlier; yesterday while that is not known yet; 0 on day 0."""
    T = x.shape[0]
    out = np.zeros_like(x)
    if T > B:
        out[B:] = x[:-B]  # yesterday
    lag = B * season_days
    if season_days > 1 and T > lag:
        out[lag:] = x[:-lag]
    return out


#: Days whose lag features are built at once (amortises the 7-day look-back window).
_BLOCK_DAYS = 8


def _day_features(x: np.ndarray, B: int, t0: int, t1: int) -> np.ndarray:
    """Lag features of steps ``t0 … t1−1`` of every series, ``(t1 − t0, S, F)`` (needs t0 ≥ 7·B).

    The features are those of :func:`peergrid.forecast.ridge.lag_features`, built on the window
    of the 7 days before ``t0`` and the day itself (only lags ≥ 1 day: no value of ``t0 … t1−1``
    enters them).
    """
    first = max(LAGS_DAYS) * B
    window = x[t0 - first : t1]
    X, _ = lag_features(window, B, start=first)
    return X.reshape(t1 - t0, x.shape[1], -1)


def _solve(A: np.ndarray, b: np.ndarray, n: float, alpha: float) -> np.ndarray:
    """Per-series ridge weights: (A/n + αI') w = b/n, bias (last) unpenalised, ``(S, F)``."""
    F = A.shape[-1]
    reg = np.full(F, alpha)
    reg[-1] = 0.0
    M = A / n + np.diag(reg)
    # a series with no variation still has the bias column (n > 0): M is positive definite
    return np.linalg.solve(M, (b / n)[..., None])[..., 0]


class _Window:
    """Rolling sums of X'X and X'y per series over the last ``days`` training days."""

    def __init__(self, S: int, F: int, days: int) -> None:
        self.A = np.zeros((S, F, F))
        self.b = np.zeros((S, F))
        self.yy = np.zeros(S)  # Σ y² per series (a series without any value is not trained)
        self.n = 0
        self.days = days
        self._queue: deque[tuple[np.ndarray, np.ndarray, np.ndarray, int]] = deque()

    def add(self, X: np.ndarray, y: np.ndarray) -> None:
        Xs = X.transpose(1, 0, 2)  # (S, t, F): one batched matrix product per series
        A = np.matmul(Xs.transpose(0, 2, 1), Xs)
        b = np.matmul(Xs.transpose(0, 2, 1), y.T[:, :, None])[:, :, 0]
        yy = np.einsum("ts,ts->s", y, y)
        self.A += A
        self.b += b
        self.yy += yy
        self.n += X.shape[0]
        self._queue.append((A, b, yy, X.shape[0]))
        if self.days and len(self._queue) > self.days:
            A0, b0, yy0, n0 = self._queue.popleft()
            self.A -= A0
            self.b -= b0
            self.yy -= yy0
            self.n -= n0

    @property
    def n_days(self) -> int:
        return len(self._queue)


def _local_update(win: _Window, clients: np.ndarray, opts: ForecastOptions, lr: float) -> tuple[np.ndarray, np.ndarray]:
    """Every client's ``local_steps`` gradient steps as one affine map ``w ↦ P_k·w + q_k``.

    A client's gradient step on its ridge loss ‖X_k w − y_k‖²/n + α‖w'‖² is affine in w,
    w ← M_k w + g_k with M_k = I − lr·(2·X_k'X_k/n + 2α·I') and g_k = 2·lr·X_k'y_k/n, so E steps
    are P_k = M_k^E and q_k = Σ_{j<E} M_k^j g_k: exactly FedAvg's local training, computed once a
    day for all clients (``(K, F, F)`` and ``(K, F)``) instead of once per round.
    """
    F = win.A.shape[-1]
    reg = np.full(F, opts.alpha)
    reg[-1] = 0.0
    M = np.eye(F) - lr * (2.0 * win.A[clients] / win.n + 2.0 * np.diag(reg))
    g = 2.0 * lr * win.b[clients] / win.n
    P = np.broadcast_to(np.eye(F), M.shape).copy()
    q = np.zeros_like(g)
    for _ in range(opts.local_steps):
        P = np.matmul(M, P)
        q = np.matmul(M, q[:, :, None])[:, :, 0] + g
    return P, q


def _fedavg_round(
    w: np.ndarray, v: np.ndarray, P: np.ndarray, q: np.ndarray, momentum: float
) -> tuple[np.ndarray, np.ndarray]:
    """One FedAvg(M) round: the clients' local updates from ``w`` (``P·w + q``), averaged by the server."""
    wk = np.matmul(P, w) + q
    delta = wk.mean(axis=0) - w  # equal sample counts n_k: the n_k-weighted mean is the mean
    v = momentum * v + delta
    return w + v, v


def forecast_series(
    x: np.ndarray,
    B: int,
    method: str,
    options: ForecastOptions | None = None,
) -> np.ndarray:
    """Day-ahead forecast of every series, ``(T, S)``.

    Parameters
    ----------
    x : numpy.ndarray
        ``(T, S)`` realised values per step (e.g. every member's load), kWh.
    B : int
        Steps per forecast day (:func:`steps_per_day`).
    method : {"perfect", "persistence", "ridge", "fedavg"}
        The forecaster (module docstring).
    options : ForecastOptions, optional

    Returns
    -------
    numpy.ndarray
        ``(T, S)`` forecasts, kWh, ≥ 0. Row block ``[d·B, (d+1)·B)`` depends only on
        ``x[: d·B]`` (no look-ahead), except for ``"perfect"``.
    """
    method = check_forecaster(method)
    opts = options or ForecastOptions()
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise DataError(f"forecast_series needs a (T, S) array, got shape {x.shape}")
    if method == "perfect":
        return x.copy()
    base = _persistence(x, B, opts.season_days)
    if method == "persistence":
        return base
    T, S = x.shape
    F = n_features()
    first = max(LAGS_DAYS) * B
    out = base
    win = _Window(S, F, opts.train_days)
    rng = np.random.default_rng(opts.seed)
    w = np.zeros(F)
    v = np.zeros(F)
    block = _BLOCK_DAYS * B
    Xb, b0 = None, -1
    for t0 in range(first, T, B):  # a loop over days, numpy over members
        t1 = min(t0 + B, T)
        if Xb is None or t0 >= b0 + Xb.shape[0]:  # features of the next block of days (lags ≥ 1 day only)
            b0 = t0
            Xb = _day_features(x, B, t0, min(t0 + block, T))
        X = Xb[t0 - b0 : t1 - b0]
        if win.n_days >= opts.min_train_days:
            active = win.yy > 0.0
            if method == "ridge":
                W = _solve(win.A, win.b, win.n, opts.alpha)
                pred = np.einsum("tsf,sf->ts", X, W)
            else:
                clients_all = np.flatnonzero(active)
                if clients_all.size:
                    A_n = win.A[clients_all] / win.n
                    lr = 1.0 / (2.0 * float(np.linalg.eigvalsh(A_n)[:, -1].max()) + 2.0 * opts.alpha)
                    P, q = _local_update(win, clients_all, opts, lr)
                    K = clients_all.size
                    k = max(1, math.ceil(opts.client_fraction * K))
                    for _ in range(opts.rounds):
                        if k == K:
                            w, v = _fedavg_round(w, v, P, q, opts.server_momentum)
                        else:  # a seeded draw of k of the K clients
                            pick = np.sort(rng.choice(K, size=k, replace=False))
                            w, v = _fedavg_round(w, v, P[pick], q[pick], opts.server_momentum)
                pred = X @ w
            out[t0:t1] = np.where(active, np.maximum(pred, 0.0), 0.0)
        win.add(X, x[t0:t1])  # day d becomes training data after it is forecast
    return out


def forecast_view(
    community: Community, forecaster: str = "perfect", options: ForecastOptions | Mapping | None = None
) -> Community:
    """The community as its members forecast it day-ahead: load and generation replaced.

    Parameters
    ----------
    community : Community
    forecaster : {"perfect", "persistence", "ridge", "fedavg"}
    options : ForecastOptions or mapping, optional

    Returns
    -------
    Community
        ``community`` itself for ``"perfect"``; otherwise a shallow copy with forecast
        ``(T, N)`` load and generation (kWh), the same participants, index and tariffs.
    """
    name = check_forecaster(forecaster)
    if name == "perfect":
        return community
    opts = options if isinstance(options, ForecastOptions) else ForecastOptions.from_mapping(options)
    B = steps_per_day(community.dt)
    view = copy.copy(community)
    view.load = forecast_series(community.load, B, name, opts)
    view.generation = forecast_series(community.generation, B, name, opts)
    return view


# ---- settlement ---------------------------------------------------------------------------
def imbalance_charge(imbalance: np.ndarray, retail: np.ndarray, feed_in: np.ndarray) -> np.ndarray:
    """Each member's imbalance charge, ``λb·max(δ, 0) − λs·max(−δ, 0)`` (currency, same shape as δ).

    :func:`peergrid.market.settle_imbalance` per member (``at="member"``), the rule the service settles
    order-book imbalances by.

    Parameters
    ----------
    imbalance : numpy.ndarray
        ``(T, N)`` realised − planned net energy, kWh (+ = extra import).
    retail, feed_in : numpy.ndarray
        ``(T,)`` grid prices λb, λs, currency/kWh.
    """
    from peergrid.market.settle import settle_imbalance

    return settle_imbalance(imbalance, 0.0, retail[:, None], feed_in[:, None], at="member").charge


def _grid_bill(x: np.ndarray, retail: np.ndarray, feed_in: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0.0) * retail - np.maximum(-x, 0.0) * feed_in


@dataclass
class ForecastOutcome:
    """Forecast error and imbalance of a run with an imperfect forecaster (``Result.forecast``).

    Attributes
    ----------
    forecaster : str
    options : dict
        The :class:`ForecastOptions` used.
    imbalance : numpy.ndarray
        ``(T, N)`` realised − planned net energy per member, kWh (+ = extra import).
    retail, feed_in : numpy.ndarray
        ``(T,)`` the grid prices the imbalance is settled at, currency/kWh.
    errors : dict
        Forecast errors, kWh per step: ``{"load"|"generation"|"net": {"mae", "rmse",
        "community_mae", "community_rmse"}}`` (member errors averaged over members and
        steps; community errors of the community's summed series).
    """

    forecaster: str
    options: dict
    imbalance: np.ndarray
    retail: np.ndarray
    feed_in: np.ndarray
    errors: dict = field(default_factory=dict)

    # ---- per member and per slot -------------------------------------------------------
    @cached_property
    def _sums(self) -> dict[str, np.ndarray]:
        """One pass over δ in row blocks: per-member and per-slot sums of extra import / export."""
        d = self.imbalance
        T, N = d.shape
        out = {k: np.zeros(N) for k in ("imp", "exp", "sq", "imp_cost", "exp_credit")}
        slot_imp, slot_exp = np.zeros(T), np.zeros(T)
        for start in range(0, T, 4096):
            rows = slice(start, min(start + 4096, T))
            x = d[rows]
            pos, neg = np.maximum(x, 0.0), np.maximum(-x, 0.0)
            out["imp"] += pos.sum(axis=0)
            out["exp"] += neg.sum(axis=0)
            out["sq"] += np.einsum("tn,tn->n", x, x)
            out["imp_cost"] += pos.T @ self.retail[rows]
            out["exp_credit"] += neg.T @ self.feed_in[rows]
            slot_imp[rows] = pos.sum(axis=1)
            slot_exp[rows] = neg.sum(axis=1)
        return out | {"slot_imp": slot_imp, "slot_exp": slot_exp}

    def charge(self, rows: slice | None = None) -> np.ndarray:
        """``(T, N)`` imbalance charges, currency (:func:`imbalance_charge`)."""
        r = slice(None) if rows is None else rows
        return imbalance_charge(self.imbalance[r], self.retail[r], self.feed_in[r])

    @property
    def member_charge(self) -> np.ndarray:
        """Σ over steps of each member's imbalance charge, ``(N,)`` currency."""
        return self._sums["imp_cost"] - self._sums["exp_credit"]

    @property
    def member_imbalance_kwh(self) -> np.ndarray:
        """Σ over steps of ``|δ|`` per member, ``(N,)`` kWh."""
        return self._sums["imp"] + self._sums["exp"]

    @property
    def member_mae(self) -> np.ndarray:
        """Mean absolute error of each member's net forecast, ``(N,)`` kWh per step (= mean |δ|)."""
        return self.member_imbalance_kwh / max(self.imbalance.shape[0], 1)

    @property
    def member_rmse(self) -> np.ndarray:
        """Root-mean-square error of each member's net forecast, ``(N,)`` kWh per step."""
        return np.sqrt(self._sums["sq"] / max(self.imbalance.shape[0], 1))

    @property
    def slot_imbalance(self) -> np.ndarray:
        """Σ over members of δ per step, ``(T,)`` kWh."""
        return self._sums["slot_imp"] - self._sums["slot_exp"]

    @property
    def slot_charge(self) -> np.ndarray:
        """Σ over members of the imbalance charge per step, ``(T,)`` currency."""
        return self._sums["slot_imp"] * self.retail - self._sums["slot_exp"] * self.feed_in

    # ---- balances ------------------------------------------------------------------------
    def balance(self, clearing: object, planned_net: np.ndarray) -> dict[str, np.ndarray]:
        """Per-slot energy and money balance terms of one market's clearing (module docstring).

        Returns ``(T,)`` arrays: ``realised_net`` (Σ_i a_i = PCC import − export, kWh),
        ``pcc_import``, ``pcc_export`` (kWh), ``pcc_bill`` (G(Σ a), currency),
        ``member_payments`` (Σ market bills + imbalance charges), ``fees`` and ``supplier_margin``.
        """
        c = clearing
        realised = planned_net.sum(axis=1) + self.slot_imbalance
        pay = c.member_bill + self.slot_charge  # type: ignore[attr-defined]
        pcc = _grid_bill(realised, self.retail, self.feed_in)
        fees = c.fees  # type: ignore[attr-defined]
        return {
            "realised_net": realised,
            "pcc_import": np.maximum(realised, 0.0),
            "pcc_export": np.maximum(-realised, 0.0),
            "pcc_bill": pcc,
            "member_payments": pay,
            "fees": fees,
            "supplier_margin": pay - pcc - fees,
        }

    def metrics(self) -> dict[str, float]:
        """``forecast_mae_kwh``, ``imbalance_kwh``, ``imbalance_cost`` (metric registry keys)."""
        return {
            "forecast_mae_kwh": float(self.errors["net"]["mae"]),
            "imbalance_kwh": float(self.member_imbalance_kwh.sum()),
            "imbalance_cost": float(self.member_charge.sum()),
        }

    def summary(self, clearing: object | None = None, planned_net: np.ndarray | None = None) -> dict[str, object]:
        """JSON-ready outcome: forecaster, options, errors (kWh), imbalance (kWh) and its cost."""
        out: dict[str, object] = {
            "forecaster": self.forecaster,
            "options": dict(self.options),
            "errors": {
                k: {kk: float(vv) for kk, vv in v.items()} for k, v in self.errors.items() if isinstance(v, dict)
            },
            "imbalance_import_kwh": float(self._sums["imp"].sum()),
            "imbalance_export_kwh": float(self._sums["exp"].sum()),
            **self.metrics(),
        }
        if clearing is not None and planned_net is not None:
            bal = self.balance(clearing, planned_net)
            out["realised_grid_import_kwh"] = float(bal["pcc_import"].sum())
            out["realised_grid_export_kwh"] = float(bal["pcc_export"].sum())
            out["realised_grid_bill"] = float(bal["pcc_bill"].sum())
            out["supplier_margin"] = float(bal["supplier_margin"].sum())
        return out

    @classmethod
    def restore(
        cls, stored: Mapping, imbalance: np.ndarray, retail: np.ndarray, feed_in: np.ndarray
    ) -> ForecastOutcome:
        """Rebuild from :meth:`summary` (``result.json``) and the stored imbalance series."""
        errors = {k: dict(v) for k, v in dict(stored.get("errors", {})).items()}
        return cls(str(stored["forecaster"]), dict(stored.get("options", {})), imbalance, retail, feed_in, errors)


def settle_forecast(
    community: Community, view: Community, forecaster: str, options: ForecastOptions | Mapping | None = None
) -> ForecastOutcome:
    """Forecast errors and the per-member imbalance of a forecast view.

    The battery schedule (and any ``load_delta``) is the same in the plan and in reality,
    so the imbalance ``δ = realised − planned`` is ``(actual load − generation) −
    (forecast load − generation)`` and does not depend on the controller.

    Parameters
    ----------
    community : Community
        The actual community.
    view : Community
        Its forecast view (:func:`forecast_view`).
    forecaster : str
    options : ForecastOptions or mapping, optional

    Returns
    -------
    ForecastOutcome
    """
    opts = options if isinstance(options, ForecastOptions) else ForecastOptions.from_mapping(options)
    err_load = _errors_of(view.load, community.load)[0]
    err_gen = _errors_of(view.generation, community.generation)[0]
    imbalance = community.load - view.load
    imbalance -= community.generation
    imbalance += view.generation  # δ = actual net − forecast net, kWh
    err_net = _errors_of(imbalance)[0]  # forecast − actual net = −δ: the same magnitudes
    errors = {"load": err_load, "generation": err_gen, "net": err_net}
    return ForecastOutcome(
        check_forecaster(forecaster), opts.as_dict(), imbalance, community.retail, community.feed_in, errors
    )


def _errors_of(
    forecast: np.ndarray, actual: np.ndarray | None = None, block: int = 4096
) -> tuple[dict[str, float], np.ndarray, np.ndarray]:
    """MAE/RMSE of ``forecast − actual`` (or of ``forecast`` alone as the error), ``(T, S)``.

    Returns the errors of every series averaged over series and steps and of the summed series
    (``community_*``), and the per-series MAE and RMSE. Reduced in row blocks (no ``(T, S)`` temporaries).
    """
    T, S = forecast.shape
    if T == 0 or S == 0:
        z = np.zeros(S)
        return {"mae": 0.0, "rmse": 0.0, "community_mae": 0.0, "community_rmse": 0.0}, z, z
    abs_sum = np.zeros(S)
    sq_sum = np.zeros(S)
    c_abs = c_sq = 0.0
    for start in range(0, T, block):
        rows = slice(start, min(start + block, T))
        e = forecast[rows] if actual is None else forecast[rows] - actual[rows]
        abs_sum += np.abs(e).sum(axis=0)
        sq_sum += np.einsum("ts,ts->s", e, e)
        ce = e.sum(axis=1)
        c_abs += float(np.abs(ce).sum())
        c_sq += float(ce @ ce)
    stats = {
        "mae": float(abs_sum.sum() / (T * S)),
        "rmse": float(np.sqrt(sq_sum.sum() / (T * S))),
        "community_mae": c_abs / T,
        "community_rmse": float(np.sqrt(c_sq / T)),
    }
    return stats, abs_sum / T, np.sqrt(sq_sum / T)


def plan_view(
    community: Community,
    forecaster: str = "perfect",
    options: ForecastOptions | Mapping | None = None,
    *,
    faults: bool = False,
) -> tuple[Community, Callable[[], ForecastOutcome | None]]:
    """The community the controllers plan on, and a function that settles the forecast afterwards.

    Used by :func:`peergrid.compare`. Validates the forecaster and its options before any work.

    Parameters
    ----------
    community : Community
    forecaster : str
    options : ForecastOptions or mapping, optional
    faults : bool
        Whether faults are injected in the same run (not combinable with forecasts).

    Returns
    -------
    plan : Community
        ``community`` itself with ``"perfect"`` (today's behaviour), else its forecast view.
    settle : callable
        ``settle() -> ForecastOutcome | None`` (None with ``"perfect"``).
    """
    name = check_forecaster(forecaster)
    opts = options if isinstance(options, ForecastOptions) else ForecastOptions.from_mapping(options)
    if name == "perfect":
        return community, lambda: None
    if faults:
        raise ConfigError(
            f"forecaster {name!r} cannot be combined with injected faults (both settle an imbalance); "
            "run them separately"
        )
    view = forecast_view(community, name, opts)
    return view, lambda: settle_forecast(community, view, name, opts)
