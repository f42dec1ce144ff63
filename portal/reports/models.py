"""Performance results: dated readings of a live deliverable's figures."""

import enum
from datetime import date, datetime

from sqlalchemy import BigInteger, CheckConstraint, Date, ForeignKey, Integer, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.accounts.models import User
from portal.database import UTCDateTime, enum_column, utcnow
from portal.deliverables.models import Deliverable
from portal.extensions import db

#: the figures a reading holds, in the order pages and CSV files show them
METRICS = (
    "reach",
    "impressions",
    "views",
    "likes",
    "comments",
    "shares",
    "saves",
    "clicks",
    "conversions",
)
#: the figures that add up to engagements (the report pages state this definition)
ENGAGEMENT_METRICS = ("likes", "comments", "shares", "saves")
METRIC_LABELS = {
    "reach": "Reach",
    "impressions": "Impressions",
    "views": "Views",
    "likes": "Likes",
    "comments": "Comments",
    "shares": "Shares",
    "saves": "Saves",
    "clicks": "Clicks",
    "conversions": "Conversions",
}
#: no platform counts this high; a larger figure is a typing or export mistake
MAX_FIGURE = 10**15


class ResultSource(enum.Enum):
    """Where a reading came from."""

    manual = "manual"  #: typed by the creator on the deliverable's results page
    csv = "csv"  #: imported by the brand from a CSV file


class PerformanceResult(db.Model):
    """The figures of one live deliverable as measured on one day.

    A deliverable keeps a history of readings; reports use the latest one. Recording the
    same day again corrects that day's reading.
    """

    __tablename__ = "performance_results"
    __table_args__ = (
        UniqueConstraint("deliverable_id", "measured_on"),
        *(CheckConstraint(f"{name} >= 0", name=f"{name}_not_negative") for name in METRICS),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    deliverable_id: Mapped[int] = mapped_column(ForeignKey("deliverables.id"), index=True)
    measured_on: Mapped[date] = mapped_column(Date)
    reach: Mapped[int] = mapped_column(BigInteger, default=0)
    impressions: Mapped[int] = mapped_column(BigInteger, default=0)
    views: Mapped[int] = mapped_column(BigInteger, default=0)
    likes: Mapped[int] = mapped_column(BigInteger, default=0)
    comments: Mapped[int] = mapped_column(BigInteger, default=0)
    shares: Mapped[int] = mapped_column(BigInteger, default=0)
    saves: Mapped[int] = mapped_column(BigInteger, default=0)
    clicks: Mapped[int] = mapped_column(BigInteger, default=0)
    conversions: Mapped[int] = mapped_column(BigInteger, default=0)
    source: Mapped[ResultSource] = mapped_column(enum_column(ResultSource, "result_source"))
    recorded_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    deliverable: Mapped[Deliverable] = relationship()
    recorded_by: Mapped[User] = relationship()

    @property
    def figures(self):
        """{metric: value} in METRICS order."""
        return {name: getattr(self, name) for name in METRICS}

    @property
    def engagements(self):
        """Likes + comments + shares + saves."""
        return sum(getattr(self, name) for name in ENGAGEMENT_METRICS)
