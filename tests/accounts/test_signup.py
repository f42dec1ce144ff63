"""Sign-up of brands and creators through the form."""

import pytest
from sqlalchemy import select

from portal.accounts.models import AccountKind, Brand, BrandRole, User
from portal.extensions import db


def signup_data(**overrides):
    data = {
        "account_type": "brand",
        "name": "Bea Brandt",
        "email": "Bea@Example.com ",
        "password": "a long enough passphrase",
        "brand_name": "Northwind",
        "display_name": "",
        "timezone": "Europe/Paris",
    }
    data.update(overrides)
    return data


def test_brand_signup_creates_owner_and_brand_and_signs_in(web, app):
    response = web.post("/signup", signup_data())
    assert response.status_code == 302
    with app.app_context():
        user = db.session.scalar(select(User))
        assert user.email == "bea@example.com"
        assert user.kind is AccountKind.brand
        assert user.timezone == "Europe/Paris"
        assert user.memberships[0].role is BrandRole.owner
        assert user.memberships[0].brand.name == "Northwind"
    assert "Hello, Bea Brandt" in web.client.get("/").get_data(as_text=True)


def test_creator_signup_creates_profile_with_display_name(web, app):
    data = signup_data(account_type="creator", brand_name="", display_name="Cora Trails")
    assert web.post("/signup", data).status_code == 302
    with app.app_context():
        user = db.session.scalar(select(User))
        assert user.kind is AccountKind.creator
        assert user.creator_profile.display_name == "Cora Trails"
        assert db.session.scalar(select(Brand)) is None


def test_brand_signup_without_brand_name_keeps_typed_values(web):
    response = web.post("/signup", signup_data(brand_name=""))
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Enter your brand&#39;s name." in html
    assert 'value="Bea Brandt"' in html


def test_duplicate_email_is_refused_next_to_the_field(web, make_user):
    make_user(email="bea@example.com")
    response = web.post("/signup", signup_data())
    assert response.status_code == 422
    assert "An account with this email already exists" in response.get_data(as_text=True)


def test_duplicate_brand_name_is_refused(web, make_user, app):
    web.post("/signup", signup_data())
    web.logout()
    response = web.post("/signup", signup_data(email="other@example.com"))
    assert response.status_code == 422
    assert "A brand with this name already exists." in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("email", "not-an-email", "Enter an email address"),
        ("password", "short", "at least 8 characters"),
        ("name", "", "This field is required."),
        ("timezone", "Mars/Olympus", "Not a valid choice"),
    ],
)
def test_bad_input_gets_a_message_and_no_account(web, app, field, value, message):
    response = web.post("/signup", signup_data(**{field: value}))
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(User)) is None


def test_signed_in_user_visiting_signup_goes_to_dashboard(web, make_user):
    user = make_user()
    web.login(user.email)
    response = web.client.get("/signup")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/")
