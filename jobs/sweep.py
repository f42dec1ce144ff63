"""How sweeps work through their candidates: find ids, then one transaction per object."""

import logging

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, OperationalError

from portal.errors import DomainError
from portal.extensions import db

log = logging.getLogger(__name__)

#: failures that concern one object (a refused transition, a lost race, a lock timeout);
#: the sweep rolls that object back, goes on with the others and fails at the end
PER_OBJECT_ERRORS = (DomainError, IntegrityError, OperationalError)


class SweepIncomplete(RuntimeError):
    """Some objects of a sweep failed; the others were committed."""


def candidate_ids(query):
    """The candidates' ids; the reading transaction ends here (SQLite's write lock too)."""
    ids = db.session.scalars(query).all()
    db.session.commit()
    return ids


def each_alone(model, ids, action):
    """Run `action` on each object and commit it alone; the total of what it reports
    (a count, or a row for one change, None for nothing done)."""
    total, failed = 0, []
    for object_id in ids:
        try:
            obj = db.session.get(model, object_id)
            result = action(obj) if obj is not None else None
            db.session.commit()
        except PER_OBJECT_ERRORS:
            db.session.rollback()
            log.exception("%s %s: sweep step failed", model.__name__, object_id)
            failed.append(object_id)
            continue
        total += result if isinstance(result, int) else int(result is not None)
    if failed:
        raise SweepIncomplete(f"{len(failed)} of {len(ids)} {model.__tablename__} failed: {failed}")
    return total


def together_or_alone(model, ids, action):
    """Run `action` on all the objects at once in one transaction (a batch writes its rows
    together); when that fails, roll it back and run it on each object alone, so one bad
    object holds up no other (each_alone raises at the end for the ones that failed)."""
    if not ids:
        return
    try:
        action(db.session.scalars(select(model).where(model.id.in_(ids))).all())
        db.session.commit()
    except PER_OBJECT_ERRORS:
        db.session.rollback()
        log.warning("%s batch of %d failed; going one by one", model.__tablename__, len(ids))
        each_alone(model, ids, lambda obj: action([obj]))
