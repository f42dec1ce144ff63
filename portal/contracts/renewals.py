"""Renewals: the brand's decision (renew as is, renegotiate, let it lapse), the sides'
opt-outs of auto-renewal, the next contract of a renewal, and the end of a term.

Dates come from renewal_dates (portal/contracts/models.py): the renewal date is the one the
terms name, else the last day of the term; the notice deadline is renewal_notice_days
before it, and notice counts through that whole day (UTC). A next term starts the day after
the old one ends, runs as long, and its lines (and renewal date) move by the same offset.

The services lock the workroom first (it serialises every contract change) and re-check
everything under the lock, so the sweeps may run twice or on two workers at once; the
unique contracts.renews_id keeps one next contract per contract whatever happens.
"""

import dataclasses
from datetime import timedelta

from sqlalchemy import func, select

from portal.accounts.models import User
from portal.audit import record_event
from portal.contracts import queries
from portal.contracts.models import (
    AutoRenewOptOut,
    Contract,
    ContractStatus,
    RenewalChoice,
    RenewalDecision,
    VersionKind,
    VersionState,
)
from portal.contracts.services import (
    MAX_COMMENT,
    InvalidTerms,
    _add_version,
    _lock,
    _proposed,
    _set_state,
    _set_status,
    _writer_side,
)
from portal.contracts.terms import Terms
from portal.database import utcnow
from portal.deliverables.models import FINAL_STATUSES, Deliverable
from portal.deliverables.services import create_deliverables
from portal.errors import InvalidState, NotAllowed
from portal.extensions import db
from portal.markup import escape_markdown, quote_markdown
from portal.notifications.models import Kind
from portal.notifications.services import notify_side
from portal.workrooms.models import Side
from portal.workrooms.services import post_system_event

#: what each decision is called in the log and the notifications
DECISION_WORDS = {
    RenewalChoice.renew: "renew it as is",
    RenewalChoice.renegotiate: "renegotiate it",
    RenewalChoice.lapse: "let it lapse",
}
#: the contract states a next term continues (its terms were accepted)
RENEWED = frozenset(
    {
        ContractStatus.active,
        ContractStatus.completed,
        ContractStatus.partially_completed,
        ContractStatus.terminated,
        ContractStatus.expired,
    }
)


def next_terms(version):
    """The terms of the next term, pre-filled from a version: it starts the day after the
    old end and runs as long; line due dates and the renewal date move by the same offset."""
    terms = Terms.of_version(version)
    offset = (version.ends_on + timedelta(days=1)) - version.starts_on
    return dataclasses.replace(
        terms,
        starts_on=version.starts_on + offset,
        ends_on=version.ends_on + offset,
        renewal_date=version.renewal_date + offset if version.renewal_date else None,
        lines=tuple(dataclasses.replace(line, due_on=line.due_on + offset) for line in terms.lines),
    )


def _today(now):
    """The UTC date of a moment (notice deadlines and term ends are UTC dates)."""
    return now.date()


def _audit(actor, action, contract, *, now, **data):
    """An audit event about a contract's renewal."""
    record_event(actor, action, contract, workroom=contract.workroom, data=data, now=now)


def _tell(contract, side, title, *, always=False, actor=None, now):
    """Notify one side of the workroom (renewal kind), linking to the renewal page."""
    notify_side(
        contract.workroom,
        side,
        Kind.renewal,
        title,
        link=f"/contracts/{contract.id}/renewal",
        always=always,
        actor=actor,
        now=now,
    )


def _in_force(contract):
    """The terms in force of an active contract, or refuse."""
    version = contract.accepted_version
    if contract.status is not ContractStatus.active or version is None:
        raise InvalidState(
            f"Renewals are for active contracts; this one is {contract.status.value}."
        )
    return version


def _next_contract(contract, version, author, *, now):
    """The next contract of a renewal as a draft: same workroom and campaign, the terms in
    force moved to the next term, linked to the contract it renews."""
    following = Contract(
        workroom=contract.workroom,
        campaign=contract.campaign,
        status=ContractStatus.draft,
        created_by_id=author.id,
        created_at=now,
        renews_id=contract.id,
    )
    db.session.add(following)
    comment = f"Renews version {version.number} of contract {contract.id}."
    _add_version(
        following,
        author,
        Side.brand,
        next_terms(version),
        VersionKind.proposal,
        comment=comment,
        now=now,
    )
    return following


def _check_comment(comment):
    """The decision's comment, trimmed, or refuse."""
    comment = (comment or "").strip()
    if not comment:
        raise InvalidTerms("Say why, for the creator: the comment is shown to them.")
    if len(comment) > MAX_COMMENT:
        raise InvalidTerms(f"Comments are limited to {MAX_COMMENT:,} characters.")
    return comment


def decide_renewal(contract, actor, seat, decision, comment, *, now=None):
    """The brand decides the next term: renew as is (the next contract is proposed to the
    creator at once), renegotiate (a draft of it for the brand to edit), or let it lapse."""
    side = _writer_side(contract, seat)
    if side is not Side.brand:
        raise NotAllowed("Only the brand's owners and managers decide renewals.")
    decision = RenewalChoice(decision)
    comment = _check_comment(comment)
    now = now or utcnow()
    _lock(contract)
    version = _in_force(contract)
    following = queries.next_contract_of(contract)
    if following is not None:
        raise InvalidState(
            f"This contract already has its next contract (#{following.id}, "
            f"{following.status.value}); decide on that one."
        )
    if (
        decision is RenewalChoice.lapse
        and version.auto_renew
        and not _may_give_notice(version, now)
    ):
        raise InvalidState(
            f"The notice deadline was {version.notice_deadline.isoformat()}: this contract"
            " renews automatically now."
        )
    if decision is not RenewalChoice.lapse:
        following = _next_contract(contract, version, actor, now=now)
    record = RenewalDecision(
        contract_id=contract.id,
        decision=decision,
        comment=comment,
        side=Side.brand,
        decided_by_id=actor.id,
        created_at=now,
        next_contract_id=following.id if following else None,
    )
    db.session.add(record)
    db.session.flush()
    title = escape_markdown(version.title)
    post_system_event(
        contract.workroom,
        f"{escape_markdown(actor.name)} decided to {DECISION_WORDS[decision]}:"
        f" **{title}** (renewal date {version.renews_on.isoformat()}).\n\n"
        f"{quote_markdown(comment)}",
        actor=actor,
        now=now,
    )
    _audit(
        actor,
        f"renewal.{decision.value}",
        contract,
        now=now,
        decision=record.id,
        version=version.number,
        sha256=version.sha256,
        next_contract=following.id if following else None,
    )
    if decision is RenewalChoice.renew:
        _set_status(following, ContractStatus.proposed)
        _proposed(following, following.latest_version, actor, revised=False, now=now)
    elif decision is RenewalChoice.renegotiate:
        _audit(actor, "contract.drafted", following, now=now, renews=contract.id)
    _tell(
        contract,
        Side.creator,
        f"{actor.name} decided to {DECISION_WORDS[decision]}: “{version.title}”",
        always=True,
        now=now,
    )
    return record


def _may_give_notice(version, now):
    """True through the notice deadline's whole day (UTC)."""
    return _today(now) <= version.notice_deadline


def opt_out_of_auto_renewal(contract, actor, seat, *, now=None):
    """One side gives notice that an auto-renew contract must not renew automatically;
    only before (through) the notice deadline, once per side."""
    side = _writer_side(contract, seat)
    now = now or utcnow()
    _lock(contract)
    version = _in_force(contract)
    if not version.auto_renew:
        raise InvalidState(
            "This contract does not renew automatically: there is nothing to opt out of."
        )
    if not _may_give_notice(version, now):
        raise InvalidState(
            f"The notice deadline was {version.notice_deadline.isoformat()}: it is too late to"
            " opt out of the automatic renewal."
        )
    if any(o.side is side for o in queries.opt_outs_of(contract)):
        raise InvalidState(f"The {side.value} side already opted out of the automatic renewal.")
    opt_out = AutoRenewOptOut(contract_id=contract.id, side=side, user_id=actor.id, created_at=now)
    db.session.add(opt_out)
    db.session.flush()
    post_system_event(
        contract.workroom,
        f"{escape_markdown(actor.name)} opted out of the automatic renewal of"
        f" **{escape_markdown(version.title)}**: it will not renew on"
        f" {version.renews_on.isoformat()}.",
        actor=actor,
        now=now,
    )
    _audit(actor, "renewal.opted_out", contract, now=now, side=side.value, sha256=version.sha256)
    other = Side.creator if side is Side.brand else Side.brand
    _tell(
        contract,
        other,
        f"{actor.name} opted out of the automatic renewal of “{version.title}”",
        always=True,
        now=now,
    )
    return opt_out


def _renews_itself(contract, version):
    """True when an auto-renew contract will renew on its renewal date: nobody opted out
    and the brand did not let it lapse (whether a next contract exists is checked apart)."""
    if not version.auto_renew or queries.opt_outs_of(contract):
        return False
    latest = queries.latest_renewal_decision(contract)
    return latest is None or latest.decision is not RenewalChoice.lapse


def auto_renewal_due(contract, version, now):
    """True when an active auto-renew contract renews now: its renewal date has come, nobody
    opted out, the brand did not let it lapse, and it has no next contract yet."""
    return (
        _today(now) >= version.renews_on
        and _renews_itself(contract, version)
        and queries.next_contract_of(contract) is None
    )


def auto_renew_contract(contract, *, now=None):
    """The system renews an auto-renew contract on its renewal date: the next contract is
    active at once, on the strength of both sides' acceptance of the auto-renew clause in
    the terms in force (named by their hash in the audit). None when not (or no longer) due."""
    now = now or utcnow()
    _lock(contract)
    version = contract.accepted_version
    if contract.status is not ContractStatus.active or version is None:
        return None
    if not auto_renewal_due(contract, version, now):
        return None
    author = db.session.get(User, version.created_by_id)
    following = _next_contract(contract, version, author, now=now)
    new = following.latest_version
    _set_status(following, ContractStatus.proposed)
    _set_state(new, VersionState.accepted)
    _set_status(following, ContractStatus.active)
    title = escape_markdown(version.title)
    post_system_event(
        contract.workroom,
        f"**{title}** renewed automatically on {version.renews_on.isoformat()}, as its terms"
        f" (version {version.number}) provide: the next term runs"
        f" {new.starts_on.isoformat()} to {new.ends_on.isoformat()} and is active.",
        now=now,
    )
    _audit(
        None,
        "renewal.auto_renewed",
        contract,
        now=now,
        version=version.number,
        sha256=version.sha256,
        next_contract=following.id,
        next_sha256=new.sha256,
    )
    _audit(
        None,
        "contract.activated",
        following,
        now=now,
        version=new.number,
        sha256=new.sha256,
        basis="auto_renew",
        renews=contract.id,
        renews_sha256=version.sha256,
    )
    create_deliverables(following, new, None, now=now)
    for side in Side:  # a legal event: both sides hear of it, whatever their preferences
        _tell(
            contract,
            side,
            f"“{version.title}” renewed automatically: the next term starts"
            f" {new.starts_on.isoformat()}",
            always=True,
            now=now,
        )
    return following


def expire_contract(contract, *, now=None):
    """An active contract past its end (UTC date) with no renewal in force becomes expired.
    Open deliverables stay as they are (the log says how many); a close-out settles them.
    A renewed one whose work is all done becomes completed instead (with work still open
    it waits for that work or a close-out). None when not (or no longer) due: still
    running, renewed with work open, or about to renew itself."""
    now = now or utcnow()
    _lock(contract)
    version = contract.accepted_version
    if contract.status is not ContractStatus.active or version is None:
        return None
    if _today(now) <= version.ends_on:
        return None
    following = queries.next_contract_of(contract)
    if following is None and _renews_itself(contract, version):
        return None  # the auto-renewal sweep renews it on its renewal date
    open_count = db.session.scalar(
        select(func.count(Deliverable.id)).where(
            Deliverable.contract_id == contract.id, Deliverable.status.not_in(FINAL_STATUSES)
        )
    )
    if following is not None and following.status in RENEWED:
        return None if open_count else _complete_renewed(contract, version, now=now)
    _set_status(contract, ContractStatus.expired)
    text = (
        f"**{escape_markdown(version.title)}** expired: its term ended on"
        f" {version.ends_on.isoformat()} without a renewal."
    )
    if open_count:
        text += (
            f" {open_count} deliverable{'s are' if open_count != 1 else ' is'} still open and"
            " stay as they are; close the contract out to settle them."
        )
    post_system_event(contract.workroom, text, now=now)
    _audit(
        None,
        "contract.expired",
        contract,
        now=now,
        version=version.number,
        sha256=version.sha256,
        ends_on=version.ends_on.isoformat(),
        open_deliverables=open_count,
    )
    for side in Side:
        _tell(
            contract,
            side,
            f"“{version.title}” expired at the end of its term",
            always=True,
            now=now,
        )
    return contract


def _complete_renewed(contract, version, *, now):
    """The term a renewal continues ends completed, its work all done."""
    _set_status(contract, ContractStatus.completed)
    post_system_event(
        contract.workroom,
        f"**{escape_markdown(version.title)}** is completed: its term ended on"
        f" {version.ends_on.isoformat()} with all its work done, and the next term runs on.",
        now=now,
    )
    _audit(None, "contract.completed", contract, now=now, version=version.number)
    return contract
