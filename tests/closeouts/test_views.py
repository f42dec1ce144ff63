"""Close-out pages through the client: the offer on the contract page, the confirmation
page with the settlement line by line, proposing, accepting, escalating, withdrawing."""

import pytest
from sqlalchemy import select

from portal.closeouts import queries
from portal.closeouts.models import Closeout, CloseoutStatus
from portal.contracts.models import Contract, ContractStatus
from portal.deliverables.models import Deliverable, DeliverableStatus
from portal.escrow.providers import SandboxProvider
from portal.extensions import db
from portal.mediation.models import Ticket
from tests import factories
from tests.closeouts.conftest import AFTER_TERM, NOW
from tests.conftest import Browserless, https_client


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
def people(app, world):
    """Signed-in browsers of the world's people, by role, and an outsider."""
    with app.app_context():
        outsider = factories.user(name="Otto Outsider")
        db.session.commit()
        emails = {
            "owner": world.pair.owner.email,
            "viewer": world.pair.viewer.email,
            "creator": world.pair.creator.email,
            "outsider": outsider.email,
        }
    return {role: browser(app, email) for role, email in emails.items()}


def propose(app, world, people, who="owner", reason="The season ended early."):
    """Propose through the confirmation page; the close-out's id."""
    url = f"/contracts/{world.contract_id}/closeout"
    response = people[who].post(url, {"reason": reason})
    assert response.status_code == 303, response.get_data(as_text=True)
    with app.app_context():
        return db.session.scalars(select(Closeout.id)).one()


def test_the_contract_page_offers_a_close_out_to_writers_only(world, people):
    url = f"/contracts/{world.contract_id}"
    for role in ("owner", "creator"):
        html = people[role].client.get(url).get_data(as_text=True)
        assert "Close out early" in html
    assert "Close out early" not in people["viewer"].client.get(url).get_data(as_text=True)


def test_past_its_term_with_work_unfinished_the_contract_page_asks_for_a_close_out(
    app, world, people, monkeypatch
):
    with app.app_context():
        contract = db.session.get(Contract, world.contract_id)
        assert queries.panel(contract, now=NOW)["term_over"] is False
        assert queries.panel(contract, now=AFTER_TERM)["term_over"] is True
    monkeypatch.setattr(queries, "utcnow", lambda: AFTER_TERM)
    html = people["creator"].client.get(f"/contracts/{world.contract_id}").get_data(as_text=True)
    assert "term is over with 3 deliverables unfinished" in html
    assert "Close out with a settlement" in html


def test_the_confirmation_page_shows_the_settlement_line_by_line(world, people):
    page = people["owner"].client.get(f"/contracts/{world.contract_id}/closeout")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    for text in ("Trail video", "Trail story", "Trail post", "Not started: refunded", "$1,650.00"):
        assert text in html
    assert "Mark for reassignment" in html  # the brand may reassign open work
    creator_page = people["creator"].client.get(f"/contracts/{world.contract_id}/closeout")
    assert "Mark for reassignment" not in creator_page.get_data(as_text=True)


def test_a_proposal_without_a_reason_is_shown_again_with_the_message_by_the_field(world, people):
    response = people["owner"].post(
        f"/contracts/{world.contract_id}/closeout", {"reason": "", "reassign": []}
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'class="field-error">Say why the contract should close.' in html
    assert "Trail video" in html


def test_propose_then_accept_closes_the_contract(app, world, people):
    closeout_id = propose(app, world, people)
    page = people["creator"].client.get(f"/closeouts/{closeout_id}").get_data(as_text=True)
    assert "Accept the settlement and close the contract" in page
    assert "Withdraw the close-out" not in page
    owner_page = people["owner"].client.get(f"/closeouts/{closeout_id}").get_data(as_text=True)
    assert "Withdraw the close-out" in owner_page
    assert "Accept the settlement" not in owner_page
    response = people["creator"].post(
        f"/closeouts/{closeout_id}/accept", token_from=f"/closeouts/{closeout_id}"
    )
    assert response.status_code == 303
    with app.app_context():
        assert db.session.get(Closeout, closeout_id).status is CloseoutStatus.accepted
        contract = db.session.get(Contract, world.contract_id)
        assert contract.status is ContractStatus.partially_completed
        statuses = db.session.scalars(
            select(Deliverable.status).where(Deliverable.contract_id == world.contract_id)
        ).all()
        assert statuses == [DeliverableStatus.cancelled] * 3
    html = people["owner"].client.get(f"/contracts/{world.contract_id}").get_data(as_text=True)
    assert "Close out early" not in html and "accepted" in html


def test_a_second_visit_to_the_offer_goes_to_the_open_close_out(app, world, people):
    closeout_id = propose(app, world, people)
    response = people["creator"].client.get(f"/contracts/{world.contract_id}/closeout")
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/closeouts/{closeout_id}")


def test_escalating_needs_a_reason_then_opens_a_ticket(app, world, people):
    closeout_id = propose(app, world, people)
    path = f"/closeouts/{closeout_id}"
    refused = people["creator"].post(f"{path}/escalate", {"reason": ""}, token_from=path)
    assert refused.status_code == 422
    assert "Say what you disagree with." in refused.get_data(as_text=True)
    response = people["creator"].post(
        f"{path}/escalate", {"reason": "The kill fee is too low."}, token_from=path
    )
    assert response.status_code == 303
    with app.app_context():
        closeout = db.session.get(Closeout, closeout_id)
        assert closeout.status is CloseoutStatus.escalated
        assert db.session.get(Ticket, closeout.ticket_id) is not None
    assert f"ticket #{closeout.ticket_id}" in people["owner"].client.get(path).get_data(
        as_text=True
    )


def test_withdrawing_is_for_the_proposing_side(app, world, people):
    closeout_id = propose(app, world, people)
    path = f"/closeouts/{closeout_id}"
    refused = people["creator"].post(f"{path}/withdraw", token_from=path)
    assert refused.status_code == 403
    assert "Only the side that proposed" in refused.get_data(as_text=True)
    assert people["owner"].post(f"{path}/withdraw", token_from=path).status_code == 303
    with app.app_context():
        assert db.session.get(Closeout, closeout_id).status is CloseoutStatus.withdrawn


def test_a_refusal_via_htmx_answers_with_the_actions_fragment(app, world, people):
    closeout_id = propose(app, world, people)
    path = f"/closeouts/{closeout_id}"
    response = people["owner"].post(
        f"{path}/accept", token_from=path, headers={"HX-Request": "true"}
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 409
    assert "Your side already accepted" in html
    assert "<h1>" not in html


def test_viewers_read_and_outsiders_get_404(app, world, people):
    closeout_id = propose(app, world, people)
    path = f"/closeouts/{closeout_id}"
    page = people["viewer"].client.get(path)
    assert page.status_code == 200 and "Escalate to mediation" not in page.get_data(as_text=True)
    assert people["viewer"].post(f"{path}/accept", token_from=path).status_code == 403
    assert people["outsider"].client.get(path).status_code == 404
    token = people["outsider"].token("/account")
    response = people["outsider"].client.post(f"{path}/accept", data={"csrf_token": token})
    assert response.status_code == 404
    with app.app_context():
        assert db.session.get(Closeout, closeout_id).status is CloseoutStatus.proposed
