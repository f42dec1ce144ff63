"""Escrow services called directly: funding, dependencies, release, payout, holds, refunds."""

from datetime import date, timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DatabaseError

from portal.accounts.models import User
from portal.contracts.models import Contract
from portal.deliverables import services as deliverable_services
from portal.deliverables.models import Deliverable, ReviewDecision
from portal.errors import InvalidState, NotAllowed
from portal.escrow import ledger, services
from portal.escrow.models import (
    AccountKind,
    LedgerEntry,
    LedgerTransaction,
    Milestone,
    MilestoneStatus,
    Payout,
    PayoutState,
)
from portal.escrow.providers import SandboxProvider
from portal.extensions import db
from tests.contracts.conftest import seat

S = MilestoneStatus


@pytest.fixture
def provider(app, tmp_path):
    """A sandbox provider of this test's own."""
    return SandboxProvider(str(tmp_path / "provider.sqlite"))


@pytest.fixture
def ctx(app_ctx, active, provider):
    """Rows and seats of the active contract, and a 1,000.00 milestone on its first line."""

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

    Ctx.milestone = services.add_milestone(
        Ctx.contract, Ctx.owner, Ctx.brand, "Video approved", 100000, deliverables=[Ctx.first]
    )
    Ctx.provider = provider
    return Ctx


def approve(ctx, deliverable=None):
    deliverable = deliverable or ctx.first
    revision = deliverable_services.submit_revision(deliverable, ctx.creator, ctx.maker, "Cut")
    deliverable_services.review_revision(revision, ctx.owner, ctx.brand, ReviewDecision.approve)


def balance(kind, currency="USD", **owner):
    return ledger.balance(ledger.account(kind, currency, **owner))


def assert_ledger_balanced():
    assert ledger.unbalanced_transactions() == []
    assert sum(ledger.balances().values()) == 0


def test_funding_puts_the_amount_in_escrow_and_shows_what_blocks_release(ctx):
    assert [b.text for b in services.blockers(ctx.milestone)] == [
        "The brand has not funded it yet.",
        "“Trail video” is pending, not approved.",
    ]
    services.fund_milestone(ctx.milestone, ctx.owner, ctx.brand, ctx.provider)
    assert ctx.milestone.status is S.funded
    assert balance(AccountKind.escrow, contract_id=ctx.contract.id) == 100000
    assert [b.deliverable for b in services.blockers(ctx.milestone)] == [ctx.first]
    assert_ledger_balanced()


def test_only_brand_writers_fund_and_a_refused_payment_moves_nothing(ctx, tmp_path):
    with pytest.raises(NotAllowed):
        services.fund_milestone(ctx.milestone, ctx.creator, ctx.maker, ctx.provider)
    with pytest.raises(NotAllowed):
        services.fund_milestone(ctx.milestone, ctx.viewer, ctx.reader, ctx.provider)
    failing = SandboxProvider(str(tmp_path / "failing.sqlite"), mode="fail")
    with pytest.raises(services.PaymentFailed):
        services.fund_milestone(ctx.milestone, ctx.owner, ctx.brand, failing)
    assert ctx.milestone.status is S.pending
    assert db.session.scalar(select(LedgerTransaction.id)) is None


def test_approval_makes_it_releasable_then_settlement_and_payout_pay_the_creator(ctx, app):
    services.fund_milestone(ctx.milestone, ctx.owner, ctx.brand, ctx.provider)
    approve(ctx)
    assert ctx.milestone.status is S.releasable
    payout = services.settle_milestone(ctx.milestone)
    fee_bps = app.config["PLATFORM_FEE_BPS"]
    to_creator = 100000 - 100000 * fee_bps // 10_000
    assert (payout.amount_minor, payout.state) == (to_creator, PayoutState.pending)
    assert ctx.milestone.status is S.settling
    assert services.settle_milestone(ctx.milestone) is None  # twice: nothing more
    services.send_payout(payout, ctx.provider)
    assert payout.state is PayoutState.paid and ctx.milestone.status is S.paid
    assert balance(AccountKind.escrow, contract_id=ctx.contract.id) == 0
    assert balance(AccountKind.creator_payable, user_id=ctx.creator.id) == 0
    assert balance(AccountKind.platform_fees) == 100000 - to_creator
    assert len(ctx.provider.calls("payout")) == 1
    services.send_payout(payout, ctx.provider)  # a redelivered job
    assert len(ctx.provider.calls("payout")) == 1
    assert_ledger_balanced()


def test_a_timed_out_payout_is_unknown_until_reconciliation_asks_the_provider(ctx, tmp_path):
    services.fund_milestone(ctx.milestone, ctx.owner, ctx.brand, ctx.provider)
    approve(ctx)
    payout = services.settle_milestone(ctx.milestone)
    path = str(tmp_path / "slow.sqlite")
    services.send_payout(payout, SandboxProvider(path, mode="timeout"))
    assert payout.state is PayoutState.unknown
    services.send_payout(payout, SandboxProvider(path))  # no blind re-send while unknown
    assert payout.state is PayoutState.unknown
    services.reconcile_payout(payout, SandboxProvider(path))
    assert payout.state is PayoutState.failed  # the provider never saw it: retried later
    services.send_payout(payout, SandboxProvider(path))
    assert payout.state is PayoutState.paid
    assert len(SandboxProvider(path).calls("payout")) == 1


def test_a_payout_that_keeps_failing_alerts_every_admin_once(ctx, app, tmp_path):
    from portal.accounts.models import AccountKind as Kind
    from portal.notifications.models import OutboundEmail
    from tests import factories

    ada = factories.user(kind=Kind.admin, name="Ada Admin")
    factories.user(kind=Kind.admin, name="Gone Admin").is_disabled = True
    services.fund_milestone(ctx.milestone, ctx.owner, ctx.brand, ctx.provider)
    approve(ctx)
    payout = services.settle_milestone(ctx.milestone)
    refusing = SandboxProvider(str(tmp_path / "refusing.sqlite"), mode="fail")

    def alerts():
        return db.session.scalars(
            select(OutboundEmail).where(OutboundEmail.kind == "payout_failed")
        ).all()

    for attempt in range(1, app.config["PAYOUT_ALERT_ATTEMPTS"]):
        services.send_payout(payout, refusing)
        assert (payout.state, payout.attempts, alerts()) == (PayoutState.failed, attempt, [])
    services.send_payout(payout, refusing)
    (alert,) = alerts()
    assert alert.to_address == ada.email
    assert f"Payout #{payout.id} of $900.00 to Cora Creator failed 3 times" == alert.subject
    assert "sandbox refused payout:" in alert.text_body
    assert "/admin/payouts?state=failed" in alert.text_body
    services.send_payout(payout, refusing)  # the fourth failure: no second alert
    assert len(alerts()) == 1
    services.send_payout(payout, ctx.provider)
    assert payout.state is PayoutState.paid


def test_a_held_milestone_never_settles_until_the_hold_ends(ctx):
    services.fund_milestone(ctx.milestone, ctx.owner, ctx.brand, ctx.provider)
    services.hold_milestone(ctx.milestone, "Ticket 1 names it")
    approve(ctx)
    assert ctx.milestone.status is S.held
    assert services.settle_milestone(ctx.milestone) is None
    services.release_hold(ctx.milestone)
    assert ctx.milestone.status is S.releasable


def test_prior_milestones_sign_off_and_live_days_are_dependencies(ctx):
    later = services.add_milestone(
        ctx.contract,
        ctx.owner,
        ctx.brand,
        "Story live a week",
        25000,
        deliverables=[ctx.second],
        prior_milestones=[ctx.milestone],
        live_days=7,
        requires_signoff=True,
    )
    services.fund_milestone(later, ctx.owner, ctx.brand, ctx.provider)
    approve(ctx, ctx.second)
    texts = [b.text for b in services.blockers(later)]
    assert texts == [
        "“Trail story” is not live yet.",
        "Milestone “Video approved” is not paid yet.",
        "The brand has not signed it off.",
    ]
    deliverable_services.record_go_live(
        ctx.second, ctx.creator, ctx.maker, "https://example.com/s", date(2030, 4, 1)
    )
    services.sign_off(later, ctx.owner, ctx.brand)
    now = later.created_at.replace(year=2030, month=4, day=3)
    assert "must stay live 7 days" in services.blockers(later, now=now)[0].text
    assert later.status is S.funded


def test_partial_release_and_refund_keep_every_part_exact(ctx):
    services.fund_milestone(ctx.milestone, ctx.owner, ctx.brand, ctx.provider)
    services.partial_release(ctx.milestone, 33333, "Half the work was done", key="t:1")
    services.partial_release(ctx.milestone, 33333, "Half the work was done", key="t:1")
    assert ctx.milestone.released_minor == 33333
    with pytest.raises(services.InvalidMilestone):
        services.refund_milestone(ctx.milestone, 66668, "Too much")
    services.refund_milestone(ctx.milestone, 66667, "The rest goes back")
    assert ctx.milestone.status is S.refunded
    assert balance(AccountKind.escrow, contract_id=ctx.contract.id) == 0
    assert db.session.scalar(select(Payout.amount_minor)) + balance(AccountKind.platform_fees) == (
        33333
    )
    assert_ledger_balanced()


@pytest.mark.parametrize("amount", [1, 3, 10001, 99999, 123456789])
@pytest.mark.parametrize("bps", [0, 1, 250, 1000, 3333, 10000])
def test_m13_fee_split_parts_are_integers_summing_exactly(amount, bps):
    creator, fee = ledger.split_fee(amount, bps)
    assert isinstance(creator, int) and isinstance(fee, int)
    assert creator + fee == amount and creator >= 0 and fee >= 0


def test_m6_same_key_same_legs_is_one_transaction_and_different_legs_an_error(ctx):
    a = ledger.account(AccountKind.external, "USD")
    b = ledger.account(AccountKind.brand_funding, "USD", brand_id=ctx.contract.workroom.brand_id)
    first, created = ledger.post("test:1", "fund", [(a, -500), (b, 500)])
    again, created_again = ledger.post("test:1", "fund", [(a, -500), (b, 500)])
    assert created and not created_again and first.id == again.id
    with pytest.raises(ledger.IdempotencyConflict):
        ledger.post("test:1", "fund", [(a, -700), (b, 700)])
    with pytest.raises(ledger.UnbalancedTransaction):
        ledger.post("test:2", "fund", [(a, -500), (b, 499)])


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE ledger_entries SET amount_minor = amount_minor + 1",
        "DELETE FROM ledger_entries",
        "UPDATE ledger_transactions SET reason = 'edited'",
        "DELETE FROM ledger_transactions",
    ],
)
def test_m3_the_database_refuses_changes_to_the_ledger(ctx, statement):
    services.fund_milestone(ctx.milestone, ctx.owner, ctx.brand, ctx.provider)
    db.session.commit()
    with pytest.raises(DatabaseError, match="append-only"):
        db.session.execute(text(statement))
        db.session.flush()
    db.session.rollback()
    assert db.session.scalar(select(LedgerEntry.id).limit(1)) is not None


#: tables whose amounts take the currency of the row they belong to
CURRENCY_ON_PARENT = {"contract_lines": "contract_versions", "closeout_lines": "closeouts"}


def test_m1_money_columns_are_integers_with_a_currency(app):
    from sqlalchemy import BigInteger, Float, Numeric

    for table in db.metadata.sorted_tables:
        holder = db.metadata.tables[CURRENCY_ON_PARENT.get(table.name, table.name)]
        for column in table.columns:
            assert not isinstance(column.type, Float | Numeric), f"{table.name}.{column.name}"
            if column.name.endswith("_minor"):
                assert isinstance(column.type, BigInteger), f"{table.name}.{column.name}"
                assert "currency" in holder.columns, f"{table.name} has amounts without currency"


def test_funding_refused_twice_and_milestones_need_an_active_contract(ctx):
    services.fund_milestone(ctx.milestone, ctx.owner, ctx.brand, ctx.provider)
    with pytest.raises(InvalidState):
        services.fund_milestone(ctx.milestone, ctx.owner, ctx.brand, ctx.provider)
    with pytest.raises(services.InvalidMilestone):
        services.add_milestone(ctx.contract, ctx.owner, ctx.brand, "Zero", 0)
    assert db.session.scalar(select(Milestone.id).where(Milestone.title == "Zero")) is None
    assert timedelta(minutes=1) == services.retry_delay(1)
