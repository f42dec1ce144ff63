"""Every money movement: milestones, funding, release, settlement, payouts, holds, refunds.

Each movement is one ledger transaction with an idempotency key derived from what it is
("fund:milestone:7", "release:milestone:7", "payout:12"), so a retried request or a job
delivered twice finds the first transaction and moves nothing again.
"""

from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload

from portal.audit import record_event
from portal.database import transaction_memo, utcnow
from portal.deliverables.models import Deliverable, DeliverableStatus
from portal.errors import DomainError, InvalidState, NotAllowed
from portal.escrow import ledger
from portal.escrow.alerts import alert_if_payout_keeps_failing
from portal.escrow.models import (
    MILESTONE_TRANSITIONS,
    AccountKind,
    LedgerTransaction,
    Milestone,
    MilestoneDependency,
    MilestoneStatus,
    Payout,
    PayoutState,
)
from portal.escrow.providers import ProviderError, ProviderTimeout
from portal.extensions import db
from portal.markup import escape_markdown, quote_markdown
from portal.money import format_amount
from portal.notifications.models import Kind
from portal.notifications.services import notify
from portal.queue import enqueue_after_commit
from portal.workrooms.models import Side
from portal.workrooms.services import lock_workroom, lock_workrooms, post_system_event

MAX_REASON = 500
#: deliverable states that count as "approved" for a dependency (waived work is settled too)
DONE = (DeliverableStatus.approved, DeliverableStatus.waived)
S = MilestoneStatus


class InvalidMilestone(DomainError):
    """A milestone the rules refuse (no title, zero amount, a dependency elsewhere)."""

    status_code = 422


class PaymentFailed(DomainError):
    """The funding provider refused the payment; nothing moved."""

    status_code = 402


# Helpers ---------------------------------------------------------------------------------


def _set_status(milestone, status):
    """Move a milestone along MILESTONE_TRANSITIONS, or refuse."""
    if status not in MILESTONE_TRANSITIONS.get(milestone.status, set()):
        raise InvalidState(
            f"“{milestone.title}” is {milestone.status.value.replace('_', ' ')};"
            f" it can't become {status.value.replace('_', ' ')}."
        )
    milestone.status = status


def _lock(milestone):
    """Lock the workroom (it serialises every money change of its contracts) and re-read."""
    return _lock_all([milestone])[0]


def _lock_all(milestones):
    """Lock the milestones' workrooms, then read the milestones afresh in id order, with the
    dependencies blockers() reads (one statement each, however many milestones)."""
    lock_workrooms({milestone.workroom_id for milestone in milestones})
    fresh = db.session.scalars(
        select(Milestone)
        .where(Milestone.id.in_([milestone.id for milestone in milestones]))
        .order_by(Milestone.id)
        .options(
            selectinload(Milestone.dependencies).options(
                joinedload(MilestoneDependency.deliverable),
                joinedload(MilestoneDependency.prior_milestone),
            )
        )
        .execution_options(populate_existing=True)
    ).all()
    # Held until the transaction ends: the session's identity map alone would let them go
    # and read them again on the next payout.milestone.
    transaction_memo(db.session, "locked_milestones").update((m.id, m) for m in fresh)
    return fresh


def _brand_writer(seat, milestone_or_contract, what):
    """Only the brand's owners and managers of this workroom."""
    if seat.workroom.id != milestone_or_contract.workroom_id:
        raise NotAllowed("That is not in this workroom.")
    if not seat.can_write or seat.side is not Side.brand:
        raise NotAllowed(f"Only the brand's owners and managers can {what}.")


def _money(minor, currency):
    """An amount as people read it."""
    return format_amount(minor, currency)


def _log(milestone, text, *, actor=None, now):
    """A system line in the workroom's log about money (written with the transaction)."""
    post_system_event(milestone.workroom, text, actor=actor, now=now, flush=False)


def _audit(actor, action, milestone, *, now, **data):
    """An audit event about a milestone, on its workroom's chain."""
    record_event(
        actor,
        action,
        milestone,
        workroom=milestone.workroom,
        data={"milestone": milestone.id, "currency": milestone.currency, **data},
        now=now,
    )


def _tell_creator(milestone, title, *, now, **options):
    """Notify the milestone's creator, linking to the milestone."""
    notify(
        milestone.workroom.creator,
        Kind.payout,
        title,
        link=f"/workrooms/{milestone.workroom_id}/milestones/{milestone.id}",
        workroom_id=milestone.workroom_id,
        now=now,
        **options,
    )


def _title(milestone):
    """The milestone's title as Markdown-safe bold text."""
    return f"**{escape_markdown(milestone.title)}**"


def escrow_account(milestone):
    """The contract's escrow account in the milestone's currency."""
    return ledger.account(AccountKind.escrow, milestone.currency, contract_id=milestone.contract_id)


def in_escrow(milestone):
    """What of the milestone still sits in escrow."""
    return milestone.in_escrow_minor


# Milestones and their dependencies -----------------------------------------------------------


def add_milestone(
    contract,
    actor,
    seat,
    title,
    amount_minor,
    *,
    deliverables=(),
    prior_milestones=(),
    live_days=None,
    requires_signoff=False,
    now=None,
):
    """The brand adds a milestone to an active contract, with its dependencies."""
    _brand_writer(seat, contract, "add milestones")
    title = (title or "").strip()
    if not title or len(title) > 160:
        raise InvalidMilestone("Give the milestone a title of up to 160 characters.")
    if amount_minor <= 0:
        raise InvalidMilestone("The amount must be more than zero.")
    if contract.status.value != "active":
        raise InvalidState("Milestones belong to active contracts.")
    if any(d.contract_id != contract.id for d in deliverables) or any(
        m.contract_id != contract.id for m in prior_milestones
    ):
        raise InvalidMilestone("Dependencies must belong to the same contract.")
    if live_days is not None and live_days < 0:
        raise InvalidMilestone("Days live can't be negative.")
    now = now or utcnow()
    lock_workroom(contract.workroom)
    position = 1 + max(
        db.session.scalars(
            select(Milestone.position).where(Milestone.contract_id == contract.id)
        ).all(),
        default=0,
    )
    milestone = Milestone(
        contract=contract,
        workroom_id=contract.workroom_id,
        position=position,
        title=title,
        amount_minor=amount_minor,
        currency=contract.accepted_version.currency,
        status=S.pending,
        requires_signoff=requires_signoff,
        created_at=now,
    )
    milestone.dependencies = [
        MilestoneDependency(deliverable=d, live_days=live_days) for d in deliverables
    ] + [MilestoneDependency(prior_milestone=m) for m in prior_milestones]
    db.session.add(milestone)
    db.session.flush()
    _log(
        milestone,
        f"{escape_markdown(actor.name)} added milestone {_title(milestone)}:"
        f" {_money(amount_minor, milestone.currency)}.",
        actor=actor,
        now=now,
    )
    _audit(actor, "milestone.added", milestone, now=now, amount=amount_minor)
    return milestone


@dataclass(frozen=True)
class Blocker:
    """One unmet dependency, for the page that answers "why is this not released yet?"."""

    text: str
    deliverable: Deliverable | None = None
    milestone: Milestone | None = None


def blockers(milestone, *, now=None):
    """Every reason the milestone is not releasable now, in words (empty when releasable)."""
    now = now or utcnow()
    reasons = []
    if milestone.status is S.pending:
        reasons.append(Blocker("The brand has not funded it yet."))
    if milestone.status is S.held:
        reasons.append(Blocker("It is held while a mediation ticket names it."))
    for dependency in milestone.dependencies:
        deliverable, prior = dependency.deliverable, dependency.prior_milestone
        if deliverable is not None:
            if deliverable.status not in DONE:
                state = deliverable.status.value.replace("_", " ")
                reasons.append(
                    Blocker(f"“{deliverable.title}” is {state}, not approved.", deliverable)
                )
            elif dependency.live_days:
                live_since = deliverable.live_on
                if live_since is None:
                    reasons.append(Blocker(f"“{deliverable.title}” is not live yet.", deliverable))
                elif now.date() < live_since + timedelta(days=dependency.live_days):
                    reasons.append(
                        Blocker(
                            f"“{deliverable.title}” must stay live {dependency.live_days} days"
                            f" (until {live_since + timedelta(days=dependency.live_days)}).",
                            deliverable,
                        )
                    )
        if prior is not None and prior.status is not S.paid:
            reasons.append(Blocker(f"Milestone “{prior.title}” is not paid yet.", milestone=prior))
    if milestone.requires_signoff and milestone.signed_off_at is None:
        reasons.append(Blocker("The brand has not signed it off."))
    return reasons


def _become_releasable(milestone, *, now):
    """Funded and unblocked: releasable, with its settlement queued after commit."""
    _set_status(milestone, S.releasable)
    _log(
        milestone,
        f"Milestone {_title(milestone)} is releasable: every dependency is met."
        " Settlement is under way.",
        now=now,
    )
    _audit(None, "milestone.releasable", milestone, now=now)
    enqueue_after_commit(
        db.session,
        "jobs.payouts.settle_milestone",
        milestone.id,
        queue="payouts",
        job_id=f"settle-milestone-{milestone.id}",
    )


def check_milestone(milestone, *, now=None):
    """Make a funded milestone releasable when nothing blocks it (or back, when something
    does again). Safe to call any number of times; returns the milestone's status."""
    now = now or utcnow()
    if milestone.status is S.funded and not blockers(milestone, now=now):
        _become_releasable(milestone, now=now)
    elif milestone.status is S.releasable and blockers(milestone, now=now):
        _set_status(milestone, S.funded)
        _audit(None, "milestone.blocked_again", milestone, now=now)
    return milestone.status


def check_milestones_of(contract_id, *, now=None):
    """Re-check every funded milestone of a contract (a deliverable or milestone moved)."""
    milestones = db.session.scalars(
        select(Milestone).where(
            Milestone.contract_id == contract_id,
            Milestone.status.in_([S.funded, S.releasable]),
        )
    ).all()
    for milestone in milestones:
        check_milestone(milestone, now=now)


def _recheck_waiting_on(paid, *, now):
    """Re-check the funded milestones that wait for any of these (just paid) milestones."""
    if not paid:
        return
    waiting = db.session.scalars(
        select(Milestone)
        .join(MilestoneDependency, MilestoneDependency.milestone_id == Milestone.id)
        .where(
            MilestoneDependency.prior_milestone_id.in_([milestone.id for milestone in paid]),
            Milestone.status == S.funded,
        )
        .distinct()
    ).all()
    for milestone in waiting:
        check_milestone(milestone, now=now)


def sign_off(milestone, actor, seat, *, now=None):
    """The brand signs a milestone off (when it requires a sign-off)."""
    _brand_writer(seat, milestone, "sign milestones off")
    now = now or utcnow()
    _lock(milestone)
    if not milestone.requires_signoff:
        raise InvalidState("This milestone needs no sign-off.")
    if milestone.signed_off_at is not None:
        raise InvalidState("It was already signed off.")
    milestone.signed_off_by_id, milestone.signed_off_at = actor.id, now
    _log(
        milestone,
        f"{escape_markdown(actor.name)} signed off {_title(milestone)}.",
        actor=actor,
        now=now,
    )
    _audit(actor, "milestone.signed_off", milestone, now=now)
    check_milestone(milestone, now=now)
    return milestone


# Funding ---------------------------------------------------------------------------------


def fund_milestone(milestone, actor, seat, provider, *, now=None):
    """The brand pays a milestone into escrow through the funding provider."""
    _brand_writer(seat, milestone, "fund milestones")
    now = now or utcnow()
    _lock(milestone)
    if milestone.status is not S.pending:
        raise InvalidState(f"“{milestone.title}” is already {milestone.status.value}.")
    key = f"fund:milestone:{milestone.id}"
    try:
        provider.charge(key, milestone.amount_minor, milestone.currency)
    except (ProviderError, ProviderTimeout) as error:
        raise PaymentFailed(f"The payment was not taken: {error}. Nothing was charged.") from error
    brand_id = milestone.workroom.brand_id
    funding = ledger.account(AccountKind.brand_funding, milestone.currency, brand_id=brand_id)
    external = ledger.account(AccountKind.external, milestone.currency)
    ledger.post(
        key,
        "fund",
        [
            (external, -milestone.amount_minor),
            (funding, milestone.amount_minor),
        ],
        milestone=milestone,
        contract_id=milestone.contract_id,
        actor=actor,
        now=now,
    )
    ledger.post(
        f"escrow:milestone:{milestone.id}",
        "escrow",
        [(funding, -milestone.amount_minor), (escrow_account(milestone), milestone.amount_minor)],
        milestone=milestone,
        contract_id=milestone.contract_id,
        actor=actor,
        now=now,
    )
    _set_status(milestone, S.funded)
    milestone.funded_at = now
    _log(
        milestone,
        f"{escape_markdown(actor.name)} funded {_title(milestone)}:"
        f" {_money(milestone.amount_minor, milestone.currency)} is in escrow.",
        actor=actor,
        now=now,
    )
    _audit(actor, "milestone.funded", milestone, now=now, amount=milestone.amount_minor)
    _tell_creator(
        milestone,
        f"{actor.name} funded “{milestone.title}”:"
        f" {_money(milestone.amount_minor, milestone.currency)} is in escrow",
        now=now,
    )
    check_milestone(milestone, now=now)
    return milestone


def fund_contract(contract, actor, seat, provider, *, now=None):
    """Fund every pending milestone of a contract; returns those funded."""
    pending = db.session.scalars(
        select(Milestone)
        .where(Milestone.contract_id == contract.id, Milestone.status == S.pending)
        .order_by(Milestone.position)
    ).all()
    if not pending:
        raise InvalidState("Every milestone of this contract is already funded.")
    return [fund_milestone(m, actor, seat, provider, now=now) for m in pending]


# Settlement and payout (called by jobs) ------------------------------------------------------


def settle_milestone(milestone, *, now=None):
    """Release a releasable milestone: escrow to the creator's payable less the platform fee,
    and a pending payout. None when there is nothing to do (already settled, held, blocked)."""
    payouts = settle_milestones([milestone], now=now)
    return payouts[0] if payouts else None


def settle_milestones(milestones, *, now=None, send=True):
    """Release each of these milestones that is releasable (see settle_milestone), all in
    this transaction and written together; returns the new pending payouts. Each is sent by
    its own job after commit, or, with send=False, by the caller (a batch job)."""
    now = now or utcnow()
    ready = [
        m for m in _lock_all(milestones) if m.status is S.releasable and not blockers(m, now=now)
    ]
    ledger.reserve_keys(_release_key(milestone) for milestone in ready)
    payouts = [_release(milestone, now=now) for milestone in ready]
    db.session.flush()
    for payout in payouts if send else ():
        _send_after_commit(payout)
    return payouts


def _release_key(milestone):
    """The idempotency key of a milestone's (whole) release."""
    return f"release:milestone:{milestone.id}"


def _release(milestone, *, now):
    """Post a locked, releasable milestone's release and add its pending payout."""
    amount = in_escrow(milestone)
    to_creator, fee = ledger.split_fee(amount, current_app.config["PLATFORM_FEE_BPS"])
    creator_id = milestone.workroom.creator_id
    payable = ledger.account(AccountKind.creator_payable, milestone.currency, user_id=creator_id)
    fees = ledger.account(AccountKind.platform_fees, milestone.currency)
    ledger.post(
        _release_key(milestone),
        "release",
        [(escrow_account(milestone), -amount), (payable, to_creator), (fees, fee)],
        milestone=milestone,
        contract_id=milestone.contract_id,
        now=now,
    )
    milestone.released_minor += amount
    _set_status(milestone, S.settling)
    payout = _new_payout(milestone, _release_key(milestone), to_creator, now=now)
    _log(
        milestone,
        f"Milestone {_title(milestone)} was released: {_money(to_creator, milestone.currency)}"
        f" to the creator, {_money(fee, milestone.currency)} platform fee.",
        now=now,
    )
    _audit(None, "milestone.released", milestone, now=now, amount=amount, fee=fee)
    return payout


def _new_payout(milestone, release_key, amount_minor, *, now):
    """A pending payout of a release (the caller flushes it and has it sent)."""
    payout = Payout(
        milestone=milestone,
        release_key=release_key,
        creator_id=milestone.workroom.creator_id,
        amount_minor=amount_minor,
        currency=milestone.currency,
        state=PayoutState.pending,
        created_at=now,
    )
    db.session.add(payout)
    return payout


def _send_after_commit(payout):
    """Have a (flushed) payout sent by its own job once this transaction commits."""
    enqueue_after_commit(
        db.session,
        "jobs.payouts.send_payout",
        payout.id,
        queue="payouts",
        job_id=f"send-payout-{payout.id}",
    )


def send_payout(payout, provider, *, now=None):
    """Hand a pending (or failed) payout to the provider with its fixed idempotency key.

    Success: payable to clearing, then clearing out (paid). A timeout: `unknown`, left to
    reconciliation, never re-sent blindly. A refusal: `failed`, raised so RQ retries.
    """
    return send_payouts([payout], provider, now=now)[0]


def send_payouts(payouts, provider, *, now=None):
    """Send each of these payouts that is pending or failed (see send_payout), one provider
    call each, and write what came of them together; returns the payouts read afresh."""
    now = now or utcnow()
    ids = [payout.id for payout in payouts]
    _lock_all(
        db.session.scalars(
            select(Milestone).where(
                Milestone.id.in_(select(Payout.milestone_id).where(Payout.id.in_(ids)))
            )
        ).all()
    )
    payouts = db.session.scalars(
        select(Payout)
        .where(Payout.id.in_(ids))
        .order_by(Payout.id)
        .execution_options(populate_existing=True)
    ).all()
    due = [p for p in payouts if p.state in (PayoutState.pending, PayoutState.failed)]
    ledger.reserve_keys(payout.idempotency_key for payout in due)
    for payout in due:
        _send(payout, provider, now=now)
    _recheck_waiting_on([p.milestone for p in due if p.state is PayoutState.paid], now=now)
    db.session.flush()
    return payouts


def _send(payout, provider, *, now):
    """One provider call for a locked, due payout, and its outcome."""
    milestone = payout.milestone
    payout.attempts += 1
    try:
        result = provider.pay_out(payout.idempotency_key, payout.amount_minor, payout.currency)
    except ProviderTimeout as error:
        payout.state, payout.last_error = PayoutState.unknown, str(error)[:500]
        _audit(None, "payout.unknown", milestone, now=now, payout=payout.id)
        return payout
    except ProviderError as error:
        payout.state, payout.last_error = PayoutState.failed, str(error)[:500]
        payout.next_attempt_at = now + retry_delay(payout.attempts)
        _audit(None, "payout.failed", milestone, now=now, payout=payout.id, error=str(error))
        alert_if_payout_keeps_failing(payout)
        return payout
    _mark_paid(payout, result.reference, now=now)
    return payout


def retry_delay(attempts):
    """Backoff before the next try of a failed payout: 1, 2, 4 ... minutes, at most 6 hours."""
    return timedelta(minutes=min(2 ** max(attempts - 1, 0), 360))


def _mark_paid(payout, reference, *, now):
    """The provider confirmed the transfer: clear the payable and close the milestone."""
    milestone = payout.milestone
    payable = ledger.account(
        AccountKind.creator_payable, payout.currency, user_id=payout.creator_id
    )
    external = ledger.account(AccountKind.external, payout.currency)
    ledger.post(
        payout.idempotency_key,
        "payout",
        [(payable, -payout.amount_minor), (external, payout.amount_minor)],
        milestone=milestone,
        contract_id=milestone.contract_id,
        now=now,
    )
    payout.state, payout.provider_ref = PayoutState.paid, reference
    payout.sent_at = payout.sent_at or now
    payout.paid_at = now
    payout.last_error = ""
    # A partial release's payout leaves the rest as it is; the last one to arrive pays.
    if milestone.status is S.settling and not _other_unpaid(payout):
        _set_status(milestone, S.paid)
        milestone.paid_at = now
    _log(
        milestone,
        f"{_money(payout.amount_minor, payout.currency)} for {_title(milestone)} was paid out"
        " to the creator.",
        now=now,
    )
    _audit(None, "payout.paid", milestone, now=now, payout=payout.id, reference=reference)
    _tell_creator(
        milestone,
        f"{_money(payout.amount_minor, payout.currency)} for “{milestone.title}” was paid out",
        always=True,  # money: whatever the preferences say
        now=now,
    )


def _other_unpaid(payout):
    """Whether the milestone has another payout not paid yet (only a resolution's release
    can leave one: a plain settlement is the milestone's only payout)."""
    if payout.release_key == _release_key(payout.milestone):
        return False
    return any(
        other is not payout and other.state is not PayoutState.paid
        for other in db.session.scalars(
            select(Payout).where(Payout.milestone_id == payout.milestone_id)
        )
    )


def reconcile_payout(payout, provider, *, now=None):
    """Resolve an `unknown` payout by asking the provider what happened to its key: paid if
    it arrived, back to `failed` (so it is retried with the same key) if the provider never
    saw it."""
    now = now or utcnow()
    _lock(payout.milestone)
    db.session.refresh(payout)
    if payout.state is not PayoutState.unknown:
        return payout
    result = provider.look_up(payout.idempotency_key)
    if result is not None:
        _mark_paid(payout, result.reference, now=now)
        _recheck_waiting_on([payout.milestone], now=now)
    else:
        payout.state, payout.last_error = PayoutState.failed, "the provider never received it"
        payout.next_attempt_at = now
        _audit(None, "payout.reconciled_unsent", payout.milestone, now=now, payout=payout.id)
    return payout


# Holds, partial releases and refunds (the API mediation and close-out call) ---------------


def hold_milestone(milestone, reason, *, actor=None, now=None):
    """Hold a funded milestone while a ticket names it: it never settles while held."""
    now = now or utcnow()
    _lock(milestone)
    if milestone.status is S.held:
        return milestone
    previous = milestone.status
    _set_status(milestone, S.held)
    milestone.held_from = previous
    _log(
        milestone, f"Milestone {_title(milestone)} is on hold:\n\n{quote_markdown(reason)}", now=now
    )
    _audit(actor, "milestone.held", milestone, now=now, reason=reason)
    return milestone


def release_hold(milestone, *, actor=None, now=None):
    """End a hold: the milestone is funded again, and releasable if nothing else blocks it."""
    now = now or utcnow()
    _lock(milestone)
    if milestone.status is not S.held:
        raise InvalidState("This milestone is not on hold.")
    _set_status(milestone, S.funded)
    milestone.held_from = None
    _log(milestone, f"The hold on milestone {_title(milestone)} ended.", now=now)
    _audit(actor, "milestone.hold_released", milestone, now=now)
    check_milestone(milestone, now=now)
    return milestone


def _reason(reason):
    """A required, bounded reason."""
    reason = (reason or "").strip()
    if not reason:
        raise InvalidMilestone("Give a reason.")
    return reason[:MAX_REASON]


def _retried(milestone, key, amount_minor):
    """True when a caller's key was already used for this movement out of escrow: its retry
    is a no-op, even though what is left in escrow (or the status) would now refuse it.
    The same key for a different movement is an IdempotencyConflict."""
    if key is None:
        return False
    existing = db.session.scalar(
        select(LedgerTransaction).where(LedgerTransaction.idempotency_key == key)
    )
    if existing is None:
        return False
    escrow_id = escrow_account(milestone).id
    moved = -sum(e.amount_minor for e in existing.entries if e.account_id == escrow_id)
    if existing.milestone_id != milestone.id or moved != amount_minor:
        raise ledger.IdempotencyConflict(f"{key} was already used for a different movement.")
    return True


def partial_release(milestone, amount_minor, reason, *, actor=None, key=None, now=None):
    """Release part of a funded milestone to the creator (the rest stays in escrow); settles
    through a payout like a full release. `key` makes a caller's retry a no-op."""
    return _release_to_creator(milestone, amount_minor, reason, actor=actor, key=key, now=now)


def release_by_decision(milestone, amount_minor, reason, *, actor=None, key=None, now=None):
    """A mediation resolution's release: part of what is in escrow, or all of it, whatever
    the dependencies say (the resolution is the decision). All of it settles the milestone:
    it is paid once its payout is."""
    return _release_to_creator(
        milestone, amount_minor, reason, actor=actor, key=key, now=now, whole_allowed=True
    )


def _release_to_creator(milestone, amount_minor, reason, *, actor, key, now, whole_allowed=False):
    """Post a release of `amount_minor` from escrow to the creator and its payout."""
    reason = _reason(reason)
    now = now or utcnow()
    _lock(milestone)
    if _retried(milestone, key, amount_minor):
        return milestone
    available = in_escrow(milestone)
    if milestone.status not in (S.funded, S.releasable, S.held, S.partially_released):
        raise InvalidState(f"“{milestone.title}” is {milestone.status.value}; nothing to release.")
    whole = whole_allowed and amount_minor == available
    if not (0 < amount_minor < available or whole):
        most = "at most" if whole_allowed else "less than"
        raise InvalidMilestone(
            f"A release of “{milestone.title}” is more than zero and {most} the"
            f" {_money(available, milestone.currency)} in escrow."
        )
    to_creator, fee = ledger.split_fee(amount_minor, current_app.config["PLATFORM_FEE_BPS"])
    creator_id = milestone.workroom.creator_id
    payable = ledger.account(AccountKind.creator_payable, milestone.currency, user_id=creator_id)
    fees = ledger.account(AccountKind.platform_fees, milestone.currency)
    release_key = (
        key or f"partial:milestone:{milestone.id}:{milestone.released_minor}:{amount_minor}"
    )
    _, created = ledger.post(
        release_key,
        "partial_release",
        [(escrow_account(milestone), -amount_minor), (payable, to_creator), (fees, fee)],
        milestone=milestone,
        contract_id=milestone.contract_id,
        reason=reason,
        actor=actor,
        now=now,
    )
    if not created:
        return milestone
    milestone.released_minor += amount_minor
    if whole:
        _set_status(milestone, S.settling)
    elif milestone.status is not S.partially_released:
        _set_status(milestone, S.partially_released)
    payout = _new_payout(milestone, release_key, to_creator, now=now)
    db.session.flush()
    _send_after_commit(payout)
    _log(
        milestone,
        f"{_money(amount_minor, milestone.currency)} of {_title(milestone)} was released to the"
        f" creator:\n\n{quote_markdown(reason)}",
        now=now,
    )
    _audit(actor, "milestone.partially_released", milestone, now=now, amount=amount_minor)
    return milestone


def refund_milestone(milestone, amount_minor, reason, *, actor=None, key=None, now=None):
    """Return what sits in escrow (all or part of it) to the brand."""
    reason = _reason(reason)
    now = now or utcnow()
    _lock(milestone)
    if _retried(milestone, key, amount_minor):
        return milestone
    available = in_escrow(milestone)
    if milestone.status not in (S.funded, S.releasable, S.held, S.partially_released):
        raise InvalidState(f"“{milestone.title}” is {milestone.status.value}; nothing to refund.")
    if not 0 < amount_minor <= available:
        raise InvalidMilestone(
            f"A refund is more than zero and at most the {_money(available, milestone.currency)}"
            " in escrow."
        )
    funding = ledger.account(
        AccountKind.brand_funding, milestone.currency, brand_id=milestone.workroom.brand_id
    )
    _, created = ledger.post(
        key or f"refund:milestone:{milestone.id}:{milestone.refunded_minor}:{amount_minor}",
        "refund",
        [(escrow_account(milestone), -amount_minor), (funding, amount_minor)],
        milestone=milestone,
        contract_id=milestone.contract_id,
        reason=reason,
        actor=actor,
        now=now,
    )
    if not created:
        return milestone
    milestone.refunded_minor += amount_minor
    if in_escrow(milestone) == 0 and milestone.status is not S.refunded:
        if milestone.status is S.partially_released:
            milestone.status = S.refunded  # the rest went back: nothing is left to move
        else:
            _set_status(milestone, S.refunded)
    _log(
        milestone,
        f"{_money(amount_minor, milestone.currency)} of {_title(milestone)} was refunded to the"
        f" brand:\n\n{quote_markdown(reason)}",
        now=now,
    )
    _audit(actor, "milestone.refunded", milestone, now=now, amount=amount_minor)
    return milestone
