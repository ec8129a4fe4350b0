"""The record of a reproduction: claims with verdicts, the case, assumptions, timings, tables, figures.

Every piece of prose a reproduction shows — the terminal table, ``report.html``,
``docs/reproduce.md`` — is rendered from these records by :mod:`peergrid.reproduce.render`,
and ``--json`` / ``claims.json`` dump the same records, so the prose and the JSON
cannot say different things.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from peergrid.core.errors import ConfigError

__all__ = [
    "VERDICTS",
    "Claim",
    "ReproFigure",
    "ReproTable",
    "Reproduction",
    "Stopwatch",
    "verdict_of",
]

#: The verdict vocabulary of a claim.
VERDICTS: tuple[str, ...] = ("agrees", "disagrees", "not comparable")

#: JSON keys every claim carries (the shared interface of ``peergrid reproduce --json``).
CLAIM_KEYS: tuple[str, ...] = ("id", "claim", "paper_value", "peergrid_value", "verdict", "reason")


def verdict_of(agrees: bool) -> str:
    """``"agrees"`` or ``"disagrees"`` from a boolean criterion."""
    return "agrees" if agrees else "disagrees"


@dataclass(frozen=True)
class Claim:
    """One headline claim of a paper next to peergrid's figure on the same (or closest) case.

    Attributes
    ----------
    id : str
        Short stable identifier, e.g. ``"exp5"`` or ``"bill_reduction"``.
    claim : str
        The paper's claim in one sentence (with its equation/figure/section).
    paper_value : str
        The paper's figure or finding, as stated (units included).
    peergrid_value : str
        peergrid's figure on the case below (units included).
    verdict : str
        One of :data:`VERDICTS`.
    reason : str
        Why the verdict (the criterion used, and any remaining difference of case).
    case : str
        The case run for this claim, if narrower than the reproduction's case.
    assumptions : str
        Assumptions specific to this claim (values the paper does not state).
    """

    id: str
    claim: str
    paper_value: str
    peergrid_value: str
    verdict: str
    reason: str
    case: str = ""
    assumptions: str = ""

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ConfigError(f"claim {self.id!r}: verdict {self.verdict!r} is not one of {', '.join(VERDICTS)}")
        for name in ("id", "claim", "paper_value", "peergrid_value", "reason"):
            if not str(getattr(self, name)).strip():
                raise ConfigError(f"claim {self.id!r}: {name} is empty")

    def to_dict(self) -> dict[str, str]:
        """The claim as JSON (the keys of :data:`CLAIM_KEYS`, then ``case`` and ``assumptions``)."""
        return {
            "id": self.id,
            "claim": self.claim,
            "paper_value": self.paper_value,
            "peergrid_value": self.peergrid_value,
            "verdict": self.verdict,
            "reason": self.reason,
            "case": self.case,
            "assumptions": self.assumptions,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Claim:
        """Inverse of :meth:`to_dict`."""
        return cls(**{k: str(d.get(k, "")) for k in (*CLAIM_KEYS, "case", "assumptions")})

    def sentence(self) -> str:
        """The claim as one sentence of prose — the only way any prose states a verdict."""
        return (
            f"{self.claim} — paper: {self.paper_value}; peergrid: {self.peergrid_value}. "
            f"Verdict: {self.verdict} ({self.reason})."
        )


@dataclass
class ReproTable:
    """An extra table of a reproduction (all cells as display strings)."""

    title: str
    columns: list[str]
    rows: list[list[str]]
    caption: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "title": self.title,
            "columns": list(self.columns),
            "rows": [list(r) for r in self.rows],
            "caption": self.caption,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ReproTable:
        """Inverse of :meth:`to_dict`."""
        return cls(
            str(d["title"]),
            [str(c) for c in d["columns"]],
            [[str(c) for c in r] for r in d["rows"]],
            str(d.get("caption", "")),
        )


@dataclass
class ReproFigure:
    """A figure of a reproduction: file stem, a builder returning a matplotlib Figure, a caption."""

    stem: str
    build: Callable[[], Any]
    caption: str


@dataclass
class Reproduction:
    """A paper's headline claims reproduced by peergrid.

    Attributes
    ----------
    paper : str
        Short key (``"petri"``, ``"anoh"``, ``"tooki"``, ``"lange"``).
    citation : str
        Full citation of the paper.
    case : str
        The case peergrid ran (the paper's stated case or the closest one).
    claims : list of Claim
    assumptions : list of str
        Values peergrid assumes where the paper is silent, and departures from it.
    timings : dict of str to float
        Wall time per stage, seconds.
    tables : list of ReproTable
    figures : list of ReproFigure
    quick : bool
        ``True`` for the reduced ``--quick`` run (figures then differ from the full run's).
    seed : int
    """

    paper: str
    citation: str
    case: str
    claims: list[Claim]
    assumptions: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    tables: list[ReproTable] = field(default_factory=list)
    figures: list[ReproFigure] = field(default_factory=list)
    quick: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        ids = [c.id for c in self.claims]
        if len(set(ids)) != len(ids):
            raise ConfigError(f"{self.paper}: duplicate claim ids {ids}")

    @property
    def seconds(self) -> float:
        """Total wall time of the stages, seconds."""
        return float(sum(self.timings.values()))

    def counts(self) -> dict[str, int]:
        """Number of claims per verdict (every verdict present, zero included)."""
        return {v: sum(c.verdict == v for c in self.claims) for v in VERDICTS}

    def claim(self, claim_id: str) -> Claim:
        """The claim with id ``claim_id``."""
        for c in self.claims:
            if c.id == claim_id:
                return c
        raise KeyError(claim_id)

    def to_dict(self) -> dict[str, Any]:
        """The JSON of ``--json`` and ``claims.json`` (stable keys)."""
        return {
            "paper": self.paper,
            "citation": self.citation,
            "case": self.case,
            "quick": self.quick,
            "seed": self.seed,
            "claims": [c.to_dict() for c in self.claims],
            "verdicts": self.counts(),
            "assumptions": list(self.assumptions),
            "timings": {k: round(float(v), 3) for k, v in self.timings.items()},
            "seconds": round(self.seconds, 3),
            "tables": [t.to_dict() for t in self.tables],
            "figures": [f.stem for f in self.figures],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Reproduction:
        """Rebuild from :meth:`to_dict` (figures are not rebuilt: only their stems are stored)."""
        return cls(
            paper=str(d["paper"]),
            citation=str(d["citation"]),
            case=str(d.get("case", "")),
            claims=[Claim.from_dict(c) for c in d["claims"]],
            assumptions=[str(a) for a in d.get("assumptions", [])],
            timings={str(k): float(v) for k, v in d.get("timings", {}).items()},
            tables=[ReproTable.from_dict(t) for t in d.get("tables", [])],
            quick=bool(d.get("quick", False)),
            seed=int(d.get("seed", 0)),
        )


class Stopwatch:
    """Times the stages of a reproduction and reports each to ``progress``.

    Parameters
    ----------
    progress : callable, optional
        Called with a short description (str) when a stage starts.

    Examples
    --------
    >>> sw = Stopwatch()
    >>> with sw.stage("setup"):
    ...     pass
    >>> list(sw.timings)
    ['setup']
    """

    def __init__(self, progress: Callable[[str], None] | None = None) -> None:
        self.progress = progress
        self.timings: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time the body as stage ``name`` (seconds add up if a name repeats)."""
        if self.progress is not None:
            self.progress(name)
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = self.timings.get(name, 0.0) + time.perf_counter() - t0


def fmt_num(x: float, digits: int = 0, signed: bool = False) -> str:
    """A number with thousands separators (``35,000``, ``+7.3``); ``n/a`` if not finite."""
    if x is None or not math.isfinite(float(x)):
        return "n/a"
    return f"{float(x):{'+' if signed else ''},.{digits}f}"


def fmt_pct(x: float, digits: int = 1, signed: bool = True) -> str:
    """A fraction as percent: ``-0.0255`` → ``−2.6 %`` (``signed``: always a sign)."""
    if x is None or not math.isfinite(float(x)):
        return "n/a"
    s = f"{100 * float(x):{'+' if signed else ''}.{digits}f} %"
    return s.replace("-", "−")


def join_values(values: Sequence[float], digits: int = 0, sep: str = " / ") -> str:
    """Numbers joined with ``sep`` (``35,000 / 54,703``)."""
    return sep.join(fmt_num(v, digits) for v in values)
