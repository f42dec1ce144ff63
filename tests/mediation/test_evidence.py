"""The mediator's evidence: what gather finds, the bundle service, and the bundle job run by a
real worker (and in-process for its failure path)."""

import io
import json
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
from flask import render_template
from rq import Queue
from sqlalchemy import select

from jobs import evidence as evidence_job
from jobs.evidence import build_bundle
from portal.deliverables import services as deliverable_services
from portal.deliverables.models import ReviewDecision
from portal.errors import NotAllowed
from portal.extensions import db
from portal.mediation import evidence, services
from portal.mediation.models import BundleState, EvidenceBundle, Ticket
from portal.workrooms import services as workroom_services
from tests.mediation.conftest import NOW, Actors, in_mediation

BEFORE = NOW - timedelta(days=6)  #: work done before the ticket, inside the evidence window


def submit(cast, text, *, now=BEFORE):
    """The creator submits the next revision of the video."""
    return deliverable_services.submit_revision(cast.video, cast.creator, cast.maker, text, now=now)


def ask_for_changes(cast, revision, *, now=BEFORE):
    """The brand sends a revision back with feedback."""
    return deliverable_services.review_revision(
        revision,
        cast.owner,
        cast.brand,
        ReviewDecision.request_changes,
        feedback="Shorter intro, please.",
        internal="Brand-only: the intern's cut was better.",
        now=now,
    )


def evidence_files(app):
    """The archives in the evidence folder."""
    root = Path(app.config["EVIDENCE_DIR"])
    return sorted(root.glob("*/*")) if root.is_dir() else []


# Gathering ----------------------------------------------------------------------------------


def test_gather_finds_the_named_work_the_hash_the_funding_and_a_verified_chain(cast):
    submit(cast, "Cut one #ad")
    workroom_services.post_message(cast.maker, cast.creator, "Uploading tonight.", now=BEFORE)
    workroom_services.post_message(
        cast.brand, cast.owner, "Brand note: stall them.", internal=True, now=BEFORE
    )
    gone = workroom_services.post_message(cast.maker, cast.creator, "Oops, typo", now=BEFORE)
    workroom_services.delete_message(gone, cast.creator, now=BEFORE)
    ticket = in_mediation(cast)

    found = evidence.gather(ticket, now=NOW)

    assert found.deliverables_named
    assert [d.id for d in found.deliverables] == [cast.video.id]
    assert [r.number for r in found.deliverables[0].revisions] == [1]
    assert [c.id for c in found.contracts] == [cast.contract.id]
    accepted = found.contracts[0].accepted_version
    assert accepted.sha256 == cast.contract.accepted_version.sha256 and len(accepted.sha256) == 64
    keys = [t.idempotency_key for t in found.transactions]
    for milestone in (cast.milestone, cast.second):
        assert f"fund:milestone:{milestone.id}" in keys
        assert f"escrow:milestone:{milestone.id}" in keys
    assert all(sum(e.amount_minor for e in t.entries) == 0 for t in found.transactions)
    assert found.milestones == [cast.milestone]
    assert found.chain_verified and found.chain == f"workroom:{cast.contract.workroom_id}"
    assert "ticket.opened" in [e.action for e in found.events]
    # The log from a week before the video's due date to a day after the opening.
    assert found.messages_from == cast.video.due_at - timedelta(days=7)
    assert found.messages_until == NOW + timedelta(days=1)
    bodies = [m.body_md for m in found.messages]
    assert "Uploading tonight." in bodies
    assert any("opened the ticket" in body for body in bodies)
    assert "Brand note: stall them." not in bodies  # one side's note
    assert "Oops, typo" not in bodies  # deleted
    assert [m.seq for m in found.messages] == sorted(m.seq for m in found.messages)
    assert all(found.messages_from <= m.created_at <= found.messages_until for m in found.messages)


def test_a_ticket_naming_no_deliverable_shows_all_of_the_workrooms(cast):
    ticket = services.open_ticket(
        cast.maker, cast.creator, "conduct", "Tone in the workroom", "The brand was rude.", now=NOW
    )
    found = evidence.gather(ticket, now=NOW)
    assert not found.deliverables_named
    assert [d.id for d in found.deliverables] == [cast.video.id, cast.story.id]
    assert found.milestones == []
    assert found.messages_from == NOW - timedelta(days=7)


def test_gather_runs_as_many_statements_for_three_revisions_as_for_one(case, cast, count_queries):
    submit(cast, "Cut one #ad")
    ticket_id = in_mediation(cast).id

    def statements():
        db.session.commit()
        db.session.expunge_all()  # nothing loaded beforehand: every query runs
        with count_queries() as counted:
            ticket = db.session.get(Ticket, ticket_id)
            found = evidence.gather(ticket, now=NOW)
            evidence.as_json(found, ticket)  # touches everything the bundle shows
        return len(counted), found

    one, found = statements()
    assert [r.number for r in found.deliverables[0].revisions] == [1]
    cast = Actors(case)
    ask_for_changes(cast, cast.video.revisions[0])
    ask_for_changes(cast, submit(cast, "Cut two #ad"))
    submit(cast, "Cut three #ad")
    three, found = statements()
    assert [r.number for r in found.deliverables[0].revisions] == [1, 2, 3]
    assert [r.review is not None for r in found.deliverables[0].revisions] == [True, True, False]
    assert three == one


def test_as_json_is_plain_data_with_minor_units_and_iso_times(cast):
    ticket = in_mediation(cast)
    data = evidence.as_json(evidence.gather(ticket, now=NOW), ticket)
    text = json.dumps(data, sort_keys=True)
    assert json.loads(text)["ticket"]["id"] == ticket.id
    (milestone,) = data["milestones"]
    assert milestone["amount"] == {"amount_minor": 100000, "currency": "USD"}
    assert data["ticket"]["created_at"] == NOW.isoformat()
    assert data["contracts"][0]["accepted_version"]["sha256"] == (
        cast.contract.accepted_version.sha256
    )
    assert data["audit"]["verified"] is True and data["audit"]["broken_at"] is None


def test_the_pane_renders_every_section_with_links(app, cast):
    ticket = in_mediation(cast)
    found = evidence.gather(ticket, now=NOW)
    with app.test_request_context():
        html = render_template("mediation/_evidence.html", evidence=found, ticket=ticket)
    for heading in ("Contracts", "Deliverables", "Messages", "Money history", "Milestones"):
        assert f">{heading}</h3>" in html
    assert cast.contract.accepted_version.sha256 in html
    assert f"/deliverables/{cast.video.id}" in html
    assert f"/milestones/{cast.milestone.id}" in html
    assert "Chain verified." in html


def test_the_bundle_page_escapes_what_people_wrote(cast):
    ticket = services.open_ticket(
        cast.maker,
        cast.creator,
        "other",
        "<script>alert(1)</script>",
        "Look: <img src=x onerror=alert(2)>",
        now=NOW,
    )
    html = render_template(
        "mediation/evidence_bundle.html", ticket=ticket, evidence=evidence.gather(ticket, now=NOW)
    )
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "onerror" not in html
    assert "chain verified" in html.lower()


# Asking for a bundle ------------------------------------------------------------------------


def test_only_the_tickets_mediator_asks_for_a_bundle(cast):
    ticket = in_mediation(cast)
    for outsider in (cast.colleague, cast.owner, cast.creator):
        with pytest.raises(NotAllowed):
            evidence.request_bundle(ticket, outsider, now=NOW)
    assert db.session.query(EvidenceBundle).count() == 0


def test_asking_twice_returns_the_bundle_already_queued(app, cast):
    ticket = in_mediation(cast)
    bundle = evidence.request_bundle(ticket, cast.mediator, now=NOW)
    assert (bundle.state, bundle.progress, bundle.created_at) == (BundleState.queued, 0, NOW)
    assert evidence.request_bundle(ticket, cast.mediator, now=NOW) is bundle
    bundle_id = bundle.id
    db.session.commit()
    queue = Queue("default", connection=app.extensions["redis"])
    assert queue.job_ids == [f"evidence-bundle-{bundle_id}"]
    assert evidence.request_bundle(ticket, cast.mediator, now=NOW).id == bundle_id


# Building it --------------------------------------------------------------------------------


def test_a_real_worker_builds_the_bundle_without_private_notes(app, cast, run_worker):
    ticket = in_mediation(cast)
    services.post_as_mediator(
        ticket, cast.mediator, "PRIVATE: the brand seems to be stalling.", private=True, now=NOW
    )
    services.post_as_mediator(ticket, cast.mediator, "Please both send your cuts.", now=NOW)
    bundle_id = evidence.request_bundle(ticket, cast.mediator, now=NOW).id
    ticket_id, sha256 = ticket.id, cast.contract.accepted_version.sha256
    db.session.commit()
    db.session.close()  # SQLite: hold no lock while the worker writes
    before = len(evidence_files(app))

    run_worker("default")

    bundle = db.session.get(EvidenceBundle, bundle_id)
    assert (bundle.state, bundle.progress, bundle.error) == (BundleState.ready, 100, "")
    assert bundle.finished_at is not None and bundle.size_bytes > 0
    with evidence.bundle_storage().open(bundle.storage_key) as stored:
        archive = zipfile.ZipFile(io.BytesIO(stored.read()))
    assert sorted(archive.namelist()) == ["evidence.html", "evidence.json"]
    html = archive.read("evidence.html").decode()
    raw = archive.read("evidence.json").decode()
    data = json.loads(raw)
    assert data["ticket"]["id"] == ticket_id
    assert data["contracts"][0]["accepted_version"]["sha256"] == sha256
    assert sha256 in html and "Video payment withheld" in html
    for text in (html, raw):
        assert "Please both send your cuts." in text
        assert "PRIVATE" not in text and "stalling" not in text
    assert [p["kind"] for p in data["ticket_thread"]].count("private") == 0
    assert len(evidence_files(app)) == before + 1

    assert build_bundle(bundle_id) == "nothing to do"
    assert len(evidence_files(app)) == before + 1
    assert db.session.get(EvidenceBundle, bundle_id).storage_key == bundle.storage_key


def test_each_step_commits_its_progress_for_the_polling_page(app, cast, monkeypatch):
    ticket = in_mediation(cast)
    bundle_id = evidence.request_bundle(ticket, cast.mediator, now=NOW).id
    db.session.commit()
    seen = []
    record = evidence_job._progress

    def progress_seen_by_another_connection(bundle, percent, **kwargs):
        record(bundle, percent, **kwargs)
        with db.engine.connect() as other:
            seen.append(
                other.execute(
                    select(EvidenceBundle.state, EvidenceBundle.progress).where(
                        EvidenceBundle.id == bundle_id
                    )
                ).one()
            )

    monkeypatch.setattr(evidence_job, "_progress", progress_seen_by_another_connection)
    build_bundle(bundle_id, now=NOW)
    percents = [percent for _state, percent in seen]
    assert percents == sorted(percents) and percents[0] == 5 and percents[-1] == 90
    assert len(percents) >= 8
    assert {state for state, _percent in seen} == {BundleState.building}
    bundle = db.session.get(EvidenceBundle, bundle_id)
    assert (bundle.state, bundle.progress) == (BundleState.ready, 100)


def test_a_failed_build_is_recorded_and_raised_then_a_retry_builds_it(app, cast, monkeypatch):
    ticket = in_mediation(cast)
    bundle_id = evidence.request_bundle(ticket, cast.mediator, now=NOW).id
    db.session.commit()
    before = len(evidence_files(app))

    def broken(*args, **kwargs):
        raise RuntimeError("the disk is on fire")

    monkeypatch.setattr(evidence_job, "gather", broken)
    with pytest.raises(RuntimeError):
        build_bundle(bundle_id)
    bundle = db.session.get(EvidenceBundle, bundle_id)
    assert bundle.state is BundleState.failed
    assert bundle.error == "RuntimeError: the disk is on fire"
    assert bundle.storage_key is None and len(evidence_files(app)) == before

    monkeypatch.undo()
    build_bundle(bundle_id, now=NOW)
    db.session.refresh(bundle)
    assert (bundle.state, bundle.error) == (BundleState.ready, "")
    assert len(evidence_files(app)) == before + 1


def test_a_long_error_is_cut_to_the_column(app, cast, monkeypatch):
    ticket = in_mediation(cast)
    bundle_id = evidence.request_bundle(ticket, cast.mediator, now=NOW).id
    db.session.commit()

    def broken(*args, **kwargs):
        raise ValueError("x" * 2000)

    monkeypatch.setattr(evidence_job, "gather", broken)
    with pytest.raises(ValueError):
        build_bundle(bundle_id)
    assert len(db.session.get(EvidenceBundle, bundle_id).error) == 500
