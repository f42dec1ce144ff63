"""Exits of contracts: why and when a contract ends early, its replacement, its analysis."""

import enum
from datetime import date, datetime

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.accounts.models import User
from portal.contracts.models import Contract, ContractStatus
from portal.database import UTCDateTime, enum_column, utcnow
from portal.extensions import db
from portal.workrooms.models import Side, Workroom


class ExitReason(enum.Enum):
    """Why a side ends the contract."""

    underperformance = "underperformance"  #: the work falls short of the brief
    conflict = "conflict"  #: the sides can't work together
    missed_deliverables = "missed_deliverables"  #: deliverables keep being missed
    creator_withdraws = "creator_withdraws"  #: the creator steps back
    brand_withdraws = "brand_withdraws"  #: the brand steps back (budget, strategy...)
    policy_violation = "policy_violation"  #: a breach of the platform's or brand's policy
    mutual = "mutual"  #: both sides agree to stop now

    @property
    def label(self):
        """The reason as people read it."""
        return REASON_LABELS[self]


REASON_LABELS = {
    ExitReason.underperformance: "Underperformance",
    ExitReason.conflict: "Conflict",
    ExitReason.missed_deliverables: "Missed deliverables",
    ExitReason.creator_withdraws: "Creator withdraws",
    ExitReason.brand_withdraws: "Brand withdraws",
    ExitReason.policy_violation: "Policy violation",
    ExitReason.mutual: "Mutual agreement",
}


class ExitStatus(enum.Enum):
    """Where an exit stands."""

    notice = "notice"  #: the notice period runs; work continues until it ends
    settling = "settling"  #: a close-out is proposed; the sides settle what was done
    in_mediation = "in_mediation"  #: for cause: a mediator decides on immediate termination
    ended = "ended"  #: the contract is no longer active

    @property
    def label(self):
        """The status as people read it."""
        return {
            ExitStatus.notice: "Notice period",
            ExitStatus.settling: "Settling",
            ExitStatus.in_mediation: "In mediation",
            ExitStatus.ended: "Ended",
        }[self]


#: the moves an exit makes; the contract ending (by a close-out or a mediator's decision)
#: ends the exit from any state
EXIT_TRANSITIONS = {
    ExitStatus.notice: {ExitStatus.settling, ExitStatus.ended},
    ExitStatus.settling: {ExitStatus.ended},
    #: back to notice when the mediation closes without terminating the contract
    ExitStatus.in_mediation: {ExitStatus.notice, ExitStatus.settling, ExitStatus.ended},
}


class ExitFactor(enum.Enum):
    """What contributed to an exit, as the brand's analysis ticks them."""

    unclear_brief = "unclear_brief"  #: the brief left too much open
    schedule = "schedule"  #: deadlines were too tight or moved
    communication = "communication"  #: messages went unanswered or were misread
    quality = "quality"  #: the content missed the standard
    audience_fit = "audience_fit"  #: the creator's audience did not fit the campaign
    budget = "budget"  #: the money changed or ran short
    availability = "availability"  #: the creator (or the brand) was not available
    policy = "policy"  #: a policy or legal problem

    @property
    def label(self):
        """The factor as people read it."""
        return FACTOR_LABELS[self]


FACTOR_LABELS = {
    ExitFactor.unclear_brief: "The brief was unclear",
    ExitFactor.schedule: "Deadlines were too tight or moved",
    ExitFactor.communication: "Communication broke down",
    ExitFactor.quality: "Content quality",
    ExitFactor.audience_fit: "The audience did not fit",
    ExitFactor.budget: "Budget changes",
    ExitFactor.availability: "Availability",
    ExitFactor.policy: "A policy or legal problem",
}


class Exit(db.Model):
    """The early end of one contract: who asked, why, when it takes effect, how it settles,
    and the creator who replaces the one who left."""

    __tablename__ = "exits"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: one exit per contract
    contract_id: Mapped[int] = mapped_column(ForeignKey("contracts.id"), unique=True)
    workroom_id: Mapped[int] = mapped_column(ForeignKey("workrooms.id"), index=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), index=True)
    started_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    started_side: Mapped[Side] = mapped_column(enum_column(Side, "exit_side"))
    reason: Mapped[ExitReason] = mapped_column(enum_column(ExitReason, "exit_reason"))
    comment: Mapped[str] = mapped_column(String(2000), default="")
    for_cause: Mapped[bool] = mapped_column(Boolean, default=False)
    notice_days: Mapped[int] = mapped_column(Integer, default=0)
    #: the day the contract ends (UTC): today plus the notice period, or today
    effective_on: Mapped[date] = mapped_column(Date)
    status: Mapped[ExitStatus] = mapped_column(
        enum_column(ExitStatus, "exit_status"), default=ExitStatus.notice
    )
    closeout_id: Mapped[int | None] = mapped_column(ForeignKey("closeouts.id"))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    #: the brand's choice of outstanding deliverables to hand to a replacement
    reassign_ids: Mapped[list] = mapped_column(JSON, default=list)
    #: the latest invitation sent to a replacement creator from this exit
    invitation_id: Mapped[int | None] = mapped_column(ForeignKey("campaign_invitations.id"))
    replacement_creator_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    replacement_workroom_id: Mapped[int | None] = mapped_column(ForeignKey("workrooms.id"))
    replacement_contract_id: Mapped[int | None] = mapped_column(ForeignKey("contracts.id"))
    replaced_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    contract: Mapped[Contract] = relationship(foreign_keys=[contract_id])
    workroom: Mapped[Workroom] = relationship(foreign_keys=[workroom_id])
    started_by: Mapped[User] = relationship(foreign_keys=[started_by_id])
    replacement_creator: Mapped[User | None] = relationship(foreign_keys=[replacement_creator_id])
    replacement_contract: Mapped[Contract | None] = relationship(
        foreign_keys=[replacement_contract_id]
    )
    analysis: Mapped["ExitAnalysis | None"] = relationship(back_populates="exit", uselist=False)

    @property
    def is_over(self):
        """The contract no longer runs: the exit has ended, whether or not a sweep has
        written it down yet (a mediator's termination ends it at once)."""
        return self.status is ExitStatus.ended or self.contract.status is not ContractStatus.active

    @property
    def shown_status(self):
        """The status pages show: ended as soon as the contract is."""
        return ExitStatus.ended if self.is_over else self.status

    @property
    def days_to_replacement(self):
        """Whole days from the exit's start to the replacement's acceptance, or None."""
        if self.replaced_at is None:
            return None
        return (self.replaced_at - self.created_at).days


class ExitAnalysis(db.Model):
    """The brand's post-exit analysis: the real reason, what contributed, what would have
    prevented it. The facts beside it are read live from the contract's record."""

    __tablename__ = "exit_analyses"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    exit_id: Mapped[int] = mapped_column(ForeignKey("exits.id"), unique=True)
    reason: Mapped[ExitReason] = mapped_column(enum_column(ExitReason, "analysis_reason"))
    #: ExitFactor values ticked
    factors: Mapped[list] = mapped_column(JSON, default=list)
    prevention: Mapped[str] = mapped_column(Text, default="")
    written_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    exit: Mapped[Exit] = relationship(back_populates="analysis")
    written_by: Mapped[User] = relationship()

    @property
    def factor_labels(self):
        """The ticked factors as people read them."""
        known = {f.value: f for f in ExitFactor}
        return [known[v].label for v in self.factors if v in known]
