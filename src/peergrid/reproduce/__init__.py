"""Reproduce a paper's headline claims with one command: ``peergrid reproduce <paper>``.

Each paper has a module ``peergrid.reproduce.<paper>`` with a function
``run(quick: bool, seed: int, progress) -> Reproduction`` that runs its study on the
paper's stated case (or the closest one peergrid can run) and returns a
:class:`Reproduction`: for every headline claim a :class:`Claim` with the paper's
figure, peergrid's figure, an honest verdict (one of :data:`VERDICTS`) and the reason.
``progress`` is ``None`` or a callable taking a short stage description (str).

>>> from peergrid.reproduce import PAPERS
>>> sorted(PAPERS)
['anoh', 'lange', 'petri', 'tooki']
>>> rep = run_paper("tooki", quick=True)            # doctest: +SKIP
>>> rep.claim("bill_reduction").verdict              # doctest: +SKIP
'disagrees'
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

from peergrid.core.errors import ConfigError
from peergrid.reproduce.model import (
    CLAIM_KEYS,
    VERDICTS,
    Claim,
    Reproduction,
    ReproFigure,
    ReproTable,
    Stopwatch,
    verdict_of,
)
from peergrid.reproduce.render import markdown_claims_table, to_html, to_markdown, write_reproduction

__all__ = [
    "CLAIM_KEYS",
    "PAPERS",
    "VERDICTS",
    "Claim",
    "Paper",
    "ReproFigure",
    "ReproTable",
    "Reproduction",
    "Stopwatch",
    "markdown_claims_table",
    "run_paper",
    "to_html",
    "to_markdown",
    "verdict_of",
    "write_reproduction",
]


@dataclass(frozen=True)
class Paper:
    """A registered paper: its key, the module with ``run`` and its citation."""

    key: str
    module: str
    citation: str


#: The papers ``peergrid reproduce`` knows, key → :class:`Paper`.
PAPERS: dict[str, Paper] = {
    "lange": Paper(
        "lange",
        "peergrid.reproduce.lange",
        "E. A. Lange (2025), Cloud-coordinated peer-to-peer energy sharing for urban community microgrids: "
        "cost reduction and reliability analysis using IRES 2020 load profiles (CC BY 4.0).",
    ),
    "tooki": Paper(
        "tooki",
        "peergrid.reproduce.tooki",
        "O. O. Tooki, O. M. Popoola, J. D. Pam (2025), Towards sustainable energy: implementation framework for a "
        "decentralized peer-to-peer transactive energy system, AIMS Press (CC BY 4.0).",
    ),
    "petri": Paper(
        "petri",
        "peergrid.reproduce.petri",
        "I. Petri, A. Alzahrani, J. Reynolds, Y. Rezgui (2020), Federating smart cluster energy grids for "
        "peer-to-peer energy sharing and trading, IEEE Access 8, 102419–102435, doi:10.1109/ACCESS.2020.2998747.",
    ),
    "anoh": Paper(
        "anoh",
        "peergrid.reproduce.anoh",
        "K. Anoh, B. Kipchumba, D. Vukobratovic, A. Ikpehai, K. C. Okafor, S. Maharjan, B. Adebisi (2026), "
        "Optimising P2P energy trading using Internet of Things and agentic AI cluster zooming, IEEE Transactions "
        "on Smart Grid (accepted version; abstract only).",
    ),
}


def paper(key: str) -> Paper:
    """The registered paper ``key`` (case-insensitive); ConfigError naming the choices otherwise."""
    k = str(key).strip().lower()
    if k not in PAPERS:
        raise ConfigError(f"unknown paper {key!r}; choose from {', '.join(PAPERS)}")
    return PAPERS[k]


def run_paper(
    key: str, quick: bool = False, seed: int = 0, progress: Callable[[str], None] | None = None
) -> Reproduction:
    """Run the reproduction of paper ``key``.

    Parameters
    ----------
    key : str
        ``"lange"``, ``"tooki"``, ``"petri"`` or ``"anoh"``.
    quick : bool
        Reduced sizes: seconds instead of minutes (figures differ from the full run).
    seed : int
        Root seed of every random choice of the study.
    progress : callable, optional
        Called with a short description when a stage starts.

    Returns
    -------
    Reproduction

    Raises
    ------
    ConfigError
        Unknown paper, or its module is not available (yet).
    """
    p = paper(key)
    try:
        module = importlib.import_module(p.module)
    except ModuleNotFoundError as exc:
        if exc.name != p.module:
            raise
        raise ConfigError(
            f"the {p.key} reproduction is not available in this peergrid ({p.module} is missing)"
        ) from None
    rep = module.run(quick=quick, seed=seed, progress=progress)
    if not isinstance(rep, Reproduction):
        raise ConfigError(f"{p.module}.run returned {type(rep).__name__}, not a Reproduction")
    return rep
