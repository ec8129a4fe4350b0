"""Double-entry, hash-chained ledger of every money movement (integer minor units).

Each :class:`~peergrid.service.models.LedgerEntry` moves ``amount_minor`` > 0 from a
debit account to a credit account of the same community, so every entry — and every
transaction (entries sharing a ``tx_id``) — sums to zero. An account's balance is
Σ credits − Σ debits; the ``accounts.balance_minor`` cache is updated in the same
database transaction as the entries.

Tamper evidence: entries form one chain over the whole database,

    hash_k = SHA-256(hash_{k−1} ‖ canonical_json(seq_k, tx, community, debit, credit,
                                                 amount, kind, interval, ref, memo, created_at))

with ``hash_0`` = 64 zeros and the last (seq, hash) kept in ``ledger_head``. Appending
locks the head row (``SELECT … FOR UPDATE`` on PostgreSQL; SQLite write transactions
are serialised by ``BEGIN IMMEDIATE``), so concurrent writers append in a strict order.
:func:`verify` recomputes the chain and reports the first entry whose sequence number,
link or content hash is wrong — an edited, deleted, inserted or reordered entry — and
any account whose cached balance differs from its ledger sum.

Wallets may not go below ``−credit_limit_minor`` (Tooki et al.: wallet balance decides
eligibility), except for mandatory settlement of metered energy (``allow_overdraft``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.orm import Session

from peergrid.service import bulk
from peergrid.service.errors import InsufficientFunds, Invalid, NotFound
from peergrid.service.models import Account, LedgerEntry, LedgerHead, utcnow

GENESIS = "0" * 64
_ACC = Account.__table__
_LED = LedgerEntry.__table__
_CHUNK = 5000


@dataclass(frozen=True)
class Transfer:
    """A movement of ``amount_minor`` (> 0, integer minor units) from ``debit`` to ``credit`` account id."""

    debit: int
    credit: int
    amount_minor: int
    kind: str
    ref: str = ""
    memo: str = ""
    interval_start: dt.datetime | None = None


def _iso(t: dt.datetime | None) -> str | None:
    return None if t is None else t.astimezone(dt.UTC).isoformat(timespec="microseconds")


def canonical(row: dict) -> bytes:
    """Canonical JSON of an entry's content (what the hash covers), UTF-8."""
    content = [
        int(row["seq"]),
        row["tx_id"],
        int(row["community_id"]),
        int(row["debit_account_id"]),
        int(row["credit_account_id"]),
        int(row["amount_minor"]),
        row["kind"],
        _iso(row["interval_start"]),
        row["ref"],
        row["memo"],
        _iso(row["created_at"]),
    ]
    return json.dumps(content, separators=(",", ":"), ensure_ascii=False).encode()


def entry_hash(prev_hash: str, row: dict) -> str:
    """SHA-256 hex of ``prev_hash`` followed by the canonical content of ``row``."""
    return hashlib.sha256(prev_hash.encode() + canonical(row)).hexdigest()


def _lock_head(session: Session) -> LedgerHead:
    head = session.execute(sa.select(LedgerHead).where(LedgerHead.id == 1).with_for_update()).scalar_one_or_none()
    if head is None:
        raise NotFound("ledger head missing: the database was not migrated (run peergrid serve once)")
    return head


def apply_deltas(session: Session, deltas: dict[int, int]) -> None:
    """Add ``deltas[account_id]`` (minor units) to the cached balances, in bulk."""
    rows = [{"id": int(k), "balance_minor": int(v)} for k, v in deltas.items() if v]
    bulk.update_rows(session, _ACC, rows, ("balance_minor",), increment=True)


def post(
    session: Session,
    community_id: int,
    transfers: Sequence[Transfer],
    *,
    allow_overdraft: bool = False,
    tx_id: str | None = None,
    accounts_checked: bool = False,
) -> str:
    """Append ``transfers`` as one transaction to the chain and update balances.

    Must run inside the caller's database transaction: nothing is committed here, so
    the entries, the balance updates and whatever the caller writes alongside (trades,
    orders) are all-or-nothing.

    Parameters
    ----------
    session : sqlalchemy.orm.Session
    community_id : int
        Every account must belong to this community.
    transfers : sequence of Transfer
        Zero amounts are skipped; negative ones are an error.
    allow_overdraft : bool
        Let wallets go below their credit limit (mandatory settlement of metered energy).
    tx_id : str, optional
        Transaction id (default: a new UUID).
    accounts_checked : bool
        The caller read every account id from this community's accounts in the same
        transaction (skips the look-up that checks it).

    Returns
    -------
    str
        The transaction id.

    Raises
    ------
    InsufficientFunds
        A debited wallet would end below −credit limit (the caller must roll back).
    """
    tx = tx_id or uuid.uuid4().hex
    items = [t for t in transfers if t.amount_minor != 0]
    if not items:
        return tx
    for t in items:
        if t.amount_minor < 0:
            raise Invalid(f"ledger amounts must be positive, got {t.amount_minor}")
        if t.debit == t.credit:
            raise Invalid("a transfer needs two different accounts")
    deltas: dict[int, int] = defaultdict(int)
    for t in items:
        deltas[t.debit] -= t.amount_minor
        deltas[t.credit] += t.amount_minor
    if not accounts_checked:
        _check_accounts(session, community_id, deltas.keys())
    head = _lock_head(session)
    now = utcnow()
    prev = head.hash
    seq = head.seq
    rows = []
    for t in items:
        seq += 1
        row = {
            "seq": seq,
            "tx_id": tx,
            "community_id": community_id,
            "debit_account_id": t.debit,
            "credit_account_id": t.credit,
            "amount_minor": int(t.amount_minor),
            "kind": t.kind,
            "interval_start": t.interval_start,
            "ref": t.ref,
            "memo": t.memo,
            "created_at": now,
            "prev_hash": prev,
        }
        row["hash"] = prev = entry_hash(prev, row)
        rows.append(row)
    bulk.insert_rows(session, _LED, rows)
    session.execute(sa.update(LedgerHead).where(LedgerHead.id == 1).values(seq=seq, hash=prev))
    session.expire(head)
    apply_deltas(session, deltas)
    if not allow_overdraft:
        debited = [a for a, d in deltas.items() if d < 0]
        _check_overdraft(session, debited)
    return tx


def _check_accounts(session: Session, community_id: int, ids: Iterable[int]) -> None:
    ids = list(ids)
    found = 0
    for i in range(0, len(ids), _CHUNK):
        part = ids[i : i + _CHUNK]
        found += session.execute(
            sa.select(sa.func.count()).select_from(_ACC).where(_ACC.c.id.in_(part), _ACC.c.community_id == community_id)
        ).scalar_one()
    if found != len(ids):
        raise NotFound("ledger transfer names an account that is not in this community")


def _check_overdraft(session: Session, account_ids: list[int]) -> None:
    for i in range(0, len(account_ids), _CHUNK):
        part = account_ids[i : i + _CHUNK]
        bad = session.execute(
            sa.select(_ACC.c.id, _ACC.c.user_id, _ACC.c.balance_minor, _ACC.c.credit_limit_minor)
            .where(_ACC.c.id.in_(part), _ACC.c.kind == "wallet")
            .where(_ACC.c.balance_minor < -_ACC.c.credit_limit_minor)
            .limit(1)
        ).first()
        if bad is not None:
            raise InsufficientFunds(
                f"wallet of user {bad.user_id} would go to {bad.balance_minor} minor units "
                f"(credit limit {bad.credit_limit_minor})"
            )


@dataclass
class VerifyResult:
    """Outcome of :func:`verify`."""

    ok: bool
    entries: int
    head_seq: int
    head_hash: str
    first_bad_seq: int | None = None
    problem: str | None = None
    bad_accounts: list[int] = field(default_factory=list)

    def as_dict(self) -> dict:
        """JSON-ready (stable keys)."""
        return {
            "ok": self.ok,
            "entries": self.entries,
            "head_seq": self.head_seq,
            "head_hash": self.head_hash,
            "first_bad_seq": self.first_bad_seq,
            "problem": self.problem,
            "bad_accounts": self.bad_accounts,
        }


def verify(session: Session, batch: int = 20_000) -> VerifyResult:
    """Recompute the hash chain and the cached balances.

    Parameters
    ----------
    session : sqlalchemy.orm.Session
    batch : int
        Rows fetched per round trip.

    Returns
    -------
    VerifyResult
        ``first_bad_seq`` is the sequence number of the first entry that is missing,
        out of order, unlinked or whose content does not match its hash (or the head
        when entries were removed from the end).
    """
    head = session.execute(sa.select(LedgerHead.seq, LedgerHead.hash).where(LedgerHead.id == 1)).first()
    if head is None:
        return VerifyResult(False, 0, 0, "", None, "ledger head row missing")
    cols = [
        _LED.c[name]
        for name in (
            "seq",
            "tx_id",
            "community_id",
            "debit_account_id",
            "credit_account_id",
            "amount_minor",
            "kind",
            "interval_start",
            "ref",
            "memo",
            "created_at",
            "prev_hash",
            "hash",
        )
    ]
    prev = GENESIS
    expected = 1
    n = 0
    sums: dict[int, int] = defaultdict(int)
    bad_seq: int | None = None
    problem: str | None = None
    last = 0
    while True:
        rows = (
            session.execute(
                sa.select(*cols)
                .where(_LED.c.seq >= expected if bad_seq is None else sa.false())
                .order_by(_LED.c.seq)
                .limit(batch)
            )
            .mappings()
            .all()
        )
        if not rows:
            break
        for row in rows:
            n += 1
            seq = row["seq"]
            if seq != expected:
                bad_seq, problem = expected, f"entry {expected} is missing (next entry is {seq})"
                break
            if row["prev_hash"] != prev:
                bad_seq, problem = seq, f"entry {seq} does not link to entry {seq - 1} (reordered or replaced)"
                break
            if entry_hash(prev, row) != row["hash"]:
                bad_seq, problem = seq, f"entry {seq} content does not match its hash (edited)"
                break
            if row["amount_minor"] <= 0 or row["debit_account_id"] == row["credit_account_id"]:
                bad_seq, problem = seq, f"entry {seq} is not a valid double entry"
                break
            sums[row["debit_account_id"]] -= row["amount_minor"]
            sums[row["credit_account_id"]] += row["amount_minor"]
            prev = row["hash"]
            last = seq
            expected += 1
        if bad_seq is not None or len(rows) < batch:
            break
    if bad_seq is None and (head.seq != last or head.hash != prev):
        bad_seq = last + 1 if head.seq > last else last
        problem = f"ledger head (entry {head.seq}) does not match the last entry {last} (entries removed or added)"
    bad_accounts: list[int] = []
    if bad_seq is None:
        for aid, bal in session.execute(sa.select(_ACC.c.id, _ACC.c.balance_minor)).all():
            if sums.get(aid, 0) != bal:
                bad_accounts.append(int(aid))
        if bad_accounts:
            problem = f"cached balance of account {bad_accounts[0]} differs from its ledger sum"
    ok = bad_seq is None and not bad_accounts
    return VerifyResult(ok, n, int(head.seq), head.hash, bad_seq, problem, bad_accounts)


def balances(session: Session, account_ids: Sequence[int]) -> dict[int, int]:
    """Cached balances (minor units) of ``account_ids``."""
    out: dict[int, int] = {}
    ids = list(account_ids)
    for i in range(0, len(ids), _CHUNK):
        part = ids[i : i + _CHUNK]
        out.update(session.execute(sa.select(_ACC.c.id, _ACC.c.balance_minor).where(_ACC.c.id.in_(part))).all())
    return out
