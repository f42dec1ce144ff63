"""A workroom with an active contract and its deliverables, made through the services."""

import dataclasses
from dataclasses import dataclass

import pytest
from sqlalchemy import select

from portal.accounts.models import User
from portal.campaigns.models import Campaign
from portal.contracts import services as contract_services
from portal.deliverables.models import Deliverable
from portal.extensions import db
from tests.contracts.conftest import Pair, seat, seed_pair
from tests.contracts.samples import sample_terms

REQUIREMENTS = ("#ad disclosure", "tag @northwind")


@dataclass
class Active:
    """The pair, its active contract and the deliverables' ids by line position."""

    pair: Pair
    contract_id: int
    deliverable_ids: list[int]

    @property
    def workroom_id(self):
        """The pair's workroom."""
        return self.pair.workroom_id


def active_terms(**overrides):
    """Sample terms whose first line carries a checklist."""
    terms = sample_terms(**overrides)
    first = dataclasses.replace(terms.lines[0], requirements=REQUIREMENTS)
    return dataclasses.replace(terms, lines=(first, *terms.lines[1:]))


def activate(pair, terms=None):
    """Propose terms as the owner and accept them as the creator: the contract is active."""
    owner = db.session.get(User, pair.owner.id)
    creator = db.session.get(User, pair.creator.id)
    contract = contract_services.create_contract(
        seat(owner.id, pair.workroom_id),
        owner,
        db.session.get(Campaign, pair.campaign_id),
        terms or active_terms(),
    )
    version = contract.latest_version
    contract_services.accept_version(
        contract, creator, seat(creator.id, pair.workroom_id), version.sha256
    )
    db.session.commit()
    ids = db.session.scalars(
        select(Deliverable.id)
        .where(Deliverable.contract_id == contract.id)
        .order_by(Deliverable.position)
    ).all()
    return contract.id, list(ids)


@pytest.fixture
def active(app):
    """The seeded pair with an active two-line contract."""
    pair = seed_pair(app)
    with app.app_context():
        contract_id, ids = activate(pair)
    return Active(pair, contract_id, ids)
