"""Demo data for a first look: `flask --app wsgi seed-demo` (safe to run again)."""

import click
from flask.cli import with_appcontext
from sqlalchemy import select

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
from portal.demo_conversation import seed_conversation
from portal.extensions import db
from portal.workrooms.access import seat_of
from portal.workrooms.services import edit_message, open_workroom, post_message

DEMO_PASSWORD = "duet-demo-2026"
BRAND_NAME = "Northwind Outdoors"

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
    if workroom.last_message_seq:
        return workroom
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
    _workroom_with_conversation(brand, owner, manager, cora)
    dev_room = open_workroom(brand, dev, owner)
    if not dev_room.last_message_seq:
        post_message(
            seat_of(dev, dev_room),
            dev,
            "Hi Northwind! Happy to talk about recipes with your camping stove line.",
        )
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
