"""Reads about contracts that the workroom page and jobs share."""

from sqlalchemy import select

from portal.contracts.models import Contract
from portal.extensions import db


def contracts_of(workroom):
    """A workroom's contracts, newest first."""
    return db.session.scalars(
        select(Contract).where(Contract.workroom_id == workroom.id).order_by(Contract.id.desc())
    ).all()


def waiting_on(workroom):
    """What waits on whom in a workroom: a list of (Side, sentence)."""
    return []
