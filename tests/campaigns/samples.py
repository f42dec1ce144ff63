"""Sample campaigns and invitations for tests, and for the seeded security world."""

from datetime import date

from portal.campaigns import services
from portal.campaigns.models import CampaignStatus

CAMPAIGN_FORM = {
    "name": "Spring Trails",
    "brief": "Show **our boots** on real trails.",
    "starts_on": "2030-03-01",
    "ends_on": "2030-05-31",
    "budget": "25,000.00",
    "currency": "USD",
}


def campaign_form(**overrides):
    """The fields of a valid campaign form, with overrides."""
    return {**CAMPAIGN_FORM, **overrides}


def make_campaign(brand, owner, *, name="Spring Trails", active=True, **overrides):
    """A campaign made through the service (activated unless active=False)."""
    details = {
        "starts_on": date(2030, 3, 1),
        "ends_on": date(2030, 5, 31),
        "budget_minor": 2_500_000,
        "currency": "USD",
        "brief_md": "Show **our boots** on real trails.",
        **overrides,
    }
    campaign = services.create_campaign(brand, owner, name=name, **details)
    if active:
        services.change_campaign_status(campaign, owner, CampaignStatus.active)
    return campaign


def seed_campaign_invitations(campaign, owner, creator, ttl, *, email=None):
    """Activate a seeded campaign and invite a creator (and, optionally, an email address).

    Returns the creator's invitation and the raw link token of the emailed one (or None).
    """
    if campaign.status is CampaignStatus.draft:
        services.change_campaign_status(campaign, owner, CampaignStatus.active)
    invitation = services.invite_creator(campaign, owner, creator, ttl, message="Join us!")
    raw = None
    if email:
        _, raw = services.invite_by_email(campaign, owner, email, ttl)
    return invitation, raw
