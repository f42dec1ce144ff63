"""Deliverables in a real browser: two revisions, a change request, an approval with
corrections, then the history and the diff, each page checked by axe-core."""

from dataclasses import dataclass

import pytest
from playwright.sync_api import expect

from tests.contracts.conftest import seed_pair
from tests.deliverables.conftest import activate
from tests.e2e.test_accounts import sign_in


@dataclass
class Work:
    """The pair and the path of its first deliverable."""

    pair: object
    path: str


@pytest.fixture
def work(app):
    pair = seed_pair(app)
    with app.app_context():
        _, ids = activate(pair)
    return Work(pair, f"/workrooms/{pair.workroom_id}/deliverables/{ids[0]}")


def enter(open_page, work, email):
    ui = open_page()
    sign_in(ui, email)
    ui.visit(work.path)
    expect(ui.page.get_by_role("heading", level=1)).to_have_text("Trail video")
    return ui


def revision(ui, number):
    return ui.page.locator(f"#revision-{number}")


@pytest.mark.e2e
def test_two_revisions_a_change_request_and_an_approval_with_corrections(open_page, work):
    creator = enter(open_page, work, work.pair.creator.email)
    creator.page.get_by_label("Caption or script").fill("First cut: new **trail shoes** #ad")
    creator.page.get_by_label("Links").fill("https://example.com/draft-1")
    creator.page.get_by_label("#ad disclosure").check()
    creator.submit("Submit for review")
    expect(revision(creator, 1)).to_contain_text("trail shoes")
    expect(creator.page.locator("#deliverable-state")).to_contain_text("Submitted")

    brand = enter(open_page, work, work.pair.owner.email)
    expect(brand.page.locator("#deliverable-state")).to_contain_text("Auto-approves")
    brand.page.get_by_label("Request changes").check()
    brand.page.get_by_label("Feedback for the creator").fill("Please tag @northwind.")
    brand.page.get_by_label("Brand-only comment").fill("Legal insists on the tag.")
    brand.submit("Record the review")
    expect(revision(brand, 1)).to_contain_text("Legal insists on the tag.")

    creator.visit(work.path)
    expect(revision(creator, 1)).to_contain_text("Please tag @northwind.")
    expect(creator.page.locator("main")).not_to_contain_text("Legal insists")
    creator.page.get_by_label("Caption or script").fill("Second cut: trail shoes @northwind #ad")
    creator.page.get_by_label("#ad disclosure").check()
    creator.page.get_by_label("tag @northwind").check()
    creator.submit("Submit for review")
    expect(revision(creator, 2)).to_contain_text("Second cut")

    brand.visit(work.path)
    brand.page.get_by_label("Approve with corrections").check()
    brand.page.get_by_label("Feedback for the creator").fill("Use the spring logo when posting.")
    brand.submit("Record the review")
    expect(brand.page.locator("#deliverable-state")).to_contain_text("Approved")
    expect(revision(brand, 2)).to_contain_text("Use the spring logo")
    expect(revision(brand, 1)).to_contain_text("Request changes")

    brand.submit("Compare")
    expect(brand.page.get_by_role("heading", level=1)).to_contain_text("revision 1 → revision 2")
    diff = brand.page.locator("table.diff")
    expect(diff.locator("del")).to_contain_text(["First cut: new **trail shoes** #ad"])
    expect(diff.locator("ins")).to_contain_text(["Second cut: trail shoes @northwind #ad"])

    creator.visit(work.path)
    expect(creator.page.locator("#deliverable-state")).to_contain_text("Approved")
    expect(creator.page.get_by_role("heading", name="Record the live post")).to_be_visible()
