"""Every state change of contracts: proposals, revisions, acceptances, amendments."""

from sqlalchemy import select

from portal.audit import record_event
from portal.contracts.models import (
    CONTRACT_TRANSITIONS,
    VERSION_TRANSITIONS,
    Contract,
    ContractAcceptance,
    ContractLine,
    ContractResponse,
    ContractStatus,
    ContractVersion,
    VersionKind,
    VersionState,
)
from portal.contracts.terms import terms_sha256
from portal.database import utcnow
from portal.deliverables.services import create_deliverables, sync_deliverables
from portal.errors import DomainError, InvalidState, NotAllowed
from portal.extensions import db
from portal.markup import escape_markdown, quote_markdown, render_markdown
from portal.money import CURRENCIES
from portal.notifications.models import Kind
from portal.notifications.services import notify_side
from portal.workrooms.models import Side
from portal.workrooms.services import lock_workroom, post_system_event

MAX_COMMENT = 2000
MAX_TERMS = 50_000
MAX_LINES = 30
MAX_REQUIREMENTS = 20


class InvalidTerms(DomainError):
    """Terms that cannot be stored (end before start, no lines, ...)."""

    status_code = 422


class StaleTerms(InvalidState):
    """The terms changed after the user opened them; nothing stale is accepted."""


def check_terms(terms):
    """Refuse terms that break the contract rules (the form checks the same, field by field)."""
    problems = []
    if not terms.title:
        problems.append("A contract needs a title.")
    if not terms.terms_md:
        problems.append("Write the terms.")
    if len(terms.terms_md) > MAX_TERMS:
        problems.append(f"Terms are limited to {MAX_TERMS:,} characters.")
    if terms.ends_on < terms.starts_on:
        problems.append("The end date must be on or after the start date.")
    if terms.currency not in CURRENCIES:
        problems.append("Choose a supported currency.")
    if not terms.lines:
        problems.append("Add at least one deliverable line.")
    if len(terms.lines) > MAX_LINES:
        problems.append(f"A contract has at most {MAX_LINES} lines.")
    for n, line in enumerate(terms.lines, start=1):
        if not line.title or line.price_minor < 0:
            problems.append(f"Line {n} needs a title and a price of zero or more.")
        if not terms.starts_on <= line.due_on <= terms.ends_on:
            problems.append(f"Line {n} is due outside the contract's dates.")
    if not 0 <= terms.kill_fee_percent <= 100:
        problems.append("The kill fee is a percentage from 0 to 100.")
    if terms.auto_approve_days < 1:
        problems.append("The auto-approve window is at least one day.")
    if terms.grace_hours < 0:
        problems.append("The grace period can't be negative.")
    for n, line in enumerate(terms.lines, start=1):
        if len(line.requirements) > MAX_REQUIREMENTS or any(
            len(item) > 200 for item in line.requirements
        ):
            problems.append(
                f"Line {n} has at most {MAX_REQUIREMENTS} requirements of 200 characters."
            )
    if min(terms.revision_budget, terms.renewal_notice_days, terms.termination_notice_days) < 0:
        problems.append("Day counts and the revision budget can't be negative.")
    if problems:
        raise InvalidTerms(" ".join(problems))


def _set_status(contract, status):
    """Move a contract along CONTRACT_TRANSITIONS, or refuse."""
    if status not in CONTRACT_TRANSITIONS.get(contract.status, set()):
        raise InvalidState(f"A {contract.status.value} contract can't become {status.value}.")
    contract.status = status


def _set_state(version, state):
    """Move a version along VERSION_TRANSITIONS, or refuse."""
    if state not in VERSION_TRANSITIONS.get(version.state, set()):
        raise InvalidState(f"Version {version.number} is {version.state.value}; it can't change.")
    version.state = state


def _writer_side(contract, seat):
    """The side acting for the seat; refuses seats that only read or sit elsewhere."""
    if seat.workroom.id != contract.workroom_id:
        raise NotAllowed("That contract is not in this workroom.")
    if not seat.can_write or seat.side is None:
        raise NotAllowed("You can read this contract but not change it.")
    return seat.side


def _require_brand(side, what):
    """Only the brand writes proposals."""
    if side is not Side.brand:
        raise NotAllowed(f"Only the brand can {what}.")


def _lock(contract):
    """Lock the workroom (it serialises every contract change) and re-read the contract."""
    lock_workroom(contract.workroom)
    db.session.scalars(
        select(ContractVersion)
        .where(ContractVersion.contract_id == contract.id)
        .execution_options(populate_existing=True)
    ).all()
    db.session.refresh(contract)
    return contract


def _add_version(contract, actor, side, terms, kind, *, comment, now):
    """Append the next immutable version of the terms."""
    terms = terms.cleaned()
    check_terms(terms)
    comment = (comment or "").strip()
    if len(comment) > MAX_COMMENT:
        raise InvalidTerms(f"Notes are limited to {MAX_COMMENT:,} characters.")
    latest = contract.latest_version
    version = ContractVersion(
        contract=contract,
        number=(latest.number + 1) if latest else 1,
        kind=kind,
        state=VersionState.open,
        proposed_by_side=side,
        title=terms.title,
        terms_md=terms.terms_md,
        terms_html=render_markdown(terms.terms_md),
        starts_on=terms.starts_on,
        ends_on=terms.ends_on,
        currency=terms.currency,
        total_minor=terms.total_minor,
        renewal_date=terms.renewal_date,
        renewal_notice_days=terms.renewal_notice_days,
        auto_renew=terms.auto_renew,
        termination_notice_days=terms.termination_notice_days,
        kill_fee_percent=terms.kill_fee_percent,
        auto_approve_days=terms.auto_approve_days,
        revision_budget=terms.revision_budget,
        grace_hours=terms.grace_hours,
        comment=comment,
        sha256=terms_sha256(terms),
        created_by_id=actor.id,
        created_at=now,
    )
    version.lines = [
        ContractLine(
            position=position,
            title=line.title,
            kind=line.kind,
            platform=line.platform,
            due_on=line.due_on,
            price_minor=line.price_minor,
            requirements="\n".join(line.requirements),
        )
        for position, line in enumerate(terms.lines, start=1)
    ]
    db.session.add(version)
    db.session.flush()
    return version


def _accept(version, actor, side, now):
    """Record one side's acceptance of a version, by its hash."""
    acceptance = ContractAcceptance(
        version_id=version.id,
        side=side,
        user_id=actor.id,
        sha256=version.sha256,
        accepted_at=now,
    )
    db.session.add(acceptance)
    db.session.flush()
    db.session.refresh(version, ["acceptances"])
    return acceptance


def _audit(actor, action, contract, version, *, now, **data):
    """An audit event about a contract version."""
    record_event(
        actor,
        action,
        contract,
        workroom=contract.workroom,
        data={"version": version.number, "sha256": version.sha256, **data},
        now=now,
    )


def _proposed(contract, version, actor, *, revised, now):
    """The brand stands behind a proposal: its acceptance, a log line, an audit event."""
    _accept(version, actor, Side.brand, now)
    verb = "revised" if revised else "proposed"
    post_system_event(
        contract.workroom,
        f"{escape_markdown(actor.name)} {verb} contract **{escape_markdown(version.title)}**"
        f" (version {version.number}).",
        actor=actor,
        now=now,
    )
    _audit(actor, f"contract.{verb}", contract, version, now=now)
    _tell(
        contract,
        Side.creator,
        f"{actor.name} {verb} the contract “{version.title}”: it waits on your answer",
        now=now,
    )


def _tell(contract, side, title, *, always=False, actor=None, now):
    """Notify one side of the contract's workroom, linking to the contract."""
    notify_side(
        contract.workroom,
        side,
        Kind.contract,
        title,
        link=f"/contracts/{contract.id}",
        always=always,
        actor=actor,
        now=now,
    )


def create_contract(seat, actor, campaign, terms, *, propose=True, comment="", now=None):
    """The brand writes a contract in a workroom, as a draft or proposed at once."""
    if not seat.can_write or not seat.is_brand:
        raise NotAllowed("Only the brand's owners and managers write contracts.")
    workroom = seat.workroom
    if campaign is None or campaign.brand_id != workroom.brand_id:
        raise NotAllowed("Choose one of the brand's campaigns.")
    now = now or utcnow()
    lock_workroom(workroom)
    contract = Contract(
        workroom=workroom,
        campaign=campaign,
        status=ContractStatus.draft,
        created_by_id=actor.id,
        created_at=now,
    )
    db.session.add(contract)
    version = _add_version(
        contract, actor, Side.brand, terms, VersionKind.proposal, comment=comment, now=now
    )
    if propose:
        _set_status(contract, ContractStatus.proposed)
        _proposed(contract, version, actor, revised=False, now=now)
    else:
        _audit(actor, "contract.drafted", contract, version, now=now)
    return contract


def save_draft(contract, actor, seat, terms, *, comment="", now=None):
    """The brand changes a draft: a new version replaces the draft's previous one."""
    side = _writer_side(contract, seat)
    _require_brand(side, "edit a draft")
    now = now or utcnow()
    _lock(contract)
    if contract.status is not ContractStatus.draft:
        raise InvalidState("This contract is no longer a draft.")
    latest = contract.latest_version
    if latest.sha256 == terms_sha256(terms.cleaned()):
        return latest
    _set_state(latest, VersionState.superseded)
    version = _add_version(
        contract, actor, side, terms, VersionKind.proposal, comment=comment, now=now
    )
    _audit(actor, "contract.draft_saved", contract, version, now=now)
    return version


def propose_contract(contract, actor, seat, terms=None, *, comment="", now=None):
    """The brand sends a draft to the creator (with changed terms, if given)."""
    side = _writer_side(contract, seat)
    _require_brand(side, "propose a contract")
    now = now or utcnow()
    _lock(contract)
    if contract.status is not ContractStatus.draft:
        raise InvalidState("This contract was already proposed.")
    version = contract.latest_version
    if terms is not None and terms_sha256(terms.cleaned()) != version.sha256:
        _set_state(version, VersionState.superseded)
        version = _add_version(
            contract, actor, side, terms, VersionKind.proposal, comment=comment, now=now
        )
    _set_status(contract, ContractStatus.proposed)
    _proposed(contract, version, actor, revised=False, now=now)
    return version


def revise_contract(contract, actor, seat, terms, *, comment="", now=None):
    """The brand answers (or pre-empts) the creator with a new version of its proposal."""
    side = _writer_side(contract, seat)
    _require_brand(side, "revise a proposal")
    now = now or utcnow()
    _lock(contract)
    if contract.status is not ContractStatus.proposed:
        raise InvalidState(
            f"Only a proposed contract can be revised; this one is {contract.status.value}."
        )
    latest = contract.latest_version
    if latest.state is VersionState.open:
        _set_state(latest, VersionState.superseded)
    version = _add_version(
        contract, actor, side, terms, VersionKind.proposal, comment=comment, now=now
    )
    _proposed(contract, version, actor, revised=True, now=now)
    return version


def propose_amendment(contract, actor, seat, terms, *, comment="", now=None):
    """Either side proposes a change to an active contract; the counterpart decides."""
    side = _writer_side(contract, seat)
    now = now or utcnow()
    _lock(contract)
    if contract.status is not ContractStatus.active:
        raise InvalidState("Amendments are for active contracts.")
    in_force = contract.accepted_version
    if terms_sha256(terms.cleaned()) == in_force.sha256:
        raise InvalidTerms("This amendment changes nothing in the terms in force.")
    latest = contract.latest_version
    if latest.kind is VersionKind.amendment and latest.state is VersionState.open:
        if latest.proposed_by_side is not side:
            raise InvalidState(
                f"Answer the open amendment (version {latest.number}) before proposing another."
            )
        _set_state(latest, VersionState.superseded)
    version = _add_version(
        contract, actor, side, terms, VersionKind.amendment, comment=comment, now=now
    )
    _accept(version, actor, side, now)
    post_system_event(
        contract.workroom,
        f"{escape_markdown(actor.name)} proposed an amendment to"
        f" **{escape_markdown(version.title)}**"
        f" (version {version.number}).",
        actor=actor,
        now=now,
    )
    _audit(actor, "contract.amendment_proposed", contract, version, now=now)
    return version


def change_terms(contract, actor, seat, terms, *, propose=True, comment="", now=None):
    """Write the next version: edit or propose a draft, revise a proposal, or amend."""
    if contract.status is ContractStatus.draft:
        if propose:
            return propose_contract(contract, actor, seat, terms, comment=comment, now=now)
        return save_draft(contract, actor, seat, terms, comment=comment, now=now)
    if contract.status is ContractStatus.proposed:
        return revise_contract(contract, actor, seat, terms, comment=comment, now=now)
    if contract.status is ContractStatus.active:
        return propose_amendment(contract, actor, seat, terms, comment=comment, now=now)
    raise InvalidState(f"A {contract.status.value} contract can't change.")


def awaiting(contract, side):
    """The version that waits on `side`'s answer, or None."""
    version = contract.latest_version
    if (
        contract.status in (ContractStatus.proposed, ContractStatus.active)
        and version is not None
        and version.state is VersionState.open
        and version.proposed_by_side is not side
    ):
        return version
    return None


def _awaiting_or_refuse(contract, side, sha256):
    """The version waiting on the side, if it is exactly the one the user saw."""
    version = awaiting(contract, side)
    if version is None:
        raise InvalidState("No terms of this contract are waiting for your answer.")
    if sha256 != version.sha256:
        raise StaleTerms(
            f"The terms changed since you opened them: version {version.number} is now on"
            " the table. Read it and answer again."
        )
    return version


def accept_version(contract, actor, seat, sha256, *, now=None):
    """Accept the terms waiting on the seat's side, named by the hash the user saw."""
    side = _writer_side(contract, seat)
    now = now or utcnow()
    _lock(contract)
    version = _awaiting_or_refuse(contract, side, sha256)
    _accept(version, actor, side, now)
    name, title = escape_markdown(actor.name), escape_markdown(version.title)
    post_system_event(
        contract.workroom,
        f"{name} accepted version {version.number} of **{title}**.",
        actor=actor,
        now=now,
    )
    if {a.side for a in version.acceptances if a.sha256 == version.sha256} != set(Side):
        _audit(actor, "contract.accepted", contract, version, now=now, side=side.value)
        return version
    previous = contract.accepted_version
    _set_state(version, VersionState.accepted)
    if version.kind is VersionKind.proposal:
        _set_status(contract, ContractStatus.active)
        _audit(actor, "contract.accepted", contract, version, now=now, side=side.value)
        post_system_event(contract.workroom, f"Contract **{title}** is active.", now=now)
        _audit(actor, "contract.activated", contract, version, now=now)
        create_deliverables(contract, version, actor, now=now)
    else:
        sync_deliverables(contract, previous, version, actor, now=now)
        _audit(actor, "contract.amendment_accepted", contract, version, now=now, side=side.value)
        post_system_event(
            contract.workroom,
            f"Version {version.number} of **{title}** is now the terms in force.",
            now=now,
        )
    for party in Side:  # a legal event: everyone hears of it, whatever the preferences
        _tell(
            contract,
            party,
            f"“{version.title}” version {version.number} was accepted by both sides",
            always=True,
            now=now,
        )
    return version


def decline_version(contract, actor, seat, sha256, comment, *, now=None):
    """Ask for changes to a proposal, or reject an amendment, with a comment."""
    side = _writer_side(contract, seat)
    comment = (comment or "").strip()
    if not comment:
        raise InvalidTerms("Say what should change.")
    if len(comment) > MAX_COMMENT:
        raise InvalidTerms(f"Comments are limited to {MAX_COMMENT:,} characters.")
    now = now or utcnow()
    _lock(contract)
    version = _awaiting_or_refuse(contract, side, sha256)
    proposal = version.kind is VersionKind.proposal
    state = VersionState.changes_requested if proposal else VersionState.rejected
    _set_state(version, state)
    db.session.add(
        ContractResponse(
            version_id=version.id,
            side=side,
            user_id=actor.id,
            state=state,
            comment=comment,
            created_at=now,
        )
    )
    name, title = escape_markdown(actor.name), escape_markdown(version.title)
    if proposal:
        text = f"{name} asked for changes to **{title}** (version {version.number}):"
        action = "contract.changes_requested"
    else:
        text = f"{name} rejected the amendment to **{title}** (version {version.number}):"
        action = "contract.amendment_rejected"
    text = f"{text}\n\n{quote_markdown(comment)}"
    post_system_event(contract.workroom, text, actor=actor, now=now)
    _audit(actor, action, contract, version, now=now, side=side.value)
    return version


def end_contract(contract, actor, status, reason, *, now=None):
    """End an active contract (terminated, completed, ...) as someone entitled to decided:
    a mediator's resolution for now, the exit flow later. The caller settles the work."""
    now = now or utcnow()
    _lock(contract)
    _set_status(contract, status)
    version = contract.accepted_version
    post_system_event(
        contract.workroom,
        f"The contract **{escape_markdown(version.title)}** is {status.value.replace('_', ' ')}:"
        f"\n\n{quote_markdown(reason)}",
        actor=actor,
        now=now,
    )
    _audit(actor, f"contract.{status.value}", contract, version, now=now, reason=reason)
    return contract
