"""Who hears of what, and how: channels per kind, mutes, money and legal events that always
notify, quiet hours that hold email, the bell and the preferences page."""

from datetime import UTC, datetime

import pytest
from sqlalchemy import delete, select

from jobs.mail import deliver_email
from portal.extensions import db
from portal.notifications import services
from portal.notifications.models import (
    Channel,
    DigestFrequency,
    Kind,
    Notification,
    OutboundEmail,
)
from portal.workrooms import services as workroom_services
from tests.conftest import Browserless, https_client
from tests.mediation.conftest import Actors
from tests.mediation.conftest import active as active  # a fixture
from tests.mediation.conftest import case as case  # a fixture


@pytest.fixture
def cast(case, app_ctx):
    """The case's people, with the notifications its setup caused cleared away."""
    db.session.execute(delete(Notification))
    db.session.execute(delete(OutboundEmail))
    db.session.commit()
    return Actors(case)


def prefs(user, **channels):
    services.save_preferences(
        user,
        {Kind[k]: Channel(v) for k, v in channels.items()},
        DigestFrequency.daily,
        8,
        0,
        None,
    )


def bell(user):
    return db.session.scalars(
        select(Notification).where(Notification.user_id == user.id).order_by(Notification.id)
    ).all()


def emails_to(user):
    return db.session.scalars(
        select(OutboundEmail).where(OutboundEmail.to_address == user.email)
    ).all()


def test_a_message_rings_the_other_sides_bells_only(app, case, cast):
    workroom_services.post_message(cast.maker, cast.creator, "Draft is up")
    assert [n.kind for n in bell(cast.owner)] == [Kind.message]
    assert [n.kind for n in bell(cast.viewer)] == [Kind.message]
    assert bell(cast.creator) == []  # not the author's own side
    assert emails_to(cast.owner) == []  # messages default to the bell only
    assert bell(cast.owner)[0].body == "Draft is up"


def test_channels_off_digest_and_email(app, case, cast):
    prefs(cast.owner, message="off")
    prefs(cast.viewer, message="digest")
    workroom_services.post_message(cast.maker, cast.creator, "Hello")
    assert bell(cast.owner) == []
    assert [n.for_digest for n in bell(cast.viewer)] == [True]
    prefs(cast.owner, message="email")
    workroom_services.post_message(cast.maker, cast.creator, "Again")
    (email,) = emails_to(cast.owner)
    assert email.list_id == "notifications" and email.unsubscribe_url.startswith("https://")
    assert "Again" in email.text_body


def test_a_muted_workroom_is_silent_except_for_money_and_legal_events(app, case, cast):
    services.set_mute(cast.owner, case.workroom_id, True)
    workroom_services.post_message(cast.maker, cast.creator, "Hello")
    assert bell(cast.owner) == []
    note = services.notify(
        cast.owner, Kind.payout, "Paid", workroom_id=case.workroom_id, always=True
    )
    assert note is not None and bell(cast.owner) == [note]
    (email,) = emails_to(cast.owner)
    assert email.list_id is None and email.unsubscribe_url is None  # transactional
    services.set_mute(cast.owner, case.workroom_id, False)
    workroom_services.post_message(cast.maker, cast.creator, "Back")
    assert len(bell(cast.owner)) == 2


def test_always_ignores_off(app, case, cast):
    prefs(cast.creator, payout="off")
    assert services.notify(cast.creator, Kind.payout, "Funded") is None
    assert services.notify(cast.creator, Kind.payout, "Paid out", always=True) is not None


@pytest.mark.parametrize(
    ("local_hour", "held_until_local"),
    [(23, 7), (3, 7), (12, None)],
    ids=["evening", "night", "noon"],
)
def test_quiet_hours_hold_email_until_they_end(app, case, cast, local_hour, held_until_local):
    cast.owner.timezone = "America/Denver"
    services.save_preferences(cast.owner, {}, DigestFrequency.daily, 8, 0, (22, 7))
    zone = services.zone_of(cast.owner)
    now = datetime(2030, 6, 3, local_hour, 30, tzinfo=zone).astimezone(UTC)
    services.notify(cast.owner, Kind.submission, "Review me", now=now)
    (email,) = emails_to(cast.owner)
    if held_until_local is None:
        assert email.send_after is None
        return
    assert email.send_after.astimezone(zone).hour == held_until_local
    assert email.send_after > now
    db.session.commit()
    assert deliver_email(email.id) == "nothing to do" or email.sent_at is None


def test_the_bell_counts_unread_and_marking_read_clears_it(app, case):
    with app.app_context():
        cast = Actors(case)
        db.session.execute(delete(Notification))
        for n in range(3):
            services.notify(cast.owner, Kind.review, f"Thing {n}")
        db.session.commit()
        email = cast.owner.email
    web = Browserless(https_client(app))
    web.login(email)
    page = web.client.get("/").get_data(as_text=True)
    assert 'aria-label="Notifications: 3 unread"' in page
    listing = web.client.get("/notifications").get_data(as_text=True)
    assert "Thing 2" in listing and "Mark all 3 read" in listing
    response = web.post(
        "/notifications/read", token_from="/notifications", headers={"HX-Request": "true"}
    )
    assert response.headers["HX-Trigger"] == "notifications-changed"
    assert "Nothing yet" not in response.get_data(as_text=True)
    bell_html = web.client.get("/notifications/bell").get_data(as_text=True)
    assert "bell-count" not in bell_html


def test_the_preferences_page_saves_and_refuses_half_quiet_hours(app, case):
    with app.app_context():
        email = Actors(case).owner.email
        owner_id = Actors(case).owner.id
    web = Browserless(https_client(app))
    web.login(email)
    form = {f"channel_{k.value}": "email" for k in Kind}
    form.update(
        digest="weekly", digest_hour="7", digest_weekday="4", quiet_start="22", quiet_end=""
    )
    bad = web.post("/account/notifications", form)
    assert bad.status_code == 422
    assert "Choose when quiet hours start and when they end." in bad.get_data(as_text=True)
    form.update(quiet_end="7", channel_message="off")
    assert web.post("/account/notifications", form).status_code == 303
    with app.app_context():
        settings = services.settings_of(db.session.get(services.User, owner_id))
        assert settings.channel(Kind.message) is Channel.off
        assert (settings.digest, settings.digest_hour, settings.digest_weekday) == (
            DigestFrequency.weekly,
            7,
            4,
        )
        assert (settings.quiet_start, settings.quiet_end) == (22, 7)
    page = web.client.get("/account/notifications").get_data(as_text=True)
    assert '<option selected value="off">' in page or 'value="off" selected' in page


def test_muting_from_the_workroom_page(app, case):
    with app.app_context():
        email = Actors(case).owner.email
    web = Browserless(https_client(app))
    web.login(email)
    workroom = f"/workrooms/{case.workroom_id}"
    assert "Mute this workroom" in web.client.get(workroom).get_data(as_text=True)
    web.post(f"{workroom}/mute", {"muted": "1"}, token_from=workroom)
    assert "Unmute this workroom" in web.client.get(workroom).get_data(as_text=True)
    assert "Muted workrooms" in web.client.get("/account/notifications").get_data(as_text=True)
