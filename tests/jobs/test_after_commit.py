"""Jobs go to Redis when the whole transaction commits, never when a savepoint ends (Q-9),
and what a transaction remembers about its locks ends with it."""

from portal.database import transaction_memo
from portal.extensions import db
from portal.queue import enqueue_after_commit
from portal.workrooms.models import Workroom
from portal.workrooms.services import lock_workroom
from tests.contracts.conftest import pair as pair  # a fixture


def queued(app):
    return app.extensions["redis"].llen("rq:queue:default")


def test_a_released_savepoint_does_not_send_the_transactions_jobs(app, app_ctx):
    enqueue_after_commit(db.session, "jobs.mail.deliver_pending_emails")
    with db.session.begin_nested():
        pass
    assert queued(app) == 0
    db.session.commit()
    assert queued(app) == 1


def test_a_rolled_back_savepoint_keeps_the_transactions_jobs(app, app_ctx):
    enqueue_after_commit(db.session, "jobs.mail.deliver_pending_emails")
    nested = db.session.begin_nested()
    nested.rollback()
    assert queued(app) == 0
    db.session.commit()
    assert queued(app) == 1


def test_rolling_back_the_transaction_drops_its_jobs_even_inside_a_savepoint(app, app_ctx):
    enqueue_after_commit(db.session, "jobs.mail.deliver_pending_emails")
    db.session.begin_nested()
    db.session.rollback()
    db.session.commit()
    assert queued(app) == 0


def test_locks_are_remembered_until_the_transaction_ends(app, pair, app_ctx):
    workroom = db.session.get(Workroom, pair.workroom_id)
    lock_workroom(workroom)
    locked = transaction_memo(db.session, "locked_workrooms")
    assert workroom.id in locked
    with db.session.begin_nested():
        pass
    assert workroom.id in transaction_memo(db.session, "locked_workrooms")  # still ours
    db.session.begin_nested().rollback()
    assert transaction_memo(db.session, "locked_workrooms") == {}  # maybe undone: re-lock
    lock_workroom(workroom)
    db.session.commit()
    assert transaction_memo(db.session, "locked_workrooms") == {}
