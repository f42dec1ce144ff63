"""The shared calendar in a real browser: month grid, htmx filters, agenda, feed address.

Every page and htmx swap passes axe-core; the harness also fails on CSP violations.
"""

import re
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from tests.e2e.test_accounts import nav_link, sign_in
from tests.scheduling.conftest import seed_active

MARCH = "/calendar?month=2030-03"


@pytest.fixture
def side(app):
    """A brand and a creator with an active contract: deliverables due 20 Mar and 2 Apr 2030."""
    return seed_active(app)


def day_cell(ui, iso):
    """The month grid's cell of one date."""
    return ui.page.locator("td.cal-day").filter(has=ui.page.locator(f'time[datetime="{iso}"]'))


def swapped(ui, before):
    """Audit the page after an htmx swap that pushed a URL. htmx first re-records the current
    entry (history.replaceState), which Playwright reports as a navigation to the page `before`,
    already audited; only that entry is dropped, then the swapped page is audited."""
    ui.unchecked[:] = [url for url in ui.unchecked if url != before]
    ui.audit()


def test_creator_finds_the_calendar_and_sees_due_dates_in_the_grid(ui, side):
    sign_in(ui, side.pair.creator.email)
    ui.click(nav_link(ui, "Calendar"))
    expect(ui.page.get_by_role("heading", level=1)).to_have_text("Calendar")
    ui.visit(MARCH)
    expect(day_cell(ui, "2030-03-20")).to_contain_text("Due: Trail video")
    expect(day_cell(ui, "2030-03-01")).to_contain_text("Contract starts: Spring Trails")


def test_brand_filters_switches_views_and_makes_a_feed_address_with_htmx(ui, side):
    sign_in(ui, side.pair.owner.email)
    ui.visit(MARCH)
    page = ui.page
    page.evaluate("() => { window.__sameDocument = true; }")
    before = page.url
    page.get_by_label("Deliverable status").select_option("approved")
    expect(page.locator("#calendar")).not_to_contain_text("Trail video")
    expect(page).to_have_url(re.compile(r"status=approved"))
    swapped(ui, before)
    before = page.url
    page.get_by_label("Deliverable status").select_option("")
    expect(day_cell(ui, "2030-03-20")).to_contain_text("Due: Trail video")
    swapped(ui, before)
    before = page.url
    page.get_by_role("link", name="Agenda", exact=True).click()
    expect(page.get_by_role("heading", name="Wednesday 20 March 2030")).to_be_visible()
    swapped(ui, before)
    page.get_by_role("button", name="Make a feed address").click()
    address = page.get_by_label("Feed address")
    expect(address).to_be_visible()
    ui.audit()
    assert page.evaluate("() => window.__sameDocument === true"), "the page was reloaded"
    feed = page.request.get(ui.url(urlsplit(address.input_value()).path))
    assert feed.status == 200 and feed.headers["content-type"].startswith("text/calendar")
    assert "SUMMARY:Due: Trail video (Pending)" in feed.text()


def test_filters_work_without_javascript(open_page, side):
    ui = open_page(javascript=False)
    sign_in(ui, side.pair.owner.email)
    ui.visit(MARCH)
    ui.page.get_by_label("Deliverable status").select_option("approved")
    ui.submit("Apply filters")
    expect(ui.page.get_by_role("heading", level=2, name="March 2030")).to_be_visible()
    expect(ui.page.locator("#calendar")).not_to_contain_text("Trail video")
