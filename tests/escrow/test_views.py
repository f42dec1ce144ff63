"""Money pages through the client: the workroom's milestones, adding and funding them, the
"why is this not released yet?" list, statements with CSV, and constant query counts."""

import csv
import io

import pytest
from sqlalchemy import select

from portal.accounts.models import User
from portal.contracts.models import Contract
from portal.deliverables import services as deliverable_services
from portal.deliverables.models import Deliverable, ReviewDecision
from portal.escrow import services
from portal.escrow.models import Milestone, MilestoneStatus, Payout, PayoutState
from portal.escrow.providers import SandboxProvider
from portal.extensions import db
from portal.rendering import csv_cell
from tests.contracts.conftest import seat

S = MilestoneStatus


@pytest.fixture(autouse=True)
def sandbox(app, tmp_path, monkeypatch):
    """This test's own sandbox provider file (the views use the configured one)."""
    path = str(tmp_path / "provider.sqlite")
    monkeypatch.setitem(app.config, "SANDBOX_PROVIDER_PATH", path)
    return SandboxProvider(path)


def money_url(active):
    return f"/workrooms/{active.workroom_id}/money"


def milestone_url(active, milestone_id):
    return f"/workrooms/{active.workroom_id}/milestones/{milestone_id}"


def new_url(active):
    return f"/workrooms/{active.workroom_id}/contracts/{active.contract_id}/milestones/new"


def add(app, active, title="Video approved", amount=100000, deliverable=0, **options):
    """A milestone added by the owner through the service; returns its id."""
    with app.app_context():
        owner = db.session.get(User, active.pair.owner.id)
        deliverables = (
            [db.session.get(Deliverable, active.deliverable_ids[deliverable])]
            if deliverable is not None
            else []
        )
        milestone = services.add_milestone(
            db.session.get(Contract, active.contract_id),
            owner,
            seat(owner.id, active.workroom_id),
            title,
            amount,
            deliverables=deliverables,
            prior_milestones=[db.session.get(Milestone, i) for i in options.pop("after", [])],
            **options,
        )
        db.session.commit()
        return milestone.id


def fund(app, active, milestone_id, provider):
    with app.app_context():
        owner = db.session.get(User, active.pair.owner.id)
        services.fund_milestone(
            db.session.get(Milestone, milestone_id),
            owner,
            seat(owner.id, active.workroom_id),
            provider,
        )
        db.session.commit()


def approve(app, active, n=0):
    """The creator submits the deliverable and the owner approves it."""
    with app.app_context():
        creator = db.session.get(User, active.pair.creator.id)
        owner = db.session.get(User, active.pair.owner.id)
        deliverable = db.session.get(Deliverable, active.deliverable_ids[n])
        revision = deliverable_services.submit_revision(
            deliverable, creator, seat(creator.id, active.workroom_id), "Cut"
        )
        deliverable_services.review_revision(
            revision, owner, seat(owner.id, active.workroom_id), ReviewDecision.approve
        )
        db.session.commit()


def settle_and_pay(app, milestone_id, provider):
    """What the payout jobs do: release the milestone, then pay the payout."""
    with app.app_context():
        payout = services.settle_milestone(db.session.get(Milestone, milestone_id))
        db.session.commit()
        services.send_payout(db.session.get(Payout, payout.id), provider)
        db.session.commit()


def status_of(app, milestone_id):
    with app.app_context():
        return db.session.get(Milestone, milestone_id).status


def test_the_workroom_loads_its_money_section_as_a_fragment(web, active, app):
    milestone_id = add(app, active)
    web.login(active.pair.creator.email)
    full = web.client.get(money_url(active))
    fragment = web.client.get(money_url(active), headers={"HX-Request": "true"})
    assert full.status_code == fragment.status_code == 200
    body = fragment.get_data(as_text=True)
    assert "<html" not in body and 'id="milestone-list"' in body
    assert "Video approved" in body and "$1,000.00" in body and "Pending" in body
    assert f'href="{milestone_url(active, milestone_id)}"' in body
    assert "Add a milestone" not in body  # the creator reads only
    assert "HX-Request" in fragment.headers["Vary"]
    workroom = web.client.get(f"/workrooms/{active.workroom_id}").get_data(as_text=True)
    assert f'hx-get="{money_url(active)}"' in workroom


def test_the_brand_adds_a_milestone_with_dependencies_and_funds_it(web, active, app, sandbox):
    web.login(active.pair.owner.email)
    listing = web.client.get(money_url(active)).get_data(as_text=True)
    assert f'href="{new_url(active)}"' in listing
    form = web.client.get(new_url(active)).get_data(as_text=True)
    assert "Trail video" in form and "Trail story" in form
    response = web.post(
        new_url(active),
        {
            "title": "Video live a week",
            "amount": "1,250.50",
            "deliverables": [str(active.deliverable_ids[0])],
            "live_days": "7",
            "requires_signoff": "y",
        },
    )
    assert response.status_code == 303, response.get_data(as_text=True)
    with app.app_context():
        milestone = db.session.scalar(select(Milestone))
        assert (milestone.amount_minor, milestone.currency) == (125050, "USD")
        assert milestone.requires_signoff is True
        assert [(d.deliverable_id, d.live_days) for d in milestone.dependencies] == [
            (active.deliverable_ids[0], 7)
        ]
        milestone_id = milestone.id
    assert response.headers["Location"].endswith(milestone_url(active, milestone_id))
    page = milestone_url(active, milestone_id)
    response = web.post(f"{page}/fund", token_from=page)
    assert response.status_code == 303
    assert status_of(app, milestone_id) is S.funded
    assert len(sandbox.calls("charge")) == 1
    shown = web.client.get(page).get_data(as_text=True)
    assert "Funded: $1,250.50 is in escrow." in shown
    assert "Fund $1,250.50" not in shown  # no second funding button
    again = web.post(f"{page}/fund", token_from=page)
    assert again.status_code == 409 and "already funded" in again.get_data(as_text=True)
    response = web.post(f"{page}/sign-off", token_from=page)
    assert response.status_code == 303
    web.logout()

    web.login(active.pair.creator.email)
    listing = web.client.get(money_url(active)).get_data(as_text=True)
    assert "Funded" in listing and "$1,250.50" in listing
    shown = web.client.get(page).get_data(as_text=True)
    assert "“Trail video” is pending, not approved." in shown and "Fund $" not in shown
    assert web.post(f"{page}/sign-off", token_from=page).status_code == 403


def test_funding_all_pending_milestones_asks_first_then_funds_each(web, active, app, sandbox):
    first, second = add(app, active), add(app, active, "Story", 25000, deliverable=1)
    web.login(active.pair.owner.email)
    url = f"/workrooms/{active.workroom_id}/contracts/{active.contract_id}/fund"
    confirm = web.client.get(url).get_data(as_text=True)
    assert "Pay $1,250.00 for 2 milestones" in confirm
    assert status_of(app, first) is S.pending
    response = web.post(url)
    assert response.status_code == 303
    assert status_of(app, first) is status_of(app, second) is S.funded
    assert "Every milestone of this contract is already funded." in web.client.get(url).get_data(
        as_text=True
    )


@pytest.mark.parametrize(
    "fields, field_id, message",
    [
        ({"amount": "12.345"}, "amount", "USD amounts have at most 2 decimals."),
        ({"amount": "0"}, "amount", "The amount must be more than zero."),
        ({"amount": "ten"}, "amount", "Enter an amount such as 250 or 250.00."),
        ({"title": ""}, "title", "Give the milestone a title."),
        ({"live_days": "-1"}, "live_days", "Between 0 and 365 days."),
        ({"deliverables": "999999"}, "deliverables", "is not a valid choice"),
    ],
)
def test_refused_input_keeps_the_form_with_a_message_by_the_field(
    web, active, app, fields, field_id, message
):
    web.login(active.pair.owner.email)
    data = {"title": "Launch <bonus>", "amount": "250", **fields}
    response = web.post(new_url(active), data)
    body = response.get_data(as_text=True)
    assert response.status_code == 422
    assert f'id="{field_id}-error"' in body and message in body
    if fields.get("title") != "":
        assert 'value="Launch &lt;bonus&gt;"' in body
    with app.app_context():
        assert db.session.scalar(select(Milestone.id)) is None


@pytest.mark.parametrize("who", ["creator", "viewer"])
def test_only_brand_writers_add_or_fund_milestones(web, active, app, who):
    milestone_id = add(app, active)
    web.login(getattr(active.pair, who).email)
    assert web.client.get(new_url(active)).status_code == 403
    page = milestone_url(active, milestone_id)
    shown = web.client.get(page)
    assert shown.status_code == 200 and "Fund $" not in shown.get_data(as_text=True)
    assert web.post(f"{page}/fund", token_from=page).status_code == 403
    assert web.post(
        new_url(active), {"title": "X", "amount": "1"}, token_from=page
    ).status_code == (403)
    assert status_of(app, milestone_id) is S.pending


def test_the_page_says_why_it_is_not_released_with_links(web, active, app, sandbox):
    first = add(app, active)
    later = add(
        app,
        active,
        "Story live",
        25000,
        deliverable=1,
        after=[first],
        live_days=3,
        requires_signoff=True,
    )
    fund(app, active, later, sandbox)
    web.login(active.pair.viewer.email)
    body = web.client.get(milestone_url(active, later)).get_data(as_text=True)
    assert "Why is this not released yet?" in body
    assert "“Trail story” is pending, not approved." in body
    deliverable_link = (
        f'href="/workrooms/{active.workroom_id}/deliverables/{active.deliverable_ids[1]}"'
    )
    assert deliverable_link in body
    assert "Milestone “Video approved” is not paid yet." in body
    assert f'href="{milestone_url(active, first)}"' in body
    assert "The brand has not signed it off." in body
    assert "escrow" in body.lower()  # its funding transactions show in the ledger section

    approve(app, active, 0)
    approve(app, active, 1)
    fund(app, active, first, sandbox)
    settle_and_pay(app, first, sandbox)
    body = web.client.get(milestone_url(active, first)).get_data(as_text=True)
    assert "It was released and paid out to the creator." in body and "Paid" in body
    body = web.client.get(milestone_url(active, later)).get_data(as_text=True)
    assert "not paid yet" not in body and "is not live yet" in body


def test_other_workrooms_milestones_are_404(web, active, app):
    milestone_id = add(app, active)
    web.login(active.pair.owner.email)
    assert web.client.get(f"/workrooms/999/milestones/{milestone_id}").status_code == 404
    assert web.client.get(milestone_url(active, 999)).status_code == 404


@pytest.fixture
def history(app, active, sandbox):
    """Paid 1,000.00 (10% fee), pending 250.00, funded 300.00 with 100.00 refunded."""
    paid = add(app, active, '=HYPERLINK("http://evil.example")')
    pending = add(app, active, "Story", 25000, deliverable=1)
    refunded = add(app, active, "@Extra", 30000, deliverable=1)
    fund(app, active, paid, sandbox)
    fund(app, active, refunded, sandbox)
    approve(app, active, 0)
    settle_and_pay(app, paid, sandbox)
    with app.app_context():
        services.refund_milestone(db.session.get(Milestone, refunded), 10000, "Less work")
        db.session.commit()
    return {"paid": paid, "pending": pending, "refunded": refunded}


def read_csv(response):
    return list(csv.reader(io.StringIO(response.get_data(as_text=True))))


def test_the_brand_statement_shows_each_figure_per_campaign_and_contract(web, active, app, history):
    web.login(active.pair.viewer.email)
    body = web.client.get(f"/brands/{brand_id(app, active)}/statement").get_data(as_text=True)
    for figure in ("$1,550.00", "$1,300.00", "$1,000.00", "$100.00"):
        assert figure in body
    assert "Spring launch" in body and "Cora Creator" in body
    response = web.client.get(f"/brands/{brand_id(app, active)}/statement.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"].startswith("attachment; filename=")
    rows = read_csv(response)
    assert rows[0][:10] == [
        "level", "campaign", "contract", "creator", "currency",
        "committed", "funded", "released", "refunded", "fees",
    ]  # fmt: skip
    by_level = {row[0]: row for row in rows[1:]}
    expected = ["USD", "1550.00", "1300.00", "1000.00", "100.00", "100.00"]
    assert by_level["contract"][4:10] == expected
    assert by_level["campaign"][4:10] == expected
    assert by_level["contract"][3] == "Cora Creator"


def brand_id(app, active):
    with app.app_context():
        return db.session.get(Contract, active.contract_id).workroom.brand_id


def test_the_creator_statement_shows_pending_releasable_paid_with_dates(
    web, active, app, history, sandbox
):
    web.login(active.pair.creator.email)
    body = web.client.get("/statement").get_data(as_text=True)
    # pending: 250.00 unfunded + 200.00 still in escrow; paid: 1,000.00 less the 10% fee
    assert "$450.00" in body and "$900.00" in body
    rows = read_csv(web.client.get("/statement.csv"))
    assert rows[0] == [
        "brand", "contract", "milestone", "currency", "amount", "state",
        "pending", "releasable", "paid", "funded on", "paid on",
    ]  # fmt: skip
    by_title = {row[2]: row for row in rows[1:]}
    paid = by_title['\'=HYPERLINK("http://evil.example")']  # CSV injection defused
    assert paid[5:9] == ["paid", "0.00", "0.00", "900.00"] and paid[9] and paid[10]
    assert by_title["'@Extra"][5:7] == ["pending", "200.00"]
    assert by_title["Story"][5:9] == ["pending", "250.00", "0.00", "0.00"]
    assert by_title["Story"][9] == ""  # never funded
    with app.app_context():  # a releasable milestone not yet settled is "releasable"
        assert db.session.scalar(select(Payout.state)) is PayoutState.paid


@pytest.mark.parametrize("text", ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"])
def test_csv_cells_that_a_spreadsheet_would_run_are_quoted(text):
    assert csv_cell(text) == "'" + text
    assert csv_cell("plain") == "plain" and csv_cell(None) == ""


def test_statements_belong_to_their_side(web, active, app):
    web.login(active.pair.creator.email)
    assert web.client.get(f"/brands/{brand_id(app, active)}/statement").status_code == 404
    web.logout()
    web.login(active.pair.owner.email)
    assert web.client.get("/statement").status_code == 403


def query_count(count_queries, client, url):
    with count_queries() as statements:
        response = client.get(url)
    assert response.status_code == 200
    return len(statements)


def test_statement_and_milestone_pages_run_a_constant_number_of_queries(
    web, active, app, sandbox, count_queries
):
    first = add(app, active)
    fund(app, active, first, sandbox)
    web.login(active.pair.owner.email)
    brand_url = f"/brands/{brand_id(app, active)}/statement"
    urls = [brand_url, f"{brand_url}.csv", money_url(active), milestone_url(active, first)]
    before = {url: query_count(count_queries, web.client, url) for url in urls}

    later = [add(app, active, f"M{n}", 1000 + n, after=[first]) for n in range(4)]
    for milestone_id in later[:2]:
        fund(app, active, milestone_id, sandbox)
    approve(app, active, 0)
    settle_and_pay(app, first, sandbox)
    with app.app_context():
        services.partial_release(db.session.get(Milestone, later[0]), 500, "Half")
        db.session.commit()
    after = {url: query_count(count_queries, web.client, url) for url in urls}
    assert after == before
    # the milestone page with several dependencies, payouts and transactions
    heavy = add(app, active, "Heavy", 5000, deliverable=1, after=later)
    fund(app, active, heavy, sandbox)
    assert (
        query_count(count_queries, web.client, milestone_url(active, heavy))
        == before[milestone_url(active, first)]
    )
    web.logout()

    web.login(active.pair.creator.email)
    creator_urls = ["/statement", "/statement.csv"]
    counts = {url: query_count(count_queries, web.client, url) for url in creator_urls}
    for n in range(3):
        add(app, active, f"N{n}", 700)
    assert {url: query_count(count_queries, web.client, url) for url in creator_urls} == counts
