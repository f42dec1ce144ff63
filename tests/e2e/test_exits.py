"""An exit in a real browser: the brand ends a contract keeping the story for a replacement,
invites a creator from the exit's roster search, the creator accepts the invitation and the
carried-over contract, and the story is theirs with a new due date. Pages checked by axe."""

import re
from dataclasses import dataclass

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from portal.accounts.models import AccountKind, CreatorHandle, CreatorNiche, Platform, User
from portal.campaigns.models import Campaign, CampaignStatus
from portal.contracts.models import Contract, ContractStatus
from portal.deliverables.models import Deliverable
from portal.exits.models import Exit
from portal.extensions import db
from tests import factories
from tests.contracts.conftest import seed_pair
from tests.deliverables.conftest import activate
from tests.e2e.test_accounts import sign_in


@dataclass
class Leaving:
    """The pair whose contract ends, and the creator who will replace the leaving one."""

    pair: object
    contract_id: int
    replacement_email: str
    replacement_id: int


@pytest.fixture
def leaving(app):
    """An active Spring Trails contract under an active campaign; the leaving creator and
    Rita both post on YouTube about outdoor."""
    pair = seed_pair(app)
    with app.app_context():
        contract_id, _ = activate(pair)
        db.session.get(Campaign, pair.campaign_id).status = CampaignStatus.active
        cora = db.session.get(User, pair.creator.id).creator_profile
        cora.handles = [CreatorHandle(platform=Platform.youtube, handle="cora")]
        cora.niches = [CreatorNiche(name="outdoor")]
        rita = factories.user(kind=AccountKind.creator, name="Rita Replacement")
        rita.creator_profile.audience_size = 42_000
        rita.creator_profile.handles = [CreatorHandle(platform=Platform.youtube, handle="rita")]
        db.session.commit()
        return Leaving(pair, contract_id, rita.email, rita.id)


def signed_in(open_page, email, javascript):
    ui = open_page(javascript=javascript)
    sign_in(ui, email)
    return ui


@pytest.mark.e2e
@pytest.mark.parametrize("javascript", [True, False], ids=["with-js", "without-js"])
def test_an_exit_is_replaced_and_the_remaining_work_carries_over(
    open_page, leaving, app, javascript
):
    owner = signed_in(open_page, leaving.pair.owner.email, javascript)

    # The brand ends the contract, keeping the story for a replacement.
    owner.visit(f"/contracts/{leaving.contract_id}")
    owner.click(owner.page.get_by_role("button", name="End this contract"))
    expect(owner.page.get_by_role("heading", level=1)).to_have_text("End this contract")
    owner.page.get_by_label("Why the contract ends").select_option(label="Underperformance")
    owner.page.get_by_label("Comment").fill("The first cut missed the brief twice.")
    owner.page.get_by_label("Trail story", exact=True).check()
    owner.submit("End the contract")
    expect(owner.page.locator("#flash")).to_contain_text("The contract is ending.")
    expect(owner.page.get_by_role("heading", level=1)).to_have_text("Ending Spring Trails")
    expect(owner.page.locator("#exit-status")).to_have_text("Notice period")

    # Rita is a candidate: same platform, not in the campaign. The brand invites her.
    row = owner.page.locator(f"#candidate-{leaving.replacement_id}")
    expect(row).to_contain_text("Rita Replacement")
    expect(row).to_contain_text("No history")
    row.get_by_text("Invite…").click()
    row.get_by_label("Message to Rita Replacement (optional)").fill("Take over the story?")
    owner.submit("Invite Rita Replacement")
    expect(owner.page.locator("#flash")).to_contain_text("is invited to take over the work")
    expect(owner.page.locator("#replacement-invitation")).to_contain_text("pending")

    # Rita accepts the invitation, then the carried-over contract.
    rita = signed_in(open_page, leaving.replacement_email, javascript)
    rita.visit("/invitations/campaigns")
    rita.follow("Spring launch")
    rita.submit("Accept")
    expect(rita.page.locator("#flash")).to_contain_text("You joined Spring launch.")
    with app.app_context():
        exit = db.session.scalar(select(Exit))
        carried_id = exit.replacement_contract_id
        assert carried_id is not None
        assert exit.replacement_creator_id == leaving.replacement_id
    rita.visit(f"/contracts/{carried_id}")
    expect(rita.page.get_by_role("heading", level=1)).to_have_text("Spring Trails (replacement)")
    rita.submit("Accept version 1")
    expect(rita.page.locator("#flash")).to_contain_text("You accepted version 1.")
    with app.app_context():
        carried = db.session.get(Contract, carried_id)
        assert carried.status is ContractStatus.active
        work = db.session.scalars(
            select(Deliverable).where(Deliverable.contract_id == carried_id)
        ).all()
        assert [d.title for d in work] == ["Trail story"]
        assert carried.accepted_version.total_minor == 25000
        workroom_id = carried.workroom_id
    rita.visit(f"/workrooms/{workroom_id}/deliverables")
    expect(rita.page.locator("main")).to_contain_text("Trail story")

    # The brand's exit page shows who took over.
    owner.visit(f"/exits/{exit.id}")
    expect(owner.page.locator("#replacement-done")).to_contain_text(
        re.compile(r"Rita Replacement took over the work")
    )
