"""CX-8: plain fields (names, brand names, display names) are escaped everywhere they show.

A user's name, a brand name and a creator's display name carry each payload; the workroom
page, the workroom list, the dashboard, the team page and the invitation email must show
it as text: the raw payload never appears where it would be markup, and `<img` never
becomes an element.
"""

from html.parser import HTMLParser

import pytest
from markupsafe import escape
from sqlalchemy import func, select

from portal.accounts.models import AccountKind, Brand, User
from portal.extensions import db
from portal.notifications.emails import one_line
from portal.notifications.models import OutboundEmail
from portal.workrooms import services
from portal.workrooms.access import seat_of
from portal.workrooms.models import Workroom
from tests import factories
from tests.conftest import Browserless, https_client

PAYLOADS = {
    "img-onerror": '"><img src=x onerror=alert(1)>',
    "apostrophe": "O'Hara",
    "japanese": "ねこ",
    "rtl-override": "\u202eevil.exe",
}
HTML_SPECIAL = set("<>&'\"")


class Elements(HTMLParser):
    """Start tags and attribute names of a document, and its text."""

    def __init__(self, html):
        super().__init__(convert_charrefs=True)
        self.tags, self.attributes, self.text = [], [], []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attributes.extend(name for name, _ in attrs)

    handle_startendtag = handle_starttag

    def handle_data(self, data):
        self.text.append(data)


def assert_escaped(html, value, where, *, markdown=False):
    """`value` is shown, as text only. In Markdown-rendered text (`markdown`) an apostrophe
    stays literal, which is inert in text content; every other special character must not."""
    special = HTML_SPECIAL - {"'"} if markdown else HTML_SPECIAL
    if not markdown:
        assert str(escape(value)) in html, f"{value!r} is not shown on {where}"
    if special & set(value):
        assert value not in html, f"{value!r} appears unescaped on {where}"
    parsed = Elements(html)
    assert "img" not in parsed.tags, f"an <img> element on {where}"
    assert not [a for a in parsed.attributes if a.startswith("on")], f"a handler on {where}"
    assert value in "".join(parsed.text), f"{value!r} is not in the text of {where}"


@pytest.fixture(params=list(PAYLOADS.values()), ids=list(PAYLOADS))
def named(request, app):
    """A brand owner, a brand and a creator named with the payload, sharing a workroom."""
    value = request.param
    with app.app_context():
        owner = factories.user(name=f"{value} Owner")
        brand = db.session.get(Brand, owner.memberships[0].brand_id)
        brand.name = f"{value} Brand"
        creator = factories.user(kind=AccountKind.creator, name=f"{value} Creator")
        creator.creator_profile.display_name = f"{value} Studio"
        workroom = services.open_workroom(brand, creator, owner)
        db.session.flush()
        services.post_message(seat_of(owner, workroom), owner, "Hello from the brand")
        services.post_message(seat_of(creator, workroom), creator, "Hello from the creator")
        db.session.commit()
        return {
            "value": value,
            "owner": owner.email,
            "creator": creator.email,
            "brand_id": brand.id,
            "workroom_id": workroom.id,
            "names": {
                "owner name": owner.name,
                "brand name": brand.name,
                "creator name": creator.name,
                "display name": creator.creator_profile.display_name,
            },
        }


def browser_for(app, email):
    browser = Browserless(https_client(app))
    assert browser.login(email).status_code == 302
    return browser


def test_pages_show_the_names_escaped(app, named):
    """Workroom page, workroom list, dashboard and team page, for both sides."""
    names = named["names"]
    owner, creator = browser_for(app, named["owner"]), browser_for(app, named["creator"])
    workroom = f"/workrooms/{named['workroom_id']}"
    pages = {
        ("owner", workroom): ["brand name", "owner name", "creator name", "display name"],
        ("owner", "/workrooms"): ["brand name", "creator name"],
        ("owner", "/"): ["brand name", "owner name", "creator name"],
        ("owner", f"/brands/{named['brand_id']}/team"): ["brand name", "owner name"],
        ("creator", workroom): ["brand name", "owner name", "creator name", "display name"],
        ("creator", "/workrooms"): ["brand name", "creator name"],
        ("creator", "/"): ["display name", "creator name", "brand name"],
        ("owner", f"{workroom}/activity"): [],
    }
    browsers = {"owner": owner, "creator": creator}
    for (who, path), shown in pages.items():
        response = browsers[who].client.get(path)
        assert response.status_code == 200, (who, path)
        html = response.get_data(as_text=True)
        for key in shown:
            assert_escaped(html, names[key], f"{path} as {who} ({key})")
        assert "img" not in Elements(html).tags, path
    # The page title (the workroom's name) is escaped text too.
    title = (
        owner.client.get(workroom).get_data(as_text=True).split("<title>")[1].split("</title>")[0]
    )
    assert str(escape(names["brand name"])) in title


def test_a_ticket_subject_is_escaped_on_every_mediation_page(app, named):
    """CX-8 for the ticket subject: the ticket page, the workroom's list, the queue."""
    from portal.mediation import services as mediation_services

    subject = f"{named['value']} ticket"
    with app.app_context():
        workroom = db.session.get(Workroom, named["workroom_id"])
        owner = db.session.scalar(select(User).where(User.email == named["owner"]))
        creator = db.session.scalar(select(User).where(User.email == named["creator"]))
        mediator = factories.user(kind=AccountKind.mediator, name="Mia Mediator")
        ticket = mediation_services.open_ticket(
            seat_of(creator, workroom), creator, "other", subject, "What happened"
        )
        mediation_services.post_as_party(ticket, owner, seat_of(owner, workroom), "Answer")
        db.session.commit()
        ticket_id, mediator_email = ticket.id, mediator.email
    pages = [
        (named["creator"], f"/tickets/{ticket_id}"),
        (named["owner"], f"/workrooms/{named['workroom_id']}/tickets"),
        (mediator_email, "/mediation"),
        (mediator_email, f"/tickets/{ticket_id}"),
    ]
    for email, path in pages:
        response = browser_for(app, email).client.get(path)
        assert response.status_code == 200, path
        html = response.get_data(as_text=True)
        thread = "ticket-thread" in html  # the thread's system lines quote it in Markdown
        assert_escaped(html, subject, path, markdown=thread)
        assert str(escape(subject)) in html, f"{subject!r} is not shown escaped on {path}"


def test_invitation_email_shows_the_names_escaped(app, named):
    """The invitation's HTML escapes the inviter's and the brand's names; headers are one line."""
    owner = browser_for(app, named["owner"])
    team = f"/brands/{named['brand_id']}/team"
    answer = owner.post(team, {"email": "invitee@example.com", "role": "manager"})
    assert answer.status_code in (302, 303), answer.get_data(as_text=True)[:500]
    with app.app_context():
        email = db.session.scalar(
            select(OutboundEmail).where(OutboundEmail.to_address == "invitee@example.com")
        )
        assert email is not None
        names = named["names"]
        for key in ("owner name", "brand name"):
            assert_escaped(email.html_body, names[key], f"the email's HTML ({key})")
            assert names[key] in email.text_body  # text/plain shows the name as written
        assert "\r" not in email.subject and "\n" not in email.subject
        # Headers carry the name on one line, without control or bidi-override characters.
        assert one_line(names["owner name"]) in email.subject
        assert not [ch for ch in email.subject if not ch.isprintable()]


def test_signed_up_name_is_escaped_in_the_welcome_message(app, client):
    """A name with markup is accepted as text and shown escaped, flash message included."""
    value = PAYLOADS["img-onerror"]
    browser = Browserless(client)
    answer = browser.post(
        "/signup",
        {
            "account_type": "creator",
            "name": value,
            "email": "markup@example.com",
            "password": "plum kettle orbit seventeen",
            "display_name": f"{value} Studio",
            "timezone": "UTC",
        },
    )
    assert answer.status_code == 302, answer.get_data(as_text=True)[:500]
    html = client.get("/").get_data(as_text=True)
    assert_escaped(html, value, "the dashboard after sign-up")
    assert_escaped(html, f"{value} Studio", "the dashboard after sign-up")


@pytest.mark.parametrize("field", ["name", "display_name", "brand_name"])
def test_forms_refuse_bidi_overrides_and_control_characters(app, client, field):
    """A right-to-left override could reverse the text after a name: forms refuse it."""
    data = {
        "account_type": "brand" if field == "brand_name" else "creator",
        "name": "Plain Name",
        "email": "bidi@example.com",
        "password": "plum kettle orbit seventeen",
        "display_name": "Plain Studio",
        "brand_name": "Plain Brand",
        "timezone": "UTC",
    }
    data[field] = "evil\u202eexe.txt"
    answer = Browserless(client).post("/signup", data)
    assert answer.status_code == 422
    with app.app_context():
        assert db.session.scalar(select(func.count(User.id))) == 0
