"""Reads the close-out pages and the contract page share."""

from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload

from portal.closeouts.models import Closeout, CloseoutAcceptance, CloseoutStatus
from portal.contracts.models import Contract, ContractStatus
from portal.database import utcnow
from portal.deliverables.models import OPEN_STATUSES, Deliverable, DeliverableStatus
from portal.deliverables.services import due_at_for
from portal.extensions import db
from portal.workrooms.models import Side

#: deliverables that are not finished: a contract past its term with any of them closes out
UNFINISHED = (*OPEN_STATUSES, DeliverableStatus.submitted)
#: contracts a close-out may end: running ones, and expired ones with work left unfinished
CLOSABLE = (ContractStatus.active, ContractStatus.expired)


def closeout_page(closeout_id):
    """A close-out with everything its page shows, in a fixed number of queries."""
    return db.session.scalar(
        select(Closeout)
        .where(Closeout.id == closeout_id)
        .options(
            joinedload(Closeout.contract).selectinload(Contract.versions),
            joinedload(Closeout.proposed_by),
            joinedload(Closeout.ticket),
            selectinload(Closeout.lines),
            selectinload(Closeout.acceptances).joinedload(CloseoutAcceptance.user),
        )
    )


def closeouts_of(contract):
    """A contract's close-outs, newest first."""
    return db.session.scalars(
        select(Closeout).where(Closeout.contract_id == contract.id).order_by(Closeout.id.desc())
    ).all()


def open_closeout(contract):
    """The contract's proposed close-out, or None."""
    return db.session.scalar(
        select(Closeout).where(
            Closeout.contract_id == contract.id, Closeout.status == CloseoutStatus.proposed
        )
    )


def unfinished_count(contract):
    """How many of the contract's deliverables are not finished."""
    return len(
        db.session.scalars(
            select(Deliverable.id).where(
                Deliverable.contract_id == contract.id, Deliverable.status.in_(UNFINISHED)
            )
        ).all()
    )


def past_term(contract, *, now=None):
    """Whether the contract's term is over: its last day ended, in the creator's time zone."""
    version = contract.accepted_version
    if version is None:
        return False
    now = now or utcnow()
    return now > due_at_for(version.ends_on, contract.workroom.creator.timezone)


def panel(contract, *, now=None):
    """What the contract page says about closing out: the open close-out, the last ended
    ones, whether the term is over with work unfinished, and whether one may be proposed."""
    closeouts = closeouts_of(contract) if contract.status is not ContractStatus.draft else []
    open_one = next((c for c in closeouts if c.status is CloseoutStatus.proposed), None)
    closable = contract.status in CLOSABLE
    unfinished = unfinished_count(contract) if closable else 0
    expired = contract.status is ContractStatus.expired
    return {
        "open": open_one,
        "closeouts": closeouts,
        "can_propose": closable and open_one is None and (unfinished > 0 or not expired),
        "unfinished": unfinished,
        "term_over": closable and unfinished > 0 and past_term(contract, now=now),
    }


def waiting_side(closeout):
    """The side whose acceptance the close-out waits for, or None."""
    if closeout.status is not CloseoutStatus.proposed:
        return None
    missing = [side for side in Side if closeout.accepted_by(side) is None]
    return missing[0] if missing else None
