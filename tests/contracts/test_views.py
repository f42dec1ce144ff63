"""Contract pages through the client: forms without JS, answers by hash, refusals, diffs."""

import re

import pytest
from flask import render_template
from sqlalchemy import func, select

from portal.accounts.models import User
from portal.audit import AuditEvent
from portal.contracts.models import Contract, ContractStatus, ContractVersion, VersionState
from portal.contracts.queries import contracts_of
from portal.extensions import db
from portal.workrooms.access import seat_of
from portal.workrooms.models import Message, MessageKind, Workroom
from tests import factories
from tests.contracts.samples import form_fields, sample_terms
from tests.security.test_access_control import changed_tables, db_state

SHA = re.compile(r'name="sha256" value="([0-9a-f]{64})"')


def new_url(pair):
    return f"/workrooms/{pair.workroom_id}/contracts/new"


def propose(web, pair, **kwargs):
    """Bea proposes Spring Trails through the form; returns the contract id."""
    web.login(pair.owner.email)
    response = web.post(new_url(pair), form_fields(campaign_id=pair.campaign_id, **kwargs))
    assert response.status_code == 303, response.get_data(as_text=True)
    web.logout()
    return int(response.headers["Location"].rsplit("/", 1)[1])


def shown_sha(web, contract_id):
    return SHA.search(web.client.get(f"/contracts/{contract_id}").get_data(as_text=True)).group(1)


def answer(web, contract_id, action, **fields):
    """Post the accept or decline form of the contract page."""
    page = f"/contracts/{contract_id}"
    return web.post(f"{page}/{action}", fields, token_from=page)


def contract_row(app, contract_id):
    with app.app_context():
        contract = db.session.get(Contract, contract_id)
        return contract.status, [(v.number, v.state) for v in contract.versions]


def test_new_contract_form_has_five_blank_line_rows_and_labels(web, pair):
    web.login(pair.owner.email)
    html = web.client.get(new_url(pair)).get_data(as_text=True)
    assert 'name="lines-4-title"' in html and 'name="lines-5-title"' not in html
    assert '<label for="lines-0-price" class="visually-hidden">Line 1 price</label>' in html
    assert "Spring launch" in html  # the brand's campaign


def test_propose_changes_requested_revise_accept_active_through_pages(web, pair, app):
    contract_id = propose(web, pair)
    assert contract_row(app, contract_id) == (ContractStatus.proposed, [(1, VersionState.open)])

    web.login(pair.creator.email)
    sha1 = shown_sha(web, contract_id)
    response = web.post(
        f"/contracts/{contract_id}/decline",
        {"sha256": sha1, "comment": "Please add a reel."},
        token_from=f"/contracts/{contract_id}",
    )
    assert response.status_code == 303
    web.logout()

    web.login(pair.owner.email)
    page = web.client.get(f"/contracts/{contract_id}/edit").get_data(as_text=True)
    assert 'value="Trail video"' in page  # starts from the current terms
    terms = sample_terms(title="Spring Trails Plus")
    response = web.post(
        f"/contracts/{contract_id}/edit", form_fields(terms, comment="Added a reel.")
    )
    assert response.status_code == 303
    web.logout()

    web.login(pair.creator.email)
    sha2 = shown_sha(web, contract_id)
    assert sha2 != sha1
    response = web.post(
        f"/contracts/{contract_id}/accept", {"sha256": sha2}, token_from=f"/contracts/{contract_id}"
    )
    assert response.status_code == 303
    status, versions = contract_row(app, contract_id)
    assert status is ContractStatus.active
    assert versions == [(1, VersionState.changes_requested), (2, VersionState.accepted)]
    page = web.client.get(f"/contracts/{contract_id}").get_data(as_text=True)
    assert "Terms in force: version 2" in page
    assert f'<code title="{sha2}">{sha2[:12]}</code>' in page
    assert "Cora Creator (creator) accepted" in page and "Bea Brand (brand) accepted" in page
    v1_page = web.client.get(f"/contracts/{contract_id}/versions/1").get_data(as_text=True)
    assert "Cora Creator asked for changes" in v1_page and "Please add a reel." in v1_page
    with app.app_context():
        lines = db.session.scalars(
            select(Message.body_md).where(Message.kind == MessageKind.system).order_by(Message.seq)
        ).all()
        actions = db.session.scalars(
            select(AuditEvent.action).where(AuditEvent.action.like("contract.%"))
        ).all()
    assert lines[-1] == "Contract **Spring Trails Plus** is active."
    assert len(lines) == 5
    assert actions == [
        "contract.proposed",
        "contract.changes_requested",
        "contract.revised",
        "contract.accepted",
        "contract.activated",
    ]


def test_accepting_after_the_terms_changed_is_refused_with_a_message(web, pair, app):
    contract_id = propose(web, pair)
    web.login(pair.creator.email)
    stale = shown_sha(web, contract_id)
    web.logout()
    web.login(pair.owner.email)
    web.post(f"/contracts/{contract_id}/edit", form_fields(sample_terms(kill_fee_percent=30)))
    web.logout()
    web.login(pair.creator.email)
    before = db_state(app)
    response = web.post(
        f"/contracts/{contract_id}/accept",
        {"sha256": stale},
        token_from=f"/contracts/{contract_id}",
    )
    assert response.status_code == 409
    assert "The terms changed since you opened them" in response.get_data(as_text=True)
    assert changed_tables(before, db_state(app)) == []
    assert contract_row(app, contract_id)[0] is ContractStatus.proposed


def test_amendment_proposed_by_creator_and_accepted_or_rejected_by_brand(web, pair, app):
    contract_id = propose(web, pair)
    web.login(pair.creator.email)
    web.post(
        f"/contracts/{contract_id}/accept",
        {"sha256": shown_sha(web, contract_id)},
        token_from=f"/contracts/{contract_id}",
    )
    response = web.post(
        f"/contracts/{contract_id}/edit", form_fields(sample_terms(revision_budget=3))
    )
    assert response.status_code == 303
    web.logout()
    web.login(pair.owner.email)
    page = web.client.get(f"/contracts/{contract_id}").get_data(as_text=True)
    assert "Reject the amendment" in page
    response = web.post(
        f"/contracts/{contract_id}/decline",
        {"sha256": shown_sha(web, contract_id), "comment": "Two rounds are enough."},
        token_from=f"/contracts/{contract_id}",
    )
    assert response.status_code == 303
    assert contract_row(app, contract_id)[1][-1] == (2, VersionState.rejected)
    web.post(f"/contracts/{contract_id}/edit", form_fields(sample_terms(revision_budget=4)))
    web.logout()
    web.login(pair.creator.email)
    web.post(
        f"/contracts/{contract_id}/accept",
        {"sha256": shown_sha(web, contract_id)},
        token_from=f"/contracts/{contract_id}",
    )
    status, versions = contract_row(app, contract_id)
    assert (status, versions[-1]) == (ContractStatus.active, (3, VersionState.accepted))
    page = web.client.get(f"/contracts/{contract_id}").get_data(as_text=True)
    assert "Terms in force: version 3" in page and "4 change-request rounds" in page


def test_compare_page_shows_changed_lines_marked_in_words(web, pair):
    contract_id = propose(web, pair)
    web.login(pair.owner.email)
    web.post(f"/contracts/{contract_id}/edit", form_fields(sample_terms(kill_fee_percent=30)))
    html = web.client.get(f"/contracts/{contract_id}/compare?old=1&new=2").get_data(as_text=True)
    assert "<del>Kill fee: 0%</del>" in html
    assert "<ins>Kill fee: 30%</ins>" in html
    assert "1 line removed, 1 added" in html
    assert "Removed</td>" in html and "Added</td>" in html
    version_page = web.client.get(f"/contracts/{contract_id}/versions/1")
    assert version_page.status_code == 200
    assert "superseded" in version_page.get_data(as_text=True)
    assert web.client.get(f"/contracts/{contract_id}/compare?old=1&new=9").status_code == 404


@pytest.mark.parametrize(
    "change, field, message",
    [
        ({"ends_on": "2030-02-01"}, "ends_on", "The end date must be on or after the start date."),
        ({"lines-0-price": "12.345"}, "lines-0-price", "USD amounts have at most 2 decimals."),
        ({"lines-0-price": "abc"}, "lines-0-price", "Enter an amount such as 250 or 250.00."),
        ({"kill_fee_percent": "150"}, "kill_fee_percent", "Enter a whole number from 0 to 100."),
        ({"lines-1-due_on": ""}, "lines-1-due_on", "Enter a due date."),
    ],
)
def test_bad_input_is_a_422_with_the_message_next_to_the_field(
    web, pair, app, change, field, message
):
    web.login(pair.owner.email)
    before = db_state(app)
    data = {**form_fields(campaign_id=pair.campaign_id), **change}
    response = web.post(new_url(pair), data)
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert f'<small id="{field}-error" class="field-error">{message}</small>' in html
    assert 'aria-invalid="true"' in html
    assert 'value="Spring Trails"' in html and 'value="Trail story"' in html  # typed values kept
    for value in change.values():
        if value:
            assert f'value="{value}"' in html
    assert changed_tables(before, db_state(app)) == []


def test_a_contract_without_lines_is_refused(web, pair):
    web.login(pair.owner.email)
    data = form_fields(sample_terms(lines=()), campaign_id=pair.campaign_id)
    response = web.post(new_url(pair), data)
    assert response.status_code == 422
    assert "Add at least one deliverable line." in response.get_data(as_text=True)


def test_draft_is_saved_hidden_from_the_creator_then_proposed(web, pair, app):
    web.login(pair.owner.email)
    response = web.post(
        new_url(pair), form_fields(campaign_id=pair.campaign_id, button="save_draft")
    )
    contract_id = int(response.headers["Location"].rsplit("/", 1)[1])
    assert contract_row(app, contract_id)[0] is ContractStatus.draft
    web.logout()
    web.login(pair.creator.email)
    assert web.client.get(f"/contracts/{contract_id}").status_code == 404
    web.logout()
    web.login(pair.owner.email)
    response = web.post(f"/contracts/{contract_id}/edit", form_fields())
    assert response.status_code == 303
    assert contract_row(app, contract_id) == (ContractStatus.proposed, [(1, VersionState.open)])


@pytest.mark.parametrize("who", ["viewer", "outsider", "other creator", "mediator"])
def test_people_without_a_writing_seat_change_nothing(web, pair, app, who):
    contract_id = propose(web, pair)
    with app.app_context():
        sha = db.session.scalar(select(ContractVersion.sha256))
        email = {
            "viewer": pair.viewer.email,
            "outsider": factories.user().email,
            "other creator": factories.user(kind="creator").email,
            "mediator": factories.user(kind="mediator").email,
        }[who]
        db.session.commit()
    web.login(email)
    before = db_state(app)
    token = web.token("/account")
    posts = {
        new_url(pair): form_fields(campaign_id=pair.campaign_id),
        f"/contracts/{contract_id}/edit": form_fields(sample_terms(title="Hijacked")),
        f"/contracts/{contract_id}/accept": {"sha256": sha},
        f"/contracts/{contract_id}/decline": {"sha256": sha, "comment": "no"},
    }
    for url, data in posts.items():
        response = web.client.post(url, data={**data, "csrf_token": token})
        expected = {403} if who == "viewer" else {404}
        assert response.status_code in expected, (url, response.status_code)
    page = web.client.get(f"/contracts/{contract_id}")
    assert page.status_code == (200 if who == "viewer" else 404)
    if who == "viewer":
        assert "Accept version" not in page.get_data(as_text=True)
        assert "Revise the proposal" not in page.get_data(as_text=True)
    assert changed_tables(before, db_state(app)) == []


def test_wrong_state_action_is_a_409_not_a_500(web, pair):
    contract_id = propose(web, pair)
    web.login(pair.creator.email)
    sha = shown_sha(web, contract_id)
    web.post(
        f"/contracts/{contract_id}/accept", {"sha256": sha}, token_from=f"/contracts/{contract_id}"
    )
    again = web.post(
        f"/contracts/{contract_id}/accept", {"sha256": sha}, token_from=f"/contracts/{contract_id}"
    )
    assert again.status_code == 409
    assert "No terms of this contract are waiting for your answer." in again.get_data(as_text=True)
    web.logout()
    web.login(pair.owner.email)
    assert web.client.get(f"/contracts/{contract_id}/edit").status_code == 200  # amendment


def test_creator_cannot_revise_a_proposal(web, pair):
    contract_id = propose(web, pair)
    web.login(pair.creator.email)
    response = web.client.get(f"/contracts/{contract_id}/edit")
    assert response.status_code == 409
    assert "ask for changes instead" in response.get_data(as_text=True)


def test_workroom_panel_lists_the_contract_with_its_total_and_a_propose_link(web, pair, app):
    contract_id = propose(web, pair)
    with app.test_request_context():
        workroom = db.session.get(Workroom, pair.workroom_id)
        owner = db.session.get(User, pair.owner.id)
        html = render_template(
            "contracts/_panel.html", seat=seat_of(owner, workroom), contracts=contracts_of(workroom)
        )
    assert f'href="/contracts/{contract_id}"' in html
    assert "$1,250.00" in html and "Proposed" in html
    assert "Propose a contract" in html


def test_workroom_page_shows_the_panel_and_what_waits(web, pair):
    propose(web, pair)
    web.login(pair.creator.email)
    html = web.client.get(f"/workrooms/{pair.workroom_id}").get_data(as_text=True)
    assert "Spring Trails" in html
    assert "Accept or ask for changes to Spring Trails v1" in html
    assert "Propose a contract" not in html


def test_contract_page_query_count_does_not_grow_with_versions(web, pair, count_queries):
    contract_id = propose(web, pair)
    web.login(pair.owner.email)

    def page_queries():
        with count_queries() as statements:
            assert web.client.get(f"/contracts/{contract_id}").status_code == 200
        return len(statements)

    few = page_queries()
    for n in range(6):
        web.post(f"/contracts/{contract_id}/edit", form_fields(sample_terms(revision_budget=n + 3)))
    with web.client.application.app_context():
        assert db.session.scalar(select(func.count()).select_from(ContractVersion)) == 7
    assert page_queries() == few
