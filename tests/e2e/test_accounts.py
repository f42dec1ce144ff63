"""Accounts in a real browser: sign-up, sign-in and out, password reset, team invitations."""

import re

import pytest
from playwright.sync_api import expect

from tests import factories
from tests.e2e.harness import link_in, wait_for_mail

NEW_PASSWORD = "plum kettle orbit seventeen"
WRONG_LOGIN = "Email or password is incorrect."


def sign_in(ui, email, password=factories.PASSWORD):
    """Fill the sign-in form through its labels and submit it."""
    ui.visit("/login")
    ui.page.get_by_label("Email", exact=True).fill(email)
    ui.page.get_by_label("Password", exact=True).fill(password)
    ui.submit("Sign in")


def nav_link(ui, name):
    """A link of the main navigation."""
    return ui.page.get_by_role("navigation", name="Main").get_by_role("link", name=name, exact=True)


def expect_dashboard(ui, name):
    """The signed-in dashboard greets the user."""
    expect(ui.page).to_have_url(ui.url("/"))
    expect(ui.page.get_by_role("heading", level=1)).to_have_text(f"Hello, {name}")


@pytest.mark.e2e
def test_brand_signs_up_and_lands_on_the_dashboard(ui):
    """A visitor creates a brand account from the home page and owns the new brand."""
    page = ui.page
    ui.visit("/")
    ui.click(page.get_by_role("navigation", name="Main").get_by_text("Sign up"))
    expect(page.get_by_label("A brand")).to_be_checked()
    page.get_by_label("Your name").fill("Ada Lovelace")
    page.get_by_label("Email", exact=True).fill("ada@example.com")
    page.get_by_label("Password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("Brand name").fill("Analytical Outdoors")
    ui.submit("Create account")

    expect_dashboard(ui, "Ada Lovelace")
    expect(page.get_by_role("status")).to_have_text("Welcome to Duet, Ada Lovelace.")
    brand = page.get_by_role("listitem").filter(has_text="Analytical Outdoors")
    expect(brand).to_contain_text("owner")
    expect(nav_link(ui, "Team")).to_be_visible()


@pytest.mark.e2e
def test_creator_signs_up_and_lands_on_the_dashboard(ui):
    """A visitor creates a creator account; the form shows only the creator's fields."""
    page = ui.page
    ui.visit("/signup")
    page.get_by_label("A creator").check()
    expect(page.get_by_label("Brand name")).to_be_hidden()
    page.get_by_label("Your name").fill("Bo Creator")
    page.get_by_label("Email", exact=True).fill("bo@example.com")
    page.get_by_label("Password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("Creator display name").fill("Bo on Bikes")
    ui.submit("Create account")

    expect_dashboard(ui, "Bo Creator")
    expect(page.get_by_role("status")).to_have_text("Welcome to Duet, Bo Creator.")
    profile = page.get_by_role("article").filter(has_text="Your creator profile")
    expect(profile).to_contain_text("Bo on Bikes")
    expect(nav_link(ui, "Profile")).to_be_visible()
    expect(nav_link(ui, "Team")).to_have_count(0)


@pytest.mark.e2e
@pytest.mark.parametrize("javascript", [True, False], ids=["with-js", "without-js"])
def test_member_signs_in_and_out(open_page, make_user, javascript):
    """Sign in with the labelled fields, sign out with the button; pages then need a login."""
    user = make_user(name="Grace Hopper")
    ui = open_page(javascript=javascript)
    sign_in(ui, user.email)
    expect_dashboard(ui, "Grace Hopper")

    ui.submit("Sign out")
    expect(ui.page).to_have_url(ui.url("/login"))
    expect(ui.page.get_by_role("status")).to_have_text("You are signed out.")
    ui.visit("/account")
    expect(ui.page).to_have_url(re.compile(r"/login\?next="))
    expect(ui.page.get_by_role("heading", level=1)).to_have_text("Sign in")


@pytest.mark.e2e
def test_wrong_password_is_refused_with_a_message(ui, make_user):
    """A wrong password keeps the visitor on the sign-in page with an error by the field."""
    user = make_user()
    sign_in(ui, user.email, "not the right password")
    expect(ui.page).to_have_url(ui.url("/login"))
    expect(ui.page.get_by_label("Password", exact=True)).to_have_attribute("aria-invalid", "true")
    expect(ui.page.get_by_text(WRONG_LOGIN)).to_be_visible()


@pytest.mark.e2e
def test_password_reset_by_email_link_works_once(ui, inbox, make_user):
    """Forgot password -> emailed link -> new password; the old one and the link stop working."""
    user = make_user(name="Hedy Lamarr")
    page = ui.page
    ui.visit("/login")
    ui.follow("Forgot your password?")
    page.get_by_label("Email", exact=True).fill(user.email)
    ui.submit("Email me a reset link")
    expect(page.get_by_role("heading", level=1)).to_have_text("Check your email")

    message = wait_for_mail(inbox, user.email)
    assert message["Subject"] == "Reset your Duet password"
    link = link_in(message, ui.base_url, "/reset/")
    ui.visit(link)
    expect(page.get_by_role("heading", level=1)).to_have_text("Choose a new password")
    page.get_by_label("New password").fill(NEW_PASSWORD)
    ui.submit("Save password")
    expect(page).to_have_url(ui.url("/login"))
    expect(page.get_by_role("status")).to_have_text("Your password is set. Sign in with it now.")

    sign_in(ui, user.email, factories.PASSWORD)
    expect(page.get_by_text(WRONG_LOGIN)).to_be_visible()
    sign_in(ui, user.email, NEW_PASSWORD)
    expect_dashboard(ui, "Hedy Lamarr")

    second_use = ui.visit(link)
    assert second_use.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("This link can't be used")


@pytest.mark.e2e
def test_owner_invites_a_teammate_who_joins_the_team(ui, open_page, inbox, make_user):
    """The owner invites from the Team page; the invitee signs up through the emailed link."""
    owner = make_user(name="Olive Owner")
    page = ui.page
    sign_in(ui, owner.email)
    ui.click(nav_link(ui, "Team"))
    team_url = page.url
    page.get_by_label("Email", exact=True).fill("ivy@example.com")
    page.get_by_label("Role").select_option(label="Manager")
    page.get_by_role("button", name="Send invitation").click()  # htmx swaps the team section
    expect(page.get_by_role("status")).to_have_text("Invitation sent to ivy@example.com.")
    pending = page.get_by_role("row").filter(has_text="ivy@example.com")
    expect(pending).to_contain_text("Manager")
    ui.audit()

    message = wait_for_mail(inbox, "ivy@example.com")
    assert message["Subject"].startswith("Olive Owner invited you to ")
    invitee = open_page()
    invitee.visit(link_in(message, ui.base_url, "/invitations/"))
    expect(invitee.page.get_by_role("heading", level=1)).to_contain_text("Join ")
    invitee.page.get_by_label("Your name").fill("Ivy Invitee")
    invitee.page.get_by_label("Password", exact=True).fill(NEW_PASSWORD)
    invitee.submit("Create account and join")
    expect_dashboard(invitee, "Ivy Invitee")
    invitee.click(nav_link(invitee, "Team"))
    expect(invitee.page).to_have_url(team_url)

    ui.visit(team_url)
    member = page.get_by_role("row").filter(has_text="ivy@example.com")
    expect(member).to_contain_text("Ivy Invitee")
    expect(member).to_contain_text("Manager")
    expect(page.get_by_text("No pending invitations.")).to_be_visible()
