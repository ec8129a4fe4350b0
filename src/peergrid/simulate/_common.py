"""Helpers shared by :mod:`peergrid.simulate` and the layers above it (public names, private module)."""

from __future__ import annotations

from typing import Any


def drop_none(value: Any) -> Any:
    """``value`` without ``None`` entries in its (nested) dicts; lists are walked, other values kept.

    Examples
    --------
    >>> drop_none({"a": 1, "b": None, "c": [{"d": None, "e": 2}]})
    {'a': 1, 'c': [{'e': 2}]}
    """
    if isinstance(value, dict):
        return {k: drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [drop_none(v) for v in value]
    return value
