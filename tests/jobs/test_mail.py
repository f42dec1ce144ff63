"""Mail is queued in the database and sent by a real RQ worker over real SMTP."""

from datetime import timedelta

from sqlalchemy import select

from jobs.mail import deliver_email, deliver_pending_emails
from portal.database import utcnow
from portal.extensions import db
from portal.notifications.emails import build_message, queue_email
from portal.notifications.models import OutboundEmail
from tests.factories import body_text


def queue_one(app, to="cora@example.com"):
    """Queue a reset-style email inside a request context and commit it."""
    with app.test_request_context():
        queue_email(
            "test",
            to,
            "Cora",
            "Hello from Duet",
            "password_reset",
            user=type("U", (), {"name": "Cora"}),
            link="https://localhost/reset/x",
            hours=1,
        )
        db.session.commit()
        return db.session.scalar(select(OutboundEmail.id))


def test_commit_enqueues_and_a_real_worker_sends_once(app, smtp_server, run_worker):
    email_id = queue_one(app)
    run_worker("mail", extra_env={"MAIL_PORT": smtp_server.port})
    run_worker("mail", extra_env={"MAIL_PORT": smtp_server.port})
    messages = smtp_server.to("cora@example.com")
    assert len(messages) == 1
    assert messages[0]["Subject"] == "Hello from Duet"
    assert "https://localhost/reset/x" in body_text(messages[0])
    with app.app_context():
        assert db.session.get(OutboundEmail, email_id).sent_at is not None


def test_rolled_back_transaction_enqueues_nothing(app):
    with app.test_request_context():
        queue_email(
            "test",
            "x@example.com",
            "X",
            "Never",
            "password_reset",
            user=type("U", (), {"name": "X"}),
            link="https://localhost/reset/x",
            hours=1,
        )
        db.session.rollback()
    assert app.extensions["redis"].llen("rq:queue:mail") == 0


def test_running_the_job_twice_sends_once(app, app_ctx, smtp_server):
    email_id = queue_one(app)
    assert deliver_email(email_id) == "sent"
    assert deliver_email(email_id) == "nothing to do"
    assert len(smtp_server.messages()) == 1


def test_smtp_failure_is_recorded_and_raised_for_retry(app, app_ctx):
    email_id = queue_one(app)
    app.config["MAIL_PORT"] = 1  # nothing listens there
    try:
        deliver_email(email_id)
    except OSError:
        pass
    else:
        raise AssertionError("an unreachable SMTP server must raise")
    email = db.session.get(OutboundEmail, email_id)
    assert email.sent_at is None
    assert email.attempts == 1
    assert "Error" in email.last_error


def test_sweep_requeues_unsent_mail_lost_by_redis(app, smtp_server, run_worker):
    email_id = queue_one(app)
    app.extensions["redis"].flushdb()  # Redis loses the job
    with app.app_context():
        email = db.session.get(OutboundEmail, email_id)
        email.created_at = utcnow() - timedelta(minutes=5)
        db.session.commit()
        assert deliver_pending_emails() == 1
        assert deliver_pending_emails() == 1  # the same job id: no second copy queued
    assert app.extensions["redis"].llen("rq:queue:mail") == 1
    run_worker("mail", extra_env={"MAIL_PORT": smtp_server.port})
    assert len(smtp_server.messages()) == 1


def test_header_injection_in_subject_and_name_stays_in_one_header(app, app_ctx):
    email = OutboundEmail(
        kind="t",
        to_address="a@example.com",
        to_name="Eve\r\nBcc: a@evil.example",
        subject="Hi\r\nBcc: b@evil.example",
        text_body="x",
        html_body="",
    )
    message = build_message(email, "Duet <no-reply@duet.localhost>")
    raw = message.as_string()
    assert "\nBcc:" not in raw
    assert message["Bcc"] is None


def test_sent_mail_keeps_no_live_link_in_the_database(app, app_ctx, smtp_server):
    email_id = queue_one(app)
    deliver_email(email_id)
    email = db.session.get(OutboundEmail, email_id)
    assert "/reset/x" not in email.text_body + email.html_body
    assert "/reset/[redacted]" in email.text_body
    assert "https://localhost/reset/x" in body_text(smtp_server.messages()[0])


def queue_bulk(count, suppressed=()):
    """`count` subscription emails queued without jobs of their own; their ids."""
    from portal.notifications.emails import queue_email
    from portal.notifications.lists import suppress

    for address in suppressed:
        suppress(address, "digest", "unsubscribe")
    emails = [
        queue_email(
            "digest",
            f"reader{n}@example.com",
            f"Reader {n}",
            f"Digest {n}",
            "password_reset",
            list_id="digest",
            unsubscribe_url="https://localhost/unsubscribe/x",
            send=False,
            user=type("U", (), {"name": f"Reader {n}"}),
            link="https://localhost/",
            hours=1,
        )
        for n in range(count)
    ]
    db.session.commit()
    return [email.id for email in emails]


def test_a_batch_goes_over_one_connection_and_skips_suppressed_and_sent_mail(
    app, app_ctx, smtp_server, monkeypatch
):
    import jobs.mail
    from jobs.mail import deliver_emails, enqueue_deliveries

    app.config["MAIL_PORT"] = smtp_server.port
    connections = []
    connect = jobs.mail.smtp_connect
    monkeypatch.setattr(jobs.mail, "smtp_connect", lambda c: connections.append(1) or connect(c))
    with app.test_request_context():
        ids = queue_bulk(5, suppressed=["reader1@example.com"])
        db.session.get(OutboundEmail, ids[2]).sent_at = utcnow()  # sent by another job
        db.session.commit()
        assert app.extensions["redis"].llen("rq:queue:mail") == 0  # no job per email
        assert enqueue_deliveries(ids) == 1
        assert enqueue_deliveries(ids) == 0  # that batch already waits
        assert deliver_emails(ids) == 3
    received = sorted(str(m["To"].addresses[0].addr_spec) for m in smtp_server.messages())
    assert received == ["reader0@example.com", "reader3@example.com", "reader4@example.com"]
    assert connections == [1]
    skipped = db.session.get(OutboundEmail, ids[1])
    assert (skipped.skipped, skipped.sent_at is not None) == ("suppressed", True)


def test_a_failing_server_stops_the_batch_and_the_sweep_sends_the_rest(app, app_ctx, smtp_server):
    from jobs.mail import deliver_emails

    with app.test_request_context():
        ids = queue_bulk(3)
    app.config["MAIL_PORT"] = 1  # nothing listens there
    try:
        deliver_emails(ids)
    except OSError:
        pass
    else:
        raise AssertionError("an unreachable server must raise")
    assert all(db.session.get(OutboundEmail, i).sent_at is None for i in ids)
    app.config["MAIL_PORT"] = smtp_server.port
    assert deliver_emails(ids) == 3
    assert deliver_emails(ids) == 0  # nothing left to send
