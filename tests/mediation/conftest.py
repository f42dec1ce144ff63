"""A workroom in dispute: an active contract, a funded milestone on its first deliverable,
and two mediators."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from portal.accounts.models import AccountKind, User
from portal.contracts.models import Contract
from portal.deliverables.models import Deliverable
from portal.escrow import services as escrow_services
from portal.escrow.models import Milestone
from portal.escrow.providers import SandboxProvider
from portal.extensions import db
from portal.mediation import services
from tests import factories
from tests.contracts.conftest import seat
from tests.deliverables.conftest import Active
from tests.deliverables.conftest import active as active  # a fixture

#: "now" inside the tests: the sample contract runs March to May 2030; a Monday
NOW = datetime(2030, 3, 25, 9, tzinfo=UTC)


@dataclass
class Case:
    """Ids of everything a ticket test touches."""

    active: Active
    milestone_id: int
    second_milestone_id: int
    mediator_id: int
    colleague_id: int
    admin_id: int

    @property
    def workroom_id(self):
        return self.active.workroom_id


@pytest.fixture
def case(app, active, tmp_path):
    """Two funded milestones (1,000.00 on the video, 250.00 on the story) and mediators."""
    with app.app_context():
        owner = db.session.get(User, active.pair.owner.id)
        brand = seat(owner.id, active.workroom_id)
        contract = db.session.get(Contract, active.contract_id)
        video, story = (db.session.get(Deliverable, i) for i in active.deliverable_ids)
        provider = SandboxProvider(str(tmp_path / "provider.sqlite"))
        first = escrow_services.add_milestone(
            contract, owner, brand, "Video approved", 100000, deliverables=[video]
        )
        second = escrow_services.add_milestone(
            contract, owner, brand, "Story approved", 25000, deliverables=[story]
        )
        for milestone in (first, second):
            escrow_services.fund_milestone(milestone, owner, brand, provider)
        mia = factories.user(kind=AccountKind.mediator, name="Mia Mediator")
        moe = factories.user(kind=AccountKind.mediator, name="Moe Mediator")
        ada = factories.user(kind=AccountKind.admin, name="Ada Admin")
        db.session.commit()
        return Case(active, first.id, second.id, mia.id, moe.id, ada.id)


class Actors:
    """The case's rows and seats, loaded in the current app context."""

    def __init__(self, case):
        pair = case.active.pair
        self.owner = db.session.get(User, pair.owner.id)
        self.viewer = db.session.get(User, pair.viewer.id)
        self.creator = db.session.get(User, pair.creator.id)
        self.brand = seat(pair.owner.id, case.workroom_id)
        self.reader = seat(pair.viewer.id, case.workroom_id)
        self.maker = seat(pair.creator.id, case.workroom_id)
        self.mediator = db.session.get(User, case.mediator_id)
        self.colleague = db.session.get(User, case.colleague_id)
        self.milestone = db.session.get(Milestone, case.milestone_id)
        self.second = db.session.get(Milestone, case.second_milestone_id)
        self.video, self.story = (
            db.session.get(Deliverable, i) for i in case.active.deliverable_ids
        )
        self.contract = db.session.get(Contract, case.active.contract_id)


@pytest.fixture
def cast(case, app_ctx):
    """The actors of the case."""
    return Actors(case)


def open_payment_ticket(cast, *, now=NOW):
    """The creator disputes the video milestone."""
    return services.open_ticket(
        cast.maker,
        cast.creator,
        "payment",
        "Video payment withheld",
        "I delivered the video; the brand has not approved it for two weeks.",
        "Release the milestone.",
        deliverables=[cast.video],
        milestones=[cast.milestone],
        now=now,
    )


def in_mediation(cast, *, now=NOW):
    """A ticket the brand answered, claimed by Mia."""
    ticket = open_payment_ticket(cast, now=now)
    services.post_as_party(ticket, cast.owner, cast.brand, "We need a re-cut first.", now=now)
    services.claim(ticket, cast.mediator, now=now + timedelta(hours=1))
    return ticket
