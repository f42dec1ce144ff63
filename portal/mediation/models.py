"""Mediation tickets: the case, what it names, its thread, proposals and evidence bundles."""

import enum
from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.accounts.models import User
from portal.database import UTCDateTime, enum_column, utcnow
from portal.deliverables.models import Deliverable
from portal.escrow.models import Milestone
from portal.extensions import db
from portal.workrooms.models import Side, Workroom


class TicketCategory(enum.Enum):
    """What the dispute is about."""

    missed_deliverable = "missed_deliverable"
    quality = "quality"
    payment = "payment"
    conduct = "conduct"
    exit = "exit"
    other = "other"

    @property
    def label(self):
        """The category as people read it."""
        return self.value.replace("_", " ").capitalize()


class TicketStatus(enum.Enum):
    """A ticket's lifecycle (DESIGN.md)."""

    open = "open"  #: waiting for the other party's response
    in_mediation = "in_mediation"  #: in the mediators' queue or with its mediator
    proposed = "proposed"  #: a proposal waits for both parties' answers
    resolved = "resolved"  #: a resolution (agreed or decided) applied
    withdrawn = "withdrawn"  #: the party who opened it took it back

    @property
    def label(self):
        """The status as people read it."""
        return self.value.replace("_", " ").capitalize()


OPEN_STATUSES = (TicketStatus.open, TicketStatus.in_mediation, TicketStatus.proposed)

TICKET_TRANSITIONS = {
    TicketStatus.open: {TicketStatus.in_mediation, TicketStatus.withdrawn, TicketStatus.resolved},
    TicketStatus.in_mediation: {
        TicketStatus.proposed,
        TicketStatus.resolved,
        TicketStatus.withdrawn,
    },
    TicketStatus.proposed: {
        TicketStatus.in_mediation,
        TicketStatus.resolved,
        TicketStatus.withdrawn,
    },
}


class Outcome(enum.Enum):
    """How a ticket ended, for reporting."""

    agreed = "agreed"  #: both parties accepted the mediator's proposal
    decided = "decided"  #: the mediator's binding decision
    withdrawn = "withdrawn"  #: the opener took it back


class Ticket(db.Model):
    """A mediation case about one workroom."""

    __tablename__ = "tickets"
    __table_args__ = (Index("ix_tickets_status_mediator", "status", "mediator_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workroom_id: Mapped[int] = mapped_column(ForeignKey("workrooms.id"), index=True)
    #: None when the missed-deliverables job raised it for triage
    opened_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    opened_side: Mapped[Side | None] = mapped_column(enum_column(Side, "ticket_side"))
    category: Mapped[TicketCategory] = mapped_column(enum_column(TicketCategory, "ticket_category"))
    subject: Mapped[str] = mapped_column(String(200))
    what_happened_md: Mapped[str] = mapped_column(Text)
    what_happened_html: Mapped[str] = mapped_column(Text)
    asked_for_md: Mapped[str] = mapped_column(Text, default="")
    asked_for_html: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[TicketStatus] = mapped_column(
        enum_column(TicketStatus, "ticket_status"), default=TicketStatus.open
    )
    flagged_by_system: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: the other party's response is due by then; after it the ticket goes to mediation
    respond_by: Mapped[datetime | None] = mapped_column(UTCDateTime())
    responded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    in_mediation_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    mediator_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: the mediator's SLA clocks, started when the ticket is claimed or assigned
    first_response_due: Mapped[datetime | None] = mapped_column(UTCDateTime())
    first_response_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolve_by: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    outcome: Mapped[Outcome | None] = mapped_column(enum_column(Outcome, "ticket_outcome"))
    #: what the resolution moved, in the currency of the money it moved
    released_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    refunded_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    currency: Mapped[str] = mapped_column(String(3), default="")
    last_post_seq: Mapped[int] = mapped_column(Integer, default=0)

    workroom: Mapped[Workroom] = relationship()
    opened_by: Mapped[User | None] = relationship(foreign_keys=[opened_by_id])
    mediator: Mapped[User | None] = relationship(foreign_keys=[mediator_id])
    links: Mapped[list["TicketLink"]] = relationship(
        back_populates="ticket", order_by="TicketLink.id", cascade="all, delete-orphan"
    )
    posts: Mapped[list["TicketPost"]] = relationship(
        back_populates="ticket", order_by="TicketPost.seq"
    )
    proposals: Mapped[list["Proposal"]] = relationship(
        back_populates="ticket", order_by="Proposal.number"
    )

    @property
    def is_open(self):
        """Still being worked on."""
        return self.status in OPEN_STATUSES

    @property
    def deliverables(self):
        """The deliverables the ticket names."""
        return [link.deliverable for link in self.links if link.deliverable is not None]

    @property
    def milestones(self):
        """The milestones the ticket names (held while it is open)."""
        return [link.milestone for link in self.links if link.milestone is not None]

    @property
    def open_proposal(self):
        """The proposal waiting for answers, if any."""
        return next((p for p in self.proposals if p.state is ProposalState.open), None)


class TicketLink(db.Model):
    """A deliverable or a milestone the ticket is about."""

    __tablename__ = "ticket_links"
    __table_args__ = (
        CheckConstraint(
            "(deliverable_id IS NULL) <> (milestone_id IS NULL)", name="one_object_per_link"
        ),
        UniqueConstraint("ticket_id", "deliverable_id"),
        UniqueConstraint("ticket_id", "milestone_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    deliverable_id: Mapped[int | None] = mapped_column(ForeignKey("deliverables.id"), index=True)
    milestone_id: Mapped[int | None] = mapped_column(ForeignKey("milestones.id"), index=True)

    ticket: Mapped[Ticket] = relationship(back_populates="links")
    deliverable: Mapped[Deliverable | None] = relationship()
    milestone: Mapped[Milestone | None] = relationship()


class PostKind(enum.Enum):
    """Who may read a post of the ticket's thread."""

    post = "post"  #: both parties and the mediator
    private = "private"  #: mediators only
    system = "system"  #: a step of the flow, seen by everyone


class TicketPost(db.Model):
    """One entry of the ticket's thread."""

    __tablename__ = "ticket_posts"
    __table_args__ = (UniqueConstraint("ticket_id", "seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"))
    seq: Mapped[int] = mapped_column(Integer)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[PostKind] = mapped_column(enum_column(PostKind, "ticket_post_kind"))
    body_md: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    ticket: Mapped[Ticket] = relationship(back_populates="posts")
    author: Mapped[User | None] = relationship()


class ProposalState(enum.Enum):
    """Where a proposal stands."""

    open = "open"  #: waiting for both parties
    rejected = "rejected"  #: a party said no; the mediator tries again or decides
    applied = "applied"  #: accepted by both (or decided) and carried out
    superseded = "superseded"  #: replaced by a newer proposal or a decision


class Proposal(db.Model):
    """A resolution the mediator composed from actions; binding when it is a decision."""

    __tablename__ = "proposals"
    __table_args__ = (UniqueConstraint("ticket_id", "number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"))
    number: Mapped[int] = mapped_column(Integer)
    #: [{"kind": "extend"|"waive"|"release"|"refund"|"terminate", ...}], see services
    actions: Mapped[list] = mapped_column(JSON)
    note_md: Mapped[str] = mapped_column(Text, default="")
    note_html: Mapped[str] = mapped_column(Text, default="")
    binding: Mapped[bool] = mapped_column(Boolean, default=False)
    state: Mapped[ProposalState] = mapped_column(
        enum_column(ProposalState, "proposal_state"), default=ProposalState.open
    )
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    brand_accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    creator_accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    rejected_by_side: Mapped[Side | None] = mapped_column(enum_column(Side, "proposal_side"))
    rejection_md: Mapped[str] = mapped_column(Text, default="")
    applied_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    ticket: Mapped[Ticket] = relationship(back_populates="proposals")
    created_by: Mapped[User] = relationship()

    def accepted_by(self, side):
        """When the side accepted, or None."""
        return self.brand_accepted_at if side is Side.brand else self.creator_accepted_at


class BundleState(enum.Enum):
    """An evidence bundle's progress."""

    queued = "queued"
    building = "building"
    ready = "ready"
    failed = "failed"


class EvidenceBundle(db.Model):
    """A downloadable archive of a ticket's evidence, built by an RQ job."""

    __tablename__ = "evidence_bundles"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    requested_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    state: Mapped[BundleState] = mapped_column(
        enum_column(BundleState, "bundle_state"), default=BundleState.queued
    )
    progress: Mapped[int] = mapped_column(Integer, default=0)  #: percent done
    storage_key: Mapped[str | None] = mapped_column(String(200))
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    error: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    ticket: Mapped[Ticket] = relationship()
    requested_by: Mapped[User] = relationship()
