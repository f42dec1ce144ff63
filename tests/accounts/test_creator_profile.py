"""Creators edit the profile brands will search."""

from portal.accounts.models import CreatorProfile, Platform, RateKind
from portal.extensions import db


def profile_data(**overrides):
    data = {
        "display_name": "Cora on the Trail",
        "bio": "Hiking and gear.",
        "audience_size": "184000",
        "niches": "Outdoor, travel , outdoor",
        "currency": "USD",
        "handle_instagram": "@coraonthetrail",
        "handle_tiktok": "cora.trails",
        "rate_post": "1,200.50",
        "rate_reel": "1500",
    }
    data.update(overrides)
    return data


def load_profile(app, user_id):
    with app.app_context():
        profile = db.session.scalar(db.select(CreatorProfile).filter_by(user_id=user_id))
        return {
            "handles": {h.platform: h.handle for h in profile.handles},
            "niches": [n.name for n in profile.niches],
            "rates": {r.kind: (r.amount_minor, r.currency) for r in profile.rates},
            "audience": profile.audience_size,
        }


def test_creator_saves_handles_niches_and_rates(web, make_user, app):
    creator = make_user(kind="creator")
    web.login(creator.email)
    response = web.post("/creator/profile", profile_data())
    assert response.status_code == 302
    saved = load_profile(app, creator.id)
    assert saved["handles"] == {
        Platform.instagram: "coraonthetrail",
        Platform.tiktok: "cora.trails",
    }
    assert saved["niches"] == ["outdoor", "travel"]
    assert saved["rates"] == {RateKind.post: (120050, "USD"), RateKind.reel: (150000, "USD")}
    assert saved["audience"] == 184000


def test_saving_again_replaces_handles(web, make_user, app):
    creator = make_user(kind="creator")
    web.login(creator.email)
    web.post("/creator/profile", profile_data())
    web.post("/creator/profile", profile_data(handle_instagram="", handle_youtube="CoraTV"))
    saved = load_profile(app, creator.id)
    assert saved["handles"] == {Platform.tiktok: "cora.trails", Platform.youtube: "CoraTV"}


def test_bad_rate_gets_a_message_and_keeps_what_was_typed(web, make_user, app):
    creator = make_user(kind="creator")
    web.login(creator.email)
    response = web.post("/creator/profile", profile_data(rate_post="12.345", bio="Kept bio"))
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "USD amounts have at most 2 decimals." in html
    assert "Kept bio" in html
    assert 'value="12.345"' in html
    assert load_profile(app, creator.id)["rates"] == {}


def test_profile_form_shows_saved_values(web, make_user):
    creator = make_user(kind="creator")
    web.login(creator.email)
    web.post("/creator/profile", profile_data())
    html = web.client.get("/creator/profile").get_data(as_text=True)
    assert 'value="1200.50"' in html
    assert 'value="outdoor, travel"' in html


def test_brand_users_cannot_edit_creator_profiles(web, make_user):
    brand_user = make_user()
    web.login(brand_user.email)
    assert web.client.get("/creator/profile").status_code == 403
