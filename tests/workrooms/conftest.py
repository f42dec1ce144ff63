"""A brand (owner, manager, viewer), a creator and their workroom."""

from dataclasses import dataclass

import pytest

from portal.accounts.models import AccountKind, Brand, BrandRole
from portal.extensions import db
from portal.workrooms import services
from tests import factories


@dataclass
class Pair:
    """Ids and emails of the pair's people and their workroom."""

    workroom_id: int
    owner: factories.Snapshot
    manager: factories.Snapshot
    viewer: factories.Snapshot
    creator: factories.Snapshot
    outsider: factories.Snapshot


@pytest.fixture
def pair(app):
    """Commit a workroom of a brand and a creator, plus an outsider creator."""
    with app.app_context():
        owner = factories.user(name="Bea Owner")
        brand_id = owner.memberships[0].brand_id
        manager = factories.user(brand=brand_id, role=BrandRole.manager, name="Max Manager")
        viewer = factories.user(brand=brand_id, role=BrandRole.viewer, name="Vic Viewer")
        creator = factories.user(kind=AccountKind.creator, name="Cora Creator")
        outsider = factories.user(kind=AccountKind.creator, name="Olly Outsider")
        workroom = services.open_workroom(db.session.get(Brand, brand_id), creator, owner)
        db.session.commit()
        snap = factories.Snapshot.of
        return Pair(
            workroom.id, snap(owner), snap(manager), snap(viewer), snap(creator), snap(outsider)
        )
