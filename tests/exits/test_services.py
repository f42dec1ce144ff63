"""Exit services end to end: notice, mutual, for cause, settling early, replacement,
analysis and the report, with the ledger checked after each path."""

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from jobs.exits import sweep_exits
from portal.accounts.models import Platform, User
from portal.audit import AuditEvent
from portal.campaigns import services as campaign_services
from portal.campaigns.models import Campaign, CampaignInvitation, InvitationStatus
from portal.closeouts import services as closeout_services
from portal.closeouts.models import Closeout, CloseoutStatus
from portal.contracts import services as contract_services
from portal.contracts.models import Contract, ContractStatus
from portal.deliverables import services as deliverable_services
from portal.deliverables.models import Deliverable, DeliverableStatus, ReviewDecision
from portal.errors import InvalidState, NotAllowed
from portal.escrow.models import Milestone, MilestoneStatus
from portal.exits import queries, services
from portal.exits.models import Exit, ExitReason, ExitStatus
from portal.extensions import db
from portal.mediation import services as mediation_services
from portal.mediation.models import Ticket, TicketCategory
from portal.notifications.models import Notification
from portal.workrooms.access import seat_of
from portal.workrooms.models import Message
from portal.workrooms.services import open_workroom
from tests import factories
from tests.contracts.conftest import Pair, seat
from tests.deliverables.conftest import activate
from tests.exits.conftest import NOW, assert_books_exact, creator_on

TTL = timedelta(days=14)


class People:
    """The ending case's people, rows and seats in the current app context."""

    def __init__(self, ending):
        pair = ending.active.pair
        self.owner = db.session.get(User, pair.owner.id)
        self.viewer = db.session.get(User, pair.viewer.id)
        self.creator = db.session.get(User, pair.creator.id)
        self.manager = db.session.get(User, ending.manager_id)
        self.mediator = db.session.get(User, ending.mediator_id)
        self.brand = seat(pair.owner.id, ending.workroom_id)
        self.reader = seat(pair.viewer.id, ending.workroom_id)
        self.maker = seat(pair.creator.id, ending.workroom_id)
        self.contract = db.session.get(Contract, ending.contract_id)
        self.video, self.story = (
            db.session.get(Deliverable, i) for i in ending.active.deliverable_ids
        )


@pytest.fixture
def people(app_ctx, ending):
    return People(ending)


def approve_video(p, now=NOW):
    """The creator submits the video and the brand approves it."""
    revision = deliverable_services.submit_revision(p.video, p.creator, p.maker, "Cut 1", now=now)
    deliverable_services.review_revision(
        revision, p.owner, p.brand, ReviewDecision.approve, now=now
    )


def system_lines(workroom_id):
    return db.session.scalars(
        select(Message.body_md).where(Message.workroom_id == workroom_id).order_by(Message.seq)
    ).all()


def actions(action):
    return db.session.scalar(
        select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action)
    )


# Starting ---------------------------------------------------------------------------------


def test_a_brand_exit_runs_the_notice_then_the_sweep_proposes_the_closeout(people):
    p = people
    approve_video(p)
    exit = services.start_exit(
        p.contract, p.owner, p.brand, "underperformance", "Reach fell short.", now=NOW
    )
    db.session.commit()
    assert exit.status is ExitStatus.notice
    assert exit.notice_days == 14
    assert exit.effective_on == date(2030, 3, 24)
    assert exit.started_side.value == "brand"
    assert (
        "started ending the contract **Spring Trails** (underperformance)"
        in (system_lines(p.contract.workroom_id)[-1])
    )
    assert actions("exit.started") == 1
    told = db.session.scalars(
        select(Notification).where(Notification.user_id == p.creator.id)
    ).all()
    assert any("started ending" in n.title and n.link == f"/exits/{exit.id}" for n in told)

    assert sweep_exits(now=NOW + timedelta(days=13)) == 0  # the notice still runs
    assert exit.status is ExitStatus.notice and exit.closeout_id is None

    assert sweep_exits(now=NOW + timedelta(days=14)) == 1
    assert sweep_exits(now=NOW + timedelta(days=14)) == 0  # twice: nothing more
    exit = db.session.get(Exit, exit.id)
    closeout = db.session.get(Closeout, exit.closeout_id)
    assert exit.status is ExitStatus.settling
    assert closeout.status is CloseoutStatus.proposed
    assert closeout.ends_as is ContractStatus.terminated
    assert closeout.proposed_by_id == p.owner.id

    later = NOW + timedelta(days=15)
    closeout_services.accept_closeout(
        closeout, p.creator, seat_of(p.creator, p.contract.workroom), now=later
    )
    db.session.commit()
    exit = db.session.get(Exit, exit.id)
    assert exit.contract.status is ContractStatus.terminated
    assert exit.is_over and exit.status is ExitStatus.settling  # until the sweep writes it
    assert sweep_exits(now=later) == 1
    assert sweep_exits(now=later) == 0
    exit = db.session.get(Exit, exit.id)
    assert exit.status is ExitStatus.ended and exit.ended_at == later
    assert db.session.get(Deliverable, p.story.id).status is DeliverableStatus.cancelled
    assert_books_exact()


def test_a_mutual_exit_proposes_the_closeout_at_once_and_ends_partially_completed(people):
    p = people
    exit = services.start_exit(p.contract, p.creator, p.maker, "mutual", now=NOW)
    assert exit.status is ExitStatus.settling
    assert exit.notice_days == 0 and exit.effective_on == NOW.date()
    closeout = db.session.get(Closeout, exit.closeout_id)
    assert closeout.ends_as is ContractStatus.partially_completed
    closeout_services.accept_closeout(closeout, p.owner, p.brand, now=NOW)
    db.session.commit()
    assert sweep_exits(now=NOW) == 1
    exit = db.session.get(Exit, exit.id)
    assert exit.status is ExitStatus.ended
    assert exit.contract.status is ContractStatus.partially_completed
    milestones = db.session.scalars(select(Milestone).order_by(Milestone.id)).all()
    assert {m.status for m in milestones} <= {MilestoneStatus.refunded}
    assert_books_exact()


def test_either_side_may_settle_before_the_notice_ends(people):
    p = people
    approve_video(p)
    exit = services.start_exit(p.contract, p.creator, p.maker, "creator_withdraws", now=NOW)
    services.settle_exit(exit, p.owner, p.brand, now=NOW + timedelta(days=2))
    assert exit.status is ExitStatus.settling
    closeout = db.session.get(Closeout, exit.closeout_id)
    assert closeout.proposed_by_id == p.owner.id
    with pytest.raises(InvalidState):
        services.settle_exit(exit, p.creator, p.maker, now=NOW + timedelta(days=2))
    closeout_services.accept_closeout(closeout, p.creator, p.maker, now=NOW + timedelta(days=3))
    db.session.commit()
    assert sweep_exits(now=NOW + timedelta(days=3)) == 1
    assert db.session.get(Exit, exit.id).status is ExitStatus.ended
    assert db.session.get(Contract, p.contract.id).status is ContractStatus.terminated
    assert_books_exact()


def test_a_withdrawn_closeout_can_be_proposed_again(people):
    p = people
    exit = services.start_exit(p.contract, p.owner, p.brand, "brand_withdraws", now=NOW)
    services.settle_exit(exit, p.owner, p.brand, now=NOW)
    first = db.session.get(Closeout, exit.closeout_id)
    closeout_services.withdraw_closeout(first, p.owner, p.brand, now=NOW)
    services.settle_exit(exit, p.creator, p.maker, now=NOW + timedelta(hours=1))
    assert exit.closeout_id != first.id
    assert exit.status is ExitStatus.settling


def test_for_cause_asks_a_mediator_whose_termination_ends_the_exit(people):
    p = people
    approve_video(p)
    exit = services.start_exit(
        p.contract,
        p.owner,
        p.brand,
        "policy_violation",
        "Undisclosed sponsorship of a competitor.",
        for_cause=True,
        now=NOW,
    )
    db.session.commit()
    assert exit.status is ExitStatus.in_mediation
    ticket = db.session.get(Ticket, exit.ticket_id)
    assert ticket.category is TicketCategory.exit
    assert [d.id for d in ticket.deliverables] == [p.story.id]
    assert sweep_exits(now=NOW) == 0  # the ticket is open: nothing to do
    mediation_services.post_as_party(ticket, p.creator, p.maker, "I disagree.", now=NOW)
    mediation_services.claim(ticket, p.mediator, now=NOW)
    mediation_services.decide(
        ticket, p.mediator, [{"kind": "terminate", "contract_id": p.contract.id}], now=NOW
    )
    db.session.commit()
    exit = db.session.get(Exit, exit.id)
    assert exit.shown_status is ExitStatus.ended  # at once, before any sweep
    assert sweep_exits(now=NOW) == 1
    exit = db.session.get(Exit, exit.id)
    assert exit.status is ExitStatus.ended
    assert exit.contract.status is ContractStatus.terminated
    facts = queries.exit_facts(exit)
    assert facts.to_brand_minor == 25000  # the story's escrow went back
    assert_books_exact()


def test_for_cause_without_termination_falls_back_to_the_notice_period(people):
    p = people
    exit = services.start_exit(
        p.contract, p.owner, p.brand, "conflict", "Abusive messages.", for_cause=True, now=NOW
    )
    ticket = db.session.get(Ticket, exit.ticket_id)
    mediation_services.withdraw(ticket, p.owner, p.brand, now=NOW + timedelta(days=1))
    db.session.commit()
    assert sweep_exits(now=NOW + timedelta(days=1)) == 1
    exit = db.session.get(Exit, exit.id)
    assert exit.status is ExitStatus.notice
    assert exit.effective_on == date(2030, 3, 25)


@pytest.mark.parametrize(
    ("who", "kwargs", "error"),
    [
        ("viewer", {}, NotAllowed),
        ("creator", {"reassign": "story"}, NotAllowed),
        ("owner", {"for_cause": True}, services.InvalidExit),  # no comment for the mediator
        ("owner", {"reason": "mutual", "for_cause": True, "comment": "x"}, services.InvalidExit),
        ("owner", {"reassign": "approved"}, services.InvalidExit),
    ],
)
def test_exits_the_rules_refuse_change_nothing(people, who, kwargs, error):
    p = people
    approve_video(p)
    actor, seat_ = {
        "viewer": (p.viewer, p.reader),
        "creator": (p.creator, p.maker),
        "owner": (p.owner, p.brand),
    }[who]
    reassign = {"story": [p.story.id], "approved": [p.video.id]}.get(
        kwargs.pop("reassign", None), ()
    )
    with pytest.raises(error):
        services.start_exit(
            p.contract,
            actor,
            seat_,
            kwargs.pop("reason", "conflict"),
            kwargs.pop("comment", ""),
            reassign=reassign,
            **kwargs,
        )
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Exit)) == 0


def test_a_contract_ends_early_once(people):
    p = people
    services.start_exit(p.contract, p.owner, p.brand, "conflict", now=NOW)
    with pytest.raises(services.ExitExists):
        services.start_exit(p.contract, p.creator, p.maker, "creator_withdraws", now=NOW)


def test_only_an_active_contract_ends_early(people):
    p = people
    services.start_exit(p.contract, p.owner, p.brand, "mutual", now=NOW)
    closeout_services.accept_closeout(
        db.session.scalar(select(Closeout)), p.creator, p.maker, now=NOW
    )
    db.session.delete(db.session.scalar(select(Exit)))
    db.session.flush()
    with pytest.raises(InvalidState):
        services.start_exit(p.contract, p.owner, p.brand, "conflict", now=NOW)


# Replacement ----------------------------------------------------------------------------------


def test_candidates_share_a_platform_or_niche_and_rank_by_on_time_rate(people):
    p = people
    exit = services.start_exit(p.contract, p.owner, p.brand, "conflict", now=NOW)
    creator_on(Platform.youtube, name="Fresh Face", audience=90_000)
    punctual = creator_on(None, "outdoor", name="Punctual Pat", audience=5_000)
    unrelated = creator_on(Platform.twitch, "gaming", name="Gamer Gil", audience=99_000)
    huge = creator_on(Platform.instagram, name="Huge Hal", audience=2_000_000)
    # Punctual Pat has a record: one deliverable, delivered on time for the same brand.
    invited = creator_on(Platform.youtube, name="Invited Ivy", audience=20_000)
    campaign_services.invite_creator(p.contract.campaign, p.owner, invited, TTL, now=NOW)
    history_with(p, punctual)
    found = queries.replacement_candidates(exit, now=NOW)
    names = [c.profile.display_name for c in found]
    assert names == ["Punctual Pat", "Huge Hal", "Fresh Face"]
    assert found[0].on_time_rate == 1.0 and found[1].on_time_rate is None
    assert unrelated.id not in [c.profile.user_id for c in found]
    ranged = queries.replacement_candidates(exit, min_audience=10_000, max_audience=100_000)
    assert [c.profile.display_name for c in ranged] == ["Fresh Face"]
    assert huge.id not in [c.profile.user_id for c in ranged]


def history_with(p, creator):
    """A past contract of the creator with the brand, in another campaign: one deliverable
    submitted on time."""
    workroom_id = _workroom_for(p, creator)
    earlier = Campaign(
        brand_id=p.contract.workroom.brand_id,
        name="Winter launch",
        starts_on=date(2030, 1, 1),
        ends_on=date(2030, 12, 31),
        budget_minor=100000,
        currency="USD",
        created_by_id=p.owner.id,
    )
    db.session.add(earlier)
    db.session.commit()
    pair = Pair(
        factories.Snapshot.of(p.owner),
        factories.Snapshot.of(p.viewer),
        factories.Snapshot.of(creator),
        workroom_id,
        earlier.id,
    )
    _, ids = activate(pair)
    deliverable = db.session.get(Deliverable, ids[0])
    deliverable_services.submit_revision(
        deliverable, creator, seat(creator.id, workroom_id), "On time", now=NOW
    )
    db.session.commit()


def _workroom_for(p, creator):
    workroom = open_workroom(p.contract.workroom.brand, creator, p.owner)
    db.session.commit()
    return workroom.id


def test_a_replacement_takes_over_the_marked_work_with_new_dates_and_the_remaining_budget(
    people,
):
    p = people
    approve_video(p)
    exit = services.start_exit(
        p.contract, p.owner, p.brand, "underperformance", reassign=[p.story.id], now=NOW
    )
    newcomer = creator_on(Platform.instagram, "outdoor", name="Nia Newcomer")
    invitation = services.invite_replacement(exit, p.manager, newcomer, TTL, now=NOW)
    assert exit.invitation_id == invitation.id
    with pytest.raises(InvalidState):  # one open invitation at a time
        services.invite_replacement(exit, p.manager, creator_on(name="Other"), TTL, now=NOW)
    db.session.commit()
    joined = NOW + timedelta(days=3)
    workroom = campaign_services.accept_invitation(invitation, newcomer, now=joined)
    db.session.commit()
    exit = db.session.get(Exit, exit.id)
    assert exit.replacement_creator_id == newcomer.id
    assert exit.replacement_workroom_id == workroom.id != p.contract.workroom_id
    assert exit.days_to_replacement == 3
    carried = db.session.get(Contract, exit.replacement_contract_id)
    assert carried.status is ContractStatus.proposed
    assert carried.workroom_id == workroom.id
    version = carried.latest_version
    old = p.contract.accepted_version
    assert version.terms_md == old.terms_md
    assert version.created_by_id == p.manager.id  # the member who invited proposes
    assert [line.title for line in version.lines] == ["Trail story"]
    # The story was due 2030-04-02, 9 days after the exit's effective date (2030-03-24).
    assert version.lines[0].due_on == date(2030, 3, 13) + timedelta(days=9)
    assert version.total_minor == 25000
    # The new creator accepts as usual: the work is theirs.
    contract_services.accept_version(
        carried, newcomer, seat_of(newcomer, workroom), version.sha256, now=joined
    )
    db.session.commit()
    assert carried.status is ContractStatus.active
    assert queries.outcome_of(exit) == "In progress"
    assert_books_exact()


def test_with_nothing_marked_every_unapproved_deliverable_is_carried_at_least_a_week_out(people):
    p = people
    exit = services.start_exit(p.contract, p.creator, p.maker, "creator_withdraws", now=NOW)
    carried = services.carried_deliverables(exit)
    assert [d.id for d in carried] == [p.video.id, p.story.id]
    terms = services.carry_over_terms(exit, date(2030, 4, 1))
    # The video was due before the effective date: a week after the replacement joins.
    assert [line.due_on for line in terms.lines] == [date(2030, 4, 8), date(2030, 4, 10)]
    assert terms.total_minor == 125000
    assert terms.starts_on == date(2030, 4, 1) and terms.ends_on == date(2030, 5, 31)


def test_only_the_brands_managers_invite_and_never_the_leaving_creator(people):
    p = people
    exit = services.start_exit(p.contract, p.owner, p.brand, "conflict", now=NOW)
    someone = creator_on(name="Sam Someone")
    with pytest.raises(NotAllowed):
        services.invite_replacement(exit, p.viewer, someone, TTL, now=NOW)
    with pytest.raises(services.InvalidExit):
        services.invite_replacement(exit, p.owner, p.creator, TTL, now=NOW)
    assert db.session.scalar(select(func.count()).select_from(CampaignInvitation)) == 0


def test_a_declined_invitation_lets_the_brand_invite_someone_else(people):
    p = people
    exit = services.start_exit(p.contract, p.owner, p.brand, "conflict", now=NOW)
    first, second = creator_on(name="First"), creator_on(name="Second")
    invitation = services.invite_replacement(exit, p.owner, first, TTL, now=NOW)
    campaign_services.decline_invitation(invitation, first, now=NOW)
    again = services.invite_replacement(exit, p.owner, second, TTL, now=NOW)
    assert exit.invitation_id == again.id
    assert db.session.get(CampaignInvitation, invitation.id).status is InvitationStatus.declined


def test_other_invitations_create_no_contract(people):
    p = people
    someone = creator_on(name="Plain Invitee")
    invitation = campaign_services.invite_creator(
        p.contract.campaign, p.owner, someone, TTL, now=NOW
    )
    workroom = campaign_services.accept_invitation(invitation, someone, now=NOW)
    assert (
        db.session.scalar(
            select(func.count()).select_from(Contract).where(Contract.workroom_id == workroom.id)
        )
        == 0
    )


# Analysis and report -------------------------------------------------------------------------


def test_the_brand_writes_the_analysis_beside_facts_from_the_records(people):
    p = people
    approve_video(p)
    exit = services.start_exit(p.contract, p.owner, p.brand, "mutual", now=NOW)
    closeout_services.accept_closeout(
        db.session.get(Closeout, exit.closeout_id), p.creator, p.maker, now=NOW
    )
    analysis = services.record_analysis(
        exit, p.owner, p.brand, "underperformance", ["quality", "schedule"], "A test post.", now=NOW
    )
    assert analysis.factors == ["quality", "schedule"]
    again = services.record_analysis(
        exit, p.manager, seat(p.manager.id, p.contract.workroom_id), "conflict", [], "", now=NOW
    )
    assert again.id == analysis.id and again.reason is ExitReason.conflict
    with pytest.raises(NotAllowed):
        services.record_analysis(exit, p.creator, p.maker, "conflict", [], "", now=NOW)
    with pytest.raises(services.InvalidExit):
        services.record_analysis(exit, p.owner, p.brand, "conflict", ["made_up"], "", now=NOW)
    facts = queries.exit_facts(exit, now=NOW)
    assert (facts.facts.delivered, facts.facts.contracted) == (1, 1)  # the story is cancelled
    assert facts.to_creator_minor == 100000 and facts.to_brand_minor == 25000
    assert facts.days_to_replacement is None


def test_the_report_counts_reasons_and_outcomes_by_month(people):
    p = people
    exit = services.start_exit(p.contract, p.owner, p.brand, "conflict", now=NOW)
    db.session.commit()
    report = queries.brand_report(p.contract.workroom.brand_id)
    assert report.months == ["2030-03"]
    assert report.by_reason["2030-03"][ExitReason.conflict] == 1
    assert report.by_outcome["2030-03"]["In progress"] == 1
    assert [e.id for e in report.exits] == [exit.id]
    assert queries.brand_report(p.contract.workroom.brand_id + 1).exits == []


def test_an_inviter_who_left_the_brand_does_not_block_the_replacements_acceptance(people):
    from portal.accounts.models import BrandMembership, BrandRole

    p = people
    exit = services.start_exit(p.contract, p.owner, p.brand, "conflict", now=NOW)
    newcomer = creator_on(name="Nia Newcomer")
    invitation = services.invite_replacement(exit, p.manager, newcomer, TTL, now=NOW)
    membership = db.session.scalar(
        select(BrandMembership).where(BrandMembership.user_id == p.manager.id)
    )
    membership.role = BrandRole.viewer  # may no longer propose contracts
    db.session.commit()
    workroom = campaign_services.accept_invitation(invitation, newcomer, now=NOW)
    db.session.commit()
    assert db.session.get(Exit, exit.id).replacement_contract_id is None
    assert workroom.creator_id == newcomer.id
    last = db.session.scalars(
        select(Message.body_md)
        .where(Message.workroom_id == workroom.id)
        .order_by(Message.seq.desc())
    ).first()
    assert "was not carried over here" in last
