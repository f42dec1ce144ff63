"""Fixtures for campaign tests: a brand with its team, creators, and a running campaign."""

from dataclasses import dataclass

import pytest

from portal.accounts.models import AccountKind, Brand, BrandRole, User
from portal.extensions import db
from tests import factories
from tests.campaigns.samples import make_campaign


@dataclass
class Team:
    """Ids and emails of a seeded brand team, two creators and one active campaign."""

    brand_id: int
    owner: factories.Snapshot
    manager: factories.Snapshot
    viewer: factories.Snapshot
    creator: factories.Snapshot
    other_creator: factories.Snapshot
    outsider: factories.Snapshot  # owner of another brand
    campaign_id: int
    other_campaign_id: int  # the other brand's


@pytest.fixture
def team(app):
    """Brand "Northwind" with owner, manager, viewer; creators Cora and Dev; a campaign each."""
    with app.app_context():
        owner = factories.user(name="Olive Owner")
        brand_id = owner.memberships[0].brand_id
        manager = factories.user(brand=brand_id, role=BrandRole.manager, name="Max Manager")
        viewer = factories.user(brand=brand_id, role=BrandRole.viewer, name="Vic Viewer")
        creator = factories.user(kind=AccountKind.creator, name="Cora Trail")
        creator.creator_profile.display_name = "Cora on the Trail"
        other_creator = factories.user(kind=AccountKind.creator, name="Dev Maker")
        outsider = factories.user(name="Oscar Outsider")
        brand = db.session.get(Brand, brand_id)
        campaign = make_campaign(brand, owner)
        other = make_campaign(
            db.session.get(Brand, outsider.memberships[0].brand_id), outsider, name="Hidden"
        )
        db.session.commit()
        snap = factories.Snapshot.of
        return Team(
            brand_id,
            snap(owner),
            snap(manager),
            snap(viewer),
            snap(creator),
            snap(other_creator),
            snap(outsider),
            campaign.id,
            other.id,
        )


def load(model, id_):
    """A row by id in the current app context."""
    return db.session.get(model, id_)


def user(snapshot):
    """The User row of a snapshot."""
    return db.session.get(User, snapshot.id)
