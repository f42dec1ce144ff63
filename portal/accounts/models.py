"""Users, their sessions, brands and their members, creator profiles."""

import enum
from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.database import UTCDateTime, enum_column, utcnow
from portal.extensions import db


class AccountKind(enum.Enum):
    """What a user is on the platform."""

    brand = "brand"  #: member of one or more brand organisations
    creator = "creator"  #: has a creator profile
    mediator = "mediator"  #: platform staff working the mediation queue
    admin = "admin"  #: platform staff managing users and brands


class BrandRole(enum.Enum):
    """A member's role inside a brand organisation."""

    owner = "owner"  #: manages the team, the brand and everything a manager does
    manager = "manager"  #: runs campaigns and contracts
    viewer = "viewer"  #: sees everything, changes nothing


class Platform(enum.Enum):
    """Social platforms a creator publishes on."""

    instagram = "instagram"  #: Instagram
    tiktok = "tiktok"  #: TikTok
    youtube = "youtube"  #: YouTube
    x = "x"  #: X (Twitter)
    twitch = "twitch"  #: Twitch
    pinterest = "pinterest"  #: Pinterest
    blog = "blog"  #: a blog or website

    @property
    def label(self):
        """Human name of the platform."""
        return PLATFORM_LABELS[self]


PLATFORM_LABELS = {
    Platform.instagram: "Instagram",
    Platform.tiktok: "TikTok",
    Platform.youtube: "YouTube",
    Platform.x: "X",
    Platform.twitch: "Twitch",
    Platform.pinterest: "Pinterest",
    Platform.blog: "Blog",
}


class RateKind(enum.Enum):
    """Kinds of content a creator quotes a rate for."""

    post = "post"  #: a feed post
    story = "story"  #: a story
    reel = "reel"  #: a short video
    video = "video"  #: a long video
    blog = "blog"  #: a blog article


class User(UserMixin, db.Model):
    """A person who signs in."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    kind: Mapped[AccountKind] = mapped_column(enum_column(AccountKind, "account_kind"))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    is_disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    memberships: Mapped[list["BrandMembership"]] = relationship(
        back_populates="user", cascade="all, delete-orphan"
    )
    creator_profile: Mapped["CreatorProfile | None"] = relationship(
        back_populates="user", cascade="all, delete-orphan", uselist=False
    )

    @property
    def is_active(self):
        """Disabled users cannot sign in (Flask-Login asks this)."""
        return not self.is_disabled

    @property
    def is_admin(self):
        """Platform administrator."""
        return self.kind is AccountKind.admin

    @property
    def is_mediator(self):
        """Platform mediator."""
        return self.kind is AccountKind.mediator

    @property
    def is_creator(self):
        """Has a creator account."""
        return self.kind is AccountKind.creator

    def __repr__(self):
        return f"<User {self.id} {self.email}>"


class UserSession(db.Model):
    """A signed-in browser session; revoking it ends that sign-in for good."""

    __tablename__ = "user_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    user_agent: Mapped[str] = mapped_column(String(255), default="")
    ip_address: Mapped[str] = mapped_column(String(64), default="")

    # Loaded with the session in one query: every signed-in request needs both.
    user: Mapped[User] = relationship(lazy="joined")


class PasswordResetToken(db.Model):
    """A single-use, expiring password reset link; only its hash is stored."""

    __tablename__ = "password_reset_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship()


class Brand(db.Model):
    """An organisation that runs campaigns."""

    __tablename__ = "brands"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    memberships: Mapped[list["BrandMembership"]] = relationship(
        back_populates="brand", cascade="all, delete-orphan", order_by="BrandMembership.id"
    )


class BrandMembership(db.Model):
    """A user's role in a brand."""

    __tablename__ = "brand_memberships"
    __table_args__ = (UniqueConstraint("brand_id", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[BrandRole] = mapped_column(enum_column(BrandRole, "brand_role"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    brand: Mapped[Brand] = relationship(back_populates="memberships")
    user: Mapped[User] = relationship(back_populates="memberships")


class BrandInvitation(db.Model):
    """An emailed invitation to join a brand's team; only the token's hash is stored."""

    __tablename__ = "brand_invitations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(254))
    role: Mapped[BrandRole] = mapped_column(enum_column(BrandRole, "invitation_role"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    invited_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    brand: Mapped[Brand] = relationship()
    invited_by: Mapped[User] = relationship()


class CreatorProfile(db.Model):
    """What brands see of a creator in the roster."""

    __tablename__ = "creator_profiles"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    display_name: Mapped[str] = mapped_column(String(120))
    bio: Mapped[str] = mapped_column(String(2000), default="")
    audience_size: Mapped[int] = mapped_column(BigInteger, default=0)
    currency: Mapped[str] = mapped_column(String(3), default="USD")

    user: Mapped[User] = relationship(back_populates="creator_profile")
    handles: Mapped[list["CreatorHandle"]] = relationship(
        cascade="all, delete-orphan", order_by="CreatorHandle.platform"
    )
    niches: Mapped[list["CreatorNiche"]] = relationship(
        cascade="all, delete-orphan", order_by="CreatorNiche.name"
    )
    rates: Mapped[list["CreatorRate"]] = relationship(
        cascade="all, delete-orphan", order_by="CreatorRate.kind"
    )


class CreatorHandle(db.Model):
    """A creator's handle on one platform."""

    __tablename__ = "creator_handles"
    __table_args__ = (UniqueConstraint("profile_id", "platform"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    profile_id: Mapped[int] = mapped_column(
        ForeignKey("creator_profiles.id", ondelete="CASCADE"), index=True
    )
    platform: Mapped[Platform] = mapped_column(enum_column(Platform, "platform"))
    handle: Mapped[str] = mapped_column(String(100), index=True)


class CreatorNiche(db.Model):
    """A topic a creator covers, lower-cased for search."""

    __tablename__ = "creator_niches"
    __table_args__ = (UniqueConstraint("profile_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    profile_id: Mapped[int] = mapped_column(
        ForeignKey("creator_profiles.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(40), index=True)


class CreatorRate(db.Model):
    """A creator's asking price for one kind of content, in minor units."""

    __tablename__ = "creator_rates"
    __table_args__ = (
        UniqueConstraint("profile_id", "kind"),
        CheckConstraint("amount_minor > 0", name="amount_positive"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    profile_id: Mapped[int] = mapped_column(
        ForeignKey("creator_profiles.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[RateKind] = mapped_column(enum_column(RateKind, "rate_kind"))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
