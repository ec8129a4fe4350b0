"""The one registry of market mechanisms: name, label, kind, options, function and reference.

Every list of mechanisms in peergrid reads from :data:`REGISTRY`: the simulator's
markets (:data:`MARKETS`, :func:`check_market`), the pool rules
(:data:`MECHANISMS`) and the order-book mechanisms (:data:`ORDER_MECHANISMS`), the
scenario schema, the CLI's help and choices, the trading service's models and OpenAPI
enum, the report's glossary and the docs. Adding a mechanism is one :class:`Mechanism`
entry in :data:`REGISTRY` plus its function:

* a **pool** rule is ``f(demand, supply, retail, feed_in) -> Clearing`` on community
  totals per slot (kWh, currency/kWh; :mod:`peergrid.market.sharing`);
* an **order-book** mechanism is ``f(book, ..., retail=None, feed_in=None) -> MarketResult``
  on an :class:`~peergrid.market.OrderBook` (:mod:`peergrid.market.auction`,
  :mod:`peergrid.market.bilateral`), taking its :attr:`Mechanism.options` as keywords.

:func:`register` adds a mechanism at run time (an extension, or a test); the views
:data:`MECHANISMS`, :data:`ORDER_MECHANISMS`, :data:`MECHANISM_NAMES` and :data:`MARKETS`
follow it. Modules that build a schema from the registry when they are imported (the
service's models and OpenAPI enum, the CLI's choices) see what was registered before.

>>> from peergrid.market import REGISTRY, MARKETS
>>> REGISTRY["sdr"].label, REGISTRY["sdr"].kind
('Supply-demand ratio', 'pool')
>>> [o.name for o in REGISTRY["bilateral"].options]
['k', 'fee']
>>> MARKETS
('baseline', 'bs', 'mmr', 'sdr', 'uniform', 'pay-as-bid', 'mcafee', 'bilateral')
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal, overload

from peergrid.core.errors import ConfigError
from peergrid.market.auction import mcafee, pay_as_bid, uniform_price
from peergrid.market.bilateral import bilateral
from peergrid.market.orders import MarketResult
from peergrid.market.sharing import Clearing, bill_sharing, mid_market_rate, no_p2p, supply_demand_ratio

__all__ = [
    "FEE_OPTION",
    "KINDS",
    "K_OPTION",
    "MARKETS",
    "MECHANISMS",
    "MECHANISM_NAMES",
    "ORDER_MECHANISMS",
    "REGISTRY",
    "Mechanism",
    "MechanismOption",
    "check_market",
    "get_mechanism",
    "get_order_mechanism",
    "is_order_market",
    "mechanism_names",
    "mechanisms_markdown_table",
    "register",
    "takes_option",
    "unregister",
]

Kind = Literal["pool", "order-book"]

#: Mechanism kinds: pool rules clear community totals, order books clear orders.
KINDS: tuple[Kind, ...] = ("pool", "order-book")


@dataclass(frozen=True)
class MechanismOption:
    """A numeric option of a mechanism, e.g. the k of a k-double auction.

    Attributes
    ----------
    name : str
        Name in scenarios (``[market]``), the CLI and the service (``k``, ``fee``).
    default : float
        Value when not given.
    low, high : float
        Inclusive bounds (``math.inf`` for none).
    description : str
        What it sets, with its unit.
    parameter : str
        Keyword of the mechanism's function (default: ``name``).
    """

    name: str
    default: float
    low: float
    high: float
    description: str
    parameter: str = ""

    @property
    def keyword(self) -> str:
        """Keyword argument of the mechanism's function."""
        return self.parameter or self.name

    def check(self, value: float) -> float:
        """``value`` as a float within the bounds (NaN never is).

        Raises
        ------
        ConfigError
            One line, e.g. ``k must be in [0, 1], got 1.5`` or ``fee must be a finite number >= 0, got -1.0``.
        """
        v = float(value)
        if not self.low <= v <= self.high or not math.isfinite(v):
            if math.isinf(self.high):
                raise ConfigError(f"{self.name} must be a finite number >= {self.low:g}, got {v}")
            raise ConfigError(f"{self.name} must be in [{self.low:g}, {self.high:g}], got {v}")
        return v


@dataclass(frozen=True)
class Mechanism:
    """One market mechanism of :data:`REGISTRY`.

    Attributes
    ----------
    name : str
        Short, lower-case name (scenarios, CLI, service, JSON), at most 16 characters.
    label : str
        Long name for tables and figures, e.g. ``"Supply-demand ratio"``.
    kind : {"pool", "order-book"}
        Pool rule on community totals, or order-book mechanism on orders.
    function : callable
        The implementation (see the module docstring for the two signatures).
    reference : str
        Where the rule comes from, "Author et al. (year), eq. N" (docs/references.md), or ``""``.
    term : str
        Heading of the report's glossary entry.
    description : str
        Glossary text: how the mechanism prices and matches.
    options : tuple of MechanismOption
        Numeric options the function takes (order books: ``k``, ``fee``).
    """

    name: str
    label: str
    kind: Kind
    function: Callable[..., Any]
    reference: str
    term: str
    description: str
    options: tuple[MechanismOption, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ConfigError(f"mechanism {self.name!r}: kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if not self.name or self.name != _key(self.name) or len(self.name) > 16:
            raise ConfigError(f"mechanism name {self.name!r} must be lower case, use '-', and have 1 to 16 characters")

    @property
    def order_book(self) -> bool:
        """Whether the mechanism clears an order book (else it is a pool rule)."""
        return self.kind == "order-book"

    def option(self, name: str) -> MechanismOption | None:
        """The option ``name`` (``None`` when the mechanism does not take it)."""
        return next((o for o in self.options if o.name == name), None)


#: k of a k-double auction: price k·bid + (1 − k)·ask.
K_OPTION = MechanismOption("k", 0.5, 0, 1, "price k·bid + (1 − k)·ask of the marginal (or contract) pair, 1")
#: Network fee of the bilateral market, the same for every pair.
FEE_OPTION = MechanismOption(
    "fee", 0.0, 0, math.inf, "network fee H per kWh of every pair, currency/kWh", parameter="fees"
)


def _key(name: object) -> str:
    return str(name).strip().lower().replace("_", "-")


_BUILTIN: tuple[Mechanism, ...] = (
    Mechanism(
        "baseline",
        "No P2P (grid only)",
        "pool",
        no_p2p,
        "",
        "No P2P (baseline)",
        "Every member trades with the grid alone: buyers pay the retail price λb, sellers receive "
        "the feed-in tariff λs.",
    ),
    Mechanism(
        "bs",
        "Bill sharing",
        "pool",
        bill_sharing,
        "Zhou et al. (2018)",
        "BS – bill sharing",
        "The community's grid bill in the slot is shared in proportion to each member's own import "
        "and export; sell prices can fall below λs (as evaluated by Zhou et al. 2018).",
    ),
    Mechanism(
        "mmr",
        "Mid-market rate",
        "pool",
        mid_market_rate,
        "Long et al. (2017)",
        "MMR – mid-market rate",
        "Peers trade at (λb + λs) / 2; the unmatched side of the slot trades with the grid at "
        "λb or λs (Long et al. 2017).",
    ),
    Mechanism(
        "sdr",
        "Supply-demand ratio",
        "pool",
        supply_demand_ratio,
        "Lange (2025), eqs. 2–4; Liu et al. (2017)",
        "SDR – supply-demand ratio",
        "All buyers pay P_buy(SDR) and all sellers receive P_sell(SDR), functions of the ratio of "
        "community supply to demand in the slot; for SDR > 1 both equal λs "
        "(Liu et al. 2017; Lange eqs. 2–4).",
    ),
    Mechanism(
        "uniform",
        "Uniform-price double auction",
        "order-book",
        uniform_price,
        "Satterthwaite and Williams (1989)",
        "UNIFORM – uniform-price double auction (pay-as-clear)",
        "Order book: in every slot each member with a deficit bids for it and each member with a "
        "surplus offers it, at a limit price set by the bidding strategy. Bids are sorted by price "
        "descending, asks ascending; the traded quantity is where the demand and supply curves "
        "cross, and every trade of the slot settles at one price p = k·b_m + (1 − k)·s_m of the "
        "marginal bid b_m and ask s_m (k-double auction, Satterthwaite & Williams 1989; k = 0.5 "
        "is the mid-point). Buyers pay what sellers receive (no operator fees); unmatched energy "
        "settles with the grid at λb / λs.",
        (K_OPTION,),
    ),
    Mechanism(
        "pay-as-bid",
        "Pay-as-bid double auction",
        "order-book",
        pay_as_bid,
        "",
        "PAY-AS-BID – pay-as-bid double auction",
        "The same orders and the same allocation as the uniform auction, but every order settles at "
        "its own limit: a buyer pays its bid, a seller receives its ask. The spread between them is "
        "kept by the market operator (operator fees), so members gain less than under the uniform "
        "price for the same bids.",
    ),
    Mechanism(
        "mcafee",
        "McAfee trade-reduction auction",
        "order-book",
        mcafee,
        "McAfee (1992)",
        "MCAFEE – McAfee's trade-reduction double auction",
        "McAfee 1992: with k efficient bid–ask pairs in price order, the first excluded pair sets "
        "p0 = (b_{k+1} + s_{k+1}) / 2. If s_k ≤ p0 ≤ b_k all k pairs trade at p0; otherwise the "
        "least valuable pair is dropped, buyers pay b_k, sellers receive s_k and the difference "
        "goes to the operator. Truthful bidding is a dominant strategy for single-unit traders at "
        "the cost of at most one trade; peergrid applies the rule to whole orders (a heuristic for "
        "multi-kWh orders).",
    ),
    Mechanism(
        "bilateral",
        "Bilateral trading (Tooki et al.)",
        "order-book",
        bilateral,
        "Tooki et al. (2025), eqs. 10–12",
        "BILATERAL – bilateral trading with network fees",
        "Tooki et al. 2025, eqs. 10–12: every bid i and ask j of a slot form a candidate contract "
        "with network fee H per kWh (line-utilisation fee, eq. 12; in the simulator one fee for "
        "every pair, scenario [market] fee). Feasible pairs (b_i − H ≥ a_j + H) are matched "
        "greedily by fee ascending, then surplus descending, at contract price "
        "γ = k·(b_i − H) + (1 − k)·(a_j + H); the buyer pays γ + H (eq. 11) and the seller "
        "receives γ − H (eq. 10), the fees go to the operator.",
        (K_OPTION, FEE_OPTION),
    ),
)

#: Every market mechanism by name: the pool rules first, then the order-book mechanisms.
REGISTRY: dict[str, Mechanism] = {m.name: m for m in _BUILTIN}

#: Pool rules by name: ``f(demand, supply, retail, feed_in) -> Clearing`` (a view of :data:`REGISTRY`).
MECHANISMS: dict[str, Callable[..., Clearing]] = {}
#: Order-book mechanisms by name: ``f(book, **options) -> MarketResult`` (a view of :data:`REGISTRY`).
ORDER_MECHANISMS: dict[str, Callable[..., MarketResult]] = {}
#: Long names for reports and figures (a view of :data:`REGISTRY`).
MECHANISM_NAMES: dict[str, str] = {}


def _refresh() -> None:
    """Rebuild the dict views in place (modules that imported them see the change)."""
    MECHANISMS.clear()
    MECHANISMS.update((n, m.function) for n, m in REGISTRY.items() if m.kind == "pool")
    ORDER_MECHANISMS.clear()
    ORDER_MECHANISMS.update((n, m.function) for n, m in REGISTRY.items() if m.kind == "order-book")
    MECHANISM_NAMES.clear()
    MECHANISM_NAMES.update((n, m.label) for n, m in REGISTRY.items())


_refresh()


def mechanism_names(kind: Kind | None = None) -> tuple[str, ...]:
    """Names of the registered mechanisms (of one ``kind``), in registry order.

    Parameters
    ----------
    kind : {"pool", "order-book"}, optional
        Only this kind (default: all, pool rules first).

    Returns
    -------
    tuple of str

    Examples
    --------
    >>> mechanism_names("order-book")
    ('uniform', 'pay-as-bid', 'mcafee', 'bilateral')
    """
    if kind is not None and kind not in KINDS:
        raise ConfigError(f"unknown mechanism kind {kind!r}; choose from {', '.join(KINDS)}")
    return tuple(n for n, m in REGISTRY.items() if kind is None or m.kind == kind)


class _Names(Sequence[str]):
    """The registry's names as a read-only tuple that follows :func:`register` (``MARKETS``)."""

    def _names(self) -> tuple[str, ...]:
        return mechanism_names()

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> tuple[str, ...]: ...
    def __getitem__(self, index: int | slice) -> str | tuple[str, ...]:
        return self._names()[index]

    def __len__(self) -> int:
        return len(REGISTRY)

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __contains__(self, name: object) -> bool:
        return name in REGISTRY

    def __eq__(self, other: object) -> bool:
        if isinstance(other, _Names):
            return True
        return self._names() == other if isinstance(other, tuple) else NotImplemented

    def __hash__(self) -> int:
        return hash(self._names())

    def __repr__(self) -> str:
        return repr(self._names())


#: Every market the simulator runs, pool rules first: the names of :data:`REGISTRY` (a tuple-like view).
MARKETS: Sequence[str] = _Names()


def register(mechanism: Mechanism, *, replace: bool = False) -> Mechanism:
    """Add ``mechanism`` to :data:`REGISTRY` (and the views); pool rules stay before order books.

    Parameters
    ----------
    mechanism : Mechanism
        The new entry.
    replace : bool
        Allow replacing an entry of the same name.

    Returns
    -------
    Mechanism
        ``mechanism``.

    Raises
    ------
    ConfigError
        The name is taken (without ``replace``).
    """
    if mechanism.name in REGISTRY and not replace:
        raise ConfigError(f"mechanism {mechanism.name!r} is already registered")
    entries = {**REGISTRY, mechanism.name: mechanism}
    ordered = [m for m in entries.values() if m.kind == "pool"] + [m for m in entries.values() if m.kind != "pool"]
    REGISTRY.clear()
    REGISTRY.update((m.name, m) for m in ordered)
    _refresh()
    return mechanism


def unregister(name: str) -> Mechanism:
    """Remove mechanism ``name`` from :data:`REGISTRY` (and the views); returns its entry."""
    entry = REGISTRY.pop(check_market(name))
    _refresh()
    return entry


def check_market(name: str) -> str:
    """Canonical name of a registered mechanism (pool rule or order book).

    Parameters
    ----------
    name : str
        Case-insensitive; ``_`` and ``-`` alike (``"Pay_As_Bid"`` → ``"pay-as-bid"``).

    Returns
    -------
    str

    Raises
    ------
    ConfigError
        Unknown name (the message lists the known ones).
    """
    key = _key(name)
    if key not in REGISTRY:
        raise ConfigError(f"unknown market {name!r}; choose from {', '.join(REGISTRY)}")
    return key


def is_order_market(name: str) -> bool:
    """Whether ``name`` is a registered order-book mechanism (uniform, pay-as-bid, mcafee, bilateral)."""
    entry = REGISTRY.get(_key(name))
    return entry is not None and entry.kind == "order-book"


def takes_option(name: str, option: str) -> bool:
    """Whether mechanism ``name`` takes option ``option`` (``"k"``: uniform and bilateral)."""
    entry = REGISTRY.get(_key(name))
    return entry is not None and entry.option(option) is not None


def get_mechanism(name: str) -> Callable[..., Clearing]:
    """Look up a pool mechanism by name (case-insensitive).

    Parameters
    ----------
    name : str
        One of :data:`MECHANISMS`.

    Returns
    -------
    callable
        ``f(demand, supply, retail, feed_in) -> Clearing``.
    """
    key = str(name).strip().lower()
    if key not in MECHANISMS:
        raise ConfigError(f"unknown market {name!r}; choose from {', '.join(MECHANISMS)}")
    return MECHANISMS[key]


def get_order_mechanism(name: str) -> Callable[..., MarketResult]:
    """Look up a batch order-book mechanism by name (case-insensitive; ``_`` and ``-`` alike).

    Parameters
    ----------
    name : str
        ``"uniform"``, ``"pay-as-bid"``, ``"mcafee"`` or ``"bilateral"``.

    Returns
    -------
    callable
        ``f(book, ..., retail=None, feed_in=None) -> MarketResult``; the mechanism's
        :attr:`Mechanism.options` are keywords too (``uniform`` and ``bilateral`` take
        ``k``, ``bilateral`` takes ``fees``).
    """
    key = _key(name)
    if key not in ORDER_MECHANISMS:
        raise ConfigError(f"unknown order-book mechanism {name!r}; choose from {', '.join(ORDER_MECHANISMS)}")
    return ORDER_MECHANISMS[key]


def _option_text(option: MechanismOption) -> str:
    high = "" if math.isinf(option.high) else f", ≤ {option.high:g}"
    return f"`{option.name}` = {option.default:g} (≥ {option.low:g}{high})"


def mechanisms_markdown_table() -> str:
    """The mechanism table of docs/markets.md (registry order) as Markdown.

    Returns
    -------
    str
        Header, separator and one row ``| `name` | label | kind | options | function | reference |``
        per mechanism, newline-terminated.
    """
    lines = ["| name | label | kind | options | function | reference |", "|---|---|---|---|---|---|"]
    for m in REGISTRY.values():
        options = "; ".join(_option_text(o) for o in m.options) or "–"
        fn = f"`peergrid.market.{m.function.__name__}`"
        lines.append(f"| `{m.name}` | {m.label} | {m.kind} | {options} | {fn} | {m.reference or '–'} |")
    return "\n".join(lines) + "\n"
