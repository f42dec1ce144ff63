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
