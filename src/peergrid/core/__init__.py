"""Core: units, time index, errors, configuration models."""

from peergrid.core.errors import ConfigError, DataError, ModelError, PeergridError
from peergrid.core.timeindex import make_index, step_hours, validate_index

__all__ = [
    "ConfigError",
    "DataError",
    "ModelError",
    "PeergridError",
    "make_index",
    "step_hours",
    "validate_index",
]
