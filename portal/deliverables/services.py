"""Every state change of deliverables: submissions, reviews, timers, extensions, remedies."""

from datetime import UTC, datetime, time, timedelta
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select

from portal.audit import record_event
from portal.database import utcnow
from portal.deliverables.models import (
    DELIVERABLE_TRANSITIONS,
    Deliverable,
    DeliverableStatus,
    ExtensionRequest,
    RequestState,
    Review,
    ReviewDecision,
    Revision,
    RevisionState,
    RoundRequest,
)
from portal.errors import DomainError, InvalidState, NotAllowed
from portal.escrow.services import check_milestones_of
from portal.extensions import db
from portal.markup import escape_markdown, quote_markdown, render_markdown
from portal.notifications.models import Kind
from portal.notifications.services import notify_side
from portal.workrooms.models import Side
from portal.workrooms.services import attach_files, lock_workroom, post_system_event

MAX_TEXT = 20_000
MAX_FEEDBACK = 10_000
MAX_REASON = 2_000
MAX_LINKS = 10
DUE_TIME = time(23, 59)  #: a line due "on" a date is due at the end of that day, creator's time


class InvalidInput(DomainError):
    """Input the rules refuse (no content, a bad link, feedback missing)."""

    status_code = 422


class BudgetUsedUp(InvalidState):
    """A change request past the revision budget needs the creator's consent or an amendment."""


def due_at_for(due_on, timezone_name):
    """The UTC moment a line due on `due_on` falls due: the end of that day in the zone."""
    try:
        zone = ZoneInfo(timezone_name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        zone = UTC
    return datetime.combine(due_on, DUE_TIME, tzinfo=zone).astimezone(UTC)


def terms_in_force(deliverable):
    """The accepted contract version whose settings (windows, budget, grace) apply."""
    return deliverable.contract.accepted_version


def rounds_allowed(deliverable):
    """Change-request rounds allowed: the contract's budget plus rounds the creator granted."""
    return terms_in_force(deliverable).revision_budget + deliverable.extra_rounds


def missed_after(deliverable):
    """When the deliverable counts as missed if nothing is approved: due time plus grace."""
    return deliverable.due_at + timedelta(hours=terms_in_force(deliverable).grace_hours)


def _set_status(deliverable, status, now):
    """Move a deliverable along DELIVERABLE_TRANSITIONS, or refuse."""
    if status not in DELIVERABLE_TRANSITIONS.get(deliverable.status, set()):
        raise InvalidState(
            f"“{deliverable.title}” is {deliverable.status.value.replace('_', ' ')};"
            f" it can't become {status.value.replace('_', ' ')}."
        )
    deliverable.status = status
    deliverable.updated_at = now
    if deliverable.is_final:
        deliverable.closed_at = now


def _lock(deliverable):
    """Lock the workroom (it serialises every deliverable change) and re-read the deliverable."""
    lock_workroom(deliverable.workroom)
    db.session.refresh(deliverable)
    return deliverable


def _writer(seat, deliverable, side=None, what="do that"):
    """Refuse seats outside the deliverable's workroom, read-only seats and the wrong side."""
    if seat.workroom.id != deliverable.workroom_id:
        raise NotAllowed("That deliverable is not in this workroom.")
    if not seat.can_write or seat.side is None:
        raise NotAllowed("You can read this deliverable but not change it.")
    if side is not None and seat.side is not side:
        who = "the brand's owners and managers" if side is Side.brand else "the creator"
        raise NotAllowed(f"Only {who} can {what}.")
    return seat.side


def _contract_active(deliverable):
    """The deliverable's contract, read under the lock, is active."""
    db.session.refresh(deliverable.contract, ["status"])
    return deliverable.contract.status.value == "active"


def _require_active_contract(deliverable):
    """Work happens under an active contract only."""
    if not _contract_active(deliverable):
        raise InvalidState(f"The contract is {deliverable.contract.status.value}, not active.")


def _title(deliverable):
    """The deliverable's title as Markdown-safe bold text."""
    return f"**{escape_markdown(deliverable.title)}**"


def _log(deliverable, text, *, actor=None, now):
    """A system line in the workroom's log about the deliverable."""
    return post_system_event(deliverable.workroom, text, actor=actor, now=now)


def _tell(deliverable, side, kind, title, *, body="", actor=None, now):
    """Notify one side of the deliverable's workroom, linking to the deliverable."""
    notify_side(
        deliverable.workroom,
        side,
        kind,
        title,
        body=body,
        link=f"/workrooms/{deliverable.workroom_id}/deliverables/{deliverable.id}",
        actor=actor,
        now=now,
    )


def _plain(value):
    """A value the audit event's JSON can hold: dates and times as ISO text."""
    return value.isoformat() if hasattr(value, "isoformat") else value


def _audit(actor, action, deliverable, *, now, **data):
    """An audit event about a deliverable, on its workroom's chain."""
    record_event(
        actor,
        action,
        deliverable,
        workroom=deliverable.workroom,
        data={
            "deliverable": deliverable.id,
            "title": deliverable.title,
            **{key: _plain(value) for key, value in data.items()},
        },
        now=now,
    )


def _text(value, limit, what):
    """Stripped text within its limit."""
    value = (value or "").strip()
    if len(value) > limit:
        raise InvalidInput(f"{what} is limited to {limit:,} characters.")
    return value


def clean_links(links):
    """Submitted links: http(s) URLs only, at most MAX_LINKS, blanks dropped."""
    cleaned = []
    for link in links:
        link = (link or "").strip()
        if not link:
            continue
        parts = urlsplit(link)
        if parts.scheme not in ("http", "https") or not parts.netloc or len(link) > 500:
            raise InvalidInput(f"“{link[:80]}” is not a web link (https://…).")
        cleaned.append(link)
    if len(cleaned) > MAX_LINKS:
        raise InvalidInput(f"A revision has at most {MAX_LINKS} links.")
    return cleaned


# Deliverables come from the contract's lines -------------------------------------------


def _from_line(contract, version, line, now):
    """A new deliverable for a contract line."""
    return Deliverable(
        contract=contract,
        workroom_id=contract.workroom_id,
        position=line.position,
        title=line.title,
        kind=line.kind,
        platform=line.platform,
        due_at=due_at_for(line.due_on, contract.workroom.creator.timezone),
        price_minor=line.price_minor,
        currency=version.currency,
        requirements=line.requirement_list,
        status=DeliverableStatus.pending,
        created_at=now,
        updated_at=now,
    )


def create_deliverables(contract, version, actor, *, now=None):
    """The deliverables of a contract that just became active, one per line."""
    now = now or utcnow()
    deliverables = [_from_line(contract, version, line, now) for line in version.lines]
    db.session.add_all(deliverables)
    db.session.flush()
    for deliverable in deliverables:
        _audit(actor, "deliverable.created", deliverable, now=now, due_at=deliverable.due_at)
    return deliverables


def sync_deliverables(contract, previous, version, actor, *, now=None):
    """Apply an accepted amendment: changed lines update their open deliverables, new lines
    add deliverables, removed lines cancel the open ones (approved work stays approved)."""
    now = now or utcnow()
    existing = {
        d.position: d
        for d in db.session.scalars(
            select(Deliverable).where(Deliverable.contract_id == contract.id)
        )
    }
    old_lines = {line.position: line for line in previous.lines}
    for line in version.lines:
        deliverable = existing.pop(line.position, None)
        if deliverable is None:
            deliverable = _from_line(contract, version, line, now)
            db.session.add(deliverable)
            db.session.flush()
            _audit(actor, "deliverable.created", deliverable, now=now, due_at=deliverable.due_at)
            continue
        if deliverable.is_final:
            continue
        deliverable.title = line.title
        deliverable.kind = line.kind
        deliverable.platform = line.platform
        deliverable.price_minor = line.price_minor
        deliverable.requirements = line.requirement_list
        old = old_lines.get(line.position)
        if old is None or old.due_on != line.due_on:
            deliverable.due_at = due_at_for(line.due_on, contract.workroom.creator.timezone)
            if deliverable.status is DeliverableStatus.missed and deliverable.due_at > now:
                _set_status(deliverable, DeliverableStatus.pending, now)
        deliverable.updated_at = now
        _audit(actor, "deliverable.amended", deliverable, now=now, due_at=deliverable.due_at)
    for deliverable in existing.values():
        if deliverable.status in DELIVERABLE_TRANSITIONS and (
            DeliverableStatus.cancelled in DELIVERABLE_TRANSITIONS[deliverable.status]
        ):
            _close_requests(deliverable, now)
            _set_status(deliverable, DeliverableStatus.cancelled, now)
            _audit(actor, "deliverable.cancelled", deliverable, now=now, reason="amendment")
    db.session.flush()


# Submissions and reviews ----------------------------------------------------------------


def submit_revision(
    deliverable,
    actor,
    seat,
    text_md,
    *,
    links=(),
    checked=(),
    uploads=(),
    client_token=None,
    now=None,
):
    """The creator submits the next numbered revision: text, links, files, ticked checklist.

    A retried submission with the same client token returns the first revision.
    """
    _writer(seat, deliverable, Side.creator, "submit revisions")
    text_md = _text(text_md, MAX_TEXT, "The text")
    links = clean_links(links)
    if not (text_md or links or uploads):
        raise InvalidInput("Add the caption or script, a link or a file.")
    now = now or utcnow()
    _lock(deliverable)
    if client_token:
        existing = db.session.scalar(
            select(Revision).where(
                Revision.deliverable_id == deliverable.id, Revision.client_token == client_token
            )
        )
        if existing is not None:
            return existing
    _require_active_contract(deliverable)
    if deliverable.status not in (DeliverableStatus.pending, DeliverableStatus.changes_requested):
        raise InvalidState(
            f"“{deliverable.title}” is {deliverable.status.value.replace('_', ' ')};"
            " it takes no submission now."
        )
    number = deliverable.last_revision_number + 1
    deliverable.last_revision_number = number
    ticked = [item for item in deliverable.requirements if item in set(checked)]
    message = _log(
        deliverable,
        f"{escape_markdown(actor.name)} submitted revision {number} of {_title(deliverable)}.",
        actor=actor,
        now=now,
    )
    files = attach_files(message, uploads, actor, now=now)
    revision = Revision(
        deliverable=deliverable,
        number=number,
        state=RevisionState.in_review,
        text_md=text_md,
        text_html=render_markdown(text_md),
        links=links,
        checked=ticked,
        message=message,
        client_token=client_token or None,
        submitted_by_id=actor.id,
        submitted_at=now,
        review_due_at=now + timedelta(days=terms_in_force(deliverable).auto_approve_days),
    )
    db.session.add(revision)
    _set_status(deliverable, DeliverableStatus.submitted, now)
    db.session.flush()
    _audit(
        actor,
        "deliverable.submitted",
        deliverable,
        now=now,
        revision=number,
        files=[f.sha256 for f in files],
        review_due_at=revision.review_due_at,
    )
    _tell(
        deliverable,
        Side.brand,
        Kind.submission,
        f"{actor.name} submitted revision {number} of “{deliverable.title}” for review",
        actor=actor,
        now=now,
    )
    return revision


def review_revision(revision, actor, seat, decision, *, feedback="", internal="", now=None):
    """The brand decides on the revision in review: approve, approve with corrections, or
    request changes (feedback required; counted against the revision budget)."""
    deliverable = revision.deliverable
    _writer(seat, deliverable, Side.brand, "review submissions")
    if decision is ReviewDecision.auto_approve:
        raise NotAllowed("Only the auto-approve timer approves automatically.")
    feedback = _text(feedback, MAX_FEEDBACK, "Feedback")
    internal = _text(internal, MAX_FEEDBACK, "The brand-only comment")
    if decision is not ReviewDecision.approve and not feedback:
        raise InvalidInput(
            "Say what should change."
            if decision is ReviewDecision.request_changes
            else "Write the corrections the creator should apply when publishing."
        )
    now = now or utcnow()
    _lock(deliverable)
    db.session.refresh(revision)
    if revision.state is not RevisionState.in_review:
        raise InvalidState(f"Revision {revision.number} was already reviewed.")
    extra = False
    if decision is ReviewDecision.request_changes:
        if deliverable.rounds_used >= rounds_allowed(deliverable):
            raise BudgetUsedUp(
                f"The revision budget of {rounds_allowed(deliverable)} round(s) is used up."
                " Ask the creator for an extra round, or amend the contract."
            )
        deliverable.rounds_used += 1
        extra = deliverable.rounds_used > terms_in_force(deliverable).revision_budget
    review = Review(
        revision=revision,
        decision=decision,
        reviewer_id=actor.id,
        feedback_md=feedback,
        feedback_html=render_markdown(feedback),
        internal_md=internal,
        internal_html=render_markdown(internal),
        extra_round=extra,
        created_at=now,
    )
    db.session.add(review)
    revision.state = decision.revision_state
    changes = decision is ReviewDecision.request_changes
    _set_status(
        deliverable,
        DeliverableStatus.changes_requested if changes else DeliverableStatus.approved,
        now,
    )
    name, title = escape_markdown(actor.name), _title(deliverable)
    if changes:
        text = f"{name} asked for changes to revision {revision.number} of {title}:"
    elif decision is ReviewDecision.approve_with_corrections:
        text = f"{name} approved revision {revision.number} of {title} with corrections:"
    else:
        text = f"{name} approved revision {revision.number} of {title}."
    if feedback:
        text += f"\n\n{quote_markdown(feedback)}"
    _log(deliverable, text, actor=actor, now=now)
    _close_requests(deliverable, now, rounds_only=True)
    _audit(
        actor,
        "deliverable.reviewed",
        deliverable,
        now=now,
        revision=revision.number,
        decision=decision.value,
        extra_round=extra,
    )
    check_milestones_of(deliverable.contract_id, now=now)
    verdict = "asked for changes to" if changes else "approved"
    _tell(
        deliverable,
        Side.creator,
        Kind.review,
        f"{actor.name} {verdict} revision {revision.number} of “{deliverable.title}”",
        body=feedback,
        actor=actor,
        now=now,
    )
    db.session.flush()
    return review


def auto_approve_revision(revision, *, now=None):
    """Approve a revision nobody reviewed within the window; None when there is nothing to do
    (already reviewed, or the window is still open), so the sweep can run any number of times."""
    now = now or utcnow()
    deliverable = revision.deliverable
    _lock(deliverable)
    db.session.refresh(revision)
    if revision.state is not RevisionState.in_review or now < revision.review_due_at:
        return None
    if not _contract_active(deliverable):
        return None  # an ended contract's work is settled by its ending, not by a timer
    days = terms_in_force(deliverable).auto_approve_days
    review = Review(
        revision=revision,
        decision=ReviewDecision.auto_approve,
        reviewer_id=None,
        created_at=now,
    )
    db.session.add(review)
    revision.state = RevisionState.auto_approved
    _set_status(deliverable, DeliverableStatus.approved, now)
    _close_requests(deliverable, now, rounds_only=True)
    _log(
        deliverable,
        f"Revision {revision.number} of {_title(deliverable)} was approved automatically:"
        f" nobody reviewed it within the {days}-day window.",
        now=now,
    )
    _audit(None, "deliverable.auto_approved", deliverable, now=now, revision=revision.number)
    check_milestones_of(deliverable.contract_id, now=now)
    db.session.flush()
    return review


def mark_missed(deliverable, *, now=None):
    """Past due plus the grace period with nothing approved: missed. None when not (yet) so."""
    now = now or utcnow()
    _lock(deliverable)
    waiting = (DeliverableStatus.pending, DeliverableStatus.changes_requested)
    if deliverable.status not in waiting or now < missed_after(deliverable):
        return None
    if not _contract_active(deliverable):
        return None
    _set_status(deliverable, DeliverableStatus.missed, now)
    hours = terms_in_force(deliverable).grace_hours
    _log(
        deliverable,
        f"{_title(deliverable)} was missed: it was due {deliverable.due_at:%Y-%m-%d %H:%M} UTC"
        f" and nothing was approved within the {hours}-hour grace period."
        " Extend it, waive it, cancel it or open a mediation ticket.",
        now=now,
    )
    _audit(None, "deliverable.missed", deliverable, now=now, due_at=deliverable.due_at)
    for side in (Side.brand, Side.creator):
        _tell(deliverable, side, Kind.missed, f"“{deliverable.title}” was missed", now=now)
    return deliverable


def record_go_live(deliverable, actor, seat, url, live_on, *, now=None):
    """The creator records where and when approved content went live (may be corrected)."""
    _writer(seat, deliverable, Side.creator, "record the live post")
    (url,) = clean_links([url]) or [None]
    if url is None:
        raise InvalidInput("Enter the live URL (https://…).")
    now = now or utcnow()
    _lock(deliverable)
    if deliverable.status is not DeliverableStatus.approved:
        raise InvalidState("Content goes live after its approval.")
    corrected = deliverable.live_url is not None
    deliverable.live_url, deliverable.live_on, deliverable.updated_at = url, live_on, now
    verb = "corrected the live link of" if corrected else "published"
    _log(
        deliverable,
        f"{escape_markdown(actor.name)} {verb} {_title(deliverable)} on {live_on.isoformat()}:"
        f" <{url}>",
        actor=actor,
        now=now,
    )
    _audit(actor, "deliverable.went_live", deliverable, now=now, url=url, live_on=live_on)
    check_milestones_of(deliverable.contract_id, now=now)
    return deliverable


# Extensions and extra rounds ------------------------------------------------------------


def _close_requests(deliverable, now, *, rounds_only=False):
    """Withdraw requests that no longer apply once the deliverable moved on."""
    models = (RoundRequest,) if rounds_only else (RoundRequest, ExtensionRequest)
    for model in models:
        for request in db.session.scalars(
            select(model).where(
                model.deliverable_id == deliverable.id, model.state == RequestState.open
            )
        ):
            request.state, request.decided_at = RequestState.withdrawn, now


def _open_request(model, deliverable):
    """The deliverable's open request of a kind, or None."""
    return db.session.scalar(
        select(model).where(
            model.deliverable_id == deliverable.id, model.state == RequestState.open
        )
    )


def request_extension(deliverable, actor, seat, new_due_at, reason, *, now=None):
    """Either side proposes a new due time with a reason; the counterpart decides."""
    side = _writer(seat, deliverable)
    reason = _text(reason, MAX_REASON, "The reason")
    if not reason:
        raise InvalidInput("Give a reason for the new date.")
    now = now or utcnow()
    if new_due_at <= now:
        raise InvalidInput("The new due date must be in the future.")
    _lock(deliverable)
    _require_active_contract(deliverable)
    if deliverable.is_final:
        raise InvalidState(f"“{deliverable.title}” is {deliverable.status.value}; no new date.")
    if new_due_at == deliverable.due_at:
        raise InvalidInput("That is the current due date.")
    if _open_request(ExtensionRequest, deliverable) is not None:
        raise InvalidState("An extension request is already open: answer or withdraw it first.")
    request = ExtensionRequest(
        deliverable=deliverable,
        side=side,
        requested_by_id=actor.id,
        old_due_at=deliverable.due_at,
        new_due_at=new_due_at,
        reason=reason,
        created_at=now,
    )
    db.session.add(request)
    db.session.flush()
    _log(
        deliverable,
        f"{escape_markdown(actor.name)} asked to move {_title(deliverable)} from"
        f" {deliverable.due_at:%Y-%m-%d %H:%M} to {new_due_at:%Y-%m-%d %H:%M} UTC:"
        f"\n\n{quote_markdown(reason)}",
        actor=actor,
        now=now,
    )
    _audit(actor, "deliverable.extension_requested", deliverable, now=now, new_due_at=new_due_at)
    _tell(
        deliverable,
        Side.creator if side is Side.brand else Side.brand,
        Kind.extension,
        f"{actor.name} asked to move “{deliverable.title}” to {new_due_at:%d %b %Y}",
        body=reason,
        actor=actor,
        now=now,
    )
    return request


def answer_extension(request, actor, seat, accept, *, now=None):
    """The counterpart accepts (the due time moves) or declines an open extension request."""
    deliverable = request.deliverable
    side = _writer(seat, deliverable)
    if side is request.side:
        raise NotAllowed("The other side answers an extension request.")
    now = now or utcnow()
    _lock(deliverable)
    db.session.refresh(request)
    if request.state is not RequestState.open:
        raise InvalidState("This extension request was already answered or withdrawn.")
    request.decided_by_id, request.decided_at = actor.id, now
    name, title = escape_markdown(actor.name), _title(deliverable)
    answer = "accepted" if accept else "declined"
    _tell(
        deliverable,
        request.side,
        Kind.extension,
        f"{actor.name} {answer} the new date for “{deliverable.title}”",
        actor=actor,
        now=now,
    )
    if not accept:
        request.state = RequestState.declined
        _log(deliverable, f"{name} declined the new date for {title}.", actor=actor, now=now)
        _audit(actor, "deliverable.extension_declined", deliverable, now=now)
        return request
    request.state = RequestState.accepted
    _move_due(
        deliverable,
        actor,
        request.new_due_at,
        f"{name} accepted the new date: {title} is now due"
        f" {request.new_due_at:%Y-%m-%d %H:%M} UTC.",
        now=now,
    )
    return request


def _move_due(deliverable, actor, new_due_at, text_md, *, now, **audit):
    """Give a locked deliverable a new due time (a missed one is pending again), logged and
    audited: an accepted extension request, or a mediation's decision."""
    old_due_at, deliverable.due_at = deliverable.due_at, new_due_at
    deliverable.updated_at = now
    if deliverable.status is DeliverableStatus.missed:
        _set_status(deliverable, DeliverableStatus.pending, now)
    _log(deliverable, text_md, actor=actor, now=now)
    _audit(
        actor,
        "deliverable.extended",
        deliverable,
        now=now,
        old_due_at=old_due_at,
        new_due_at=new_due_at,
        **audit,
    )


def withdraw_extension(request, actor, seat, *, now=None):
    """The asking side takes back its open extension request."""
    deliverable = request.deliverable
    side = _writer(seat, deliverable)
    if side is not request.side:
        raise NotAllowed("Only the side that asked can withdraw the request.")
    now = now or utcnow()
    _lock(deliverable)
    db.session.refresh(request)
    if request.state is not RequestState.open:
        raise InvalidState("This extension request was already answered or withdrawn.")
    request.state, request.decided_by_id, request.decided_at = RequestState.withdrawn, actor.id, now
    _log(
        deliverable,
        f"{escape_markdown(actor.name)} withdrew the request for a new date for"
        f" {_title(deliverable)}.",
        actor=actor,
        now=now,
    )
    _audit(actor, "deliverable.extension_withdrawn", deliverable, now=now)
    return request


def request_extra_round(deliverable, actor, seat, reason, *, now=None):
    """Past the revision budget, the brand asks the creator's consent for one more round."""
    _writer(seat, deliverable, Side.brand, "ask for an extra round")
    reason = _text(reason, MAX_REASON, "The reason")
    if not reason:
        raise InvalidInput("Say why another round is needed.")
    now = now or utcnow()
    _lock(deliverable)
    if deliverable.status is not DeliverableStatus.submitted:
        raise InvalidState("Extra rounds are asked for while a revision is in review.")
    if deliverable.rounds_used < rounds_allowed(deliverable):
        raise InvalidState("The revision budget still has rounds left: request changes.")
    if _open_request(RoundRequest, deliverable) is not None:
        raise InvalidState("An extra round was already asked for; the creator has not answered.")
    request = RoundRequest(
        deliverable=deliverable, requested_by_id=actor.id, reason=reason, created_at=now
    )
    db.session.add(request)
    db.session.flush()
    _log(
        deliverable,
        f"{escape_markdown(actor.name)} asked for a change-request round beyond the budget for"
        f" {_title(deliverable)}:\n\n{quote_markdown(reason)}",
        actor=actor,
        now=now,
    )
    _audit(actor, "deliverable.extra_round_requested", deliverable, now=now)
    return request


def answer_extra_round(request, actor, seat, grant, *, now=None):
    """The creator grants or refuses one more change-request round."""
    deliverable = request.deliverable
    _writer(seat, deliverable, Side.creator, "answer a request for an extra round")
    now = now or utcnow()
    _lock(deliverable)
    db.session.refresh(request)
    if request.state is not RequestState.open:
        raise InvalidState("This request was already answered or no longer applies.")
    request.decided_by_id, request.decided_at = actor.id, now
    request.state = RequestState.accepted if grant else RequestState.declined
    if grant:
        deliverable.extra_rounds += 1
    verb = "granted" if grant else "refused"
    _log(
        deliverable,
        f"{escape_markdown(actor.name)} {verb} an extra change-request round for"
        f" {_title(deliverable)}.",
        actor=actor,
        now=now,
    )
    _audit(actor, f"deliverable.extra_round_{verb}", deliverable, now=now)
    return request


# Remedies -----------------------------------------------------------------------------


def _end(deliverable, actor, seat, status, reason, verb, *, now):
    """The brand waives or cancels a deliverable that still waits for work."""
    _writer(seat, deliverable, Side.brand, f"{verb} deliverables")
    if deliverable.status is DeliverableStatus.submitted:
        raise InvalidState(f"Review the submitted revision before you {verb} the deliverable.")
    return end_by_decision(deliverable, actor, status, reason, now=now)


def end_by_decision(deliverable, actor, status, reason, *, now=None):
    """Waive, cancel or reassign a deliverable that still waits for work, or (as its contract
    ends) one in review, whose revision is closed unreviewed; the caller has checked who may
    (the brand through _end, a mediator's resolution, a close-out)."""
    reason = _text(reason, MAX_REASON, "The reason")
    if not reason:
        raise InvalidInput(f"Say why the deliverable is {status.value}.")
    now = now or utcnow()
    _lock(deliverable)
    _set_status(deliverable, status, now)
    _close_requests(deliverable, now)
    for revision in deliverable.revisions:
        if revision.state is RevisionState.in_review:
            revision.state = RevisionState.closed
    _log(
        deliverable,
        f"{escape_markdown(actor.name)} {status.value} {_title(deliverable)}:"
        f"\n\n{quote_markdown(reason)}",
        actor=actor,
        now=now,
    )
    _audit(actor, f"deliverable.{status.value}", deliverable, now=now, reason=reason)
    check_milestones_of(deliverable.contract_id, now=now)
    return deliverable


def waive_deliverable(deliverable, actor, seat, reason, *, now=None):
    """The brand releases the creator from a deliverable (it counts as settled, not delivered)."""
    return _end(deliverable, actor, seat, DeliverableStatus.waived, reason, "waive", now=now)


def cancel_deliverable(deliverable, actor, seat, reason, *, now=None):
    """The brand drops a deliverable from the contract."""
    return _end(deliverable, actor, seat, DeliverableStatus.cancelled, reason, "cancel", now=now)


def extend_by_decision(deliverable, actor, new_due_at, reason, *, now=None):
    """Move the due time as a mediator's resolution decided (a missed deliverable is pending
    again); open extension requests close, since the decision answers them."""
    reason = _text(reason, MAX_REASON, "The reason")
    now = now or utcnow()
    if new_due_at <= now:
        raise InvalidInput(f"The new due date of “{deliverable.title}” must be in the future.")
    _lock(deliverable)
    if deliverable.is_final:
        raise InvalidState(f"“{deliverable.title}” is {deliverable.status.value}; no new date.")
    request = _open_request(ExtensionRequest, deliverable)
    if request is not None:
        request.state, request.decided_at = RequestState.withdrawn, now
    _move_due(
        deliverable,
        actor,
        new_due_at,
        f"{_title(deliverable)} is now due {new_due_at:%Y-%m-%d %H:%M} UTC, as the mediation"
        f" resolved:\n\n{quote_markdown(reason)}",
        now=now,
        by="mediation",
    )
    return deliverable
