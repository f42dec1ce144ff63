"""Reminder rules as data, and the one way a reminder is sent: claimed once per (rule,
object, recipient, threshold) by a unique row, in the transaction that queues it.

Each rule names a moment computed from current dates (a due date, a notice deadline, a
ticket's deadline) and a ladder of thresholds before it (and, for some, after it). The
threshold key carries the moment, so a moved date re-arms the ladder, and an object that
no longer qualifies (approved, funded, answered) drops out of the rule's query: it stops
reminding. Only the latest threshold crossed fires, so a sweep that was down for a while
sends one reminder, not the whole ladder.

The review-window warnings before auto-approval (48 h, 24 h) are the deliverables'
reminders.warn_reviewers, with their own claim table.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from sqlalchemy import func, null, select
from sqlalchemy.exc import IntegrityError

from portal.contracts.models import Contract, ContractStatus, ContractVersion, VersionState
from portal.contracts.queries import renewal_settled
from portal.database import utcnow
from portal.deliverables.models import Deliverable, DeliverableStatus, Revision, RevisionState
from portal.escrow.models import Milestone, MilestoneStatus
from portal.extensions import db
from portal.mediation.models import Ticket, TicketStatus
from portal.notifications.models import Kind, ReminderClaim
from portal.notifications.services import notify, side_members
from portal.workrooms.models import Side

H, D = timedelta(hours=1), timedelta(days=1)


@dataclass(frozen=True)
class Rule:
    """A reminder rule: its thresholds before (and after) the moment it counts to."""

    name: str
    kind: Kind
    model: type
    before: tuple = ()  #: thresholds before the moment, largest first
    after: tuple = ()  #: thresholds after it (overdue), smallest first
    every_after: timedelta | None = None  #: then again at this interval


RULES = (
    Rule("deliverable_due", Kind.deadline, Deliverable, (7 * D, 3 * D, D, 2 * H), (timedelta(0),)),
    Rule("review_waiting", Kind.deadline, Revision, after=(D,), every_after=D),
    Rule(
        "renewal_notice",
        Kind.renewal,
        Contract,
        (90 * D, 60 * D, 30 * D, 14 * D, 7 * D, D),
    ),
    Rule("milestone_funding", Kind.deadline, Milestone, after=(D, 3 * D, 7 * D), every_after=7 * D),
    Rule("ticket_response", Kind.ticket, Ticket, (D, 2 * H)),
    Rule("ticket_first_response", Kind.ticket, Ticket, (4 * H,), (timedelta(0),)),
    Rule("ticket_resolution", Kind.ticket, Ticket, (D,), (timedelta(0),)),
)
BY_NAME = {rule.name: rule for rule in RULES}
#: the longest look-ahead of each rule's query
HORIZON = {"deliverable_due": 7 * D, "renewal_notice": 90 * D}


def _label(delta):
    """A threshold as text: 7d, 2h, 0."""
    if not delta:
        return "0"
    if delta % D == timedelta(0):
        return f"{delta // D}d"
    return f"{int(delta / H)}h"


def threshold(rule, moment, now):
    """The threshold of the rule crossed last at `now` for a moment, as its claim key
    (with the moment), or None when none is crossed yet."""
    left = moment - now
    if left > timedelta(0):
        crossed = [b for b in rule.before if left <= b]
        return f"before {_label(min(crossed))} @ {moment.isoformat()}" if crossed else None
    late = now - moment
    crossed = [a for a in rule.after if late >= a]
    if not crossed:
        return None
    last = max(crossed)
    if rule.every_after and late >= last + rule.every_after:
        steps = (late - last) // rule.every_after
        last = last + steps * rule.every_after
    return f"after {_label(last)} @ {moment.isoformat()}"


def claim(rule, object_id, recipient, key, *, now):
    """Claim one reminder; False when it was sent already (or is being sent elsewhere)."""
    try:
        with db.session.begin_nested():
            db.session.add(
                ReminderClaim(
                    rule=rule.name,
                    object_id=object_id,
                    recipient_id=recipient.id,
                    threshold=key,
                    created_at=now,
                )
            )
    except IntegrityError:
        return False
    return True


def remind(rule, object_id, moment, recipients, title, link, workroom_id, *, now):
    """Send the reminder due now to each recipient who has not had it; how many were sent."""
    key = threshold(rule, moment, now)
    if key is None:
        return 0
    sent = 0
    for user in recipients:
        if user.is_disabled or not claim(rule, object_id, user, key, now=now):
            continue
        notify(
            user,
            rule.kind,
            title,
            link=link,
            workroom_id=workroom_id,
            list_id="reminders",
            now=now,
        )
        sent += 1
    return sent


# What each rule looks at -----------------------------------------------------------------------


def candidates(rule, now):
    """An indexed query of (id, moment) the rule may remind about now (cost follows what is
    due, not the total); the moment is None where only the object can tell it."""
    if rule.name == "deliverable_due":
        return (
            select(Deliverable.id, Deliverable.due_at)
            .join(Contract, Contract.id == Deliverable.contract_id)
            .where(
                Deliverable.status.in_(
                    [DeliverableStatus.pending, DeliverableStatus.changes_requested]
                ),
                Deliverable.due_at <= now + HORIZON[rule.name],
                Deliverable.due_at >= now - D,
                Contract.status == ContractStatus.active,
            )
        )
    if rule.name == "review_waiting":
        return select(Revision.id, Revision.submitted_at).where(
            Revision.state == RevisionState.in_review, Revision.submitted_at <= now - D
        )
    if rule.name == "renewal_notice":
        renews_on = func.coalesce(ContractVersion.renewal_date, ContractVersion.ends_on)
        return (
            select(Contract.id, null())
            .join(ContractVersion, ContractVersion.contract_id == Contract.id)
            .distinct()
            .where(
                Contract.status == ContractStatus.active,
                ContractVersion.state == VersionState.accepted,
                # the renewal date (the end of the term by default, see renewal_dates):
                # notice deadlines within 90 days; the notice itself is at most a year
                renews_on >= now.date(),
                renews_on <= (now + 90 * D + 366 * D).date(),
            )
        )
    if rule.name == "milestone_funding":
        return (
            select(Milestone.id, Milestone.created_at)
            .join(Contract, Contract.id == Milestone.contract_id)
            .where(
                Milestone.status == MilestoneStatus.pending,
                Milestone.created_at <= now - D,
                Contract.status == ContractStatus.active,
            )
        )
    if rule.name == "ticket_response":
        return select(Ticket.id, Ticket.respond_by).where(
            Ticket.status == TicketStatus.open, Ticket.respond_by <= now + D
        )
    if rule.name == "ticket_first_response":
        return select(Ticket.id, Ticket.first_response_due).where(
            Ticket.status.in_([TicketStatus.in_mediation, TicketStatus.proposed]),
            Ticket.first_response_at.is_(None),
            Ticket.first_response_due <= now + 4 * H,
        )
    return select(Ticket.id, Ticket.resolve_by).where(
        Ticket.status.in_([TicketStatus.in_mediation, TicketStatus.proposed]),
        Ticket.resolve_by <= now + D,
    )


def still_owed(rule, rows, now):
    """The ids among (id, moment) rows with a reminder owed now: those whose threshold
    crossed last has no claim yet (an object's reminders are claimed in one transaction,
    so any claim of that threshold means it was done). One query, however many rows."""
    keys = {object_id: threshold(rule, moment, now) for object_id, moment in rows if moment}
    unknown = [object_id for object_id, moment in rows if not moment]
    due = sorted(i for i, key in keys.items() if key)
    done = set()
    for start in range(0, len(due), 1000):  # a bounded IN list
        done.update(
            db.session.execute(
                select(ReminderClaim.object_id, ReminderClaim.threshold).where(
                    ReminderClaim.rule == rule.name,
                    ReminderClaim.object_id.in_(due[start : start + 1000]),
                )
            ).all()
        )
    owed = [i for i in due if (i, keys[i]) not in done]
    return sorted(owed + unknown)


def apply(rule, obj, *, now=None):
    """Send what the rule owes for one object now; how many reminders went out."""
    now = now or utcnow()
    return _APPLY[rule.name](rule, obj, now)


def _deliverable_due(rule, deliverable, now):
    if deliverable.status not in (DeliverableStatus.pending, DeliverableStatus.changes_requested):
        return 0
    when = "is overdue" if deliverable.due_at <= now else f"is due {_in(deliverable.due_at, now)}"
    return remind(
        rule,
        deliverable.id,
        deliverable.due_at,
        [deliverable.workroom.creator],
        f"“{deliverable.title}” {when}",
        f"/workrooms/{deliverable.workroom_id}/deliverables/{deliverable.id}",
        deliverable.workroom_id,
        now=now,
    )


def _review_waiting(rule, revision, now):
    if revision.state is not RevisionState.in_review:
        return 0
    deliverable = revision.deliverable
    waited = (now - revision.submitted_at) // D
    return remind(
        rule,
        revision.id,
        revision.submitted_at,
        side_members(deliverable.workroom, Side.brand, writers_only=True),
        f"Revision {revision.number} of “{deliverable.title}” has waited {waited} day"
        f"{'' if waited == 1 else 's'} for your review",
        f"/workrooms/{deliverable.workroom_id}/deliverables/{deliverable.id}",
        deliverable.workroom_id,
        now=now,
    )


def _renewal_notice(rule, contract, now):
    version = contract.accepted_version
    if contract.status is not ContractStatus.active or version is None:
        return 0
    if renewal_settled(contract):  # decided, or renewed: nobody owes notice any more
        return 0
    deadline_on = version.notice_deadline
    deadline = datetime.combine(deadline_on, time(0), tzinfo=UTC)
    workroom = contract.workroom
    what = "renews automatically" if version.auto_renew else "ends unless renewed"
    return remind(
        rule,
        contract.id,
        deadline,
        [*side_members(workroom, Side.brand, writers_only=True), workroom.creator],
        f"“{version.title}” {what} on {version.renews_on:%d %b %Y}: give notice by"
        f" {deadline_on:%d %b %Y}",
        f"/contracts/{contract.id}",
        workroom.id,
        now=now,
    )


def _milestone_funding(rule, milestone, now):
    if milestone.status is not MilestoneStatus.pending:
        return 0
    return remind(
        rule,
        milestone.id,
        milestone.created_at,
        side_members(milestone.workroom, Side.brand, writers_only=True),
        f"Milestone “{milestone.title}” waits to be funded",
        f"/workrooms/{milestone.workroom_id}/milestones/{milestone.id}",
        milestone.workroom_id,
        now=now,
    )


def _ticket_response(rule, ticket, now):
    if ticket.status is not TicketStatus.open or ticket.opened_side is None:
        return 0
    other = Side.creator if ticket.opened_side is Side.brand else Side.brand
    return remind(
        rule,
        ticket.id,
        ticket.respond_by,
        side_members(ticket.workroom, other, writers_only=True),
        f"Ticket #{ticket.id} “{ticket.subject}” waits for your response"
        f" {_in(ticket.respond_by, now)}",
        f"/tickets/{ticket.id}",
        ticket.workroom_id,
        now=now,
    )


def _ticket_first_response(rule, ticket, now):
    if ticket.mediator is None or ticket.first_response_at is not None:
        return 0
    return remind(
        rule,
        ticket.id,
        ticket.first_response_due,
        [ticket.mediator],
        f"Ticket #{ticket.id}: your first response is due {_in(ticket.first_response_due, now)}",
        f"/tickets/{ticket.id}",
        None,
        now=now,
    )


def _ticket_resolution(rule, ticket, now):
    if ticket.resolve_by is None or not ticket.is_open:
        return 0
    people = [ticket.mediator] if ticket.mediator else []
    proposal = ticket.open_proposal
    if proposal is not None:  # the sides that have not answered hear of the deadline too
        people += [
            user
            for side in Side
            if proposal.accepted_by(side) is None
            for user in side_members(ticket.workroom, side, writers_only=True)
        ]
    return remind(
        rule,
        ticket.id,
        ticket.resolve_by,
        people,
        f"Ticket #{ticket.id}: agreement is due {_in(ticket.resolve_by, now)}; then the mediator"
        " decides",
        f"/tickets/{ticket.id}",
        None,
        now=now,
    )


def _in(moment, now):
    """“in 3 days”, “in 5 hours”, or “now” for a moment ahead (plain words for titles)."""
    left = moment - now
    if left <= timedelta(0):
        return "now"
    if left >= D:
        days = round(left / D)
        return f"in {days} day{'' if days == 1 else 's'}"
    hours = max(1, round(left / H))
    return f"in {hours} hour{'' if hours == 1 else 's'}"


_APPLY = {
    "deliverable_due": _deliverable_due,
    "review_waiting": _review_waiting,
    "renewal_notice": _renewal_notice,
    "milestone_funding": _milestone_funding,
    "ticket_response": _ticket_response,
    "ticket_first_response": _ticket_first_response,
    "ticket_resolution": _ticket_resolution,
}
