"""Results and reports in a real browser: the creator records a live video's figures, the
brand imports a CSV file (a bad row first: nothing saved, the problem shown; then a good
file), and the contract report shows the figures and its SVG charts. Pages are checked by
axe-core."""

from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import func, select

from portal.extensions import db
from portal.reports.models import PerformanceResult
from tests.contracts.conftest import seed_pair
from tests.deliverables.conftest import activate
from tests.e2e.test_accounts import sign_in
from tests.reports.conftest import go_live


class Seeded:
    """The pair, the active contract and its live video."""

    def __init__(self, pair, contract_id, video_id):
        self.pair, self.contract_id, self.video_id = pair, contract_id, video_id

    @property
    def results(self):
        """The video's results page."""
        return f"/workrooms/{self.pair.workroom_id}/deliverables/{self.video_id}/results"


@pytest.fixture
def seeded(app):
    """An active contract whose video went live ten days ago."""
    pair = seed_pair(app)
    with app.app_context():
        contract_id, ids = activate(pair)

        class Active:
            deliverable_ids = ids

        Active.pair, Active.workroom_id = pair, pair.workroom_id
        go_live(Active, live_on=datetime.now(UTC).date() - timedelta(days=10))
    return Seeded(pair, contract_id, ids[0])


def readings(app):
    """How many readings are stored."""
    with app.app_context():
        count = db.session.scalar(select(func.count()).select_from(PerformanceResult))
        db.session.remove()
        return count


@pytest.mark.e2e
@pytest.mark.parametrize("javascript", [True, False], ids=["with-js", "without-js"])
def test_results_are_recorded_imported_and_reported(open_page, seeded, app, javascript):
    today = datetime.now(UTC).date()
    creator = open_page(javascript=javascript)
    sign_in(creator, seeded.pair.creator.email)
    creator.visit(f"/workrooms/{seeded.pair.workroom_id}/deliverables/{seeded.video_id}")
    creator.follow("Record results")
    creator.page.get_by_label("Measured on").fill(today.isoformat())
    creator.page.get_by_label("Impressions").fill("12000")
    creator.page.get_by_label("Likes").fill("-4")
    creator.submit("Save the results")
    expect(creator.page.locator("#likes-error")).to_have_text("Likes can't be negative.")
    expect(creator.page.get_by_label("Impressions")).to_have_value("12000")
    creator.page.get_by_label("Likes").fill("600")
    creator.submit("Save the results")
    expect(creator.page.locator("#flash")).to_contain_text("recorded")
    expect(creator.page.locator("#readings")).to_contain_text("12,000")

    owner = open_page(javascript=javascript)
    sign_in(owner, seeded.pair.owner.email)
    owner.visit(f"/contracts/{seeded.contract_id}/report")
    owner.click(owner.page.get_by_role("button", name="Import results from CSV"))
    yesterday = (today - timedelta(days=1)).isoformat()
    bad = f"deliverable_id,measured_on,impressions,likes\n{seeded.video_id},{yesterday},9000,1.5\n"
    owner.page.get_by_label("CSV file").set_input_files(
        files=[{"name": "results.csv", "mimeType": "text/csv", "buffer": bad.encode()}]
    )
    owner.submit("Check and import")
    problems = owner.page.locator("#import-problems")
    expect(problems).to_contain_text("Likes must be a whole number")
    assert readings(app) == 1
    good = bad.replace(",1.5", ",450")
    owner.page.get_by_label("CSV file").set_input_files(
        files=[{"name": "results.csv", "mimeType": "text/csv", "buffer": good.encode()}]
    )
    owner.submit("Check and import")
    expect(owner.page.locator("#flash")).to_contain_text("Imported 1 row(s): 1 new")
    assert readings(app) == 2

    # The report uses the latest reading (the creator's, today) and draws it.
    expect(owner.page.locator("#report-deliverables")).to_contain_text("12,000")
    chart = owner.page.locator("svg#chart-impressions")
    expect(chart).to_be_visible()
    expect(chart.locator("title").first).to_have_text(
        "Impressions per deliverable (latest reading)"
    )
    expect(owner.page.locator("#report-definitions")).to_contain_text(
        "Engagements = likes + comments + shares + saves"
    )
