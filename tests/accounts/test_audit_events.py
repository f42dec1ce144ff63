"""Sign-in, sign-out, reset requests and admin actions write audit events without secrets."""

import json
import re
from datetime import timedelta

import argon2
from sqlalchemy import select

from portal.accounts import services
from portal.accounts.models import PasswordResetToken, User, UserSession
from portal.audit import AuditEvent, verify_all_chains
from portal.database import utcnow
from portal.extensions import db
from portal.notifications.models import OutboundEmail
from tests.conftest import Browserless, https_client
from tests.factories import PASSWORD

NEW_PASSWORD = "a brand new long passphrase"
RESET_LINK = re.compile(r"https://localhost/reset/([A-Za-z0-9_\-]+)")


def events(app, *actions):
    """Audit events with these actions (all when none given), oldest first."""
    with app.app_context():
        query = select(AuditEvent).order_by(AuditEvent.chain, AuditEvent.seq)
        if actions:
            query = query.where(AuditEvent.action.in_(actions))
        rows = db.session.scalars(query).all()
        db.session.expunge_all()
        return rows


def secrets_in_the_database(app):
    """Session ids and reset-token digests: none of these may appear in audit data."""
    with app.app_context():
        sids = db.session.scalars(select(UserSession.id)).all()
        digests = db.session.scalars(select(PasswordResetToken.token_hash)).all()
    return [*sids, *digests]


def assert_no_secret_in_audit_data(app, *secrets):
    """No audit event's data holds any of the secrets."""
    for event in events(app):
        serialised = json.dumps(event.data)
        for secret in secrets:
            assert secret not in serialised, f"{event.action} stores a secret: {serialised}"


def assert_chains_intact(app):
    """Every chain, the platform chain included, verifies."""
    with app.app_context():
        assert verify_all_chains()[0] == {}


def reset_token_from_mail(app, address):
    """The raw token of the reset link queued for an address."""
    with app.app_context():
        mail = db.session.scalar(
            select(OutboundEmail)
            .where(OutboundEmail.to_address == address)
            .order_by(OutboundEmail.id.desc())
        )
        return RESET_LINK.search(mail.text_body).group(1)


def test_sign_in_and_sign_out_are_audited_in_the_platform_chain(app, web, make_user):
    user = make_user(kind="creator")
    assert web.login(user.email).status_code == 302
    assert web.logout().status_code == 302

    started, ended = events(app, "session.started", "session.ended")
    assert (started.action, ended.action) == ("session.started", "session.ended")
    for event in (started, ended):
        assert event.chain == "platform" and event.workroom_id is None
        assert event.actor_id == user.id
        assert (event.object_type, event.object_id) == ("user", user.id)
    assert ended.data["reason"] == "signed_out"
    assert started.data["session"] == ended.data["session"]  # the same sign-in, named
    assert_chains_intact(app)
    assert_no_secret_in_audit_data(app, PASSWORD, *secrets_in_the_database(app))


def test_session_events_name_the_session_without_its_cookie_secret(app, web, make_user):
    user = make_user()
    web.login(user.email)
    with app.app_context():
        sid = db.session.scalar(select(UserSession.id).where(UserSession.user_id == user.id))
    (started,) = events(app, "session.started")
    assert started.data == {"session": services.session_fingerprint(sid)}
    assert sid not in json.dumps(started.data)


def test_failed_sign_in_writes_no_audit_event_only_a_log_line(app, web, make_user, caplog):
    user = make_user()
    before = len(events(app))
    response = web.login(user.email, "not the right password")
    assert response.status_code == 422
    assert len(events(app)) == before
    assert any(r.getMessage().startswith("login failed") for r in caplog.records)


def test_signing_out_twice_ends_the_session_once(app, make_user):
    user = make_user()
    with app.app_context():
        account = db.session.get(User, user.id)
        now = utcnow().replace(microsecond=0)
        record = services.start_session(account, ip_address="203.0.113.5", now=now)
        assert services.end_session(record.id, now=now + timedelta(minutes=5)) is True
        assert services.end_session(record.id, now=now + timedelta(minutes=6)) is False
        assert services.end_session("no-such-session") is False
        db.session.commit()
    started, ended = events(app, "session.started", "session.ended")
    assert started.created_at == now
    assert ended.created_at == now + timedelta(minutes=5)
    assert len(events(app, "session.ended")) == 1
    assert_chains_intact(app)


def test_reset_request_and_reset_are_audited_without_the_token(app, web, make_user):
    user = make_user(kind="creator")
    response = web.post("/forgot-password", {"email": user.email})
    assert response.status_code == 200
    token = reset_token_from_mail(app, user.email)

    (requested,) = events(app, "password.reset_requested")
    assert requested.chain == "platform"
    assert requested.actor_id == user.id
    assert (requested.object_type, requested.object_id) == ("user", user.id)
    with app.app_context():
        reset_id = db.session.scalar(select(PasswordResetToken.id))
    assert requested.data["reset_id"] == reset_id

    web.post(f"/reset/{token}", {"password": NEW_PASSWORD})
    assert web.login(user.email, NEW_PASSWORD).status_code == 302
    web.logout()

    actions = [e.action for e in events(app) if e.actor_id == user.id]
    assert actions[-4:] == [
        "password.reset_requested",
        "password.reset",
        "session.started",
        "session.ended",
    ]
    assert_chains_intact(app)
    assert_no_secret_in_audit_data(
        app,
        token,
        services.token_digest(token),
        PASSWORD,
        NEW_PASSWORD,
        *secrets_in_the_database(app),
    )


def test_reset_request_for_an_unknown_email_writes_nothing(app, web):
    before = len(events(app))
    response = web.post("/forgot-password", {"email": "nobody@example.com"})
    assert response.status_code == 200
    assert len(events(app)) == before


def test_password_change_counts_the_other_sessions_it_ends(app, make_user):
    user = make_user()
    laptop, phone = Browserless(https_client(app)), Browserless(https_client(app))
    laptop.login(user.email)
    phone.login(user.email)
    laptop.post(
        "/account/password",
        {"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        token_from="/account",
    )
    (changed,) = events(app, "password.changed")
    assert changed.data == {"sessions_ended": 1}
    # The phone's session ended with the change: that is password.changed, not a sign-out.
    assert events(app, "session.ended") == []
    assert_no_secret_in_audit_data(app, PASSWORD, NEW_PASSWORD, *secrets_in_the_database(app))


def test_admin_disabling_a_user_counts_the_sessions_it_ends(app, web, make_user):
    admin = make_user(kind="admin")
    target = make_user(kind="creator")
    Browserless(https_client(app)).login(target.email)
    web.login(admin.email)
    web.post(f"/admin/users/{target.id}/disable", token_from="/admin/users")
    (disabled,) = events(app, "account.disabled")
    assert disabled.actor_id == admin.id and disabled.object_id == target.id
    assert disabled.data == {"sessions_ended": 1}
    assert_chains_intact(app)


def test_admin_creating_a_mediator_audits_the_set_password_link_as_the_admin(app, web, make_user):
    admin = make_user(kind="admin")
    web.login(admin.email)
    web.post("/admin/mediators/new", {"name": "Mia", "email": "mia@example.com"})
    token = reset_token_from_mail(app, "mia@example.com")
    with app.app_context():
        mediator_id = db.session.scalar(select(User.id).where(User.email == "mia@example.com"))
    created, requested = events(app, "account.created", "password.reset_requested")[-2:]
    assert (created.action, created.actor_id, created.object_id) == (
        "account.created",
        admin.id,
        mediator_id,
    )
    assert (requested.action, requested.actor_id, requested.object_id) == (
        "password.reset_requested",
        admin.id,
        mediator_id,
    )
    assert_no_secret_in_audit_data(app, token, services.token_digest(token))
    assert_chains_intact(app)


def test_upgrading_a_weak_hash_at_sign_in_is_audited(app, web, make_user):
    user = make_user()
    with app.app_context():
        account = db.session.get(User, user.id)
        account.password_hash = argon2.PasswordHasher(memory_cost=4096, time_cost=1).hash(PASSWORD)
        db.session.commit()
    assert web.login(user.email).status_code == 302
    assert [e.action for e in events(app, "password.rehashed", "session.started")] == [
        "password.rehashed",
        "session.started",
    ]
    web.logout()
    web.login(user.email)
    assert len(events(app, "password.rehashed")) == 1
    assert_chains_intact(app)
