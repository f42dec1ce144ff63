"""Reads of the reports: contracts in scope, the latest readings, the figures per contract,
per currency and per deliverable, in a fixed number of queries whatever the data."""

from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import joinedload, selectinload

from portal.accounts.models import AccountKind, BrandMembership
from portal.contracts.models import Contract, ContractStatus
from portal.deliverables.models import Deliverable
from portal.extensions import db
from portal.reports.facts import ContractFacts, contract_facts
from portal.reports.models import METRICS, PerformanceResult
from portal.workrooms.models import Workroom


def cost_per(spend_minor, count, per=1):
    """spend * per / count in minor units, rounded half up with integers; None when the
    count is zero (the page shows "—")."""
    if not count:
        return None
    return (2 * spend_minor * per + count) // (2 * count)


@dataclass
class DeliverableRow:
    """One deliverable of a report with its latest reading (None before any)."""

    deliverable: Deliverable
    result: PerformanceResult | None

    @property
    def engagements(self):
        """Engagements of the latest reading, or None."""
        return self.result.engagements if self.result else None

    def figure(self, name):
        """One figure of the latest reading, or None."""
        return getattr(self.result, name) if self.result else None


@dataclass
class Figures:
    """Summed latest readings, and the spend they cost, in one currency."""

    currency: str = ""
    spend_minor: int = 0
    contracted_minor: int = 0
    totals: dict = field(default_factory=lambda: dict.fromkeys(METRICS, 0))
    measured: int = 0  #: deliverables with at least one reading

    @property
    def engagements(self):
        """Likes + comments + shares + saves."""
        return sum(self.totals[name] for name in ("likes", "comments", "shares", "saves"))

    @property
    def cost_per_engagement(self):
        """Spend per engagement (minor units), or None."""
        return cost_per(self.spend_minor, self.engagements)

    @property
    def cpm(self):
        """Spend per thousand impressions (minor units), or None."""
        return cost_per(self.spend_minor, self.totals["impressions"], 1000)

    def add(self, rows):
        """Add the latest readings of some deliverables."""
        for row in rows:
            if row.result is not None:
                self.measured += 1
                for name in METRICS:
                    self.totals[name] += getattr(row.result, name)


@dataclass
class ContractRow:
    """One contract of a report: who, its delivery facts, its deliverables, its figures."""

    contract: Contract
    facts: ContractFacts
    deliverables: list
    figures: Figures

    @property
    def title(self):
        """The title of the terms in force (or of the latest version)."""
        shown = self.contract.accepted_version or self.contract.latest_version
        return shown.title if shown else f"Contract {self.contract.id}"


@dataclass
class Report:
    """Contracts with their figures, delivery facts summed, money per currency."""

    contracts: list
    facts: ContractFacts
    by_currency: list

    @property
    def deliverables(self):
        """Every deliverable row, contract by contract."""
        return [row for contract in self.contracts for row in contract.deliverables]


def _sum_facts(all_facts):
    """The delivery counts of several contracts added up (money stays per currency)."""
    total = ContractFacts(contract_id=0, currency="")
    for facts in all_facts:
        for name in ("contracted", "delivered", "excused", "on_time", "late"):
            setattr(total, name, getattr(total, name) + getattr(facts, name))
        for name in ("revisions", "submitted", "tickets"):
            setattr(total, name, getattr(total, name) + getattr(facts, name))
    return total


def _contracts(*where):
    """Proposed-or-later contracts matching the conditions, with what the report shows."""
    return db.session.scalars(
        select(Contract)
        .join(Workroom, Workroom.id == Contract.workroom_id)
        .where(Contract.status != ContractStatus.draft, *where)
        .options(
            joinedload(Contract.campaign),
            joinedload(Contract.workroom).options(
                joinedload(Workroom.brand), joinedload(Workroom.creator)
            ),
            selectinload(Contract.versions),
        )
        .order_by(Contract.id)
    ).all()


def campaign_contracts(campaign):
    """The campaign's contracts."""
    return _contracts(Contract.campaign_id == campaign.id)


def creator_contracts(creator, viewer):
    """The creator's contracts the viewer may see: all for admins and the creator, those of
    the viewer's brands for brand members, none for anyone else."""
    if viewer.kind is AccountKind.admin or viewer.id == creator.id:
        return _contracts(Workroom.creator_id == creator.id)
    if viewer.kind is not AccountKind.brand:
        return []
    brands = select(BrandMembership.brand_id).where(BrandMembership.user_id == viewer.id)
    return _contracts(Workroom.creator_id == creator.id, Workroom.brand_id.in_(brands))


def creator_known_to(creator, viewer):
    """Whether a brand member's brands work with the creator (a workroom, contract or not)."""
    brands = select(BrandMembership.brand_id).where(BrandMembership.user_id == viewer.id)
    return (
        db.session.scalar(
            select(func.count())
            .select_from(Workroom)
            .where(Workroom.creator_id == creator.id, Workroom.brand_id.in_(brands))
        )
        > 0
    )


def one_contract(contract):
    """A single contract, loaded as the reports need it."""
    return _contracts(Contract.id == contract.id)


def latest_results(deliverable_ids):
    """{deliverable id: its latest reading} in one query."""
    ids = sorted(set(deliverable_ids))
    if not ids:
        return {}
    latest = (
        select(
            PerformanceResult.deliverable_id,
            func.max(PerformanceResult.measured_on).label("measured_on"),
        )
        .where(PerformanceResult.deliverable_id.in_(ids))
        .group_by(PerformanceResult.deliverable_id)
        .subquery()
    )
    results = db.session.scalars(
        select(PerformanceResult).join(
            latest,
            (latest.c.deliverable_id == PerformanceResult.deliverable_id)
            & (latest.c.measured_on == PerformanceResult.measured_on),
        )
    ).all()
    return {result.deliverable_id: result for result in results}


def deliverables_of(contract_ids):
    """{contract id: [deliverables by position]} in one query."""
    found = defaultdict(list)
    if not contract_ids:
        return found
    for deliverable in db.session.scalars(
        select(Deliverable)
        .where(Deliverable.contract_id.in_(contract_ids))
        .order_by(Deliverable.contract_id, Deliverable.position)
    ):
        found[deliverable.contract_id].append(deliverable)
    return found


def build_report(contracts, *, now=None):
    """The report of some contracts (loaded by _contracts): eight queries whatever their
    number (five of them contract_facts')."""
    ids = [contract.id for contract in contracts]
    facts = contract_facts(ids, now=now)
    deliverables = deliverables_of(ids)
    latest = latest_results(d.id for found in deliverables.values() for d in found)
    rows, by_currency = [], {}
    for contract in contracts:
        fact = facts[contract.id]
        lines = [DeliverableRow(d, latest.get(d.id)) for d in deliverables[contract.id]]
        figures = Figures(fact.currency, fact.spend_minor, fact.contracted_minor)
        figures.add(lines)
        rows.append(ContractRow(contract, fact, lines, figures))
        if fact.currency:
            money = by_currency.setdefault(fact.currency, Figures(fact.currency))
            money.spend_minor += fact.spend_minor
            money.contracted_minor += fact.contracted_minor
            money.add(lines)
    return Report(
        rows,
        _sum_facts(facts.values()),
        [by_currency[currency] for currency in sorted(by_currency)],
    )


def readings_of(deliverable):
    """Every reading of a deliverable, newest first, with who recorded it."""
    return db.session.scalars(
        select(PerformanceResult)
        .where(PerformanceResult.deliverable_id == deliverable.id)
        .options(joinedload(PerformanceResult.recorded_by))
        .order_by(PerformanceResult.measured_on.desc())
    ).all()


def live_deliverables(contracts):
    """The live deliverables of some contracts (what an import template lists)."""
    ids = [contract.id for contract in contracts]
    if not ids:
        return []
    return db.session.scalars(
        select(Deliverable)
        .where(Deliverable.contract_id.in_(ids), Deliverable.live_on.is_not(None))
        .order_by(Deliverable.contract_id, Deliverable.position)
    ).all()
