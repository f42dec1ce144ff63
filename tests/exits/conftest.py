"""A contract that is about to end early: active, two funded milestones, a manager, a
mediator, and an active campaign that can take a replacement creator."""

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from portal.accounts.models import (
    AccountKind,
    BrandRole,
    CreatorHandle,
    CreatorNiche,
    Platform,
    User,
)
from portal.campaigns.models import Campaign, CampaignStatus
from portal.contracts.models import Contract
from portal.deliverables.models import Deliverable
from portal.escrow import ledger
from portal.escrow import services as escrow_services
from portal.escrow.providers import SandboxProvider
from portal.extensions import db
from tests import factories
from tests.contracts.conftest import seat
from tests.deliverables.conftest import Active
from tests.deliverables.conftest import active as active  # a fixture

#: "now" in the tests: the sample contract runs March to May 2030; the video is due on the
#: 20th of March, the story on the 2nd of April
NOW = datetime(2030, 3, 10, 9, tzinfo=UTC)


@dataclass
class Ending:
    """Ids of what an exit test touches."""

    active: Active
    video_milestone_id: int
    story_milestone_id: int
    manager_id: int
    mediator_id: int

    @property
    def workroom_id(self):
        return self.active.workroom_id

    @property
    def contract_id(self):
        return self.active.contract_id


@pytest.fixture
def ending(app, active, tmp_path):
    """Milestones of 1,000.00 (video) and 250.00 (story), both funded; the leaving creator
    posts on YouTube and Instagram about outdoor; the campaign is active."""
    with app.app_context():
        owner = db.session.get(User, active.pair.owner.id)
        brand = seat(owner.id, active.workroom_id)
        contract = db.session.get(Contract, active.contract_id)
        video, story = (db.session.get(Deliverable, i) for i in active.deliverable_ids)
        provider = SandboxProvider(str(tmp_path / "provider.sqlite"))
        first = escrow_services.add_milestone(
            contract, owner, brand, "Video approved", 100000, deliverables=[video], now=NOW
        )
        second = escrow_services.add_milestone(
            contract, owner, brand, "Story approved", 25000, deliverables=[story], now=NOW
        )
        for milestone in (first, second):
            escrow_services.fund_milestone(milestone, owner, brand, provider, now=NOW)
        db.session.get(Campaign, active.pair.campaign_id).status = CampaignStatus.active
        creator = db.session.get(User, active.pair.creator.id)
        profile = creator.creator_profile
        profile.audience_size = 50_000
        profile.handles = [
            CreatorHandle(platform=Platform.youtube, handle="cora"),
            CreatorHandle(platform=Platform.instagram, handle="cora.ig"),
        ]
        profile.niches = [CreatorNiche(name="outdoor")]
        manager = factories.user(
            name="Max Manager", brand=owner.memberships[0].brand_id, role=BrandRole.manager
        )
        mediator = factories.user(kind=AccountKind.mediator, name="Mia Mediator")
        db.session.commit()
        return Ending(active, first.id, second.id, manager.id, mediator.id)


def creator_on(platform=None, niche=None, *, name, audience=10_000):
    """A creator on the roster with one handle and one niche."""
    creator = factories.user(kind=AccountKind.creator, name=name)
    profile = creator.creator_profile
    profile.audience_size = audience
    if platform is not None:
        profile.handles = [CreatorHandle(platform=platform, handle=name.lower().replace(" ", "."))]
    if niche is not None:
        profile.niches = [CreatorNiche(name=niche)]
    db.session.flush()
    return creator


def assert_books_exact():
    """Every ledger transaction balanced, the ledger sums to zero, cached figures agree."""
    assert ledger.unbalanced_transactions() == []
    assert sum(ledger.balances().values()) == 0
    assert ledger.check_books() == []
