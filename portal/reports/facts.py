"""The facts of how contracts went: delivered vs contracted, on time, revisions, spend,
tickets. Renewal packs, post-exit analyses and the reports all read them from here."""

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC

from sqlalchemy import func, select

from portal.contracts.models import Contract, ContractVersion, VersionState
from portal.database import utcnow
from portal.deliverables.models import Deliverable, DeliverableStatus, Revision
from portal.escrow.models import (
    AccountKind,
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    Milestone,
)
from portal.extensions import db
from portal.mediation.models import TicketLink

#: deliverables nobody owes any more: they count neither as contracted nor as late
EXCUSED = (DeliverableStatus.waived, DeliverableStatus.cancelled, DeliverableStatus.reassigned)


@dataclass
class ContractFacts:
    """How one contract went, in figures (money in the contract's currency, minor units)."""

    contract_id: int
    currency: str
    contracted: int = 0  #: deliverables owed (waived and cancelled ones excluded)
    delivered: int = 0  #: deliverables approved
    excused: int = 0  #: deliverables waived, cancelled or reassigned
    on_time: int = 0  #: deliverables first submitted by their due time
    late: int = 0  #: deliverables first submitted after their due time, or due and never sent
    revisions: int = 0  #: revisions submitted
    submitted: int = 0  #: deliverables with at least one revision
    contracted_minor: int = 0  #: the total of the terms in force
    spend_minor: int = 0  #: released from escrow to the creator (fee included), per the ledger
    refunded_minor: int = 0  #: returned from escrow to the brand, per the ledger
    tickets: int = 0  #: mediation tickets naming the contract's deliverables or milestones

    @property
    def on_time_rate(self):
        """Share of deliverables that came in on time, of those due or sent; None if none."""
        judged = self.on_time + self.late
        return self.on_time / judged if judged else None

    @property
    def revisions_per_deliverable(self):
        """Revisions per submitted deliverable; None before any submission."""
        return self.revisions / self.submitted if self.submitted else None

    @property
    def completion_rate(self):
        """Share of the contracted deliverables approved; None when nothing is owed."""
        return self.delivered / self.contracted if self.contracted else None


def facts_of(contract, *, now=None):
    """The facts of one contract."""
    return contract_facts([contract.id], now=now)[contract.id]


def contract_facts(contract_ids, *, now=None):
    """{contract id: ContractFacts} for the given contracts, in five queries whatever their
    number; a contract with no terms in force yet has empty facts."""
    ids = sorted(set(contract_ids))
    if not ids:
        return {}
    now = now or utcnow()
    facts = {cid: ContractFacts(contract_id=cid, currency="") for cid in ids}
    _add_terms(facts, ids)
    _add_deliverables(facts, ids, now)
    _add_money(facts, ids)
    _add_tickets(facts, ids)
    return facts


def _add_terms(facts, ids):
    """Currency and total of the terms in force (the newest accepted version, else the latest)."""
    rows = db.session.execute(
        select(
            ContractVersion.contract_id,
            ContractVersion.state,
            ContractVersion.currency,
            ContractVersion.total_minor,
        )
        .where(ContractVersion.contract_id.in_(ids))
        .order_by(ContractVersion.contract_id, ContractVersion.number)
    ).all()
    accepted = set()
    for contract_id, state, currency, total in rows:
        if state is VersionState.accepted or contract_id not in accepted:
            facts[contract_id].currency = currency
            facts[contract_id].contracted_minor = total
        if state is VersionState.accepted:
            accepted.add(contract_id)


def _add_deliverables(facts, ids, now):
    """Counts by status, first-submission punctuality and revisions, in one query."""
    first_sent = (
        select(
            Revision.deliverable_id,
            func.min(Revision.submitted_at).label("first_at"),
            func.count(Revision.id).label("revisions"),
        )
        .group_by(Revision.deliverable_id)
        .subquery()
    )
    rows = db.session.execute(
        select(
            Deliverable.contract_id,
            Deliverable.status,
            Deliverable.due_at,
            first_sent.c.first_at,
            first_sent.c.revisions,
        )
        .outerjoin(first_sent, first_sent.c.deliverable_id == Deliverable.id)
        .where(Deliverable.contract_id.in_(ids))
    ).all()
    for contract_id, status, due_at, first_at, revisions in rows:
        fact = facts[contract_id]
        fact.revisions += revisions or 0
        fact.submitted += 1 if revisions else 0
        if status in EXCUSED:
            fact.excused += 1
            continue
        fact.contracted += 1
        fact.delivered += status is DeliverableStatus.approved
        if first_at is not None:
            on_time = _aware(first_at) <= _aware(due_at)
            fact.on_time += on_time
            fact.late += not on_time
        elif _aware(due_at) < now:
            fact.late += 1


def _aware(moment):
    """SQLite hands back naive UTC; compare like with like."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _add_money(facts, ids):
    """What left each contract's escrow, to the creator and back to the brand (the ledger)."""
    rows = db.session.execute(
        select(
            LedgerTransaction.contract_id,
            LedgerTransaction.kind,
            func.sum(LedgerEntry.amount_minor),
        )
        .join(LedgerEntry, LedgerEntry.transaction_id == LedgerTransaction.id)
        .join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)
        .where(
            LedgerTransaction.contract_id.in_(ids),
            LedgerAccount.kind == AccountKind.escrow,
            LedgerEntry.amount_minor < 0,
        )
        .group_by(LedgerTransaction.contract_id, LedgerTransaction.kind)
    ).all()
    for contract_id, kind, total in rows:
        if kind == "refund":
            facts[contract_id].refunded_minor += -total
        else:
            facts[contract_id].spend_minor += -total


def _add_tickets(facts, ids):
    """Distinct tickets naming any of each contract's deliverables or milestones."""
    by_deliverable = (
        select(Deliverable.contract_id, TicketLink.ticket_id)
        .join(TicketLink, TicketLink.deliverable_id == Deliverable.id)
        .where(Deliverable.contract_id.in_(ids))
    )
    by_milestone = (
        select(Milestone.contract_id, TicketLink.ticket_id)
        .join(TicketLink, TicketLink.milestone_id == Milestone.id)
        .where(Milestone.contract_id.in_(ids))
    )
    tickets = defaultdict(set)
    for contract_id, ticket_id in db.session.execute(by_deliverable.union(by_milestone)).all():
        tickets[contract_id].add(ticket_id)
    for contract_id, found in tickets.items():
        facts[contract_id].tickets = len(found)


def contracts_of(**where):
    """Contract ids matching simple column filters (campaign_id=..., workroom_id=...)."""
    query = select(Contract.id)
    for name, value in where.items():
        query = query.where(getattr(Contract, name) == value)
    return db.session.scalars(query.order_by(Contract.id)).all()
