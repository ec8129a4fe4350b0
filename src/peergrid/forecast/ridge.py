"""A small day-ahead net-load forecaster: linear model on lagged values and time of day.

Features for predicting x_t (one series, one value per step, ``spd`` steps per day):

* x_{t−spd}, x_{t−2·spd}, x_{t−7·spd} — same time 1, 2 and 7 days earlier
  (lags ≥ one day, so the whole next day can be forecast at once);
* the mean of the previous day, mean(x_{t−2·spd+1 … t−spd});
* sin/cos of the first two harmonics of the time of day;
* a bias.

The model is ridge regression, w = argmin ‖Xw − y‖² / n + α‖w‖² (bias not
penalised), solved in closed form (:func:`ridge_fit`) or by gradient descent
(:meth:`LinearModel.gradient`, used by FedAvg). Hastie, Tibshirani, Friedman,
*The Elements of Statistical Learning*, 2nd ed., eq. 3.44.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from peergrid.core.errors import DataError

__all__ = ["LAGS_DAYS", "LinearModel", "lag_features", "mae", "n_features", "ridge_fit"]

#: Lags in days of the lag features.
LAGS_DAYS = (1, 2, 7)


def n_features() -> int:
    """Number of columns of :func:`lag_features` (lags, day mean, 4 harmonics, bias)."""
    return len(LAGS_DAYS) + 1 + 4 + 1


def lag_features(series: np.ndarray, steps_per_day: int, start: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Design matrix and targets of one or several series.

    Parameters
    ----------
    series : numpy.ndarray
        ``(T,)`` or ``(T, S)`` values per step (e.g. net load per member, kWh);
        step 0 is at midnight.
    steps_per_day : int
        Steps per day (96 at 15 min).
    start : int, optional
        First target step (default: the first step with all lags, 7 days).

    Returns
    -------
    X : numpy.ndarray
        ``(n, F)`` features, rows ordered step-major then series.
    y : numpy.ndarray
        ``(n,)`` targets.
    """
    x = np.asarray(series, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2 or not np.all(np.isfinite(x)):
        raise DataError("series must be a finite (T,) or (T, S) array")
    spd = int(steps_per_day)
    if spd < 1:
        raise DataError(f"steps_per_day must be >= 1, got {steps_per_day}")
    T, S = x.shape
    first = max(LAGS_DAYS) * spd
    t0 = first if start is None else max(int(start), first)
    if t0 >= T:
        raise DataError(f"need more than {max(LAGS_DAYS)} days of data ({first} steps) to build lag features, got {T}")
    t = np.arange(t0, T)
    cols = [x[t - lag * spd] for lag in LAGS_DAYS]
    csum = np.vstack([np.zeros((1, S)), np.cumsum(x, axis=0)])
    # mean of the previous whole day ending one day before t
    cols.append((csum[t - spd + 1] - csum[t - 2 * spd + 1]) / spd)
    phase = 2.0 * np.pi * (t % spd) / spd
    for h in (1, 2):
        cols.append(np.repeat(np.sin(h * phase)[:, None], S, axis=1))
        cols.append(np.repeat(np.cos(h * phase)[:, None], S, axis=1))
    cols.append(np.ones((t.shape[0], S)))
    X = np.stack(cols, axis=-1).reshape(-1, len(cols))
    y = x[t].reshape(-1)
    return X, y


def ridge_fit(X: np.ndarray, y: np.ndarray, alpha: float = 1e-5) -> np.ndarray:
    """Closed-form ridge weights (X'X/n + αI') w = X'y/n, bias (last column) unpenalised."""
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    n, F = X.shape
    if n == 0:
        raise DataError("no training samples")
    reg = np.full(F, float(alpha))
    reg[-1] = 0.0
    A = X.T @ X / n + np.diag(reg)
    return np.linalg.lstsq(A, X.T @ y / n, rcond=None)[0]


def mae(pred: np.ndarray, target: np.ndarray) -> float:
    """Mean absolute error, same unit as the data."""
    p = np.asarray(pred, dtype=np.float64)
    t = np.asarray(target, dtype=np.float64)
    return float(np.mean(np.abs(p - t))) if t.size else float("nan")


@dataclass
class LinearModel:
    """Linear forecaster y ≈ X·w with ridge penalty ``alpha`` (bias unpenalised).

    Attributes
    ----------
    weights : numpy.ndarray
        ``(F,)`` weights.
    alpha : float
        Ridge penalty.
    """

    weights: np.ndarray
    alpha: float = 1e-5

    @classmethod
    def zeros(cls, alpha: float = 1e-5) -> LinearModel:
        """All-zero model with :func:`n_features` weights."""
        return cls(np.zeros(n_features()), alpha)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Predictions X·w."""
        return np.asarray(X, dtype=np.float64) @ self.weights

    def gradient(self, X: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Gradient of ‖Xw − y‖²/n + α‖w_{:-1}‖² at the current weights."""
        n = max(X.shape[0], 1)
        g = 2.0 * X.T @ (X @ self.weights - y) / n
        reg = 2.0 * self.alpha * self.weights
        reg[-1] = 0.0
        return g + reg

    def lipschitz(self, X: np.ndarray) -> float:
        """Lipschitz constant of the gradient, 2·λ_max(X'X/n) + 2α (safe step = 1/L)."""
        n = max(X.shape[0], 1)
        return float(2.0 * np.linalg.eigvalsh(X.T @ X / n).max() + 2.0 * self.alpha)
