"""Sending queued email: a job per message sent as it happens, batches over one SMTP
connection for bulk mail (digests) and for the sweep that catches anything left behind."""

import smtplib
from contextlib import contextmanager
from datetime import timedelta

from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.exc import DBAPIError

from portal.database import utcnow
from portal.extensions import db
from portal.notifications.emails import deliver_email as send
from portal.notifications.emails import send_now, smtp_connect
from portal.notifications.lists import suppressed_among
from portal.notifications.models import OutboundEmail
from portal.queue import get_queue

SWEEP_GRACE = timedelta(minutes=1)
MAX_ATTEMPTS = 8
#: emails per deliver_emails job (a forked job costs tens of sending one message)
BATCH = 500


def deliver_email(email_id):
    """Send one queued email unless it already went out; SMTP failures raise for RQ to retry."""
    email = db.session.execute(
        select(OutboundEmail).where(OutboundEmail.id == email_id).with_for_update()
    ).scalar_one_or_none()
    if email is None or email.sent_at is not None:
        return "nothing to do"
    try:
        send(email)
    except (smtplib.SMTPException, OSError) as error:
        db.session.rollback()
        _record_failure(email_id, error)
        raise
    db.session.commit()
    return "sent"


def deliver_emails(email_ids):
    """Send many queued emails over one SMTP connection. The batch is read in one query;
    each email is then locked, sent and marked in its own commit right after the server
    took it, so a crash re-sends at most the one in flight (decision 6). An SMTP failure
    records its error and raises; the rest wait for the sweep. Returns how many were sent."""
    table = OutboundEmail.__table__
    rows = db.session.execute(
        select(table)
        .where(table.c.id.in_(email_ids), table.c.sent_at.is_(None))
        .order_by(table.c.id)
    ).all()
    suppressed = suppressed_among(rows)
    db.session.commit()
    if not rows:
        return 0
    sent = 0
    with _marking_connection() as connection, _smtp_client(current_app.config) as client:
        for row in rows:
            # One statement locks the row and checks it is still unsent (another job may have
            # sent it meanwhile): the lock holds until this email's commit.
            locked = connection.execute(
                update(table)
                .where(table.c.id == row.id, table.c.sent_at.is_(None))
                .values(attempts=table.c.attempts)
                .returning(table.c.id)
            ).first()
            if locked is None:
                connection.commit()
                continue
            try:
                changes = send_now(row, now=utcnow(), client=client, suppressed=suppressed)
            except (smtplib.SMTPException, OSError) as error:
                connection.rollback()
                _record_failure(row.id, error)
                raise
            if changes:
                connection.execute(update(table).where(table.c.id == row.id).values(**changes))
            connection.commit()
            sent += "attempts" in changes
    return sent


@contextmanager
def _marking_connection():
    """A connection of the batch's own for its one-email commits. On PostgreSQL they do not
    wait for the disk: a "sent" mark could be lost only if the database server itself
    crashed within a fraction of a second, and the email would then go out twice, the same
    at-least-once bargain as a worker dying between the SMTP server's answer and the mark
    (decision 6). The setting is reset before the connection goes back to the pool."""
    with db.engine.connect() as connection:
        relaxed = connection.dialect.name == "postgresql"
        if relaxed:
            connection.exec_driver_sql("SET synchronous_commit = off")
            connection.commit()
        try:
            yield connection
        finally:
            if relaxed:
                _reset_commit_setting(connection)


def _reset_commit_setting(connection):
    """Back to the server's durable commits; a connection that cannot say so is dropped."""
    try:
        connection.rollback()
        connection.exec_driver_sql("RESET synchronous_commit")
        connection.commit()
    except DBAPIError:
        connection.invalidate()


@contextmanager
def _smtp_client(config):
    """One open SMTP connection, closed politely (or not) at the end."""
    client = smtp_connect(config)
    try:
        yield client
    finally:
        try:
            client.quit()
        except (smtplib.SMTPException, OSError):
            client.close()


def enqueue_deliveries(email_ids):
    """Hand emails to deliver_emails jobs of BATCH each; returns how many jobs were queued.
    A batch's job id names its emails, so a sweep never stacks a second copy of a waiting
    one."""
    queue, queued = get_queue("mail"), 0
    ids = sorted(email_ids)
    for start in range(0, len(ids), BATCH):
        batch = ids[start : start + BATCH]
        job_id = f"deliver-emails-{batch[0]}-{batch[-1]}-{len(batch)}"
        existing = queue.fetch_job(job_id)
        if existing is not None:
            if existing.get_status(refresh=False) not in {"finished", "failed"}:
                continue
            existing.delete()
        queue.enqueue("jobs.mail.deliver_emails", batch, job_id=job_id)
        queued += 1
    return queued


def _record_failure(email_id, error):
    """Keep the count and the last error of a failed send for admins."""
    email = db.session.get(OutboundEmail, email_id)
    email.attempts += 1
    email.last_error = f"{type(error).__name__}: {error}"[:500]
    db.session.commit()


def deliver_pending_emails(*, now=None):
    """Re-enqueue unsent mail older than a minute (the database is the source of truth)."""
    now = now or utcnow()
    pending = db.session.scalars(
        select(OutboundEmail.id)
        .where(
            OutboundEmail.sent_at.is_(None),
            OutboundEmail.created_at <= now - SWEEP_GRACE,
            OutboundEmail.attempts < MAX_ATTEMPTS,
            (OutboundEmail.send_after.is_(None)) | (OutboundEmail.send_after <= now),
        )
        .order_by(OutboundEmail.id)
        .limit(5000)
    ).all()
    db.session.commit()
    enqueue_deliveries(pending)
    return len(pending)
