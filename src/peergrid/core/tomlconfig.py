"""Configuration files: read a TOML file and validate it with a pydantic model, one-line errors.

The scenario files (:mod:`peergrid.simulate.scenario`), the federation
configurations (:mod:`peergrid.federation.config`) and the sweep specifications
(:mod:`peergrid.federation.sweep`) share these rules, so a bad file gives the same
kind of message everywhere: ``<file>: <key>: <problem>`` as one
:class:`~peergrid.core.errors.ConfigError` line, never a traceback.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from peergrid.core.errors import ConfigError

__all__ = ["format_loc", "read_toml", "validate_model"]

M = TypeVar("M", bound=BaseModel)


def read_toml(path: str | Path, what: str = "file") -> dict[str, Any]:
    """Parse a TOML file.

    Parameters
    ----------
    path : str or pathlib.Path
    what : str
        What the file is, for the "not found" message (``"scenario file"``).

    Returns
    -------
    dict

    Raises
    ------
    ConfigError
        ``<path>: <what> not found``, ``<path>: cannot read (...)`` (unreadable or not
        UTF-8) or ``<path>: malformed TOML (...)``.
    """
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{p}: {what} not found")
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: cannot read ({exc})") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: malformed TOML ({exc})") from None


def format_loc(loc: tuple[int | str, ...], *, tables: bool = False) -> str:
    """A pydantic error location as the key a user wrote.

    List positions are dropped and ``from_`` (a Python keyword's field name) is shown
    as ``from``. ``tables=False`` joins with dots (``overlay.view``); ``tables=True``
    names the TOML table (``[community].households``). ``""`` for the top level.
    """
    parts = ["from" if p == "from_" else str(p) for p in loc if not isinstance(p, int)]
    if tables and len(parts) > 1:
        return f"[{'.'.join(parts[:-1])}].{parts[-1]}"
    return ".".join(parts)


def validate_model(model: type[M], data: object, origin: str, *, tables: bool = False) -> M:
    """Validate ``data`` with a pydantic ``model``; the first error becomes one ConfigError line.

    Parameters
    ----------
    model : type of pydantic.BaseModel
    data : object
        Parsed file content.
    origin : str
        File name for the message.
    tables : bool
        Key style of :func:`format_loc`.

    Returns
    -------
    model instance

    Raises
    ------
    ConfigError
        ``<origin>: <key>: <problem>`` (``unknown key`` for keys the model forbids;
        without the key part for an error of the whole file).
    """
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        unknown = err["type"] in ("extra_forbidden", "unexpected_keyword_argument")  # models, dataclasses
        msg = "unknown key" if unknown else err["msg"].removeprefix("Value error, ")
        loc = format_loc(err["loc"], tables=tables)
        raise ConfigError(f"{origin}: {loc}: {msg}" if loc else f"{origin}: {msg}") from None
