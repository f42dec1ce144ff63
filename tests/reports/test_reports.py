"""Report figures, the money arithmetic and the SVG charts."""

import xml.etree.ElementTree as ET

import pytest

from portal.accounts.models import User
from portal.contracts.models import Contract
from portal.deliverables.models import Deliverable
from portal.escrow import services as escrow_services
from portal.escrow.providers import SandboxProvider
from portal.extensions import db
from portal.reports import charts, queries, services
from tests.contracts.conftest import seat
from tests.reports.conftest import FIGURES, LIVE_ON, NOW, go_live

SVG = "{http://www.w3.org/2000/svg}"


@pytest.mark.parametrize(
    ("spend", "count", "per", "expected"),
    [
        (100000, 700, 1, 143),  # 142.857… rounds up
        (100, 8, 1, 13),  # 12.5 rounds half up
        (100, 3, 1, 33),
        (100000, 12000, 1000, 8333),  # CPM: 8,333.33…
        (1, 2, 1, 1),  # 0.5 → 1
        (0, 5, 1, 0),
        (100, 0, 1, None),  # nothing to divide by: "—"
    ],
)
def test_costs_are_integers_rounded_half_up_and_none_without_a_denominator(
    spend, count, per, expected
):
    assert queries.cost_per(spend, count, per) == expected


@pytest.fixture
def spent(app, active, tmp_path):
    """The active contract with a 1,000.00 milestone on its first deliverable, funded,
    the deliverable approved and live, and the milestone settled: 1,000.00 spent."""
    with app.app_context():
        owner = db.session.get(User, active.pair.owner.id)
        contract = db.session.get(Contract, active.contract_id)
        first = db.session.get(Deliverable, active.deliverable_ids[0])
        brand = seat(owner.id, active.workroom_id)
        milestone = escrow_services.add_milestone(
            contract, owner, brand, "Video approved", 100000, deliverables=[first]
        )
        provider = SandboxProvider(str(tmp_path / "provider.sqlite"))
        escrow_services.fund_milestone(milestone, owner, brand, provider)
        db.session.commit()
        go_live(active)
        escrow_services.settle_milestone(db.session.merge(milestone))
        db.session.commit()
    return active


def test_the_report_uses_the_latest_reading_and_the_ledgers_spend(app_ctx, spent):
    creator = db.session.get(User, spent.pair.creator.id)
    maker = seat(creator.id, spent.workroom_id)
    deliverable = db.session.get(Deliverable, spent.deliverable_ids[0])
    day = LIVE_ON.replace(day=25)
    services.record_results(
        deliverable, creator, maker, LIVE_ON, {**FIGURES, "impressions": 1}, now=NOW
    )
    services.record_results(deliverable, creator, maker, day, FIGURES, now=NOW)
    db.session.commit()
    contract = db.session.get(Contract, spent.contract_id)
    report = queries.build_report(queries.one_contract(contract), now=NOW)
    (line,) = report.contracts
    assert line.figures.spend_minor == 100000
    assert [row.result.measured_on if row.result else None for row in line.deliverables] == [
        day,
        None,
    ]
    assert line.figures.totals["impressions"] == 12000
    assert line.figures.engagements == 700
    assert line.figures.cost_per_engagement == 143  # 1,000.00 / 700 = 1.43 a piece
    assert line.figures.cpm == 8333  # 1,000.00 * 1000 / 12,000 = 83.33
    assert (report.facts.delivered, report.facts.contracted) == (1, 2)
    (usd,) = report.by_currency
    assert (usd.currency, usd.spend_minor, usd.cpm) == ("USD", 100000, 8333)


def test_without_readings_the_costs_are_unknown(app_ctx, spent):
    contract = db.session.get(Contract, spent.contract_id)
    report = queries.build_report(queries.one_contract(contract), now=NOW)
    assert report.contracts[0].figures.cost_per_engagement is None
    assert report.contracts[0].figures.cpm is None


def parse(svg):
    """The chart as an XML tree (fails on markup that is not well-formed)."""
    return ET.fromstring(str(svg))


def test_a_bar_chart_is_well_formed_titled_and_labels_every_bar_in_text():
    svg = parse(charts.bar_chart("c1", "Impressions", [("Video", 1200), ("Story", None)]))
    assert svg.tag == f"{SVG}svg"
    assert svg.get("role") == "img"
    assert svg.find(f"{SVG}title").text == "Impressions"
    texts = [t.text for t in svg.iter(f"{SVG}text")]
    assert texts == ["Impressions", "Video", "1,200", "Story", "—"]  # the title is drawn too
    widths = [int(r.get("width")) for r in svg.iter(f"{SVG}rect")]
    assert widths[0] > 0 and widths[1] == 0


def test_chart_labels_are_escaped():
    nasty = '<script>alert("x")</script> & "quotes"'
    markup = str(charts.bar_chart("c2", f"Title {nasty}", [(nasty, 3)]))
    assert "<script>" not in markup
    svg = parse(markup)
    assert svg.find(f"{SVG}title").text == f"Title {nasty}"
    assert list(svg.iter(f"{SVG}script")) == []


def test_a_paired_chart_draws_two_bars_a_row_with_a_legend():
    svg = parse(charts.paired_chart("c3", "Delivery", [("A", 4, 3), ("B", 2, 2)], ("C", "D")))
    rows = [g for g in svg.iter(f"{SVG}g") if g.get("class") == "chart-row"]
    assert len(rows) == 2
    assert all(len(row.findall(f"{SVG}rect")) == 2 for row in rows)
    assert "A: C 4, D 3" in svg.find(f"{SVG}desc").text


def test_an_empty_chart_says_so():
    svg = parse(charts.bar_chart("c4", "Nothing", []))
    assert "No data yet." in [t.text for t in svg.iter(f"{SVG}text")]
