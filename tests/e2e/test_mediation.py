"""Mediation in a real browser, three people at once: the creator opens a ticket on a missed
deliverable, the brand answers, a mediator takes it, keeps a private note and proposes a new
due date plus a partial release; both sides accept and the ledger shows the partial release.
Each page is checked by axe-core."""

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from portal.accounts.models import AccountKind, User
from portal.contracts.models import Contract
from portal.deliverables.models import Deliverable, DeliverableStatus
from portal.deliverables.services import due_at_for, mark_missed, missed_after
from portal.escrow import services as escrow_services
from portal.escrow.models import (
    AccountKind as LedgerKind,
)
from portal.escrow.models import (
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    Milestone,
    MilestoneStatus,
)
from portal.escrow.providers import SandboxProvider
from portal.extensions import db
from portal.mediation.models import Outcome, Ticket, TicketStatus
from tests import factories
from tests.contracts.conftest import seat, seed_pair
from tests.deliverables.conftest import activate
from tests.e2e.test_accounts import sign_in

AMOUNT = 100_000  # 1,000.00 USD on the video
PERCENT = 40
RELEASED = AMOUNT * PERCENT // 100
PRIVATE_NOTE = "Brand seems to have ghosted the shoot logistics; check the emails."
SUBJECT = "Trail video missed: shoes never arrived"


@dataclass
class Dispute:
    """Ids and emails of a workroom whose funded video milestone waits on a missed video."""

    pair: object
    mediator_email: str
    contract_id: int
    deliverable_id: int
    milestone_id: int

    @property
    def workroom(self):
        return f"/workrooms/{self.pair.workroom_id}"


@pytest.fixture
def dispute(app):
    """An active contract, its video missed, a funded milestone on the video, a mediator.
    Funding goes through the sandbox provider the live server is configured with."""
    pair = seed_pair(app)
    with app.app_context():
        contract_id, ids = activate(pair)
        owner = db.session.get(User, pair.owner.id)
        contract = db.session.get(Contract, contract_id)
        video = db.session.get(Deliverable, ids[0])
        brand = seat(owner.id, pair.workroom_id)
        milestone = escrow_services.add_milestone(
            contract, owner, brand, "Video approved", AMOUNT, deliverables=[video]
        )
        provider = SandboxProvider(app.config["SANDBOX_PROVIDER_PATH"])
        escrow_services.fund_milestone(milestone, owner, brand, provider)
        # The sample contract is due in 2030: miss the video just after its grace period.
        assert mark_missed(video, now=missed_after(video) + timedelta(minutes=1)) is not None
        mediator = factories.user(kind=AccountKind.mediator, name="Mia Mediator")
        db.session.commit()
        assert milestone.status is MilestoneStatus.funded
        return Dispute(pair, mediator.email, contract_id, video.id, milestone.id)


def party(open_page, email, javascript):
    """A signed-in browser context of its own."""
    ui = open_page(javascript=javascript)
    sign_in(ui, email)
    return ui


def ticket_path(ui):
    """The ticket page the browser is on."""
    match = re.search(r"/tickets/(\d+)", ui.page.url)
    assert match, ui.page.url
    return f"/tickets/{match.group(1)}", int(match.group(1))


@pytest.mark.e2e
@pytest.mark.parametrize("javascript", [True, False], ids=["with-js", "without-js"])
def test_a_missed_deliverable_is_mediated_into_an_extension_and_a_partial_release(
    open_page, dispute, app, javascript
):
    creator = party(open_page, dispute.pair.creator.email, javascript)
    owner = party(open_page, dispute.pair.owner.email, javascript)
    mediator = party(open_page, dispute.mediator_email, javascript)

    # The creator opens a ticket naming the missed video and its milestone.
    creator.visit(f"{dispute.workroom}/tickets")
    expect(creator.page.locator("main tbody tr")).to_have_count(0)
    creator.click(creator.page.get_by_role("button", name="Open a ticket", exact=True))
    expect(creator.page.get_by_role("heading", level=1)).to_have_text("Open a mediation ticket")
    creator.page.get_by_label("What is it about").select_option(label="Missed deliverable")
    creator.page.get_by_label("Subject").fill(SUBJECT)
    creator.page.get_by_label("What happened").fill(
        "The brand never shipped the **trail shoes**, so the video could not be shot."
    )
    creator.page.get_by_label("What you ask for").fill("Two more weeks and part of the fee.")
    creator.page.get_by_label("Trail video", exact=True).check()
    creator.page.get_by_label("Video approved ($1,000.00)").check()
    creator.submit("Open the ticket")
    path, ticket_id = ticket_path(creator)
    heading = creator.page.get_by_role("heading", level=1)
    expect(heading).to_have_text(f"Ticket #{ticket_id}: {SUBJECT}")
    expect(creator.page.locator(".ticket-meta")).to_contain_text("Open")
    expect(creator.page.locator(".ticket-meta")).to_contain_text("Missed deliverable")
    clocks = creator.page.locator("#clocks")
    expect(clocks).to_contain_text("A response to the ticket from the brand, by")
    expect(clocks).to_contain_text("The ticket goes to a mediator with or without the response.")
    named = creator.page.locator("#about")
    expect(named).to_contain_text("Trail video: missed")
    expect(named).to_contain_text("Video approved: Held $1,000.00 in escrow")

    # The brand owner finds it among the workroom's tickets and responds.
    owner.visit(f"{dispute.workroom}/tickets")
    owner.follow(f"#{ticket_id} {SUBJECT}")
    owner.page.get_by_label("Message", exact=True).fill("The courier lost the parcel; sorry.")
    owner.submit("Send")
    expect(owner.page.locator("#flash")).to_contain_text("Your message was added.")
    expect(owner.page.locator(".ticket-meta")).to_contain_text("In mediation")
    expect(owner.page.locator("#clocks")).to_contain_text("A mediator to take the ticket")

    # The mediator takes it from the queue, keeps a private note and proposes.
    mediator.visit("/mediation")
    row = mediator.page.locator(f"#ticket-{ticket_id}")
    expect(row).to_contain_text("Nobody yet")
    mediator.click(row.get_by_role("link", name=f"#{ticket_id} {SUBJECT}"))
    mediator.submit("Take this ticket")
    expect(mediator.page.locator("#flash")).to_contain_text("The ticket is yours.")
    expect(mediator.page.locator(".ticket-meta")).to_contain_text("mediator: Mia Mediator")
    mediator.page.get_by_label("Message", exact=True).fill(PRIVATE_NOTE)
    mediator.page.get_by_label("Private note (mediators only)").check()
    mediator.submit("Send")
    expect(mediator.page.locator("#thread")).to_contain_text(PRIVATE_NOTE)
    expect(mediator.page.locator("#thread .post-private")).to_contain_text("Private note")

    new_due = datetime.now(UTC).date() + timedelta(days=14)  # the form refuses past dates
    composer = mediator.page.locator("#compose")
    expect(composer.get_by_role("heading", name="Compose a resolution")).to_be_visible()
    work = composer.get_by_role("group", name=re.compile("^Deliverable “Trail video”"))
    work.get_by_label("Action").select_option(label="Move the due date")
    work.get_by_label("New due date").fill(new_due.isoformat())
    money = composer.get_by_role("group", name=re.compile("^Milestone “Video approved”"))
    expect(money).to_contain_text("$1,000.00 in escrow")
    money.get_by_label("Action").select_option(label="Release to the creator")
    money.get_by_label("or a percentage of what is in escrow").fill(str(PERCENT))
    composer.get_by_label("Note to both sides").fill("The parcel was lost: share the loss.")
    mediator.submit("Propose to both sides")
    expect(mediator.page.locator("#flash")).to_contain_text("The proposal went to both parties.")
    proposal = mediator.page.locator("#proposal-1")
    new_due_at = due_at_for(new_due, "UTC")  # the creator's time zone
    expect(proposal).to_contain_text(f"Move “Trail video” to {new_due_at:%Y-%m-%d %H:%M} UTC")
    expect(proposal).to_contain_text(
        f"Release $400.00 ({PERCENT} %) of “Video approved” to the creator"
    )

    # Both sides see the proposal, not the private note, and accept it.
    for side in (creator, owner):
        side.visit(path)
        expect(side.page.locator(".ticket-meta")).to_contain_text("Proposed")
        expect(side.page.locator("#proposal-1")).to_contain_text("Release $400.00")
        expect(side.page.locator("#proposal-1")).to_contain_text("share the loss")
        expect(side.page.locator("main")).not_to_contain_text(PRIVATE_NOTE)
        expect(side.page.locator("main")).not_to_contain_text("Private note")
        side.submit("Accept proposal 1")
        expect(side.page.locator("#flash")).to_contain_text("You accepted the proposal.")
        expect(side.page.locator("main")).not_to_contain_text(PRIVATE_NOTE)

    for side in (owner, creator, mediator):
        side.visit(path)
        expect(side.page.locator(".ticket-meta")).to_contain_text("Resolved")
        expect(side.page.locator("#clocks")).to_contain_text(
            "(agreed): $400.00 released, $0.00 refunded."
        )
        expect(side.page.locator("#proposal-1")).to_contain_text("Applied")
    expect(creator.page.locator("main")).not_to_contain_text(PRIVATE_NOTE)
    expect(owner.page.locator("main")).not_to_contain_text(PRIVATE_NOTE)

    # The creator's milestone page shows what was released and the ledger movement.
    creator.visit(f"{dispute.workroom}/milestones/{dispute.milestone_id}")
    facts = creator.page.locator("#milestone-state")
    expect(facts).to_contain_text("Partially released")
    expect(facts).to_contain_text("Released")
    expect(facts).to_contain_text("$400.00")
    # The rest stays in escrow and waits on the video, pending again under its new date.
    expect(creator.page.locator("#why-not-released")).to_contain_text(
        "“Trail video” is pending, not approved."
    )
    expect(creator.page.locator("#milestone-ledger")).to_contain_text("Partial release")

    # The database agrees: resolution applied, deliverable moved, ledger posted.
    with app.app_context():
        ticket = db.session.get(Ticket, ticket_id)
        assert ticket.status is TicketStatus.resolved
        assert ticket.outcome is Outcome.agreed
        assert ticket.released_minor == RELEASED
        milestone = db.session.get(Milestone, dispute.milestone_id)
        assert milestone.status is MilestoneStatus.partially_released
        assert milestone.released_minor == RELEASED
        assert milestone.in_escrow_minor == AMOUNT - RELEASED
        video = db.session.get(Deliverable, dispute.deliverable_id)
        assert video.status is DeliverableStatus.pending
        assert video.due_at == new_due_at
        (release,) = db.session.scalars(
            select(LedgerTransaction).where(
                LedgerTransaction.milestone_id == dispute.milestone_id,
                LedgerTransaction.kind == "partial_release",
            )
        ).all()
        escrow = db.session.scalars(
            select(LedgerEntry.amount_minor)
            .join(LedgerAccount)
            .where(
                LedgerEntry.transaction_id == release.id,
                LedgerAccount.kind == LedgerKind.escrow,
                LedgerAccount.contract_id == dispute.contract_id,
            )
        ).all()
        assert escrow == [-RELEASED]
        assert sum(e.amount_minor for e in release.entries) == 0
