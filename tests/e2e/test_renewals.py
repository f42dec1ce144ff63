"""A renewal in a real browser: the brand reads the renewal pack and decides to renew as is
with a comment; the creator sees the decision and its comment, finds the next term proposed
to them and accepts it. Each page is checked by axe-core."""

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from portal.contracts.models import Contract, ContractStatus
from portal.extensions import db
from tests.contracts.conftest import seed_pair
from tests.contracts.samples import sample_terms
from tests.deliverables.conftest import activate
from tests.e2e.test_accounts import sign_in

COMMENT = "Great season: same terms for the summer."


@pytest.fixture
def renewing(app):
    """The pair with an active Spring Trails contract (1 Mar to 31 May 2030)."""
    pair = seed_pair(app)
    with app.app_context():
        contract_id, _ = activate(pair, sample_terms())
    return pair, contract_id


def party(open_page, email, javascript):
    """A signed-in browser context of its own."""
    ui = open_page(javascript=javascript)
    sign_in(ui, email)
    return ui


@pytest.mark.e2e
@pytest.mark.parametrize("javascript", [True, False], ids=["with-js", "without-js"])
def test_the_brands_renewal_decision_is_seen_by_the_creator(open_page, renewing, app, javascript):
    pair, contract_id = renewing
    owner = party(open_page, pair.owner.email, javascript)
    creator = party(open_page, pair.creator.email, javascript)

    # The brand opens the renewal pack from the contract page and decides.
    owner.visit(f"/contracts/{contract_id}")
    owner.follow("the renewal pack")
    expect(owner.page.get_by_role("heading", level=1)).to_have_text("Renewal: Spring Trails")
    dates = owner.page.locator("#renewal-dates")
    expect(dates).to_contain_text("2030-05-31")
    expect(dates).to_contain_text("2030-05-01")
    expect(owner.page.locator("#renewal-facts")).to_contain_text("0 of 2 deliverables")
    owner.page.get_by_label("Renew as is: propose the next term now").check()
    owner.page.get_by_label("Comment for the creator").fill(COMMENT)
    owner.submit("Record the decision")
    expect(owner.page.locator("#flash")).to_contain_text("Decision recorded")
    expect(owner.page.locator("#current-decision")).to_contain_text("renew as is")

    # The creator sees the decision, its comment and the next term waiting on them.
    creator.visit(f"/contracts/{contract_id}/renewal")
    expect(creator.page.locator("#current-decision")).to_contain_text(
        "Bea Brand decided to renew as is"
    )
    history = creator.page.locator("#renewal-decisions")
    expect(history).to_contain_text(COMMENT)
    expect(creator.page.get_by_role("button", name="Record the decision")).to_have_count(0)
    creator.follow("the next contract")
    expect(creator.page.locator("#contract-actions")).to_contain_text("waits on your answer")
    creator.submit("Accept version 1")
    expect(creator.page.locator("#flash")).to_contain_text("You accepted version 1.")

    with app.app_context():
        following = db.session.scalar(select(Contract).where(Contract.renews_id == contract_id))
        assert following.status is ContractStatus.active
        assert following.latest_version.starts_on.isoformat() == "2030-06-01"

    # The workroom log tells both sides.
    creator.visit(f"/workrooms/{pair.workroom_id}")
    expect(creator.page.locator("main")).to_contain_text("decided to renew it as is")
