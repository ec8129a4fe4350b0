"""Ridge forecaster and FedAvg (peergrid.forecast)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from peergrid.core.errors import ConfigError, DataError
from peergrid.forecast import (
    ClientData,
    LinearModel,
    centralised_fit,
    client_from_series,
    compare_training,
    fedavg,
    lag_features,
    local_fits,
    local_sgd,
    ridge_fit,
)
from peergrid.forecast.ridge import n_features


def _series(days: int, spd: int, seed: int, scale: float = 1.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(days * spd)
    return scale * (1.0 + np.sin(2 * np.pi * t / spd)) + 0.1 * rng.normal(size=t.shape)


def test_lag_features_hand_values():
    spd = 4
    x = np.arange(40, dtype=float)
    X, y = lag_features(x, spd)
    assert X.shape == (40 - 28, n_features())
    # first target is step 28: lags 1, 2, 7 days = steps 24, 20, 0; previous-day mean = mean(x[21..24])
    assert y[0] == 28
    np.testing.assert_allclose(X[0, :4], [24, 20, 0, np.mean([21, 22, 23, 24])])
    assert X[0, -1] == 1.0
    # two series stacked step-major
    X2, y2 = lag_features(np.column_stack([x, 2 * x]), spd)
    assert X2.shape[0] == 2 * X.shape[0] and y2[:2].tolist() == [28.0, 56.0]
    with pytest.raises(DataError):
        lag_features(np.arange(20.0), spd)


def test_ridge_recovers_linear_relation():
    rng = np.random.default_rng(0)
    X = np.column_stack([rng.normal(size=(500, 3)), np.ones(500)])
    w = np.array([0.5, -1.0, 2.0, 0.3])
    np.testing.assert_allclose(ridge_fit(X, X @ w, alpha=0.0), w, atol=1e-10)


@settings(max_examples=25, deadline=None)
@given(k=st.integers(1, 6), rounds=st.integers(1, 5), steps=st.integers(1, 4), seed=st.integers(0, 1000))
def test_fedavg_of_identical_clients_equals_each_client(k, rounds, steps, seed):
    c = client_from_series(_series(10, 8, seed), 8, 1)
    fed, _ = fedavg([c] * k, rounds=rounds, local_steps=steps, lr=0.05)
    # the same schedule on one client alone: w_{r+1} = local_sgd(w_r)
    w = np.zeros(n_features())
    for _ in range(rounds):
        w = local_sgd(LinearModel(w), c.X_train, c.y_train, steps, 0.05)
    np.testing.assert_allclose(fed.weights, w, rtol=1e-12, atol=1e-12)


def test_fedavg_one_local_step_is_centralised_gradient_descent():
    clients = [client_from_series(_series(10, 8, s, scale=1 + s), 8, 1) for s in range(3)]
    fed, _ = fedavg(clients, rounds=7, local_steps=1, lr=0.01)
    X = np.vstack([c.X_train for c in clients])
    y = np.concatenate([c.y_train for c in clients])
    m = LinearModel.zeros()
    for _ in range(7):
        m.weights = m.weights - 0.01 * m.gradient(X, y)
    np.testing.assert_allclose(fed.weights, m.weights, atol=1e-12)


def test_fedavg_converges_to_centralised_ridge():
    clients = [client_from_series(_series(14, 24, s, scale=1 + 0.5 * s), 24, 1) for s in range(4)]
    fed, hist = fedavg(clients, rounds=3000, local_steps=1, server_momentum=0.9)
    cen = centralised_fit(clients)
    X = np.vstack([c.X_test for c in clients])
    np.testing.assert_allclose(fed.predict(X), cen.predict(X), atol=2e-3)
    assert hist[-1] <= hist[0]


def test_compare_training_and_errors():
    clients = [client_from_series(_series(14, 24, s, scale=1 + s), 24, 2, name=f"c{s}") for s in range(3)]
    comp, _ = compare_training(clients, rounds=200, local_steps=1)
    d = comp.as_dict()
    assert all(np.isfinite(v) for v in d.values())
    # clients with different scales: a local model fits its own client at least as well on training data
    loc = local_fits(clients)
    cen = centralised_fit(clients)
    for c, lm in zip(clients, loc, strict=True):
        res_l = np.mean((lm.predict(c.X_train) - c.y_train) ** 2)
        res_c = np.mean((cen.predict(c.X_train) - c.y_train) ** 2)
        assert res_l <= res_c + 1e-12
    with pytest.raises(DataError):
        fedavg([])
    with pytest.raises(ConfigError):
        fedavg(clients, rounds=0)
    with pytest.raises(ConfigError):
        fedavg(clients, server_momentum=1.0)
    empty = ClientData(np.zeros((0, n_features())), np.zeros(0), np.zeros((0, n_features())), np.zeros(0))
    with pytest.raises(DataError):
        fedavg([empty])
