"""Notifications: the bell's entries, each user's preferences and mutes, reminder and
digest claims, the suppression list, and outgoing email (the database row is the truth,
the queue only carries the work)."""

import enum
from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from portal.database import UTCDateTime, enum_column, utcnow
from portal.extensions import db


class Kind(enum.Enum):
    """What a notification is about; each has a channel in the user's preferences."""

    message = "message"  #: a new message in a workroom
    submission = "submission"  #: a revision was submitted
    review = "review"  #: a revision was reviewed
    extension = "extension"  #: a new date was asked for or answered
    missed = "missed"  #: a deliverable was missed
    deadline = "deadline"  #: reminders: due dates, reviews waiting, funding
    payout = "payout"  #: money moved (always notifies)
    contract = "contract"  #: a contract was proposed or accepted (acceptance always notifies)
    ticket = "ticket"  #: mediation steps (decisions always notify)
    renewal = "renewal"  #: a renewal or notice deadline comes

    @property
    def label(self):
        """The kind as the preferences page names it."""
        return KIND_LABELS[self]


KIND_LABELS = {
    Kind.message: "New messages",
    Kind.submission: "Submissions",
    Kind.review: "Reviews",
    Kind.extension: "Extension requests",
    Kind.missed: "Missed deliverables",
    Kind.deadline: "Deadline reminders",
    Kind.payout: "Payouts",
    Kind.contract: "Contracts",
    Kind.ticket: "Mediation tickets",
    Kind.renewal: "Renewals and notice deadlines",
}


class Channel(enum.Enum):
    """How a user wants a kind of notification."""

    off = "off"
    in_app = "in_app"  #: the bell only
    email = "email"  #: the bell and an email now (held during quiet hours)
    digest = "digest"  #: the bell, and the next digest instead of an email

    @property
    def label(self):
        """The channel as the preferences page names it."""
        return {
            "off": "Off",
            "in_app": "In Duet only",
            "email": "Email now",
            "digest": "Digest only",
        }[self.value]


#: defaults: chatty kinds stay in the bell, what needs action arrives by email
DEFAULT_CHANNELS = {
    Kind.message: Channel.in_app,
    Kind.submission: Channel.email,
    Kind.review: Channel.email,
    Kind.extension: Channel.email,
    Kind.missed: Channel.email,
    Kind.deadline: Channel.email,
    Kind.payout: Channel.email,
    Kind.contract: Channel.email,
    Kind.ticket: Channel.email,
    Kind.renewal: Channel.email,
}


class DigestFrequency(enum.Enum):
    """How often the digest comes."""

    off = "off"
    daily = "daily"
    weekly = "weekly"


class Notification(db.Model):
    """One entry of a user's bell."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_user_unread", "user_id", "read_at", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[Kind] = mapped_column(enum_column(Kind, "notification_kind"))
    workroom_id: Mapped[int | None] = mapped_column(ForeignKey("workrooms.id"))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
    link: Mapped[str] = mapped_column(String(300), default="")  #: a path inside Duet
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: waiting for the user's next digest (the channel was "digest")
    for_digest: Mapped[bool] = mapped_column(Boolean, default=False)


class NotificationSettings(db.Model):
    """A user's channels per kind, digest schedule and quiet hours (defaults until saved)."""

    __tablename__ = "notification_settings"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    channels: Mapped[dict] = mapped_column(JSON, default=dict)  #: {kind value: channel value}
    digest: Mapped[DigestFrequency] = mapped_column(
        enum_column(DigestFrequency, "digest_frequency"), default=DigestFrequency.daily
    )
    digest_hour: Mapped[int] = mapped_column(Integer, default=8)  #: local hour, 0-23
    digest_weekday: Mapped[int] = mapped_column(Integer, default=0)  #: Monday = 0
    quiet_start: Mapped[int | None] = mapped_column(Integer)  #: local hour emails stop
    quiet_end: Mapped[int | None] = mapped_column(Integer)  #: local hour they resume

    def channel(self, kind):
        """The user's channel for a kind."""
        value = (self.channels or {}).get(kind.value)
        return Channel(value) if value else DEFAULT_CHANNELS[kind]


class WorkroomMute(db.Model):
    """A user silenced a workroom: no notifications from it except money and legal ones."""

    __tablename__ = "workroom_mutes"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    workroom_id: Mapped[int] = mapped_column(ForeignKey("workrooms.id"), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ReminderClaim(db.Model):
    """One reminder of a rule, for an object, recipient and threshold: claimed once, in the
    transaction that queues its notification (decision 6: at least once, never twice)."""

    __tablename__ = "reminder_claims"
    __table_args__ = (UniqueConstraint("rule", "object_id", "recipient_id", "threshold"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rule: Mapped[str] = mapped_column(String(40))
    object_id: Mapped[int] = mapped_column(Integer)
    recipient_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    #: the threshold and the date it counts from, so a moved date re-arms the ladder
    threshold: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class DigestClaim(db.Model):
    """A user's digest of one period ("daily:2026-11-24", "weekly:2026-W48"): at most one."""

    __tablename__ = "digest_claims"
    __table_args__ = (UniqueConstraint("user_id", "period"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    period: Mapped[str] = mapped_column(String(30))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    sent: Mapped[bool] = mapped_column(Boolean, default=False)  #: False: nothing to say


class Suppression(db.Model):
    """An address that gets no more mail of a list ("digest", "reminders", or "all" after
    a bounce or complaint); checked when each email is sent."""

    __tablename__ = "suppressions"
    __table_args__ = (UniqueConstraint("email", "list_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254))
    list_id: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(String(20))  #: unsubscribe, bounce, complaint
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class OutboundEmail(db.Model):
    """One email to one recipient, sent at least once by the mail job."""

    __tablename__ = "outbound_emails"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    to_address: Mapped[str] = mapped_column(String(254))
    to_name: Mapped[str] = mapped_column(String(120), default="")
    subject: Mapped[str] = mapped_column(String(200))
    text_body: Mapped[str] = mapped_column(Text)
    html_body: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Unsent mail is found by this index, so the sweep costs what is pending, not the history.
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(String(500), default="")
    #: a subscription email (digest, reminders): its list and one-click unsubscribe address
    list_id: Mapped[str | None] = mapped_column(String(20))
    unsubscribe_url: Mapped[str | None] = mapped_column(String(500))
    #: quiet hours: not sent before this moment
    send_after: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: what the send found instead of sending ("suppressed")
    skipped: Mapped[str] = mapped_column(String(40), default="")
