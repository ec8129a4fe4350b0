"""The hash-chained ledger: conservation, and every kind of tampering is detected (both backends)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import sqlalchemy as sa

from peergrid.service import directory, ledger
from peergrid.service.app import create_app
from peergrid.service.auth import FAST_AUTH
from peergrid.service.errors import InsufficientFunds
from peergrid.service.models import Account, LedgerEntry
from peergrid.service.testing import make_community, make_user, temp_database


@pytest.fixture(scope="module")
def chain(app):
    """A community with a few top-ups and transfers; returns (factory, community id, wallet ids, seqs)."""
    f = app.state.sessions
    c = make_community(f)
    users = [make_user(f, "prosumer", communities=[c.id]) for _ in range(3)]
    with f() as s, s.begin():
        for i, u in enumerate(users):
            directory.topup(s, c.id, u.id, 1000 * (i + 1), f"opening {i}")
        w = [directory.wallet(s, c.id, u.id).id for u in users]
        ledger.post(s, c.id, [ledger.Transfer(w[0], w[1], 250, "p2p_buy", "t"),
                              ledger.Transfer(w[2], w[0], 75, "p2p_buy", "t", memo="énergie ⚡")])
    with f() as s:
        seqs = list(s.execute(sa.select(LedgerEntry.seq).where(LedgerEntry.community_id == c.id)
                              .order_by(LedgerEntry.seq)).scalars())
    return f, c.id, w, seqs


def test_balances_and_verify(chain):
    f, cid, w, _seqs = chain
    with f() as s:
        bal = ledger.balances(s, w)
        assert bal == {w[0]: 1000 - 250 + 75, w[1]: 2000 + 250, w[2]: 3000 - 75}
        total = s.execute(sa.select(sa.func.sum(Account.balance_minor)).where(Account.community_id == cid)).scalar()
        assert total == 0  # double entry: every community's accounts sum to zero
        assert ledger.verify(s).ok


def test_overdraft_is_refused_and_rolled_back(chain):
    f, cid, w, _ = chain
    with f() as s:
        before = s.execute(sa.select(sa.func.count()).select_from(LedgerEntry)).scalar()
    with pytest.raises(InsufficientFunds), f() as s, s.begin():
        ledger.post(s, cid, [ledger.Transfer(w[0], w[1], 10**6, "p2p_buy")])
    with f() as s:
        assert s.execute(sa.select(sa.func.count()).select_from(LedgerEntry)).scalar() == before
        assert ledger.verify(s).ok


def _tampered(f, statements):
    """Apply raw SQL in a transaction, verify inside it, roll back."""
    with f() as s:
        for sql, params in statements:
            s.execute(sa.text(sql), params)
        result = ledger.verify(s, batch=2)  # small batches exercise the paging
        s.rollback()
    with f() as s:
        assert ledger.verify(s).ok
    return result


@pytest.mark.parametrize("case", ["amount", "memo", "account", "kind", "hash", "delete_middle", "delete_last",
                                  "reorder", "balance", "append_without_head"])
def test_tampering_is_detected(chain, case):
    f, _cid, w, seqs = chain
    k = seqs[1]
    last = seqs[-1]
    statements = {
        "amount": [("UPDATE ledger_entries SET amount_minor = amount_minor + 1 WHERE seq = :k", {"k": k})],
        "memo": [("UPDATE ledger_entries SET memo = 'edited' WHERE seq = :k", {"k": k})],
        "account": [("UPDATE ledger_entries SET credit_account_id = :a WHERE seq = :k", {"k": k, "a": w[2]})],
        "kind": [("UPDATE ledger_entries SET kind = 'topup' WHERE seq = :k", {"k": last})],
        "hash": [("UPDATE ledger_entries SET hash = :h WHERE seq = :k", {"k": k, "h": "f" * 64})],
        "delete_middle": [("DELETE FROM ledger_entries WHERE seq = :k", {"k": k})],
        "delete_last": [("DELETE FROM ledger_entries WHERE seq = :k", {"k": last})],
        "reorder": [("UPDATE ledger_entries SET seq = -1 WHERE seq = :k", {"k": k}),
                    ("UPDATE ledger_entries SET seq = :k WHERE seq = :k1", {"k": k, "k1": k + 1}),
                    ("UPDATE ledger_entries SET seq = :k1 WHERE seq = -1", {"k1": k + 1})],
        "balance": [("UPDATE accounts SET balance_minor = balance_minor + 500 WHERE id = :a", {"a": w[0]})],
        "append_without_head": [(
            "INSERT INTO ledger_entries (seq, tx_id, community_id, debit_account_id, credit_account_id, amount_minor,"
            " kind, interval_start, ref, memo, created_at, prev_hash, hash) SELECT seq + 1000000, tx_id, community_id,"
            " debit_account_id, credit_account_id, amount_minor, kind, interval_start, ref, memo, created_at, hash,"
            " hash FROM ledger_entries WHERE seq = :k", {"k": last})],
    }[case]
    result = _tampered(f, statements)
    assert not result.ok
    if case == "balance":
        assert result.bad_accounts == [w[0]] and result.first_bad_seq is None
    elif case in ("delete_last", "append_without_head"):
        assert "head" in result.problem or "missing" in result.problem
    else:
        assert result.first_bad_seq == k if case != "kind" else result.first_bad_seq == last
    assert result.problem


def test_cli_verify(backend, tmp_path):
    with temp_database(backend, tmp_path) as url:
        app = create_app(url, auth=FAST_AUTH, extensions=())
        f = app.state.sessions
        c = make_community(f)
        u = make_user(f, "consumer", communities=[c.id])
        with f() as s, s.begin():
            for amount in (100, 200, 300):
                directory.topup(s, c.id, u.id, amount)
        from typer.testing import CliRunner

        from peergrid.cli.main import app as cli

        runner = CliRunner()
        ok = runner.invoke(cli, ["ledger", "verify", "--db", url, "--json"])
        assert ok.exit_code == 0, ok.output
        assert json.loads(ok.stdout.strip().splitlines()[-1])["entries"] == 3
        with f() as s, s.begin():
            s.execute(sa.text("UPDATE ledger_entries SET amount_minor = 201 WHERE amount_minor = 200"))
        bad = runner.invoke(cli, ["ledger", "verify", "--db", url])
        assert bad.exit_code == 1
        assert "BROKEN at entry 2" in bad.stdout and "edited" in bad.stdout
        app.state.engine.dispose()
    # a real process: a missing database is a one-line error with exit code 2
    cmd = [sys.executable, "-c", "from peergrid.cli.main import run; run()", "ledger", "verify", "--db",
           str(tmp_path / "none.db")]
    missing = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert missing.returncode == 2 and "does not exist" in missing.stderr and "Traceback" not in missing.stderr
