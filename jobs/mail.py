"""Sending queued email: one job per message, and a sweep for anything left behind."""

import smtplib
from datetime import timedelta

from sqlalchemy import select

from portal.database import utcnow
from portal.extensions import db
from portal.notifications.emails import SEND_RETRY
from portal.notifications.emails import deliver_email as send
from portal.notifications.models import OutboundEmail
from portal.queue import get_queue

SWEEP_GRACE = timedelta(minutes=1)
MAX_ATTEMPTS = 8


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
        )
        .limit(500)
    ).all()
    queue = get_queue("mail")
    for email_id in pending:
        # A deterministic id: a sweep never stacks a second copy of a waiting job.
        job_id = f"deliver-email-{email_id}"
        existing = queue.fetch_job(job_id)
        if existing is None or existing.get_status(refresh=False) in {"finished", "failed"}:
            if existing is not None:
                existing.delete()
            queue.enqueue("jobs.mail.deliver_email", email_id, job_id=job_id, retry=SEND_RETRY)
    return len(pending)
