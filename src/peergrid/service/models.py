"""SQLAlchemy 2 typed ORM models of the trading service (the schema Alembic migrates).

Money is stored as **integer minor units** (cents) and energy as **integer Wh**;
prices are currency/kWh (floats, configuration and limit prices, never balances).
Times are timezone-aware UTC in Python and naive UTC in the database.

Tables follow Tooki et al.'s platform design (user and transaction tables, wallets,
billing): ``users``, ``communities``, ``memberships``, ``meters``, ``readings``,
``accounts`` (wallets and the community's system accounts), ``ledger_entries`` +
``ledger_head`` (hash chain), ``orders``, ``clearing_runs``, ``trades``,
``positions`` (per user and settled interval), ``invoices``, ``revoked_tokens``,
``audit_log`` and ``service_config``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from peergrid.market.mechanisms import mechanism_names

ROLES: tuple[str, ...] = ("admin", "operator", "prosumer", "consumer")
#: Order-book mechanisms (cleared at gate closure from orders) and pool mechanisms
#: (cleared after the interval from metered net positions), from :data:`peergrid.market.REGISTRY`;
#: the service lists the order books first and the no-P2P baseline last.
ORDER_MECHANISMS: tuple[str, ...] = mechanism_names("order-book")
POOL_MECHANISMS: tuple[str, ...] = tuple(sorted(mechanism_names("pool"), key=lambda name: name == "baseline"))
MECHANISMS: tuple[str, ...] = ORDER_MECHANISMS + POOL_MECHANISMS
ACCOUNT_KINDS: tuple[str, ...] = ("wallet", "grid", "fees", "clearing", "external", "network")
#: Phases of a member on a feeder (``abc``: three-phase connection).
FEEDER_PHASES: tuple[str, ...] = ("a", "b", "c", "abc")
ORDER_STATUSES: tuple[str, ...] = ("open", "cancelled", "filled", "partial", "unfilled", "rejected")


def utcnow() -> dt.datetime:
    """Now, timezone-aware UTC, truncated to microseconds (what every backend stores)."""
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Aware UTC datetimes in Python, naive UTC in the database (portable SQLite/PostgreSQL)."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(dt.UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if isinstance(value, str):  # pragma: no cover - SQLite without type detection
            value = dt.datetime.fromisoformat(value)
        return value.replace(tzinfo=dt.UTC)


class Base(DeclarativeBase):
    """Declarative base; naming convention keeps constraint names stable across backends."""

    metadata = sa.MetaData(
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_N_name)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


class User(Base):
    """A login: email (unique, lower case), argon2id hash, role admin | operator | prosumer | consumer."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    password_hash: Mapped[str] = mapped_column(sa.String(200))
    role: Mapped[str] = mapped_column(sa.String(16))
    is_active: Mapped[bool] = mapped_column(default=True)
    #: bumped on password change (and deactivation): tokens carrying an older version are refused
    token_version: Mapped[int] = mapped_column(default=0, server_default="0")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (sa.CheckConstraint("role IN ('admin','operator','prosumer','consumer')", name="role"),)


class Community(Base):
    """A tenant: market mechanism, trading interval, gate closure, time zone, tariff, k.

    ``tz`` is the community's IANA time zone (checked by
    :func:`peergrid.core.timeindex.check_timezone`): time-of-use tariff periods, calendar
    days and months of standing and demand charges, and the period labels of reports and
    invoices are local time in it; storage stays UTC. ``tariff`` is the tariff definition
    (a :class:`peergrid.market.tariff.Tariff` as a dict, see :mod:`peergrid.service.tariffs`)
    in the community's ``currency``; the grid prices λb/λs of each interval come from it.
    """

    __tablename__ = "communities"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200), unique=True)
    currency: Mapped[str] = mapped_column(sa.String(3), default="EUR")
    interval_minutes: Mapped[int] = mapped_column(default=15)
    gate_closure_minutes: Mapped[int] = mapped_column(default=5)
    metering_grace_minutes: Mapped[int] = mapped_column(default=30)
    mechanism: Mapped[str] = mapped_column(sa.String(16), default="uniform")
    #: IANA time zone of the community (local time of tariffs, calendar periods and labels)
    tz: Mapped[str] = mapped_column(sa.String(64), default="UTC", server_default="UTC")
    #: the tariff definition (JSON; :func:`peergrid.service.tariffs.tariff_of` reads it)
    tariff: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    k: Mapped[float] = mapped_column(sa.Float, default=0.5)
    #: default connection capacity of a meter (W) for import from and export to the grid
    meter_import_w: Mapped[int] = mapped_column(sa.BigInteger, default=43_000, server_default="43000")
    meter_export_w: Mapped[int] = mapped_column(sa.BigInteger, default=30_000, server_default="30000")
    #: members may upload their own meters' readings over HTTP; ``False``: only signed meter data
    #: (MQTT) and operators' uploads are settled
    member_readings: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def retail_price(self) -> float | None:
        """The grid import price λb (currency/kWh) if the tariff has the same one at every hour, else ``None``."""
        from peergrid.service.tariffs import flat_prices

        return flat_prices(self)[0]

    @property
    def feed_in_price(self) -> float | None:
        """The grid export price λs (currency/kWh) if the tariff has the same one at every hour, else ``None``."""
        from peergrid.service.tariffs import flat_prices

        return flat_prices(self)[1]

    @property
    def meter_import_kw(self) -> float:
        """Default import capacity of a meter (kW)."""
        return self.meter_import_w / 1000

    @property
    def meter_export_kw(self) -> float:
        """Default export capacity of a meter (kW)."""
        return self.meter_export_w / 1000


class Membership(Base):
    """A user in a community, with the reputation score r in [0, 1] (``peergrid.market.reputation``)."""

    __tablename__ = "memberships"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    community_id: Mapped[int] = mapped_column(sa.ForeignKey("communities.id", ondelete="CASCADE"), index=True)
    reputation: Mapped[float] = mapped_column(sa.Float, default=1.0, server_default=sa.text("1.0"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (sa.UniqueConstraint("user_id", "community_id"),)


class Meter(Base):
    """A meter (unique serial) bound to a member; its readings give the member's metered net energy."""

    __tablename__ = "meters"

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(sa.ForeignKey("communities.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    serial: Mapped[str] = mapped_column(sa.String(100), unique=True)
    label: Mapped[str] = mapped_column(sa.String(200), default="", server_default="")
    #: connection capacity (W); ``None`` = the community's ``meter_import_w`` / ``meter_export_w``
    import_capacity_w: Mapped[int | None] = mapped_column(sa.BigInteger, nullable=True)
    export_capacity_w: Mapped[int | None] = mapped_column(sa.BigInteger, nullable=True)
    #: generation (PV, wind, …) behind the meter; a meter without it cannot export
    has_generation: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    #: highest sequence number of an accepted signed MQTT message (replays at or below it are refused)
    mqtt_seq: Mapped[int] = mapped_column(sa.BigInteger, default=0, server_default="0")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def import_capacity_kw(self) -> float | None:
        """Own import capacity (kW); ``None``: the community's default."""
        return None if self.import_capacity_w is None else self.import_capacity_w / 1000

    @property
    def export_capacity_kw(self) -> float | None:
        """Own export capacity (kW); ``None``: the community's default."""
        return None if self.export_capacity_w is None else self.export_capacity_w / 1000


class Reading(Base):
    """Energy through a meter in the period starting at ``ts`` (import and export, Wh ≥ 0).

    ``pv_wh`` is the optional PV generation behind the meter in the same period (information only;
    settlement uses import − export).
    """

    __tablename__ = "readings"

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True)
    meter_id: Mapped[int] = mapped_column(sa.ForeignKey("meters.id", ondelete="CASCADE"))
    ts: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    interval_start: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    import_wh: Mapped[int] = mapped_column(sa.BigInteger)
    export_wh: Mapped[int] = mapped_column(sa.BigInteger)
    pv_wh: Mapped[int | None] = mapped_column(sa.BigInteger, nullable=True)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        sa.UniqueConstraint("meter_id", "ts"),
        sa.CheckConstraint("import_wh >= 0 AND export_wh >= 0", name="nonneg"),
    )


class Account(Base):
    """A wallet (``kind='wallet'``, one per member) or a community system account.

    ``balance_minor`` = Σ credits − Σ debits of the account in the ledger (a cache kept
    in the same transaction as every entry; ``peergrid ledger verify`` re-checks it).
    """

    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(sa.ForeignKey("communities.id", ondelete="RESTRICT"), index=True)
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="RESTRICT"), index=True)
    key: Mapped[str] = mapped_column(sa.String(40))
    kind: Mapped[str] = mapped_column(sa.String(16))
    balance_minor: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    credit_limit_minor: Mapped[int] = mapped_column(sa.BigInteger, default=0)

    __table_args__ = (sa.UniqueConstraint("community_id", "key"),)


class LedgerEntry(Base):
    """One double-entry transfer: ``amount_minor`` from ``debit_account`` to ``credit_account``.

    ``hash`` = SHA-256(prev_hash ‖ canonical JSON of the entry) (:mod:`peergrid.service.ledger`).
    """

    __tablename__ = "ledger_entries"

    seq: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=False
    )
    tx_id: Mapped[str] = mapped_column(sa.String(32), index=True)
    community_id: Mapped[int] = mapped_column(sa.ForeignKey("communities.id", ondelete="RESTRICT"))
    debit_account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id", ondelete="RESTRICT"), index=True)
    credit_account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id", ondelete="RESTRICT"), index=True)
    amount_minor: Mapped[int] = mapped_column(sa.BigInteger)
    kind: Mapped[str] = mapped_column(sa.String(24))
    interval_start: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    ref: Mapped[str] = mapped_column(sa.String(100), default="")
    memo: Mapped[str] = mapped_column(sa.String(200), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    prev_hash: Mapped[str] = mapped_column(sa.String(64))
    hash: Mapped[str] = mapped_column(sa.String(64))

    __table_args__ = (
        sa.CheckConstraint("amount_minor > 0", name="positive"),
        sa.CheckConstraint("debit_account_id <> credit_account_id", name="two_accounts"),
        sa.Index("ix_ledger_entries_community_interval", "community_id", "interval_start"),
    )


class LedgerHead(Base):
    """The single row holding the chain's last sequence number and hash (the append lock)."""

    __tablename__ = "ledger_head"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    hash: Mapped[str] = mapped_column(sa.String(64))


class Order(Base):
    """A bid (buy) or offer (sell) of ``quantity_wh`` at limit ``price`` (currency/kWh) for one interval."""

    __tablename__ = "orders"

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True)
    community_id: Mapped[int] = mapped_column(sa.ForeignKey("communities.id", ondelete="RESTRICT"))
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="RESTRICT"), index=True)
    interval_start: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    side: Mapped[str] = mapped_column(sa.String(4))
    quantity_wh: Mapped[int] = mapped_column(sa.BigInteger)
    price: Mapped[float] = mapped_column(sa.Float)
    status: Mapped[str] = mapped_column(sa.String(10), default="open")
    filled_wh: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    committed_minor: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    idempotency_key: Mapped[str | None] = mapped_column(sa.String(100))
    reason: Mapped[str] = mapped_column(sa.String(200), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        sa.UniqueConstraint("user_id", "idempotency_key"),
        sa.CheckConstraint("side IN ('buy','sell')", name="side"),
        sa.CheckConstraint("quantity_wh > 0", name="quantity"),
        sa.Index("ix_orders_book", "community_id", "interval_start", "status"),
        # the wallet check sums the user's open commitments on every placement (migration 0009)
        sa.Index("ix_orders_open_user", "user_id", "community_id", postgresql_where=sa.text("status = 'open'"),
                 sqlite_where=sa.text("status = 'open'")),
    )


class ClearingRun(Base):
    """One settled phase of one interval; the unique constraint makes settlement exactly-once."""

    __tablename__ = "clearing_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(sa.ForeignKey("communities.id", ondelete="RESTRICT"))
    interval_start: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    phase: Mapped[str] = mapped_column(sa.String(10))
    mechanism: Mapped[str] = mapped_column(sa.String(16))
    summary: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (sa.UniqueConstraint("community_id", "interval_start", "phase"),)


class Trade(Base):
    """A matched pair of orders: energy (Wh), prices paid/received (currency/kWh), amounts (minor units)."""

    __tablename__ = "trades"

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True)
    clearing_run_id: Mapped[int] = mapped_column(sa.ForeignKey("clearing_runs.id", ondelete="RESTRICT"), index=True)
    community_id: Mapped[int] = mapped_column(sa.ForeignKey("communities.id", ondelete="RESTRICT"))
    interval_start: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    buy_order_id: Mapped[int] = mapped_column(sa.ForeignKey("orders.id", ondelete="RESTRICT"))
    sell_order_id: Mapped[int] = mapped_column(sa.ForeignKey("orders.id", ondelete="RESTRICT"))
    buyer_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="RESTRICT"), index=True)
    seller_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="RESTRICT"), index=True)
    quantity_wh: Mapped[int] = mapped_column(sa.BigInteger)
    price_buy: Mapped[float] = mapped_column(sa.Float)
    price_sell: Mapped[float] = mapped_column(sa.Float)
    payment_minor: Mapped[int] = mapped_column(sa.BigInteger)
    receipt_minor: Mapped[int] = mapped_column(sa.BigInteger)
    #: Tooki et al. eq. 12 line fee of the trade, minor units (part of ``payment_minor``; 0 without a feeder)
    line_fee_minor: Mapped[int] = mapped_column(sa.BigInteger, default=0, server_default="0")


class CommunityFeeder(Base):
    """A community's feeder: a vetted pandapower JSON net (:func:`peergrid.grid.read_feeder`) and its limits.

    With a feeder, the market phase of an order-book community clears with
    :func:`peergrid.grid.clear_on_feeder` (eq. 12 fees to the ``network`` account,
    curtailment on loading, voltage and VIM, re-matching, losses in the run's summary); a pool
    community's metered settlement charges eq. 12 line fees and losses of the metered positions
    (:mod:`peergrid.grid.charges`, nothing curtailed).
    """

    __tablename__ = "community_feeders"

    community_id: Mapped[int] = mapped_column(sa.ForeignKey("communities.id", ondelete="RESTRICT"), primary_key=True)
    net_json: Mapped[str] = mapped_column(sa.Text)
    n_buses: Mapped[int] = mapped_column()
    n_lines: Mapped[int] = mapped_column()
    max_loading_pct: Mapped[float] = mapped_column(sa.Float, default=100.0)
    v_min_pu: Mapped[float] = mapped_column(sa.Float, default=0.95)
    v_max_pu: Mapped[float] = mapped_column(sa.Float, default=1.05)
    max_vim_pct: Mapped[float] = mapped_column(sa.Float, default=2.0)
    #: τ_L of eq. 12: fee at full line utilisation, currency/kWh
    fee_per_kwh: Mapped[float] = mapped_column(sa.Float, default=0.01)
    uploaded_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="RESTRICT"))
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        sa.CheckConstraint("max_loading_pct > 0 AND max_vim_pct > 0 AND fee_per_kwh >= 0", name="limits"),
        sa.CheckConstraint("v_min_pu > 0 AND v_min_pu < v_max_pu", name="band"),
    )


class FeederMember(Base):
    """Where a member sits on the community's feeder: pandapower bus index and phase."""

    __tablename__ = "feeder_members"

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(sa.ForeignKey("communities.id", ondelete="RESTRICT"), index=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="RESTRICT"))
    bus: Mapped[int] = mapped_column(sa.BigInteger)
    phase: Mapped[str] = mapped_column(sa.String(3), default="abc")

    __table_args__ = (
        sa.UniqueConstraint("community_id", "user_id"),
        sa.CheckConstraint("phase IN ('a','b','c','abc')", name="phase"),
    )


class Position(Base):
    """A user's settled energy and money in one clearing run (the invoice lines come from here)."""

    __tablename__ = "positions"

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True)
    clearing_run_id: Mapped[int] = mapped_column(sa.ForeignKey("clearing_runs.id", ondelete="RESTRICT"))
    community_id: Mapped[int] = mapped_column(sa.ForeignKey("communities.id", ondelete="RESTRICT"))
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="RESTRICT"))
    interval_start: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    bought_wh: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    sold_wh: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    grid_import_wh: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    grid_export_wh: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    metered_net_wh: Mapped[int | None] = mapped_column(sa.BigInteger)
    paid_minor: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    received_minor: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    fee_minor: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    grid_paid_minor: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    grid_received_minor: Mapped[int] = mapped_column(sa.BigInteger, default=0)

    __table_args__ = (
        sa.UniqueConstraint("clearing_run_id", "user_id"),
        sa.Index("ix_positions_user_interval", "user_id", "community_id", "interval_start"),
    )


class Invoice(Base):
    """An issued invoice: the JSON document in ``data``; ``total_minor`` reconciles to the ledger."""

    __tablename__ = "invoices"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(sa.String(40), unique=True)
    community_id: Mapped[int] = mapped_column(sa.ForeignKey("communities.id", ondelete="RESTRICT"))
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="RESTRICT"), index=True)
    period_start: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    period_end: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    total_minor: Mapped[int] = mapped_column(sa.BigInteger)
    data: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (sa.UniqueConstraint("community_id", "user_id", "period_start", "period_end"),)


class RevokedToken(Base):
    """A logged-out token id (kept until the token would have expired)."""

    __tablename__ = "revoked_tokens"

    jti: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class AuditLog(Base):
    """A privileged action: who, what, where, with details (never secrets)."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(sa.String(50))
    community_id: Mapped[int | None] = mapped_column(sa.ForeignKey("communities.id", ondelete="SET NULL"), index=True)
    target: Mapped[str] = mapped_column(sa.String(100), default="")
    detail: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)


class ServiceConfig(Base):
    """Key/value settings shared by every server process (e.g. the token signing key)."""

    __tablename__ = "service_config"

    key: Mapped[str] = mapped_column(sa.String(50), primary_key=True)
    value: Mapped[str] = mapped_column(sa.Text)


class MqttDeadLetter(Base):
    """An MQTT message the ingestor could not use (kept for the operator, then acknowledged).

    ``topic`` and ``payload`` are stored as received (truncated to 300 characters and the
    payload limit); ``reason`` is one of :data:`peergrid.service.mqtt.ingest.REASONS`, ``detail``
    the one-line explanation. ``community_id`` is the one the topic names, if it parsed
    (not a foreign key: the topic is untrusted).
    """

    __tablename__ = "mqtt_dead_letters"

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    topic: Mapped[str] = mapped_column(sa.String(300))
    payload: Mapped[bytes] = mapped_column(sa.LargeBinary)
    reason: Mapped[str] = mapped_column(sa.String(40))
    detail: Mapped[str] = mapped_column(sa.String(300), default="", server_default="")
    community_id: Mapped[int | None] = mapped_column(nullable=True)


class LoginFailure(Base):
    """A failed-login counter of the login throttle, shared by every server process of the database.

    ``kind`` is ``pair`` (client address and account), ``address`` or ``account``; ``key`` the
    client address key (:func:`peergrid.service.auth.address_key`) or a SHA-256 hex digest (pair and
    account keys: no email address is stored); ``last_at`` the wall-clock time of the last failure,
    seconds since the Unix epoch. See :class:`peergrid.service.auth.LoginLimiter`.
    """

    __tablename__ = "login_failures"
    __table_args__ = (sa.CheckConstraint("kind IN ('pair', 'address', 'account')", name="kind"),)

    kind: Mapped[str] = mapped_column(sa.String(10), primary_key=True)
    key: Mapped[str] = mapped_column(sa.String(400), primary_key=True)
    failures: Mapped[int] = mapped_column(sa.Integer)
    last_at: Mapped[float] = mapped_column(sa.Float, index=True)
