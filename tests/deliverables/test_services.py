"""Deliverable services called directly: the state machine, revisions, reviews, budgets."""

import dataclasses
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from portal.accounts.models import User
from portal.audit import AuditEvent, verify_chain
from portal.contracts import services as contract_services
from portal.contracts.models import Contract
from portal.deliverables import services
from portal.deliverables.models import (
    Deliverable,
    DeliverableStatus,
    RequestState,
    ReviewDecision,
    Revision,
    RevisionState,
)
from portal.errors import DomainError, InvalidState, NotAllowed
from portal.extensions import db
from portal.workrooms.models import Message, MessageKind
from tests.contracts.conftest import seat
from tests.deliverables.conftest import REQUIREMENTS, active_terms

S = DeliverableStatus
FAR = datetime(2031, 1, 1, tzinfo=UTC)  # long after every sample due date


@pytest.fixture
def ctx(app_ctx, active):
    """Loaded rows and seats of the active contract."""

    class Ctx:
        owner = db.session.get(User, active.pair.owner.id)
        creator = db.session.get(User, active.pair.creator.id)
        viewer = db.session.get(User, active.pair.viewer.id)
        brand = seat(active.pair.owner.id, active.workroom_id)
        maker = seat(active.pair.creator.id, active.workroom_id)
        reader = seat(active.pair.viewer.id, active.workroom_id)
        contract = db.session.get(Contract, active.contract_id)
        first = db.session.get(Deliverable, active.deliverable_ids[0])
        second = db.session.get(Deliverable, active.deliverable_ids[1])

    return Ctx


def submit(ctx, text="Caption v1 #ad", *, deliverable=None, **kwargs):
    return services.submit_revision(
        deliverable or ctx.first, ctx.creator, ctx.maker, text, **kwargs
    )


def review(ctx, decision, feedback="Make the logo bigger.", deliverable=None):
    deliverable = deliverable or ctx.first
    revision = deliverable.revisions[-1]
    return services.review_revision(revision, ctx.owner, ctx.brand, decision, feedback=feedback)


def test_activation_creates_one_deliverable_per_line(ctx):
    first, second = ctx.first, ctx.second
    assert (first.title, second.title) == ("Trail video", "Trail story")
    assert first.status is S.pending and first.requirements == list(REQUIREMENTS)
    assert first.price_minor == 100000 and first.currency == "USD"
    # Due at the end of the due day in the creator's time zone (UTC for the factory's users).
    assert first.due_at == datetime(2030, 3, 20, 23, 59, tzinfo=UTC)
    actions = db.session.scalars(
        select(AuditEvent.action).where(AuditEvent.action == "deliverable.created")
    ).all()
    assert len(actions) == 2


def test_due_time_follows_the_creators_time_zone():
    assert services.due_at_for(date(2030, 3, 20), "America/New_York") == datetime(
        2030, 3, 21, 3, 59, tzinfo=UTC
    )
    assert services.due_at_for(date(2030, 3, 20), "Not/AZone") == datetime(
        2030, 3, 20, 23, 59, tzinfo=UTC
    )


def test_revisions_are_numbered_and_announced_with_their_files(ctx):
    first = submit(ctx, links=["https://example.com/draft"], checked=[REQUIREMENTS[1], "bogus"])
    assert (first.number, first.state) == (1, RevisionState.in_review)
    assert first.links == ["https://example.com/draft"]
    assert first.checked == [REQUIREMENTS[1]]  # only the deliverable's own items
    assert first.review_due_at == first.submitted_at + timedelta(days=5)
    assert first.message.kind is MessageKind.system
    assert "submitted revision 1 of **Trail video**" in first.message.body_md
    review(ctx, ReviewDecision.request_changes)
    second = submit(ctx, "Caption v2")
    assert second.number == 2 and ctx.first.last_revision_number == 2


def test_a_retried_submission_with_the_same_token_is_one_revision(ctx):
    one = submit(ctx, client_token="tok-1")
    again = submit(ctx, client_token="tok-1")
    assert one.id == again.id
    assert db.session.scalar(select(func.count()).select_from(Revision)) == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"text": "  "}, "Add the caption"),
        ({"links": ["javascript:alert(1)"]}, "not a web link"),
        ({"links": ["ftp://example.com/x"]}, "not a web link"),
        ({"links": [f"https://example.com/{n}" for n in range(11)]}, "at most 10 links"),
    ],
)
def test_bad_submissions_are_refused(ctx, kwargs, message):
    text = kwargs.pop("text", "Caption")
    with pytest.raises(services.InvalidInput, match=message):
        submit(ctx, text=text, **kwargs)
    assert ctx.first.status is S.pending


def test_only_the_creator_submits_and_only_writers_of_the_brand_review(ctx):
    with pytest.raises(NotAllowed):
        services.submit_revision(ctx.first, ctx.owner, ctx.brand, "From the brand")
    revision = submit(ctx)
    with pytest.raises(NotAllowed):
        services.review_revision(revision, ctx.creator, ctx.maker, ReviewDecision.approve)
    with pytest.raises(NotAllowed):
        services.review_revision(revision, ctx.viewer, ctx.reader, ReviewDecision.approve)
    with pytest.raises(NotAllowed):
        services.review_revision(revision, ctx.owner, ctx.brand, ReviewDecision.auto_approve)
    assert revision.state is RevisionState.in_review


def test_review_decisions(ctx):
    revision = submit(ctx)
    with pytest.raises(services.InvalidInput, match="Say what should change"):
        review(ctx, ReviewDecision.request_changes, feedback="")
    result = services.review_revision(
        revision,
        ctx.owner,
        ctx.brand,
        ReviewDecision.approve_with_corrections,
        feedback="Use the spring logo.",
        internal="Legal signed off.",
    )
    assert revision.state is RevisionState.approved_with_corrections
    assert ctx.first.status is S.approved and ctx.first.closed_at is not None
    assert result.reviewer_id == ctx.owner.id and result.internal_md == "Legal signed off."
    log = db.session.scalars(select(Message.body_md).order_by(Message.seq.desc())).first()
    assert "with corrections" in log and "Use the spring logo." in log
    assert "Legal signed off." not in log  # brand-only comments stay off the shared log
    with pytest.raises(InvalidState, match="already reviewed"):
        review(ctx, ReviewDecision.approve)


def test_the_revision_budget_needs_the_creators_consent_once_used(ctx):
    for n in range(2):  # the sample contract allows two rounds
        submit(ctx, text=f"v{n + 1}")
        review(ctx, ReviewDecision.request_changes)
    submit(ctx, text="v3")
    with pytest.raises(services.BudgetUsedUp):
        review(ctx, ReviewDecision.request_changes)
    assert ctx.first.status is S.submitted and ctx.first.rounds_used == 2
    request = services.request_extra_round(ctx.first, ctx.owner, ctx.brand, "Wrong product.")
    with pytest.raises(NotAllowed):
        services.answer_extra_round(request, ctx.owner, ctx.brand, True)
    services.answer_extra_round(request, ctx.creator, ctx.maker, True)
    assert ctx.first.extra_rounds == 1 and request.state is RequestState.accepted
    result = review(ctx, ReviewDecision.request_changes)
    assert result.extra_round and ctx.first.status is S.changes_requested


def test_an_extra_round_is_refused_while_rounds_are_left(ctx):
    submit(ctx)
    with pytest.raises(InvalidState, match="still has rounds"):
        services.request_extra_round(ctx.first, ctx.owner, ctx.brand, "More")


# The state machine: every action from every state, allowed or refused ---------------------


def bring_to(ctx, status):
    """Drive the first deliverable to a status through the services."""
    if status in (S.submitted, S.changes_requested, S.approved):
        submit(ctx)
    if status is S.changes_requested:
        review(ctx, ReviewDecision.request_changes)
    if status is S.approved:
        review(ctx, ReviewDecision.approve)
    if status is S.missed:
        services.mark_missed(ctx.first, now=FAR)
    if status is S.waived:
        services.waive_deliverable(ctx.first, ctx.owner, ctx.brand, "Season over.")
    if status is S.cancelled:
        services.cancel_deliverable(ctx.first, ctx.owner, ctx.brand, "Dropped.")
    if status is S.reassigned:
        services.end_by_decision(ctx.first, ctx.owner, S.reassigned, "Another creator.")
    assert ctx.first.status is status


def extend(ctx):
    """The creator asks for a new date, the brand accepts."""
    new_due = FAR + timedelta(days=30)
    request = services.request_extension(
        ctx.first, ctx.creator, ctx.maker, new_due, "Sick.", now=FAR
    )
    services.answer_extension(request, ctx.owner, ctx.brand, True, now=FAR)


ACTIONS = {
    "submit": lambda ctx: submit(ctx),
    "approve": lambda ctx: review(ctx, ReviewDecision.approve),
    "request_changes": lambda ctx: review(ctx, ReviewDecision.request_changes),
    "waive": lambda ctx: services.waive_deliverable(ctx.first, ctx.owner, ctx.brand, "Why not."),
    "cancel": lambda ctx: services.cancel_deliverable(ctx.first, ctx.owner, ctx.brand, "Gone."),
    "extend": extend,
    "reassign": lambda ctx: services.end_by_decision(
        ctx.first, ctx.owner, S.reassigned, "Another creator takes it."
    ),
    "go_live": lambda ctx: services.record_go_live(
        ctx.first, ctx.creator, ctx.maker, "https://example.com/live", date(2030, 3, 21)
    ),
}

#: (from, action) -> the status after it; pairs not listed are refused
ALLOWED = {
    (S.pending, "submit"): S.submitted,
    (S.changes_requested, "submit"): S.submitted,
    (S.submitted, "approve"): S.approved,
    (S.submitted, "request_changes"): S.changes_requested,
    (S.pending, "waive"): S.waived,
    (S.changes_requested, "waive"): S.waived,
    (S.missed, "waive"): S.waived,
    (S.pending, "cancel"): S.cancelled,
    (S.changes_requested, "cancel"): S.cancelled,
    (S.missed, "cancel"): S.cancelled,
    (S.pending, "reassign"): S.reassigned,
    (S.changes_requested, "reassign"): S.reassigned,
    (S.missed, "reassign"): S.reassigned,
    (S.submitted, "reassign"): S.reassigned,  # its contract ends: the revision is closed
    (S.pending, "extend"): S.pending,
    (S.submitted, "extend"): S.submitted,
    (S.changes_requested, "extend"): S.changes_requested,
    (S.missed, "extend"): S.pending,
    (S.approved, "go_live"): S.approved,
}


@pytest.mark.parametrize("action", sorted(ACTIONS))
@pytest.mark.parametrize("status", list(S), ids=lambda s: s.value)
def test_state_machine(ctx, status, action):
    bring_to(ctx, status)
    db.session.commit()  # a refused action rolls back to here
    if action in ("approve", "request_changes") and not ctx.first.revisions:
        pytest.skip("no revision exists to review in this state")
    expected = ALLOWED.get((status, action))
    if expected is None:
        with pytest.raises(DomainError):
            ACTIONS[action](ctx)
        db.session.rollback()
        assert db.session.get(Deliverable, ctx.first.id).status is status
    else:
        ACTIONS[action](ctx)
        assert ctx.first.status is expected


@pytest.mark.parametrize("status", list(S), ids=lambda s: s.value)
def test_missed_only_from_waiting_states_and_only_after_grace(ctx, status):
    bring_to(ctx, status)
    grace_end = ctx.first.due_at + timedelta(hours=24)
    if status not in (S.pending, S.changes_requested):
        assert services.mark_missed(ctx.first, now=FAR) is None
        assert ctx.first.status is status
        return
    assert services.mark_missed(ctx.first, now=grace_end - timedelta(seconds=1)) is None
    assert services.mark_missed(ctx.first, now=grace_end) is ctx.first
    assert ctx.first.status is S.missed
    assert services.mark_missed(ctx.first, now=grace_end) is None  # twice: nothing more


def test_auto_approve_waits_for_the_window_and_runs_once(ctx):
    revision = submit(ctx)
    assert (
        services.auto_approve_revision(revision, now=revision.review_due_at - timedelta(1)) is None
    )
    review_row = services.auto_approve_revision(revision, now=revision.review_due_at)
    assert review_row.decision is ReviewDecision.auto_approve and review_row.reviewer_id is None
    assert revision.state is RevisionState.auto_approved and ctx.first.status is S.approved
    assert services.auto_approve_revision(revision, now=FAR) is None


def test_extensions_are_answered_by_the_other_side_only(ctx):
    new_due = ctx.first.due_at + timedelta(days=7)
    request = services.request_extension(ctx.first, ctx.creator, ctx.maker, new_due, "Travel")
    with pytest.raises(InvalidState, match="already open"):
        services.request_extension(ctx.first, ctx.owner, ctx.brand, new_due, "Also")
    with pytest.raises(NotAllowed):
        services.answer_extension(request, ctx.creator, ctx.maker, True)
    with pytest.raises(NotAllowed):
        services.answer_extension(request, ctx.viewer, ctx.reader, True)
    services.answer_extension(request, ctx.owner, ctx.brand, False)
    assert request.state is RequestState.declined and ctx.first.due_at != new_due
    again = services.request_extension(ctx.first, ctx.creator, ctx.maker, new_due, "Please")
    services.answer_extension(again, ctx.owner, ctx.brand, True)
    assert ctx.first.due_at == new_due
    with pytest.raises(services.InvalidInput, match="future"):
        services.request_extension(
            ctx.first, ctx.creator, ctx.maker, datetime(2020, 1, 1, tzinfo=UTC), "Past"
        )


def test_an_accepted_amendment_updates_adds_and_cancels_deliverables(ctx):
    terms = active_terms()
    moved = dataclasses.replace(terms.lines[0], due_on=date(2030, 3, 25), title="Trail film")
    extra = dataclasses.replace(terms.lines[1], title="Trail reel", due_on=date(2030, 5, 1))
    amended = dataclasses.replace(terms, lines=(moved, extra))
    version = contract_services.propose_amendment(ctx.contract, ctx.owner, ctx.brand, amended)
    contract_services.accept_version(ctx.contract, ctx.creator, ctx.maker, version.sha256)
    db.session.refresh(ctx.first)
    db.session.refresh(ctx.second)
    assert ctx.first.title == "Trail film"
    assert ctx.first.due_at == datetime(2030, 3, 25, 23, 59, tzinfo=UTC)
    assert ctx.second.title == "Trail reel" and ctx.second.status is S.pending
    shorter = dataclasses.replace(terms, lines=(moved,))
    version = contract_services.propose_amendment(ctx.contract, ctx.owner, ctx.brand, shorter)
    contract_services.accept_version(ctx.contract, ctx.creator, ctx.maker, version.sha256)
    db.session.refresh(ctx.second)
    assert ctx.second.status is S.cancelled


def test_every_change_is_audited_and_the_chain_holds(ctx):
    submit(ctx)
    review(ctx, ReviewDecision.request_changes)
    submit(ctx, text="v2")
    review(ctx, ReviewDecision.approve)
    services.record_go_live(
        ctx.first, ctx.creator, ctx.maker, "https://example.com/p/1", date(2030, 3, 21)
    )
    db.session.commit()
    actions = db.session.scalars(
        select(AuditEvent.action)
        .where(AuditEvent.action.like("deliverable.%"), AuditEvent.object_id == ctx.first.id)
        .order_by(AuditEvent.seq)
    ).all()
    assert actions == [
        "deliverable.created",
        "deliverable.submitted",
        "deliverable.reviewed",
        "deliverable.submitted",
        "deliverable.reviewed",
        "deliverable.went_live",
    ]
    assert verify_chain(f"workroom:{ctx.first.workroom_id}") is None
