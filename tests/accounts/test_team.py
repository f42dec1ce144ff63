"""Brand teams: owners invite teammates by email; invitees join with the invited role."""

import re

from sqlalchemy import func, select

from portal.accounts.models import BrandInvitation, BrandMembership, BrandRole, User
from portal.extensions import db
from portal.notifications.models import OutboundEmail

LINK = re.compile(r"https://localhost/invitations/(\S+)")


def invite(web, owner, email="new@example.com", role="manager", htmx=False):
    headers = {"HX-Request": "true"} if htmx else {}
    return web.post(
        f"/brands/{owner.brand_id}/team", {"email": email, "role": role}, headers=headers
    )


def invitation_token(app, email="new@example.com"):
    with app.app_context():
        mail = db.session.scalar(select(OutboundEmail).where(OutboundEmail.to_address == email))
        return LINK.search(mail.text_body).group(1)


def test_owner_invites_teammate_and_email_is_queued(web, make_user, app):
    owner = make_user()
    web.login(owner.email)
    response = invite(web, owner)
    assert response.status_code == 302
    with app.app_context():
        invitation = db.session.scalar(select(BrandInvitation))
        assert (invitation.email, invitation.role) == ("new@example.com", BrandRole.manager)
        mail = db.session.scalar(select(OutboundEmail))
        assert mail.kind == "brand_invitation"
        assert "invited you to Brand" in mail.subject
    page = web.client.get(f"/brands/{owner.brand_id}/team").get_data(as_text=True)
    assert "new@example.com" in page


def test_invite_by_htmx_answers_with_the_team_section(web, make_user):
    owner = make_user()
    web.login(owner.email)
    response = invite(web, owner, htmx=True)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<html" not in html
    assert "new@example.com" in html
    assert 'hx-swap-oob="true"' in html
    assert "HX-Request" in response.headers["Vary"]


def test_invitee_creates_account_and_joins(web, make_user, app):
    owner = make_user()
    web.login(owner.email)
    invite(web, owner, role="viewer")
    token = invitation_token(app)
    web.logout()
    response = web.post(
        f"/invitations/{token}",
        {"name": "Nia New", "password": "a long enough passphrase", "timezone": "UTC"},
    )
    assert response.status_code == 302
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == "new@example.com"))
        membership = db.session.scalar(select(BrandMembership).where(BrandMembership.user == user))
        assert membership.brand_id == owner.brand_id
        assert membership.role is BrandRole.viewer
    assert web.client.get(f"/invitations/{token}").status_code == 404  # used once


def test_existing_brand_user_accepts_while_signed_in(web, make_user, app):
    owner = make_user()
    other = make_user(email="new@example.com")
    web.login(owner.email)
    invite(web, owner)
    token = invitation_token(app)
    web.logout()
    web.login(other.email)
    assert web.post(f"/invitations/{token}", {}).status_code == 302
    with app.app_context():
        count = db.session.scalar(
            select(func.count()).where(
                BrandMembership.user_id == other.id, BrandMembership.brand_id == owner.brand_id
            )
        )
        assert count == 1


def test_managers_cannot_invite(web, make_user, app):
    owner = make_user()
    manager = make_user(brand=owner.brand_id, role="manager")
    web.login(manager.email)
    page = web.client.get(f"/brands/{owner.brand_id}/team").get_data(as_text=True)
    assert "Only owners can invite teammates." in page
    assert invite(web, manager).status_code == 403
    with app.app_context():
        assert db.session.scalar(select(BrandInvitation)) is None


def test_inviting_a_current_member_is_refused_next_to_the_field(web, make_user):
    owner = make_user()
    make_user(brand=owner.brand_id, role="manager", email="mgr@example.com")
    web.login(owner.email)
    response = invite(web, owner, email="mgr@example.com")
    assert response.status_code == 422
    assert "mgr@example.com is already on the team." in response.get_data(as_text=True)


def test_owner_withdraws_an_invitation(web, make_user, app):
    owner = make_user()
    web.login(owner.email)
    invite(web, owner)
    token = invitation_token(app)
    with app.app_context():
        invitation_id = db.session.scalar(select(BrandInvitation.id))
    response = web.post(
        f"/brands/{owner.brand_id}/invitations/{invitation_id}/revoke",
        token_from=f"/brands/{owner.brand_id}/team",
    )
    assert response.status_code == 302
    assert web.client.get(f"/invitations/{token}").status_code == 404


def test_expired_invitation_link_is_refused(web, make_user, app):
    from datetime import timedelta

    from portal.database import utcnow

    owner = make_user()
    web.login(owner.email)
    invite(web, owner)
    token = invitation_token(app)
    with app.app_context():
        invitation = db.session.scalar(select(BrandInvitation))
        invitation.expires_at = utcnow() - timedelta(seconds=1)
        db.session.commit()
    response = web.client.get(f"/invitations/{token}")
    assert response.status_code == 404
    assert "invalid, used or expired" in response.get_data(as_text=True)
