"""peergrid — peer-to-peer energy trading for local energy communities."""

from peergrid.core.community import Community
from peergrid.core.errors import ConfigError, DataError, ModelError, PeergridError

__version__ = "0.1.0"

__all__ = ["Community", "ConfigError", "DataError", "ModelError", "PeergridError", "__version__"]
