"""Calendar test data: an active contract with renewal dates, and a known feed token."""

from datetime import date

from sqlalchemy import select

from portal.accounts.services import token_digest
from portal.extensions import db
from portal.scheduling.models import CalendarFeed
from tests.deliverables.conftest import active_terms

SAMPLE_FEED_TOKEN = "sample-calendar-feed-token"


def calendar_terms(**overrides):
    """The sample terms (lines due 20 Mar and 2 Apr 2030, 1 Mar to 31 May) with a renewal on
    15 Jun 2030 and 30 days' notice, so the notice deadline is 16 May 2030."""
    return active_terms(
        **{"renewal_date": date(2030, 6, 15), "renewal_notice_days": 30, **overrides}
    )


def sample_feed_token(world):
    """A live feed of the world's "creator" with a known token, made on first use (inside the
    app context the access-control walks build their URLs in)."""
    digest = token_digest(SAMPLE_FEED_TOKEN)
    if db.session.scalar(select(CalendarFeed.id).where(CalendarFeed.token_hash == digest)) is None:
        db.session.add(CalendarFeed(user_id=world.users["creator"].id, token_hash=digest))
        db.session.commit()
    return SAMPLE_FEED_TOKEN
