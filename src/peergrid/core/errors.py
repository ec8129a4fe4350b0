"""The peergrid exception hierarchy.

Every error a user can cause derives from :class:`PeergridError`; the CLI turns it
into one line on stderr and exit code 2, the service into a 4xx JSON body.
"""

from __future__ import annotations


class PeergridError(Exception):
    """Base class of every error peergrid raises on purpose."""


class ConfigError(PeergridError, ValueError):
    """A scenario or configuration value is missing, unknown or out of range."""


class DataError(PeergridError, ValueError):
    """Input data is malformed: NaN, wrong shape, gaps or duplicates in the index."""


class ModelError(PeergridError, ValueError):
    """A model was called with physically meaningless parameters."""
