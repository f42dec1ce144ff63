"""Close-outs: a contract ended with work unfinished, settled pro rata line by line."""

import enum
from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.accounts.models import User
from portal.closeouts.settlement import LineBasis
from portal.contracts.models import Contract, ContractStatus
from portal.database import UTCDateTime, enum_column, utcnow
from portal.deliverables.models import Deliverable, DeliverableStatus
from portal.extensions import db
from portal.mediation.models import Ticket
from portal.workrooms.models import Side, Workroom

__all__ = ["Closeout", "CloseoutAcceptance", "CloseoutLine", "CloseoutStatus", "LineBasis"]


class CloseoutStatus(enum.Enum):
    """A close-out's lifecycle."""

    proposed = "proposed"  #: one side proposed it; the other side's acceptance is awaited
    accepted = "accepted"  #: both sides accepted: the settlement applied at once
    escalated = "escalated"  #: a side took it to mediation instead
    withdrawn = "withdrawn"  #: the proposing side took it back
    superseded = "superseded"  #: overtaken (an exit's settlement, or the contract ended otherwise)

    @property
    def label(self):
        """The status as people read it."""
        return self.value.capitalize()


CLOSEOUT_TRANSITIONS = {
    CloseoutStatus.proposed: {
        CloseoutStatus.accepted,
        CloseoutStatus.escalated,
        CloseoutStatus.withdrawn,
        CloseoutStatus.superseded,
    },
}

#: how a close-out may end its contract
ENDINGS = (ContractStatus.partially_completed, ContractStatus.terminated)


class Closeout(db.Model):
    """A proposed (or applied) settlement that ends a contract with work unfinished."""

    __tablename__ = "closeouts"
    __table_args__ = (
        # At most one open close-out per contract, whatever races the application loses.
        Index(
            "uq_closeouts_one_open",
            "contract_id",
            unique=True,
            sqlite_where=text("status = 'proposed'"),
            postgresql_where=text("status = 'proposed'"),
        ),
        CheckConstraint(
            "to_creator_minor >= 0 AND to_brand_minor >= 0 AND release_minor >= 0"
            " AND refund_minor >= 0 AND already_released_minor >= 0 AND shortfall_minor >= 0",
            name="closeout_amounts_not_negative",
        ),
        CheckConstraint("kill_fee_percent BETWEEN 0 AND 100", name="closeout_kill_fee_range"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    contract_id: Mapped[int] = mapped_column(ForeignKey("contracts.id"), index=True)
    workroom_id: Mapped[int] = mapped_column(ForeignKey("workrooms.id"), index=True)
    #: what the contract becomes when the close-out applies
    ends_as: Mapped[ContractStatus] = mapped_column(
        enum_column(ContractStatus, "closeout_ends_as"),
        default=ContractStatus.partially_completed,
    )
    status: Mapped[CloseoutStatus] = mapped_column(
        enum_column(CloseoutStatus, "closeout_status"), default=CloseoutStatus.proposed
    )
    reason: Mapped[str] = mapped_column(String(2000))
    proposed_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    proposed_side: Mapped[Side] = mapped_column(enum_column(Side, "closeout_side"))
    currency: Mapped[str] = mapped_column(String(3))
    #: the terms' kill fee when proposed (in-progress work pays this share of its price)
    kill_fee_percent: Mapped[int] = mapped_column(Integer, default=0)
    #: the lines' totals: what the work earns the creator, and what goes back to the brand
    to_creator_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    to_brand_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    #: what escrow releases to the creator and refunds to the brand (planned; as applied once
    #: settled, read from escrow at that moment)
    release_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    refund_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    #: what escrow had released to the creator before (milestones settling, paid, releasable)
    already_released_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    #: what the creator is owed beyond what escrow holds
    shortfall_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    #: ids of open deliverables to mark for reassignment instead of cancelling them
    reassign_ids: Mapped[list] = mapped_column(JSON, default=list)
    #: the mediation ticket it was escalated to
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: when it stopped being open (accepted, escalated, withdrawn or superseded)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    contract: Mapped[Contract] = relationship()
    workroom: Mapped[Workroom] = relationship()
    proposed_by: Mapped[User] = relationship()
    ticket: Mapped[Ticket | None] = relationship()
    lines: Mapped[list["CloseoutLine"]] = relationship(
        back_populates="closeout", order_by="CloseoutLine.position", cascade="all, delete-orphan"
    )
    acceptances: Mapped[list["CloseoutAcceptance"]] = relationship(
        back_populates="closeout", order_by="CloseoutAcceptance.id"
    )

    @property
    def is_open(self):
        """Still waiting on an answer."""
        return self.status is CloseoutStatus.proposed

    def accepted_by(self, side):
        """The side's acceptance, or None."""
        return next((a for a in self.acceptances if a.side is side), None)

    @property
    def settled_value_minor(self):
        """The prices the lines settle (excused lines settle nothing)."""
        return self.to_creator_minor + self.to_brand_minor


class CloseoutLine(db.Model):
    """One deliverable of a close-out, as it stood when proposed, and where its price goes."""

    __tablename__ = "closeout_lines"
    __table_args__ = (
        UniqueConstraint("closeout_id", "position"),
        CheckConstraint(
            "to_creator_minor >= 0 AND to_brand_minor >= 0 AND price_minor >= 0",
            name="closeout_line_not_negative",
        ),
        # Every line shares out its whole price; an excused one settles nothing (0 / 0).
        CheckConstraint(
            "(basis = 'excused' AND to_creator_minor = 0 AND to_brand_minor = 0)"
            " OR to_creator_minor + to_brand_minor = price_minor",
            name="closeout_line_parts_sum_to_price",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    closeout_id: Mapped[int] = mapped_column(ForeignKey("closeouts.id"), index=True)
    deliverable_id: Mapped[int] = mapped_column(ForeignKey("deliverables.id"))
    position: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(160))
    #: the deliverable's status when the close-out was proposed
    status: Mapped[DeliverableStatus] = mapped_column(
        enum_column(DeliverableStatus, "closeout_line_status")
    )
    basis: Mapped[LineBasis] = mapped_column(enum_column(LineBasis, "closeout_line_basis"))
    price_minor: Mapped[int] = mapped_column(BigInteger)
    to_creator_minor: Mapped[int] = mapped_column(BigInteger)
    to_brand_minor: Mapped[int] = mapped_column(BigInteger)

    closeout: Mapped[Closeout] = relationship(back_populates="lines")
    deliverable: Mapped[Deliverable] = relationship()


class CloseoutAcceptance(db.Model):
    """One side's acceptance of a close-out (the proposer's is recorded with the proposal)."""

    __tablename__ = "closeout_acceptances"
    __table_args__ = (UniqueConstraint("closeout_id", "side"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    closeout_id: Mapped[int] = mapped_column(ForeignKey("closeouts.id"), index=True)
    side: Mapped[Side] = mapped_column(enum_column(Side, "closeout_acceptance_side"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    accepted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    closeout: Mapped[Closeout] = relationship(back_populates="acceptances")
    user: Mapped[User] = relationship()
