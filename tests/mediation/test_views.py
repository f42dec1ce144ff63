"""Mediation pages through the client: opening a ticket, the thread and private notes, the
queue, claiming, composing a proposal, answering it, deciding, withdrawing, the dashboard."""

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.database import utcnow
from portal.escrow.models import Milestone, MilestoneStatus
from portal.escrow.providers import SandboxProvider
from portal.extensions import db
from portal.mediation.models import Outcome, Ticket, TicketStatus
from tests.conftest import Browserless, https_client
from tests.mediation.conftest import Actors

S = TicketStatus


@pytest.fixture(autouse=True)
def sandbox(app, tmp_path, monkeypatch):
    """This test's own sandbox provider file."""
    path = str(tmp_path / "provider.sqlite")
    monkeypatch.setitem(app.config, "SANDBOX_PROVIDER_PATH", path)
    return SandboxProvider(path)


def browser(app, email):
    """A signed-in client with form helpers."""
    web = Browserless(https_client(app))
    assert web.login(email).status_code == 302
    return web


@pytest.fixture
def people(app, case):
    """Signed-in browsers of the case's people, by role."""
    with app.app_context():
        cast = Actors(case)
        emails = {
            "owner": cast.owner.email,
            "viewer": cast.viewer.email,
            "creator": cast.creator.email,
            "mediator": cast.mediator.email,
            "colleague": cast.colleague.email,
        }
    return {role: browser(app, email) for role, email in emails.items()}


def open_by_creator(app, case, people):
    """The creator opens a payment ticket on the video and its milestone; its id."""
    url = f"/workrooms/{case.workroom_id}/tickets/new"
    with app.app_context():
        video = case.active.deliverable_ids[0]
    page = people["creator"].client.get(f"{url}?deliverable={video}&milestone={case.milestone_id}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert re.search(rf'value="{video}"[^>]*checked|checked[^>]*value="{video}"', html)
    response = people["creator"].post(
        url,
        {
            "category": "payment",
            "subject": "Video payment withheld",
            "what_happened": "Delivered on time; **no review** for two weeks.",
            "asked_for": "Release the milestone.",
            "deliverables": str(video),
            "milestones": str(case.milestone_id),
        },
    )
    assert response.status_code == 303
    return int(response.headers["Location"].rsplit("/", 1)[1])


def ticket_html(web, ticket_id):
    response = web.client.get(f"/tickets/{ticket_id}")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_opening_a_ticket_holds_the_milestone_and_a_bad_form_keeps_what_was_typed(
    app, case, people
):
    url = f"/workrooms/{case.workroom_id}/tickets/new"
    bad = people["creator"].post(url, {"category": "payment", "what_happened": "Kept text"})
    assert bad.status_code == 422
    html = bad.get_data(as_text=True)
    assert "Give the ticket a subject." in html and "Kept text" in html
    assert people["viewer"].post(url, {"subject": "x"}).status_code == 403
    ticket_id = open_by_creator(app, case, people)
    with app.app_context():
        ticket = db.session.get(Ticket, ticket_id)
        assert ticket.status is S.open
        assert db.session.get(Milestone, case.milestone_id).status is MilestoneStatus.held
    html = ticket_html(people["owner"], ticket_id)
    assert "A response to the ticket" in html and "the brand" in html
    assert "<strong>no review</strong>" in html
    listing = people["owner"].client.get(f"/workrooms/{case.workroom_id}/tickets")
    assert "Video payment withheld" in listing.get_data(as_text=True)


def test_the_full_flow_through_the_pages(app, case, people):
    ticket_id = open_by_creator(app, case, people)
    mediator, owner, creator = people["mediator"], people["owner"], people["creator"]
    # Not in the queue until the brand responds; then the mediator finds and takes it.
    assert mediator.client.get(f"/tickets/{ticket_id}").status_code == 404
    owner.post(
        f"/tickets/{ticket_id}/posts",
        {"body": "We asked for a re-cut."},
        token_from=f"/tickets/{ticket_id}",
    )
    queue = mediator.client.get("/mediation").get_data(as_text=True)
    assert "Video payment withheld" in queue
    assert mediator.post(f"/tickets/{ticket_id}/claim", token_from="/mediation").status_code == 303
    assert people["colleague"].client.get(f"/tickets/{ticket_id}").status_code == 404
    # A private note stays with the mediators.
    mediator.post(
        f"/tickets/{ticket_id}/posts",
        {"body": "Brand seems slow.", "private": "y"},
        token_from=f"/tickets/{ticket_id}",
    )
    assert "Brand seems slow." in ticket_html(mediator, ticket_id)
    for party in (owner, creator, people["viewer"]):
        assert "Brand seems slow." not in ticket_html(party, ticket_id)
    # A composer error keeps the typed values.
    with app.app_context():
        video = case.active.deliverable_ids[0]
    milestone = f"milestone-{case.milestone_id}"
    bad = mediator.post(
        f"/tickets/{ticket_id}/proposals",
        {f"{milestone}-action": "release", f"{milestone}-amount": "5000.00", "note": "Kept"},
        token_from=f"/tickets/{ticket_id}",
    )
    assert bad.status_code == 422
    assert "at most the $1,000.00 in escrow" in bad.get_data(as_text=True)
    assert 'value="5000.00"' in bad.get_data(as_text=True)
    due_on = (utcnow() + timedelta(days=14)).date().isoformat()
    proposed = mediator.post(
        f"/tickets/{ticket_id}/proposals",
        {
            f"deliverable-{video}-action": "extend",
            f"deliverable-{video}-due": due_on,
            f"{milestone}-action": "release",
            f"{milestone}-percent": "40",
            "note": "A fair split.",
            "mode": "propose",
        },
        token_from=f"/tickets/{ticket_id}",
    )
    assert proposed.status_code == 303
    html = ticket_html(creator, ticket_id)
    assert "Release $400.00 (40 %) of “Video approved” to the creator" in html
    assert "Accept proposal 1" in html
    answer = f"/tickets/{ticket_id}/proposals/1/answer"
    refused = owner.post(answer, {"decision": "reject"}, token_from=f"/tickets/{ticket_id}")
    assert refused.status_code == 422  # a rejection says why
    for party in (creator, owner):
        done = party.post(answer, {"decision": "accept"}, token_from=f"/tickets/{ticket_id}")
        assert done.status_code == 303
    with app.app_context():
        ticket = db.session.get(Ticket, ticket_id)
        assert (ticket.status, ticket.outcome) == (S.resolved, Outcome.agreed)
        assert db.session.get(Milestone, case.milestone_id).status is (
            MilestoneStatus.partially_released
        )
    assert "$400.00 released" in ticket_html(owner, ticket_id)
    figures = mediator.client.get("/mediation/dashboard").get_data(as_text=True)
    assert "Agreed" in figures and "$400.00 released" in figures


def test_the_mediator_decides_after_the_deadline_and_the_opener_can_withdraw(app, case, people):
    ticket_id = open_by_creator(app, case, people)
    owner = people["owner"]
    assert (
        owner.post(f"/tickets/{ticket_id}/withdraw", token_from=f"/tickets/{ticket_id}").status_code
        == 403
    )  # only the side that opened it
    owner.post(
        f"/tickets/{ticket_id}/posts", {"body": "Our side."}, token_from=f"/tickets/{ticket_id}"
    )
    people["mediator"].post(f"/tickets/{ticket_id}/claim", token_from="/mediation")
    milestone = f"milestone-{case.milestone_id}"
    decide = {f"{milestone}-action": "refund", f"{milestone}-percent": "100", "mode": "decide"}
    early = people["mediator"].post(
        f"/tickets/{ticket_id}/proposals", decide, token_from=f"/tickets/{ticket_id}"
    )
    assert early.status_code == 403
    assert "binding decision is possible from" in early.get_data(as_text=True)
    with app.app_context():
        ticket = db.session.get(Ticket, ticket_id)
        ticket.resolve_by = utcnow() - timedelta(minutes=1)  # the time for agreement ran out
        db.session.commit()
    late = people["mediator"].post(
        f"/tickets/{ticket_id}/proposals", decide, token_from=f"/tickets/{ticket_id}"
    )
    assert late.status_code == 303
    with app.app_context():
        assert db.session.get(Ticket, ticket_id).outcome is Outcome.decided
        assert db.session.get(Milestone, case.milestone_id).status is MilestoneStatus.refunded


def test_withdrawing_lifts_the_hold(app, case, people):
    ticket_id = open_by_creator(app, case, people)
    response = people["creator"].post(
        f"/tickets/{ticket_id}/withdraw",
        {"reason": "Paid now."},
        token_from=f"/tickets/{ticket_id}",
    )
    assert response.status_code == 303
    with app.app_context():
        assert db.session.get(Ticket, ticket_id).status is S.withdrawn
        assert db.session.get(Milestone, case.milestone_id).status is MilestoneStatus.funded


def test_the_queue_filters_and_sorts_by_sla_risk(app, case, people):
    first = open_by_creator(app, case, people)
    second = open_by_creator(app, case, people)
    for ticket_id in (first, second):
        people["owner"].post(
            f"/tickets/{ticket_id}/posts", {"body": "Hi"}, token_from=f"/tickets/{ticket_id}"
        )
    people["mediator"].post(f"/tickets/{second}/claim", token_from="/mediation")
    waiting = people["mediator"].client.get("/mediation").get_data(as_text=True)
    assert f"#{first} " in waiting and f"#{second} " not in waiting
    mine = people["mediator"].client.get("/mediation?whose=mine").get_data(as_text=True)
    assert f"#{second} " in mine and f"#{first} " not in mine
    both = people["mediator"].client.get("/mediation?whose=all").get_data(as_text=True)
    assert both.index(f"#{first} ") < both.index(f"#{second} ")  # unassigned first
    quality = people["mediator"].client.get("/mediation?whose=all&category=quality")
    assert "No ticket is waiting" in quality.get_data(as_text=True)
    fragment = people["mediator"].client.get("/mediation?whose=all", headers={"HX-Request": "true"})
    assert fragment.get_data(as_text=True).lstrip().startswith('<div id="queue-list">')


def test_the_queue_and_a_ticket_page_use_a_constant_number_of_queries(
    app, case, people, count_queries
):
    ids = [open_by_creator(app, case, people) for _ in range(2)]
    for ticket_id in ids:
        people["owner"].post(
            f"/tickets/{ticket_id}/posts", {"body": "Hi"}, token_from=f"/tickets/{ticket_id}"
        )
    with count_queries() as few:
        people["mediator"].client.get("/mediation")
    ids += [open_by_creator(app, case, people) for _ in range(3)]
    for ticket_id in ids[2:]:
        people["owner"].post(
            f"/tickets/{ticket_id}/posts", {"body": "Hi"}, token_from=f"/tickets/{ticket_id}"
        )
    with count_queries() as many:
        people["mediator"].client.get("/mediation")
    assert len(many) == len(few)
    with app.app_context():
        assert len(db.session.scalars(select(Ticket)).all()) == 5


def test_a_mediator_assigns_a_waiting_ticket_to_a_colleague(app, case, people):
    ticket_id = open_by_creator(app, case, people)
    people["owner"].post(
        f"/tickets/{ticket_id}/posts", {"body": "Hi"}, token_from=f"/tickets/{ticket_id}"
    )
    assert "Assign to" in ticket_html(people["mediator"], ticket_id)
    response = people["mediator"].post(
        f"/tickets/{ticket_id}/assign",
        {"mediator_id": str(case.colleague_id)},
        token_from=f"/tickets/{ticket_id}",
    )
    assert response.status_code == 303
    mine = people["colleague"].client.get("/mediation?whose=mine").get_data(as_text=True)
    assert f"#{ticket_id} " in mine
    assert people["mediator"].client.get(f"/tickets/{ticket_id}").status_code == 404
