"""UP-8: revisions stay immutable and gapless when the creator's submissions race.

Each round, eight threads (separate sessions and connections) submit a revision of the same
deliverable at once: exactly one wins and the others are refused cleanly; the brand then
asks for changes and the next round starts. Numbers run 1..n without gaps or duplicates and
revision 1's file keeps its bytes. On PostgreSQL (row locks); SQLite serialises writers.
"""

import hashlib
import io
import threading

import pytest
from sqlalchemy import select

from portal.accounts.models import User
from portal.deliverables import services
from portal.deliverables.models import Deliverable, ReviewDecision, Revision, RevisionState
from portal.errors import DomainError
from portal.extensions import db
from portal.storage import get_storage
from portal.workrooms.uploads import Upload
from tests.contracts.conftest import seat

THREADS = 8
ROUNDS = 3


def submit_once(app, active, n, barrier, outcomes):
    """One racing submission in its own session."""
    with app.app_context():
        creator = db.session.get(User, active.pair.creator.id)
        deliverable = db.session.get(Deliverable, active.deliverable_ids[0])
        data = f"cut {n}".encode()
        upload = Upload(f"cut-{n}.txt", "text/plain", io.BytesIO(data), len(data))
        barrier.wait()
        try:
            revision = services.submit_revision(
                deliverable,
                creator,
                seat(creator.id, active.workroom_id),
                f"Cut {n}",
                uploads=[upload],
                client_token=f"token-{n}",
            )
            db.session.commit()
            outcomes.append(("ok", revision.number))
        except DomainError as error:
            db.session.rollback()
            outcomes.append(("refused", type(error).__name__))
        finally:
            db.session.remove()


def request_changes(app, active):
    """The brand asks for changes to the revision in review."""
    with app.app_context():
        owner = db.session.get(User, active.pair.owner.id)
        revision = db.session.scalars(
            select(Revision).where(Revision.state == RevisionState.in_review)
        ).one()
        services.review_revision(
            revision,
            owner,
            seat(owner.id, active.workroom_id),
            ReviewDecision.request_changes,
            feedback="Again",
        )
        deliverable = revision.deliverable
        deliverable.extra_rounds = ROUNDS  # room for every round of this test
        db.session.commit()


def test_up8_racing_submissions_give_gapless_immutable_revisions(app, active):
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        pytest.skip("UP-8 runs on PostgreSQL")
    first_hash = None
    for round_no in range(1, ROUNDS + 1):
        barrier, outcomes = threading.Barrier(THREADS), []
        threads = [
            threading.Thread(
                target=submit_once, args=(app, active, round_no * 100 + n, barrier, outcomes)
            )
            for n in range(THREADS)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        winners = [number for kind, number in outcomes if kind == "ok"]
        assert winners == [round_no], outcomes
        assert len(outcomes) == THREADS
        if round_no == 1:
            with app.app_context():
                revision = db.session.scalars(select(Revision)).one()
                first_hash = revision.files[0].sha256
        if round_no < ROUNDS:
            request_changes(app, active)
    with app.app_context():
        revisions = db.session.scalars(select(Revision).order_by(Revision.number)).all()
        assert [r.number for r in revisions] == list(range(1, ROUNDS + 1))
        first_file = revisions[0].files[0]
        assert first_file.sha256 == first_hash
        stored = get_storage().open(first_file.storage_key).read()
        assert hashlib.sha256(stored).hexdigest() == first_hash
