"""Day-ahead forecasters (peergrid.simulate.forecasting): hand-computed cases, no look-ahead, seeding."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from peergrid.core.errors import ConfigError
from peergrid.forecast.federated import ClientData, fedavg
from peergrid.forecast.ridge import lag_features
from peergrid.simulate.forecasting import (
    FORECASTERS,
    ForecastOptions,
    _day_features,
    _fedavg_round,
    _local_update,
    _Window,
    forecast_series,
    forecast_view,
    steps_per_day,
)


def test_persistence_is_yesterday_and_zero_on_day_zero():
    x = np.arange(10.0)[:, None] + 1.0  # B = 2 steps per day
    out = forecast_series(x, 2, "persistence")
    np.testing.assert_array_equal(out[:, 0], [0, 0, 1, 2, 3, 4, 5, 6, 7, 8])


def test_persistence_last_week_falls_back_to_yesterday():
    x = np.arange(10.0)[:, None] + 1.0
    out = forecast_series(x, 2, "persistence", ForecastOptions(season_days=2, min_train_days=1, train_days=0))
    # days 0: nothing; day 1: yesterday (no day two days back yet); from day 2: two days back
    np.testing.assert_array_equal(out[:, 0], [0, 0, 1, 2, 1, 2, 3, 4, 5, 6])


def test_perfect_is_the_data():
    x = np.random.default_rng(0).random((48, 3))
    np.testing.assert_array_equal(forecast_series(x, 24, "perfect"), x)


def test_steps_per_day():
    assert steps_per_day(0.25) == 96 and steps_per_day(1.0) == 24 and steps_per_day(2.5) == 10
    assert steps_per_day(48.0) == 1


def test_day_features_are_the_ridge_lag_features():
    x = np.random.default_rng(1).random((24 * 10, 3))
    X_all, _ = lag_features(x, 24)  # targets from day 7, step-major then series
    X_all = X_all.reshape(-1, 3, X_all.shape[1])
    for d in (7, 8, 9):
        np.testing.assert_allclose(_day_features(x, 24, 24 * d, 24 * (d + 1)), X_all[24 * (d - 7) : 24 * (d - 6)])


def test_ridge_learns_a_daily_pattern_exactly():
    B = 24
    day = 1.0 + np.sin(np.linspace(0, 2 * np.pi, B, endpoint=False)) ** 2
    x = np.column_stack([np.tile(day, 30), 2.0 * np.tile(day, 30), np.zeros(30 * B)])
    out = forecast_series(x, B, "ridge", ForecastOptions(alpha=1e-9))
    used = slice(14 * B, None)  # lag features from day 7, 7 training days
    np.testing.assert_allclose(out[used], x[used], atol=1e-5)
    assert np.all(out[:, 2] == 0.0)  # no generation ever: none forecast


def test_fedavg_learns_a_daily_pattern():
    B = 24
    day = 1.0 + np.sin(np.linspace(0, 2 * np.pi, B, endpoint=False)) ** 2
    x = np.column_stack([np.tile(day, 40), np.tile(day, 40)])
    out = forecast_series(x, B, "fedavg")
    err = np.abs(out[30 * B :] - x[30 * B :]).mean()
    assert err < 0.05 * x.mean()
    pers = np.abs(forecast_series(x, B, "persistence")[30 * B :] - x[30 * B :]).mean()
    assert pers == pytest.approx(0.0)  # periodic: persistence is exact, FedAvg close to it


def test_fedavg_rounds_are_peergrid_fedavg():
    """The vectorised round on sufficient statistics equals peergrid.forecast.federated.fedavg."""
    rng = np.random.default_rng(3)
    B, S = 8, 4
    x = rng.random((B * 12, S))
    win = _Window(S, 9, 0)
    X, y = [], []
    for t0 in range(7 * B, 12 * B, B):
        Xd = _day_features(x, B, t0, t0 + B)
        win.add(Xd, x[t0 : t0 + B])
        X.append(Xd)
        y.append(x[t0 : t0 + B])
    X, y = np.concatenate(X), np.concatenate(y)
    clients = [ClientData(X[:, s], y[:, s], X[:0, s], y[:0, s], str(s)) for s in range(S)]
    opts = ForecastOptions(rounds=3, local_steps=4, alpha=1e-3, server_momentum=0.9)
    lr = 0.01
    w0 = rng.normal(size=9)
    ref, _ = fedavg(clients, rounds=3, local_steps=4, lr=lr, alpha=1e-3, init=w0, server_momentum=0.9)
    P, q = _local_update(win, np.arange(S), opts, lr)
    w, v = w0.copy(), np.zeros(9)
    for _ in range(3):
        w, v = _fedavg_round(w, v, P, q, 0.9)
    np.testing.assert_allclose(w, ref.weights, rtol=1e-10, atol=1e-12)


def test_fedavg_is_seeded():
    x = np.random.default_rng(4).random((24 * 20, 10))
    opts = {"client_fraction": 0.5, "rounds": 3}
    a = forecast_series(x, 24, "fedavg", ForecastOptions(seed=1, **opts))
    b = forecast_series(x, 24, "fedavg", ForecastOptions(seed=1, **opts))
    c = forecast_series(x, 24, "fedavg", ForecastOptions(seed=2, **opts))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@settings(max_examples=25, deadline=None)
@given(
    method=st.sampled_from(["persistence", "ridge", "fedavg"]),
    day=st.integers(1, 17),
    seed=st.integers(0, 1000),
    season=st.sampled_from([1, 7]),
)
def test_no_look_ahead(method, day, seed, season):
    """Perturbing the data from day d on leaves every forecast up to and including day d unchanged."""
    B = 6
    rng = np.random.default_rng(seed)
    x = rng.random((B * 18, 3))
    opts = ForecastOptions(season_days=season, min_train_days=2, train_days=4, rounds=2)
    before = forecast_series(x, B, method, opts)
    y = x.copy()
    y[day * B :] = rng.random(y[day * B :].shape) * 5.0
    after = forecast_series(y, B, method, opts)
    np.testing.assert_array_equal(before[: (day + 1) * B], after[: (day + 1) * B])
    assert np.all(after >= 0.0)


def test_forecast_view_replaces_load_and_generation_only():
    from peergrid.data import synthetic_community

    com = synthetic_community(6, periods=24 * 3, freq="1h", seed=2)
    assert forecast_view(com, "perfect") is com
    view = forecast_view(com, "persistence")
    np.testing.assert_array_equal(view.load[24:], com.load[:-24])
    np.testing.assert_array_equal(view.generation[24:], com.generation[:-24])
    assert view.participants is com.participants and view.retail is com.retail
    assert com.load.sum() > 0 and view.load[:24].sum() == 0.0  # the community is untouched


def test_unknown_names_are_rejected_by_name():
    with pytest.raises(ConfigError, match=r"unknown forecaster 'oracle'.*perfect, persistence, ridge, fedavg"):
        forecast_series(np.zeros((4, 1)), 2, "oracle")
    with pytest.raises(ConfigError, match="unknown forecast option 'windw'"):
        ForecastOptions.from_mapping({"windw": 3})
    with pytest.raises(ConfigError, match="client_fraction"):
        ForecastOptions(client_fraction=0.0)
    with pytest.raises(ConfigError, match="train_days"):
        ForecastOptions(train_days=3, min_train_days=7)
    assert FORECASTERS == ("perfect", "persistence", "ridge", "fedavg")
