"""Reads about contracts that the workroom page, the contract pages and jobs share."""

from sqlalchemy import func, select
from sqlalchemy.orm import aliased, joinedload, selectinload

from portal.campaigns.models import Campaign, CampaignStatus
from portal.contracts.models import (
    Contract,
    ContractAcceptance,
    ContractResponse,
    ContractStatus,
    ContractVersion,
    VersionState,
)
from portal.contracts.terms import Terms, terms_text
from portal.extensions import db
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
