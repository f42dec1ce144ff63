"""Account settings: name, time zone and password."""

from sqlalchemy import select

from portal.accounts.models import User
from portal.accounts.passwords import verify_password
from portal.extensions import db
from tests.factories import PASSWORD


def test_settings_change_name_and_timezone(web, make_user, app):
    user = make_user()
    web.login(user.email)
    response = web.post(
        "/account", {"name": "New Name", "timezone": "Asia/Tokyo"}, token_from="/account"
    )
    assert response.status_code == 302
    with app.app_context():
        saved = db.session.get(User, user.id)
        assert (saved.name, saved.timezone) == ("New Name", "Asia/Tokyo")


def test_times_show_in_the_users_timezone(web, make_user, app):
    owner = make_user(timezone="Asia/Tokyo")
    web.login(owner.email)
    web.post(
        f"/brands/{owner.brand_id}/team",
        {"email": "new@example.com", "role": "manager"},
    )
    html = web.client.get(f"/brands/{owner.brand_id}/team").get_data(as_text=True)
    with app.app_context():
        from portal.accounts.models import BrandInvitation

        invitation = db.session.scalar(select(BrandInvitation))
        tokyo = invitation.expires_at.astimezone(__import__("zoneinfo").ZoneInfo("Asia/Tokyo"))
    assert tokyo.strftime("%d %b %Y, %H:%M") in html


def test_password_change_needs_the_current_password(web, make_user, app):
    user = make_user()
    web.login(user.email)
    response = web.post(
        "/account/password",
        {"current_password": "wrong password", "new_password": "another long passphrase"},
        token_from="/account",
    )
    assert response.status_code == 422
    assert "Your current password is not correct." in response.get_data(as_text=True)
    with app.app_context():
        assert verify_password(db.session.get(User, user.id).password_hash, PASSWORD)


def test_password_change_keeps_this_session(web, make_user, app):
    user = make_user()
    web.login(user.email)
    response = web.post(
        "/account/password",
        {"current_password": PASSWORD, "new_password": "another long passphrase"},
        token_from="/account",
    )
    assert response.status_code == 302
    assert web.client.get("/account").status_code == 200
    with app.app_context():
        assert verify_password(
            db.session.get(User, user.id).password_hash, "another long passphrase"
        )


def test_account_changes_are_audited_in_the_platform_chain(web, make_user, app):
    from portal.audit import AuditEvent, verify_all_chains

    user = make_user()
    web.login(user.email)
    web.post("/account", {"name": "Audited", "timezone": "UTC"}, token_from="/account")
    web.post(
        "/account/password",
        {"current_password": PASSWORD, "new_password": "another long passphrase"},
        token_from="/account",
    )
    with app.app_context():
        actions = db.session.scalars(
            select(AuditEvent.action).where(AuditEvent.actor_id == user.id)
        ).all()
        assert {
            "brand.created",
            "account.settings_changed",
            "password.changed",
        } <= set(actions)
        assert verify_all_chains()[0] == {}
