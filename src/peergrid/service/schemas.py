"""Pydantic v2 request and response models of the HTTP API (the OpenAPI schema).

Money is in integer minor units (``*_minor``), energy in integer Wh (``*_wh``),
prices in currency/kWh, times ISO 8601 with a timezone.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from peergrid.market.mechanisms import K_OPTION
from peergrid.service.auth import MAX_PASSWORD, MIN_PASSWORD
from peergrid.service.broker import USERNAME_PATTERN
from peergrid.service.models import MECHANISMS

T = TypeVar("T")

# ---- text: every free-text input is checked here, so the database never sees NUL or broken Unicode -------------
#: Bidirectional-text controls (embeddings, overrides, isolates): they make text display differently from what
#: it is (CVE-2021-42574, "Trojan Source"), so no field takes them.
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_NONCHARACTERS = "\ufdd0-\ufdef" + "".join(f"{chr(p + 0xFFFE)}{chr(p + 0xFFFF)}" for p in range(0, 0x110000, 0x10000))
_BIDI = "".join(sorted(BIDI_CONTROLS))
#: C0/C1 controls (incl. NUL and DEL), unpaired surrogates, line/paragraph separators, non-characters, bidi controls
_NOT_IN_LINE = re.compile(f"[\x00-\x1f\x7f-\x9f\ud800-\udfff\u2028\u2029{_NONCHARACTERS}{_BIDI}]")
#: the same, but tab, line feed and carriage return are allowed (multi-line text such as a memo)
_NOT_IN_TEXT = re.compile(f"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\u2028\u2029{_NONCHARACTERS}{_BIDI}]")
#: what no password may hold: NUL (C strings, PostgreSQL) and unpaired surrogates (not encodable as UTF-8)
_NOT_IN_PASSWORD = re.compile("[\x00\ud800-\udfff]")


def _refuse(pattern: re.Pattern[str], value: str) -> str:
    if value.isprintable():  # fast path: no Cc, Cs, Cf, Zl, Zp, Cn code point at all
        return value
    bad = pattern.search(value)
    if bad is not None:
        cp = ord(bad.group())
        kind = ("unpaired surrogate" if 0xD800 <= cp <= 0xDFFF else
                "bidirectional control" if bad.group() in BIDI_CONTROLS else
                "line separator" if cp in (0x2028, 0x2029) else
                "non-character" if cp >= 0xFDD0 else "control character")
        raise ValueError(f"{kind} U+{cp:04X} at position {bad.start()} is not allowed")
    return value


def check_line(value: str) -> str:
    """``value`` if it is printable single-line text, else ``ValueError`` naming the first bad code point.

    Refused: C0 and C1 control characters (NUL, tab, line breaks, ESC, DEL …), unpaired
    surrogates, U+2028/U+2029, Unicode non-characters and bidirectional controls.
    """
    return _refuse(_NOT_IN_LINE, value)


def check_text(value: str) -> str:
    """Like :func:`check_line`, but tab, line feed and carriage return are allowed (multi-line text)."""
    return _refuse(_NOT_IN_TEXT, value)


def check_password(value: str) -> str:
    """``value`` unless it holds NUL or an unpaired surrogate (any other character is the user's choice)."""
    return _refuse(_NOT_IN_PASSWORD, value)


#: Single-line text (names, labels, serials, keys, emails): the base of every free-text field.
Line = Annotated[str, AfterValidator(check_line)]
#: Multi-line text (a memo).
Text = Annotated[str, AfterValidator(check_text)]

Role = Literal["admin", "operator", "prosumer", "consumer"]
#: A mechanism of :data:`peergrid.market.REGISTRY` (the OpenAPI enum lists them).
Mechanism = Literal[MECHANISMS]  # type: ignore[valid-type]
#: k of the k-double auctions (uniform, bilateral), bounds from the registry's option.
KFactor = Annotated[float, Field(ge=K_OPTION.low, le=K_OPTION.high, allow_inf_nan=False)]
Name = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), AfterValidator(check_line)
]
#: the length bounds of the password policy (:func:`peergrid.service.auth.password_problem` checks the rest)
Password = Annotated[
    str, StringConstraints(min_length=MIN_PASSWORD, max_length=MAX_PASSWORD), AfterValidator(check_password)
]
Price = Annotated[float, Field(ge=-10.0, le=10.0, allow_inf_nan=False)]
Minor = Annotated[int, Field(ge=1, le=10**12)]
#: A connection capacity in kW (stored as W): > 0, at most 10 MW
CapacityKw = Annotated[float, Field(gt=0, le=10_000, allow_inf_nan=False)]
Email = Annotated[
    str,
    StringConstraints(strip_whitespace=True, to_lower=True, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$"),
    AfterValidator(check_line),
]
#: An idempotency key (body field or ``Idempotency-Key`` header).
Key = Annotated[str, StringConstraints(min_length=1, max_length=100), AfterValidator(check_line)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Page(BaseModel, Generic[T]):
    """A page of a list: ``items`` plus the total count and the paging parameters."""

    items: list[T]
    total: int
    limit: int
    offset: int


class LoginIn(Strict):
    email: Annotated[str, StringConstraints(min_length=1, max_length=254), AfterValidator(check_line)]
    password: Annotated[str, StringConstraints(min_length=1, max_length=200), AfterValidator(check_password)]


class TokenOut(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_at: dt.datetime
    user_id: int
    role: Role


class UserIn(Strict):
    email: Email
    name: Name
    password: Password
    role: Role


class UserPatch(Strict):
    name: Name | None = None
    password: Password | None = None
    role: Role | None = None
    is_active: bool | None = None


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    email: str
    name: str
    role: Role
    is_active: bool
    created_at: dt.datetime


def _zone(value: str) -> str:
    """An IANA zone name (``ValueError`` naming the problem otherwise)."""
    from peergrid.core.errors import PeergridError
    from peergrid.core.timeindex import check_timezone

    try:
        return check_timezone(value, "tz")
    except PeergridError as exc:  # "tz: unknown time zone …": the handler names the field already
        raise ValueError(str(exc).removeprefix("tz: ")) from None


def _currency(value: str) -> str:
    """An ISO 4217 currency code of a currency with 2 decimals (what integer minor units assume)."""
    from peergrid.service.tariffs import check_currency

    try:
        return check_currency(value)
    except Exception as exc:
        raise ValueError(str(exc)) from None


#: An IANA time zone name such as ``Europe/Berlin`` (checked by :func:`peergrid.core.timeindex.check_timezone`).
Zone = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64), AfterValidator(_zone)]
#: An ISO 4217 code of a currency with 100 minor units (EUR, USD, CHF, GBP …).
Currency = Annotated[str, StringConstraints(min_length=3, max_length=3), AfterValidator(_currency)]
#: A tariff definition (see :mod:`peergrid.service.tariffs`; checked against the community's currency)
TariffJson = Annotated[dict[str, Any], Field(description="tariff definition, see docs/service.md")]
FlatPrice = Annotated[float, Field(ge=0, le=10, allow_inf_nan=False)]


class CommunityIn(Strict):
    """A new community. Give ``tariff``, or the flat shorthand ``retail_price``/``feed_in_price`` (or neither:
    a flat 0.30 / 0.08 per kWh)."""

    name: Name
    currency: Currency = "EUR"
    tz: Zone = "UTC"
    interval_minutes: Annotated[int, Field(ge=1, le=1440)] = 15
    gate_closure_minutes: Annotated[int, Field(ge=0, le=1440)] = 5
    metering_grace_minutes: Annotated[int, Field(ge=0, le=10080)] = 30
    mechanism: Mechanism = "uniform"
    tariff: TariffJson | None = None
    #: flat shorthand: energy price (currency/kWh) of a flat tariff; not with ``tariff``
    retail_price: FlatPrice | None = None
    #: flat shorthand: feed-in price (currency/kWh) of a flat tariff; not with ``tariff``
    feed_in_price: FlatPrice | None = None
    k: KFactor = K_OPTION.default
    #: default connection capacity of the community's meters (kW), import from / export to the grid
    meter_import_kw: CapacityKw = 43.0
    meter_export_kw: CapacityKw = 30.0
    #: members may upload their own meters' readings (false: only signed meter data and operators)
    member_readings: bool = True


class CommunityPatch(Strict):
    """Fields to change. ``retail_price``/``feed_in_price`` change the flat energy/feed-in price of the tariff."""

    gate_closure_minutes: Annotated[int, Field(ge=0, le=1440)] | None = None
    metering_grace_minutes: Annotated[int, Field(ge=0, le=10080)] | None = None
    mechanism: Mechanism | None = None
    currency: Currency | None = None
    tz: Zone | None = None
    tariff: TariffJson | None = None
    retail_price: FlatPrice | None = None
    feed_in_price: FlatPrice | None = None
    k: KFactor | None = None
    meter_import_kw: CapacityKw | None = None
    meter_export_kw: CapacityKw | None = None
    member_readings: bool | None = None


class CommunityOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    name: str
    currency: str
    tz: str
    interval_minutes: int
    gate_closure_minutes: int
    metering_grace_minutes: int
    mechanism: str
    tariff: dict[str, Any]
    #: the grid import price λb (currency/kWh, all-in) when it is the same at every hour, else null
    retail_price: float | None
    #: the grid export price λs (currency/kWh) when it is the same at every hour, else null
    feed_in_price: float | None
    k: float
    meter_import_kw: float
    meter_export_kw: float
    member_readings: bool


class MembersIn(Strict):
    user_ids: Annotated[list[Annotated[int, Field(ge=1, le=2**31 - 1)]], Field(min_length=1, max_length=10000)]


class MemberOut(BaseModel):
    user_id: int
    email: str
    name: str
    role: Role
    reputation: float


class MeterIn(Strict):
    user_id: Annotated[int, Field(ge=1, le=2**31 - 1)]
    #: letters, digits, ``_ . -`` only: the serial is the meter's MQTT user name and part of its topic
    serial: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100, pattern=f"^{USERNAME_PATTERN}$")
    ]
    label: Annotated[str, StringConstraints(max_length=200), AfterValidator(check_line)] = ""
    #: own connection capacity (kW); omitted: the community's default
    import_capacity_kw: CapacityKw | None = None
    export_capacity_kw: CapacityKw | None = None
    #: generation behind the meter; omitted: true iff the owner is a prosumer
    has_generation: bool | None = None


class MeterPatch(Strict):
    """Fields to change; a capacity set to ``null`` falls back to the community's default."""

    label: Annotated[str, StringConstraints(max_length=200), AfterValidator(check_line)] | None = None
    import_capacity_kw: CapacityKw | None = None
    export_capacity_kw: CapacityKw | None = None
    has_generation: bool | None = None


class MeterOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    community_id: int
    user_id: int
    serial: str
    label: str
    import_capacity_kw: float | None = None
    export_capacity_kw: float | None = None
    has_generation: bool


class ReadingIn(Strict):
    meter: Annotated[str, StringConstraints(min_length=1, max_length=100), AfterValidator(check_line)] | None = None
    meter_id: Annotated[int, Field(ge=1, le=2**31 - 1)] | None = None
    ts: AwareDatetime
    import_wh: Annotated[int, Field(ge=0, le=10**9)] | None = None
    export_wh: Annotated[int, Field(ge=0, le=10**9)] | None = None
    net_wh: Annotated[int, Field(ge=-(10**9), le=10**9)] | None = None
    pv_wh: Annotated[int, Field(ge=0, le=10**9)] | None = None


class ReadingsIn(Strict):
    readings: Annotated[list[ReadingIn], Field(max_length=50000)]


class ReadingCorrectionIn(Strict):
    ts: AwareDatetime
    import_wh: Annotated[int, Field(ge=0, le=10**9)]
    export_wh: Annotated[int, Field(ge=0, le=10**9)]
    pv_wh: Annotated[int, Field(ge=0, le=10**9)] | None = None
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500),
                      AfterValidator(check_line)]


class IngestOut(BaseModel):
    accepted: int
    duplicates: int
    rejected: list[dict[str, Any]]


class ReadingOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    meter_id: int
    ts: dt.datetime
    interval_start: dt.datetime
    import_wh: int
    export_wh: int
    pv_wh: int | None = None


class ReadingCorrectionOut(ReadingOut):
    """The corrected reading and the values it replaced (``null``: there was no reading at ``ts``)."""

    replaced: dict[str, int | None] | None = None


class WalletOut(BaseModel):
    user_id: int
    account_id: int
    balance_minor: int
    credit_limit_minor: int
    committed_minor: int
    available_minor: int
    currency: str


class TopupIn(Strict):
    amount_minor: Minor
    memo: Annotated[str, StringConstraints(max_length=200), AfterValidator(check_text)] = ""


class CreditIn(Strict):
    credit_limit_minor: Annotated[int, Field(ge=0, le=10**12)]


class LedgerEntryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    seq: int
    tx_id: str
    debit_account_id: int
    credit_account_id: int
    amount_minor: int
    kind: str
    interval_start: dt.datetime | None
    ref: str
    memo: str
    created_at: dt.datetime
    hash: str


class VerifyOut(BaseModel):
    ok: bool
    entries: int
    head_seq: int
    head_hash: str
    first_bad_seq: int | None
    problem: str | None
    bad_accounts: list[int]


class OrderIn(Strict):
    side: Literal["buy", "sell"]
    interval_start: AwareDatetime
    quantity_wh: Annotated[int, Field(ge=1, le=10**8)]
    price: Annotated[float, Field(ge=0, le=10, allow_inf_nan=False)]
    idempotency_key: Key | None = None


class OrderBatchIn(Strict):
    """Up to 10,000 orders of the caller for one community (all or nothing)."""

    orders: Annotated[list[OrderIn], Field(min_length=1, max_length=10_000)]


class OrderBatchOut(BaseModel):
    """The stored batch: order ids in batch order."""

    created: int
    replayed: int
    committed_minor: int
    ids: list[int]


class OrderOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    community_id: int
    user_id: int
    interval_start: dt.datetime
    side: str
    quantity_wh: int
    price: float
    status: str
    filled_wh: int
    committed_minor: int
    idempotency_key: str | None
    reason: str
    created_at: dt.datetime


class TradeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    interval_start: dt.datetime
    buy_order_id: int
    sell_order_id: int
    buyer_id: int
    seller_id: int
    quantity_wh: int
    price_buy: float
    price_sell: float
    payment_minor: int
    receipt_minor: int


class ClearingOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int | None
    community_id: int
    interval_start: dt.datetime
    phase: str
    mechanism: str
    status: Literal["settled", "already_settled", "nothing_to_settle"] = "settled"
    summary: dict[str, Any]


class ClearIn(Strict):
    interval_start: AwareDatetime
    phase: Literal["market", "metered"] = "market"


class InvoiceIn(Strict):
    period_start: AwareDatetime
    period_end: AwareDatetime
    user_id: Annotated[int, Field(ge=1, le=2**31 - 1)] | None = None


class InvoiceOut(BaseModel):
    id: int
    number: str
    community_id: int
    user_id: int
    period_start: dt.datetime
    period_end: dt.datetime
    total_minor: int
    data: dict[str, Any]


class AuditOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    at: dt.datetime
    actor_id: int | None
    action: str
    community_id: int | None
    target: str
    detail: dict[str, Any]


class ErrorOut(BaseModel):
    error: str
    detail: str


class FeederMemberIn(Strict):
    user_id: Annotated[int, Field(ge=1, le=2**31 - 1)]
    #: pandapower bus index of the member's connection
    bus: Annotated[int, Field(ge=0, le=2**31 - 1)]
    phase: Literal["a", "b", "c", "abc"] = "abc"


class FeederMembersIn(Strict):
    members: Annotated[list[FeederMemberIn], Field(max_length=100_000)]


class FeederMemberOut(BaseModel):
    user_id: int
    bus: int
    phase: str


class FeederOut(BaseModel):
    """A community's feeder: size, limits, eq. 12 fee and the members on it (the net itself is not returned)."""

    community_id: int
    n_buses: int
    n_lines: int
    max_loading_pct: float
    v_min_pu: float
    v_max_pu: float
    max_vim_pct: float
    #: τ_L of Tooki et al. eq. 12: line fee at full utilisation, currency/kWh
    fee_per_kwh: float
    updated_at: dt.datetime | None
    members: list[FeederMemberOut]
