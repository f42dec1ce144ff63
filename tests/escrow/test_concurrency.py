"""Money under concurrency (TEST-PLAN M-4, M-5, M-10): many sessions on their own
connections race for the same milestone; one wins, the books stay exact.

The races run on PostgreSQL (decision 8); SQLite serialises writers with BEGIN IMMEDIATE.
"""

import threading

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError
from sqlalchemy.pool import QueuePool

import jobs.payouts
from portal.accounts.models import User
from portal.contracts.models import Contract
from portal.errors import InvalidState
from portal.escrow import ledger, services
from portal.escrow.models import LedgerTransaction, Milestone, MilestoneStatus, Payout
from portal.escrow.providers import SandboxProvider, get_provider
from portal.extensions import db
from tests.contracts.conftest import seat

S = MilestoneStatus
THREADS = 20
ROUNDS = 100


def is_postgres(app):
    return app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql")


@pytest.fixture
def sandbox(app, tmp_path, monkeypatch):
    """The app's sandbox provider on a file of this test's own (workers get its path too)."""
    path = str(tmp_path / "sandbox.sqlite")
    monkeypatch.setitem(app.config, "SANDBOX_PROVIDER_PATH", path)
    monkeypatch.setitem(app.config, "ESCROW_SANDBOX_MODE", "succeed")
    return SandboxProvider(path)


@pytest.fixture
def roomy_pool(app, monkeypatch):
    """A connection pool that keeps a connection per racing thread, so each round reuses
    them instead of opening (and closing) PostgreSQL connections: the races stay fast."""
    with app.app_context():
        engine = db.engine
    pool = engine.pool
    if not isinstance(pool, QueuePool):
        yield
        return
    roomy = QueuePool(
        pool._creator,
        pool_size=THREADS + 2,
        max_overflow=5,
        pre_ping=pool._pre_ping,
        _dispatch=pool.dispatch,
        dialect=pool._dialect,
    )
    monkeypatch.setattr(engine, "pool", roomy)
    yield
    roomy.dispose()


def releasable_milestones(active, count, amount=10_000):
    """`count` funded milestones without dependencies (so releasable at once), committed."""
    owner = db.session.get(User, active.pair.owner.id)
    brand = seat(owner.id, active.workroom_id)
    contract = db.session.get(Contract, active.contract_id)
    provider = get_provider()
    ids = []
    for n in range(count):
        milestone = services.add_milestone(contract, owner, brand, f"Part {n + 1}", amount + n)
        services.fund_milestone(milestone, owner, brand, provider)
        assert milestone.status is S.releasable
        ids.append(milestone.id)
    db.session.commit()
    return ids


def at_once(app, calls):
    """Run the calls at the same instant, each on its own thread, app context, session and
    connection; their results (or the exceptions they raised), in order."""
    barrier = threading.Barrier(len(calls))
    results = [None] * len(calls)

    def run(n, call):
        with app.app_context():
            try:
                barrier.wait(timeout=30)
                results[n] = call()
            except Exception as error:  # the test inspects it
                db.session.rollback()
                results[n] = error
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(n, c)) for n, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    return results


def count_by_milestone(model, *where):
    """{milestone id: rows} of a table with a milestone_id."""
    return dict(
        db.session.execute(
            select(model.milestone_id, func.count()).where(*where).group_by(model.milestone_id)
        ).all()
    )


def assert_books_exact():
    """Every transaction balanced, the whole ledger sums to zero, cached figures agree."""
    assert ledger.unbalanced_transactions() == []
    assert sum(ledger.balances().values()) == 0
    assert ledger.check_books() == []


def test_m4_twenty_workers_settle_the_same_milestone_once(
    app, roomy_pool, app_ctx, active, sandbox
):
    if not is_postgres(app):
        pytest.skip("M-4 races run on PostgreSQL (TEST-PLAN decision 8)")
    ids = releasable_milestones(active, ROUNDS)
    for milestone_id in ids:
        results = at_once(app, [lambda m=milestone_id: jobs.payouts.settle_milestone(m)] * THREADS)
        errors = [r for r in results if isinstance(r, Exception)]
        assert errors == [], errors
        assert len([r for r in results if r is not None]) == 1, results  # one payout id
    releases = count_by_milestone(LedgerTransaction, LedgerTransaction.kind == "release")
    payouts = count_by_milestone(Payout)
    assert releases == dict.fromkeys(ids, 1)
    assert payouts == dict.fromkeys(ids, 1)
    milestones = db.session.scalars(select(Milestone).where(Milestone.id.in_(ids))).all()
    assert {m.status for m in milestones} == {S.settling}
    assert all(m.released_minor == m.amount_minor for m in milestones)
    assert_books_exact()


def test_m5_release_and_refund_race_and_exactly_one_wins(app, roomy_pool, app_ctx, active, sandbox):
    if not is_postgres(app):
        pytest.skip("M-5 races run on PostgreSQL (TEST-PLAN decision 8)")
    ids = releasable_milestones(active, 30)

    def refund(milestone_id):
        milestone = db.session.get(Milestone, milestone_id)
        services.refund_milestone(milestone, milestone.amount_minor, "The brand cancelled")
        db.session.commit()
        return "refunded"

    winners = []
    for milestone_id in ids:
        settled, refunded = at_once(
            app,
            [
                lambda m=milestone_id: jobs.payouts.settle_milestone(m),
                lambda m=milestone_id: refund(m),
            ],
        )
        if refunded == "refunded":
            assert settled is None  # the release found nothing to do
            winners.append("refund")
        else:
            assert isinstance(refunded, InvalidState), refunded
            assert isinstance(settled, int)
            winners.append("release")
    releases = count_by_milestone(LedgerTransaction, LedgerTransaction.kind == "release")
    refunds = count_by_milestone(LedgerTransaction, LedgerTransaction.kind == "refund")
    payouts = count_by_milestone(Payout)
    for milestone in db.session.scalars(select(Milestone).where(Milestone.id.in_(ids))):
        if milestone.status is S.settling:
            assert (releases.get(milestone.id), refunds.get(milestone.id)) == (1, None)
            assert payouts.get(milestone.id) == 1
            assert milestone.refunded_minor == 0
        else:
            assert milestone.status is S.refunded
            assert (releases.get(milestone.id), refunds.get(milestone.id)) == (None, 1)
            assert payouts.get(milestone.id) is None
            assert milestone.released_minor == 0
    assert len(winners) == len(ids)
    assert_books_exact()


def test_m10_stale_copies_cannot_overwrite_each_other(app, app_ctx, active, sandbox):
    (milestone_id,) = releasable_milestones(active, 1)
    first = Session(db.engine, expire_on_commit=False)
    second = Session(db.engine, expire_on_commit=False)
    try:
        mine = first.get(Milestone, milestone_id)
        version = mine.version
        first.commit()  # a page rendered from this copy
        theirs = second.get(Milestone, milestone_id)
        second.commit()  # another person's page, same version
        mine.title = "Launch video"
        first.commit()
        theirs.title = "Teaser video"
        with pytest.raises(StaleDataError):
            second.flush()
        second.rollback()
    finally:
        first.close()
        second.close()
    db.session.expire_all()
    milestone = db.session.get(Milestone, milestone_id)
    assert (milestone.title, milestone.version) == ("Launch video", version + 1)
