"""Money in a real browser: the brand adds and funds a milestone that waits on a deliverable,
the creator submits, the brand approves, and the worker pays the creator with no one
pressing anything more. Each page is checked by axe-core."""

import re
import time

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from portal.escrow.models import Milestone
from portal.extensions import db
from tests.contracts.conftest import seed_pair
from tests.deliverables.conftest import activate
from tests.e2e.test_accounts import nav_link, sign_in

PAYOUT_TIMEOUT = 30.0


@pytest.fixture
def work(app):
    pair = seed_pair(app)
    with app.app_context():
        _, ids = activate(pair)
    return (
        pair,
        f"/workrooms/{pair.workroom_id}",
        f"/workrooms/{pair.workroom_id}/deliverables/{ids[0]}",
    )


def milestone_id(app):
    with app.app_context():
        return db.session.scalar(select(Milestone.id))


@pytest.mark.e2e
def test_a_funded_milestone_is_paid_out_when_its_deliverable_is_approved(open_page, work, app):
    pair, workroom, deliverable = work
    brand = open_page()
    sign_in(brand, pair.owner.email)
    brand.visit(workroom)
    money = brand.page.locator("#milestone-list")  # loaded into the Money section by htmx
    expect(money).to_contain_text("No milestones yet.")
    brand.audit()
    brand.click(money.get_by_role("button", name=re.compile("^Add a milestone")))
    brand.page.get_by_label("Title").fill("Trail video approved")
    brand.page.get_by_label("Amount").fill("1,000.00")
    brand.page.get_by_label("Trail video", exact=True).check()
    brand.submit("Add the milestone")
    expect(brand.page.get_by_role("heading", level=1)).to_have_text("Trail video approved")
    why = brand.page.locator("#why-not-released")
    expect(why).to_contain_text("The brand has not funded it yet.")
    expect(why).to_contain_text("“Trail video” is pending, not approved.")
    brand.submit("Fund $1,000.00 into escrow")
    expect(brand.page.locator("#flash")).to_contain_text("Funded: $1,000.00 is in escrow.")
    expect(brand.page.locator("#milestone-state")).to_contain_text("Funded")
    expect(why).not_to_contain_text("not funded")

    creator = open_page()
    sign_in(creator, pair.creator.email)
    creator.visit(deliverable)
    creator.page.get_by_label("Caption or script").fill("Trail shoes, first cut #ad")
    creator.page.get_by_label("#ad disclosure").check()
    creator.submit("Submit for review")
    expect(creator.page.locator("#deliverable-state")).to_contain_text("Submitted")

    brand.visit(deliverable)
    brand.page.get_by_label("Approve", exact=True).check()
    brand.submit("Record the review")
    expect(brand.page.locator("#deliverable-state")).to_contain_text("Approved")

    # The approval made the milestone releasable; the worker settles and pays it.
    creator.click(nav_link(creator, "Earnings"))
    row = creator.page.locator(f"#earning-{milestone_id(app)}")
    deadline = time.monotonic() + PAYOUT_TIMEOUT
    while "Paid" not in row.inner_text() and time.monotonic() < deadline:
        time.sleep(1)
        creator.visit("/statement")
    expect(row).to_contain_text("Paid")
    expect(row).to_contain_text("$900.00")  # 1,000.00 less the 10% platform fee
    creator.click(row.get_by_role("link", name="Trail video approved"))
    expect(creator.page.locator("#why-not-released")).to_contain_text(
        "It was released and paid out to the creator."
    )
    expect(creator.page.locator("#milestone-payouts")).to_contain_text("Paid")
