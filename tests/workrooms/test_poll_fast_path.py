"""The unchanged-poll shortcut (portal/workrooms/poll.py): one query, same answers as the app."""

from datetime import timedelta

import pytest
from sqlalchemy import update

from portal.accounts.models import User, UserSession
from portal.database import utcnow
from portal.extensions import db
from portal.workrooms.models import Workroom
from tests.workrooms.test_message_log import as_user, post

HX = {"HX-Request": "true"}
TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK")


def last_change(app, pair):
    """The pair's workroom change number."""
    with app.app_context():
        return db.session.get(Workroom, pair.workroom_id).last_change_seq


def poll_url(pair, since, extra=""):
    """A poll of the pair's workroom from change `since`."""
    return f"/workrooms/{pair.workroom_id}/poll?since={since}&upto={since}{extra}"


def statements_of(count_queries, request):
    """The SQL statements (transaction control left out) that `request()` runs, and its answer."""
    with count_queries() as statements:
        response = request()
    return [s for s in statements if s.strip().upper() not in TRANSACTION_CONTROL], response


@pytest.fixture
def talking(app, pair):
    """The pair with one message posted; returns (creator browser, last change number)."""
    creator = as_user(app, pair.creator)
    post(creator, pair, "Something")
    return creator, last_change(app, pair)


def set_seen(browser, seconds_ago):
    """Move the cookie's last-seen marker into the past."""
    with browser.client.session_transaction() as session:
        session["seen"] = int(utcnow().timestamp()) - seconds_ago


@pytest.mark.parametrize("person", ["creator", "owner", "viewer"])
def test_unchanged_poll_costs_one_indexed_statement(app, pair, count_queries, person):
    browser = as_user(app, getattr(pair, person))
    post(as_user(app, pair.creator), pair, "Something")
    url = poll_url(pair, last_change(app, pair))
    statements, response = statements_of(count_queries, lambda: browser.client.get(url))
    assert response.status_code == 204
    assert len(statements) == 1, statements
    assert statements[0].lstrip().upper().startswith("SELECT")
    assert "user_sessions" in statements[0] and "workrooms" in statements[0]


def test_shortcut_204_carries_the_headers_of_the_views_204(app, pair, talking):
    creator, last = talking
    fast = creator.client.get(poll_url(pair, last), headers=HX)
    # An unknown argument makes the shortcut step aside: the view answers the same poll.
    full = creator.client.get(poll_url(pair, last, "&cachebust=1"), headers=HX)
    assert fast.status_code == full.status_code == 204
    assert fast.get_data() == full.get_data() == b""
    full_headers = {k: v for k, v in full.headers.items() if k != "Set-Cookie"}
    assert dict(fast.headers.items()) == full_headers


def test_something_new_is_answered_by_the_view(app, pair, talking, count_queries):
    creator, last = talking
    post(as_user(app, pair.owner), pair, "News from the brand")
    statements, response = statements_of(
        count_queries, lambda: creator.client.get(poll_url(pair, last), headers=HX)
    )
    assert response.status_code == 200
    assert "News from the brand" in response.get_data(as_text=True)
    assert len(statements) > 1  # the full path: session, seat, changes ...


def test_outsider_gets_404_from_the_view(app, pair, talking):
    _, last = talking
    outsider = as_user(app, pair.outsider)
    assert outsider.client.get(poll_url(pair, last)).status_code == 404
    assert outsider.client.get(poll_url(pair, last), headers=HX).status_code == 404


def test_poll_of_a_missing_workroom_is_404(app, pair, talking):
    creator, last = talking
    url = f"/workrooms/{pair.workroom_id + 1000}/poll?since={last}&upto={last}"
    assert creator.client.get(url).status_code == 404


def test_anonymous_poll_is_sent_to_sign_in(app, pair, talking, client):
    _, last = talking
    response = client.get(poll_url(pair, last))
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert client.get(poll_url(pair, last), headers=HX).status_code == 401


def _revoke(app, pair):
    """End the creator's sign-ins on the server, as logging out elsewhere would."""
    with app.app_context():
        db.session.execute(
            update(UserSession)
            .where(UserSession.user_id == pair.creator.id)
            .values(revoked_at=utcnow())
        )
        db.session.commit()


def _disable(app, pair):
    """Disable the creator's account."""
    with app.app_context():
        db.session.execute(update(User).where(User.id == pair.creator.id).values(is_disabled=True))
        db.session.commit()


def _age_past_absolute_limit(app, pair):
    """Make the creator's sign-ins older than the absolute session limit."""
    with app.app_context():
        started = utcnow() - app.config["SESSION_ABSOLUTE_TIMEOUT"] - timedelta(minutes=1)
        db.session.execute(
            update(UserSession)
            .where(UserSession.user_id == pair.creator.id)
            .values(created_at=started)
        )
        db.session.commit()


def _idle_past_limit(app, pair, browser):
    """Leave the creator's cookie idle for longer than the idle limit."""
    set_seen(browser, int(app.config["SESSION_IDLE_TIMEOUT"].total_seconds()) + 60)


@pytest.mark.parametrize(
    "end_session",
    [
        lambda app, pair, browser: _revoke(app, pair),
        lambda app, pair, browser: _disable(app, pair),
        lambda app, pair, browser: _age_past_absolute_limit(app, pair),
        _idle_past_limit,
    ],
    ids=["revoked", "disabled", "absolute-limit", "idle-limit"],
)
def test_dead_session_is_refused_as_before(app, pair, talking, end_session):
    creator, last = talking
    assert creator.client.get(poll_url(pair, last)).status_code == 204
    end_session(app, pair, creator)
    assert creator.client.get(poll_url(pair, last), headers=HX).status_code == 401
    plain = creator.client.get(poll_url(pair, last))
    assert plain.status_code == 302 and "/login" in plain.headers["Location"]


def test_logged_out_cookie_is_refused(app, pair, talking):
    creator, last = talking
    with creator.client.session_transaction() as session:
        kept = dict(session)  # what an attacker copied before the logout
    creator.logout()
    with creator.client.session_transaction() as session:
        session.update(kept)
    assert creator.client.get(poll_url(pair, last), headers=HX).status_code == 401


def test_stale_seen_marker_goes_through_the_app_and_is_refreshed(app, pair, talking):
    creator, last = talking
    set_seen(creator, 120)  # past the refresh interval, inside the idle limit
    response = creator.client.get(poll_url(pair, last))
    assert response.status_code == 204
    assert "Set-Cookie" in response.headers  # the app re-signed the cookie
    with creator.client.session_transaction() as session:
        assert utcnow().timestamp() - session["seen"] < 60


def test_untrusted_host_is_refused_as_before(app, pair, talking):
    creator, last = talking
    response = creator.client.get(poll_url(pair, last), headers={"Host": "evil.example"})
    assert response.status_code == 400


@pytest.mark.parametrize(
    "query",
    ["since=abc&upto=1", "since=1&since=2", "since=%00&upto=1", "upto=1", "since=-1&upto=1"],
)
def test_odd_query_strings_are_left_to_the_view(app, pair, talking, query):
    creator, _ = talking
    fast_path_answer = creator.client.get(f"/workrooms/{pair.workroom_id}/poll?{query}")
    assert fast_path_answer.status_code in (200, 204, 400)
    assert "Set-Cookie" in fast_path_answer.headers  # answered by the app, not the shortcut
