"""Set-based bulk writes: one statement per table however many rows (PostgreSQL), executemany on SQLite.

On PostgreSQL, inserts use ``COPY … FROM STDIN`` (the fastest bulk path) and updates send one
array per column expanded with ``unnest`` — ``UPDATE t SET … FROM unnest(:c1::bigint[], …) AS v
WHERE t.id = v.id`` — so 10,000 rows cost one statement and no per-row SQL compilation.
SQLite runs in-process, where ``executemany`` is already fast.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from peergrid.service.db import is_postgres
from peergrid.service.models import UTCDateTime

_PG = postgresql.dialect()


def _pg_type(col: sa.Column) -> str:
    return col.type.compile(dialect=_PG) + "[]"


def _convert(col: sa.Column, values: list[Any]) -> list[Any]:
    if isinstance(col.type, UTCDateTime):
        return [None if v is None else v.astimezone(dt.UTC).replace(tzinfo=None) for v in values]
    return values


def array_literal(items: Iterable[str | None], quote: bool = False) -> str:
    """A PostgreSQL array literal (``{a,b,NULL}``) of text items, for ``CAST(CAST(:p AS text) AS type[])``.

    Without ``quote`` the items must need no quoting (numbers, ISO times, fixed words); with it
    every item is double-quoted with ``\\`` and ``"`` escaped, and ``None`` is ``NULL``, so any text
    is safe.

    >>> array_literal(["1", "2"]), array_literal(["{x,y}", None], quote=True)
    ('{1,2}', '{"{x,y}",NULL}')
    """
    if not quote:
        return "{" + ",".join(items) + "}"  # type: ignore[arg-type]
    return "{" + ",".join(
        "NULL" if x is None else '"' + x.replace("\\", "\\\\").replace('"', '\\"') + '"' for x in items
    ) + "}"


def insert_rows(session: Session, table: sa.Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert ``rows`` (dicts with the same keys) into ``table``."""
    if not rows:
        return
    if not is_postgres(session):
        session.execute(sa.insert(table), list(rows))
        return
    cols = list(rows[0])
    conv = [isinstance(table.c[c].type, UTCDateTime) for c in cols]
    names = ", ".join(f'"{c}"' for c in cols)
    raw = session.connection().connection.driver_connection  # the psycopg connection, same transaction
    with raw.cursor() as cur, cur.copy(f'COPY "{table.name}" ({names}) FROM STDIN') as copy:
        for r in rows:
            copy.write_row([_naive(r[c]) if cv else r[c] for c, cv in zip(cols, conv, strict=True)])


def _naive(v: dt.datetime | None) -> dt.datetime | None:
    return None if v is None else v.astimezone(dt.UTC).replace(tzinfo=None)


def update_rows(session: Session, table: sa.Table, rows: Sequence[dict[str, Any]], cols: Sequence[str],
                key: str = "id", increment: bool = False, only_if: dict[str, Any] | None = None) -> int:
    """``UPDATE table SET col = row[col] (or col + row[col] with increment) WHERE key = row[key]`` for every row.

    ``only_if`` adds ``AND column = value`` conditions (e.g. ``{"status": "open"}``: optimistic
    concurrency). Returns the number of rows updated.
    """
    if not rows:
        return 0
    only_if = only_if or {}
    if not is_postgres(session):
        values = {c: (table.c[c] + sa.bindparam(f"v_{c}")) if increment else sa.bindparam(f"v_{c}") for c in cols}
        cond = [table.c[key] == sa.bindparam("k")] + [table.c[c] == sa.bindparam(f"w_{c}") for c in only_if]
        stmt = sa.update(table).where(*cond).values(values)
        result = session.execute(stmt, [{"k": r[key], **{f"v_{c}": r[c] for c in cols},
                                         **{f"w_{c}": v for c, v in only_if.items()}} for r in rows])
        return int(result.rowcount)
    allc = [key, *cols]
    params = {f"p{i}": _convert(table.c[c], [r[c] for r in rows]) for i, c in enumerate(allc)}
    arrays = ", ".join(f"CAST(:p{i} AS {_pg_type(table.c[c])})" for i, c in enumerate(allc))
    alias = ", ".join(f'"{c}"' for c in allc)
    sets = ", ".join(f'"{c}" = t."{c}" + v."{c}"' if increment else f'"{c}" = v."{c}"' for c in cols)
    extra = "".join(f' AND t."{c}" = :w{i}' for i, c in enumerate(only_if))
    params.update({f"w{i}": v for i, v in enumerate(only_if.values())})
    result = session.execute(sa.text(f'UPDATE "{table.name}" AS t SET {sets} FROM unnest({arrays}) AS v({alias}) '
                                     f'WHERE t."{key}" = v."{key}"{extra}'), params)
    return int(result.rowcount)
