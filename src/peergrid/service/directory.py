"""Users, communities, memberships, meters and wallets: creation and look-ups.

Every community has four system accounts next to its members' wallets:

* ``grid``     — the operator's account with the grid supplier: receives members'
  payments for imported energy (λb of the community's tariff) and the tariff's periodic
  charges (standing, demand), and pays exported energy (feed-in λs);
* ``fees``     — spreads the market keeps (pay-as-bid, bilateral network fees, reputation);
* ``clearing`` — transit account of a market settlement (back to zero after each one);
* ``external`` — the outside world that top-ups come from (balance = −Σ top-ups).

So Σ wallets + grid + fees + clearing = Σ top-ups at all times (the external account
mirrors it), the invariant the property tests check.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from peergrid.market.mechanisms import K_OPTION
from peergrid.service import ledger, tariffs
from peergrid.service.errors import Conflict, Invalid, NotFound
from peergrid.service.models import (
    MECHANISMS,
    ROLES,
    Account,
    AuditLog,
    Community,
    Membership,
    Meter,
    User,
)

SYSTEM_ACCOUNTS: tuple[str, ...] = ("grid", "fees", "clearing", "external", "network")


def audit(
    session: Session,
    actor: User | None,
    action: str,
    community_id: int | None = None,
    target: str = "",
    **detail: object,
) -> None:
    """Record a privileged action (never passwords or tokens)."""
    session.add(
        AuditLog(
            actor_id=actor.id if actor else None,
            action=action,
            community_id=community_id,
            target=target,
            detail={k: v for k, v in detail.items()},
        )
    )


def create_user(session: Session, email: str, name: str, password_hash: str, role: str) -> User:
    """Insert a user (email is case-insensitive and unique)."""
    if role not in ROLES:
        raise Invalid(f"unknown role {role!r}; choose from {', '.join(ROLES)}")
    email = email.strip().lower()
    if session.execute(sa.select(User.id).where(User.email == email)).first():
        raise Conflict(f"a user with email {email} already exists")
    user = User(email=email, name=name.strip() or email, password_hash=password_hash, role=role, is_active=True)
    session.add(user)
    session.flush()
    return user


def validate_community(mechanism: str, interval_minutes: int, k: float) -> None:
    """Check a community's market configuration (one-line errors; the tariff: :func:`tariffs.normalise`)."""
    if mechanism not in MECHANISMS:
        raise Invalid(f"unknown mechanism {mechanism!r}; choose from {', '.join(MECHANISMS)}")
    if not 1 <= interval_minutes <= 1440:
        raise Invalid(f"interval_minutes must be in 1..1440 (e.g. 15, or Tooki et al.'s 150), got {interval_minutes}")
    if not K_OPTION.low <= k <= K_OPTION.high:
        raise Invalid(f"k must be in [{K_OPTION.low:g}, {K_OPTION.high:g}], got {k}")


def create_community(
    session: Session,
    name: str,
    *,
    tariff: dict[str, Any] | None = None,
    retail_price: float | None = None,
    feed_in_price: float | None = None,
    **settings: Any,
) -> Community:
    """Insert a community and its system accounts.

    Parameters
    ----------
    session : Session
    name : str
        Unique name.
    tariff : dict, optional
        The tariff definition (:func:`peergrid.service.tariffs.normalise`), in the community's
        ``currency``. Not together with the flat shorthand below.
    retail_price, feed_in_price : float, optional
        Flat shorthand: a flat tariff with energy at ``retail_price`` and feed-in at
        ``feed_in_price`` (currency/kWh; defaults 0.30 and 0.08 when no tariff is given).
    **settings
        Other :class:`~peergrid.service.models.Community` columns (``currency``, ``tz``, …).
    """
    if session.execute(sa.select(Community.id).where(Community.name == name)).first():
        raise Conflict(f"a community named {name!r} already exists")
    currency = tariffs.checked_currency(str(settings.get("currency") or "EUR"))
    settings["currency"] = currency
    settings["tz"] = tariffs.checked_zone(str(settings.get("tz") or "UTC"))
    if tariff is not None and (retail_price is not None or feed_in_price is not None):
        raise Invalid("give either tariff or the flat retail_price/feed_in_price, not both")
    if tariff is None:
        tariff = tariffs.flat(0.30 if retail_price is None else retail_price,
                              0.08 if feed_in_price is None else feed_in_price, currency)
    community = Community(name=name, tariff=tariffs.normalise(tariff, currency, settings["tz"]), **settings)
    validate_community(
        community.mechanism or "uniform",
        community.interval_minutes or 15,
        community.k if community.k is not None else 0.5,
    )
    session.add(community)
    session.flush()
    session.execute(
        sa.insert(Account),
        [
            {
                "community_id": community.id,
                "user_id": None,
                "key": kind,
                "kind": kind,
                "balance_minor": 0,
                "credit_limit_minor": 0,
            }
            for kind in SYSTEM_ACCOUNTS
        ],
    )
    return community


def add_members(session: Session, community_id: int, user_ids: Sequence[int]) -> None:
    """Make users members (bulk) and open their wallets; existing members are skipped."""
    ids = sorted({int(u) for u in user_ids})
    if not ids:
        return
    existing = set(
        session.execute(
            sa.select(Membership.user_id).where(Membership.community_id == community_id, Membership.user_id.in_(ids))
        ).scalars()
    )
    new = [u for u in ids if u not in existing]
    if not new:
        return
    found = session.execute(sa.select(sa.func.count()).select_from(User).where(User.id.in_(new))).scalar_one()
    if found != len(new):
        raise NotFound("unknown user id in membership request")
    session.execute(
        sa.insert(Membership), [{"user_id": u, "community_id": community_id, "reputation": 1.0} for u in new]
    )
    session.execute(
        sa.insert(Account),
        [
            {
                "community_id": community_id,
                "user_id": u,
                "key": f"wallet:{u}",
                "kind": "wallet",
                "balance_minor": 0,
                "credit_limit_minor": 0,
            }
            for u in new
        ],
    )


def get_community(session: Session, community_id: int) -> Community:
    """The community or :class:`NotFound`."""
    c = session.get(Community, community_id)
    if c is None:
        raise NotFound(f"community {community_id} not found")
    return c


def is_member(session: Session, community_id: int, user_id: int) -> bool:
    """True if ``user_id`` belongs to ``community_id``."""
    return (
        session.execute(
            sa.select(Membership.id).where(Membership.community_id == community_id, Membership.user_id == user_id)
        ).first()
        is not None
    )


def system_accounts(session: Session, community_id: int) -> dict[str, int]:
    """Ids of the community's system accounts by kind."""
    rows = session.execute(
        sa.select(Account.kind, Account.id).where(Account.community_id == community_id, Account.user_id.is_(None))
    ).all()
    out = dict(rows)
    if set(out) != set(SYSTEM_ACCOUNTS):
        raise NotFound(f"community {community_id} has no system accounts")
    return out


def wallet(session: Session, community_id: int, user_id: int) -> Account:
    """A member's wallet account or :class:`NotFound`."""
    acc = session.execute(
        sa.select(Account).where(Account.community_id == community_id, Account.key == f"wallet:{user_id}")
    ).scalar_one_or_none()
    if acc is None:
        raise NotFound(f"user {user_id} has no wallet in community {community_id}")
    return acc


def wallet_ids(session: Session, community_id: int) -> dict[int, int]:
    """Wallet account id by user id for every member."""
    return dict(
        session.execute(
            sa.select(Account.user_id, Account.id).where(Account.community_id == community_id, Account.kind == "wallet")
        ).all()
    )


def topup(session: Session, community_id: int, user_id: int, amount_minor: int, memo: str = "") -> str:
    """Credit ``amount_minor`` (> 0) to a member's wallet from the external account."""
    if amount_minor <= 0:
        raise Invalid(f"top-up amount must be > 0 minor units, got {amount_minor}")
    acc = wallet(session, community_id, user_id)
    ext = system_accounts(session, community_id)["external"]
    return ledger.post(
        session,
        community_id,
        [ledger.Transfer(ext, acc.id, amount_minor, "topup", ref=f"user:{user_id}", memo=memo[:200])],
    )


def add_meter(
    session: Session,
    community_id: int,
    user_id: int,
    serial: str,
    label: str = "",
    *,
    has_generation: bool | None = None,
    import_capacity_w: int | None = None,
    export_capacity_w: int | None = None,
) -> Meter:
    """Bind a meter (unique serial) to a member.

    ``has_generation`` defaults to whether the owner is a prosumer; the capacities (W)
    default to ``None``, i.e. the community's ``meter_import_w`` / ``meter_export_w``.
    """
    if not is_member(session, community_id, user_id):
        raise Invalid(f"user {user_id} is not a member of community {community_id}")
    serial = serial.strip()
    if not serial:
        raise Invalid("meter serial must not be empty")
    if session.execute(sa.select(Meter.id).where(Meter.serial == serial)).first():
        raise Conflict(f"meter {serial!r} is already registered")
    if has_generation is None:
        has_generation = session.execute(sa.select(User.role).where(User.id == user_id)).scalar() == "prosumer"
    m = Meter(community_id=community_id, user_id=user_id, serial=serial, label=label or serial,
              has_generation=has_generation, import_capacity_w=import_capacity_w, export_capacity_w=export_capacity_w)
    session.add(m)
    session.flush()
    return m
