"""The digest: daily or weekly at the user's local hour, what waits on them first.

One digest per user and period ("daily:2030-03-19", "weekly:2030-W12"): the period is
claimed by a unique row (DigestClaim) in the transaction that queues the email, so a
sweep that runs twice, late, or on two processes at once sends it once (decision 6: at
least once, never twice). The period is the one the user is in at the moment of the
sweep, so a sweep that missed the hour (downtime) sends today's digest once at its next
run, and earlier periods are never sent on their own. When there is nothing to say, the
claim is kept with `sent=False` and no email goes out.
"""

from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload, selectinload

from portal.accounts.models import AccountKind, BrandMembership, BrandRole
from portal.contracts.models import Contract, ContractStatus, ContractVersion, VersionState
from portal.contracts.queries import waiting_in as contracts_waiting_in
from portal.database import utcnow
from portal.deliverables.models import (
    Deliverable,
    DeliverableStatus,
    ExtensionRequest,
    RequestState,
    Revision,
    RevisionState,
)
from portal.extensions import db
from portal.mediation.models import OPEN_STATUSES, Ticket
from portal.notifications.emails import public_url, queue_email
from portal.notifications.lists import unsubscribe_url
from portal.notifications.models import (
    DigestClaim,
    DigestFrequency,
    Notification,
    WorkroomMute,
)
from portal.notifications.services import settings_of, zone_of
from portal.workrooms.models import Side, Workroom
from portal.workrooms.queries import unread_counts, workrooms_of

#: the accounts that get a digest (admins do not)
DIGEST_KINDS = (AccountKind.brand, AccountKind.creator, AccountKind.mediator)
#: "due in the next 7 days"
DUE_SOON = timedelta(days=7)
#: renewals and notice deadlines within this many days
RENEWAL_DAYS = 30
#: notifications saved for the digest look back this far when there was no digest before
SAVED_LOOKBACK = timedelta(days=7)
#: at most this many lines a section (the rest is counted)
SECTION_LIMIT = 20
#: brand roles that act on submissions, remedies and requests (viewers only read)
ACTING_ROLES = (BrandRole.owner, BrandRole.manager)
#: deliverables that still wait for the creator's work
WAITING = (DeliverableStatus.pending, DeliverableStatus.changes_requested)


# The period ----------------------------------------------------------------------------------


def period_for(settings, local_now):
    """The digest period due at `local_now` (a time in the user's zone), or None when the
    digest is not due yet (or is off).

    Daily: "daily:YYYY-MM-DD" once the local hour reaches `digest_hour`. Weekly:
    "weekly:YYYY-Www" (ISO week) from the chosen weekday at `digest_hour` to the end of
    that week. A sweep that comes later the same day (week) still finds the period, which
    is how a missed hour is caught up once; yesterday's period is never returned.
    """
    frequency = settings.digest
    if frequency is DigestFrequency.daily:
        if local_now.hour >= settings.digest_hour:
            return f"daily:{local_now.date().isoformat()}"
        return None
    if frequency is DigestFrequency.weekly:
        weekday = local_now.weekday()
        if weekday > settings.digest_weekday or (
            weekday == settings.digest_weekday and local_now.hour >= settings.digest_hour
        ):
            year, week, _ = local_now.isocalendar()
            return f"weekly:{year}-W{week:02d}"
        return None
    return None


def due_period(user, now, settings=None):
    """The period `user` is due for at `now` (UTC), or None (off, not yet, or no digest for
    this account)."""
    if user.is_disabled or user.kind not in DIGEST_KINDS:
        return None
    return period_for(settings or settings_of(user), now.astimezone(zone_of(user)))


# The content ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Item:
    """One line of a digest: what, a detail line, and where to act on it."""

    text: str
    detail: str = ""
    link: str = ""


@dataclass(frozen=True)
class Section:
    """A heading and its lines; `more` counts the lines left out."""

    key: str
    heading: str
    items: tuple[Item, ...] = ()
    more: int = 0

    def __bool__(self):
        return bool(self.items)


#: the sections, in the order a digest shows them: the user's turn first
SECTIONS = (
    ("your_turn", "Your turn"),
    ("due_soon", "Due in the next 7 days"),
    ("unread", "Unread messages"),
    ("renewals", "Renewals and notice deadlines"),
    ("tickets", "Open tickets"),
    ("saved", "Saved for your digest"),
)


@dataclass(frozen=True)
class Digest:
    """What one user's digest says, with dates already in their time zone."""

    name: str
    zone: str  #: the recipient's time zone, named in the email
    local_date: date
    weekly: bool
    sections: tuple[Section, ...] = field(default_factory=tuple)

    @property
    def is_empty(self):
        """Nothing to say: no email is sent."""
        return not any(self.sections)

    @property
    def turn_count(self):
        """How many things wait on the user."""
        section = self.section("your_turn")
        return len(section.items) + section.more

    def section(self, key):
        """A section by key."""
        return next(s for s in self.sections if s.key == key)

    @property
    def shown(self):
        """The sections with something in them, in order."""
        return [s for s in self.sections if s]

    @property
    def subject(self):
        """'Your Duet digest for Tue 19 Mar: 3 things wait on you'."""
        kind = "weekly Duet digest" if self.weekly else "Duet digest"
        subject = f"Your {kind} for {day_label(self.local_date)}"
        n = self.turn_count
        if n:
            subject += f": {n} thing{'s wait' if n != 1 else ' waits'} on you"
        return subject


def day_label(day):
    """'Tue 19 Mar'."""
    return f"{day:%a} {day.day} {day:%b}"


def date_label(day):
    """'Tue 19 Mar 2030'."""
    return f"{day:%a} {day.day} {day:%b %Y}"


class _Clock:
    """Moments and dates as the recipient reads them."""

    def __init__(self, user, now):
        self.zone = zone_of(user)
        self.now = now
        self.today = now.astimezone(self.zone).date()

    def when(self, moment):
        """'Fri 22 Mar 2030, 23:59' in the recipient's zone."""
        local = moment.astimezone(self.zone)
        return f"{date_label(local)}, {local:%H:%M}"


def _section(key, items):
    heading = dict(SECTIONS)[key]
    items = list(items)
    return Section(key, heading, tuple(items[:SECTION_LIMIT]), max(len(items) - SECTION_LIMIT, 0))


def _deliverable_link(deliverable):
    return public_url(
        "deliverables.show", workroom_id=deliverable.workroom_id, deliverable_id=deliverable.id
    )


def _workroom_link(workroom_id):
    return public_url("workrooms.show", workroom_id=workroom_id)


def _inside(path):
    """A notification's link (a path inside Duet) as an absolute address; the bell when
    it has none."""
    if not path:
        return public_url("notifications.index")
    return public_url("dashboard.index").rstrip("/") + path


def _other_party(user, workroom):
    """Who the workroom is with, from the user's side: the creator, or the brand."""
    if user.kind is AccountKind.creator:
        return workroom.brand.name
    return workroom.creator.name


def _brand_workroom_ids(user, roles=None):
    query = (
        select(Workroom.id)
        .join(BrandMembership, BrandMembership.brand_id == Workroom.brand_id)
        .where(BrandMembership.user_id == user.id)
    )
    if roles is not None:
        query = query.where(BrandMembership.role.in_(roles))
    return query


def _deliverables(workroom_ids):
    """Deliverables of active contracts in the workrooms, with workroom and both parties."""
    return (
        select(Deliverable)
        .join(Contract, Contract.id == Deliverable.contract_id)
        .options(
            joinedload(Deliverable.workroom).options(
                joinedload(Workroom.brand), joinedload(Workroom.creator)
            )
        )
        .where(Deliverable.workroom_id.in_(workroom_ids), Contract.status == ContractStatus.active)
        .order_by(Deliverable.due_at, Deliverable.id)
    )


def _your_turn_creator(user, clock, workrooms):
    ids = [w.id for w in workrooms]
    items = []
    for d in db.session.scalars(
        _deliverables(ids).where(
            Deliverable.status.in_(WAITING),
            (Deliverable.due_at <= clock.now)
            | (Deliverable.status == DeliverableStatus.changes_requested),
        )
    ):
        verb = "Revise" if d.status is DeliverableStatus.changes_requested else "Submit"
        state = "overdue since" if d.due_at <= clock.now else "due"
        items.append(
            Item(
                f"{verb} {d.title}",
                f"{d.workroom.brand.name} · {state} {clock.when(d.due_at)}",
                _deliverable_link(d),
            )
        )
    items += _extensions(user, clock, ids, asked_by=Side.brand)
    items += _contract_turns(user, workrooms, Side.creator)
    return items


def _your_turn_brand(user, clock, workrooms):
    can_act = set(db.session.scalars(_brand_workroom_ids(user, ACTING_ROLES)))
    acting = [w.id for w in workrooms if w.id in can_act]
    if not acting:
        return []
    items = []
    reviews = db.session.scalars(
        select(Revision)
        .join(Deliverable, Deliverable.id == Revision.deliverable_id)
        .join(Contract, Contract.id == Deliverable.contract_id)
        .options(
            joinedload(Revision.deliverable)
            .joinedload(Deliverable.workroom)
            .joinedload(Workroom.creator)
        )
        .where(
            Deliverable.workroom_id.in_(acting),
            Contract.status == ContractStatus.active,
            Revision.state == RevisionState.in_review,
        )
        .order_by(Revision.review_due_at, Revision.id)
    )
    for r in reviews:
        d = r.deliverable
        items.append(
            Item(
                f"Review revision {r.number} of {d.title}",
                f"{d.workroom.creator.name} · approved automatically"
                f" {clock.when(r.review_due_at)} unless you review it",
                _deliverable_link(d),
            )
        )
    for d in db.session.scalars(
        _deliverables(acting).where(Deliverable.status == DeliverableStatus.missed)
    ):
        items.append(
            Item(
                f"{d.title} was missed: extend, waive or cancel it",
                f"{d.workroom.creator.name} · was due {clock.when(d.due_at)}",
                _deliverable_link(d),
            )
        )
    items += _extensions(user, clock, acting, asked_by=Side.creator)
    items += _contract_turns(user, [w for w in workrooms if w.id in acting], Side.brand)
    return items


def _extensions(user, clock, workroom_ids, *, asked_by):
    """Open extension requests of the other side, waiting on the user's answer."""
    requests = db.session.scalars(
        select(ExtensionRequest)
        .join(Deliverable, Deliverable.id == ExtensionRequest.deliverable_id)
        .join(Contract, Contract.id == Deliverable.contract_id)
        .options(
            joinedload(ExtensionRequest.deliverable),
            joinedload(ExtensionRequest.requested_by),
        )
        .where(
            Deliverable.workroom_id.in_(workroom_ids),
            Contract.status == ContractStatus.active,
            ExtensionRequest.state == RequestState.open,
            ExtensionRequest.side == asked_by,
        )
        .order_by(ExtensionRequest.created_at, ExtensionRequest.id)
    )
    return [
        Item(
            f"Answer {x.requested_by.name}'s request to move {x.deliverable.title}",
            f"from {clock.when(x.old_due_at)} to {clock.when(x.new_due_at)}",
            _deliverable_link(x.deliverable),
        )
        for x in requests
    ]


def _contract_turns(user, workrooms, side):
    """Contracts whose latest version waits on the user's side (accept, revise)."""
    waiting = contracts_waiting_in(workrooms)
    return [
        Item(sentence, _other_party(user, w), _workroom_link(w.id))
        for w in workrooms
        for who, sentence in waiting.get(w.id, [])
        if who is side
    ]


def _due_soon(user, clock, workrooms):
    """Waiting deliverables due within the week (a creator's changes requested are in
    "your turn" already)."""
    statuses = [DeliverableStatus.pending] if user.kind is AccountKind.creator else list(WAITING)
    rows = db.session.scalars(
        _deliverables([w.id for w in workrooms]).where(
            Deliverable.status.in_(statuses),
            Deliverable.due_at > clock.now,
            Deliverable.due_at <= clock.now + DUE_SOON,
        )
    )
    return [
        Item(
            d.title,
            f"{_other_party(user, d.workroom)} · due {clock.when(d.due_at)}",
            _deliverable_link(d),
        )
        for d in rows
    ]


def _unread(user, workrooms):
    """Unread messages per workroom (muted workrooms stay quiet)."""
    muted = set(
        db.session.scalars(select(WorkroomMute.workroom_id).where(WorkroomMute.user_id == user.id))
    )
    shown = [w for w in workrooms if w.id not in muted]
    counts = unread_counts(user, shown)
    return [
        Item(
            f"{counts[w.id]} unread message{'' if counts[w.id] == 1 else 's'}",
            f"in your workroom with {_other_party(user, w)}",
            _workroom_link(w.id),
        )
        for w in shown
        if counts.get(w.id)
    ]


def _renewals(user, clock, workrooms):
    """Active contracts whose renewal or notice deadline falls within 30 days."""
    if not workrooms:
        return []
    by_id = {w.id: w for w in workrooms}
    end = clock.today + timedelta(days=RENEWAL_DAYS)
    contracts = db.session.scalars(
        select(Contract)
        .options(selectinload(Contract.versions))
        .where(
            Contract.workroom_id.in_(by_id),
            Contract.status == ContractStatus.active,
            select(ContractVersion.id)
            .where(
                ContractVersion.contract_id == Contract.id,
                ContractVersion.state == VersionState.accepted,
                func.coalesce(ContractVersion.renewal_date, ContractVersion.ends_on) >= clock.today,
            )
            .exists(),
        )
        .order_by(Contract.id)
    ).all()
    rows = []
    for contract in contracts:
        version = contract.accepted_version
        if version is None:
            continue
        renews, notice = version.renews_on, version.notice_deadline
        upcoming = [d for d in (notice, renews) if clock.today <= d <= end]
        if not upcoming:
            continue
        verb = "renews automatically" if version.auto_renew else "comes up for renewal"
        if clock.today <= notice <= end:
            detail = f"notice deadline {date_label(notice)}"
        else:
            detail = f"the notice deadline was {date_label(notice)}"
        party = _other_party(user, by_id[contract.workroom_id])
        rows.append(
            (
                min(upcoming),
                contract.id,
                Item(
                    f"{version.title} {verb} on {date_label(renews)}",
                    f"{party} · {detail}",
                    public_url("contracts.show", contract_id=contract.id),
                ),
            )
        )
    return [item for *_, item in sorted(rows, key=lambda row: row[:2])]


def _tickets(user, clock, workrooms):
    """Open tickets: a party's are those of their workrooms, a mediator's those they hold."""
    query = (
        select(Ticket)
        .options(
            joinedload(Ticket.workroom).options(
                joinedload(Workroom.brand), joinedload(Workroom.creator)
            )
        )
        .where(Ticket.status.in_(OPEN_STATUSES))
        .order_by(Ticket.created_at, Ticket.id)
    )
    if user.kind is AccountKind.mediator:
        query = query.where(Ticket.mediator_id == user.id)
    elif workrooms:
        query = query.where(Ticket.workroom_id.in_([w.id for w in workrooms]))
    else:
        return []
    items = []
    for ticket in db.session.scalars(query):
        w = ticket.workroom
        party = (
            f"{w.brand.name} and {w.creator.name}"
            if user.kind is AccountKind.mediator
            else _other_party(user, w)
        )
        detail = f"{party} · {ticket.status.label}"
        if ticket.responded_at is None and ticket.respond_by is not None:
            detail += f" · response due {clock.when(ticket.respond_by)}"
        items.append(
            Item(ticket.subject, detail, public_url("mediation.show", ticket_id=ticket.id))
        )
    return items


def _saved(user, clock):
    """Unread notifications the user asked to get in the digest, since the last one."""
    previous = db.session.scalar(
        select(func.max(DigestClaim.created_at)).where(
            DigestClaim.user_id == user.id, DigestClaim.created_at < clock.now
        )
    )
    since = previous or clock.now - SAVED_LOOKBACK
    notes = db.session.scalars(
        select(Notification)
        .where(
            Notification.user_id == user.id,
            Notification.for_digest.is_(True),
            Notification.read_at.is_(None),
            Notification.created_at > since,
            Notification.created_at <= clock.now,
        )
        .order_by(Notification.created_at, Notification.id)
    )
    return [
        Item(
            note.title,
            " · ".join(filter(None, [clock.when(note.created_at), note.body[:200]])),
            _inside(note.link),
        )
        for note in notes
    ]


def digest_content(user, now=None):
    """What the user's digest says at `now`: six sections in a fixed order (your turn,
    due in the next 7 days, unread messages, renewals, open tickets, saved notifications),
    with every date in the user's time zone."""
    now = now or utcnow()
    clock = _Clock(user, now)
    workrooms = workrooms_of(user) if user.kind in (AccountKind.brand, AccountKind.creator) else []
    if user.kind is AccountKind.creator:
        turn = _your_turn_creator(user, clock, workrooms)
    elif user.kind is AccountKind.brand:
        turn = _your_turn_brand(user, clock, workrooms)
    else:
        turn = []
    found = {
        "your_turn": turn,
        "due_soon": _due_soon(user, clock, workrooms) if workrooms else [],
        "unread": _unread(user, workrooms) if workrooms else [],
        "renewals": _renewals(user, clock, workrooms),
        "tickets": _tickets(user, clock, workrooms),
        "saved": _saved(user, clock),
    }
    return Digest(
        name=user.name,
        zone=clock.zone.key,
        local_date=clock.today,
        weekly=settings_of(user).digest is DigestFrequency.weekly,
        sections=tuple(_section(key, found[key]) for key, _ in SECTIONS),
    )


# Sending -------------------------------------------------------------------------------------


def claim_period(user, period, now):
    """Insert the user's claim on a period in a savepoint; None when it exists already
    (an earlier run, or another process that got there first)."""
    exists = db.session.scalar(
        select(DigestClaim.id).where(DigestClaim.user_id == user.id, DigestClaim.period == period)
    )
    if exists is not None:
        return None
    return insert_claim(user, period, now)


def insert_claim(user, period, now):
    """The claim's insert, in a savepoint: a unique violation (someone else's committed
    claim) rolls back only the savepoint and returns None."""
    claim = DigestClaim(user_id=user.id, period=period, created_at=now, sent=False)
    try:
        with db.session.begin_nested():
            db.session.add(claim)
    except IntegrityError:
        return None  # a concurrent run claimed it first
    return claim


def send_digest(user, now=None):
    """Claim the user's current period and queue their digest; returns the queued email,
    or None (not due, already claimed, or nothing to say: the claim then stays unsent).
    The caller commits: the claim, the email and its job go out together."""
    now = now or utcnow()
    period = due_period(user, now)
    if period is None:
        return None
    claim = claim_period(user, period, now)
    if claim is None:
        return None
    digest = digest_content(user, now)
    if digest.is_empty:
        return None
    email = queue_email(
        "digest",
        user.email,
        user.name,
        digest.subject,
        "digest",
        list_id="digest",
        unsubscribe_url=unsubscribe_url(user, "digest"),
        send=False,  # the sweep sends digests in batches (jobs.mail.deliver_emails)
        digest=digest,
        period=period,
        preferences=public_url("notifications.preferences"),
        dashboard=public_url("dashboard.index"),
    )
    claim.sent = True
    return email
