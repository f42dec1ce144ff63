"""Reads the money pages share: a workroom's milestones, one milestone, statements, the
ledger and the payout queue. Each runs a fixed number of queries, whatever the data."""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import case, func, select
from sqlalchemy.orm import joinedload, selectinload

from portal.accounts.models import Brand, User
from portal.campaigns.models import Campaign
from portal.contracts.models import Contract, ContractStatus, ContractVersion, VersionState
from portal.deliverables.models import Deliverable
from portal.escrow.models import (
    AccountKind,
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    Milestone,
    MilestoneDependency,
    MilestoneStatus,
    Payout,
    PayoutState,
)
from portal.extensions import db
from portal.workrooms.models import Workroom

S = MilestoneStatus
#: statuses whose amount has been paid into escrow at some point
FUNDED = [s for s in MilestoneStatus if s is not S.pending]
#: what the creator still waits on (funded or not, not yet releasable)
WAITING = (S.pending, S.funded, S.held, S.partially_released)
#: payouts still on their way to the creator
OPEN_PAYOUTS = (PayoutState.pending, PayoutState.sent, PayoutState.failed, PayoutState.unknown)
PER_PAGE = 25


def contract_titles(contract_ids):
    """{contract id: title of the terms in force (or of the latest version)} in one query."""
    if not contract_ids:
        return {}
    rows = db.session.execute(
        select(ContractVersion.contract_id, ContractVersion.title, ContractVersion.state)
        .where(ContractVersion.contract_id.in_(set(contract_ids)))
        .order_by(ContractVersion.contract_id, ContractVersion.number)
    ).all()
    titles, accepted = {}, set()
    for contract_id, title, state in rows:
        if state is VersionState.accepted:
            titles[contract_id] = title
            accepted.add(contract_id)
        elif contract_id not in accepted:
            titles[contract_id] = title
    return titles


# A workroom's money ----------------------------------------------------------------------


def of_workroom(workroom):
    """The workroom's milestones, by contract then position, with their contracts' terms."""
    return db.session.scalars(
        select(Milestone)
        .options(joinedload(Milestone.contract).selectinload(Contract.versions))
        .where(Milestone.workroom_id == workroom.id)
        .order_by(Milestone.contract_id, Milestone.position)
    ).all()


def active_contracts(workroom):
    """The workroom's active contracts (milestones are added to these), with their terms."""
    return db.session.scalars(
        select(Contract)
        .options(selectinload(Contract.versions))
        .where(Contract.workroom_id == workroom.id, Contract.status == ContractStatus.active)
        .order_by(Contract.id)
    ).all()


def find_contract(workroom, contract_id):
    """A contract of the workroom, or None."""
    return db.session.scalar(
        select(Contract)
        .options(selectinload(Contract.versions))
        .where(Contract.id == contract_id, Contract.workroom_id == workroom.id)
    )


def find(workroom, milestone_id):
    """A milestone of the workroom, or None."""
    return db.session.scalar(
        select(Milestone).where(Milestone.id == milestone_id, Milestone.workroom_id == workroom.id)
    )


def page(workroom, milestone_id):
    """A milestone with its dependencies and contract, in a fixed number of queries."""
    return db.session.scalar(
        select(Milestone)
        .options(
            joinedload(Milestone.contract).selectinload(Contract.versions),
            selectinload(Milestone.dependencies).options(
                joinedload(MilestoneDependency.deliverable),
                joinedload(MilestoneDependency.prior_milestone),
            ),
        )
        .where(Milestone.id == milestone_id, Milestone.workroom_id == workroom.id)
    )


def payouts_of(milestone):
    """The milestone's payouts, oldest first."""
    return db.session.scalars(
        select(Payout).where(Payout.milestone_id == milestone.id).order_by(Payout.id)
    ).all()


def transactions_of(milestone):
    """The milestone's ledger transactions with their entries and accounts, oldest first."""
    return db.session.scalars(
        select(LedgerTransaction)
        .options(selectinload(LedgerTransaction.entries).joinedload(LedgerEntry.account))
        .where(LedgerTransaction.milestone_id == milestone.id)
        .order_by(LedgerTransaction.created_at, LedgerTransaction.id)
    ).all()


def candidates_of(contract, *, exclude=None):
    """What a new milestone of a contract may depend on: its deliverables and milestones."""
    deliverables = db.session.scalars(
        select(Deliverable)
        .where(Deliverable.contract_id == contract.id)
        .order_by(Deliverable.position)
    ).all()
    milestones = db.session.scalars(
        select(Milestone).where(Milestone.contract_id == contract.id).order_by(Milestone.position)
    ).all()
    return deliverables, [m for m in milestones if m.id != exclude]


def pending_of(contract):
    """The contract's milestones not funded yet, in order."""
    return db.session.scalars(
        select(Milestone)
        .where(Milestone.contract_id == contract.id, Milestone.status == S.pending)
        .order_by(Milestone.position)
    ).all()


# Statements ---------------------------------------------------------------------------------


@dataclass
class Figures:
    """A brand's money on a contract or campaign, in one currency (minor units)."""

    currency: str
    committed: int = 0  #: the sum of milestone amounts
    funded: int = 0  #: paid into escrow
    released: int = 0  #: released to the creator (before the fee)
    refunded: int = 0  #: returned to the brand
    fees: int = 0  #: Duet's fees on the releases
    first_funded: datetime | None = None
    last_paid: datetime | None = None

    def add(self, other):
        """Fold another row of the same currency in."""
        for name in ("committed", "funded", "released", "refunded", "fees"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.first_funded = _earliest(self.first_funded, other.first_funded)
        self.last_paid = _latest(self.last_paid, other.last_paid)


def _earliest(a, b):
    return min(x for x in (a, b) if x is not None) if (a or b) else None


def _latest(a, b):
    return max(x for x in (a, b) if x is not None) if (a or b) else None


@dataclass
class ContractRow:
    """One contract's line of a brand statement."""

    contract_id: int
    title: str
    campaign_id: int
    campaign: str
    creator: str
    workroom_id: int
    figures: Figures


@dataclass
class CampaignRow:
    """One campaign's line of a brand statement (per currency)."""

    campaign_id: int
    campaign: str
    figures: Figures


@dataclass
class BrandStatement:
    """A brand's committed, funded, released, refunded money and fees."""

    contracts: list = field(default_factory=list)
    campaigns: list = field(default_factory=list)
    totals: list = field(default_factory=list)  #: one Figures per currency


def brand_statement(brand_id):
    """The brand's statement per contract, per campaign and in total: three queries."""
    funded_amount = case((Milestone.status.in_(FUNDED), Milestone.amount_minor), else_=0)
    rows = db.session.execute(
        select(
            Contract.id,
            Contract.workroom_id,
            Campaign.id,
            Campaign.name,
            User.name,
            Milestone.currency,
            func.sum(Milestone.amount_minor),
            func.sum(funded_amount),
            func.sum(Milestone.released_minor),
            func.sum(Milestone.refunded_minor),
            func.min(Milestone.funded_at),
            func.max(Milestone.paid_at),
        )
        .join(Contract, Contract.id == Milestone.contract_id)
        .join(Campaign, Campaign.id == Contract.campaign_id)
        .join(Workroom, Workroom.id == Contract.workroom_id)
        .join(User, User.id == Workroom.creator_id)
        .where(Workroom.brand_id == brand_id)
        .group_by(
            Contract.id,
            Contract.workroom_id,
            Campaign.id,
            Campaign.name,
            User.name,
            Milestone.currency,
        )
        .order_by(Campaign.name, Campaign.id, Contract.id, Milestone.currency)
    ).all()
    fees = _fees_by_contract([row[0] for row in rows])
    titles = contract_titles([row[0] for row in rows])
    statement = BrandStatement()
    campaigns, totals = {}, {}
    for (
        contract_id,
        workroom_id,
        campaign_id,
        campaign,
        creator,
        currency,
        committed,
        funded,
        released,
        refunded,
        first_funded,
        last_paid,
    ) in rows:
        figures = Figures(
            currency,
            int(committed or 0),
            int(funded or 0),
            int(released or 0),
            int(refunded or 0),
            fees.get((contract_id, currency), 0),
            first_funded,
            last_paid,
        )
        statement.contracts.append(
            ContractRow(
                contract_id,
                titles.get(contract_id, f"Contract {contract_id}"),
                campaign_id,
                campaign,
                creator,
                workroom_id,
                figures,
            )
        )
        key = (campaign_id, currency)
        if key not in campaigns:
            campaigns[key] = CampaignRow(campaign_id, campaign, Figures(currency))
        campaigns[key].figures.add(figures)
        totals.setdefault(currency, Figures(currency)).add(figures)
    statement.campaigns = list(campaigns.values())
    statement.totals = [totals[c] for c in sorted(totals)]
    return statement


def _fees_by_contract(contract_ids):
    """{(contract id, currency): platform fees taken on its releases} in one query."""
    if not contract_ids:
        return {}
    rows = db.session.execute(
        select(
            LedgerTransaction.contract_id,
            LedgerEntry.currency,
            func.sum(LedgerEntry.amount_minor),
        )
        .join(LedgerEntry, LedgerEntry.transaction_id == LedgerTransaction.id)
        .join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)
        .where(
            LedgerAccount.kind == AccountKind.platform_fees,
            LedgerTransaction.contract_id.in_(set(contract_ids)),
        )
        .group_by(LedgerTransaction.contract_id, LedgerEntry.currency)
    ).all()
    return {(contract_id, currency): int(total) for contract_id, currency, total in rows}


@dataclass
class EarningRow:
    """One milestone on a creator's statement."""

    milestone: Milestone
    brand: str
    contract: str
    state: str  #: "pending", "releasable" or "paid" (or "refunded")
    waiting: int  #: not yet released to the creator (before the fee)
    on_the_way: int  #: released or releasable, not yet paid out
    paid: int  #: paid out to the creator (after the fee)
    paid_at: datetime | None


@dataclass
class CreatorStatement:
    """What a creator waits on, what is on its way and what was paid, per currency."""

    rows: list = field(default_factory=list)
    totals: dict = field(default_factory=dict)  #: currency -> {"pending", "releasable", "paid"}


def creator_statement(user_id):
    """Every milestone of the creator's workrooms with its money, in three queries."""
    milestones = db.session.execute(
        select(Milestone, Brand.name)
        .join(Workroom, Workroom.id == Milestone.workroom_id)
        .join(Brand, Brand.id == Workroom.brand_id)
        .where(Workroom.creator_id == user_id)
        .order_by(Milestone.created_at.desc(), Milestone.id.desc())
    ).all()
    payouts = defaultdict(lambda: [0, 0, None])  # milestone id -> [paid, open, last paid at]
    for milestone_id, state, amount, paid_at in db.session.execute(
        select(Payout.milestone_id, Payout.state, Payout.amount_minor, Payout.paid_at).where(
            Payout.creator_id == user_id
        )
    ).all():
        entry = payouts[milestone_id]
        if state is PayoutState.paid:
            entry[0] += amount
            entry[2] = _latest(entry[2], paid_at)
        else:
            entry[1] += amount
    titles = contract_titles({m.contract_id for m, _ in milestones})
    statement = CreatorStatement()
    for milestone, brand in milestones:
        paid, open_, paid_at = payouts[milestone.id]
        unreleased = milestone.amount_minor - milestone.released_minor - milestone.refunded_minor
        waiting = unreleased if milestone.status in WAITING else 0
        on_the_way = open_ + (unreleased if milestone.status is S.releasable else 0)
        if milestone.status is S.paid:
            state = "paid"
        elif milestone.status in (S.releasable, S.settling) or (open_ and not waiting):
            state = "releasable"
        elif milestone.status is S.refunded and not paid and not open_:
            state = "refunded"
        else:
            state = "pending"
        statement.rows.append(
            EarningRow(
                milestone,
                brand,
                titles.get(milestone.contract_id, ""),
                state,
                waiting,
                on_the_way,
                paid,
                paid_at,
            )
        )
        total = statement.totals.setdefault(
            milestone.currency, {"pending": 0, "releasable": 0, "paid": 0}
        )
        total["pending"] += waiting
        total["releasable"] += on_the_way
        total["paid"] += paid
    return statement


# Administration -----------------------------------------------------------------------------


def ledger_page(page_number):
    """A page of ledger transactions, newest first, with their entries and accounts."""
    return db.paginate(
        select(LedgerTransaction)
        .options(selectinload(LedgerTransaction.entries).joinedload(LedgerEntry.account))
        .order_by(LedgerTransaction.created_at.desc(), LedgerTransaction.id.desc()),
        page=page_number,
        per_page=PER_PAGE,
        error_out=False,
    )


def payout_queue(page_number, *, state=None):
    """A page of payouts not yet paid (or of one state): failures first, then by due time;
    and the count of payouts per state."""
    states = [state] if state is not None else list(OPEN_PAYOUTS)
    failed_first = case((Payout.state == PayoutState.failed, 0), else_=1)
    page = db.paginate(
        select(Payout)
        .options(joinedload(Payout.milestone), joinedload(Payout.creator))
        .where(Payout.state.in_(states))
        .order_by(failed_first, Payout.next_attempt_at, Payout.id),
        page=page_number,
        per_page=PER_PAGE,
        error_out=False,
    )
    counts = dict(
        db.session.execute(select(Payout.state, func.count()).group_by(Payout.state)).all()
    )
    return page, {s: counts.get(s, 0) for s in PayoutState}
