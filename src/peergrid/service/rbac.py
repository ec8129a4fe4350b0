"""Role-based access control: who may do what (Tooki et al.: role-based access for
prosumers and consumers; plus operators and administrators).

=====================================  =====  ========  ========  ========
action                                 admin  operator  prosumer  consumer
=====================================  =====  ========  ========  ========
manage users, communities, members      yes     no        no        no
see a community                         all   member    member    member
configure community (tariffs, market)   yes   member      no        no
register meters                          no   member      no        no
change meter capacity / generation      yes   member      no        no
correct a stored reading                 no   member      no        no
read meters / readings / wallets /      all   member    own       own
orders / trades / invoices / reports
upload readings                          no   any meter own meter  own meter
top up wallets, set credit limits        no   member      no        no
place / cancel orders                    no     no       buy+sell  buy only
run clearing, issue invoices             no   member      no        no
read ledger, audit log                  yes   member      no        no
verify the ledger                       yes    yes        no        no
=====================================  =====  ========  ========  ========

"member" = in communities the user belongs to; "own" = the user's own records.
Every endpoint calls one of the helpers below; the matrix test in
``tests/service/test_rbac.py`` exercises every endpoint with every role.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from peergrid.service.errors import Forbidden, NotFound
from peergrid.service.models import Community, Membership, User

ADMIN = "admin"
OPERATOR = "operator"
PROSUMER = "prosumer"
CONSUMER = "consumer"
TRADERS = (PROSUMER, CONSUMER)


def require_role(user: User, *roles: str) -> None:
    """:class:`Forbidden` unless ``user.role`` is one of ``roles``."""
    if user.role not in roles:
        raise Forbidden(f"role {user.role!r} may not do this (needs {' or '.join(roles)})")


def community_for(session: Session, user: User, community_id: int, *roles: str) -> Community:
    """The community if ``user`` may access it (admins: all; others: member), with one of ``roles``.

    Non-members get :class:`NotFound` (a community's existence is not disclosed).
    """
    member = sa.exists().where(Membership.community_id == community_id, Membership.user_id == user.id)
    row = session.execute(sa.select(Community, member).where(Community.id == community_id)).first()  # one query
    if row is None or (user.role != ADMIN and not row[1]):
        raise NotFound(f"community {community_id} not found")
    community = row[0]
    if roles:
        require_role(user, *roles)
    return community


def sees_everyone(user: User) -> bool:
    """Admins and operators read every member's records of their communities."""
    return user.role in (ADMIN, OPERATOR)


def check_owner(user: User, owner_id: int, what: str) -> None:
    """:class:`Forbidden` unless the user owns the record or sees everyone."""
    if not sees_everyone(user) and owner_id != user.id:
        raise Forbidden(f"this {what} belongs to another user")
