"""Contract terms: auto-renewals on their renewal date, and expiry past the end of a term.

Each sweep finds its candidates with an indexed query, then hands each contract to a service
in a transaction of its own. The services lock the workroom and re-check everything (and
contracts.renews_id is unique), so a sweep may run twice, late, or on two workers at once.
"""

from sqlalchemy import func, select
from sqlalchemy.orm import aliased

from jobs.sweep import candidate_ids, each_alone
from portal.contracts.models import (
    AutoRenewOptOut,
    Contract,
    ContractStatus,
    ContractVersion,
    VersionState,
)
from portal.contracts.renewals import auto_renew_contract, expire_contract
from portal.database import utcnow


def _active_with_terms(*where):
    """Ids of active contracts with an accepted version matching the conditions (the
    services re-check against the newest accepted version)."""
    return (
        select(Contract.id)
        .join(ContractVersion, ContractVersion.contract_id == Contract.id)
        .where(
            Contract.status == ContractStatus.active,
            ContractVersion.state == VersionState.accepted,
            *where,
        )
        .distinct()
        .order_by(Contract.id)
    )


def sweep_auto_renewals(now=None):
    """Renew every auto-renew contract whose renewal date has come, nobody opted out of,
    the brand did not let lapse and that has no next contract; returns how many."""
    now = now or utcnow()
    following = aliased(Contract)
    ids = candidate_ids(
        _active_with_terms(
            ContractVersion.auto_renew.is_(True),
            func.coalesce(ContractVersion.renewal_date, ContractVersion.ends_on) <= now.date(),
            ~select(AutoRenewOptOut.id).where(AutoRenewOptOut.contract_id == Contract.id).exists(),
            ~select(following.id).where(following.renews_id == Contract.id).exists(),
        )
    )
    return each_alone(Contract, ids, lambda contract: auto_renew_contract(contract, now=now))


def sweep_expired(now=None):
    """Expire every active contract whose term ended (UTC date) without a renewal; returns
    how many."""
    now = now or utcnow()
    ids = candidate_ids(_active_with_terms(ContractVersion.ends_on < now.date()))
    return each_alone(Contract, ids, lambda contract: expire_contract(contract, now=now))
