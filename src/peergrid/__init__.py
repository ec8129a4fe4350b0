"""peergrid — peer-to-peer energy trading for local energy communities.

Five lines to a study of a real community::

    import peergrid
    from peergrid.data import citylearn_community
    community = citylearn_community()
    results = peergrid.compare(community, markets=["baseline", "bs", "mmr", "sdr"])
    print(results.metrics()[["self_sufficiency", "cost_reduction", "pm"]])
"""

from peergrid.core.community import Community
from peergrid.core.errors import ConfigError, DataError, ModelError, PeergridError
from peergrid.simulate import Comparison, Result, compare, simulate

__version__ = "0.1.0"

__all__ = [
    "Community",
    "Comparison",
    "ConfigError",
    "DataError",
    "ModelError",
    "PeergridError",
    "Result",
    "__version__",
    "compare",
    "simulate",
]
