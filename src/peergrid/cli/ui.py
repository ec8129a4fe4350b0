"""Terminal output of the ``peergrid`` CLI: consoles, tables that fit, progress stages.

* :func:`out_console` prints to stdout at the terminal's width (``COLUMNS`` when set,
  80 when stdout is not a terminal), so nothing is ever cut by the terminal.
* :func:`print_fitted` prints a table of records (rows) × fields (columns) as it is
  when it fits the width, transposed (fields as rows, records as columns) when it does
  not, and split into several transposed tables (a few records each) when even that is
  too wide. Cells are never cut.
* :class:`Stages` shows named steps with their elapsed time on a terminal (a rich
  spinner or bar, then one ``✓ step  1.2 s`` line per finished step on stderr) and
  prints nothing under ``--json`` or when stderr is not a terminal.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

__all__ = ["Stages", "err_console", "fit_table", "format_kv", "interactive", "out_console", "print_fitted"]

err_console = Console(stderr=True)
"""Console on stderr (messages, progress); resolves ``sys.stderr`` at write time."""


def interactive() -> bool:
    """Whether progress may be drawn: stderr is a terminal."""
    return sys.stderr.isatty()


def out_console() -> Console:
    """A console on stdout at the terminal width (``COLUMNS`` if set; 80 when not a terminal)."""
    return Console(highlight=False)


def _measure(table: Table, console: Console) -> int:
    """Width (characters) ``table`` needs to print without wrapping any cell."""
    from rich.measure import Measurement

    wide = console.options.update_width(10_000)
    return Measurement.get(console, wide, table).maximum


def _table(title: str | None, header: Sequence[str], rows: Sequence[Sequence[str]], left: int = 1) -> Table:
    table = Table(title=title, header_style="bold")
    for k, name in enumerate(header):
        table.add_column(name, justify="left" if k < left else "right")
    for row in rows:
        table.add_row(*row)
    return table


def fit_table(
    title: str | None,
    key: str,
    fields: Sequence[str],
    records: Sequence[tuple[str, Sequence[str]]],
    width: int,
    console: Console | None = None,
) -> list[Table]:
    """Tables showing ``records`` × ``fields`` within ``width`` characters.

    Parameters
    ----------
    title : str or None
        Title of the (first) table.
    key : str
        Header of the record-name column (e.g. ``"market"``).
    fields : sequence of str
        Column headers of the values.
    records : sequence of (name, values)
        One row per record, ``len(values) == len(fields)``, already formatted.
    width : int
        Available width (characters).
    console : rich.console.Console, optional
        Used to measure (default: a fresh one).

    Returns
    -------
    list of rich.table.Table
        One wide table if it fits; else one transposed table (``key`` values as columns)
        if that fits; else transposed tables of as many records as fit each (at least one).
    """
    console = console or Console()
    wide = _table(title, [key, *fields], [(name, *vals) for name, vals in records])
    if _measure(wide, console) <= width:
        return [wide]

    def transposed(chunk: Sequence[tuple[str, Sequence[str]]], t: str | None) -> Table:
        header = ["", *(name for name, _ in chunk)]
        rows = [(f, *(vals[i] for _, vals in chunk)) for i, f in enumerate(fields)]
        return _table(t, header, rows)

    tables: list[Table] = []
    start = 0
    while start < len(records):
        n = 1
        while start + n < len(records):
            if _measure(transposed(records[start : start + n + 1], title), console) > width:
                break
            n += 1
        tables.append(transposed(records[start : start + n], title if start == 0 else None))
        start += n
    return tables


def print_fitted(
    title: str | None,
    key: str,
    fields: Sequence[str],
    records: Sequence[tuple[str, Sequence[str]]],
    console: Console | None = None,
) -> None:
    """Print ``records`` × ``fields`` fitted to the console width (see :func:`fit_table`)."""
    console = console or out_console()
    for table in fit_table(title, key, fields, records, console.width, console):
        console.print(table)


def _percent_column() -> Any:
    from rich.progress import ProgressColumn
    from rich.text import Text

    class PercentColumn(ProgressColumn):
        """``42%`` for a step with a known total, nothing for a spinner step."""

        def render(self, task: Any) -> Text:
            return Text(f"{task.percentage:>3.0f}%" if task.total is not None else "    ")

    return PercentColumn()


class Stages:
    """Named steps of a long command with their elapsed time; silent unless ``enabled`` on a terminal.

    One step runs at a time: :meth:`start` ends the running step (printing ``✓ name  1.2 s``
    on stderr) and starts the next one, shown as a spinner (or a progress bar when
    ``total`` is given, advanced by :meth:`advance`) with its elapsed time. Use it as a
    context manager: leaving it ends the last step; an exception ends it without a ✓.

    Parameters
    ----------
    enabled : bool
        ``False`` under ``--json``; progress is drawn only when stderr is a terminal too.
    """

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled and interactive()
        self.t0 = time.monotonic()
        self.seconds: dict[str, float] = {}
        """Seconds per finished step, in order (recorded also when nothing is shown)."""
        self._progress: Any = None
        self._task: Any = None
        self._name: str | None = None
        self._t = 0.0

    def __enter__(self) -> Stages:
        return self

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        if exc_type is None:
            self.end()
        self._name = None
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def start(self, name: str, total: int | None = None) -> None:
        """End the running step and start step ``name`` (``total`` units of work, or unknown)."""
        self.end()
        self._name, self._t = name, time.monotonic()
        if not self.enabled:
            return
        if self._progress is None:
            from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            self._progress = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                BarColumn(),
                _percent_column(),
                TimeElapsedColumn(),
                console=err_console,
                transient=True,
            )
            self._progress.start()
        self._task = self._progress.add_task(name, total=total)

    def advance(self, done: int) -> None:
        """Set the units of work done in the running step (a ``progress`` callback)."""
        if self._task is not None:
            self._progress.update(self._task, completed=done)

    def describe(self, text: str) -> None:
        """Show ``text`` after the running step's name."""
        if self._task is not None:
            self._progress.update(self._task, description=f"{self._name}: {text}")

    def end(self) -> None:
        """End the running step (no-op if none)."""
        if self._name is None:
            return
        self.seconds[self._name] = s = time.monotonic() - self._t
        if self._task is not None:
            self._progress.remove_task(self._task)
            self._task = None
            self._progress.console.print(f"[green]✓[/] {escape(self._name)}  [dim]{s:.1f} s[/]", highlight=False)
        self._name = None

    @contextlib.contextmanager
    def stage(self, name: str, total: int | None = None) -> Iterator[Callable[[int], None]]:
        """Run one step in a ``with`` block; yields :meth:`advance`."""
        self.start(name, total)
        yield self.advance
        self.end()

    def finish(self, message: str | None = None) -> None:
        """End the running step and print the total elapsed time (and ``message``) when enabled."""
        self.end()
        if self.enabled:
            total = time.monotonic() - self.t0
            err_console.print(f"done in {total:.1f} s" + (f": {escape(message)}" if message else ""), highlight=False)


def format_kv(items: Sequence[tuple[str, Any]]) -> Table:
    """A two-column ``name  value`` table (summaries printed without ``--json``)."""
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    for k, v in items:
        table.add_row(str(k), "–" if v is None else str(v))
    return table
