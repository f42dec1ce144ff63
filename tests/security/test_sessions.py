"""Sessions: revocation, rotation on login, idle/absolute timeouts, safe `next` (AC-7..AC-11)."""

from datetime import timedelta
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import pytest

from portal.accounts.models import User, UserSession
from portal.accounts.passwords import verify_password
from portal.database import utcnow
from portal.extensions import db
from tests.conftest import Browserless, https_client
from tests.factories import PASSWORD

NEW_PASSWORD = "a brand new long passphrase"


def fresh_browser(app):
    """A fresh browser with its own cookie jar, set up like the shared `client` fixture."""
    return https_client(app)


def session_cookie(app, browser):
    """The value of the browser's session cookie, or None."""
    cookie = browser.get_cookie(app.config["SESSION_COOKIE_NAME"], domain="localhost")
    return cookie.value if cookie else None


def with_cookie(app, value):
    """A fresh browser that only carries a replayed session cookie."""
    browser = fresh_browser(app)
    browser.set_cookie(app.config["SESSION_COOKIE_NAME"], value, domain="localhost")
    return browser


def assert_sent_to_login(response):
    """The request was not served: the visitor is redirected to the sign-in page."""
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/login"


def assert_signed_in(browser):
    """The browser's session is honoured by a page that needs a signed-in user."""
    assert browser.get("/account").status_code == 200


# AC-7 ------------------------------------------------------------------------------------------


def test_logout_replay_copied_cookie_stops_working_after_logout(app, web, make_user):
    user = make_user()
    assert web.login(user.email).status_code == 302
    stolen = session_cookie(app, web.client)
    assert stolen
    assert_signed_in(with_cookie(app, stolen))  # the copy works while the session is live

    assert web.logout().status_code == 302

    assert_sent_to_login(with_cookie(app, stolen).get("/account"))
    with app.app_context():
        record = db.session.scalar(db.select(UserSession).where(UserSession.user_id == user.id))
        assert record.revoked_at is not None


def test_login_sets_no_remember_cookie_that_could_outlive_logout(app, web, make_user):
    user = make_user()
    response = web.login(user.email)
    names = {header.split("=", 1)[0] for header in response.headers.getlist("Set-Cookie")}
    assert names == {app.config["SESSION_COOKIE_NAME"]}


# AC-8 ------------------------------------------------------------------------------------------


def test_password_change_ends_other_sessions_and_keeps_this_one(app, make_user):
    user = make_user()
    laptop, phone = Browserless(fresh_browser(app)), Browserless(fresh_browser(app))
    laptop.login(user.email)
    phone.login(user.email)
    assert_signed_in(laptop.client)
    assert_signed_in(phone.client)

    response = laptop.post(
        "/account/password",
        {"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        token_from="/account",
    )

    assert response.status_code == 302
    assert_signed_in(laptop.client)
    assert_sent_to_login(phone.client.get("/account"))
    with app.app_context():
        assert verify_password(db.session.get(User, user.id).password_hash, NEW_PASSWORD)


def test_admin_disabling_a_user_ends_all_their_sessions_and_blocks_sign_in(app, web, make_user):
    admin = make_user(kind="admin")
    target = make_user(kind="creator")
    sessions = [Browserless(fresh_browser(app)) for _ in range(2)]
    for browser in sessions:
        browser.login(target.email)
        assert_signed_in(browser.client)

    web.login(admin.email)
    response = web.post(f"/admin/users/{target.id}/disable", token_from="/admin/users")
    assert response.status_code == 302

    for browser in sessions:
        assert_sent_to_login(browser.client.get("/account"))
    with app.app_context():
        open_sessions = db.session.scalars(
            db.select(UserSession).where(
                UserSession.user_id == target.id, UserSession.revoked_at.is_(None)
            )
        ).all()
        assert open_sessions == []
    again = Browserless(fresh_browser(app))
    assert again.login(target.email).status_code == 422
    assert_sent_to_login(again.client.get("/account"))


# AC-9 ------------------------------------------------------------------------------------------


def test_session_cookie_is_rotated_on_login_and_pre_login_cookie_is_not_authenticated(
    app, web, make_user
):
    user = make_user()
    web.client.get("/login")  # the login form puts its CSRF token in a pre-login session
    before = session_cookie(app, web.client)
    assert before

    assert web.login(user.email).status_code == 302
    after = session_cookie(app, web.client)

    assert after and after != before
    assert_signed_in(web.client)
    assert_sent_to_login(with_cookie(app, before).get("/account"))


def test_login_clears_whatever_the_pre_login_session_held(app, web, make_user):
    user = make_user()
    web.client.get("/login")
    with web.client.session_transaction() as session:
        session["planted"] = "by an attacker"
        session["sid"] = "a session id the attacker chose"
    web.login(user.email)
    with web.client.session_transaction() as session:
        assert "planted" not in session
        assert session["sid"] != "a session id the attacker chose"


# AC-10 -----------------------------------------------------------------------------------------


def test_timeouts_default_to_30_minutes_idle_and_12_hours_absolute(app):
    assert app.config["SESSION_IDLE_TIMEOUT"] == timedelta(minutes=30)
    assert app.config["SESSION_ABSOLUTE_TIMEOUT"] == timedelta(hours=12)


def backdate_seen(browser, by):
    """Pretend the browser's last request was `by` earlier than it was."""
    with browser.session_transaction() as session:
        session["seen"] = int((utcnow() - by).timestamp())


def backdate_created(app, user_id, by):
    """Pretend the user's sign-ins started `by` earlier than they did."""
    with app.app_context():
        for record in db.session.scalars(
            db.select(UserSession).where(UserSession.user_id == user_id)
        ):
            record.created_at = utcnow() - by
        db.session.commit()


def test_idle_session_is_sent_to_login(app, web, make_user):
    user = make_user()
    web.login(user.email)
    backdate_seen(web.client, app.config["SESSION_IDLE_TIMEOUT"] + timedelta(minutes=1))

    assert_sent_to_login(web.client.get("/account"))
    # The timed-out session stays dead even when the cookie's clock is put back.
    backdate_seen(web.client, timedelta(0))
    assert_sent_to_login(web.client.get("/account"))


def test_activity_within_the_idle_window_keeps_the_session_alive(app, web, make_user):
    user = make_user()
    web.login(user.email)
    almost_idle = app.config["SESSION_IDLE_TIMEOUT"] - timedelta(minutes=1)

    # Three requests, each just inside the idle window: 87 minutes in total since sign-in.
    for _ in range(3):
        backdate_seen(web.client, almost_idle)
        assert_signed_in(web.client)
        with web.client.session_transaction() as session:
            assert utcnow().timestamp() - session["seen"] < 60  # the request refreshed it


def test_session_past_the_absolute_limit_is_sent_to_login_despite_activity(app, web, make_user):
    user = make_user()
    web.login(user.email)
    backdate_created(app, user.id, app.config["SESSION_ABSOLUTE_TIMEOUT"] - timedelta(minutes=1))
    assert_signed_in(web.client)  # just inside the limit

    backdate_created(app, user.id, app.config["SESSION_ABSOLUTE_TIMEOUT"] + timedelta(minutes=1))
    backdate_seen(web.client, timedelta(0))  # active a moment ago

    assert_sent_to_login(web.client.get("/account"))


def test_session_cookie_lifetime_does_not_outlast_the_absolute_limit(app, web, make_user):
    user = make_user()
    response = web.login(user.email)
    cookie = next(
        value
        for value in response.headers.getlist("Set-Cookie")
        if value.startswith(app.config["SESSION_COOKIE_NAME"] + "=")
    )
    attributes = dict(
        part.strip().partition("=")[::2] for part in cookie.split(";")[1:] if "=" in part
    )
    expires = parsedate_to_datetime(attributes["Expires"])
    assert expires - utcnow() <= app.config["SESSION_ABSOLUTE_TIMEOUT"] + timedelta(seconds=5)


# AC-11 -----------------------------------------------------------------------------------------


def assert_stays_on_our_host(location):
    """A redirect target a browser resolves to this site and nowhere else."""
    assert "\\" not in location
    assert not location.startswith("//")
    assert all(ord(ch) > 32 for ch in location)
    parts = urlsplit(location)
    if parts.scheme or parts.netloc:
        assert (parts.scheme, parts.hostname) == ("https", "localhost")
    else:
        assert location.startswith("/")


@pytest.mark.parametrize(
    "hostile",
    [
        "https://evil.example",
        "//evil.example",
        "/\\evil.example",
        "javascript:alert(1)",
        "///evil.example",
        "https:evil.example",
        "\t//evil.example",
        "https://localhost.evil.example/account",
    ],
)
def test_login_ignores_a_next_that_leaves_the_site(web, make_user, hostile):
    user = make_user()
    response = web.post("/login", {"email": user.email, "password": PASSWORD, "next": hostile})

    assert response.status_code == 302
    location = response.headers["Location"]
    assert_stays_on_our_host(location)
    assert "evil.example" not in location
    assert "javascript" not in location
    assert urlsplit(location).path == "/"  # the dashboard instead


@pytest.mark.parametrize("hostile", ["https://evil.example", "//evil.example", "/\\evil.example"])
def test_next_from_the_query_string_is_checked_the_same_way(web, make_user, hostile):
    user = make_user()
    page = web.client.get("/login", query_string={"next": hostile})
    assert page.status_code == 200
    response = web.post(
        "/login", {"email": user.email, "password": PASSWORD, "next": hostile}, token_from="/login"
    )
    assert_stays_on_our_host(response.headers["Location"])
    assert urlsplit(response.headers["Location"]).path == "/"


def test_login_honours_a_next_on_this_site(web, make_user):
    user = make_user()
    response = web.post("/login", {"email": user.email, "password": PASSWORD, "next": "/account"})

    assert response.status_code == 302
    assert_stays_on_our_host(response.headers["Location"])
    assert response.headers["Location"] in ("/account", "https://localhost/account")


def test_a_page_that_needs_sign_in_round_trips_through_login(web, make_user):
    user = make_user()
    bounce = web.client.get("/account")
    assert_sent_to_login(bounce)
    login_path = bounce.headers["Location"]
    html = web.client.get(login_path).get_data(as_text=True)
    assert 'name="next"' in html and 'value="/account"' in html
    response = web.post(
        login_path,
        {"email": user.email, "password": PASSWORD, "next": "/account"},
    )
    assert response.headers["Location"] in ("/account", "https://localhost/account")
