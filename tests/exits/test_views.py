"""Exit pages through the client: the form, refusals next to the field, the exit page for
each side, inviting a replacement, the analysis and the report."""

from sqlalchemy import func, select

from portal.accounts.models import Platform, User
from portal.campaigns.models import CampaignInvitation
from portal.exits.models import Exit, ExitAnalysis, ExitStatus
from portal.extensions import db
from tests.exits.conftest import creator_on


def start(web, ending, email=None, **fields):
    """Post the exit form (signed in as `email` first, if given); returns the response."""
    if email is not None:
        web.login(email)
    path = f"/contracts/{ending.contract_id}/exit"
    return web.post(path, {"reason": "conflict", "comment": "", **fields}, token_from=path)


def exit_id(app):
    with app.app_context():
        return db.session.scalar(select(Exit.id))


def test_the_contract_page_offers_to_end_it_and_the_form_explains_the_notice(web, ending):
    web.login(ending.active.pair.owner.email)
    page = web.client.get(f"/contracts/{ending.contract_id}").get_data(as_text=True)
    assert "End this contract" in page
    form = web.client.get(f"/contracts/{ending.contract_id}/exit").get_data(as_text=True)
    assert "14 days" in form and "Deliverables to reassign" in form
    assert "Trail story" in form


def test_the_creator_ends_it_too_but_chooses_no_deliverables(web, ending):
    web.login(ending.active.pair.creator.email)
    form = web.client.get(f"/contracts/{ending.contract_id}/exit").get_data(as_text=True)
    assert "Deliverables to reassign" not in form


def test_bad_input_is_answered_next_to_the_field_with_the_text_kept(web, ending, app):
    response = start(
        web, ending, ending.active.pair.owner.email, reason="", comment="Kept text", for_cause="y"
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Choose why the contract ends." in html
    assert "Kept text" in html
    response = start(web, ending, reason="conflict", for_cause="y")
    assert response.status_code == 422
    assert "Say what happened" in response.get_data(as_text=True)
    assert exit_id(app) is None


def test_starting_an_exit_redirects_to_its_page_which_both_sides_read(web, ending, app):
    pair = ending.active.pair
    response = start(web, ending, pair.owner.email, comment="Not working out.")
    assert response.status_code == 303
    ident = exit_id(app)
    assert response.headers["Location"].endswith(f"/exits/{ident}")
    brand_page = web.client.get(f"/exits/{ident}").get_data(as_text=True)
    assert "Notice period" in brand_page and "Replacement" in brand_page
    assert "Post-exit analysis" in brand_page
    web.logout()
    web.login(pair.creator.email)
    creator_page = web.client.get(f"/exits/{ident}")
    assert creator_page.status_code == 200
    html = creator_page.get_data(as_text=True)
    assert "Notice period" in html and "Settle now" in html
    assert "Replacement" not in html and "Post-exit analysis" not in html
    # A second exit of the same contract is the first one.
    again = web.client.get(f"/contracts/{ending.contract_id}/exit")
    assert again.status_code == 303 and again.headers["Location"].endswith(f"/exits/{ident}")


def test_settle_now_proposes_the_closeout(web, ending, app):
    pair = ending.active.pair
    start(web, ending, pair.owner.email)
    ident = exit_id(app)
    response = web.post(f"/exits/{ident}/settle", {}, token_from=f"/exits/{ident}")
    assert response.status_code == 303
    with app.app_context():
        exit = db.session.get(Exit, ident)
        assert exit.status is ExitStatus.settling and exit.closeout_id is not None
    page = web.client.get(f"/exits/{ident}").get_data(as_text=True)
    assert "Open the close-out" in page
    refused = web.post(f"/exits/{ident}/settle", {}, token_from=f"/exits/{ident}")
    assert refused.status_code == 409


def test_the_brand_finds_and_invites_a_replacement(web, ending, app):
    pair = ending.active.pair
    with app.app_context():
        match = creator_on(Platform.youtube, "outdoor", name="Rita Replacement", audience=30_000)
        creator_on(Platform.twitch, "gaming", name="Gil Gamer")
        db.session.commit()
        match_id = match.id
    start(web, ending, pair.owner.email)
    ident = exit_id(app)
    page = web.client.get(f"/exits/{ident}").get_data(as_text=True)
    assert "Rita Replacement" in page and "Gil Gamer" not in page
    narrowed = web.client.get(
        f"/exits/{ident}?min_audience=40000", headers={"HX-Request": "true"}
    ).get_data(as_text=True)
    assert "Rita Replacement" not in narrowed and "<html" not in narrowed
    bad = web.client.get(f"/exits/{ident}?min_audience=5&max_audience=1")
    assert bad.status_code == 200
    response = web.post(
        f"/exits/{ident}/invite", {"creator_id": str(match_id)}, token_from=f"/exits/{ident}"
    )
    assert response.status_code == 303
    with app.app_context():
        assert db.session.get(Exit, ident).invitation_id is not None
    page = web.client.get(f"/exits/{ident}").get_data(as_text=True)
    assert "Invited Rita Replacement" in page
    refused = web.post(
        f"/exits/{ident}/invite", {"creator_id": "999999"}, token_from=f"/exits/{ident}"
    )
    assert refused.status_code == 422
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(CampaignInvitation)) == 1


def test_the_creator_and_viewers_cannot_invite_or_analyse(web, ending, app):
    pair = ending.active.pair
    start(web, ending, pair.owner.email)
    ident = exit_id(app)
    web.logout()
    web.login(pair.creator.email)
    assert web.client.get(f"/exits/{ident}/analysis").status_code == 404
    token = web.token(f"/exits/{ident}")
    assert (
        web.client.post(
            f"/exits/{ident}/invite", data={"csrf_token": token, "creator_id": "1"}
        ).status_code
        == 404
    )
    web.logout()
    web.login(pair.viewer.email)
    assert web.client.get(f"/exits/{ident}").status_code == 200
    assert web.client.get(f"/exits/{ident}/analysis").status_code == 403


def test_the_analysis_is_saved_and_shown_with_the_facts(web, ending, app):
    pair = ending.active.pair
    start(web, ending, pair.owner.email)
    ident = exit_id(app)
    form = web.client.get(f"/exits/{ident}/analysis").get_data(as_text=True)
    assert "Days to replacement" in form and "No replacement yet" in form
    response = web.post(
        f"/exits/{ident}/analysis",
        {"reason": "underperformance", "factors": ["quality", "schedule"], "prevention": "Brief"},
        token_from=f"/exits/{ident}/analysis",
    )
    assert response.status_code == 303
    with app.app_context():
        analysis = db.session.scalar(select(ExitAnalysis))
        assert analysis.factors == ["quality", "schedule"]
    page = web.client.get(f"/exits/{ident}").get_data(as_text=True)
    assert "Content quality" in page
    bad = web.post(
        f"/exits/{ident}/analysis",
        {"reason": "nonsense", "prevention": "Kept words"},
        token_from=f"/exits/{ident}/analysis",
    )
    assert bad.status_code == 422
    assert "Kept words" in bad.get_data(as_text=True)


def test_the_report_lists_the_brands_exits_by_reason_and_outcome(web, ending, app):
    pair = ending.active.pair
    start(web, ending, pair.owner.email)
    with app.app_context():
        brand_id = db.session.get(User, pair.owner.id).memberships[0].brand_id
    html = web.client.get(f"/brands/{brand_id}/exits").get_data(as_text=True)
    assert "Conflict" in html and "In progress" in html and "Spring Trails" in html
    assert 'id="exit-reasons-chart"' in html and "<script" not in html.split("<main", 1)[-1]
    assert web.client.get(f"/brands/{brand_id + 1}/exits").status_code == 404
