"""An active contract whose first deliverable is live, and helpers to make results."""

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest

from portal.accounts.models import User
from portal.contracts.models import Contract
from portal.deliverables import services as deliverable_services
from portal.deliverables.models import Deliverable, ReviewDecision
from portal.extensions import db
from tests.contracts.conftest import seat
from tests.deliverables.conftest import Active
from tests.deliverables.conftest import active as active  # a fixture

LIVE_ON = date(2030, 3, 21)
NOW = datetime(2030, 4, 10, 12, tzinfo=UTC)  #: services take this as "now": after LIVE_ON
FIGURES = {
    "reach": 9000,
    "impressions": 12000,
    "views": 8000,
    "likes": 600,
    "comments": 40,
    "shares": 30,
    "saves": 30,
    "clicks": 250,
    "conversions": 12,
}


def go_live(active, index=0, live_on=LIVE_ON):
    """Submit, approve and publish one deliverable of the active contract (app context)."""
    deliverable = db.session.get(Deliverable, active.deliverable_ids[index])
    creator = db.session.get(User, active.pair.creator.id)
    owner = db.session.get(User, active.pair.owner.id)
    maker = seat(creator.id, active.workroom_id)
    deliverable_services.submit_revision(deliverable, creator, maker, "Caption #ad")
    deliverable_services.review_revision(
        deliverable.revisions[-1], owner, seat(owner.id, active.workroom_id), ReviewDecision.approve
    )
    deliverable_services.record_go_live(
        deliverable, creator, maker, f"https://example.com/p/{deliverable.id}", live_on
    )
    db.session.commit()
    return deliverable


@dataclass
class Live:
    """The active contract, its deliverables and which one is live."""

    active: Active
    live_id: int
    other_id: int

    @property
    def pair(self):
        """The brand owner, viewer and creator."""
        return self.active.pair

    @property
    def contract_id(self):
        """The active contract."""
        return self.active.contract_id

    @property
    def workroom_id(self):
        """Their workroom."""
        return self.active.workroom_id


@pytest.fixture
def live(app, active):
    """The active contract with its first deliverable live since LIVE_ON."""
    with app.app_context():
        go_live(active)
    return Live(active, active.deliverable_ids[0], active.deliverable_ids[1])


@pytest.fixture
def live_recently(app, active):
    """The active contract with its first deliverable live since ten days ago (for pages,
    which use the real clock)."""
    with app.app_context():
        go_live(active, live_on=datetime.now(UTC).date() - timedelta(days=10))
    return Live(active, active.deliverable_ids[0], active.deliverable_ids[1])


def csv_bytes(*rows, header=("deliverable_id", "measured_on", *FIGURES)):
    """A CSV file's bytes from rows of cells."""
    lines = [",".join(header)] + [",".join(str(cell) for cell in row) for row in rows]
    return ("\n".join(lines) + "\n").encode()


def row(deliverable_id, measured_on, **figures):
    """One CSV row: the deliverable, the day and the sample figures (overridable)."""
    values = {**FIGURES, **figures}
    return (deliverable_id, measured_on, *(values[name] for name in FIGURES))


def contract_of(live):
    """The live fixture's contract (app context)."""
    return db.session.get(Contract, live.contract_id)
