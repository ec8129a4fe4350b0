"""Which optional extra a missing module belongs to, and the one line that says how to install it.

``peergrid serve``, ``peergrid ledger`` and ``peergrid meters`` need the ``service`` extra
(FastAPI, uvicorn, SQLAlchemy, …). Without it they print
``error: the service needs the 'service' extra: pip install 'peergrid[service]'`` and exit 2
(:func:`peergrid.cli._common.handle_errors` asks :func:`missing_extra_message`).
"""

from __future__ import annotations

#: Top-level import names of the ``service`` extra's packages (pyproject.toml) and of what they pull in.
SERVICE_MODULES: frozenset[str] = frozenset({
    "fastapi", "fastapi_offline", "starlette", "uvicorn", "sqlalchemy", "alembic", "argon2", "jwt", "psycopg",
    "jinja2", "reportlab", "multipart", "python_multipart", "pydantic_settings", "dotenv",
})
SERVICE_EXTRA_MESSAGE = "the service needs the 'service' extra: pip install 'peergrid[service]'"


def missing_extra_message(exc: ModuleNotFoundError) -> str | None:
    """The install hint for a module of an optional extra that is not installed; ``None`` for any other module.

    Examples
    --------
    >>> missing_extra_message(ModuleNotFoundError("No module named 'uvicorn'", name="uvicorn"))
    "the service needs the 'service' extra: pip install 'peergrid[service]'"
    >>> missing_extra_message(ModuleNotFoundError("No module named 'nope'", name="nope")) is None
    True
    """
    top = (exc.name or "").split(".")[0]
    return SERVICE_EXTRA_MESSAGE if top in SERVICE_MODULES else None
