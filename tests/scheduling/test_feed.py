"""The personal iCal feed: a secret address (only its hash kept), stable UIDs, revocation."""

import hashlib
import html
import re
from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlsplit

import pytest
from icalendar import Calendar
from sqlalchemy import func, select

from portal.accounts.models import User
from portal.audit import AuditEvent
from portal.deliverables.models import Deliverable
from portal.extensions import db
from portal.scheduling.models import CalendarFeed
from tests.conftest import https_client

HX = {"HX-Request": "true"}
FEED_URL = re.compile(r'id="feed-url" type="text" readonly value="([^"]+)"')


def make_feed(web, who):
    """Sign in and press "Make a (new) feed address"; the path of the address shown."""
    web.login(who.email)
    response = web.post("/calendar/feed", {"regenerate": "x"}, token_from="/calendar")
    assert response.status_code == 200
    match = FEED_URL.search(response.get_data(as_text=True))
    assert match, "the new address is not on the page"
    url = html.unescape(match.group(1))
    assert url.startswith("https://localhost/calendar/feeds/")
    return urlsplit(url).path


def fetch(app, path):
    """Fetch the feed the way a calendar app does: no cookies."""
    return https_client(app).get(path)


def parsed(response):
    assert response.status_code == 200
    return {str(e["UID"]): e for e in Calendar.from_ical(response.data).walk("VEVENT")}


def test_the_feed_holds_every_event_with_stable_uids(app, web, ours):
    path = make_feed(web, ours.pair.creator)
    response = fetch(app, path)
    assert response.mimetype == "text/calendar"
    assert response.headers["Cache-Control"] == "private, no-store"
    events = parsed(response)
    video, contract = ours.deliverable_ids[0], ours.contract_id
    assert set(events) == {
        f"deliverable-{video}-due@duet",
        f"deliverable-{ours.deliverable_ids[1]}-due@duet",
        f"contract-{contract}-starts@duet",
        f"contract-{contract}-ends@duet",
        f"contract-{contract}-renewal@duet",
        f"contract-{contract}-renewal-notice@duet",
    }
    due = events[f"deliverable-{video}-due@duet"]
    assert due.decoded("DTSTART") == datetime(2030, 3, 20, 23, 59, tzinfo=UTC)
    assert str(due["SUMMARY"]) == "Due: Trail video (Pending)"
    assert str(due["URL"]) == f"https://localhost/workrooms/{ours.workroom_id}/deliverables/{video}"
    assert "DTSTAMP" in due
    notice = events[f"contract-{contract}-renewal-notice@duet"]
    assert notice.decoded("DTSTART") == date(2030, 5, 16)  # an all-day DATE value
    assert b"DTSTART;VALUE=DATE:20300516" in response.data
    assert str(notice["URL"]) == f"https://localhost/contracts/{contract}"


def test_a_moved_due_date_keeps_its_uid(app, web, ours):
    path = make_feed(web, ours.pair.owner)
    uid = f"deliverable-{ours.deliverable_ids[0]}-due@duet"
    before = parsed(fetch(app, path))[uid].decoded("DTSTART")
    with app.app_context():
        deliverable = db.session.get(Deliverable, ours.deliverable_ids[0])
        deliverable.due_at = deliverable.due_at + timedelta(days=3)
        db.session.commit()
    after = parsed(fetch(app, path))[uid].decoded("DTSTART")
    assert after == before + timedelta(days=3)


def test_only_the_hash_of_the_address_is_stored(app, web, ours):
    path = make_feed(web, ours.pair.creator)
    token = path.rsplit("/", 1)[1].removesuffix(".ics")
    with app.app_context():
        feed = db.session.scalar(select(CalendarFeed))
        assert feed.token_hash == hashlib.sha256(token.encode()).hexdigest()
        assert feed.user_id == ours.pair.creator.id
        actions = db.session.scalars(select(AuditEvent.action)).all()
        assert "calendar.feed_issued" in actions
    # Visiting the calendar again says the feed is on, but cannot show the address.
    again = web.client.get("/calendar").get_data(as_text=True)
    assert "Your calendar feed is on since" in again and token not in again


def test_a_revoked_address_answers_404(app, web, ours):
    path = make_feed(web, ours.pair.owner)
    response = web.post("/calendar/feed", {"revoke": "x"}, token_from="/calendar")
    assert response.status_code == 303
    assert fetch(app, path).status_code == 404
    page = web.client.get("/calendar").get_data(as_text=True)
    assert "Your calendar feed is off" in page and "Make a feed address" in page
    again = web.post("/calendar/feed", {"revoke": "x"}, token_from="/calendar")
    assert again.status_code == 303  # already off: said so, nothing changed


def test_a_new_address_replaces_the_old_one(app, web, ours):
    old = make_feed(web, ours.pair.owner)
    new = web.post("/calendar/feed", {"regenerate": "x"}, token_from="/calendar")
    new_path = urlsplit(html.unescape(FEED_URL.search(new.get_data(as_text=True)).group(1))).path
    assert new_path != old
    assert fetch(app, old).status_code == 404
    assert fetch(app, new_path).status_code == 200
    with app.app_context():
        live = select(func.count()).where(CalendarFeed.revoked_at.is_(None))
        assert db.session.scalar(live.select_from(CalendarFeed)) == 1


def test_htmx_gets_only_the_feed_panel(web, ours):
    web.login(ours.pair.owner.email)
    response = web.post("/calendar/feed", {"regenerate": "x"}, token_from="/calendar", headers=HX)
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in body
    assert FEED_URL.search(body) and 'id="calendar-heading"' not in body
    revoked = web.post("/calendar/feed", {"revoke": "x"}, token_from="/calendar", headers=HX)
    assert revoked.status_code == 200 and "Your calendar feed is off" in revoked.get_data(True)
    again = web.post("/calendar/feed", {"revoke": "x"}, token_from="/calendar", headers=HX)
    assert again.status_code == 409 and "already off" in again.get_data(True)


def test_the_feed_reaches_a_year_back_and_every_date_ahead(app, web, ours):
    path = make_feed(web, ours.pair.creator)
    now = datetime.now(UTC)
    with app.app_context():
        video, story = (db.session.get(Deliverable, i) for i in ours.deliverable_ids)
        video.due_at, story.due_at = now - timedelta(days=300), now - timedelta(days=400)
        db.session.commit()
    uids = set(parsed(fetch(app, path)))
    assert f"deliverable-{ours.deliverable_ids[0]}-due@duet" in uids
    assert f"deliverable-{ours.deliverable_ids[1]}-due@duet" not in uids
    assert f"contract-{ours.contract_id}-renewal@duet" in uids  # 2030


@pytest.mark.parametrize("token", ["unknown", "a" * 43, "%00"])
def test_an_unknown_address_answers_404(app, ours, token):
    assert fetch(app, f"/calendar/feeds/{token}.ics").status_code in (400, 404)


def test_a_disabled_users_feed_answers_404(app, web, ours):
    path = make_feed(web, ours.pair.creator)
    with app.app_context():
        db.session.get(User, ours.pair.creator.id).is_disabled = True
        db.session.commit()
    assert fetch(app, path).status_code == 404


def test_the_feed_is_rate_limited_per_address(app, web, ours, monkeypatch):
    from portal.scheduling import views

    path = make_feed(web, ours.pair.creator)
    statuses = [fetch(app, path).status_code for _ in range(21)]
    assert statuses[:20] == [200] * 20 and statuses[20] == 429
    assert views.FEED_LIMIT.startswith("20 per minute")
