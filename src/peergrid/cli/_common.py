"""Helpers shared by the ``peergrid`` command modules (:mod:`peergrid.cli`): errors, output, options.

One-line errors with exit code 2 (:func:`handle_errors`), JSON on stdout (:func:`print_json`),
the default output directory (:func:`default_out`), the option types every study command
shares (``--json``, ``--quick``, ``--seed``, ``--markets``, ``--bidding``, ``--format``,
``--dpi``) and the scenario helpers of ``simulate``, ``compare``, ``invest`` and region runs.
Imports nothing of the command modules, so each of them can be imported and run alone.
"""

from __future__ import annotations

import functools
import json
import os
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from peergrid.cli.ui import Stages, err_console
from peergrid.core.errors import ConfigError, PeergridError
from peergrid.market.mechanisms import MARKETS


def fail(message: str, code: int = 2) -> None:
    """Print ``error: <message>`` on stderr (one line) and exit with ``code``.

    Raises
    ------
    typer.Exit
        Always, with ``code``.
    """
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def handle_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn peergrid and OS errors into one-line messages with exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except typer.Exit:
            raise
        except PeergridError as exc:
            fail(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError) as exc:
            fail(f"{exc.strerror or exc}: {exc.filename}" if getattr(exc, "filename", None) else str(exc))
        except ModuleNotFoundError as exc:  # an optional extra (e.g. the service's) is not installed
            from peergrid.cli.extras import missing_extra_message

            hint = missing_extra_message(exc)
            if hint is None:
                if os.environ.get("PEERGRID_DEBUG"):
                    raise
                fail(f"internal error ({type(exc).__name__}: {exc}); set PEERGRID_DEBUG=1 for a traceback", 1)
            fail(hint)
        except MemoryError:
            fail("out of memory: reduce households, the time span, or use a coarser freq", 1)
        except KeyboardInterrupt:
            fail("interrupted", 130)
        except Exception as exc:  # pragma: no cover - unexpected bugs
            if os.environ.get("PEERGRID_DEBUG"):
                raise
            fail(f"internal error ({type(exc).__name__}: {exc}); set PEERGRID_DEBUG=1 for a traceback", 1)

    return wrapper


def print_json(obj: dict) -> None:
    """Write ``obj`` as one indented JSON object on stdout (NaN refused: a bug, not output)."""
    sys.stdout.write(json.dumps(obj, indent=2, allow_nan=False) + "\n")


def jsonable(d: dict) -> dict:
    """``d`` with numpy scalars as Python numbers and other non-JSON values as strings."""
    return json.loads(json.dumps(d, default=lambda o: o.item() if hasattr(o, "item") else str(o)))


def parse_markets(markets: str) -> list[str]:
    """The ``--markets a,b,c`` list, each name checked, the baseline first (:func:`with_baseline`)."""
    from peergrid.market import check_market

    names = [check_market(m) for m in markets.split(",") if m.strip()]
    if not names:
        raise ConfigError("--markets is empty")
    return with_baseline(names)


def with_baseline(names: Sequence[str]) -> list[str]:
    """``names`` without duplicates, the baseline first (every saving is measured against it)."""
    names = list(dict.fromkeys(names))
    if "baseline" not in names:
        names.insert(0, "baseline")
    return names


QUICK_DAYS = 2
"""``--quick`` keeps the first this many days of a study."""

JsonOpt = Annotated[
    bool,
    typer.Option("--json", help="Print one JSON object with stable keys; no progress; nothing written unless --out."),
]
QuickOpt = Annotated[bool, typer.Option("--quick", help=f"Only the first {QUICK_DAYS} days (a fast check).")]
SeedOpt = Annotated[int | None, typer.Option(min=0, help="Replace the scenario's seeds (synthetic members, bidding).")]
MarketsOpt = Annotated[
    str | None,
    typer.Option(
        "--markets",
        help=f"Comma-separated markets ({', '.join(MARKETS)}); default: the scenario's. The baseline is always added.",
    ),
]
BiddingOpt = Annotated[
    str | None,
    typer.Option(
        "--bidding",
        help="Bidding strategy of the order-book markets (truthful, zero-intelligence, zic, zip); "
        "replaces the scenario's [market] bidding.",
    ),
]
ScenarioArg = Annotated[Path, typer.Argument(metavar="SCENARIO", help="Scenario TOML file.")]
FormatOpt = Annotated[
    str, typer.Option("--format", metavar="png|svg|pdf", help="File format of the report's figures.")
]
DpiOpt = Annotated[int, typer.Option("--dpi", min=10, max=2400, help="Resolution of raster figures, dots per inch.")]


def default_out(name: str) -> Path:
    """The default output directory of a study, relative to the current directory.

    Parameters
    ----------
    name : str
        Scenario or command name; every run of characters other than ``A-Z a-z 0-9 . _ -``
        becomes one ``-`` so that it is a single path component.

    Returns
    -------
    pathlib.Path
        ``out/<name>``, e.g. ``out/small-community`` for ``"small community"``.
    """
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "peergrid"
    return Path("out") / safe


def resolve_out(out: Path | None, name: str, as_json: bool) -> Path | None:
    """``--out`` as given; else ``out/<name>``, except under ``--json`` (nothing written)."""
    if out is not None:
        return out
    return None if as_json else default_out(name)


def quick_community(community: Any) -> Any:
    """The first :data:`QUICK_DAYS` days of ``community`` (its ``wind_generation`` series too, when it has one)."""
    steps = max(1, round(24 * QUICK_DAYS / community.dt))
    if community.T <= steps:
        return community
    out = community.select(steps=slice(0, steps))
    wind = getattr(community, "wind_generation", None)
    if wind is not None:  # (T, N) kWh of the scenario's turbines: peergrid.economics splits PV and wind with it
        out.wind_generation = wind[:steps]
    return out


def load_community(scenario_path: Path, seed: int | None = None, as_json: bool = True) -> tuple[Any, Any]:
    """``(scenario, community)`` of a scenario file (``--seed`` applied); a ``[region]`` one is refused.

    Parameters
    ----------
    scenario_path : pathlib.Path
        Scenario TOML file.
    seed : int, optional
        Replaces every seed of the scenario (:func:`reseed`).
    as_json : bool
        No progress on the terminal when true.
    """
    from peergrid.simulate.scenario import build, load_scenario

    sc = load_scenario(scenario_path)
    if sc.region is not None:
        raise ConfigError(f"{scenario_path}: a [region] scenario runs with peergrid simulate (docs/region.md)")
    if seed is not None:
        sc = reseed(sc, seed)
    with Stages(enabled=not as_json) as stages:
        stages.start(f"building the community of {scenario_path.name}")
        community = build(sc, str(scenario_path))
    return sc, community


def reseed(sc: Any, seed: int) -> Any:
    """``sc`` with every seed replaced by ``seed`` (synthetic members; order-book bidding; FedAvg client draws;
    the wind-turbine owners drawn by ``[wind] share``)."""
    update: dict[str, Any] = {}
    if sc.community.source == "synthetic":
        update["community"] = sc.community.model_copy(update={"seed": seed})
    if "market" in sc.model_fields_set:
        update["market"] = sc.market.model_copy(update={"seed": seed})
    if sc.simulation.forecaster == "fedavg":
        update["forecast"] = sc.forecast.model_copy(update={"seed": seed})
    if sc.wind.share is not None:  # the members drawn to own a wind turbine
        update["wind"] = sc.wind.model_copy(update={"seed": seed})
    return sc.model_copy(update=update)


def with_bidding(sc: Any, bidding: str | None, markets: list[str]) -> Any:
    """``sc`` with ``[market] bidding`` replaced (``--bidding``); the markets must include an order book."""
    if bidding is None:
        return sc
    from peergrid.market import MARKETS, check_bidding, is_order_market

    name = check_bidding(bidding)
    if not any(is_order_market(m) for m in markets):
        books = ", ".join(m for m in MARKETS if is_order_market(m))
        raise ConfigError(f"--bidding applies to the order-book markets; add one of {books} to --markets")
    return sc.model_copy(update={"market": sc.market.model_copy(update={"bidding": name})})


def scenario_markets(sc: Any) -> list[str]:
    """The markets a scenario asks for: ``[simulation].market`` if set, else ``markets``; baseline added."""
    from peergrid.market import check_market

    if sc.simulation.market:
        return with_baseline([check_market(sc.simulation.market)])
    return with_baseline(sc.markets)


def out_name(sc: Any, path: Path) -> str:
    """The default output name of a scenario: its ``name``, else the file's stem."""
    return sc.name if "name" in sc.model_fields_set else path.stem


