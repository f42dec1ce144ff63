"""Settlement and payouts on the `payouts` queue, and the sweep that re-derives them.

Jobs take ids, and the services re-check under the workroom lock, so a job delivered twice,
or run by two workers at once, moves money once (the ledger's idempotency keys and the one
payout per release make sure of it). The sweep finds every releasable milestone and every
payout due for a (re)try from the database, so a lost Redis job loses nothing.
"""

import logging
import os
import signal
import time
from datetime import timedelta

from sqlalchemy import select

from jobs.sweep import SweepIncomplete, candidate_ids, each_alone, together_or_alone
from portal.database import utcnow
from portal.escrow import ledger, services
from portal.escrow.models import Milestone, MilestoneStatus, Payout, PayoutState
from portal.escrow.providers import get_provider
from portal.extensions import db
from portal.queue import get_queue

#: an `unknown` payout is looked up with the provider after this long
RECONCILE_AFTER = timedelta(minutes=5)
#: a pending payout whose job should have run by now is sent by the sweep
PENDING_GRACE = timedelta(minutes=1)

log = logging.getLogger(__name__)


class PayoutNotSent(RuntimeError):
    """The provider refused a payout; RQ records the failure and the sweep retries it."""


def fault_point(name):
    """Test-only crash hook (TEST-PLAN M-8, Q-1, Q-6): when the DUET_FAULT environment
    variable names this point, the process dies here like a killed machine (SIGKILL, no
    cleanup, no commit); "<name>:stall" makes it hang here instead. Unset in production."""
    fault = os.environ.get("DUET_FAULT")
    if fault == name:
        os.kill(os.getpid(), signal.SIGKILL)
    elif fault == f"{name}:stall":
        time.sleep(3600)


def settle_milestone(milestone_id, now=None):
    """Release one releasable milestone (a no-op when it already was)."""
    milestone = db.session.get(Milestone, milestone_id)
    if milestone is None:
        return None
    payout = services.settle_milestone(milestone, now=now)
    fault_point("after_release")
    db.session.commit()
    return payout.id if payout is not None else None


def send_payout(payout_id, now=None):
    """Send one payout through the provider; raise when the provider refused it."""
    payout = db.session.get(Payout, payout_id)
    if payout is None:
        return None
    services.send_payout(payout, get_provider(), now=now)
    fault_point("after_provider")
    db.session.commit()
    if payout.state is PayoutState.failed:
        raise PayoutNotSent(f"payout {payout.id}: {payout.last_error}")
    return payout.state.value


def sweep_money(now=None):
    """Re-derive all pending money work from the database; returns how many steps ran."""
    now = now or utcnow()
    done = each_alone(
        Milestone,
        candidate_ids(select(Milestone.id).where(Milestone.status == MilestoneStatus.funded)),
        lambda m: services.check_milestone(m, now=now) is MilestoneStatus.releasable or None,
    )
    done += settle_releasable(
        candidate_ids(
            select(Milestone.id)
            .where(Milestone.status == MilestoneStatus.releasable)
            .order_by(Milestone.id)
        ),
        now=now,
    )
    provider = get_provider()
    done += each_alone(
        Payout,
        candidate_ids(
            select(Payout.id)
            .where(
                Payout.state.in_([PayoutState.pending, PayoutState.failed]),
                Payout.next_attempt_at <= now - PENDING_GRACE,
            )
            .order_by(Payout.id)
        ),
        lambda p: services.send_payout(p, provider, now=now),
    )
    done += each_alone(
        Payout,
        candidate_ids(
            select(Payout.id).where(
                Payout.state == PayoutState.unknown, Payout.created_at <= now - RECONCILE_AFTER
            )
        ),
        lambda p: services.reconcile_payout(p, provider, now=now),
    )
    return done


#: more releasable milestones than this, and the sweep hands them to settle_batch jobs
BATCH_THRESHOLD = 50
#: milestones per settle_batch job (a forked RQ job costs ~20 ms, a settlement less)
BATCH_SIZE = 100


def settle_releasable(milestone_ids, now=None):
    """Settle releasable milestones: here, one by one, when they are few; else in
    settle_batch jobs on the payouts queue that the workers share. Returns the steps done
    here or the batches enqueued."""
    if len(milestone_ids) <= BATCH_THRESHOLD:
        return each_alone(Milestone, milestone_ids, lambda m: services.settle_milestone(m, now=now))
    queue, enqueued = get_queue("payouts"), 0
    for start in range(0, len(milestone_ids), BATCH_SIZE):
        batch = list(milestone_ids[start : start + BATCH_SIZE])
        job_id = f"settle-batch-{batch[0]}-{batch[-1]}-{len(batch)}"
        waiting = queue.fetch_job(job_id)
        if waiting is not None and waiting.get_status() in ("queued", "started", "scheduled"):
            continue  # an earlier sweep's batch has not run yet
        queue.enqueue("jobs.payouts.settle_batch", batch, now, job_id=job_id)
        enqueued += 1
    return enqueued


def settle_batch(milestone_ids, now=None):
    """Settle and pay out many milestones in one job, through the same services and
    idempotency keys as settle_milestone and send_payout, so a batch delivered twice, or
    overlapping another job, moves money once. Every release is written in one transaction,
    then every payout still pending in another (a provider call each, with its fixed key: a
    crash before that commit is answered from the provider's memory on the retry). A payout
    the batch could not send stays for the sweep's retry. Returns how many payouts it paid;
    raises at the end when some were not."""
    provider = get_provider()
    problems = []
    try:
        together_or_alone(
            Milestone, milestone_ids, lambda ms: services.settle_milestones(ms, now=now, send=False)
        )
    except SweepIncomplete as error:
        problems.append(str(error))  # the others' payouts still go out
    payout_ids = candidate_ids(
        select(Payout.id)
        .where(Payout.milestone_id.in_(milestone_ids), Payout.state == PayoutState.pending)
        .order_by(Payout.id)
    )
    try:
        together_or_alone(
            Payout, payout_ids, lambda ps: services.send_payouts(ps, provider, now=now)
        )
    except SweepIncomplete as error:
        problems.append(str(error))
    unpaid = candidate_ids(
        select(Payout.id).where(Payout.id.in_(payout_ids), Payout.state != PayoutState.paid)
    )
    if unpaid:
        problems.append(f"payouts not paid: {unpaid}")
    if problems:
        raise PayoutNotSent(f"{len(milestone_ids)} milestones: " + "; ".join(problems))
    return len(payout_ids)


def check_books():
    """Reconcile the cached money figures with the ledger; log every mismatch as an error
    for people to look into (nothing is corrected here). Returns how many were found."""
    problems = ledger.check_books()
    db.session.rollback()
    for problem in problems:
        log.error("books do not agree: %s", problem)
    return len(problems)
