"""Contracts of a workroom: every version kept, accepted by both sides by hash."""

import enum
from datetime import date, datetime, timedelta

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.accounts.models import Platform, User
from portal.campaigns.models import Campaign
from portal.database import UTCDateTime, enum_column, utcnow
from portal.extensions import db
from portal.workrooms.models import Side, Workroom


class ContractStatus(enum.Enum):
    """A contract's lifecycle (DESIGN.md)."""

    draft = "draft"  #: the brand is still writing it
    proposed = "proposed"  #: sent to the creator, not yet accepted by both
    active = "active"  #: both sides accepted the same version
    completed = "completed"  #: all work done and paid
    partially_completed = "partially_completed"  #: ended with work unfinished, settled
    terminated = "terminated"  #: ended early
    expired = "expired"  #: past its end without renewal


CONTRACT_TRANSITIONS = {
    ContractStatus.draft: {ContractStatus.proposed},
    ContractStatus.proposed: {ContractStatus.active, ContractStatus.draft},
    ContractStatus.active: {
        ContractStatus.completed,
        ContractStatus.partially_completed,
        ContractStatus.terminated,
        ContractStatus.expired,
    },
    # A close-out settles the work an expired term left unfinished.
    ContractStatus.expired: {ContractStatus.partially_completed},
}


class VersionKind(enum.Enum):
    """Why a version was written."""

    proposal = "proposal"  #: the brand's terms before the contract is active
    amendment = "amendment"  #: a change after the contract became active


class VersionState(enum.Enum):
    """Where a version stands."""

    open = "open"  #: waiting on the counterpart
    accepted = "accepted"  #: both sides accepted it
    changes_requested = "changes_requested"  #: the counterpart asked for changes
    rejected = "rejected"  #: an amendment the counterpart refused
    superseded = "superseded"  #: replaced by a newer version before acceptance


VERSION_TRANSITIONS = {
    VersionState.open: {
        VersionState.accepted,
        VersionState.changes_requested,
        VersionState.rejected,
        VersionState.superseded,
    },
}


class DeliverableKind(enum.Enum):
    """Kinds of content a deliverable line can be."""

    post = "post"  #: a feed post
    story = "story"  #: a story
    reel = "reel"  #: a short video
    video = "video"  #: a long video
    blog = "blog"  #: an article
    other = "other"  #: anything else


class Contract(db.Model):
    """One term of work in a workroom, tied to a campaign."""

    __tablename__ = "contracts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workroom_id: Mapped[int] = mapped_column(ForeignKey("workrooms.id"), index=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), index=True)
    status: Mapped[ContractStatus] = mapped_column(
        enum_column(ContractStatus, "contract_status"), default=ContractStatus.draft
    )
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: the contract this one renews (one next contract per contract: the chain of terms)
    renews_id: Mapped[int | None] = mapped_column(ForeignKey("contracts.id"), unique=True)

    workroom: Mapped[Workroom] = relationship()
    campaign: Mapped[Campaign] = relationship()
    renews: Mapped["Contract | None"] = relationship(remote_side=[id])
    versions: Mapped[list["ContractVersion"]] = relationship(
        back_populates="contract", order_by="ContractVersion.number"
    )

    @property
    def accepted_version(self):
        """The terms in force: the newest version both sides accepted, or None."""
        accepted = [v for v in self.versions if v.state is VersionState.accepted]
        return accepted[-1] if accepted else None

    @property
    def latest_version(self):
        """The newest version, whatever its state."""
        return self.versions[-1] if self.versions else None


def renewal_dates(renewal_date, ends_on, renewal_notice_days):
    """(renewal date, notice deadline) of a version's terms: the one definition pages,
    the calendar, reminders, digests and the renewal sweeps use.

    The renewal date is the one the terms name, else the last day of the term: a contract
    without a renewal date comes up for renewal as it ends (a renewal's next term starts
    the day after). The notice deadline is renewal_notice_days before the renewal date;
    notice (an opt-out, a decision to let it lapse) counts through that whole day (UTC).
    """
    renews_on = renewal_date or ends_on
    return renews_on, renews_on - timedelta(days=renewal_notice_days)


class ContractVersion(db.Model):
    """An immutable version of a contract's terms; its SHA-256 is what sides accept."""

    __tablename__ = "contract_versions"
    __table_args__ = (
        UniqueConstraint("contract_id", "number"),
        CheckConstraint("ends_on >= starts_on", name="ends_after_start"),
        CheckConstraint("kill_fee_percent BETWEEN 0 AND 100", name="kill_fee_percent_range"),
        CheckConstraint("auto_approve_days >= 1", name="auto_approve_positive"),
        CheckConstraint("revision_budget >= 0", name="revision_budget_not_negative"),
        CheckConstraint("grace_hours >= 0", name="grace_hours_not_negative"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    contract_id: Mapped[int] = mapped_column(ForeignKey("contracts.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    kind: Mapped[VersionKind] = mapped_column(enum_column(VersionKind, "version_kind"))
    state: Mapped[VersionState] = mapped_column(
        enum_column(VersionState, "version_state"), default=VersionState.open
    )
    proposed_by_side: Mapped[Side] = mapped_column(enum_column(Side, "version_side"))
    title: Mapped[str] = mapped_column(String(160))
    terms_md: Mapped[str] = mapped_column(Text)
    terms_html: Mapped[str] = mapped_column(Text)
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    currency: Mapped[str] = mapped_column(String(3))
    total_minor: Mapped[int] = mapped_column(BigInteger)
    renewal_date: Mapped[date | None] = mapped_column(Date)
    renewal_notice_days: Mapped[int] = mapped_column(Integer, default=30)
    auto_renew: Mapped[bool] = mapped_column(Boolean, default=False)
    termination_notice_days: Mapped[int] = mapped_column(Integer, default=14)
    kill_fee_percent: Mapped[int] = mapped_column(Integer, default=0)
    auto_approve_days: Mapped[int] = mapped_column(Integer, default=5)
    revision_budget: Mapped[int] = mapped_column(Integer, default=2)
    #: hours past a deliverable's due time before it counts as missed
    grace_hours: Mapped[int] = mapped_column(Integer, default=24, server_default="24")
    comment: Mapped[str] = mapped_column(String(2000), default="")
    sha256: Mapped[str] = mapped_column(String(64))
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    contract: Mapped[Contract] = relationship(back_populates="versions")

    @property
    def renews_on(self):
        """The renewal date (see renewal_dates)."""
        return renewal_dates(self.renewal_date, self.ends_on, self.renewal_notice_days)[0]

    @property
    def notice_deadline(self):
        """The last day to give notice (see renewal_dates)."""
        return renewal_dates(self.renewal_date, self.ends_on, self.renewal_notice_days)[1]

    lines: Mapped[list["ContractLine"]] = relationship(
        order_by="ContractLine.position", cascade="all, delete-orphan"
    )
    acceptances: Mapped[list["ContractAcceptance"]] = relationship(
        order_by="ContractAcceptance.accepted_at"
    )
    created_by: Mapped[User] = relationship()


class ContractLine(db.Model):
    """A deliverable line of a contract version: title, kind, platform, due date, price."""

    __tablename__ = "contract_lines"
    __table_args__ = (
        UniqueConstraint("version_id", "position"),
        CheckConstraint("price_minor >= 0", name="price_not_negative"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("contract_versions.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(160))
    kind: Mapped[DeliverableKind] = mapped_column(enum_column(DeliverableKind, "line_kind"))
    platform: Mapped[Platform] = mapped_column(enum_column(Platform, "line_platform"))
    due_on: Mapped[date] = mapped_column(Date)
    price_minor: Mapped[int] = mapped_column(BigInteger)
    #: the checklist the brief demands, one item a line ("#ad disclosure", "tag @northwind")
    requirements: Mapped[str] = mapped_column(Text, default="", server_default="")

    @property
    def requirement_list(self):
        """The checklist items, in order."""
        return [item for item in self.requirements.split("\n") if item.strip()]


class ContractAcceptance(db.Model):
    """One side's acceptance of one exact version, by the hash of its terms."""

    __tablename__ = "contract_acceptances"
    __table_args__ = (UniqueConstraint("version_id", "side"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("contract_versions.id"), index=True)
    side: Mapped[Side] = mapped_column(enum_column(Side, "acceptance_side"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    sha256: Mapped[str] = mapped_column(String(64))
    accepted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    user: Mapped[User] = relationship()


class ContractResponse(db.Model):
    """A counterpart's request for changes to (or rejection of) a version, with a comment."""

    __tablename__ = "contract_responses"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("contract_versions.id"), index=True)
    side: Mapped[Side] = mapped_column(enum_column(Side, "response_side"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    state: Mapped[VersionState] = mapped_column(enum_column(VersionState, "response_state"))
    comment: Mapped[str] = mapped_column(String(2000))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    user: Mapped[User] = relationship()


class RenewalChoice(enum.Enum):
    """What the brand decided about the next term of a contract."""

    renew = "renew"  #: renew as is: the next contract is proposed to the creator at once
    renegotiate = "renegotiate"  #: the next contract starts as a draft the brand edits
    lapse = "lapse"  #: no next term: the contract expires at its end


class RenewalDecision(db.Model):
    """The brand's decision about renewing a contract, with a comment the creator reads.
    Decisions are kept; the latest one counts."""

    __tablename__ = "renewal_decisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    contract_id: Mapped[int] = mapped_column(ForeignKey("contracts.id"), index=True)
    decision: Mapped[RenewalChoice] = mapped_column(enum_column(RenewalChoice, "renewal_choice"))
    comment: Mapped[str] = mapped_column(String(2000), default="")
    side: Mapped[Side] = mapped_column(enum_column(Side, "decision_side"), default=Side.brand)
    decided_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: the contract the decision created (renew, renegotiate), if any
    next_contract_id: Mapped[int | None] = mapped_column(ForeignKey("contracts.id"))

    decided_by: Mapped[User] = relationship()


class AutoRenewOptOut(db.Model):
    """One side's notice that an auto-renew contract must not renew, given before the
    notice deadline."""

    __tablename__ = "auto_renew_opt_outs"
    __table_args__ = (UniqueConstraint("contract_id", "side"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    contract_id: Mapped[int] = mapped_column(ForeignKey("contracts.id"), index=True)
    side: Mapped[Side] = mapped_column(enum_column(Side, "opt_out_side"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    user: Mapped[User] = relationship()
