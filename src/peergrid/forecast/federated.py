"""FedAvg over numpy weight vectors, with local-only and centralised baselines.

FedAvg (McMahan et al., "Communication-efficient learning of deep networks from
decentralized data", AISTATS 2017, Algorithm 1): in every round the server sends
the global weights w to the clients; client k runs ``local_steps`` full-batch
gradient steps on its own data from w, giving w_k; the server sets
w ← Σ_k (n_k / n)·w_k. Only weight vectors (and the sample count n_k) leave a
client — never meter data. With one local step per round this is exactly
centralised full-batch gradient descent on the pooled data (the gradient of the
pooled loss is the n_k-weighted mean of the client gradients); with identical
clients every client's update equals the average.

flwr is not used: FedAvg over a handful of numpy arrays is a few lines, runs
in-process and offline.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from peergrid.core.errors import ConfigError, DataError
from peergrid.forecast.ridge import LinearModel, lag_features, mae, n_features, ridge_fit

__all__ = [
    "ClientData",
    "TrainingComparison",
    "centralised_fit",
    "client_from_series",
    "compare_training",
    "fedavg",
    "local_fits",
    "local_sgd",
]


@dataclass(frozen=True)
class ClientData:
    """Training and test samples of one client (a gateway's VMG).

    Attributes
    ----------
    X_train, y_train, X_test, y_test : numpy.ndarray
        Features and targets (see :func:`peergrid.forecast.ridge.lag_features`).
    name : str
    """

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    name: str = ""

    @property
    def n(self) -> int:
        """Training samples n_k."""
        return int(self.y_train.shape[0])


def client_from_series(series: np.ndarray, steps_per_day: int, test_days: int = 1, name: str = "") -> ClientData:
    """Split a client's ``(T,)`` or ``(T, S)`` series into training days and the last ``test_days`` days.

    The test targets are the last ``test_days`` days; their features only use
    data at least one day older (day-ahead forecast).
    """
    x = np.asarray(series, dtype=np.float64)
    T = x.shape[0]
    split = T - int(test_days) * int(steps_per_day)
    X, y = lag_features(x, steps_per_day)
    S = 1 if x.ndim == 1 else x.shape[1]
    first = T - y.shape[0] // S
    if split <= first:
        raise DataError(f"client {name!r}: not enough days to train before the {test_days} test day(s)")
    cut = (split - first) * S
    return ClientData(X[:cut], y[:cut], X[cut:], y[cut:], name)


def local_sgd(model: LinearModel, X: np.ndarray, y: np.ndarray, steps: int, lr: float) -> np.ndarray:
    """``steps`` full-batch gradient steps from ``model.weights``; returns the new weights."""
    m = LinearModel(model.weights.copy(), model.alpha)
    for _ in range(int(steps)):
        m.weights = m.weights - lr * m.gradient(X, y)
    return m.weights


def fedavg(
    clients: list[ClientData],
    rounds: int = 200,
    local_steps: int = 5,
    lr: float | None = None,
    alpha: float = 1e-5,
    init: np.ndarray | None = None,
    server_momentum: float = 0.0,
) -> tuple[LinearModel, list[float]]:
    """Train one linear model with FedAvg (McMahan et al. 2017, Algorithm 1, full-batch clients).

    With ``server_momentum`` β > 0 the server applies heavy-ball momentum to the
    averaged update (FedAvgM, Hsu, Qi, Brown 2019): v ← β·v + Δ̄, w ← w + v, where
    Δ̄ = Σ_k (n_k/n)·(w_k − w). β = 0 is plain FedAvg (w ← Σ_k (n_k/n)·w_k).

    Parameters
    ----------
    clients : list of ClientData
    rounds : int
        Communication rounds.
    local_steps : int
        Gradient steps per client per round (E).
    lr : float, optional
        Step size; default 1 / max_k L_k, each client reporting only its
        Lipschitz constant L_k (a scalar).
    alpha : float
        Ridge penalty.
    init : numpy.ndarray, optional
        Initial global weights (default zeros).
    server_momentum : float
        β in [0, 1).

    Returns
    -------
    model : LinearModel
        Global model after the last round.
    history : list of float
        Sample-weighted training MAE of the global model after every round.
    """
    if not clients:
        raise DataError("FedAvg needs at least one client")
    if rounds < 1 or local_steps < 1:
        raise ConfigError("rounds and local_steps must be >= 1")
    if not 0.0 <= server_momentum < 1.0:
        raise ConfigError(f"server_momentum must lie in [0, 1), got {server_momentum}")
    live = [c for c in clients if c.n > 0]
    if not live:
        raise DataError("no client has training samples")
    w = np.zeros(n_features()) if init is None else np.asarray(init, dtype=np.float64).copy()
    model = LinearModel(w, alpha)
    if lr is None:
        lr = 1.0 / max(model.lipschitz(c.X_train) for c in live)
    n = np.array([c.n for c in live], dtype=np.float64)
    share = n / n.sum()
    history: list[float] = []
    velocity = np.zeros_like(w)
    for _ in range(int(rounds)):
        updates = np.stack([local_sgd(model, c.X_train, c.y_train, local_steps, lr) for c in live])
        delta = share @ updates - model.weights
        velocity = server_momentum * velocity + delta
        model = LinearModel(model.weights + velocity, alpha)
        history.append(
            float(sum(s * mae(model.predict(c.X_train), c.y_train) for s, c in zip(share, live, strict=True)))
        )
    return model, history


def local_fits(clients: list[ClientData], alpha: float = 1e-5) -> list[LinearModel]:
    """Local-only training: every client fits its own ridge model in closed form."""
    return [LinearModel(ridge_fit(c.X_train, c.y_train, alpha), alpha) for c in clients]


def centralised_fit(clients: list[ClientData], alpha: float = 1e-5) -> LinearModel:
    """Centralised training: one ridge model on all clients' pooled data (raw data moved)."""
    X = np.vstack([c.X_train for c in clients])
    y = np.concatenate([c.y_train for c in clients])
    return LinearModel(ridge_fit(X, y, alpha), alpha)


@dataclass
class TrainingComparison:
    """Test MAE of the three training schemes (sample-weighted over clients, per-client lists)."""

    mae_local: float
    mae_federated: float
    mae_centralised: float
    mae_persistence: float
    per_client: dict[str, list[float]] = field(default_factory=dict)
    rounds: int = 0

    def as_dict(self) -> dict[str, float | int]:
        """Stable keys for JSON/CSV."""
        return {
            "mae_local": self.mae_local,
            "mae_federated": self.mae_federated,
            "mae_centralised": self.mae_centralised,
            "mae_persistence": self.mae_persistence,
            "rounds": self.rounds,
        }


def compare_training(
    clients: list[ClientData],
    rounds: int = 200,
    local_steps: int = 5,
    alpha: float = 1e-5,
    server_momentum: float = 0.9,
) -> tuple[TrainingComparison, LinearModel]:
    """Local-only vs FedAvg vs centralised ridge, scored on every client's test days.

    The persistence column is the one-day-ahead seasonal naive forecast (feature
    0, the value one day earlier) for reference.

    Returns
    -------
    comparison : TrainingComparison
    federated : LinearModel
        The FedAvg global model.
    """
    fed, _ = fedavg(clients, rounds, local_steps, alpha=alpha, server_momentum=server_momentum)
    cen = centralised_fit(clients, alpha)
    loc = local_fits(clients, alpha)
    w = np.array([c.y_test.shape[0] for c in clients], dtype=np.float64)
    w = w / w.sum() if w.sum() > 0 else w
    per = {"local": [], "federated": [], "centralised": [], "persistence": []}
    for c, lm in zip(clients, loc, strict=True):
        per["local"].append(mae(lm.predict(c.X_test), c.y_test))
        per["federated"].append(mae(fed.predict(c.X_test), c.y_test))
        per["centralised"].append(mae(cen.predict(c.X_test), c.y_test))
        per["persistence"].append(mae(c.X_test[:, 0], c.y_test))
    agg = {k: float(np.dot(w, np.nan_to_num(v))) for k, v in per.items()}
    return (
        TrainingComparison(agg["local"], agg["federated"], agg["centralised"], agg["persistence"], per, int(rounds)),
        fed,
    )
