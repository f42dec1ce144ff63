"""Contract services called directly: proposals, answers by hash, amendments, history."""

import dataclasses
from datetime import date

import pytest
from sqlalchemy import select

from portal.accounts.models import User
from portal.audit import AuditEvent, verify_chain
from portal.campaigns.models import Campaign
from portal.contracts import queries, services
from portal.contracts.models import (
    ContractAcceptance,
    ContractResponse,
    ContractStatus,
    VersionKind,
    VersionState,
)
from portal.contracts.terms import Terms, canonical_terms, terms_sha256
from portal.errors import InvalidState, NotAllowed
from portal.extensions import db
from portal.workrooms.models import Message, MessageKind, Side, Workroom
from tests.contracts.conftest import seat
from tests.contracts.samples import sample_terms


@pytest.fixture
def ctx(app_ctx, pair):
    """Loaded rows and seats for the pair."""

    class Ctx:
        owner = db.session.get(User, pair.owner.id)
        viewer = db.session.get(User, pair.viewer.id)
        creator = db.session.get(User, pair.creator.id)
        workroom = db.session.get(Workroom, pair.workroom_id)
        campaign = db.session.get(Campaign, pair.campaign_id)
        brand = seat(pair.owner.id, pair.workroom_id)
        reader = seat(pair.viewer.id, pair.workroom_id)
        maker = seat(pair.creator.id, pair.workroom_id)

    return Ctx


def propose(ctx, terms=None, **kwargs):
    return services.create_contract(
        ctx.brand, ctx.owner, ctx.campaign, terms or sample_terms(), **kwargs
    )


def system_lines(workroom):
    return db.session.scalars(
        select(Message.body_md)
        .where(Message.workroom_id == workroom.id, Message.kind == MessageKind.system)
        .order_by(Message.seq)
    ).all()


def audit_actions(workroom):
    return db.session.scalars(
        select(AuditEvent.action)
        .where(AuditEvent.workroom_id == workroom.id, AuditEvent.action.like("contract.%"))
        .order_by(AuditEvent.seq)
    ).all()


def test_same_terms_give_the_same_hash_and_any_change_gives_another():
    terms = sample_terms()
    assert terms_sha256(terms) == terms_sha256(sample_terms())
    assert canonical_terms(terms) == canonical_terms(sample_terms())
    changes = [
        {"terms_md": terms.terms_md + "!"},
        {"ends_on": date(2030, 6, 1)},
        {"kill_fee_percent": 10},
        {"auto_renew": True},
        {"revision_budget": 3},
        {"lines": terms.lines[:1]},
        {"lines": (dataclasses.replace(terms.lines[0], price_minor=100001), terms.lines[1])},
    ]
    hashes = {terms_sha256(dataclasses.replace(terms, **change)) for change in changes}
    assert len(hashes) == len(changes)
    assert terms_sha256(terms) not in hashes


def test_stored_version_hashes_to_its_sha256(ctx):
    contract = propose(ctx, sample_terms(terms_md="Line one  \r\nLine two\r\n"))
    version = contract.latest_version
    assert version.terms_md == "Line one\nLine two"
    assert terms_sha256(Terms.of_version(version)) == version.sha256
    assert version.total_minor == 125000
    assert version.terms_html.startswith("<p>")


def test_proposal_records_the_brands_acceptance_log_line_and_audit_event(ctx):
    contract = propose(ctx)
    version = contract.latest_version
    assert contract.status is ContractStatus.proposed
    assert (version.number, version.kind, version.state) == (
        1,
        VersionKind.proposal,
        VersionState.open,
    )
    [acceptance] = version.acceptances
    assert (acceptance.side, acceptance.user_id, acceptance.sha256) == (
        Side.brand,
        ctx.owner.id,
        version.sha256,
    )
    assert system_lines(ctx.workroom) == [
        "Bea Brand proposed contract **Spring Trails** (version 1)."
    ]
    assert audit_actions(ctx.workroom) == ["contract.proposed"]
    assert queries.waiting_on(ctx.workroom) == [
        (Side.creator, "Accept or ask for changes to Spring Trails v1")
    ]


def test_full_cycle_changes_requested_revise_accept_active(ctx):
    contract = propose(ctx)
    v1 = contract.latest_version
    services.decline_version(contract, ctx.creator, ctx.maker, v1.sha256, "Make the story a reel.")
    assert v1.state is VersionState.changes_requested
    assert queries.waiting_on(ctx.workroom) == [
        (Side.brand, "Revise Spring Trails: Cora Creator asked for changes")
    ]
    terms = sample_terms()
    reel = dataclasses.replace(terms.lines[1], kind=terms.lines[1].kind.reel)
    v2 = services.revise_contract(
        contract, ctx.owner, ctx.brand, dataclasses.replace(terms, lines=(terms.lines[0], reel))
    )
    assert (v2.number, v2.state, v1.state) == (2, VersionState.open, VersionState.changes_requested)
    assert contract.status is ContractStatus.proposed
    services.accept_version(contract, ctx.creator, ctx.maker, v2.sha256)
    assert contract.status is ContractStatus.active
    assert v2.state is VersionState.accepted
    assert contract.accepted_version is v2
    assert {(a.side, a.sha256) for a in v2.acceptances} == {
        (Side.brand, v2.sha256),
        (Side.creator, v2.sha256),
    }
    assert queries.waiting_on(ctx.workroom) == []
    lines = system_lines(ctx.workroom)
    assert lines[1].startswith("Cora Creator asked for changes to **Spring Trails** (version 1):")
    assert "> Make the story a reel." in lines[1]
    assert lines[2:] == [
        "Bea Brand revised contract **Spring Trails** (version 2).",
        "Cora Creator accepted version 2 of **Spring Trails**.",
        "Contract **Spring Trails** is active.",
    ]
    assert audit_actions(ctx.workroom) == [
        "contract.proposed",
        "contract.changes_requested",
        "contract.revised",
        "contract.accepted",
        "contract.activated",
    ]
    response = db.session.scalar(select(ContractResponse))
    assert (response.side, response.state, response.comment) == (
        Side.creator,
        VersionState.changes_requested,
        "Make the story a reel.",
    )
    assert verify_chain(f"workroom:{ctx.workroom.id}") is None


def test_accepting_stale_terms_is_refused(ctx):
    contract = propose(ctx)
    seen = contract.latest_version.sha256
    services.revise_contract(contract, ctx.owner, ctx.brand, sample_terms(kill_fee_percent=20))
    with pytest.raises(services.StaleTerms, match="version 2 is now on the table"):
        services.accept_version(contract, ctx.creator, ctx.maker, seen)
    assert contract.status is ContractStatus.proposed
    assert db.session.scalars(select(ContractAcceptance.side)).all() == [Side.brand, Side.brand]
    assert contract.versions[0].state is VersionState.superseded


def test_brand_cannot_accept_its_own_proposal_and_creator_cannot_propose(ctx):
    contract = propose(ctx)
    with pytest.raises(InvalidState):
        services.accept_version(contract, ctx.owner, ctx.brand, contract.latest_version.sha256)
    with pytest.raises(NotAllowed):
        services.create_contract(ctx.maker, ctx.creator, ctx.campaign, sample_terms())
    with pytest.raises(NotAllowed):
        services.revise_contract(contract, ctx.creator, ctx.maker, sample_terms(title="Mine"))


def test_viewer_seat_changes_nothing(ctx):
    contract = propose(ctx)
    with pytest.raises(NotAllowed):
        services.create_contract(ctx.reader, ctx.viewer, ctx.campaign, sample_terms())
    with pytest.raises(NotAllowed):
        services.revise_contract(contract, ctx.viewer, ctx.reader, sample_terms(title="X"))


def test_wrong_state_transitions_raise_invalid_state(ctx):
    contract = propose(ctx)
    with pytest.raises(InvalidState):
        services.propose_contract(contract, ctx.owner, ctx.brand)
    with pytest.raises(InvalidState):
        services.propose_amendment(contract, ctx.creator, ctx.maker, sample_terms(title="Early"))
    services.accept_version(contract, ctx.creator, ctx.maker, contract.latest_version.sha256)
    with pytest.raises(InvalidState):
        services.revise_contract(contract, ctx.owner, ctx.brand, sample_terms(title="Late"))
    with pytest.raises(InvalidState):
        services.accept_version(contract, ctx.creator, ctx.maker, contract.latest_version.sha256)


def test_draft_then_propose(ctx):
    contract = propose(ctx, propose=False)
    assert contract.status is ContractStatus.draft
    assert system_lines(ctx.workroom) == []  # drafts are the brand's own
    assert queries.waiting_on(ctx.workroom) == []
    same = services.save_draft(contract, ctx.owner, ctx.brand, sample_terms())
    assert same.number == 1
    v2 = services.save_draft(contract, ctx.owner, ctx.brand, sample_terms(title="Summer Trails"))
    assert (v2.number, contract.versions[0].state) == (2, VersionState.superseded)
    proposed = services.propose_contract(contract, ctx.owner, ctx.brand)
    assert proposed is v2
    assert contract.status is ContractStatus.proposed
    assert [a.side for a in v2.acceptances] == [Side.brand]
    assert system_lines(ctx.workroom) == [
        "Bea Brand proposed contract **Summer Trails** (version 2)."
    ]
    assert audit_actions(ctx.workroom) == [
        "contract.drafted",
        "contract.draft_saved",
        "contract.proposed",
    ]


def active_contract(ctx):
    contract = propose(ctx)
    services.accept_version(contract, ctx.creator, ctx.maker, contract.latest_version.sha256)
    return contract


def test_amendment_by_creator_accepted_by_brand_becomes_the_terms_in_force(ctx):
    contract = active_contract(ctx)
    amendment = services.propose_amendment(
        contract, ctx.creator, ctx.maker, sample_terms(ends_on=date(2030, 6, 30))
    )
    assert (amendment.kind, amendment.number, amendment.proposed_by_side) == (
        VersionKind.amendment,
        2,
        Side.creator,
    )
    assert contract.accepted_version.number == 1
    assert queries.waiting_on(ctx.workroom) == [
        (Side.brand, "Accept or reject the amendment to Spring Trails (v2)")
    ]
    services.accept_version(contract, ctx.owner, ctx.brand, amendment.sha256)
    assert amendment.state is VersionState.accepted
    assert contract.accepted_version is amendment
    assert contract.status is ContractStatus.active
    assert queries.waiting_on(ctx.workroom) == []
    assert system_lines(ctx.workroom)[-2:] == [
        "Bea Brand accepted version 2 of **Spring Trails**.",
        "Version 2 of **Spring Trails** is now the terms in force.",
    ]
    assert audit_actions(ctx.workroom)[-2:] == [
        "contract.amendment_proposed",
        "contract.amendment_accepted",
    ]


def test_rejected_amendment_leaves_the_terms_in_force(ctx):
    contract = active_contract(ctx)
    amendment = services.propose_amendment(
        contract, ctx.owner, ctx.brand, sample_terms(kill_fee_percent=0, revision_budget=1)
    )
    with pytest.raises(services.InvalidTerms):
        services.decline_version(contract, ctx.creator, ctx.maker, amendment.sha256, "  ")
    services.decline_version(contract, ctx.creator, ctx.maker, amendment.sha256, "Two rounds stay.")
    assert amendment.state is VersionState.rejected
    assert contract.accepted_version.number == 1
    assert "rejected the amendment" in system_lines(ctx.workroom)[-1]
    assert audit_actions(ctx.workroom)[-1] == "contract.amendment_rejected"


def test_amendment_that_changes_nothing_or_crosses_an_open_one_is_refused(ctx):
    contract = active_contract(ctx)
    with pytest.raises(services.InvalidTerms):
        services.propose_amendment(contract, ctx.owner, ctx.brand, sample_terms())
    services.propose_amendment(contract, ctx.owner, ctx.brand, sample_terms(revision_budget=3))
    with pytest.raises(InvalidState, match="Answer the open amendment"):
        services.propose_amendment(
            contract, ctx.creator, ctx.maker, sample_terms(revision_budget=4)
        )
    again = services.propose_amendment(
        contract, ctx.owner, ctx.brand, sample_terms(revision_budget=5)
    )
    assert contract.versions[1].state is VersionState.superseded
    assert again.number == 3


def test_invalid_terms_are_refused(ctx):
    with pytest.raises(services.InvalidTerms, match="end date"):
        propose(ctx, sample_terms(ends_on=date(2030, 2, 1)))
    with pytest.raises(services.InvalidTerms, match="at least one"):
        propose(ctx, sample_terms(lines=()))
    with pytest.raises(services.InvalidTerms, match="kill fee"):
        propose(ctx, sample_terms(kill_fee_percent=150))


def test_campaign_of_another_brand_is_refused(ctx):
    other = Campaign(
        brand_id=ctx.workroom.brand_id + 1000,
        name="Not ours",
        starts_on=date(2030, 1, 1),
        ends_on=date(2030, 2, 1),
        budget_minor=0,
        currency="USD",
        created_by_id=ctx.owner.id,
    )
    with pytest.raises(NotAllowed):
        services.create_contract(ctx.brand, ctx.owner, other, sample_terms())


def test_diff_between_versions_marks_changed_lines(ctx):
    contract = propose(ctx)
    v2 = services.revise_contract(contract, ctx.owner, ctx.brand, sample_terms(kill_fee_percent=25))
    rows = queries.diff_versions(contract.versions[0], v2)
    changed = [(r.change, r.text) for r in rows if r.change != "same"]
    assert changed == [("removed", "Kill fee: 0%"), ("added", "Kill fee: 25%")]
    assert "-Kill fee: 0%\n+Kill fee: 25%" in queries.unified_diff(contract.versions[0], v2)
