"""Campaign pages through the client: list, new, edit, show, status."""

import pytest
from sqlalchemy import select

from portal.audit import AuditEvent
from portal.campaigns.models import Campaign, CampaignStatus
from portal.extensions import db
from tests.campaigns.samples import campaign_form


def new_url(team):
    return f"/brands/{team.brand_id}/campaigns/new"


def test_manager_creates_a_campaign_and_sees_it_listed(web, team, app):
    web.login(team.manager.email)
    response = web.post(new_url(team), campaign_form(name="Autumn Ridge"))
    assert response.status_code == 302
    with app.app_context():
        campaign = db.session.scalar(select(Campaign).where(Campaign.name == "Autumn Ridge"))
        assert campaign.budget_minor == 2_500_000 and campaign.currency == "USD"
        assert campaign.status is CampaignStatus.draft
        assert campaign.brief_html == "<p>Show <strong>our boots</strong> on real trails.</p>"
        assert response.headers["Location"].endswith(f"/campaigns/{campaign.id}")
        assert db.session.scalar(
            select(AuditEvent).where(
                AuditEvent.action == "campaign.created", AuditEvent.object_id == campaign.id
            )
        )
    page = web.client.get(f"/brands/{team.brand_id}/campaigns").get_data(as_text=True)
    assert "Autumn Ridge" in page and "$25,000.00" in page and "Draft" in page


def test_empty_campaign_list_says_so(web, make_user):
    owner = make_user()
    web.login(owner.email)
    page = web.client.get(f"/brands/{owner.brand_id}/campaigns").get_data(as_text=True)
    assert "No campaigns yet." in page


BAD_INPUT = {
    "name missing": ({"name": ""}, "name", "This field is required."),
    "bad start date": ({"starts_on": "31/02/2030"}, "starts_on", "Not a valid date value."),
    "end before start": (
        {"starts_on": "2030-05-01", "ends_on": "2030-04-30"},
        "ends_on",
        "The end date can't be before the start date.",
    ),
    "too many decimals": ({"budget": "12.345"}, "budget", "USD amounts have at most 2 decimals."),
    "negative budget": ({"budget": "-5"}, "budget", "Enter a positive amount."),
    "not an amount": ({"budget": "lots"}, "budget", "Enter an amount such as 250 or 250.00."),
    "yen decimals": (
        {"budget": "100.5", "currency": "JPY"},
        "budget",
        "JPY amounts have at most 0 decimals.",
    ),
}


@pytest.mark.parametrize("case", list(BAD_INPUT))
@pytest.mark.parametrize("page", ["new", "edit"])
def test_bad_input_is_a_422_with_the_message_next_to_the_field(web, team, app, case, page):
    overrides, field, message = BAD_INPUT[case]
    web.login(team.owner.email)
    url = new_url(team) if page == "new" else f"/campaigns/{team.campaign_id}/edit"
    with app.app_context():
        before = db.session.scalars(select(Campaign.name).order_by(Campaign.id)).all()
    data = campaign_form(**{"name": "Typed Name", "brief": "Typed brief", **overrides})
    response = web.post(url, data)
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert f'<small id="{field}-error" class="field-error">{message}</small>' in html.replace(
        "&#39;", "'"
    )
    assert 'aria-invalid="true"' in html
    for name, value in data.items():
        if name in ("name", "budget", "starts_on", "ends_on") and value:
            assert f'value="{value}"' in html, name
    assert "Typed brief" in html
    with app.app_context():
        assert db.session.scalars(select(Campaign.name).order_by(Campaign.id)).all() == before


def test_edit_form_shows_current_values_and_saves(web, team, app):
    web.login(team.owner.email)
    page = web.client.get(f"/campaigns/{team.campaign_id}/edit").get_data(as_text=True)
    assert 'value="25000.00"' in page and 'value="2030-03-01"' in page
    response = web.post(
        f"/campaigns/{team.campaign_id}/edit",
        campaign_form(name="Spring Trails II", budget="1,000"),
    )
    assert response.status_code == 302
    with app.app_context():
        campaign = db.session.get(Campaign, team.campaign_id)
        assert (campaign.name, campaign.budget_minor) == ("Spring Trails II", 100_000)


def test_show_page_has_brief_dates_budget_and_invitations(web, team):
    web.login(team.viewer.email)
    page = web.client.get(f"/campaigns/{team.campaign_id}").get_data(as_text=True)
    assert "<strong>our boots</strong>" in page
    assert "01 Mar 2030" in page and "$25,000.00" in page
    assert "No creators invited yet." in page
    assert "Edit details" not in page and "Invite by email" not in page


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/brands/{brand}/campaigns/new"),
        ("POST", "/brands/{brand}/campaigns/new"),
        ("GET", "/campaigns/{campaign}/edit"),
        ("POST", "/campaigns/{campaign}/edit"),
        ("POST", "/campaigns/{campaign}/status"),
        ("POST", "/campaigns/{campaign}/invitations/email"),
    ],
)
def test_viewers_get_403_on_changes(web, team, app, method, path):
    web.login(team.viewer.email)
    url = path.format(brand=team.brand_id, campaign=team.campaign_id)
    if method == "GET":
        response = web.client.get(url)
    else:
        data = {**campaign_form(), "status": "completed", "email": "x@example.com"}
        response = web.post(url, data, token_from=f"/campaigns/{team.campaign_id}")
    assert response.status_code == 403
    with app.app_context():
        campaign = db.session.get(Campaign, team.campaign_id)
        assert campaign.status is CampaignStatus.active and campaign.name == "Spring Trails"


@pytest.mark.parametrize(
    "path",
    [
        "/campaigns/{other}",
        "/campaigns/{other}/edit",
        "/brands/{other_brand}/campaigns",
        "/brands/{other_brand}/roster",
    ],
)
def test_another_brands_campaigns_are_404(web, team, app, path):
    with app.app_context():
        other_brand = db.session.get(Campaign, team.other_campaign_id).brand_id
    web.login(team.owner.email)
    url = path.format(other=team.other_campaign_id, other_brand=other_brand)
    response = web.client.get(url)
    assert response.status_code == 404
    assert "Hidden" not in response.get_data(as_text=True)


def test_status_buttons_move_the_campaign_and_refuse_bad_moves(web, team, app):
    web.login(team.manager.email)
    show = f"/campaigns/{team.campaign_id}"
    page = web.client.get(show).get_data(as_text=True)
    assert "Mark completed" in page and "Activate" not in page
    response = web.post(f"{show}/status", {"status": "draft"}, token_from=show)
    assert response.status_code == 302
    assert "can&#39;t become draft" in web.client.get(show).get_data(as_text=True)
    assert web.post(f"{show}/status", {"status": "completed"}, token_from=show).status_code == 302
    with app.app_context():
        assert db.session.get(Campaign, team.campaign_id).status is CampaignStatus.completed


def test_campaign_list_query_count_does_not_grow(web, team, app, count_queries):
    web.login(team.owner.email)
    url = f"/brands/{team.brand_id}/campaigns"
    with count_queries() as few:
        web.client.get(url)
    with app.app_context():
        from portal.accounts.models import Brand, User
        from tests.campaigns.samples import make_campaign

        owner = db.session.get(User, team.owner.id)
        for n in range(6):
            make_campaign(db.session.get(Brand, team.brand_id), owner, name=f"Extra {n}")
        db.session.commit()
    with count_queries() as many:
        page = web.client.get(url).get_data(as_text=True)
    assert "Extra 5" in page
    assert len(many) == len(few)
