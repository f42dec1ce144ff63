"""The bell and the notification preferences in a real browser: a message from the other
side rings the bell, the list marks it read with htmx, and the preferences page saves.

Every page and htmx swap passes axe-core; the harness also fails on CSP violations.
"""

from playwright.sync_api import expect
from sqlalchemy import delete

from portal.accounts.models import User
from portal.extensions import db
from portal.notifications.models import Channel, Kind, Notification
from portal.notifications.services import settings_of
from portal.workrooms import services as workroom_services
from tests.contracts.conftest import seat
from tests.e2e.test_accounts import sign_in
from tests.scheduling.conftest import seed_active


def test_the_bell_rings_for_a_message_and_the_preferences_save(ui, app):
    side = seed_active(app)
    with app.app_context():
        db.session.execute(delete(Notification))  # the contract's own, from the setup
        creator = db.session.get(User, side.pair.creator.id)
        workroom_services.post_message(
            seat(creator.id, side.pair.workroom_id), creator, "The draft is in the folder."
        )
        db.session.commit()
    sign_in(ui, side.pair.owner.email)
    page = ui.page
    bell = page.locator("#bell")
    expect(bell).to_have_attribute("aria-label", "Notifications: 1 unread")
    ui.click(bell)
    expect(page.get_by_role("heading", level=1)).to_have_text("Notifications")
    expect(page.get_by_role("button", name="Unread: Cora Creator wrote")).to_be_visible()
    page.get_by_role("button", name="Mark all 1 read").click()
    expect(page.get_by_role("button", name="Mark all 1 read")).to_have_count(0)
    expect(bell).to_have_attribute("aria-label", "Notifications")  # the swap rang the bell
    ui.audit()
    ui.visit("/account/notifications")
    page.get_by_label("New messages").select_option("email")
    page.get_by_label("Digest", exact=True).select_option("weekly")
    page.get_by_label("Quiet hours from").select_option("22")
    page.get_by_label("Quiet hours until").select_option("7")
    ui.submit("Save")
    expect(page.get_by_text("Your notification settings are saved.")).to_be_visible()
    expect(page.get_by_label("New messages")).to_have_value("email")
    with app.app_context():
        settings = settings_of(db.session.get(User, side.pair.owner.id))
        assert settings.channel(Kind.message) is Channel.email
        assert (settings.quiet_start, settings.quiet_end) == (22, 7)
