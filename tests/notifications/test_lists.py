"""E-2..E-8: one-click unsubscribe, List-* headers, suppression at send time, the bounce and
complaint webhook, and what user text can do to an email."""

import hashlib
import hmac
import json
from urllib.parse import urlsplit

import pytest
from itsdangerous import URLSafeTimedSerializer
from itsdangerous.encoding import base64_encode
from sqlalchemy import func, select

from jobs.mail import deliver_email
from portal.accounts.models import User
from portal.extensions import db
from portal.notifications import lists
from portal.notifications.emails import build_message, queue_email
from portal.notifications.lists import unsubscribe_url
from portal.notifications.models import Kind, OutboundEmail, Suppression
from portal.notifications.services import notify
from tests import factories
from tests.security.test_access_control import changed_tables, db_state

ONE_CLICK = {"List-Unsubscribe": "One-Click"}
XSS = '"><img src=x onerror=alert(1)>'
SECRET = "webhook-test-secret"
WEBHOOK = "/webhooks/mail-events"


def bare_client(app):
    """A mail provider's HTTP client: no cookies, no session, no CSRF token, no Referer."""
    return app.test_client(use_cookies=False)


def suppressions(app):
    """(email, list, reason) of every stored suppression."""
    with app.app_context():
        rows = db.session.scalars(select(Suppression).order_by(Suppression.id)).all()
        found = [(row.email, row.list_id, row.reason) for row in rows]
        db.session.remove()
    return found


def unsubscribe_path(app, user_id, list_id):
    """The path of a user's one-click unsubscribe link of a list."""
    with app.app_context():
        url = unsubscribe_url(db.session.get(User, user_id), list_id)
        db.session.remove()
    assert url.startswith("https://localhost/unsubscribe/")
    return urlsplit(url).path


def queue_notification(app, email, *, title="Revision 2 was submitted", body="", name=None):
    """Notify a user (created if new) of a submission, which emails now by default; commit.

    Returns (outbound email id, its stored unsubscribe address)."""
    with app.test_request_context():
        user = db.session.scalar(select(User).where(User.email == email))
        user = user or factories.user(email=email, name=name)
        notify(user, Kind.submission, title, body=body, link="/notifications")
        db.session.commit()
        row = db.session.scalars(
            select(OutboundEmail)
            .where(OutboundEmail.to_address == email)
            .order_by(OutboundEmail.id.desc())
        ).first()
        assert row is not None and row.list_id == "notifications"
        found = row.id, row.unsubscribe_url
        db.session.remove()
    return found


def queue_reset(app, email):
    """Queue a transactional (password reset) email, as tests/jobs/test_mail.py does."""
    with app.test_request_context():
        row = queue_email(
            "password_reset",
            email,
            "Cora",
            "Reset your Duet password",
            "password_reset",
            user=type("U", (), {"name": "Cora"}),
            link="https://localhost/reset/x",
            hours=1,
        )
        db.session.commit()
        email_id = row.id
        db.session.remove()
    return email_id


def outbound(app, email_id):
    """(sent_at, skipped) of an outbound email."""
    with app.app_context():
        row = db.session.get(OutboundEmail, email_id)
        found = row.sent_at, row.skipped
        db.session.remove()
    return found


@pytest.fixture
def member(make_user):
    """A user with mail lists to leave."""
    return make_user(email="cora@example.com", name="Cora")


# E-2


@pytest.mark.parametrize("encoding", ["urlencoded", "multipart"])
def test_one_click_post_without_cookies_or_csrf_token_unsubscribes(app, member, encoding):
    path = unsubscribe_path(app, member.id, "digest")
    client = bare_client(app)
    options = {"content_type": "multipart/form-data"} if encoding == "multipart" else {}
    for _ in range(2):  # a repeat (the provider retries, the user clicks twice) is fine
        response = client.post(path, data=ONE_CLICK, base_url="https://localhost", **options)
        assert response.status_code == 200, response.get_data(as_text=True)
        assert "Location" not in response.headers
        assert "no-store" in response.headers["Cache-Control"]
        page = response.get_data(as_text=True)
        assert "You are unsubscribed" in page
        assert "Duet digest" in page
    assert suppressions(app) == [("cora@example.com", "digest", "unsubscribe")]


def test_one_click_post_with_an_empty_body_still_unsubscribes(app, member):
    # RFC 8058 names the body, but refusing a POST without it would keep sending mail.
    path = unsubscribe_path(app, member.id, "reminders")
    response = bare_client(app).post(path, base_url="https://localhost")
    assert response.status_code == 200
    assert suppressions(app) == [("cora@example.com", "reminders", "unsubscribe")]


def test_the_confirm_pages_button_unsubscribes_a_signed_in_browser_too(app, web, member):
    path = unsubscribe_path(app, member.id, "notifications")
    web.login(member.email)
    response = web.client.post(path, data=ONE_CLICK)
    assert response.status_code == 200
    assert suppressions(app) == [("cora@example.com", "notifications", "unsubscribe")]


def test_unsubscribing_one_list_leaves_the_others(app, member):
    path = unsubscribe_path(app, member.id, "digest")
    bare_client(app).post(path, data=ONE_CLICK, base_url="https://localhost")
    with app.app_context():
        assert lists.is_suppressed("Cora@Example.com", "digest")
        assert not lists.is_suppressed("cora@example.com", "notifications")
        assert not lists.is_suppressed("cora@example.com", None)  # transactional mail


# E-3


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_get_shows_a_confirm_page_and_changes_nothing(app, member, method):
    path = unsubscribe_path(app, member.id, "digest")
    before = db_state(app)
    response = bare_client(app).open(path, method=method, base_url="https://localhost")
    assert response.status_code == 200
    assert changed_tables(before, db_state(app)) == []
    assert suppressions(app) == []
    if method == "HEAD":
        return
    page = response.get_data(as_text=True)
    assert page.count("<h1") == 1
    assert "Duet digest" in page
    assert "c***@example.com" in page
    assert "cora@example.com" not in page
    assert f'<form method="post" action="{path}">' in page
    assert '<input type="hidden" name="List-Unsubscribe" value="One-Click">' in page
    assert '<button type="submit">Unsubscribe from Duet digest</button>' in page
    assert "<script>" not in page  # no inline script
    assert response.headers["X-Robots-Tag"] == "noindex"
    assert (
        response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    )  # no path to other sites


def test_get_by_a_signed_in_user_changes_nothing_either(app, web, member):
    path = unsubscribe_path(app, member.id, "notifications")
    web.login(member.email)
    response = web.client.get(path)
    assert response.status_code == 200
    assert "Unsubscribe from Duet notifications" in response.get_data(as_text=True)
    assert suppressions(app) == []


# E-4


def _tokens(app, member, other):
    """Name -> a token that must not unsubscribe anyone."""
    with app.app_context():
        good = lists.unsubscribe_token(db.session.get(User, member.id), "digest")
        secret = app.config["SECRET_KEY"]
        mine = {"u": member.id, "e": member.email, "l": "digest"}
        others = {"u": other.id, "e": other.email, "l": "digest"}
        payload, stamp, signature = good.split(".")
        swapped = base64_encode(json.dumps(others, separators=(",", ":"))).decode()
        flipped = signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB")
        tokens = {
            "tampered signature": f"{payload}.{stamp}.{flipped}",
            "tampered timestamp": f"{payload}.{stamp[:-1]}{'A' if stamp[-1] != 'A' else 'B'}"
            f".{signature}",
            "other user's email on my signature": f"{swapped}.{stamp}.{signature}",
            "signed with another key": URLSafeTimedSerializer(
                "not-our-secret", salt="duet-unsubscribe"
            ).dumps(others),
            "another salt (another feature's token)": URLSafeTimedSerializer(
                secret, salt="duet-password-reset"
            ).dumps(mine),
            "a list that does not exist": lists._serializer().dumps(dict(mine, l="marketing")),
            "the all list (bounces only)": lists._serializer().dumps(dict(mine, l="all")),
            "not a dict": lists._serializer().dumps(["digest"]),
            "garbage": "garbage",
            "dots": "a.b.c",
            "long": "x" * 600,
        }
        db.session.remove()
    return tokens


def test_bad_tokens_answer_a_uniform_404_and_change_nothing(app, member, make_user):
    other = make_user(email="ola@example.com")
    client = bare_client(app)
    before = db_state(app)
    failures = []
    for name, token in _tokens(app, member, other).items():
        for method in ("GET", "POST"):
            response = client.open(
                f"/unsubscribe/{token}", method=method, data=ONE_CLICK, base_url="https://localhost"
            )
            page = response.get_data(as_text=True)
            if response.status_code != 404 or "Page not found" not in page:
                failures.append(f"{method} {name}: {response.status_code}")
            if "Duet digest" in page or "example.com" in page:
                failures.append(f"{method} {name}: the page names the list or address")
    assert not failures, "\n".join(failures)
    assert changed_tables(before, db_state(app)) == []


def test_an_expired_token_answers_404_and_changes_nothing(app, member, monkeypatch):
    path = unsubscribe_path(app, member.id, "digest")
    monkeypatch.setattr(lists, "TOKEN_MAX_AGE", -1)
    client = bare_client(app)
    for method in ("GET", "POST"):
        response = client.open(path, method=method, data=ONE_CLICK, base_url="https://localhost")
        assert response.status_code == 404, method
    assert suppressions(app) == []
    monkeypatch.setattr(lists, "TOKEN_MAX_AGE", 365 * 24 * 3600)
    assert client.get(path, base_url="https://localhost").status_code == 200


# E-5


def test_subscription_mail_carries_list_headers_and_the_list_sender(app, app_ctx, smtp_server):
    email_id, url = queue_notification(app, "cora@example.com")
    assert url.startswith("https://localhost/unsubscribe/")
    row = db.session.get(OutboundEmail, email_id)
    built = build_message(row, app.config["MAIL_LIST_SENDER"])
    assert built["List-Unsubscribe"] == f"<{url}>"
    assert built["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert built["List-Id"] == "Duet notifications <notifications.duet.localhost>"
    db.session.rollback()

    assert deliver_email(email_id) == "sent"
    (message,) = smtp_server.to("cora@example.com")
    assert message["List-Unsubscribe"] == f"<{url}>"
    assert message.get_all("List-Unsubscribe-Post") == ["List-Unsubscribe=One-Click"]
    assert message["List-Id"] == "Duet notifications <notifications.duet.localhost>"
    assert message["From"].addresses[0].addr_spec == "updates@duet.localhost"
    assert app.config["MAIL_LIST_SENDER"].endswith("<updates@duet.localhost>")
    # The header's address is a working one-click link for this user and list.
    assert lists.read_token(urlsplit(url).path.rsplit("/", 1)[1])[1:] == (
        "cora@example.com",
        "notifications",
    )
    assert url in factories.body_text(message)  # the visible link matches the header


def test_transactional_mail_has_no_list_headers_and_its_own_sender(app, app_ctx, smtp_server):
    email_id = queue_reset(app, "cora@example.com")
    assert deliver_email(email_id) == "sent"
    (message,) = smtp_server.to("cora@example.com")
    for header in ("List-Id", "List-Unsubscribe", "List-Unsubscribe-Post"):
        assert message[header] is None, header
    assert message["From"].addresses[0].addr_spec == "no-reply@duet.localhost"
    assert app.config["MAIL_SENDER"] != app.config["MAIL_LIST_SENDER"]


# E-6


def test_unsubscribing_after_queueing_stops_the_send(app, smtp_server, run_worker):
    email_id, url = queue_notification(app, "cora@example.com")
    assert app.extensions["redis"].llen("rq:queue:mail") == 1  # queued, not sent yet
    response = bare_client(app).post(
        urlsplit(url).path, data=ONE_CLICK, base_url="https://localhost"
    )
    assert response.status_code == 200
    reset_id = queue_reset(app, "cora@example.com")

    run_worker("mail", extra_env={"MAIL_PORT": smtp_server.port})

    messages = smtp_server.to("cora@example.com")
    assert [m["Subject"] for m in messages] == ["Reset your Duet password"]
    sent_at, skipped = outbound(app, email_id)
    assert sent_at is not None and skipped == "suppressed"
    sent_at, skipped = outbound(app, reset_id)
    assert sent_at is not None and skipped == ""


def test_another_lists_unsubscribe_does_not_stop_this_one(app, app_ctx, smtp_server, member):
    path = unsubscribe_path(app, member.id, "digest")
    bare_client(app).post(path, data=ONE_CLICK, base_url="https://localhost")
    email_id, _ = queue_notification(app, member.email)
    assert deliver_email(email_id) == "sent"
    assert len(smtp_server.to(member.email)) == 1


# E-7


def signed(body, secret=SECRET):
    """Headers of a webhook call signed like the provider does."""
    return {
        "Content-Type": "application/json",
        "X-Duet-Signature": hmac.new(secret.encode(), body, hashlib.sha256).hexdigest(),
    }


EVENTS = json.dumps(
    {
        "events": [
            {"type": "bounce", "email": "cora@example.com", "id": "ev-1"},
            {"type": "complaint", "email": "Ola@Example.com", "id": "ev-2"},
            {"type": "delivered", "email": "pat@example.com", "id": "ev-3"},
            {"type": "bounce", "id": "ev-4"},  # no address: ignored
            {"type": "complaint", "email": 7, "id": "ev-5"},
            "not an event",
        ]
    }
).encode()


def post_events(app, body, headers):
    """Call the webhook as the provider does (no cookies)."""
    return bare_client(app).post(WEBHOOK, data=body, headers=headers, base_url="https://localhost")


def test_webhook_stores_each_bounce_and_complaint_once_even_when_replayed(app, monkeypatch):
    monkeypatch.setitem(app.config, "MAIL_WEBHOOK_SECRET", SECRET)
    first = post_events(app, EVENTS, signed(EVENTS))
    assert first.status_code == 200, first.get_data(as_text=True)
    assert first.get_json() == {"suppressed": 2}
    for _ in range(2):
        again = post_events(app, EVENTS, signed(EVENTS))
        assert again.status_code == 200
        assert again.get_json() == {"suppressed": 0}
    assert suppressions(app) == [
        ("cora@example.com", "all", "bounce"),
        ("ola@example.com", "all", "complaint"),
    ]


BAD_SIGNATURES = {
    "missing": lambda body: {"Content-Type": "application/json"},
    "empty": lambda body: {"Content-Type": "application/json", "X-Duet-Signature": ""},
    "another secret": lambda body: signed(body, "not-the-secret"),
    "another body": lambda body: signed(body + b" "),
    "garbage": lambda body: {"Content-Type": "application/json", "X-Duet-Signature": "zz"},
    "truncated": lambda body: {
        "Content-Type": "application/json",
        "X-Duet-Signature": signed(body)["X-Duet-Signature"][:-1],
    },
}


@pytest.mark.parametrize("case", list(BAD_SIGNATURES))
def test_webhook_with_a_bad_signature_is_refused_and_stores_nothing(app, monkeypatch, case):
    monkeypatch.setitem(app.config, "MAIL_WEBHOOK_SECRET", SECRET)
    before = db_state(app)
    response = post_events(app, EVENTS, BAD_SIGNATURES[case](EVENTS))
    assert response.status_code == 403
    assert changed_tables(before, db_state(app)) == []


def test_webhook_is_off_without_a_secret(app, monkeypatch):
    monkeypatch.setitem(app.config, "MAIL_WEBHOOK_SECRET", "")
    response = post_events(app, EVENTS, signed(EVENTS, ""))
    assert response.status_code == 404
    assert suppressions(app) == []


def test_webhook_refuses_a_signed_body_that_is_not_json(app, monkeypatch):
    monkeypatch.setitem(app.config, "MAIL_WEBHOOK_SECRET", SECRET)
    body = b"{not json"
    assert post_events(app, body, signed(body)).status_code == 400
    assert post_events(app, b"[]", signed(b"[]")).get_json() == {"suppressed": 0}
    assert suppressions(app) == []


def test_subscription_mail_to_a_bounced_address_is_skipped(app, app_ctx, smtp_server, monkeypatch):
    monkeypatch.setitem(app.config, "MAIL_WEBHOOK_SECRET", SECRET)
    assert post_events(app, EVENTS, signed(EVENTS)).status_code == 200
    for address in ("cora@example.com", "ola@example.com"):
        email_id, _ = queue_notification(app, address)
        assert deliver_email(email_id) == "sent"  # the job ran; nothing went out
        assert outbound(app, email_id)[1] == "suppressed"
        assert smtp_server.to(address) == []


# E-8


def test_user_text_is_escaped_in_html_and_cannot_inject_headers(app, app_ctx, smtp_server):
    title = f"Hello\r\nBcc: evil@example.com {XSS}"
    email_id, _ = queue_notification(
        app,
        "cora@example.com",
        title=title,
        body=f"Look {XSS}\r\nBcc: evil2@example.com",
        name="Cora\r\nBcc: evil3@example.com",
    )
    row = db.session.get(OutboundEmail, email_id)
    assert "<img" not in row.html_body
    assert "&lt;img src=x onerror=alert(1)&gt;" in row.html_body
    assert "\r" not in row.subject and "\n" not in row.subject
    built = build_message(row, app.config["MAIL_LIST_SENDER"])
    headers = built.as_string().split("\n\n", 1)[0].splitlines()  # the body may say anything
    assert built["Bcc"] is None
    assert not [line for line in headers if line.lower().startswith("bcc")]
    assert sum(line.startswith("Subject:") for line in headers) == 1
    assert sum(line.startswith("To:") for line in headers) == 1
    assert built["Subject"] == f"Hello Bcc: evil@example.com {XSS}"
    db.session.rollback()

    assert deliver_email(email_id) == "sent"
    (message,) = smtp_server.messages()
    assert message["Bcc"] is None
    assert [a.addr_spec for a in message["To"].addresses] == ["cora@example.com"]
    html = message.get_body(preferencelist=("html",)).get_content()
    assert "<img" not in html
    assert db.session.scalar(select(func.count(OutboundEmail.id))) == 1
