"""Reads about contracts that the workroom page, the contract pages and jobs share."""

from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import aliased, joinedload, selectinload

from portal.campaigns.models import Campaign, CampaignStatus
from portal.contracts.models import (
    AutoRenewOptOut,
    Contract,
    ContractAcceptance,
    ContractResponse,
    ContractStatus,
    ContractVersion,
    RenewalChoice,
    RenewalDecision,
    VersionState,
)
from portal.contracts.terms import Terms, terms_text
from portal.database import utcnow
from portal.extensions import db
from portal.reports.queries import build_report, one_contract
from portal.textdiff import diff_lines, unified
from portal.workrooms.models import Side


def contracts_of(workroom):
    """A workroom's contracts, newest first, with their versions (no query per contract)."""
    return db.session.scalars(
        select(Contract)
        .where(Contract.workroom_id == workroom.id)
        .options(selectinload(Contract.versions))
        .order_by(Contract.id.desc())
    ).all()


def waiting_on(workroom):
    """What waits on whom in a workroom: a list of (Side, sentence). Drafts stay private."""
    return waiting_in([workroom]).get(workroom.id, [])


def waiting_in(workrooms):
    """{workroom id: [(Side, sentence), ...]} for many workrooms in one query."""
    by_id = {w.id: w for w in workrooms}
    if not by_id:
        return {}
    newer = aliased(ContractVersion)
    latest = (
        select(func.max(newer.number)).where(newer.contract_id == Contract.id).scalar_subquery()
    )
    rows = db.session.execute(
        select(Contract.workroom_id, Contract.status, ContractVersion)
        .join(ContractVersion, ContractVersion.contract_id == Contract.id)
        .where(
            Contract.workroom_id.in_(by_id),
            Contract.status.in_([ContractStatus.proposed, ContractStatus.active]),
            ContractVersion.number == latest,
            ContractVersion.state.in_([VersionState.open, VersionState.changes_requested]),
        )
        .order_by(Contract.id)
    ).all()
    waiting = {}
    for workroom_id, status, version in rows:
        waiting.setdefault(workroom_id, []).append(
            _waiting_line(by_id[workroom_id], status, version)
        )
    return waiting


def _waiting_line(workroom, status, version):
    """Who must act on a contract's latest version, and what they must do."""
    title, n = version.title, version.number
    if version.state is VersionState.changes_requested:
        return Side.brand, f"Revise {title}: {workroom.creator.name} asked for changes"
    if status is ContractStatus.proposed:
        return Side.creator, f"Accept or ask for changes to {title} v{n}"
    other = Side.creator if version.proposed_by_side is Side.brand else Side.brand
    return other, f"Accept or reject the amendment to {title} (v{n})"


def contract_page(contract_id):
    """A contract with everything its page shows, in a fixed number of queries."""
    return db.session.scalar(
        select(Contract)
        .where(Contract.id == contract_id)
        .options(
            joinedload(Contract.campaign),
            selectinload(Contract.versions).options(
                selectinload(ContractVersion.lines),
                joinedload(ContractVersion.created_by),
                selectinload(ContractVersion.acceptances).joinedload(ContractAcceptance.user),
            ),
        )
    )


def responses_by_version(contract):
    """{version id: [responses, oldest first]} for a contract's versions."""
    ids = [v.id for v in contract.versions]
    found = {}
    if not ids:
        return found
    rows = db.session.scalars(
        select(ContractResponse)
        .where(ContractResponse.version_id.in_(ids))
        .options(joinedload(ContractResponse.user))
        .order_by(ContractResponse.created_at, ContractResponse.id)
    ).all()
    for response in rows:
        found.setdefault(response.version_id, []).append(response)
    return found


def version_of(contract, number):
    """A contract's version by number, or None."""
    return next((v for v in contract.versions if v.number == number), None)


def campaigns_for(workroom):
    """The brand's campaigns a new contract can belong to (not archived), by name."""
    return db.session.scalars(
        select(Campaign)
        .where(Campaign.brand_id == workroom.brand_id, Campaign.status != CampaignStatus.archived)
        .order_by(Campaign.name, Campaign.id)
    ).all()


def diff_versions(old, new):
    """The rows of a line diff between two versions' canonical text renderings."""
    return diff_lines(terms_text(Terms.of_version(old)), terms_text(Terms.of_version(new)))


def unified_diff(old, new):
    """The same comparison as a unified diff (plain text)."""
    return unified(
        terms_text(Terms.of_version(old)),
        terms_text(Terms.of_version(new)),
        f"version {old.number}",
        f"version {new.number}",
    )


# Renewals -------------------------------------------------------------------------------


def next_contract_of(contract):
    """The contract that renews this one (there is at most one), or None."""
    return db.session.scalar(select(Contract).where(Contract.renews_id == contract.id))


def renewal_decisions_of(contract):
    """The brand's renewal decisions about a contract, newest first (the first one counts)."""
    return db.session.scalars(
        select(RenewalDecision)
        .where(RenewalDecision.contract_id == contract.id)
        .options(joinedload(RenewalDecision.decided_by))
        .order_by(RenewalDecision.created_at.desc(), RenewalDecision.id.desc())
    ).all()


def latest_renewal_decision(contract):
    """The renewal decision that counts (the newest), or None."""
    return db.session.scalar(
        select(RenewalDecision)
        .where(RenewalDecision.contract_id == contract.id)
        .order_by(RenewalDecision.created_at.desc(), RenewalDecision.id.desc())
        .limit(1)
    )


def opt_outs_of(contract):
    """The sides' opt-outs of a contract's auto-renewal, oldest first."""
    return db.session.scalars(
        select(AutoRenewOptOut)
        .where(AutoRenewOptOut.contract_id == contract.id)
        .options(joinedload(AutoRenewOptOut.user))
        .order_by(AutoRenewOptOut.created_at, AutoRenewOptOut.id)
    ).all()


def renewal_settled(contract):
    """True once nobody owes notice about the contract's renewal: the brand decided, or a
    next contract exists. The renewal reminders stop then."""
    decided = select(RenewalDecision.id).where(RenewalDecision.contract_id == contract.id)
    renewed = select(Contract.id).where(Contract.renews_id == contract.id)
    return bool(db.session.scalar(select(decided.exists() | renewed.exists())))


@dataclass
class RenewalPack:
    """What the renewal page shows: how the term went, its dates, auto-renewal, decisions."""

    contract: Contract
    version: ContractVersion | None  #: the terms in force (None before any acceptance)
    facts: object  #: portal.reports.facts.ContractFacts
    figures: object  #: portal.reports.queries.Figures: results, engagements, costs
    today: date  #: the UTC date the pack was built on
    decisions: list  #: newest first; the first one counts
    opt_outs: list
    next_contract: Contract | None
    previous: Contract | None  #: the contract this one renews

    @property
    def renews_on(self):
        """The renewal date (the end of the term unless the terms name one)."""
        return self.version.renews_on if self.version else None

    @property
    def notice_deadline(self):
        """The last day to give notice."""
        return self.version.notice_deadline if self.version else None

    @property
    def days_left(self):
        """Days from today to the notice deadline (negative once it passed)."""
        return (self.notice_deadline - self.today).days if self.version else None

    @property
    def decision(self):
        """The decision that counts, or None."""
        return self.decisions[0] if self.decisions else None

    @property
    def may_give_notice(self):
        """True through the notice deadline's day."""
        return self.version is not None and self.today <= self.notice_deadline

    @property
    def will_auto_renew(self):
        """True while the contract is set to renew itself on its renewal date."""
        return (
            self.contract.status is ContractStatus.active
            and self.version is not None
            and self.version.auto_renew
            and not self.opt_outs
            and self.next_contract is None
            and not (self.decision and self.decision.decision is RenewalChoice.lapse)
        )

    def opted_out(self, side):
        """The side's opt-out, or None."""
        return next((o for o in self.opt_outs if o.side is side), None)


def renewal_pack(contract, *, now=None):
    """The renewal pack of a contract, in a fixed number of queries."""
    now = now or utcnow()
    (report,) = build_report(one_contract(contract), now=now).contracts
    return RenewalPack(
        contract=contract,
        version=contract.accepted_version,
        facts=report.facts,
        figures=report.figures,
        today=now.date(),
        decisions=renewal_decisions_of(contract),
        opt_outs=opt_outs_of(contract),
        next_contract=next_contract_of(contract),
        previous=db.session.get(Contract, contract.renews_id) if contract.renews_id else None,
    )
