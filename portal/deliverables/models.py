"""Deliverables of a contract, their numbered revisions, reviews and extension requests."""

import enum
from datetime import date, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.accounts.models import Platform, User
from portal.contracts.models import Contract, DeliverableKind
from portal.database import UTCDateTime, enum_column, utcnow
from portal.extensions import db
from portal.workrooms.models import Message, Side, Workroom


class DeliverableStatus(enum.Enum):
    """A deliverable's lifecycle (DESIGN.md)."""

    pending = "pending"  #: waiting for the creator's (next) submission
    submitted = "submitted"  #: a revision waits for the brand's review
    changes_requested = "changes_requested"  #: the brand asked for changes to the last revision
    approved = "approved"  #: a revision was approved (by the brand or by the auto-approve timer)
    missed = "missed"  #: past due plus the grace period with nothing approved
    waived = "waived"  #: the brand released the creator from it
    cancelled = "cancelled"  #: dropped from the contract
    reassigned = "reassigned"  #: marked for reassignment to another creator (a close-out or exit)


DELIVERABLE_TRANSITIONS = {
    DeliverableStatus.pending: {
        DeliverableStatus.submitted,
        DeliverableStatus.missed,
        DeliverableStatus.waived,
        DeliverableStatus.cancelled,
        DeliverableStatus.reassigned,
    },
    DeliverableStatus.submitted: {
        DeliverableStatus.approved,
        DeliverableStatus.changes_requested,
        # Only when the contract ends (a close-out, a termination): the revision in review
        # is closed unreviewed; the brand alone cannot drop work it has not reviewed.
        DeliverableStatus.cancelled,
        DeliverableStatus.reassigned,
    },
    DeliverableStatus.changes_requested: {
        DeliverableStatus.submitted,
        DeliverableStatus.missed,
        DeliverableStatus.waived,
        DeliverableStatus.cancelled,
        DeliverableStatus.reassigned,
    },
    DeliverableStatus.missed: {
        DeliverableStatus.pending,
        DeliverableStatus.waived,
        DeliverableStatus.cancelled,
        DeliverableStatus.reassigned,
    },
}

#: states in which the deliverable still waits for work
OPEN_STATUSES = frozenset(
    {DeliverableStatus.pending, DeliverableStatus.changes_requested, DeliverableStatus.missed}
)
#: states that end a deliverable's lifecycle
FINAL_STATUSES = frozenset(
    {
        DeliverableStatus.approved,
        DeliverableStatus.waived,
        DeliverableStatus.cancelled,
        DeliverableStatus.reassigned,
    }
)


class RevisionState(enum.Enum):
    """Where one revision stands."""

    in_review = "in_review"  #: waiting for the brand's decision
    approved = "approved"  #: approved as submitted
    approved_with_corrections = "approved_with_corrections"  #: approved, with notes to apply
    changes_requested = "changes_requested"  #: the brand asked for another revision
    auto_approved = "auto_approved"  #: nobody reviewed it within the contract's window
    closed = "closed"  #: the contract ended before anyone reviewed it


class ReviewDecision(enum.Enum):
    """A brand's decision on a revision (or the system's, when the window ran out)."""

    approve = "approve"  #: approved as submitted
    approve_with_corrections = "approve_with_corrections"  #: approved, with notes to apply
    request_changes = "request_changes"  #: another revision needed; feedback required
    auto_approve = "auto_approve"  #: the auto-approve window ran out

    @property
    def revision_state(self):
        """The state the reviewed revision moves to."""
        return {
            ReviewDecision.approve: RevisionState.approved,
            ReviewDecision.approve_with_corrections: RevisionState.approved_with_corrections,
            ReviewDecision.request_changes: RevisionState.changes_requested,
            ReviewDecision.auto_approve: RevisionState.auto_approved,
        }[self]


class RequestState(enum.Enum):
    """Where an extension request or an extra-round request stands."""

    open = "open"  #: waiting on the counterpart
    accepted = "accepted"  #: the counterpart agreed
    declined = "declined"  #: the counterpart refused
    withdrawn = "withdrawn"  #: the asker took it back, or it no longer applies


class Deliverable(db.Model):
    """A piece of content owed under a contract, with a due time and a checklist."""

    __tablename__ = "deliverables"
    __table_args__ = (
        UniqueConstraint("contract_id", "position"),
        CheckConstraint("price_minor >= 0", name="deliverable_price_not_negative"),
        CheckConstraint("last_revision_number >= 0", name="revision_number_not_negative"),
        Index("ix_deliverables_status_due", "status", "due_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    contract_id: Mapped[int] = mapped_column(ForeignKey("contracts.id"), index=True)
    workroom_id: Mapped[int] = mapped_column(ForeignKey("workrooms.id"), index=True)
    #: the contract line it comes from; amendments update the deliverable with that position
    position: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(160))
    kind: Mapped[DeliverableKind] = mapped_column(enum_column(DeliverableKind, "deliverable_kind"))
    platform: Mapped[Platform] = mapped_column(enum_column(Platform, "deliverable_platform"))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    price_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    requirements: Mapped[list] = mapped_column(JSON, default=list)
    status: Mapped[DeliverableStatus] = mapped_column(
        enum_column(DeliverableStatus, "deliverable_status"), default=DeliverableStatus.pending
    )
    #: revisions are numbered 1, 2, 3 ... under the workroom lock; this is the last one given
    last_revision_number: Mapped[int] = mapped_column(Integer, default=0)
    #: change-request rounds used, counted against the contract's revision budget
    rounds_used: Mapped[int] = mapped_column(Integer, default=0)
    #: rounds beyond the budget that the creator agreed to
    extra_rounds: Mapped[int] = mapped_column(Integer, default=0)
    live_url: Mapped[str | None] = mapped_column(String(500))
    live_on: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    contract: Mapped[Contract] = relationship()
    workroom: Mapped[Workroom] = relationship()
    revisions: Mapped[list["Revision"]] = relationship(
        back_populates="deliverable", order_by="Revision.number"
    )

    @property
    def is_final(self):
        """Approved, waived, cancelled or reassigned: nothing more happens to it."""
        return self.status in FINAL_STATUSES


class Revision(db.Model):
    """One numbered, immutable submission of a deliverable."""

    __tablename__ = "revisions"
    __table_args__ = (
        UniqueConstraint("deliverable_id", "number"),
        UniqueConstraint("deliverable_id", "client_token"),
        CheckConstraint("number >= 1", name="revision_number_positive"),
        # One revision in review at a time, whatever races the application loses.
        Index(
            "uq_revisions_one_in_review",
            "deliverable_id",
            unique=True,
            sqlite_where=text("state = 'in_review'"),
            postgresql_where=text("state = 'in_review'"),
        ),
        Index("ix_revisions_state_review_due", "state", "review_due_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    deliverable_id: Mapped[int] = mapped_column(ForeignKey("deliverables.id"))
    number: Mapped[int] = mapped_column(Integer)
    state: Mapped[RevisionState] = mapped_column(
        enum_column(RevisionState, "revision_state"), default=RevisionState.in_review
    )
    text_md: Mapped[str] = mapped_column(Text, default="")
    text_html: Mapped[str] = mapped_column(Text, default="")
    links: Mapped[list] = mapped_column(JSON, default=list)
    #: the checklist items the creator ticked, as worded when submitted
    checked: Mapped[list] = mapped_column(JSON, default=list)
    #: the system line in the log that announced it; its attachments are the revision's files
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id"))
    client_token: Mapped[str | None] = mapped_column(String(64))
    submitted_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: when the system approves it if nobody has reviewed it
    review_due_at: Mapped[datetime] = mapped_column(UTCDateTime())

    deliverable: Mapped[Deliverable] = relationship(back_populates="revisions")
    message: Mapped[Message] = relationship()
    submitted_by: Mapped[User] = relationship()
    review: Mapped["Review | None"] = relationship(back_populates="revision", uselist=False)

    @property
    def files(self):
        """The files submitted with it."""
        return self.message.attachments


class Review(db.Model):
    """The brand's decision on one revision; feedback for the creator, notes for the brand."""

    __tablename__ = "reviews"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    revision_id: Mapped[int] = mapped_column(ForeignKey("revisions.id"), unique=True)
    decision: Mapped[ReviewDecision] = mapped_column(enum_column(ReviewDecision, "review_decision"))
    #: None when the system approved it at the end of the window
    reviewer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    feedback_md: Mapped[str] = mapped_column(Text, default="")
    feedback_html: Mapped[str] = mapped_column(Text, default="")
    #: brand-only comments the creator never sees
    internal_md: Mapped[str] = mapped_column(Text, default="")
    internal_html: Mapped[str] = mapped_column(Text, default="")
    #: a change request past the budget, paid for by a round the creator granted
    extra_round: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    revision: Mapped[Revision] = relationship(back_populates="review")
    reviewer: Mapped[User | None] = relationship()


class ExtensionRequest(db.Model):
    """One side asks to move a deliverable's due time; the other side decides."""

    __tablename__ = "extension_requests"
    __table_args__ = (
        Index(
            "uq_extension_requests_one_open",
            "deliverable_id",
            unique=True,
            sqlite_where=text("state = 'open'"),
            postgresql_where=text("state = 'open'"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    deliverable_id: Mapped[int] = mapped_column(ForeignKey("deliverables.id"), index=True)
    side: Mapped[Side] = mapped_column(enum_column(Side, "extension_side"))
    requested_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    old_due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    new_due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    reason: Mapped[str] = mapped_column(String(2000))
    state: Mapped[RequestState] = mapped_column(
        enum_column(RequestState, "extension_state"), default=RequestState.open
    )
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    deliverable: Mapped[Deliverable] = relationship()
    requested_by: Mapped[User] = relationship(foreign_keys=[requested_by_id])
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id])


class RoundRequest(db.Model):
    """The brand asks the creator for a change-request round beyond the revision budget."""

    __tablename__ = "round_requests"
    __table_args__ = (
        Index(
            "uq_round_requests_one_open",
            "deliverable_id",
            unique=True,
            sqlite_where=text("state = 'open'"),
            postgresql_where=text("state = 'open'"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    deliverable_id: Mapped[int] = mapped_column(ForeignKey("deliverables.id"), index=True)
    requested_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    reason: Mapped[str] = mapped_column(String(2000))
    state: Mapped[RequestState] = mapped_column(
        enum_column(RequestState, "round_state"), default=RequestState.open
    )
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    deliverable: Mapped[Deliverable] = relationship()
    requested_by: Mapped[User] = relationship(foreign_keys=[requested_by_id])


class ReviewWarning(db.Model):
    """One warning email to one reviewer before a revision's auto-approval (48 h, 24 h).

    The unique key makes the warning sweep safe to run twice or on two workers.
    """

    __tablename__ = "review_warnings"
    __table_args__ = (UniqueConstraint("revision_id", "recipient_id", "hours_before"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    revision_id: Mapped[int] = mapped_column(ForeignKey("revisions.id"), index=True)
    recipient_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    hours_before: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
