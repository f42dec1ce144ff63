"""Campaign and invitation services called directly."""

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from portal.audit import AuditEvent, verify_chain
from portal.campaigns import services
from portal.campaigns.models import Campaign, CampaignStatus, InvitationStatus
from portal.database import utcnow
from portal.errors import InvalidState, NotAllowed
from portal.extensions import db
from portal.workrooms.models import Message, MessageKind, Workroom
from tests.campaigns.conftest import load, user
from tests.campaigns.samples import make_campaign

TTL = timedelta(days=14)


def actions():
    """The platform chain's actions, in order."""
    return db.session.scalars(
        select(AuditEvent.action).where(AuditEvent.chain == "platform").order_by(AuditEvent.seq)
    ).all()


def test_create_renders_the_brief_once_and_audits(app_ctx, team):
    owner = user(team.owner)
    campaign = make_campaign(
        owner.memberships[0].brand,
        owner,
        name="Autumn",
        active=False,
        brief_md="**Bold** <script>x</script>",
    )
    assert campaign.status is CampaignStatus.draft
    assert "<strong>Bold</strong>" in campaign.brief_html
    assert "<script>" not in campaign.brief_html
    assert actions()[-1] == "campaign.created"
    assert verify_chain("platform") is None


def test_viewers_and_creators_cannot_create(app_ctx, team):
    brand = user(team.owner).memberships[0].brand
    for who in (team.viewer, team.creator, team.outsider):
        with pytest.raises(NotAllowed):
            make_campaign(brand, user(who), active=False)


def test_service_refuses_dates_out_of_order_and_negative_budget(app_ctx, team):
    owner = user(team.owner)
    brand = owner.memberships[0].brand
    with pytest.raises(services.InvalidCampaign):
        make_campaign(brand, owner, starts_on=date(2030, 5, 1), ends_on=date(2030, 4, 1))
    with pytest.raises(services.InvalidCampaign):
        make_campaign(brand, owner, budget_minor=-1)


def test_update_names_changed_fields_and_rerenders_the_brief(app_ctx, team):
    campaign = load(Campaign, team.campaign_id)
    services.update_campaign(
        campaign,
        user(team.manager),
        name="Spring Trails",
        brief_md="New *brief*",
        starts_on=campaign.starts_on,
        ends_on=campaign.ends_on,
        budget_minor=100,
        currency="EUR",
    )
    assert campaign.brief_html == "<p>New <em>brief</em></p>"
    event = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
    assert event.action == "campaign.updated"
    assert event.data == {"changed": ["brief_md", "budget_minor", "currency"]}


@pytest.mark.parametrize(
    ("start", "target", "allowed"),
    [
        (CampaignStatus.draft, CampaignStatus.active, True),
        (CampaignStatus.draft, CampaignStatus.completed, False),
        (CampaignStatus.active, CampaignStatus.completed, True),
        (CampaignStatus.active, CampaignStatus.draft, False),
        (CampaignStatus.completed, CampaignStatus.archived, True),
        (CampaignStatus.completed, CampaignStatus.active, False),
        (CampaignStatus.archived, CampaignStatus.active, False),
    ],
)
def test_status_moves_follow_the_transition_table(app_ctx, team, start, target, allowed):
    campaign = load(Campaign, team.campaign_id)
    campaign.status = start
    if allowed:
        services.change_campaign_status(campaign, user(team.owner), target)
        assert campaign.status is target
        assert actions()[-1] == "campaign.status_changed"
    else:
        with pytest.raises(InvalidState):
            services.change_campaign_status(campaign, user(team.owner), target)


def test_archived_campaigns_cannot_be_edited(app_ctx, team):
    campaign = load(Campaign, team.campaign_id)
    services.change_campaign_status(campaign, user(team.owner), CampaignStatus.archived)
    with pytest.raises(InvalidState):
        services.update_campaign(
            campaign,
            user(team.owner),
            name="x",
            starts_on=campaign.starts_on,
            ends_on=campaign.ends_on,
            budget_minor=1,
            currency="USD",
        )


def test_draft_campaigns_take_no_invitations(app_ctx, team):
    owner = user(team.owner)
    draft = make_campaign(owner.memberships[0].brand, owner, name="Later", active=False)
    with pytest.raises(InvalidState, match="Activate the campaign"):
        services.invite_creator(draft, owner, user(team.creator), TTL)


def test_duplicate_pending_invitation_is_refused(app_ctx, team):
    campaign = load(Campaign, team.campaign_id)
    services.invite_creator(campaign, user(team.owner), user(team.creator), TTL)
    with pytest.raises(services.DuplicateInvitation, match="already has a pending invitation"):
        services.invite_creator(campaign, user(team.manager), user(team.creator), TTL)


def test_an_expired_invitation_does_not_block_a_new_one(app_ctx, team):
    campaign = load(Campaign, team.campaign_id)
    old = services.invite_creator(campaign, user(team.owner), user(team.creator), TTL)
    old.expires_at = utcnow() - timedelta(seconds=1)
    assert services.invite_creator(campaign, user(team.owner), user(team.creator), TTL)


def test_accepting_opens_one_workroom_per_pair_across_campaigns(app_ctx, team):
    owner, creator = user(team.owner), user(team.creator)
    first = load(Campaign, team.campaign_id)
    second = make_campaign(owner.memberships[0].brand, owner, name="Summer Peaks")
    inv1 = services.invite_creator(first, owner, creator, TTL, message="Hi")
    inv2 = services.invite_creator(second, owner, creator, TTL)
    room1 = services.accept_invitation(inv1, creator)
    room2 = services.accept_invitation(inv2, creator)
    assert room1.id == room2.id == inv1.workroom_id == inv2.workroom_id
    count = db.session.scalar(
        select(func.count()).select_from(Workroom).where(Workroom.creator_id == creator.id)
    )
    assert count == 1
    lines = db.session.scalars(
        select(Message.body_md)
        .where(Message.workroom_id == room1.id, Message.kind == MessageKind.system)
        .order_by(Message.seq)
    ).all()
    assert lines == [
        "Cora on the Trail accepted the invitation to **Spring Trails**.",
        "Cora on the Trail accepted the invitation to **Summer Peaks**.",
    ]
    assert inv1.status is InvitationStatus.accepted and inv1.responded_at is not None
    assert actions().count("campaign_invitation.accepted") == 2
    assert verify_chain("platform") is None


def test_only_the_invited_creator_answers_and_only_once(app_ctx, team):
    campaign = load(Campaign, team.campaign_id)
    invitation = services.invite_creator(campaign, user(team.owner), user(team.creator), TTL)
    with pytest.raises(NotAllowed):
        services.accept_invitation(invitation, user(team.other_creator))
    services.decline_invitation(invitation, user(team.creator))
    with pytest.raises(services.InvitationClosed, match="already declined"):
        services.accept_invitation(invitation, user(team.creator))
    assert actions()[-1] == "campaign_invitation.declined"


def test_withdrawn_and_expired_invitations_cannot_be_accepted(app_ctx, team):
    campaign = load(Campaign, team.campaign_id)
    owner, creator = user(team.owner), user(team.creator)
    withdrawn = services.invite_creator(campaign, owner, creator, TTL)
    services.withdraw_invitation(withdrawn, user(team.manager))
    with pytest.raises(services.InvitationClosed, match="withdrawn"):
        services.accept_invitation(withdrawn, creator)
    expired = services.invite_creator(campaign, owner, creator, TTL)
    with pytest.raises(services.InvitationClosed, match="expired"):
        services.accept_invitation(expired, creator, now=utcnow() + TTL + timedelta(seconds=1))
    with pytest.raises(NotAllowed):
        services.withdraw_invitation(expired, user(team.viewer))


def test_closing_a_campaign_withdraws_pending_invitations(app_ctx, team):
    campaign = load(Campaign, team.campaign_id)
    invitation = services.invite_creator(campaign, user(team.owner), user(team.creator), TTL)
    services.change_campaign_status(campaign, user(team.owner), CampaignStatus.completed)
    assert invitation.status is InvitationStatus.withdrawn
    event = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
    assert event.data == {"from": "active", "to": "completed", "withdrawn": [invitation.id]}


def test_email_invitation_stores_only_the_digest_and_is_single_use(app_ctx, team):
    campaign = load(Campaign, team.campaign_id)
    invitation, raw = services.invite_by_email(
        campaign, user(team.owner), " New.Person@Example.com ", TTL
    )
    assert invitation.email == "new.person@example.com"
    assert raw not in (invitation.token_hash, None) and len(invitation.token_hash) == 64
    assert services.find_invitation_by_token(raw) is invitation
    creator = services.register_invited_creator(
        invitation, "Nell New", "a long enough passphrase", timezone="Europe/Paris"
    )
    assert creator.is_creator and invitation.creator_id == creator.id
    assert invitation.token_hash is None
    with pytest.raises(services.TokenInvalid):
        services.find_invitation_by_token(raw)
    services.accept_invitation(invitation, creator)
    assert invitation.workroom_id is not None


def test_email_invitation_expires(app_ctx, team):
    campaign = load(Campaign, team.campaign_id)
    _, raw = services.invite_by_email(campaign, user(team.owner), "late@example.com", TTL)
    with pytest.raises(services.TokenInvalid):
        services.find_invitation_by_token(raw, now=utcnow() + TTL)


def test_email_of_an_existing_creator_becomes_a_roster_invitation(app_ctx, team):
    campaign = load(Campaign, team.campaign_id)
    invitation, raw = services.invite_by_email(
        campaign, user(team.owner), team.creator.email.upper(), TTL
    )
    assert raw is None and invitation.creator_id == team.creator.id
    with pytest.raises(InvalidState, match="brand account"):
        services.invite_by_email(campaign, user(team.owner), team.viewer.email, TTL)
