"""The renewal page through the client: the pack, the brand's decision seen by the creator,
opt-outs, refusals with the typed input kept."""

from sqlalchemy import func, select

from portal.contracts.models import Contract, ContractStatus, RenewalDecision
from portal.extensions import db
from tests.contracts.test_renewals import build


def page(contract_id):
    return f"/contracts/{contract_id}/renewal"


def html(web, path):
    response = web.client.get(path)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_the_pack_shows_facts_dates_and_the_decision_form_to_the_brand(web, app):
    pair, contract_id = build(app, auto_renew=True)
    web.login(pair.owner.email)
    body = html(web, page(contract_id))
    assert "Renewal: Spring Trails" in body
    assert "0 of 2 deliverables" in body  # delivered vs contracted
    assert "2030-05-31 (the end of the term" in body and "2030-05-01" in body
    assert "it renews on 2030-05-31 unless a side opts out by 2030-05-01" in body
    assert 'name="decision"' in body and "Opt out of the automatic renewal" in body
    assert "$1,250.00" in body
    contract = html(web, f"/contracts/{contract_id}")
    assert page(contract_id) in contract  # the contract page links to the pack


def test_a_lapse_decision_is_seen_by_the_creator_who_cannot_decide(web, app):
    pair, contract_id = build(app)
    web.login(pair.owner.email)
    response = web.post(
        f"{page(contract_id)}/decide",
        {"decision": "lapse", "comment": "Budget moves to autumn."},
        token_from=page(contract_id),
    )
    assert response.status_code == 303
    assert response.headers["Location"].endswith(page(contract_id))
    web.logout()

    web.login(pair.creator.email)
    body = html(web, page(contract_id))
    assert "decided to <strong>let it lapse</strong>" in body
    assert "Budget moves to autumn." in body
    assert 'name="decision"' not in body
    response = web.post(
        f"{page(contract_id)}/decide",
        {"decision": "renew", "comment": "Please renew!"},
        token_from=page(contract_id),
    )
    assert response.status_code == 403
    with app.app_context():
        assert db.session.scalar(select(func.count(RenewalDecision.id))) == 1


def test_a_decision_without_a_comment_keeps_the_choice_and_says_why(web, app):
    pair, contract_id = build(app)
    web.login(pair.owner.email)
    response = web.post(
        f"{page(contract_id)}/decide", {"decision": "renew"}, token_from=page(contract_id)
    )
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert 'class="field-error">Say why, for the creator' in body
    assert (
        '<input checked id="decision-0" name="decision" required type="radio" value="renew">'
        in body
    )
    response = web.post(
        f"{page(contract_id)}/decide",
        {"decision": "maybe", "comment": "Hmm"},
        token_from=page(contract_id),
    )
    assert response.status_code == 422
    assert "Hmm</textarea>" in response.get_data(as_text=True)


def test_renegotiate_leads_the_brand_to_edit_the_next_draft(web, app):
    pair, contract_id = build(app)
    web.login(pair.owner.email)
    response = web.post(
        f"{page(contract_id)}/decide",
        {"decision": "renegotiate", "comment": "New rates."},
        token_from=page(contract_id),
    )
    assert response.status_code == 303
    with app.app_context():
        following = db.session.scalar(select(Contract).where(Contract.renews_id == contract_id))
        assert following.status is ContractStatus.draft
    assert response.headers["Location"].endswith(f"/contracts/{following.id}/edit")
    body = html(web, f"/contracts/{following.id}/edit")
    assert 'value="2030-06-01"' in body  # the next term, pre-filled


def test_the_creator_opts_out_once_and_a_second_try_says_why(web, app):
    pair, contract_id = build(app, auto_renew=True)
    web.login(pair.creator.email)
    url = f"{page(contract_id)}/opt-out"
    response = web.post(url, {}, token_from=page(contract_id))
    assert response.status_code == 303
    body = html(web, page(contract_id))
    assert "Cora Creator (creator) opted out" in body
    assert "Opt out of the automatic renewal" not in body
    response = web.post(url, {}, token_from=page(contract_id))
    assert response.status_code == 409
    assert "already opted out" in response.get_data(as_text=True)


def test_the_viewer_reads_the_pack_but_cannot_act(web, app):
    pair, contract_id = build(app, auto_renew=True)
    web.login(pair.viewer.email)
    body = html(web, page(contract_id))
    assert 'name="decision"' not in body and "Opt out" not in body
    token_page = page(contract_id)
    assert web.post(f"{page(contract_id)}/opt-out", {}, token_from=token_page).status_code == 403
    response = web.post(
        f"{page(contract_id)}/decide", {"decision": "lapse", "comment": "x"}, token_from=token_page
    )
    assert response.status_code == 403


def test_the_actions_block_alone_for_htmx(web, app):
    pair, contract_id = build(app)
    web.login(pair.owner.email)
    response = web.client.get(page(contract_id), headers={"HX-Request": "true"})
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'name="decision"' in body and "<html" not in body
