"""Demo data for a first look: `flask --app wsgi seed-demo` (safe to run again)."""

from datetime import date, timedelta
from io import BytesIO

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import select
from werkzeug.datastructures import FileStorage

from portal.accounts import services
from portal.accounts.models import (
    AccountKind,
    Brand,
    BrandMembership,
    BrandRole,
    Platform,
    RateKind,
    User,
)
from portal.campaigns import services as campaign_services
from portal.campaigns.models import Campaign, CampaignInvitation, CampaignStatus
from portal.contracts import services as contract_services
from portal.contracts.models import DeliverableKind
from portal.contracts.queries import contracts_of
from portal.contracts.terms import LineTerms, Terms
from portal.database import utcnow
from portal.demo_conversation import seed_conversation
from portal.extensions import db
from portal.workrooms.access import seat_of
from portal.workrooms.services import edit_message, open_workroom, post_message
from portal.workrooms.uploads import inspect

DEMO_PASSWORD = "duet-demo-2026"
BRAND_NAME = "Northwind Outdoors"
CAMPAIGN_NAME = "Spring Trails 2027"

DEMO_LOGINS = [
    ("brand@example.com", "brand owner, Northwind Outdoors"),
    ("manager@example.com", "brand manager, Northwind Outdoors"),
    ("creator@example.com", "creator (Instagram, TikTok; outdoor, travel)"),
    ("creator2@example.com", "creator (YouTube; cooking)"),
    ("mediator@example.com", "mediator"),
    ("admin@example.com", "admin"),
]


def _user(email, name, kind, timezone):
    """The demo user with this email, created if missing."""
    user = db.session.scalar(select(User).where(User.email == email))
    if user is None:
        user = services.create_user(email, name, DEMO_PASSWORD, kind, timezone=timezone)
    return user


def _brand(owner, manager):
    """Northwind Outdoors with its owner and manager."""
    brand = db.session.scalar(select(Brand).where(Brand.name == BRAND_NAME))
    if brand is None:
        brand = services.create_brand(owner, BRAND_NAME)
    if services.membership_of(manager, brand) is None:
        db.session.add(BrandMembership(brand=brand, user=manager, role=BrandRole.manager))
    return brand


def _creator(email, name, timezone, **profile):
    """A demo creator with a filled-in profile (only when it has none yet)."""
    user = db.session.scalar(select(User).where(User.email == email))
    if user is None:
        user = services.register_creator(
            email, name, DEMO_PASSWORD, profile["display_name"], timezone=timezone
        )
    if not user.creator_profile.handles:
        services.update_creator_profile(user.creator_profile, **profile)
    return user


def _workroom_with_conversation(brand, owner, manager, creator):
    """The Northwind and Cora workroom with 220 messages, threads, edits and a note."""
    workroom = open_workroom(brand, creator, owner)
    seat = {u.id: seat_of(u, workroom) for u in (owner, manager, creator)}

    def post(author, text, when):
        return post_message(seat[author.id], author, text, now=when)

    def reply(root, author, text, when):
        return post_message(seat[author.id], author, text, parent=root, now=when)

    def edit(message, author, text, when):
        return edit_message(message, author, text, now=when)

    def note(author, text, when):
        return post_message(seat[author.id], author, text, internal=True, now=when)

    seed_conversation([owner, manager], creator, post=post, reply=reply, edit=edit, note=note)
    return workroom


def _campaign(brand, owner, *, now):
    """Spring Trails 2027, active, with a brief and a budget."""
    campaign = db.session.scalar(select(Campaign).where(Campaign.name == CAMPAIGN_NAME))
    if campaign is None:
        campaign = campaign_services.create_campaign(
            brand,
            owner,
            name=CAMPAIGN_NAME,
            starts_on=date(2026, 11, 1),
            ends_on=date(2027, 5, 31),
            budget_minor=2_500_000,
            currency="USD",
            brief_md="Hiking season launch for the **Trailhead** jacket and boots.\n\n"
            "- Show the gear in real conditions\n- Disclose the partnership (#ad)\n"
            "- Tag @northwind.outdoors",
            now=now,
        )
        campaign_services.change_campaign_status(campaign, owner, CampaignStatus.active, now=now)
    return campaign


def _joined(campaign, owner, creator, *, now):
    """The creator was invited to the campaign and accepted (opening the workroom)."""
    invited = db.session.scalar(
        select(CampaignInvitation).where(
            CampaignInvitation.campaign_id == campaign.id,
            CampaignInvitation.creator_id == creator.id,
        )
    )
    if invited is None:
        ttl = current_app.config["INVITATION_TTL"]
        invited = campaign_services.invite_creator(
            campaign, owner, creator, ttl, message="We love your trail content!", now=now
        )
        campaign_services.accept_invitation(invited, creator, now=now)


def _terms(title, *, lines, text):
    """Contract terms for the demo."""
    return Terms(
        title=title,
        terms_md=text,
        starts_on=date(2026, 11, 1),
        ends_on=date(2027, 5, 31),
        currency="USD",
        renewal_date=date(2027, 5, 1),
        auto_renew=False,
        lines=tuple(
            LineTerms(t, kind, platform, due, price) for t, kind, platform, due, price in lines
        ),
    )


CORA_LINES = [
    ("Trail reel", DeliverableKind.reel, Platform.instagram, date(2026, 12, 5), 150_000),
    ("Gear story set", DeliverableKind.story, Platform.instagram, date(2026, 12, 12), 45_000),
    ("TikTok teaser", DeliverableKind.video, Platform.tiktok, date(2027, 1, 15), 90_000),
]


def _cora_contract(campaign, workroom, owner, creator, *, now):
    """Proposed, changes asked, revised and accepted: an active contract with history."""
    if contracts_of(workroom):
        return
    brand_seat, creator_seat = seat_of(owner, workroom), seat_of(creator, workroom)
    text = "Content stays live for 12 months. Usage rights: organic only."
    contract = contract_services.create_contract(
        brand_seat,
        owner,
        campaign,
        _terms(CAMPAIGN_NAME, lines=CORA_LINES[:2], text=text),
        now=now,
    )
    first = contract.latest_version
    contract_services.decline_version(
        contract,
        creator,
        creator_seat,
        first.sha256,
        "Could we add the TikTok teaser? My audience there is growing fast.",
        now=now,
    )
    revised = contract_services.revise_contract(
        contract,
        owner,
        brand_seat,
        _terms(CAMPAIGN_NAME, lines=CORA_LINES, text=text),
        comment="Added the TikTok teaser.",
        now=now,
    )
    contract_services.accept_version(contract, creator, creator_seat, revised.sha256, now=now)


def _dev_contract(campaign, workroom, owner, *, now):
    """A proposal waiting on the creator."""
    if contracts_of(workroom):
        return
    lines = [
        (
            "Camp stove recipe video",
            DeliverableKind.video,
            Platform.youtube,
            date(2027, 2, 1),
            250_000,
        )
    ]
    contract_services.create_contract(
        seat_of(owner, workroom),
        owner,
        campaign,
        _terms("Camp Kitchen", lines=lines, text="One dedicated video, 60 days exclusivity."),
        now=now,
    )


def _attachments(workroom, creator, *, now):
    """A shot list and a mood board image on a message of the creator's."""
    seat = seat_of(creator, workroom)
    files = [
        FileStorage(
            BytesIO(b"shot,place\ntrailhead wide,Eagle Creek\nboots close-up,camp\n"),
            filename="shot-list.csv",
        ),
        FileStorage(BytesIO(_mood_board_png()), filename="mood-board.png"),
    ]
    config = current_app.config
    uploads = [
        inspect(f, max_bytes=config["MAX_ATTACHMENT_BYTES"], max_pixels=config["MAX_IMAGE_PIXELS"])
        for f in files
    ]
    post_message(
        seat, creator, "Shot list and mood board for the trail reel.", uploads=uploads, now=now
    )


def _mood_board_png():
    """A small generated PNG."""
    from PIL import Image

    image = Image.new("RGB", (64, 40), (46, 125, 50))
    buffer = BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def seed_demo():
    """Create every demo account and its data if it is not there yet."""
    owner = _user("brand@example.com", "Bea Brandt", AccountKind.brand, "America/Denver")
    manager = _user("manager@example.com", "Max Manning", AccountKind.brand, "America/New_York")
    brand = _brand(owner, manager)
    cora = _creator(
        "creator@example.com",
        "Cora Reyes",
        "Europe/Lisbon",
        display_name="Cora on the Trail",
        bio="Hiking, gear tests and slow travel.",
        audience_size=184_000,
        currency="USD",
        handles={Platform.instagram: "coraonthetrail", Platform.tiktok: "cora.trails"},
        niches=["outdoor", "travel"],
        rates={RateKind.post: 120_000, RateKind.story: 45_000, RateKind.reel: 150_000},
    )
    dev = _creator(
        "creator2@example.com",
        "Dev Okafor",
        "Europe/London",
        display_name="Dev Cooks",
        bio="Weeknight recipes from a tiny kitchen.",
        audience_size=92_500,
        currency="GBP",
        handles={Platform.youtube: "DevCooks"},
        niches=["cooking"],
        rates={RateKind.video: 250_000},
    )
    db.session.flush()
    month_ago = utcnow() - timedelta(days=31)
    campaign = _campaign(brand, owner, now=month_ago)
    _joined(campaign, owner, cora, now=month_ago)
    _joined(campaign, owner, dev, now=month_ago)
    cora_room = open_workroom(brand, cora, owner)
    fresh = cora_room.last_message_seq <= 1  # only the "accepted the invitation" line
    _cora_contract(campaign, cora_room, owner, cora, now=month_ago + timedelta(hours=2))
    if fresh:
        _workroom_with_conversation(brand, owner, manager, cora)
        _attachments(cora_room, cora, now=utcnow() - timedelta(hours=1))
    dev_room = open_workroom(brand, dev, owner)
    if dev_room.last_message_seq <= 1:
        post_message(
            seat_of(dev, dev_room),
            dev,
            "Hi Northwind! Happy to talk about recipes with your camping stove line.",
        )
    _dev_contract(campaign, dev_room, owner, now=utcnow() - timedelta(minutes=30))
    _user("mediator@example.com", "Mia Mediator", AccountKind.mediator, "Europe/Berlin")
    _user("admin@example.com", "Ada Admin", AccountKind.admin, "UTC")
    db.session.commit()


@click.command("seed-demo")
@with_appcontext
def seed_demo_command():
    """Load the demo accounts (idempotent)."""
    seed_demo()
    click.echo(f"Demo data ready. Every demo account's password is {DEMO_PASSWORD}:")
    for email, role in DEMO_LOGINS:
        click.echo(f"  {email:<24} {role}")
