"""Admins list and search users, add mediators, disable and enable accounts, read dev mail."""

import re

from sqlalchemy import select

from portal.accounts.models import AccountKind, PasswordResetToken, User
from portal.extensions import db
from portal.notifications.models import OutboundEmail
from tests.conftest import Browserless, https_client


def test_user_list_searches_and_paginates(web, make_user):
    admin = make_user(kind="admin", name="Ada Admin")
    for n in range(30):
        make_user(kind="creator", email=f"creator{n}@example.com", name=f"Creator {n}")
    web.login(admin.email)
    first = web.client.get("/admin/users").get_data(as_text=True)
    assert "Page 1 of 2 (31 users)" in first
    found = web.client.get("/admin/users?q=creator7").get_data(as_text=True)
    assert "creator7@example.com" in found
    assert "creator8@example.com" not in found
    assert "Page 1 of 1 (1 users)" in found


def test_user_search_fragment_for_htmx(web, make_user):
    admin = make_user(kind="admin")
    web.login(admin.email)
    response = web.client.get("/admin/users?q=nobody", headers={"HX-Request": "true"})
    html = response.get_data(as_text=True)
    assert "<html" not in html
    assert "No users match" in html


def test_admin_adds_a_mediator_who_gets_a_set_password_link(web, make_user, app):
    admin = make_user(kind="admin")
    web.login(admin.email)
    response = web.post("/admin/mediators/new", {"name": "Mia", "email": "mia@example.com"})
    assert response.status_code == 302
    with app.app_context():
        mediator = db.session.scalar(select(User).where(User.email == "mia@example.com"))
        assert mediator.kind is AccountKind.mediator
        assert mediator.password_hash is None
        mail = db.session.scalar(select(OutboundEmail))
        assert mail.to_address == "mia@example.com"
        token = re.search(r"https://localhost/reset/(\S+)", mail.text_body).group(1)
        assert db.session.scalar(select(PasswordResetToken.user_id)) == mediator.id
    web.logout()
    response = web.post(f"/reset/{token}", {"password": "mediating since 2026"})
    assert response.status_code == 302
    assert web.login("mia@example.com", "mediating since 2026").status_code == 302


def test_new_mediator_with_taken_email_gets_a_field_message(web, make_user):
    admin = make_user(kind="admin")
    make_user(email="taken@example.com")
    web.login(admin.email)
    response = web.post("/admin/mediators/new", {"name": "Mia", "email": "taken@example.com"})
    assert response.status_code == 422
    assert "already exists" in response.get_data(as_text=True)


def test_disable_ends_sessions_and_enable_restores_sign_in(web, make_user, app):
    admin = make_user(kind="admin")
    target = make_user(kind="creator")
    victim_client = https_client(app)
    victim = Browserless(victim_client)
    victim.login(target.email)
    assert victim_client.get("/account").status_code == 200

    web.login(admin.email)
    response = web.post(
        f"/admin/users/{target.id}/disable",
        token_from="/admin/users",
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    assert "Enable" in response.get_data(as_text=True)
    assert victim_client.get("/account").status_code == 302
    assert victim.login(target.email).status_code == 422

    web.post(f"/admin/users/{target.id}/enable", token_from="/admin/users")
    assert victim.login(target.email).status_code == 302


def test_admin_cannot_disable_themselves(web, make_user, app):
    admin = make_user(kind="admin")
    web.login(admin.email)
    response = web.post(f"/admin/users/{admin.id}/disable", token_from="/admin/users")
    assert response.status_code == 409
    with app.app_context():
        assert not db.session.get(User, admin.id).is_disabled


def test_dev_mail_page_lists_what_the_sink_received(web, make_user, app, smtp_server, run_worker):
    admin = make_user(kind="admin")
    make_user(email="forgetful@example.com")
    web.post("/forgot-password", {"email": "forgetful@example.com"})
    run_worker("mail", extra_env={"MAIL_PORT": smtp_server.port})
    app.config["DEV_MAILDIR"] = smtp_server.path
    try:
        web.login(admin.email)
        listing = web.client.get("/admin/mail").get_data(as_text=True)
        assert "Reset your Duet password" in listing
        key = re.search(r'href="/admin/mail/([^"]+)"', listing).group(1)
        message = web.client.get(f"/admin/mail/{key}").get_data(as_text=True)
        assert "forgetful@example.com" in message
        assert "/reset/" in message
        assert web.client.get("/admin/mail/..%2F..%2Fetc").status_code == 404
    finally:
        app.config["DEV_MAILDIR"] = None
