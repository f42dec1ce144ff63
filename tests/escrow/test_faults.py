"""Money under retries, crashes and lost queues (TEST-PLAN M-7, M-8, M-9, M-12, Q-1, Q-3,
Q-4, Q-5, Q-6, Q-7, Q-8, Q-9, Q-11).

Crashes are real: RQ workers run as subprocesses and die by SIGKILL at a named fault point
(`DUET_FAULT`, read by jobs.payouts.fault_point), or are killed from here while stalled
there. The sandbox provider's own file outlives them, as a real provider would.
"""

import logging
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta

import psutil
import pytest
from rq import Retry
from rq.job import Job
from sqlalchemy import func, select, text

import jobs.payouts
from jobs.payouts import check_books, send_payout, settle_milestone, sweep_money
from portal.accounts.models import AccountKind, User
from portal.database import utcnow
from portal.escrow import ledger, services
from portal.escrow.models import (
    LedgerTransaction,
    Milestone,
    MilestoneStatus,
    Payout,
    PayoutState,
)
from portal.extensions import db
from portal.health.checks import check_redis_config
from portal.notifications.models import OutboundEmail
from portal.queue import get_queue, redis_client
from tests import factories
from tests.conftest import ROOT
from tests.contracts.conftest import seat
from tests.escrow.test_concurrency import assert_books_exact, releasable_milestones
from tests.escrow.test_concurrency import sandbox as sandbox  # a fixture

S = MilestoneStatus
#: far enough ahead that a just-created pending payout is due for the sweep
LATER = timedelta(minutes=2)


# Workers -----------------------------------------------------------------------------------


def start_worker(test_settings, sandbox, tmp_path, *, fault=None, mode="succeed"):
    """A real RQ worker in burst mode (`python -m jobs.worker --burst`), as its own process."""
    end_transaction()  # on SQLite, a read left open would hold the write lock
    extra = {"SANDBOX_PROVIDER_PATH": sandbox.path, "ESCROW_SANDBOX_MODE": mode}
    if fault:
        extra["DUET_FAULT"] = fault
    env = factories.child_env(test_settings, extra)
    # The production entry point: the app is built once in the worker, not in every job.
    command = [sys.executable, "-m", "jobs.worker", "--burst"]
    log = open(tmp_path / f"worker-{time.monotonic_ns()}.log", "w+")  # noqa: SIM115
    process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    process.log = log
    return process


def finish(process, timeout=90):
    """Wait for a worker; its log."""
    process.wait(timeout=timeout)
    process.log.seek(0)
    return process.log.read()


def run_worker(test_settings, sandbox, tmp_path, **options):
    """Run one burst worker to the end; its log."""
    return finish(start_worker(test_settings, sandbox, tmp_path, **options))


def kill_machine(process):
    """SIGKILL the worker and its work-horse, as a machine dying would: no handler runs."""
    horses = psutil.Process(process.pid).children(recursive=True)
    process.send_signal(signal.SIGKILL)
    for horse in horses:
        os.kill(horse.pid, signal.SIGKILL)
    process.wait(timeout=30)


def wait_for(condition, timeout=60, what="condition"):
    """Poll until `condition()` is true."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def failure(queue, job_id):
    """What RQ recorded about a job's failure."""
    return Job.fetch(job_id, connection=queue.connection).latest_result().exc_string


def end_transaction():
    """Let workers write: the test's session holds no transaction (SQLite's write lock)."""
    db.session.commit()
    db.session.expire_all()


def assert_paid_once(sandbox, milestone_ids):
    """Each milestone: one release, one payout, paid; one external transfer each."""
    end_transaction()
    releases = db.session.scalar(
        select(func.count()).where(
            LedgerTransaction.kind == "release", LedgerTransaction.milestone_id.in_(milestone_ids)
        )
    )
    payouts = db.session.scalars(select(Payout).where(Payout.milestone_id.in_(milestone_ids)))
    assert releases == len(milestone_ids)
    assert sorted((p.milestone_id, p.state) for p in payouts) == [
        (m, PayoutState.paid) for m in sorted(milestone_ids)
    ]
    assert len(sandbox.calls("payout")) == len(milestone_ids)
    statuses = db.session.scalars(select(Milestone.status).where(Milestone.id.in_(milestone_ids)))
    assert set(statuses) == {S.paid}
    assert_books_exact()


# Enqueue after commit (M-7, Q-9, Q-5) --------------------------------------------------------


def test_q9_m7_settlement_is_enqueued_only_after_commit(app, app_ctx, active, sandbox):
    (first,) = releasable_milestones(active, 1)
    queue = get_queue("payouts")
    assert queue.job_ids == [f"settle-milestone-{first}"]  # committed: queued
    queue.empty()
    owner = db.session.get(User, active.pair.owner.id)
    brand = seat(owner.id, active.workroom_id)
    milestone = services.add_milestone(
        db.session.get(Milestone, first).contract, owner, brand, "Rolled back", 5_000
    )
    db.session.commit()
    services.fund_milestone(milestone, owner, brand, sandbox)
    assert milestone.status is S.releasable
    assert queue.job_ids == []  # not before commit: a worker can't see uncommitted rows
    db.session.rollback()
    assert queue.job_ids == []  # and a rolled-back transaction enqueues nothing
    assert db.session.get(Milestone, milestone.id).status is S.pending


def test_q5_m7_redis_down_at_commit_keeps_the_commit_and_the_sweep_settles(
    app, app_ctx, active, sandbox, caplog
):
    real = app.extensions["redis"]
    app.extensions["redis"] = redis_client("redis://127.0.0.1:1/0")  # nothing listens there
    try:
        with caplog.at_level(logging.WARNING, logger="portal.queue"):
            (milestone_id,) = releasable_milestones(active, 1)  # commits: no exception
    finally:
        app.extensions["redis"] = real
    assert "could not enqueue jobs.payouts.settle_milestone" in caplog.text
    db.session.expire_all()
    assert db.session.get(Milestone, milestone_id).status is S.releasable  # the commit stands
    assert get_queue("payouts").job_ids == []  # the job was lost with Redis
    end_transaction()
    sweep_money(now=utcnow() + LATER)  # the database re-derives it
    assert_paid_once(sandbox, [milestone_id])


# Provider timeout and reconciliation (M-9) ---------------------------------------------------


@pytest.mark.parametrize("provider_got_it", [False, True])
def test_m9_timeout_leaves_the_payout_unknown_until_reconciliation_asks(
    app, app_ctx, active, sandbox, monkeypatch, provider_got_it
):
    (milestone_id,) = releasable_milestones(active, 1)
    payout_id = settle_milestone(milestone_id)
    monkeypatch.setitem(app.config, "ESCROW_SANDBOX_MODE", "timeout")
    assert send_payout(payout_id) == "unknown"
    monkeypatch.setitem(app.config, "ESCROW_SANDBOX_MODE", "succeed")
    payout = db.session.get(Payout, payout_id)
    if provider_got_it:  # the transfer went through; only the answer was lost
        sandbox.pay_out(payout.idempotency_key, payout.amount_minor, payout.currency)
    assert send_payout(payout_id) == "unknown"  # a redelivered job: no blind re-send
    sweep_money(now=utcnow() + LATER)  # too early to reconcile; unknown is never re-sent
    assert db.session.get(Payout, payout_id).state is PayoutState.unknown
    assert len(sandbox.calls("payout")) == int(provider_got_it)
    sweep_money(now=utcnow() + jobs.payouts.RECONCILE_AFTER + LATER)  # looks the key up
    payout = db.session.get(Payout, payout_id)
    if provider_got_it:
        assert payout.state is PayoutState.paid
    else:
        assert payout.state is PayoutState.failed  # never reached the provider: retry it
        sweep_money(now=utcnow() + jobs.payouts.RECONCILE_AFTER + 2 * LATER)
    assert_paid_once(sandbox, [milestone_id])


# Books check (M-12) ---------------------------------------------------------------------------


def test_m12_check_books_reports_a_corrupted_copy_and_fixes_nothing(
    app, app_ctx, active, sandbox, caplog
):
    paid, _, partial = releasable_milestones(active, 3)
    services.partial_release(db.session.get(Milestone, partial), 2_000, "Half", key="t:half")
    db.session.commit()
    sweep_money(now=utcnow() + LATER)  # the others settle; every payout is paid
    (paid_payout,) = db.session.scalars(select(Payout.id).where(Payout.milestone_id == paid))
    assert ledger.check_books() == []
    assert check_books() == 0
    # A copy goes wrong: a cached figure, and a payout's state.
    db.session.execute(
        text("UPDATE milestones SET released_minor = released_minor + 1 WHERE id = :id"),
        {"id": partial},
    )
    db.session.execute(
        text("UPDATE payouts SET state = 'sent' WHERE id = :id"), {"id": paid_payout}
    )
    db.session.commit()
    problems = ledger.check_books()
    assert f"milestone {partial}: released_minor is 2001, the ledger says 2000" in problems
    assert any(
        p.startswith(f"contract {active.contract_id}: its milestones hold") for p in problems
    )
    assert f"payout {paid_payout} is sent but the ledger paid it" in problems
    with caplog.at_level(logging.ERROR, logger="jobs.payouts"):
        assert check_books() == len(problems)
    assert "books do not agree" in caplog.text
    milestone = db.session.get(Milestone, partial)
    assert milestone.released_minor == 2001  # reported, not "fixed"


# Crashes with real workers (M-8, Q-1, Q-2, Q-6) --------------------------------------------


def test_q1_m8_worker_killed_after_the_provider_paid_settles_once(
    app, app_ctx, active, sandbox, test_settings, tmp_path
):
    (milestone_id,) = releasable_milestones(active, 1)
    end_transaction()
    worker = start_worker(test_settings, sandbox, tmp_path, fault="after_provider:stall")
    wait_for(lambda: len(sandbox.calls("payout")) == 1, what="the provider to pay")
    time.sleep(0.3)  # the job reaches the fault point: paid outside, not committed inside
    kill_machine(worker)
    end_transaction()
    payout = db.session.scalar(select(Payout).where(Payout.milestone_id == milestone_id))
    assert payout.state is PayoutState.pending  # the crash lost the commit
    queue = get_queue("payouts")
    job_id = f"send-payout-{payout.id}"
    assert job_id in queue.started_job_registry.get_job_ids(cleanup=False)
    # What another worker's maintenance does once the dead worker's heartbeat expires
    # (by default ~90 s of heartbeat TTL + up to 600 s maintenance interval):
    queue.started_job_registry.cleanup(timestamp=time.time() + 3600)
    assert job_id in queue.failed_job_registry.get_job_ids()
    assert "AbandonedJobError" in failure(queue, job_id)
    queue.failed_job_registry.requeue(job_id)  # retried: same payout, same provider key
    run_worker(test_settings, sandbox, tmp_path)
    assert_paid_once(sandbox, [milestone_id])
    sweep_money(now=utcnow() + LATER)  # and the sweep finds nothing more to do
    assert_paid_once(sandbox, [milestone_id])


@pytest.mark.parametrize("point", ["after_release", "after_provider"])
def test_m8_q2_work_horse_killed_before_commit_and_the_sweep_settles_once(
    app, app_ctx, active, sandbox, test_settings, tmp_path, point
):
    (milestone_id,) = releasable_milestones(active, 1)
    end_transaction()
    run_worker(test_settings, sandbox, tmp_path, fault=point)
    end_transaction()
    milestone = db.session.get(Milestone, milestone_id)
    payout_id = db.session.scalar(select(Payout.id))
    job_id = f"send-payout-{payout_id}" if payout_id else f"settle-milestone-{milestone_id}"
    assert "terminated unexpectedly" in failure(get_queue("payouts"), job_id)
    if point == "after_release":  # died mid-settlement: nothing of it was committed
        assert milestone.status is S.releasable
        assert db.session.scalar(select(Payout.id)) is None
        assert sandbox.calls("payout") == []
    else:  # died after the provider paid: the payout is still pending here
        assert milestone.status is S.settling
        assert db.session.scalar(select(Payout.state)) is PayoutState.pending
        assert len(sandbox.calls("payout")) == 1
    end_transaction()
    sweep_money(now=utcnow() + LATER)
    assert_paid_once(sandbox, [milestone_id])


def test_q6_a_timed_out_job_leaves_nothing_half_done(
    app, app_ctx, active, sandbox, test_settings, tmp_path
):
    (milestone_id,) = releasable_milestones(active, 1)
    payout_id = settle_milestone(milestone_id)
    end_transaction()
    queue = get_queue("payouts")
    queue.empty()
    job = queue.enqueue("jobs.payouts.send_payout", payout_id, job_timeout=2)
    run_worker(test_settings, sandbox, tmp_path, fault="after_provider:stall")
    assert job.id in queue.failed_job_registry.get_job_ids()
    assert "JobTimeoutException" in failure(queue, job.id)
    end_transaction()
    assert db.session.get(Payout, payout_id).state is PayoutState.pending  # rolled back
    sweep_money(now=utcnow() + LATER)
    assert_paid_once(sandbox, [milestone_id])


# Duplicates, lost Redis, poison (Q-3, Q-4, Q-8) ---------------------------------------------


def test_q3_duplicate_deliveries_on_two_workers_move_money_once(
    app, app_ctx, active, sandbox, test_settings, tmp_path
):
    ids = releasable_milestones(active, 3)
    end_transaction()
    queue = get_queue("payouts")
    queue.empty()
    for copy in ("a", "b"):
        for milestone_id in ids:
            queue.enqueue(
                "jobs.payouts.settle_milestone", milestone_id, job_id=f"{copy}-{milestone_id}"
            )
    workers = [start_worker(test_settings, sandbox, tmp_path) for _ in range(2)]
    for worker in workers:
        finish(worker)
    end_transaction()
    payout_ids = db.session.scalars(select(Payout.id).order_by(Payout.id)).all()
    assert len(payout_ids) == len(ids)
    queue.empty()
    for copy in ("a", "b"):
        for payout_id in payout_ids:
            queue.enqueue("jobs.payouts.send_payout", payout_id, job_id=f"{copy}-p{payout_id}")
    workers = [start_worker(test_settings, sandbox, tmp_path) for _ in range(2)]
    for worker in workers:
        finish(worker)
    assert queue.failed_job_registry.get_job_ids() == []
    assert_paid_once(sandbox, ids)


def test_q4_redis_wiped_with_pending_work_the_sweep_rederives_it_once(
    app, app_ctx, active, sandbox, test_settings, tmp_path
):
    ids = releasable_milestones(active, 2)
    first_payout = settle_milestone(ids[0])  # one settled, its payout job queued
    queue = get_queue("payouts")
    assert len(queue.job_ids) == 3
    app.extensions["redis"].flushdb()  # the test Redis database only
    end_transaction()
    sweep_money(now=utcnow() + LATER)
    sweep_money(now=utcnow() + LATER)
    run_worker(test_settings, sandbox, tmp_path)  # the sweep's own follow-up jobs: no-ops
    assert_paid_once(sandbox, ids)
    assert db.session.get(Payout, first_payout).attempts == 1


def test_q8_a_poison_job_ends_failed_and_other_jobs_still_run(
    app, app_ctx, active, sandbox, test_settings, tmp_path
):
    admin = factories.user(kind=AccountKind.admin, name="Ada Admin")
    poisoned, healthy = releasable_milestones(active, 2)
    payout_id = settle_milestone(poisoned)
    end_transaction()
    queue = get_queue("payouts")
    queue.empty()
    poison = queue.enqueue("jobs.payouts.send_payout", payout_id, retry=Retry(max=2))
    queue.enqueue("jobs.payouts.settle_milestone", healthy, job_id="healthy")
    run_worker(test_settings, sandbox, tmp_path, mode="fail")  # the provider refuses all
    failed = queue.failed_job_registry.get_job_ids()
    assert poison.id in failed and "healthy" not in failed
    assert "PayoutNotSent" in failure(queue, poison.id)
    end_transaction()
    payout = db.session.get(Payout, payout_id)
    assert (payout.state, payout.attempts) == (PayoutState.failed, 3)
    (alert,) = db.session.scalars(
        select(OutboundEmail).where(OutboundEmail.kind == "payout_failed")
    )
    assert alert.to_address == admin.email and "failed 3 times" in alert.subject
    assert db.session.get(Milestone, healthy).status is S.settling
    assert sandbox.calls("payout") == []
    assert_books_exact()


# Retries with an interval need the scheduler (Q-7) ------------------------------------------


def run_plain_rq_worker(test_settings, sandbox):
    """`rq worker --burst` as RQ ships it: no --with-scheduler."""
    env = factories.child_env(test_settings, {"SANDBOX_PROVIDER_PATH": sandbox.path})
    command = [sys.executable, "-m", "rq.cli", "worker", "--burst", "--url"]
    command += [test_settings["REDIS_URL"], "--job-class", "jobs.worker.AppJob", "payouts"]
    done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]


def test_q7_a_retry_with_an_interval_runs_only_where_the_scheduler_runs(
    app, app_ctx, active, sandbox, test_settings, tmp_path
):
    (milestone_id,) = releasable_milestones(active, 1)
    payout_id = settle_milestone(milestone_id)
    end_transaction()
    queue = get_queue("payouts")
    queue.empty()
    job = queue.enqueue("jobs.payouts.send_payout", payout_id, retry=Retry(max=1, interval=1))
    run_worker(test_settings, sandbox, tmp_path, mode="fail")  # the first try is refused
    assert job.id in queue.scheduled_job_registry.get_job_ids()
    time.sleep(1.5)  # the retry is due now
    run_plain_rq_worker(test_settings, sandbox)
    assert job.id in queue.scheduled_job_registry.get_job_ids()  # nobody moved it to the queue
    assert sandbox.calls("payout") == []
    # Duet's worker (`python -m jobs.worker`, what `make run` starts) runs the scheduler.
    run_worker(test_settings, sandbox, tmp_path)
    assert job.id not in queue.scheduled_job_registry.get_job_ids()
    assert Job.fetch(job.id, connection=queue.connection).get_status() == "finished"
    end_transaction()
    assert db.session.get(Payout, payout_id).state is PayoutState.paid
    assert_paid_once(sandbox, [milestone_id])


# Redis configuration (Q-11) ------------------------------------------------------------------


class FakeRedis:
    """Answers CONFIG GET like a Redis with the given settings (or refuses CONFIG)."""

    def __init__(self, refuse=False, **settings):
        self.refuse, self.settings = refuse, settings

    def config_get(self, name):
        if self.refuse:
            from redis.exceptions import ResponseError

            raise ResponseError("unknown command 'CONFIG'")
        return {name: self.settings[name.replace("-", "_")]}


def test_q11_redis_config_is_reported_not_failed(app, monkeypatch):
    with app.app_context():
        real = check_redis_config()
        assert real["ok"] is True and "maxmemory-policy" in real["detail"]
        monkeypatch.setitem(
            app.extensions, "redis", FakeRedis(maxmemory_policy="allkeys-lru", appendonly="no")
        )
        risky = check_redis_config()
        monkeypatch.setitem(
            app.extensions, "redis", FakeRedis(maxmemory_policy="noeviction", appendonly="yes")
        )
        good = check_redis_config()
        monkeypatch.setitem(app.extensions, "redis", FakeRedis(refuse=True))
        managed = check_redis_config()
    assert risky["ok"] is True
    assert "maxmemory-policy is allkeys-lru, not noeviction" in risky["warning"]
    assert "appendonly is off" in risky["warning"]
    assert good == {"ok": True, "detail": "maxmemory-policy noeviction, appendonly yes"}
    assert managed["ok"] is True and "unknown" in managed["detail"]
