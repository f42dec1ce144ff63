"""The creator roster: search by name, handle, platform and niche; paginated, no N+1."""

import re

import pytest

from portal.accounts import services as accounts
from portal.accounts.models import AccountKind, Platform, User
from portal.campaigns import queries
from portal.extensions import db
from tests import factories

ROW = re.compile(r'<tr id="creator-(\d+)">')


def add_creator(name, display, handles=None, niches=(), audience=0):
    """A creator with a filled-in profile; returns the user id."""
    creator = factories.user(kind=AccountKind.creator, name=name)
    accounts.update_creator_profile(
        creator.creator_profile,
        display_name=display,
        bio="",
        audience_size=audience,
        currency="USD",
        handles=handles or {},
        niches=list(niches),
        rates={},
    )
    return creator.id


@pytest.fixture
def roster(app, team):
    """Creators with handles and niches, some with LIKE metacharacters in them."""
    with app.app_context():
        db.session.get(User, team.creator.id).creator_profile.audience_size = 5
        ids = {
            "cora": team.creator.id,
            "dev": team.other_creator.id,
            "hiker": add_creator(
                "Hana Hill",
                "Hana Hikes",
                {Platform.instagram: "hana_hikes", Platform.youtube: "HanaOutdoors"},
                ["outdoor", "travel"],
                120_000,
            ),
            "cook": add_creator(
                "Carl Cook", "100% Cooking", {Platform.tiktok: "carlcooks"}, ["food"], 50_000
            ),
            "gamer": add_creator(
                "Gail Gamer", "GailPlays", {Platform.twitch: "gail"}, ["gaming"], 9_000
            ),
        }
        db.session.commit()
        return ids


SEARCHES = {
    "display name": ({"q": "hikes"}, {"hiker"}),
    "account name": ({"q": "carl"}, {"cook"}),
    "handle": ({"q": "hanaoutdoors"}, {"hiker"}),
    "handle with @": ({"q": "@carlcooks"}, {"cook"}),
    "platform": ({"platform": "twitch"}, {"gamer"}),
    "niche": ({"niche": "Travel"}, {"hiker"}),
    "platform and niche": ({"platform": "instagram", "niche": "food"}, set()),
    "percent is literal": ({"q": "%"}, {"cook"}),
    "underscore is literal": ({"q": "_"}, {"hiker"}),
    "backslash is literal": ({"q": "\\"}, set()),
    "quote is text": ({"q": "' OR 1=1 --"}, set()),
    "everyone": ({}, {"cora", "dev", "hiker", "cook", "gamer"}),
}


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
@pytest.mark.parametrize("case", list(SEARCHES))
def test_roster_search(web, team, roster, case, htmx):
    args, expected = SEARCHES[case]
    web.login(team.viewer.email)
    response = web.client.get(
        f"/brands/{team.brand_id}/roster",
        query_string=args,
        headers={"HX-Request": "true"} if htmx else {},
    )
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert {int(n) for n in ROW.findall(html)} == {roster[name] for name in expected}
    assert ("<html" in html) is not htmx


def test_roster_shows_handles_niches_and_audience_biggest_first(web, team, roster):
    web.login(team.owner.email)
    html = web.client.get(f"/brands/{team.brand_id}/roster").get_data(as_text=True)
    assert "Instagram @hana_hikes" in html and "YouTube @HanaOutdoors" in html
    assert "outdoor, travel" in html and "120,000" in html
    order = [int(n) for n in ROW.findall(html)]
    assert order[:3] == [roster["hiker"], roster["cook"], roster["gamer"]]


def test_roster_paginates(app, team, roster):
    with app.app_context():
        first = queries.search_creators(per_page=2)
        second = queries.search_creators(page=2, per_page=2)
        assert first.total == 5 and first.pages == 3
        assert not {p.id for p in first.items} & {p.id for p in second.items}


def test_roster_pages_link_to_each_other_keeping_the_search(web, team, app, roster):
    with app.app_context():
        for n in range(queries.ROSTER_PER_PAGE + 1):
            add_creator(f"Trail Runner {n}", f"Runner {n}", niches=["running"])
        db.session.commit()
    web.login(team.owner.email)
    html = web.client.get(
        f"/brands/{team.brand_id}/roster", query_string={"niche": "running"}
    ).get_data(as_text=True)
    assert "Page 1 of 2" in html
    assert "niche=running" in html and "page=2" in html


def test_roster_query_count_does_not_grow_with_results(web, team, app, count_queries):
    web.login(team.owner.email)
    url = f"/brands/{team.brand_id}/roster?campaign={team.campaign_id}"
    with count_queries() as few:
        assert web.client.get(url).status_code == 200
    with app.app_context():
        for n in range(12):
            add_creator(
                f"Many {n}",
                f"Many {n}",
                {Platform.instagram: f"many{n}", Platform.tiktok: f"many{n}t"},
                ["a", "b", "c"],
            )
        db.session.commit()
    with count_queries() as many:
        html = web.client.get(url).get_data(as_text=True)
    assert len(ROW.findall(html)) == 14
    assert len(many) == len(few), many


def test_roster_from_a_campaign_offers_invites_to_writers_only(web, team):
    url = f"/brands/{team.brand_id}/roster?campaign={team.campaign_id}"
    web.login(team.manager.email)
    assert "Invite to Spring Trails" in web.client.get(url).get_data(as_text=True)
    web.logout()
    web.login(team.viewer.email)
    assert "Invite to Spring Trails" not in web.client.get(url).get_data(as_text=True)


def test_roster_ignores_another_brands_campaign(web, team):
    web.login(team.owner.email)
    url = f"/brands/{team.brand_id}/roster?campaign={team.other_campaign_id}"
    html = web.client.get(url).get_data(as_text=True)
    assert "Hidden" not in html and "Invite to" not in html


def test_creators_and_admins_cannot_search_the_roster(web, team, make_user):
    web.login(team.creator.email)
    assert web.client.get(f"/brands/{team.brand_id}/roster").status_code == 403
