"""Campaigns of a brand and the invitations that bring creators into them."""

import enum
from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.accounts.models import Brand, User
from portal.database import UTCDateTime, enum_column, utcnow
from portal.extensions import db


class CampaignStatus(enum.Enum):
    """Where a campaign stands."""

    draft = "draft"  #: being prepared, creators not yet involved
    active = "active"  #: running; creators can be invited
    completed = "completed"  #: finished
    archived = "archived"  #: put away

    @property
    def label(self):
        """Human name."""
        return self.value.capitalize()


#: The moves a campaign may make; everything else is refused by the service.
CAMPAIGN_TRANSITIONS = {
    CampaignStatus.draft: (CampaignStatus.active, CampaignStatus.archived),
    CampaignStatus.active: (CampaignStatus.completed, CampaignStatus.archived),
    CampaignStatus.completed: (CampaignStatus.archived,),
    CampaignStatus.archived: (),
}


class InvitationStatus(enum.Enum):
    """Where an invitation to a campaign stands."""

    pending = "pending"  #: waiting on the creator
    accepted = "accepted"  #: the creator joined; the pair's workroom is open
    declined = "declined"  #: the creator said no
    withdrawn = "withdrawn"  #: the brand took it back

    @property
    def label(self):
        """Human name."""
        return self.value.capitalize()


#: An invitation leaves `pending` once, to one of these; nothing leaves them again.
INVITATION_TRANSITIONS = {
    InvitationStatus.pending: (
        InvitationStatus.accepted,
        InvitationStatus.declined,
        InvitationStatus.withdrawn,
    ),
}


class Campaign(db.Model):
    """A brand's initiative: brief, dates, budget."""

    __tablename__ = "campaigns"
    __table_args__ = (
        CheckConstraint("budget_minor >= 0", name="budget_not_negative"),
        CheckConstraint("ends_on >= starts_on", name="ends_after_start"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    brief_md: Mapped[str] = mapped_column(Text, default="")
    brief_html: Mapped[str] = mapped_column(Text, default="")
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    budget_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[CampaignStatus] = mapped_column(
        enum_column(CampaignStatus, "campaign_status"), default=CampaignStatus.draft
    )
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    brand: Mapped[Brand] = relationship()


class CampaignInvitation(db.Model):
    """A brand asks a creator (on Duet, or by email) to join a campaign."""

    __tablename__ = "campaign_invitations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), index=True)
    creator_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    email: Mapped[str | None] = mapped_column(String(254))
    #: only for invitations by email: SHA-256 of the link token
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    message: Mapped[str] = mapped_column(String(2000), default="")
    status: Mapped[InvitationStatus] = mapped_column(
        enum_column(InvitationStatus, "campaign_invitation_status"),
        default=InvitationStatus.pending,
    )
    invited_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    responded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    workroom_id: Mapped[int | None] = mapped_column(ForeignKey("workrooms.id"))

    campaign: Mapped[Campaign] = relationship()
    creator: Mapped[User | None] = relationship(foreign_keys=[creator_id])
    invited_by: Mapped[User] = relationship(foreign_keys=[invited_by_id])

    def is_expired(self, now=None):
        """A pending invitation past its expiry can no longer be answered."""
        return self.status is InvitationStatus.pending and self.expires_at <= (now or utcnow())

    def is_open(self, now=None):
        """Pending and not expired: the creator may still accept or decline."""
        return self.status is InvitationStatus.pending and not self.is_expired(now)

    @property
    def state_label(self):
        """What pages show: the status, or "Expired" for a pending one past its date."""
        return "Expired" if self.is_expired() else self.status.label

    @property
    def invitee_label(self):
        """The creator's display name, or the email for an invitation not yet claimed."""
        if self.creator is not None and self.creator.creator_profile is not None:
            return self.creator.creator_profile.display_name
        if self.creator is not None:
            return self.creator.name
        return self.email or ""
