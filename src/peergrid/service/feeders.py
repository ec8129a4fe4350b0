"""A community's feeder: upload (vetted by :func:`peergrid.grid.read_feeder`), member mapping, clearing limits.

An operator (of the community) or an admin uploads a pandapower JSON net
(``PUT /api/communities/{id}/feeder``, at most :data:`peergrid.grid.MAX_FEEDER_BYTES`; the
file is hostile input and never reaches pandapower before it is vetted), sets the limits
and the eq. 12 fee ``fee_per_kwh`` (τ_L), and maps members to buses and phases
(``PUT /api/communities/{id}/feeder/members``). The market phase of an order-book community
with a feeder then clears with :func:`peergrid.grid.clear_on_feeder` — the same function as
``peergrid clear --network`` — and :mod:`peergrid.service.clearing` settles the line fees
to the community's ``network`` account. A pool community (BS/MMR/SDR) with a feeder settles
its metered positions with the simulator's network charges (:func:`pool_feeder`; eq. 12 line
fees and loss charges from the flows of the metered net positions, :mod:`peergrid.grid.charges`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.orm import Session

from peergrid.core.errors import PeergridError
from peergrid.service.directory import audit, is_member
from peergrid.service.errors import Invalid, NotFound
from peergrid.service.models import FEEDER_PHASES, Community, CommunityFeeder, FeederMember, User, utcnow

#: Limits of a new feeder (the scenario ``[grid]`` defaults).
DEFAULT_LIMITS: dict[str, float] = {
    "max_loading_pct": 100.0,
    "v_min_pu": 0.95,
    "v_max_pu": 1.05,
    "max_vim_pct": 2.0,
    "fee_per_kwh": 0.01,
}


def _read(source: str | bytes, mapping: Any = None) -> Any:
    """:func:`peergrid.grid.read_feeder`, its one-line errors as 422 :class:`Invalid`."""
    from peergrid.grid import read_feeder

    try:
        return read_feeder(source, mapping)
    except PeergridError as exc:
        raise Invalid(f"feeder: {str(exc).removeprefix('feeder JSON: ')}") from None
    except ImportError as exc:  # pragma: no cover - pandapower not installed
        raise Invalid(f"feeders need pandapower on the server: {exc}") from None


def _check_limits(limits: dict[str, float]) -> None:
    lim = limits
    if not (lim["max_loading_pct"] > 0 and lim["max_vim_pct"] > 0 and lim["fee_per_kwh"] >= 0):
        raise Invalid("need max_loading_pct > 0, max_vim_pct > 0 and fee_per_kwh >= 0")
    if not 0 < lim["v_min_pu"] < lim["v_max_pu"]:
        raise Invalid("need 0 < v_min_pu < v_max_pu")


def put_feeder(
    session: Session, community: Community, actor: User, body: bytes, limits: dict[str, float | None]
) -> CommunityFeeder:
    """Store (or replace) the community's feeder after vetting it; existing member mappings must still fit.

    Raises
    ------
    Invalid
        The JSON is not a safe, radial pandapower feeder, a limit is out of range, or a mapped
        member's bus is not on the new feeder.
    """
    import pandapower as pp

    net = _read(body)
    row = session.get(CommunityFeeder, community.id)
    merged = {k: (v if v is not None else (getattr(row, k) if row is not None else DEFAULT_LIMITS[k]))
              for k, v in {**dict.fromkeys(DEFAULT_LIMITS), **limits}.items()}  # fmt: skip
    _check_limits(merged)
    buses = set(net.bus.index.tolist())
    for m in _members(session, community.id):
        if m.bus not in buses:
            raise Invalid(f"feeder: member {m.user_id} is mapped to bus {m.bus}, which the new feeder lacks; "
                          "re-map the members first")  # fmt: skip
    text = pp.to_json(net)
    if row is None:
        row = CommunityFeeder(community_id=community.id)
        session.add(row)
    row.net_json = text
    row.n_buses = len(net.bus)
    row.n_lines = len(net.line)
    for k, v in merged.items():
        setattr(row, k, float(v))
    row.uploaded_by = actor.id
    row.updated_at = utcnow()
    session.flush()
    audit(session, actor, "feeder.upload", community.id, f"feeder:{community.id}", buses=row.n_buses,
          lines=row.n_lines, **{k: float(v) for k, v in merged.items()})  # fmt: skip
    return row


def get_feeder(session: Session, community_id: int) -> CommunityFeeder:
    """The community's feeder row or :class:`NotFound`."""
    row = session.get(CommunityFeeder, community_id)
    if row is None:
        raise NotFound(f"community {community_id} has no feeder")
    return row


def delete_feeder(session: Session, community: Community, actor: User) -> None:
    """Remove the feeder and its member mapping (clearing goes back to plain order-book clearing)."""
    row = get_feeder(session, community.id)
    session.execute(sa.delete(FeederMember).where(FeederMember.community_id == community.id))
    session.delete(row)
    session.flush()
    audit(session, actor, "feeder.delete", community.id, f"feeder:{community.id}")


def _members(session: Session, community_id: int) -> list[FeederMember]:
    return list(
        session.execute(
            sa.select(FeederMember).where(FeederMember.community_id == community_id).order_by(FeederMember.user_id)
        ).scalars()
    )


def members(session: Session, community_id: int) -> list[dict[str, Any]]:
    """The member mapping: ``[{"user_id", "bus", "phase"}]`` ordered by user id."""
    return [{"user_id": m.user_id, "bus": m.bus, "phase": m.phase} for m in _members(session, community_id)]


def put_members(
    session: Session, community: Community, actor: User, rows: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Replace the member mapping. Every user must be a member; every bus on the feeder; phases a|b|c|abc.

    Raises
    ------
    NotFound
        The community has no feeder.
    Invalid
        A user who is not a member, listed twice, a bus the feeder does not have, a bad phase.
    """
    import pandas as pd

    row = get_feeder(session, community.id)
    seen: set[int] = set()
    for r in rows:
        uid = int(r["user_id"])
        if uid in seen:
            raise Invalid(f"user {uid} is listed twice")
        seen.add(uid)
        if not is_member(session, community.id, uid):
            raise Invalid(f"user {uid} is not a member of community {community.id}")
        if str(r.get("phase", "abc")) not in FEEDER_PHASES:
            raise Invalid(f"user {uid}: phase {r.get('phase')!r} is not one of {', '.join(FEEDER_PHASES)}")
    if rows:
        table = pd.DataFrame({"id": [str(int(r["user_id"])) for r in rows], "bus": [int(r["bus"]) for r in rows],
                              "phase": [str(r.get("phase", "abc")) for r in rows]})  # fmt: skip
        try:
            _read(row.net_json, table)
        except Invalid as exc:  # "participant '7' is on bus 99, which the net does not have" → name the user
            raise Invalid(str(exc).replace("participant '", "user '")) from None
    session.execute(sa.delete(FeederMember).where(FeederMember.community_id == community.id))
    if rows:
        session.execute(
            sa.insert(FeederMember),
            [{"community_id": community.id, "user_id": int(r["user_id"]), "bus": int(r["bus"]),
              "phase": str(r.get("phase", "abc"))} for r in rows],
        )  # fmt: skip
    session.flush()
    audit(session, actor, "feeder.members", community.id, f"feeder:{community.id}", members=len(rows))
    return members(session, community.id)


def feeder_limits(session: Session, community_id: int, user_ids: Sequence[int], dt_hours: float) -> Any:
    """The :class:`peergrid.grid.FeederLimits` of a community for a clearing, or ``None`` without a feeder.

    Members are the feeder's participants under the labels ``str(position in user_ids)`` (the
    participant codes of the clearing's order book); users without a mapping are left off (their
    orders are rejected by the caller).

    Returns
    -------
    tuple of (FeederLimits or None, set of mapped user ids, float τ_L), or None
        ``None`` when the community has no feeder; ``FeederLimits`` is None when no member is mapped.
    """
    import pandas as pd

    from peergrid.grid import FeederLimits

    row = session.get(CommunityFeeder, community_id)
    if row is None:
        return None
    mapped = {m.user_id: m for m in _members(session, community_id)}
    codes = [i for i, u in enumerate(user_ids) if int(u) in mapped]
    table = pd.DataFrame({
        "id": [str(i) for i in codes],
        "bus": [mapped[int(user_ids[i])].bus for i in codes],
        "phase": [mapped[int(user_ids[i])].phase for i in codes],
    })  # fmt: skip
    net = _read(row.net_json, table)
    limits = FeederLimits(
        net, dt=dt_hours, max_loading_pct=row.max_loading_pct, v_min=row.v_min_pu, v_max=row.v_max_pu,
        max_vim_pct=row.max_vim_pct,
    ) if codes else None  # fmt: skip
    return limits, {int(user_ids[i]) for i in codes}, float(row.fee_per_kwh)


def feeder_out(session: Session, row: CommunityFeeder) -> dict[str, Any]:
    """The JSON view of a feeder (without the net itself)."""
    return {
        "community_id": row.community_id,
        "n_buses": row.n_buses,
        "n_lines": row.n_lines,
        "max_loading_pct": row.max_loading_pct,
        "v_min_pu": row.v_min_pu,
        "v_max_pu": row.v_max_pu,
        "max_vim_pct": row.max_vim_pct,
        "fee_per_kwh": row.fee_per_kwh,
        "updated_at": row.updated_at if isinstance(row.updated_at, dt.datetime) else None,
        "members": members(session, row.community_id),
    }


def pool_feeder(session: Session, community_id: int, user_ids: Sequence[int]) -> PoolFeeder | None:
    """The feeder of a pool community's metered settlement, or ``None`` without a feeder.

    Parameters
    ----------
    session : Session
    community_id : int
    user_ids : sequence of int
        The users settled in the interval.

    Returns
    -------
    PoolFeeder or None
        The net with the *mapped* users as participants (labelled by user id, in the order of
        ``user_ids``), their positions in ``user_ids``, the unmapped user ids, τ_L and whether
        the flow is three-phase (a member on a single phase: the feeder always has a VIM limit).
    """
    import pandas as pd

    row = session.get(CommunityFeeder, community_id)
    if row is None:
        return None
    mapped = {m.user_id: m for m in _members(session, community_id)}
    cols = np.array([i for i, u in enumerate(user_ids) if int(u) in mapped], dtype=np.int64)
    unmapped = [int(u) for u in user_ids if int(u) not in mapped]
    if not len(cols):
        return PoolFeeder(None, cols, unmapped, float(row.fee_per_kwh), False)
    table = pd.DataFrame({
        "id": [str(int(user_ids[i])) for i in cols],
        "bus": [mapped[int(user_ids[i])].bus for i in cols],
        "phase": [mapped[int(user_ids[i])].phase for i in cols],
    })  # fmt: skip
    net = _read(row.net_json, table)
    unbalanced = bool(table["phase"].isin(["a", "b", "c"]).any())
    return PoolFeeder(net, cols, unmapped, float(row.fee_per_kwh), unbalanced)


@dataclass(frozen=True)
class PoolFeeder:
    """A pool community's feeder for one metered settlement (:func:`pool_feeder`).

    Attributes
    ----------
    net : pandapowerNet or None
        The feeder with the mapped users as participants (None when nobody is mapped).
    cols : numpy.ndarray
        Positions of the mapped users in the settled users, in the participant order of ``net``.
    unmapped : list of int
        Settled users without a bus: off the feeder, charged no line fee and no losses.
    tau : float
        τ_L of Tooki et al. (2025) eq. 12, currency/kWh at full line utilisation.
    unbalanced : bool
        Three-phase flow (some mapped member sits on one phase).
    """

    net: Any
    cols: np.ndarray
    unmapped: list[int]
    tau: float
    unbalanced: bool
