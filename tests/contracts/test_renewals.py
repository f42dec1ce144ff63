"""Renewals through the services: the brand's decision, opt-outs, the next contract, and the
auto-renewal and expiry sweeps with time moved, each run twice (and by a real RQ worker)."""

import dataclasses
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from jobs.contracts import sweep_auto_renewals, sweep_expired
from portal.accounts.models import User
from portal.audit import AuditEvent
from portal.contracts import services
from portal.contracts.models import (
    AutoRenewOptOut,
    Contract,
    ContractStatus,
    RenewalChoice,
    RenewalDecision,
    VersionState,
    renewal_dates,
)
from portal.contracts.queries import renewal_pack, renewal_settled
from portal.contracts.renewals import (
    decide_renewal,
    next_terms,
    opt_out_of_auto_renewal,
)
from portal.deliverables.models import Deliverable
from portal.deliverables.services import waive_deliverable
from portal.errors import InvalidState, NotAllowed
from portal.extensions import db
from portal.notifications.models import Kind, Notification
from portal.notifications.reminders import BY_NAME, apply
from portal.queue import get_queue
from portal.workrooms.models import Message, MessageKind
from tests.contracts.conftest import seat, seed_pair
from tests.contracts.samples import sample_terms
from tests.deliverables.conftest import activate

# The sample term runs 1 Mar to 31 May 2030 (92 days); with no renewal date it comes up for
# renewal on 31 May, notice by 1 May (30 days).
BEFORE_NOTICE = datetime(2030, 4, 20, 9, tzinfo=UTC)
LAST_NOTICE_DAY = datetime(2030, 5, 1, 23, 30, tzinfo=UTC)
AFTER_NOTICE = datetime(2030, 5, 2, 0, 30, tzinfo=UTC)
RENEWAL_DAY = datetime(2030, 5, 31, 6, tzinfo=UTC)
DAY_BEFORE = datetime(2030, 5, 30, 23, tzinfo=UTC)
AFTER_END = datetime(2030, 6, 1, 0, 5, tzinfo=UTC)


def build(app, **overrides):
    """The pair with an active Spring Trails contract; (pair, contract id)."""
    pair = seed_pair(app)
    with app.app_context():
        contract_id, _ = activate(pair, sample_terms(**overrides))
    return pair, contract_id


@pytest.fixture
def fixed(app):
    """A fixed-term contract (no auto-renewal)."""
    return build(app)


@pytest.fixture
def auto(app):
    """An auto-renew contract."""
    return build(app, auto_renew=True)


def people(pair):
    """(owner, viewer, creator) users and their seats."""
    owner, viewer, creator = (
        db.session.get(User, p.id) for p in (pair.owner, pair.viewer, pair.creator)
    )
    return owner, viewer, creator


def contract_of(contract_id):
    return db.session.get(Contract, contract_id)


def next_of(contract_id):
    return db.session.scalar(select(Contract).where(Contract.renews_id == contract_id))


def audit_actions(contract_id):
    return db.session.scalars(
        select(AuditEvent.action)
        .where(AuditEvent.object_type == "contract", AuditEvent.object_id == contract_id)
        .order_by(AuditEvent.id)
    ).all()


def system_lines(workroom_id):
    return db.session.scalars(
        select(Message.body_md)
        .where(Message.workroom_id == workroom_id, Message.kind == MessageKind.system)
        .order_by(Message.id)
    ).all()


def decide(pair, contract_id, decision, comment="Great season.", *, now=BEFORE_NOTICE):
    owner, _, _ = people(pair)
    record = decide_renewal(
        contract_of(contract_id),
        owner,
        seat(owner.id, pair.workroom_id),
        decision,
        comment,
        now=now,
    )
    db.session.commit()
    return record


def opt_out(pair, contract_id, who="creator", *, now=BEFORE_NOTICE):
    user = db.session.get(User, getattr(pair, who).id)
    result = opt_out_of_auto_renewal(
        contract_of(contract_id), user, seat(user.id, pair.workroom_id), now=now
    )
    db.session.commit()
    return result


# Dates ----------------------------------------------------------------------------------


def test_the_renewal_date_defaults_to_the_end_and_the_deadline_counts_back():
    assert renewal_dates(None, date(2030, 5, 31), 30) == (date(2030, 5, 31), date(2030, 5, 1))
    assert renewal_dates(date(2030, 6, 15), date(2030, 5, 31), 0) == (
        date(2030, 6, 15),
        date(2030, 6, 15),
    )


def test_next_terms_start_the_day_after_and_shift_every_date_by_the_same_offset(fixed, app_ctx):
    _, contract_id = fixed
    version = contract_of(contract_id).accepted_version
    terms = next_terms(version)
    assert (terms.starts_on, terms.ends_on) == (date(2030, 6, 1), date(2030, 8, 31))
    assert [line.due_on for line in terms.lines] == [date(2030, 6, 20), date(2030, 7, 3)]
    assert [line.price_minor for line in terms.lines] == [100000, 25000]
    assert terms.renewal_date is None and terms.title == version.title
    version.renewal_date = date(2030, 5, 20)
    assert next_terms(version).renewal_date == date(2030, 8, 20)


# Decisions --------------------------------------------------------------------------------


def test_renew_as_is_proposes_the_next_contract_which_the_creator_accepts(fixed, app_ctx):
    pair, contract_id = fixed
    record = decide(pair, contract_id, "renew", "Same again, please.")
    following = next_of(contract_id)
    assert record.decision is RenewalChoice.renew and record.next_contract_id == following.id
    assert following.status is ContractStatus.proposed
    assert following.workroom_id == pair.workroom_id
    assert following.campaign_id == pair.campaign_id
    version = following.latest_version
    assert (version.starts_on, version.ends_on) == (date(2030, 6, 1), date(2030, 8, 31))
    assert [a.side.value for a in version.acceptances] == ["brand"]
    assert "renewal.renew" in audit_actions(contract_id)
    assert "contract.proposed" in audit_actions(following.id)
    assert any("decided to renew it as is" in line for line in system_lines(pair.workroom_id))
    creator_notes = db.session.scalars(
        select(Notification).where(Notification.user_id == pair.creator.id)
    ).all()
    renewal_note = [n for n in creator_notes if n.kind is Kind.renewal]
    assert renewal_note and renewal_note[0].link == f"/contracts/{contract_id}/renewal"

    _, _, creator = people(pair)
    services.accept_version(
        following, creator, seat(creator.id, pair.workroom_id), version.sha256, now=BEFORE_NOTICE
    )
    db.session.commit()
    assert following.status is ContractStatus.active
    count = select(func.count(Deliverable.id)).where(Deliverable.contract_id == following.id)
    assert db.session.scalar(count) == 2
    assert renewal_settled(contract_of(contract_id))


def test_renegotiate_starts_a_draft_only_the_brand_sees_and_proposes(fixed, app_ctx):
    pair, contract_id = fixed
    decide(pair, contract_id, "renegotiate", "Let's talk rates.")
    following = next_of(contract_id)
    assert following.status is ContractStatus.draft
    assert following.latest_version.state is VersionState.open
    owner, _, _ = people(pair)
    services.propose_contract(following, owner, seat(owner.id, pair.workroom_id))
    db.session.commit()
    assert following.status is ContractStatus.proposed


def test_lapse_creates_nothing_and_the_expiry_sweep_ends_the_contract(fixed, app_ctx):
    pair, contract_id = fixed
    decide(pair, contract_id, "lapse", "Budget moves to autumn.")
    assert next_of(contract_id) is None
    pack = renewal_pack(contract_of(contract_id), now=BEFORE_NOTICE)
    assert pack.decision.decision is RenewalChoice.lapse and pack.days_left == 11
    assert sweep_expired(now=RENEWAL_DAY) == 0  # the last day of the term still counts
    assert sweep_expired(now=AFTER_END) == 1
    assert sweep_expired(now=AFTER_END) == 0  # twice: one effect
    assert contract_of(contract_id).status is ContractStatus.expired
    assert audit_actions(contract_id).count("contract.expired") == 1
    last = system_lines(pair.workroom_id)[-1]
    assert "expired" in last and "2 deliverables are still open" in last


def test_the_latest_decision_counts_and_a_second_next_contract_is_refused(auto, app_ctx):
    pair, contract_id = auto
    decide(pair, contract_id, "lapse", "Probably not.")
    decide(pair, contract_id, "renew", "Changed our mind.")
    assert renewal_pack(contract_of(contract_id)).decision.decision is RenewalChoice.renew
    with pytest.raises(InvalidState, match="already has its next contract"):
        decide(pair, contract_id, "renegotiate")
    db.session.rollback()
    assert db.session.scalar(select(func.count(RenewalDecision.id))) == 2


@pytest.mark.parametrize("who", ["creator", "viewer"])
def test_only_the_brands_writers_decide(fixed, app_ctx, who):
    pair, contract_id = fixed
    user = db.session.get(User, getattr(pair, who).id)
    with pytest.raises(NotAllowed):
        decide_renewal(
            contract_of(contract_id), user, seat(user.id, pair.workroom_id), "lapse", "No."
        )


def test_a_decision_needs_a_comment_and_an_active_contract(app, app_ctx):
    pair, contract_id = build(app)
    with pytest.raises(services.InvalidTerms, match="Say why"):
        decide(pair, contract_id, "renew", "   ")
    db.session.rollback()
    contract = contract_of(contract_id)
    contract.status = ContractStatus.terminated
    db.session.commit()
    with pytest.raises(InvalidState, match="active contracts"):
        decide(pair, contract_id, "renew")


def test_letting_an_auto_renew_contract_lapse_is_notice_only_before_the_deadline(auto, app_ctx):
    pair, contract_id = auto
    with pytest.raises(InvalidState, match="notice deadline was 2030-05-01"):
        decide(pair, contract_id, "lapse", now=AFTER_NOTICE)
    db.session.rollback()
    decide(pair, contract_id, "lapse", now=LAST_NOTICE_DAY)
    assert sweep_auto_renewals(now=RENEWAL_DAY) == 0
    assert sweep_expired(now=AFTER_END) == 1


# Opt-outs -------------------------------------------------------------------------------


def test_an_opt_out_before_the_deadline_stops_the_auto_renewal(auto, app_ctx):
    pair, contract_id = auto
    opt_out(pair, contract_id, "creator", now=LAST_NOTICE_DAY)
    with pytest.raises(InvalidState, match="already opted out"):
        opt_out(pair, contract_id, "creator")
    db.session.rollback()
    opt_out(pair, contract_id, "owner")  # the other side may give notice too
    assert db.session.scalar(select(func.count(AutoRenewOptOut.id))) == 2
    assert "renewal.opted_out" in audit_actions(contract_id)
    assert any("opted out of the automatic renewal" in m for m in system_lines(pair.workroom_id))
    assert not renewal_pack(contract_of(contract_id)).will_auto_renew
    assert sweep_auto_renewals(now=RENEWAL_DAY) == 0
    assert sweep_expired(now=AFTER_END) == 1


def test_an_opt_out_after_the_deadline_or_without_auto_renewal_is_refused(app, app_ctx):
    pair, contract_id = build(app, auto_renew=True)
    with pytest.raises(InvalidState, match="too late"):
        opt_out(pair, contract_id, now=AFTER_NOTICE)
    db.session.rollback()
    other_pair, fixed_id = build(app)
    with pytest.raises(InvalidState, match="does not renew automatically"):
        opt_out(other_pair, fixed_id)


def test_a_viewer_cannot_opt_out(auto, app_ctx):
    pair, contract_id = auto
    with pytest.raises(NotAllowed):
        opt_out(pair, contract_id, "viewer")


# Sweeps with time moved ---------------------------------------------------------------------


def test_the_auto_renewal_sweep_renews_on_the_date_once(auto, app_ctx):
    pair, contract_id = auto
    assert sweep_auto_renewals(now=DAY_BEFORE) == 0
    assert sweep_auto_renewals(now=RENEWAL_DAY) == 1
    assert sweep_auto_renewals(now=RENEWAL_DAY) == 0  # twice: one next contract
    following = next_of(contract_id)
    version = following.latest_version
    assert following.status is ContractStatus.active
    assert version.state is VersionState.accepted and version.acceptances == []
    assert (version.starts_on, version.ends_on, version.auto_renew) == (
        date(2030, 6, 1),
        date(2030, 8, 31),
        True,
    )
    old = contract_of(contract_id).accepted_version
    event = db.session.scalar(
        select(AuditEvent).where(
            AuditEvent.action == "contract.activated", AuditEvent.object_id == following.id
        )
    )
    assert event.data["basis"] == "auto_renew" and event.data["renews_sha256"] == old.sha256
    assert event.actor_id is None
    count = select(func.count(Deliverable.id)).where(Deliverable.contract_id == following.id)
    assert db.session.scalar(count) == 2
    # The old term ends as renewed: it is not expired, and the renewed one runs on.
    assert sweep_expired(now=AFTER_END) == 0
    assert contract_of(contract_id).status is ContractStatus.active
    assert "renewed automatically" in system_lines(pair.workroom_id)[-1]


def test_a_late_sweep_still_renews_and_never_expires_an_auto_renew_contract(auto, app_ctx):
    _, contract_id = auto
    assert sweep_expired(now=AFTER_END) == 0  # it renews itself; expiry waits
    assert sweep_auto_renewals(now=AFTER_END) == 1
    assert next_of(contract_id).status is ContractStatus.active


def test_a_proposed_but_unaccepted_renewal_does_not_keep_the_old_term_alive(fixed, app_ctx):
    _, contract_id = fixed
    pair = fixed[0]
    decide(pair, contract_id, "renew")
    assert sweep_expired(now=AFTER_END) == 1
    assert next_of(contract_id).status is ContractStatus.proposed


def test_a_decision_stops_the_renewal_reminders(fixed, app_ctx):
    pair, contract_id = fixed
    rule = BY_NAME["renewal_notice"]
    early = datetime(2030, 3, 5, 9, tzinfo=UTC)  # 57 days before the notice deadline
    assert apply(rule, contract_of(contract_id), now=early) == 2  # owner and creator
    decide(pair, contract_id, "lapse", now=early)
    later = datetime(2030, 4, 20, 9, tzinfo=UTC)
    assert apply(rule, contract_of(contract_id), now=later) == 0


# A real worker ------------------------------------------------------------------------------


def test_a_real_worker_runs_both_sweeps_twice_with_one_effect(app, run_worker):
    """Real time: one auto-renew contract and one fixed one, both ended yesterday."""
    today = datetime.now(UTC).date()
    dates = {
        "starts_on": today - timedelta(days=60),
        "ends_on": today - timedelta(days=1),
        "lines": tuple(
            dataclasses.replace(line, due_on=today - timedelta(days=30))
            for line in sample_terms().lines
        ),
    }
    _, renewing = build(app, auto_renew=True, **dates)
    _, ending = build(app, **dates)
    for _ in range(2):
        with app.app_context():
            queue = get_queue("default")
            queue.enqueue("jobs.contracts.sweep_auto_renewals")
            queue.enqueue("jobs.contracts.sweep_expired")
        run_worker("default")
    with app.app_context():
        following = next_of(renewing)
        assert following.status is ContractStatus.active
        assert following.latest_version.starts_on == today
        assert contract_of(renewing).status is ContractStatus.active
        assert contract_of(ending).status is ContractStatus.expired
        assert next_of(ending) is None
        assert db.session.scalar(select(func.count(Contract.id))) == 3
        expired = select(func.count(AuditEvent.id)).where(AuditEvent.action == "contract.expired")
        assert db.session.scalar(expired) == 1


def test_a_renewed_term_with_its_work_done_ends_completed_at_its_end(fixed, app_ctx):
    pair, contract_id = fixed
    owner, _, creator = people(pair)
    for deliverable in db.session.scalars(
        select(Deliverable).where(Deliverable.contract_id == contract_id)
    ):
        waive_deliverable(
            deliverable, owner, seat(owner.id, pair.workroom_id), "Not needed.", now=BEFORE_NOTICE
        )
    decide(pair, contract_id, "renew")
    following = next_of(contract_id)
    services.accept_version(
        following,
        creator,
        seat(creator.id, pair.workroom_id),
        following.latest_version.sha256,
        now=BEFORE_NOTICE,
    )
    db.session.commit()
    assert sweep_expired(now=RENEWAL_DAY) == 0  # the term still runs
    assert sweep_expired(now=AFTER_END) == 1
    assert sweep_expired(now=AFTER_END) == 0  # twice: one effect
    assert contract_of(contract_id).status is ContractStatus.completed
    assert next_of(contract_id).status is ContractStatus.active
    assert audit_actions(contract_id).count("contract.completed") == 1
    assert "is completed" in system_lines(pair.workroom_id)[-1]
