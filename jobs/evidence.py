"""Evidence bundles: one job per bundle gathers the ticket's evidence and stores it as a ZIP
of `evidence.html` and `evidence.json`, committing its progress for the page that polls it.

The job is safe to run twice: a ready bundle is left alone, and a run that finds another
one finished first throws its own archive away.
"""

import json
import tempfile
import zipfile
from contextlib import contextmanager

from flask import render_template

from portal.database import utcnow
from portal.extensions import db
from portal.mediation.evidence import as_json, bundle_storage, gather
from portal.mediation.models import BundleState, EvidenceBundle
from portal.storage import discard_unless_committed

MAX_ERROR = 500


def build_bundle(bundle_id, now=None):
    """Build one evidence bundle (a no-op when it is ready); a failure is recorded on the
    bundle and raised for RQ."""
    bundle = db.session.get(EvidenceBundle, bundle_id)
    if bundle is None or bundle.state is BundleState.ready:
        return "nothing to do"
    try:
        with _keeping_loaded_rows():
            return _build(bundle, now or utcnow())
    except Exception as error:  # recorded for the mediator, then re-raised for RQ
        db.session.rollback()
        _record_failure(bundle_id, error)
        raise


@contextmanager
def _keeping_loaded_rows():
    """Progress commits must not expire what gather loaded: reading it back row by row
    would undo the eager loading."""
    session = db.session()
    expire = session.expire_on_commit
    session.expire_on_commit = False
    try:
        yield
    finally:
        session.expire_on_commit = expire


def _build(bundle, now):
    """Gather, render, archive and store; returns the storage key."""
    bundle.error = ""  # a retry after a failure starts clean
    _progress(bundle, 5, state=BundleState.building)
    ticket = bundle.ticket
    evidence = gather(ticket, now=now, progress=lambda percent: _progress(bundle, percent))
    html = render_template("mediation/evidence_bundle.html", ticket=ticket, evidence=evidence)
    _progress(bundle, 70)
    data = json.dumps(as_json(evidence, ticket), indent=2, sort_keys=True)
    _progress(bundle, 80)
    storage = bundle_storage()
    with tempfile.TemporaryFile() as archive:
        _write_zip(archive, {"evidence.html": html, "evidence.json": data})
        _progress(bundle, 90)
        stored = storage.save(archive)
    discard_unless_committed(db.session, storage, stored.key)
    db.session.refresh(bundle, with_for_update=True)
    if bundle.state is BundleState.ready:  # another run finished first: keep its archive
        db.session.rollback()
        return bundle.storage_key
    bundle.storage_key, bundle.size_bytes = stored.key, stored.size
    bundle.state, bundle.progress, bundle.finished_at = BundleState.ready, 100, utcnow()
    db.session.commit()
    return stored.key


def _progress(bundle, percent, *, state=None):
    """Record how far the build got and commit, so a polling page sees it."""
    if state is not None:
        bundle.state = state
    bundle.progress = percent
    db.session.commit()


def _write_zip(archive, files):
    """Write {name: text} into a ZIP file object and rewind it for reading."""
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zipped:
        for name, text in files.items():
            zipped.writestr(name, text)
    archive.seek(0)


def _record_failure(bundle_id, error):
    """Mark the bundle failed with a short reason the mediator can read."""
    bundle = db.session.get(EvidenceBundle, bundle_id)
    if bundle is None:
        return
    bundle.state, bundle.finished_at = BundleState.failed, utcnow()
    bundle.error = f"{type(error).__name__}: {error}"[:MAX_ERROR]
    db.session.commit()
