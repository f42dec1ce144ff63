"""Two brands, each with a creator and an active contract; helpers to sign in and look."""

from dataclasses import dataclass

import pytest

from portal.accounts.models import User
from portal.extensions import db
from tests.contracts.conftest import Pair, seed_pair
from tests.deliverables.conftest import activate
from tests.scheduling.samples import calendar_terms


@dataclass
class Side:
    """A pair with an active contract: ids to look things up by."""

    pair: Pair
    contract_id: int
    deliverable_ids: list[int]

    @property
    def workroom_id(self):
        """The pair's workroom."""
        return self.pair.workroom_id


def seed_active(app, terms=None):
    """A new brand, creator, workroom and campaign, with an accepted (active) contract."""
    pair = seed_pair(app)
    with app.app_context():
        contract_id, ids = activate(pair, terms or calendar_terms())
    return Side(pair, contract_id, ids)


@pytest.fixture
def ours(app):
    """Bea's brand and Cora, with the calendar sample contract active."""
    return seed_active(app)


@pytest.fixture
def theirs(app):
    """Another brand and creator with their own active contract."""
    return seed_active(app)


def set_timezone(app, user_id, zone):
    """Move a user to another time zone."""
    with app.app_context():
        db.session.get(User, user_id).timezone = zone
        db.session.commit()
