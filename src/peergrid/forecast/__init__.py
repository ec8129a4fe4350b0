"""Federated net-load forecasting: ridge regression in numpy, FedAvg, local and centralised baselines.

Each client (a gateway agent, :mod:`peergrid.zoom.agents`) holds the net-load
series of its own virtual microgrid; :func:`fedavg` trains one shared linear model
by exchanging only weight vectors (McMahan et al. 2017), and
:func:`compare_training` scores it against local-only and centralised training on
MAE.
"""

from peergrid.forecast.federated import (
    ClientData,
    TrainingComparison,
    centralised_fit,
    client_from_series,
    compare_training,
    fedavg,
    local_fits,
    local_sgd,
)
from peergrid.forecast.ridge import LinearModel, lag_features, mae, ridge_fit

__all__ = [
    "ClientData",
    "LinearModel",
    "TrainingComparison",
    "centralised_fit",
    "client_from_series",
    "compare_training",
    "fedavg",
    "lag_features",
    "local_fits",
    "local_sgd",
    "mae",
    "ridge_fit",
]
