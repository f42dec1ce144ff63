"""Operations O-3: a backup restored into a fresh database keeps the books and the audit
chains intact (TEST-PLAN O-3: dump, restore to a fresh instance, run the ledger invariant
checker; RPO/RTO recorded).

Runs on whichever database the suite uses: SQLite (online backup API) or PostgreSQL
(pg_dump/pg_restore into a new database beside the test database).
"""

import json
import uuid
from dataclasses import dataclass
from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import select, text
from sqlalchemy.engine import make_url

from jobs.payouts import sweep_money
from portal import create_app
from portal.accounts.models import User
from portal.audit import AuditEvent
from portal.backup import (
    BackupError,
    backup_database,
    database_exists,
    drop_database,
    is_postgres,
    manifest_path,
    restore_database,
    row_counts,
)
from portal.contracts.models import Contract
from portal.database import utcnow
from portal.deliverables.models import Deliverable
from portal.escrow import ledger, services
from portal.escrow.models import Milestone, MilestoneStatus, Payout, PayoutState
from portal.extensions import db
from portal.workrooms.services import post_message
from tests.conftest import Browserless, https_client
from tests.contracts.conftest import seat
from tests.escrow.conftest import active  # noqa: F401 (a fixture)
from tests.escrow.test_concurrency import releasable_milestones
from tests.escrow.test_concurrency import sandbox as sandbox  # a fixture

#: far enough ahead that the sweep settles and pays what is releasable now
LATER = timedelta(minutes=2)
#: tables the drill must bring back with rows in them
KEY_TABLES = (
    "users",
    "workrooms",
    "messages",
    "contracts",
    "deliverables",
    "milestones",
    "ledger_transactions",
    "ledger_entries",
    "payouts",
    "audit_events",
    "alembic_version",
)


@dataclass
class Seeded:
    """What the seeding made: the workroom, its creator, and milestones by state."""

    workroom_id: int
    creator_email: str
    paid: list[int]
    waiting: int
    unfunded: int


@pytest.fixture
def seeded(app, app_ctx, active, sandbox):  # noqa: F811 (the fixture imported above)
    """A workroom with messages, an active contract, two milestones released and paid out,
    one funded and waiting on a deliverable, one not funded: all through the services."""
    owner = db.session.get(User, active.pair.owner.id)
    creator = db.session.get(User, active.pair.creator.id)
    brand, maker = seat(owner.id, active.workroom_id), seat(creator.id, active.workroom_id)
    post_message(brand, owner, "Welcome aboard: the brief is in the contract.")
    post_message(maker, creator, "Thanks! A first cut comes **on Friday**.")
    db.session.commit()
    paid = releasable_milestones(active, 2)
    contract = db.session.get(Contract, active.contract_id)
    first = db.session.get(Deliverable, active.deliverable_ids[0])
    waiting = services.add_milestone(
        contract, owner, brand, "Video approved", 50_000, deliverables=[first]
    )
    services.fund_milestone(waiting, owner, brand, sandbox)
    unfunded = services.add_milestone(contract, owner, brand, "Bonus", 7_000)
    db.session.commit()
    sweep_money(now=utcnow() + LATER)
    db.session.expire_all()
    assert {p.state for p in db.session.scalars(select(Payout))} == {PayoutState.paid}
    assert db.session.get(Milestone, waiting.id).status is MilestoneStatus.funded
    assert ledger.check_books() == []
    seeded = Seeded(active.workroom_id, creator.email, paid, waiting.id, unfunded.id)
    db.session.commit()  # no transaction left open while the backup reads (SQLite's locks)
    return seeded


@dataclass
class Fresh:
    """A database that does not exist yet, and an app configured for it."""

    url: str
    app: Flask

    @property
    def restore_args(self):
        """The restore command's arguments (PostgreSQL databases are created by it)."""
        return ["--create"] if is_postgres(self.url) else []

    def flask(self, *args):
        """Run a `flask` command on this app, as `flask --app wsgi` with its DATABASE_URL
        would (in its own app context: the test's would otherwise be used)."""
        with self.app.app_context():
            return self.app.test_cli_runner().invoke(args=list(args))


@pytest.fixture
def source_url(app):
    """The test database's URL as the app's engine uses it."""
    with app.app_context():
        return db.engine.url.render_as_string(hide_password=False)


@pytest.fixture
def fresh(test_settings, source_url, tmp_path):
    """A fresh database beside the test database (dropped afterwards) and its own app."""
    if is_postgres(source_url):
        parsed = make_url(source_url)
        name = f"{parsed.database}_restore_{uuid.uuid4().hex[:8]}"
        url = parsed.set(database=name).render_as_string(hide_password=False)
    else:
        url = f"sqlite:///{tmp_path / 'restored' / 'duet.sqlite'}"
    copy = create_app("testing", {**test_settings, "SQLALCHEMY_DATABASE_URI": url})
    yield Fresh(url, copy)
    with copy.app_context():
        db.session.remove()
        db.engine.dispose()
    drop_database(url)


def audit_trail():
    """Every audit event's chain, number and hash, in order."""
    return db.session.execute(
        select(AuditEvent.chain, AuditEvent.seq, AuditEvent.hash).order_by(
            AuditEvent.chain, AuditEvent.seq
        )
    ).all()


def money_state():
    """Each milestone's state and cached figures, each payout's state, every balance."""
    milestones = db.session.execute(
        select(
            Milestone.id, Milestone.status, Milestone.released_minor, Milestone.refunded_minor
        ).order_by(Milestone.id)
    ).all()
    payouts = db.session.execute(
        select(Payout.id, Payout.state, Payout.amount_minor).order_by(Payout.id)
    ).all()
    return milestones, payouts, ledger.balances()


def backup_file(tmp_path, source_url):
    """Where a test writes its backup."""
    return tmp_path / "backups" / ("duet.dump" if is_postgres(source_url) else "duet.sqlite")


def test_o3_backup_restored_into_a_fresh_database_passes_the_ledger_and_audit_checks(
    app, seeded, fresh, source_url, tmp_path, capsys
):
    target = backup_file(tmp_path, source_url)
    created = app.test_cli_runner().invoke(args=["backup", "create", "--output", str(target)])
    assert created.exit_code == 0, created.output
    assert f"to {target}" in created.output
    manifest = json.loads(manifest_path(target).read_text())
    source_rows = row_counts(source_url)
    assert manifest["rows"] == source_rows
    assert all(source_rows[table] > 0 for table in KEY_TABLES), source_rows
    trail, money = audit_trail(), money_state()
    revision = db.session.scalar(text("SELECT version_num FROM alembic_version"))
    assert manifest["revision"] == revision

    restored = fresh.flask("backup", "restore", str(target), *fresh.restore_args)
    assert restored.exit_code == 0, restored.output
    assert "match the backup" in restored.output
    assert "Ledger invariants hold and every audit chain is intact." in restored.output
    assert row_counts(fresh.url) == source_rows

    verified = fresh.flask("verify-audit")
    assert verified.exit_code == 0, verified.output
    assert "audit chains are intact" in verified.output
    with fresh.app.app_context():
        assert ledger.unbalanced_transactions() == []
        assert ledger.check_books() == []
        assert sum(ledger.balances().values()) == 0
        assert audit_trail() == trail
        assert money_state() == money
        db.session.remove()

    # The restored copy serves the workroom: the creator signs in and reads the log.
    web = Browserless(https_client(fresh.app))
    assert web.login(seeded.creator_email).status_code == 302
    page = web.client.get(f"/workrooms/{seeded.workroom_id}")
    assert page.status_code == 200
    assert "A first cut comes" in page.get_data(as_text=True)
    with capsys.disabled():
        print(f"\nO-3 {created.output.strip()}\nO-3 {restored.output.splitlines()[0]}")


def test_o3_a_tampered_restore_is_caught_by_both_checks(app, seeded, fresh, source_url, tmp_path):
    backup = backup_database(source_url, backup_file(tmp_path, source_url))
    restore_database(backup.path, fresh.url, create=True)
    chain = f"workroom:{seeded.workroom_id}"
    paid = seeded.paid[0]
    with fresh.app.app_context():
        db.session.execute(
            text("UPDATE audit_events SET action = 'forged' WHERE chain = :c AND seq = 2"),
            {"c": chain},
        )
        db.session.execute(
            text("UPDATE milestones SET released_minor = released_minor + 1 WHERE id = :id"),
            {"id": paid},
        )
        db.session.commit()
        released = db.session.get(Milestone, paid).released_minor
        db.session.remove()

    verified = fresh.flask("verify-audit")
    assert verified.exit_code == 1
    assert f"BROKEN {chain} at event 2: content does not match its hash" in verified.output
    checked = fresh.flask("backup", "check")
    assert checked.exit_code == 1
    assert (
        f"PROBLEM milestone {paid}: released_minor is {released},"
        f" the ledger says {released - 1}" in checked.output
    )
    assert f"PROBLEM audit chain {chain} broken at event 2" in checked.output
    # The original was never touched.
    with app.app_context():
        assert ledger.check_books() == []


def test_o3_restore_refuses_a_database_that_already_has_tables(app, seeded, source_url, tmp_path):
    backup = backup_database(source_url, backup_file(tmp_path, source_url))
    before = row_counts(source_url)
    with pytest.raises(BackupError, match="restore only into a new, empty database"):
        restore_database(backup.path, source_url)
    refused = app.test_cli_runner().invoke(args=["backup", "restore", str(backup.path)])
    assert refused.exit_code == 1
    assert "restore only into a new, empty database" in refused.output
    assert row_counts(source_url) == before


def test_o3_a_damaged_backup_is_refused_before_the_target_is_touched(
    app, seeded, fresh, source_url, tmp_path
):
    backup = backup_database(source_url, backup_file(tmp_path, source_url))
    data = bytearray(backup.path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    backup.path.write_bytes(bytes(data))
    with pytest.raises(BackupError, match="does not match the SHA-256 in its manifest"):
        restore_database(backup.path, fresh.url, create=True)
    assert not database_exists(fresh.url)


def test_o3_backup_never_overwrites_an_earlier_one(app, seeded, source_url, tmp_path):
    target = backup_file(tmp_path, source_url)
    first = backup_database(source_url, target)
    with pytest.raises(BackupError, match="already exists"):
        backup_database(source_url, target)
    assert first.path.exists() and manifest_path(target).exists()
    assert [p.name for p in target.parent.iterdir() if p.name.startswith(".")] == []


def test_o3_drill_command_measures_rpo_rto_and_drops_its_scratch_copy(
    app, seeded, source_url, capsys
):
    result = app.test_cli_runner().invoke(args=["backup", "drill"])
    assert result.exit_code == 0, result.output
    for line in ("Backup:", "Restore:", "Checks:", "RTO (measured restore + checks):"):
        assert line in result.output
    assert "Ledger invariants hold and every audit chain is intact." in result.output
    if is_postgres(source_url):
        with app.app_context():
            name = make_url(source_url).database
            left = db.session.scalars(
                text("SELECT datname FROM pg_database WHERE datname LIKE :n"),
                {"n": f"{name}\\_drill\\_%"},
            ).all()
        assert left == []
    with capsys.disabled():
        print("\nO-3 drill:\n" + result.output)
