"""Reads of the calendar: dated events across a user's workrooms, one query per source.

An event source is a function `(workrooms, window, filters) -> list[Event]` that runs one
query; `SOURCES` lists them. A new kind of dated object (escrow milestones, say) is one more
function appended there: the month view, the agenda and the iCal feed pick it up.
"""

import calendar
import enum
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func, or_, select
from sqlalchemy.orm import aliased

from portal.accounts.models import AccountKind, Brand, BrandMembership, User
from portal.campaigns.models import Campaign
from portal.contracts.models import (
    Contract,
    ContractStatus,
    ContractVersion,
    VersionState,
    renewal_dates,
)
from portal.deliverables.models import Deliverable, DeliverableStatus, Revision, RevisionState
from portal.extensions import db
from portal.scheduling.models import CalendarFeed
from portal.workrooms.models import Workroom

AGENDA_DAYS = 30  #: the agenda shows this many days at a time
FEED_PAST = timedelta(days=365)  #: the iCal feed reaches this far back, and forward to the end
FAR_FUTURE = date(9999, 12, 30)  #: the last day any window can hold
#: contracts whose dates are on the calendar (drafts and proposals are not in force)
SHOWN_CONTRACTS = (
    ContractStatus.active,
    ContractStatus.completed,
    ContractStatus.partially_completed,
    ContractStatus.terminated,
    ContractStatus.expired,
)
#: the tone (CSS class and label) of each event: deliverable statuses, and contract dates
TONES = {
    "pending": "Pending",
    "submitted": "In review",
    "changes_requested": "Changes requested",
    "missed": "Missed",
    "approved": "Approved",
    "waived": "Waived",
    "cancelled": "Cancelled",
    "reassigned": "Reassigned",
    "contract": "Contract",
}


class EventKind(enum.Enum):
    """What a calendar event marks."""

    deliverable_due = "deliverable_due"  #: a deliverable's due time
    auto_approve = "auto_approve"  #: a revision in review is approved by the system then
    contract_starts = "contract_starts"  #: the first day of a contract's term
    contract_ends = "contract_ends"  #: the last day of a contract's term
    renewal = "renewal"  #: the contract's renewal date
    renewal_notice = "renewal_notice"  #: last day to give notice before the renewal date

    @property
    def label(self):
        """Human words for the kind, put before the object's title."""
        return KIND_LABELS[self]


KIND_LABELS = {
    EventKind.deliverable_due: "Due",
    EventKind.auto_approve: "Auto-approves",
    EventKind.contract_starts: "Contract starts",
    EventKind.contract_ends: "Contract ends",
    EventKind.renewal: "Renewal date",
    EventKind.renewal_notice: "Renewal notice deadline",
}


@dataclass(frozen=True)
class Event:
    """One dated thing: a moment (`at`, UTC) or a whole day (`on`)."""

    uid: str  #: stable across date changes, so calendar apps update the event in place
    kind: EventKind
    title: str
    tone: str  #: a key of TONES
    workroom_id: int
    brand_name: str
    creator_name: str
    campaign_name: str
    endpoint: str  #: where the object's page is: url_for(endpoint, **values)
    values: dict = field(hash=False)
    at: datetime | None = None
    on: date | None = None

    @property
    def summary(self):
        """'Due: Trail video'."""
        return f"{self.kind.label}: {self.title}"

    @property
    def tone_label(self):
        """The word that goes with the colour."""
        return TONES[self.tone]

    def day(self, zone):
        """The date the event falls on in a time zone."""
        return self.on if self.on is not None else self.at.astimezone(zone).date()

    def sort_key(self, zone):
        """Day, whole-day events first, then time, then title."""
        moment = self.at.astimezone(zone).time() if self.at is not None else time.min
        return (self.day(zone), self.at is not None, moment, self.summary, self.uid)


@dataclass(frozen=True)
class Filters:
    """What the calendar is narrowed to; None means any."""

    campaign_id: int | None = None
    creator_id: int | None = None
    status: DeliverableStatus | None = None


@dataclass(frozen=True)
class Window:
    """The days shown, first and last included, as seen in one time zone."""

    first: date
    last: date
    zone: ZoneInfo

    @property
    def starts(self):
        """The first moment shown, in UTC."""
        return datetime.combine(self.first, time.min, self.zone).astimezone(UTC)

    @property
    def ends(self):
        """The moment just after the last one shown, in UTC."""
        return datetime.combine(self.last + timedelta(days=1), time.min, self.zone).astimezone(UTC)

    def holds(self, day):
        """The date is one of the window's days."""
        return day is not None and self.first <= day <= self.last


def zone_of(user):
    """The user's time zone (UTC when the stored name is unknown)."""
    try:
        return ZoneInfo(user.timezone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def visible_workrooms(user):
    """The ids of the workrooms whose dates the user sees (a subquery), or None for nobody."""
    if user.kind is AccountKind.creator:
        return select(Workroom.id).where(Workroom.creator_id == user.id)
    if user.kind is AccountKind.brand:
        brands = select(BrandMembership.brand_id).where(BrandMembership.user_id == user.id)
        return select(Workroom.id).where(Workroom.brand_id.in_(brands))
    return None  # mediators and admins: nothing until tickets bring them into workrooms


# Event sources ---------------------------------------------------------------------------

_Creator = aliased(User)
#: the columns every source selects to say where an event belongs
_WHERE = (
    Workroom.id.label("workroom_id"),
    Brand.name.label("brand_name"),
    _Creator.name.label("creator_name"),
    Campaign.name.label("campaign_name"),
)


def _in_context(query, workroom_column, contract_column, workrooms, filters):
    """Join a source's rows to their workroom, brand, creator and campaign, and narrow them
    to the user's workrooms and the campaign and creator filters."""
    query = (
        query.add_columns(*_WHERE)
        .join(Contract, Contract.id == contract_column)
        .join(Campaign, Campaign.id == Contract.campaign_id)
        .join(Workroom, Workroom.id == workroom_column)
        .join(Brand, Brand.id == Workroom.brand_id)
        .join(_Creator, _Creator.id == Workroom.creator_id)
        .where(workroom_column.in_(workrooms))
    )
    if filters.campaign_id is not None:
        query = query.where(Contract.campaign_id == filters.campaign_id)
    if filters.creator_id is not None:
        query = query.where(Workroom.creator_id == filters.creator_id)
    return query


def _where(row):
    """The Event fields that say where a row belongs."""
    return {
        "workroom_id": row.workroom_id,
        "brand_name": row.brand_name,
        "creator_name": row.creator_name,
        "campaign_name": row.campaign_name,
    }


def _deliverable_status(query, filters):
    """The status filter; with none, cancelled deliverables stay off the calendar."""
    if filters.status is not None:
        return query.where(Deliverable.status == filters.status)
    return query.where(Deliverable.status != DeliverableStatus.cancelled)


def deliverable_events(workrooms, window, filters):
    """Deliverables due in the window."""
    query = select(
        Deliverable.id.label("deliverable_id"),
        Deliverable.title,
        Deliverable.due_at,
        Deliverable.status,
    ).select_from(Deliverable)
    query = _in_context(query, Deliverable.workroom_id, Deliverable.contract_id, workrooms, filters)
    query = _deliverable_status(query, filters).where(
        Deliverable.due_at >= window.starts, Deliverable.due_at < window.ends
    )
    return [
        Event(
            uid=f"deliverable-{row.deliverable_id}-due@duet",
            kind=EventKind.deliverable_due,
            title=row.title,
            tone=row.status.value,
            endpoint="deliverables.show",
            values={"workroom_id": row.workroom_id, "deliverable_id": row.deliverable_id},
            at=row.due_at,
            **_where(row),
        )
        for row in db.session.execute(query)
    ]


def auto_approve_events(workrooms, window, filters):
    """Revisions in review whose auto-approve deadline falls in the window."""
    query = (
        select(
            Revision.id.label("revision_id"),
            Revision.number,
            Revision.review_due_at,
            Deliverable.id.label("deliverable_id"),
            Deliverable.title,
            Deliverable.status,
        )
        .select_from(Revision)
        .join(Deliverable, Deliverable.id == Revision.deliverable_id)
    )
    query = _in_context(query, Deliverable.workroom_id, Deliverable.contract_id, workrooms, filters)
    query = _deliverable_status(query, filters).where(
        Revision.state == RevisionState.in_review,
        Revision.review_due_at >= window.starts,
        Revision.review_due_at < window.ends,
    )
    return [
        Event(
            uid=f"revision-{row.revision_id}-auto-approve@duet",
            kind=EventKind.auto_approve,
            title=f"{row.title} (revision {row.number})",
            tone=row.status.value,
            endpoint="deliverables.show",
            values={"workroom_id": row.workroom_id, "deliverable_id": row.deliverable_id},
            at=row.review_due_at,
            **_where(row),
        )
        for row in db.session.execute(query)
    ]


_CONTRACT_SLUGS = {
    EventKind.contract_starts: "starts",
    EventKind.contract_ends: "ends",
    EventKind.renewal: "renewal",
    EventKind.renewal_notice: "renewal-notice",
}


def _contract_dates(row):
    """(kind, date) of one contract's dated terms."""
    dates = [(EventKind.contract_starts, row.starts_on), (EventKind.contract_ends, row.ends_on)]
    if row.status is ContractStatus.active:
        renews, notice = renewal_dates(row.renewal_date, row.ends_on, row.renewal_notice_days)
        dates += [(EventKind.renewal, renews), (EventKind.renewal_notice, notice)]
    return dates


def contract_events(workrooms, window, filters):
    """Start, end, renewal date and renewal notice deadline of the terms in force (the newest
    accepted version) of contracts that became active; renewals only while still active.
    Termination notice is a period, not a date: it is not on the calendar."""
    if filters.status is not None:
        return []  # the status filter is about deliverables
    newer = aliased(ContractVersion)
    newest_accepted = (
        select(func.max(newer.number))
        .where(newer.contract_id == ContractVersion.contract_id)
        .where(newer.state == VersionState.accepted)
        .scalar_subquery()
    )
    query = select(
        Contract.id.label("contract_id"),
        Contract.status,
        ContractVersion.title,
        ContractVersion.starts_on,
        ContractVersion.ends_on,
        ContractVersion.renewal_date,
        ContractVersion.renewal_notice_days,
    ).select_from(ContractVersion)
    query = _in_context(
        query, Contract.workroom_id, ContractVersion.contract_id, workrooms, filters
    ).where(
        Contract.status.in_(SHOWN_CONTRACTS),
        ContractVersion.state == VersionState.accepted,
        ContractVersion.number == newest_accepted,
        or_(
            ContractVersion.starts_on.between(window.first, window.last),
            ContractVersion.ends_on.between(window.first, window.last),
            # the renewal date (the end by default); its notice deadline comes earlier
            func.coalesce(ContractVersion.renewal_date, ContractVersion.ends_on) >= window.first,
        ),
    )
    return [
        Event(
            uid=f"contract-{row.contract_id}-{_CONTRACT_SLUGS[kind]}@duet",
            kind=kind,
            title=row.title,
            tone="contract",
            endpoint="contracts.show",
            values={"contract_id": row.contract_id},
            on=day,
            **_where(row),
        )
        for row in db.session.execute(query)
        for kind, day in _contract_dates(row)
        if window.holds(day)
    ]


#: every source of dated events; one query each
SOURCES = (deliverable_events, auto_approve_events, contract_events)


def events_for(user, window, filters=None):
    """Every event of the user's workrooms in the window, in order, in the window's zone."""
    workrooms = visible_workrooms(user)
    if workrooms is None:
        return []
    filters = filters or Filters()
    events = [event for source in SOURCES for event in source(workrooms, window, filters)]
    return sorted(events, key=lambda event: event.sort_key(window.zone))


def feed_events(user, *, now):
    """What the user's iCal feed holds: everything from a year back on, unfiltered."""
    window = Window((now - FEED_PAST).date(), FAR_FUTURE, ZoneInfo("UTC"))
    return events_for(user, window)


# Filter choices ----------------------------------------------------------------------------


def campaign_choices(user):
    """(id, name) of the campaigns the user can narrow the calendar to."""
    if user.kind is AccountKind.brand:
        brands = select(BrandMembership.brand_id).where(BrandMembership.user_id == user.id)
        query = select(Campaign.id, Campaign.name).where(Campaign.brand_id.in_(brands))
    elif user.kind is AccountKind.creator:
        query = (
            select(Campaign.id, Campaign.name)
            .distinct()
            .join(Contract, Contract.campaign_id == Campaign.id)
            .where(
                Contract.workroom_id.in_(visible_workrooms(user)),
                Contract.status.in_(SHOWN_CONTRACTS),
            )
        )
    else:
        return []
    return [tuple(row) for row in db.session.execute(query.order_by(Campaign.name, Campaign.id))]


def creator_choices(user):
    """(id, name) of the creators a brand member can narrow the calendar to (none for others)."""
    if user.kind is not AccountKind.brand:
        return []
    query = (
        select(User.id, User.name)
        .distinct()
        .join(Workroom, Workroom.creator_id == User.id)
        .where(Workroom.id.in_(visible_workrooms(user)))
        .order_by(User.name, User.id)
    )
    return [tuple(row) for row in db.session.execute(query)]


# Feeds ------------------------------------------------------------------------------------


def feed_owner(token_digest):
    """The active user whose live feed has this token digest, or None."""
    return db.session.scalar(
        select(User)
        .join(CalendarFeed, CalendarFeed.user_id == User.id)
        .where(
            CalendarFeed.token_hash == token_digest,
            CalendarFeed.revoked_at.is_(None),
            User.is_disabled.is_(False),
        )
    )


# Laying events out ---------------------------------------------------------------------


@dataclass
class Day:
    """One cell of the month grid."""

    on: date
    in_month: bool
    is_today: bool
    events: list


def month_window(month, zone):
    """The whole weeks (Monday to Sunday) that hold the month starting on `month`."""
    last_day = month.replace(day=calendar.monthrange(month.year, month.month)[1])
    first = month - timedelta(days=month.weekday())
    last = last_day + timedelta(days=6 - last_day.weekday())
    return Window(first, last, zone)


def shift_month(month, step):
    """The first day of the month `step` months away."""
    index = month.year * 12 + month.month - 1 + step
    return date(index // 12, index % 12 + 1, 1)


def month_weeks(month, window, events, today):
    """The grid: weeks of seven days, each day with its events."""
    by_day = by_local_day(events, window.zone)
    count = (window.last - window.first).days + 1
    days = [
        Day(
            on=day,
            in_month=day.month == month.month,
            is_today=day == today,
            events=by_day.get(day, []),
        )
        for day in (window.first + timedelta(days=n) for n in range(count))
    ]
    return [days[n : n + 7] for n in range(0, len(days), 7)]


def by_local_day(events, zone):
    """{date: events of that day}, keeping the events' order."""
    grouped = defaultdict(list)
    for event in events:
        grouped[event.day(zone)].append(event)
    return dict(grouped)
