"""Personal calendar feeds: a secret address per user; only the token's SHA-256 is stored."""

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.accounts.models import User
from portal.database import UTCDateTime, utcnow
from portal.extensions import db


class CalendarFeed(db.Model):
    """A user's iCal subscription address; revoked ones are kept for the record."""

    __tablename__ = "calendar_feeds"
    __table_args__ = (
        # One live address per user, whatever two concurrent regenerations do.
        Index(
            "uq_calendar_feeds_one_live",
            "user_id",
            unique=True,
            sqlite_where=text("revoked_at IS NULL"),
            postgresql_where=text("revoked_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    #: SHA-256 of the secret in the address: a database leak opens no calendar
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship()

    @property
    def is_live(self):
        """The address still answers."""
        return self.revoked_at is None
