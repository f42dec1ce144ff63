"""A brand (owner, viewer), a creator, their workroom and a campaign."""

from dataclasses import dataclass
from datetime import date

import pytest

from portal.accounts.models import AccountKind, BrandRole, User
from portal.campaigns.models import Campaign
from portal.extensions import db
from portal.workrooms.access import seat_of
from portal.workrooms.services import open_workroom
from tests import factories


@dataclass
class Pair:
    """Ids and emails of the people and objects a contract test uses."""

    owner: factories.Snapshot
    viewer: factories.Snapshot
    creator: factories.Snapshot
    workroom_id: int
    campaign_id: int


def seed_pair(app):
    """Bea (brand owner), Vic (viewer), Cora (creator), their workroom and a campaign."""
    with app.app_context():
        owner = factories.user(name="Bea Brand")
        brand_id = owner.memberships[0].brand_id
        viewer = factories.user(name="Vic Viewer", brand=brand_id, role=BrandRole.viewer)
        creator = factories.user(kind=AccountKind.creator, name="Cora Creator")
        workroom = open_workroom(owner.memberships[0].brand, creator, owner)
        campaign = Campaign(
            brand_id=brand_id,
            name="Spring launch",
            starts_on=date(2030, 1, 1),
            ends_on=date(2030, 12, 31),
            budget_minor=500000,
            currency="USD",
            created_by_id=owner.id,
        )
        db.session.add(campaign)
        db.session.commit()
        snap = factories.Snapshot.of
        return Pair(snap(owner), snap(viewer), snap(creator), workroom.id, campaign.id)


@pytest.fixture
def pair(app):
    """The seeded pair."""
    return seed_pair(app)


def seat(user_id, workroom_id):
    """A user's seat in a workroom (inside an app context)."""
    from portal.workrooms.models import Workroom

    return seat_of(db.session.get(User, user_id), db.session.get(Workroom, workroom_id))
