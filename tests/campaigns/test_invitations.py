"""Inviting creators, answering invitations, and joining through an emailed link."""

import re
from datetime import timedelta

from sqlalchemy import func, select

from portal.audit import AuditEvent
from portal.campaigns.models import CampaignInvitation, InvitationStatus
from portal.database import utcnow
from portal.extensions import db
from portal.notifications.models import OutboundEmail
from portal.workrooms.models import Message, Workroom
from tests.factories import body_text

LINK = re.compile(r"https://localhost/campaigns/invitations/(\S+)")


def invite(web, team, creator_id=None, message="We love your trail videos.", campaign_id=None):
    campaign_id = campaign_id or team.campaign_id
    return web.post(
        f"/campaigns/{campaign_id}/invitations",
        {"creator_id": str(creator_id or team.creator.id), "message": message},
        token_from=f"/campaigns/{campaign_id}",
    )


def invitation_row(app, **where):
    with app.app_context():
        query = select(CampaignInvitation).order_by(CampaignInvitation.id.desc())
        for key, value in where.items():
            query = query.where(getattr(CampaignInvitation, key) == value)
        row = db.session.scalars(query).first()
        db.session.expunge_all()
        return row


def audit_actions(app):
    with app.app_context():
        return db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()


def answer(web, invitation_id, verb):
    page = f"/invitations/campaigns/{invitation_id}"
    return web.post(f"{page}/{verb}", token_from=page)


def test_invite_from_roster_then_creator_accepts_into_the_workroom(web, team, app):
    web.login(team.manager.email)
    response = invite(web, team)
    assert response.status_code == 302
    assert f"campaign={team.campaign_id}" in response.headers["Location"]
    roster = web.client.get(response.headers["Location"]).get_data(as_text=True)
    assert "is invited to Spring Trails" in roster and "Invited" in roster
    invitation = invitation_row(app)
    assert invitation.message == "We love your trail videos."
    with app.app_context():
        mail = db.session.scalar(select(OutboundEmail))
        assert mail.kind == "campaign_invitation" and mail.to_address == team.creator.email
        assert f"/invitations/campaigns/{invitation.id}" in mail.text_body
    web.logout()

    web.login(team.creator.email)
    assert "Spring Trails" in web.client.get("/").get_data(as_text=True)  # dashboard
    listing = web.client.get("/invitations/campaigns").get_data(as_text=True)
    assert "Spring Trails" in listing and "Waiting for your answer" in listing
    page = web.client.get(f"/invitations/campaigns/{invitation.id}").get_data(as_text=True)
    assert "We love your trail videos." in page and "<strong>our boots</strong>" in page
    response = answer(web, invitation.id, "accept")
    assert response.status_code == 302
    invitation = invitation_row(app)
    assert invitation.status is InvitationStatus.accepted
    assert response.headers["Location"].endswith(f"/workrooms/{invitation.workroom_id}")
    with app.app_context():
        log = db.session.scalars(
            select(Message.body_md).where(Message.workroom_id == invitation.workroom_id)
        ).all()
        assert log == ["Cora on the Trail accepted the invitation to **Spring Trails**."]
    assert "campaign_invitation.accepted" in audit_actions(app)
    assert answer(web, invitation.id, "accept").status_code == 409  # only once


def test_second_campaign_accepted_by_the_same_pair_reuses_the_workroom(web, team, app):
    web.login(team.owner.email)
    web.post(
        f"/brands/{team.brand_id}/campaigns/new",
        {
            "name": "Summer Peaks",
            "starts_on": "2030-06-01",
            "ends_on": "2030-08-31",
            "budget": "9,000",
            "currency": "EUR",
        },
    )
    second = invitation_row(app)  # none yet: the new campaign is a draft
    assert second is None
    with app.app_context():
        from portal.campaigns.models import Campaign

        summer = db.session.scalar(select(Campaign.id).where(Campaign.name == "Summer Peaks"))
    web.post(f"/campaigns/{summer}/status", {"status": "active"}, token_from=f"/campaigns/{summer}")
    invite(web, team)
    invite(web, team, campaign_id=summer)
    first, second = (
        invitation_row(app, campaign_id=team.campaign_id),
        invitation_row(app, campaign_id=summer),
    )
    web.logout()
    web.login(team.creator.email)
    answer(web, first.id, "accept")
    answer(web, second.id, "accept")
    with app.app_context():
        rooms = db.session.scalars(select(Workroom.id)).all()
        assert len(rooms) == 1
        assert db.session.scalar(select(func.count()).select_from(Message)) == 2
    assert invitation_row(app, id=second.id).workroom_id == rooms[0]


def test_duplicate_pending_invitation_gets_a_clear_message(web, team, app):
    web.login(team.owner.email)
    invite(web, team)
    response = invite(web, team)
    page = web.client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Cora on the Trail already has a pending invitation to Spring Trails." in page
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(CampaignInvitation)) == 1


def test_creator_declines(web, team, app):
    web.login(team.owner.email)
    invite(web, team)
    invitation = invitation_row(app)
    web.logout()
    web.login(team.creator.email)
    response = answer(web, invitation.id, "decline")
    assert response.status_code == 302
    assert invitation_row(app).status is InvitationStatus.declined
    assert "Declined" in web.client.get("/invitations/campaigns").get_data(as_text=True)
    response = answer(web, invitation.id, "accept")
    assert response.status_code == 409
    assert "already declined" in response.get_data(as_text=True)
    assert "campaign_invitation.declined" in audit_actions(app)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Workroom)) == 0


def test_brand_withdraws_a_pending_invitation(web, team, app):
    web.login(team.owner.email)
    invite(web, team)
    invitation = invitation_row(app)
    show = f"/campaigns/{team.campaign_id}"
    page = web.client.get(show).get_data(as_text=True)
    assert '<details class="confirm">' in page and "Withdraw the invitation" in page
    response = web.post(
        f"{show}/invitations/{invitation.id}/withdraw",
        token_from=show,
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    fragment = response.get_data(as_text=True)
    assert "<html" not in fragment and "Withdrawn" in fragment
    assert "campaign_invitation.withdrawn" in audit_actions(app)
    web.logout()
    web.login(team.creator.email)
    assert answer(web, invitation.id, "accept").status_code == 409
    assert invitation_row(app).status is InvitationStatus.withdrawn


def test_creators_cannot_see_or_answer_other_creators_invitations(web, team, app):
    web.login(team.owner.email)
    invite(web, team)
    invitation = invitation_row(app)
    web.logout()
    web.login(team.other_creator.email)
    assert web.client.get(f"/invitations/campaigns/{invitation.id}").status_code == 404
    assert answer(web, invitation.id, "accept").status_code == 404
    assert "Spring Trails" not in web.client.get("/invitations/campaigns").get_data(as_text=True)
    assert invitation_row(app).status is InvitationStatus.pending


def test_expired_invitation_shows_as_expired_and_cannot_be_accepted(web, team, app):
    web.login(team.owner.email)
    invite(web, team)
    with app.app_context():
        row = db.session.scalar(select(CampaignInvitation))
        row.expires_at = utcnow() - timedelta(seconds=1)
        db.session.commit()
        invitation_id = row.id
    web.logout()
    web.login(team.creator.email)
    assert "Expired" in web.client.get("/invitations/campaigns").get_data(as_text=True)
    response = answer(web, invitation_id, "accept")
    assert response.status_code == 409 and "expired" in response.get_data(as_text=True)


def email_invite(web, team, email="nell@example.com", htmx=False):
    show = f"/campaigns/{team.campaign_id}"
    return web.post(
        f"{show}/invitations/email",
        {"email": email, "message": "Come hike with us"},
        token_from=show,
        headers={"HX-Request": "true"} if htmx else {},
    )


def test_email_invitation_delivered_then_signup_then_accept(
    web, team, app, smtp_server, run_worker
):
    web.login(team.owner.email)
    assert email_invite(web, team).status_code == 302
    run_worker("mail", extra_env={"MAIL_PORT": smtp_server.port})
    [message] = smtp_server.to("nell@example.com")
    assert "invited you to Spring Trails" in message["Subject"]
    token = LINK.search(body_text(message)).group(1)
    row = invitation_row(app)
    assert row.token_hash != token and len(row.token_hash) == 64
    web.logout()

    page = web.client.get(f"/campaigns/invitations/{token}")
    assert page.status_code == 200 and "Come hike with us" in page.get_data(as_text=True)
    weak = web.post(
        f"/campaigns/invitations/{token}",
        {"name": "Nell New", "password": "nell@example.com", "timezone": "UTC"},
    )
    assert weak.status_code == 422  # the sign-up password policy applies
    response = web.post(
        f"/campaigns/invitations/{token}",
        {"name": "Nell New", "password": "a long enough passphrase", "timezone": "Europe/Paris"},
    )
    assert response.status_code == 302
    invitation = invitation_row(app)
    assert response.headers["Location"].endswith(f"/invitations/campaigns/{invitation.id}")
    assert invitation.creator_id is not None and invitation.token_hash is None
    assert web.client.get(f"/campaigns/invitations/{token}").status_code == 404  # single use
    assert answer(web, invitation.id, "accept").status_code == 302
    assert invitation_row(app).status is InvitationStatus.accepted
    actions = audit_actions(app)
    for action in (
        "campaign_invitation.sent",
        "campaign_invitation.claimed",
        "campaign_invitation.accepted",
    ):
        assert action in actions


def test_email_invitation_link_expires(web, team, app):
    web.login(team.owner.email)
    email_invite(web, team)
    with app.app_context():
        mail = db.session.scalar(select(OutboundEmail))
        token = LINK.search(mail.text_body).group(1)
        row = db.session.scalar(select(CampaignInvitation))
        row.expires_at = utcnow() - timedelta(seconds=1)
        db.session.commit()
    web.logout()
    response = web.client.get(f"/campaigns/invitations/{token}")
    assert response.status_code == 404
    assert "invalid, used or expired" in response.get_data(as_text=True)
    assert web.client.get("/campaigns/invitations/not-a-token").status_code == 404


def test_withdrawn_email_invitation_link_is_dead(web, team, app):
    web.login(team.owner.email)
    email_invite(web, team)
    with app.app_context():
        token = LINK.search(db.session.scalar(select(OutboundEmail)).text_body).group(1)
    invitation = invitation_row(app)
    show = f"/campaigns/{team.campaign_id}"
    web.post(f"{show}/invitations/{invitation.id}/withdraw", token_from=show)
    web.logout()
    assert web.client.get(f"/campaigns/invitations/{token}").status_code == 404


def test_existing_creator_signs_in_and_claims_an_email_link(web, team, app):
    web.login(team.owner.email)
    email_invite(web, team, email="later.creator@example.com")
    with app.app_context():
        token = LINK.search(db.session.scalar(select(OutboundEmail)).text_body).group(1)
    web.logout()
    from tests import factories

    with app.app_context():
        factories.user(kind="creator", email="later.creator@example.com")
        db.session.commit()
    page = web.client.get(f"/campaigns/invitations/{token}").get_data(as_text=True)
    assert "Sign in" in page
    web.login("later.creator@example.com")
    assert web.post(f"/campaigns/invitations/{token}", {}).status_code == 302
    assert invitation_row(app).creator_id is not None


def test_email_invitation_errors_stay_next_to_the_field(web, team):
    web.login(team.owner.email)
    email_invite(web, team)
    response = email_invite(web, team, htmx=True)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "nell@example.com already has a pending invitation" in html
    assert 'value="nell@example.com"' in html and "<html" not in html
    bad = email_invite(web, team, email="not-an-email")
    assert bad.status_code == 422 and "Enter an email address" in bad.get_data(as_text=True)


def test_email_of_an_existing_creator_is_a_normal_invitation(web, team, app):
    web.login(team.owner.email)
    assert email_invite(web, team, email=team.other_creator.email).status_code == 302
    invitation = invitation_row(app)
    assert invitation.creator_id == team.other_creator.id and invitation.token_hash is None
    with app.app_context():
        assert db.session.scalar(select(OutboundEmail.kind)) == "campaign_invitation"


def test_brand_dashboard_lists_active_campaigns(web, team):
    web.login(team.viewer.email)
    html = web.client.get("/").get_data(as_text=True)
    assert "Active campaigns" in html and "Spring Trails" in html
    assert f'href="/brands/{team.brand_id}/campaigns">Campaigns</a>' in html


def test_campaign_page_and_invitation_list_queries_do_not_grow(web, team, app, count_queries):
    from portal.accounts.models import Brand, User
    from portal.campaigns import services
    from portal.campaigns.models import Campaign
    from tests import factories
    from tests.campaigns.samples import make_campaign

    ttl = timedelta(days=14)
    web.login(team.owner.email)
    invite(web, team)
    show = f"/campaigns/{team.campaign_id}"
    with count_queries() as few:
        web.client.get(show)
    with app.app_context():
        owner = db.session.get(User, team.owner.id)
        campaign = db.session.get(Campaign, team.campaign_id)
        creator = db.session.get(User, team.creator.id)
        for n in range(5):
            services.invite_creator(campaign, owner, factories.user(kind="creator"), ttl)
            services.invite_by_email(campaign, owner, f"someone{n}@example.com", ttl)
            other = make_campaign(db.session.get(Brand, team.brand_id), owner, name=f"C{n}")
            services.invite_creator(other, owner, creator, ttl)
        db.session.commit()
    with count_queries() as many:
        assert "someone4@example.com" in web.client.get(show).get_data(as_text=True)
    assert len(many) == len(few)
    web.logout()
    web.login(team.creator.email)
    with count_queries() as listing:
        assert "C4" in web.client.get("/invitations/campaigns").get_data(as_text=True)
    with app.app_context():
        db.session.execute(
            CampaignInvitation.__table__.delete().where(
                CampaignInvitation.campaign_id != team.campaign_id
            )
        )
        db.session.commit()
    with count_queries() as short_listing:
        web.client.get("/invitations/campaigns")
    assert len(listing) == len(short_listing)
