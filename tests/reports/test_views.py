"""Report pages, CSV export and import, and the creator's results page, through the client."""

import csv
import io
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from portal.accounts.models import AccountKind
from portal.extensions import db
from portal.reports.models import PerformanceResult
from tests.deliverables.conftest import activate
from tests.reports.conftest import FIGURES, csv_bytes, go_live, row

SVG_BLOCK = re.compile(r"<svg .*?</svg>", re.S)


def today():
    """The real date (pages use the real clock)."""
    return datetime.now(UTC).date()


def stored(app):
    """How many readings are stored."""
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(PerformanceResult))


def results_path(live):
    """The live deliverable's results page."""
    return f"/workrooms/{live.workroom_id}/deliverables/{live.live_id}/results"


def figures_form(measured_on, **overrides):
    """The results form's fields."""
    fields = {name: str(value) for name, value in FIGURES.items()}
    return {"measured_on": measured_on.isoformat(), **fields, **overrides}


# The creator's results page ---------------------------------------------------------------------


def test_the_creator_records_results_and_both_sides_read_them(web, app, live_recently):
    live = live_recently
    web.login(live.pair.creator.email)
    page = web.client.get(results_path(live)).get_data(as_text=True)
    assert "Record results" in page
    response = web.post(results_path(live), figures_form(today()))
    assert response.status_code == 303
    assert stored(app) == 1
    web.logout()
    web.login(live.pair.viewer.email)
    page = web.client.get(results_path(live)).get_data(as_text=True)
    assert "12,000" in page and "Record results" not in page


def test_bad_figures_come_back_by_their_field_as_typed(web, app, live_recently):
    live = live_recently
    web.login(live.pair.creator.email)
    response = web.post(results_path(live), figures_form(today(), likes="-5", views="1,2k"))
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "Likes can&#39;t be negative." in page or "Likes can't be negative." in page
    assert 'value="1,2k"' in page
    assert stored(app) == 0


def test_a_future_date_is_refused_with_the_form_kept(web, app, live_recently):
    live = live_recently
    web.login(live.pair.creator.email)
    response = web.post(results_path(live), figures_form(today() + timedelta(days=3)))
    assert response.status_code == 422
    assert "can&#39;t be in the future" in response.get_data(as_text=True)
    assert stored(app) == 0


@pytest.mark.parametrize("who", ["owner", "viewer"])
def test_the_brand_cannot_type_results(web, app, live_recently, who):
    web.login(getattr(live_recently.pair, who).email)
    response = web.post(results_path(live_recently), figures_form(today()), token_from="/account")
    assert response.status_code == 403
    assert stored(app) == 0


def test_the_deliverable_page_links_to_its_results(web, live_recently):
    web.login(live_recently.pair.creator.email)
    page = web.client.get(
        f"/workrooms/{live_recently.workroom_id}/deliverables/{live_recently.live_id}"
    ).get_data(as_text=True)
    assert results_path(live_recently) in page


# Reports ---------------------------------------------------------------------------------------


def seed_reading(app, live, **figures):
    """A CSV import by the owner through the service (the real clock's today)."""
    from portal.accounts.models import User
    from portal.contracts.models import Contract
    from portal.reports import services

    with app.app_context():
        owner = db.session.get(User, live.pair.owner.id)
        data = csv_bytes(row(live.live_id, today().isoformat(), **figures))
        services.import_results(db.session.get(Contract, live.contract_id), owner, data)
        db.session.commit()


def svgs(page):
    """Every inline chart of a page, parsed (fails on markup that is not well-formed)."""
    found = [ET.fromstring(block) for block in SVG_BLOCK.findall(page)]
    assert found, "no chart on the page"
    return found


@pytest.mark.parametrize("who", ["owner", "viewer", "creator"])
def test_both_sides_read_the_contract_report_with_its_charts(web, app, live_recently, who):
    seed_reading(app, live_recently)
    web.login(getattr(live_recently.pair, who).email)
    response = web.client.get(f"/contracts/{live_recently.contract_id}/report")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Engagements = likes + comments + shares + saves" in page
    assert "12,000" in page and "700" in page
    titles = [svg.find("{http://www.w3.org/2000/svg}title").text for svg in svgs(page)]
    assert "Impressions per deliverable (latest reading)" in titles
    assert ("Import results from CSV" in page) is (who == "owner")


def test_strangers_get_404_on_reports(web, make_user, live_recently):
    stranger = make_user()
    web.login(stranger.email)
    for path in (
        f"/contracts/{live_recently.contract_id}/report",
        f"/contracts/{live_recently.contract_id}/report.csv",
        f"/campaigns/{live_recently.pair.campaign_id}/report",
        f"/reports/creators/{live_recently.pair.creator.id}",
        results_path(live_recently),
    ):
        assert web.client.get(path).status_code == 404, path


def test_the_contract_csv_export_parses_back_to_the_figures(web, app, live_recently):
    seed_reading(app, live_recently, impressions=4321)
    web.login(live_recently.pair.owner.email)
    response = web.client.get(f"/contracts/{live_recently.contract_id}/report.csv")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith("attachment;")
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [r["level"] for r in rows] == ["contract", "deliverable", "deliverable"]
    contract, first, second = rows
    assert (contract["impressions"], contract["engagements"], contract["currency"]) == (
        "4321",
        "700",
        "USD",
    )
    assert (contract["delivered"], contract["contracted"]) == ("1", "2")
    assert contract["cost_per_engagement"] == "0.00"  # nothing spent yet
    assert contract["cost_per_thousand_impressions"] == "0.00"
    assert (first["deliverable_id"], first["impressions"], first["measured_on"]) == (
        str(live_recently.live_id),
        "4321",
        today().isoformat(),
    )
    assert second["impressions"] == ""


def test_the_campaign_report_compares_its_contracts(web, app, live_recently):
    seed_reading(app, live_recently)
    web.login(live_recently.pair.owner.email)
    response = web.client.get(f"/campaigns/{live_recently.pair.campaign_id}/report")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    titles = [svg.find("{http://www.w3.org/2000/svg}title").text for svg in svgs(page)]
    assert "Deliverables contracted and delivered per contract" not in titles  # one contract
    assert "Spring Trails" in page
    exported = web.client.get(f"/campaigns/{live_recently.pair.campaign_id}/report.csv")
    assert len(list(csv.DictReader(io.StringIO(exported.get_data(as_text=True))))) == 3


def test_the_creator_report_shows_a_brand_only_its_own_contracts(web, app, live_recently):
    seed_reading(app, live_recently)
    web.login(live_recently.pair.owner.email)
    page = web.client.get(f"/reports/creators/{live_recently.pair.creator.id}")
    assert page.status_code == 200 and "Spring Trails" in page.get_data(as_text=True)
    web.logout()
    web.login(live_recently.pair.creator.email)
    mine = web.client.get(f"/reports/creators/{live_recently.pair.creator.id}.csv")
    assert mine.status_code == 200
    assert len(list(csv.DictReader(io.StringIO(mine.get_data(as_text=True))))) == 3


def test_another_creators_report_is_404_for_a_creator(web, make_user, live_recently):
    other = make_user(kind=AccountKind.creator)
    web.login(other.email)
    assert web.client.get(f"/reports/creators/{live_recently.pair.creator.id}").status_code == 404
    assert web.client.get(f"/reports/creators/{other.id}").status_code == 200


# CSV import ---------------------------------------------------------------------------------------


def upload(web, path, data, name="results.csv"):
    """POST a file to an import page."""
    return web.post(path, {"file": (io.BytesIO(data), name)}, content_type="multipart/form-data")


def test_a_good_file_imports_and_redirects_to_the_report(web, app, live_recently):
    web.login(live_recently.pair.owner.email)
    path = f"/contracts/{live_recently.contract_id}/results/import"
    data = csv_bytes(
        row(live_recently.live_id, today().isoformat()),
        row(live_recently.live_id, (today() - timedelta(days=1)).isoformat()),
    )
    response = upload(web, path, data)
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/contracts/{live_recently.contract_id}/report")
    assert stored(app) == 2


def test_a_file_with_bad_rows_shows_each_problem_and_saves_nothing(web, app, live_recently):
    web.login(live_recently.pair.owner.email)
    path = f"/campaigns/{live_recently.pair.campaign_id}/results/import"
    data = csv_bytes(
        row(live_recently.live_id, today().isoformat()),
        row(live_recently.live_id, "yesterday"),
        row(live_recently.other_id, today().isoformat(), likes="-1"),
    )
    response = upload(web, path, data)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "Nothing was imported" in page
    assert "“yesterday” is not a date (YYYY-MM-DD)." in page
    assert "Likes can&#39;t be negative." in page
    assert stored(app) == 0


def test_an_import_without_a_file_asks_for_one(web, app, live_recently):
    web.login(live_recently.pair.owner.email)
    path = f"/contracts/{live_recently.contract_id}/results/import"
    response = web.post(path, {})
    assert response.status_code == 422
    assert "Choose a CSV file." in response.get_data(as_text=True)


def test_the_template_lists_the_live_deliverables_and_imports_once_filled(web, app, live_recently):
    web.login(live_recently.pair.owner.email)
    template = web.client.get(f"/contracts/{live_recently.contract_id}/results/template.csv")
    assert template.status_code == 200
    rows = list(csv.DictReader(io.StringIO(template.get_data(as_text=True))))
    assert [r["deliverable_id"] for r in rows] == [str(live_recently.live_id)]
    rows[0].update({"measured_on": today().isoformat(), "likes": "12"})
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    path = f"/contracts/{live_recently.contract_id}/results/import"
    assert upload(web, path, buffer.getvalue().encode()).status_code == 303
    assert stored(app) == 1


@pytest.mark.parametrize("who", ["viewer", "creator"])
def test_viewers_and_the_creator_cannot_import(web, app, live_recently, who):
    web.login(getattr(live_recently.pair, who).email)
    path = f"/contracts/{live_recently.contract_id}/results/import"
    response = upload(web, path, csv_bytes(row(live_recently.live_id, today().isoformat())))
    assert response.status_code == 403
    assert stored(app) == 0


# Query counts ----------------------------------------------------------------------------------


def page_queries(web, count_queries, path):
    with count_queries() as statements:
        assert web.client.get(path).status_code == 200
    return len(statements)


def test_report_pages_cost_the_same_queries_with_more_contracts_and_readings(
    web, app, live_recently, count_queries
):
    pair = live_recently.pair
    web.login(pair.owner.email)
    paths = [
        f"/campaigns/{pair.campaign_id}/report",
        f"/campaigns/{pair.campaign_id}/report.csv",
        f"/reports/creators/{pair.creator.id}",
        f"/contracts/{live_recently.contract_id}/report",
        f"/campaigns/{pair.campaign_id}/results/import",
        results_path(live_recently),
    ]
    few = [page_queries(web, count_queries, path) for path in paths]
    seed_reading(app, live_recently)
    with app.app_context():
        for _ in range(3):
            activate(pair)  # more contracts in the campaign and with the creator
        go_live(live_recently.active, index=1, live_on=today() - timedelta(days=5))
    seed_reading(app, live_recently, impressions=5)
    many = [page_queries(web, count_queries, path) for path in paths]
    assert many == few
