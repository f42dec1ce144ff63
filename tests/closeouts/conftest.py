"""A workroom with an active three-line contract (kill fee 25 %) and two milestones, made
through the services; and helpers that move its work along."""

import dataclasses
from dataclasses import dataclass
from datetime import UTC, date, datetime

import pytest

from portal.accounts.models import Platform, User
from portal.contracts.models import Contract, DeliverableKind
from portal.contracts.terms import LineTerms
from portal.deliverables import services as deliverable_services
from portal.deliverables.models import Deliverable, ReviewDecision
from portal.escrow import services as escrow_services
from portal.escrow.models import Milestone
from portal.escrow.providers import SandboxProvider
from portal.extensions import db
from tests.contracts.conftest import seat, seed_pair
from tests.contracts.samples import sample_terms
from tests.deliverables.conftest import activate

#: "now" inside the tests: the contract runs March to May 2030
NOW = datetime(2030, 3, 25, 9, tzinfo=UTC)
AFTER_TERM = datetime(2030, 6, 3, 9, tzinfo=UTC)


def closeout_terms():
    """Spring Trails with a third line (a post) and a 25 % kill fee: 1,650.00 USD."""
    terms = sample_terms(kill_fee_percent=25)
    post = LineTerms(
        "Trail post", DeliverableKind.post, Platform.instagram, date(2030, 4, 20), 40000
    )
    return dataclasses.replace(terms, lines=(*terms.lines, post))


@dataclass
class World:
    """Ids of everything a close-out test touches."""

    pair: object
    contract_id: int
    deliverable_ids: list
    video_milestone_id: int  #: 1,000.00 on the video
    rest_milestone_id: int  #: 650.00 on the story and the post


@pytest.fixture
def world(app, tmp_path):
    """The pair's active contract, with its milestones added (not funded)."""
    pair = seed_pair(app)
    with app.app_context():
        contract_id, ids = activate(pair, closeout_terms())
        owner = db.session.get(User, pair.owner.id)
        brand = seat(owner.id, pair.workroom_id)
        contract = db.session.get(Contract, contract_id)
        video, story, post = (db.session.get(Deliverable, i) for i in ids)
        first = escrow_services.add_milestone(
            contract, owner, brand, "Video approved", 100000, deliverables=[video]
        )
        rest = escrow_services.add_milestone(
            contract, owner, brand, "Story and post approved", 65000, deliverables=[story, post]
        )
        db.session.commit()
        return World(pair, contract_id, ids, first.id, rest.id)


class Actors:
    """The world's rows and seats, loaded in the current app context."""

    def __init__(self, world, provider):
        pair = world.pair
        self.owner = db.session.get(User, pair.owner.id)
        self.viewer = db.session.get(User, pair.viewer.id)
        self.creator = db.session.get(User, pair.creator.id)
        self.brand = seat(pair.owner.id, pair.workroom_id)
        self.reader = seat(pair.viewer.id, pair.workroom_id)
        self.maker = seat(pair.creator.id, pair.workroom_id)
        self.contract = db.session.get(Contract, world.contract_id)
        self.video, self.story, self.post = (
            db.session.get(Deliverable, i) for i in world.deliverable_ids
        )
        self.first = db.session.get(Milestone, world.video_milestone_id)
        self.rest = db.session.get(Milestone, world.rest_milestone_id)
        self.provider = provider

    def fund(self, *milestones):
        for milestone in milestones:
            escrow_services.fund_milestone(milestone, self.owner, self.brand, self.provider)

    def submit(self, deliverable):
        return deliverable_services.submit_revision(deliverable, self.creator, self.maker, "Draft")

    def review(self, deliverable, decision=ReviewDecision.approve):
        feedback = "" if decision is ReviewDecision.approve else "Brighter, please."
        return deliverable_services.review_revision(
            deliverable.revisions[-1], self.owner, self.brand, decision, feedback=feedback
        )


@pytest.fixture
def provider(app, tmp_path):
    """A sandbox payment provider of this test's own."""
    return SandboxProvider(str(tmp_path / "provider.sqlite"))


@pytest.fixture
def ctx(app_ctx, world, provider):
    """The world's actors inside an app context."""
    return Actors(world, provider)
