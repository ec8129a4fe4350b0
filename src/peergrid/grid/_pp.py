"""Lazy access to pandapower (an optional dependency, ~2.5 s to import).

``peergrid.grid`` imports pandapower only when a function needs it, so that
``import peergrid`` stays fast and the pure-array helpers (:func:`line_paths`,
:func:`line_utilisation_fee`) work on any ``pandapowerNet``-like dict of tables.
"""

from __future__ import annotations

import importlib.util
from functools import cache
from types import ModuleType

#: Table in a pandapower net where peergrid records which load belongs to which participant.
PARTICIPANTS_KEY = "peergrid_participants"


@cache
def pandapower() -> ModuleType:
    """Return the imported :mod:`pandapower` module, or raise a one-line ImportError."""
    try:
        import pandapower as pp
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "peergrid.grid needs pandapower: pip install 'peergrid[grid]' (or pip install pandapower)"
        ) from exc
    module: ModuleType = pp  # pandapower ships no type information
    return module


@cache
def has_numba() -> bool:
    """Whether numba is importable (pandapower JIT kernels: 1.3–2.5x faster per slot once compiled)."""
    return importlib.util.find_spec("numba") is not None
