"""Milestones with dependencies, the double-entry ledger that holds the money truth, payouts."""

import enum
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.accounts.models import User
from portal.contracts.models import Contract
from portal.database import UTCDateTime, enum_column, utcnow
from portal.deliverables.models import Deliverable
from portal.extensions import db
from portal.workrooms.models import Workroom


class MilestoneStatus(enum.Enum):
    """A milestone's lifecycle (DESIGN.md)."""

    pending = "pending"  #: not funded yet
    funded = "funded"  #: its amount sits in escrow; dependencies not all met
    releasable = "releasable"  #: funded, not held, every dependency met: settlement is due
    settling = "settling"  #: released to the creator's payable; the payout is under way
    paid = "paid"  #: the payout reached the creator
    held = "held"  #: an open mediation ticket names it; it never settles while held
    partially_released = "partially_released"  #: part released by a resolution or close-out
    refunded = "refunded"  #: returned to the brand


MILESTONE_TRANSITIONS = {
    MilestoneStatus.pending: {MilestoneStatus.funded},
    MilestoneStatus.funded: {
        MilestoneStatus.releasable,
        MilestoneStatus.held,
        MilestoneStatus.partially_released,
        MilestoneStatus.refunded,
    },
    MilestoneStatus.releasable: {
        MilestoneStatus.settling,
        MilestoneStatus.held,
        MilestoneStatus.funded,  # a dependency stopped being met (e.g. an approval undone)
        MilestoneStatus.partially_released,
        MilestoneStatus.refunded,
    },
    MilestoneStatus.held: {
        MilestoneStatus.funded,
        MilestoneStatus.releasable,
        MilestoneStatus.partially_released,
        MilestoneStatus.refunded,
    },
    MilestoneStatus.settling: {MilestoneStatus.paid},
    # A mediation resolution can release the rest of a partly released milestone.
    MilestoneStatus.partially_released: {MilestoneStatus.settling, MilestoneStatus.refunded},
}
# A resolution can release all that is in escrow, whatever the dependencies (see services).
MILESTONE_TRANSITIONS[MilestoneStatus.funded].add(MilestoneStatus.settling)
MILESTONE_TRANSITIONS[MilestoneStatus.held].add(MilestoneStatus.settling)


class AccountKind(enum.Enum):
    """Kinds of ledger accounts."""

    external = "external"  #: money outside Duet (the brand's card, the creator's bank)
    brand_funding = "brand_funding"  #: what a brand paid in, per brand and currency
    escrow = "escrow"  #: what is held for a contract
    creator_payable = "creator_payable"  #: what Duet owes a creator
    platform_fees = "platform_fees"  #: Duet's fees
    payout_clearing = "payout_clearing"  #: payouts handed to the provider, not yet confirmed


class LedgerAccount(db.Model):
    """One account of the ledger; its balance is the sum of its entries."""

    __tablename__ = "ledger_accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: a readable unique name, e.g. "escrow:contract:7:USD" (NULL-free, so it can be unique)
    key: Mapped[str] = mapped_column(String(80), unique=True)
    kind: Mapped[AccountKind] = mapped_column(enum_column(AccountKind, "ledger_account_kind"))
    currency: Mapped[str] = mapped_column(String(3))
    brand_id: Mapped[int | None] = mapped_column(ForeignKey("brands.id"))
    contract_id: Mapped[int | None] = mapped_column(ForeignKey("contracts.id"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class LedgerTransaction(db.Model):
    """A set of entries that sum to zero per currency; applied exactly once by its key."""

    __tablename__ = "ledger_transactions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: e.g. "fund:milestone:12"; a retried or duplicated job finds the first and stops
    idempotency_key: Mapped[str] = mapped_column(String(120), unique=True)
    kind: Mapped[str] = mapped_column(String(30))
    milestone_id: Mapped[int | None] = mapped_column(ForeignKey("milestones.id"), index=True)
    contract_id: Mapped[int | None] = mapped_column(ForeignKey("contracts.id"), index=True)
    reason: Mapped[str] = mapped_column(String(500), default="")
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    entries: Mapped[list["LedgerEntry"]] = relationship(
        back_populates="transaction", order_by="LedgerEntry.id"
    )


class LedgerEntry(db.Model):
    """One signed amount on one account (debit positive, credit negative); never changed."""

    __tablename__ = "ledger_entries"
    __table_args__ = (CheckConstraint("amount_minor <> 0", name="entry_not_zero"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    transaction_id: Mapped[int] = mapped_column(ForeignKey("ledger_transactions.id"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("ledger_accounts.id"), index=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))

    transaction: Mapped[LedgerTransaction] = relationship(back_populates="entries")
    account: Mapped[LedgerAccount] = relationship()


class Milestone(db.Model):
    """An amount of a contract released to the creator when its dependencies are met."""

    __tablename__ = "milestones"
    __table_args__ = (
        UniqueConstraint("contract_id", "position"),
        CheckConstraint("amount_minor > 0", name="milestone_amount_positive"),
        CheckConstraint(
            "released_minor >= 0 AND refunded_minor >= 0", name="milestone_moved_not_negative"
        ),
        Index("ix_milestones_status", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    contract_id: Mapped[int] = mapped_column(ForeignKey("contracts.id"), index=True)
    workroom_id: Mapped[int] = mapped_column(ForeignKey("workrooms.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(160))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[MilestoneStatus] = mapped_column(
        enum_column(MilestoneStatus, "milestone_status"), default=MilestoneStatus.pending
    )
    #: the status to return to when a hold ends
    held_from: Mapped[MilestoneStatus | None] = mapped_column(
        enum_column(MilestoneStatus, "milestone_held_from")
    )
    requires_signoff: Mapped[bool] = mapped_column(Boolean, default=False)
    signed_off_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    signed_off_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    released_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    refunded_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    funded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: optimistic lock: two people editing the same milestone never lose an update (M-10)
    version: Mapped[int] = mapped_column(Integer, default=1)

    contract: Mapped[Contract] = relationship()
    workroom: Mapped[Workroom] = relationship()
    dependencies: Mapped[list["MilestoneDependency"]] = relationship(
        foreign_keys="MilestoneDependency.milestone_id",
        order_by="MilestoneDependency.id",
        cascade="all, delete-orphan",
    )

    __mapper_args__ = {"version_id_col": version}

    @property
    def in_escrow_minor(self):
        """What of the milestone still sits in escrow (nothing before funding or after release)."""
        if self.status in (MilestoneStatus.pending, MilestoneStatus.settling, MilestoneStatus.paid):
            return 0
        return self.amount_minor - self.released_minor - self.refunded_minor


class MilestoneDependency(db.Model):
    """One condition of a milestone: a deliverable approved (and live N days), or an earlier
    milestone paid. Brand sign-off is a flag on the milestone itself."""

    __tablename__ = "milestone_dependencies"
    __table_args__ = (
        CheckConstraint(
            "(deliverable_id IS NULL) <> (prior_milestone_id IS NULL)", name="one_target"
        ),
        CheckConstraint("live_days IS NULL OR live_days >= 0", name="live_days_not_negative"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    milestone_id: Mapped[int] = mapped_column(ForeignKey("milestones.id"), index=True)
    deliverable_id: Mapped[int | None] = mapped_column(ForeignKey("deliverables.id"))
    prior_milestone_id: Mapped[int | None] = mapped_column(ForeignKey("milestones.id"))
    live_days: Mapped[int | None] = mapped_column(Integer)

    deliverable: Mapped[Deliverable | None] = relationship()
    prior_milestone: Mapped[Milestone | None] = relationship(foreign_keys=[prior_milestone_id])


class PayoutState(enum.Enum):
    """Where a payout stands with the provider."""

    pending = "pending"  #: created, not yet handed to the provider
    sent = "sent"  #: the provider accepted it
    paid = "paid"  #: the provider confirmed it reached the creator
    failed = "failed"  #: the provider refused it; retried with backoff
    unknown = "unknown"  #: the provider timed out: reconciliation asks, never re-sends blindly


class Payout(db.Model):
    """The transfer of a released amount to a creator; one per release transaction."""

    __tablename__ = "payouts"
    __table_args__ = (Index("ix_payouts_state_next_attempt", "state", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    milestone_id: Mapped[int] = mapped_column(ForeignKey("milestones.id"), index=True)
    #: the ledger transaction that released the money: one payout each, whatever retries
    release_key: Mapped[str] = mapped_column(String(120), unique=True)
    creator_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    state: Mapped[PayoutState] = mapped_column(
        enum_column(PayoutState, "payout_state"), default=PayoutState.pending
    )
    provider_ref: Mapped[str | None] = mapped_column(String(120))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    #: when a pending or failed payout may be tried (again): backoff after each failure
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_error: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    milestone: Mapped[Milestone] = relationship()
    creator: Mapped[User] = relationship()

    @property
    def idempotency_key(self):
        """The provider's key for this payout: the same on every attempt."""
        return f"payout:{self.id}"
