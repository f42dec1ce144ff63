"""Compose and send email over SMTP; queue it after the request's commit."""

import smtplib
import ssl
from email.header import Header
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import compat32
from email.utils import formataddr, make_msgid, parseaddr
from urllib.parse import urlsplit

from flask import current_app, render_template
from rq import Retry

from portal.database import utcnow
from portal.extensions import db
from portal.notifications.lists import is_suppressed, list_id_header
from portal.notifications.models import OutboundEmail
from portal.queue import enqueue_after_commit
from portal.security import redact_tokens

#: headers stay on one line: a folded List-Unsubscribe would reach some readers with a
#: leading space (lines stay far below SMTP's 998 characters)
UNFOLDED = compat32.clone(max_line_length=0)
# SMTP failures are retried with backoff; the sweep catches whatever is left.
SEND_RETRY = Retry(max=3, interval=[30, 120, 600])


def public_url(endpoint, **values):
    """An absolute link for emails, built on PUBLIC_URL and never on the request's Host.

    It builds from the URL map directly, so jobs (which have no request) can use it too.
    """
    base = urlsplit(current_app.config["PUBLIC_URL"])
    adapter = current_app.url_map.bind(
        base.netloc, script_name=base.path or "/", url_scheme=base.scheme
    )
    return adapter.build(endpoint, values, force_external=True)


def one_line(text):
    """Collapse line breaks and control characters so a value can sit in a header."""
    return " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())


def queue_email(
    kind,
    to_address,
    to_name,
    subject,
    template,
    *,
    list_id=None,
    unsubscribe_url=None,
    send_after=None,
    send=True,
    **context,
):
    """Render an email from emails/<template>.txt and .html and queue it for sending.

    A subscription email names its list and unsubscribe address (the List-* headers, and
    the suppression check when it is sent); `send_after` holds it (quiet hours). With
    send=False no job of its own is queued: a bulk sender hands its emails to
    jobs.mail.deliver_emails in batches.
    """
    email = OutboundEmail(
        kind=kind,
        to_address=to_address,
        to_name=one_line(to_name),
        subject=one_line(subject),
        text_body=render_template(
            f"emails/{template}.txt", unsubscribe_url=unsubscribe_url, **context
        ),
        html_body=render_template(
            f"emails/{template}.html", unsubscribe_url=unsubscribe_url, **context
        ),
        list_id=list_id,
        unsubscribe_url=unsubscribe_url,
        send_after=send_after,
        created_at=utcnow(),
    )
    db.session.add(email)
    if send:  # the job gets the id once the row is written with the rest of the transaction
        enqueue_after_commit(
            db.session, "jobs.mail.deliver_email", email, queue="mail", retry=SEND_RETRY
        )
    return email


def build_message(email, sender):
    """The MIME message of an outbound email: text with an HTML alternative; a subscription
    email also carries List-Id and one-click List-Unsubscribe (RFC 8058). Built with the
    classic email API, which costs a third of the modern one: bulk mail builds thousands."""
    text = MIMEText(email.text_body, "plain", "utf-8", policy=UNFOLDED)
    if email.html_body:
        message = MIMEMultipart("alternative", policy=UNFOLDED)
        message.attach(text)
        message.attach(MIMEText(email.html_body, "html", "utf-8", policy=UNFOLDED))
    else:
        message = text
    sender_name, sender_address = parseaddr(sender)
    message["From"] = _address(sender_name, sender_address)
    message["To"] = _address(email.to_name, email.to_address)
    message["Subject"] = _header(email.subject)
    message["Message-ID"] = make_msgid(domain=sender_address.rpartition("@")[2] or None)
    if email.list_id:
        message["List-Id"] = list_id_header(email.list_id)
    if email.unsubscribe_url:
        message["List-Unsubscribe"] = f"<{email.unsubscribe_url}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    return message


def _header(value):
    """A header value on one line, RFC 2047-encoded when it is not plain ASCII."""
    value = one_line(value)
    return value if value.isascii() else Header(value, "utf-8")


def _address(name, address):
    """A "Name <address>" header value; the name on one line and encoded when needed. An
    address with a line break or a control character is refused, never sent."""
    if not address.isprintable():
        raise ValueError(f"Not an email address: {address!r}")
    return formataddr((one_line(name), address), charset="utf-8")


def smtp_connect(config):
    """An open, logged-in connection to the configured SMTP server (close it after use)."""
    host, port, timeout = config["MAIL_HOST"], config["MAIL_PORT"], config["MAIL_TIMEOUT"]
    if config["MAIL_USE_SSL"]:
        client = smtplib.SMTP_SSL(host, port, timeout=timeout, context=ssl.create_default_context())
    else:
        client = smtplib.SMTP(host, port, timeout=timeout)
    try:
        if config["MAIL_USE_TLS"]:
            client.starttls(context=ssl.create_default_context())
        if config["MAIL_USERNAME"]:
            client.login(config["MAIL_USERNAME"], config["MAIL_PASSWORD"] or "")
    except BaseException:
        client.close()
        raise
    return client


def smtp_send(message, config, client=None):
    """Hand one message to the SMTP server: over `client` when a batch keeps one open."""
    if client is not None:
        client.send_message(message)
        return
    with smtp_connect(config) as own:
        own.send_message(message)


def send_now(email, *, now, client=None, suppressed=None):
    """Send an email (a model or a row) if it is due and allowed; returns the columns to
    store: none when it waits (already sent, or held for quiet hours), a skip for good when
    a subscription email's address is suppressed, else what marks it sent. A batch passes
    its open SMTP `client` and the `suppressed` check it made for all its emails."""
    if email.sent_at is not None or (email.send_after and email.send_after > now):
        return {}
    if email.list_id and (
        suppressed(email) if suppressed else is_suppressed(email.to_address, email.list_id)
    ):
        return {"sent_at": now, "skipped": "suppressed"}
    config = current_app.config
    sender = config["MAIL_LIST_SENDER"] if email.list_id else config["MAIL_SENDER"]
    smtp_send(build_message(email, sender), config, client)
    changes = {"sent_at": now, "attempts": email.attempts + 1, "last_error": ""}
    # Once delivered, the stored copy keeps no live link: a database leak opens nothing.
    # (A body without one is not written back: bulk mail stays a small update.)
    for column in ("text_body", "html_body"):
        redacted = redact_tokens(getattr(email, column))
        if redacted != getattr(email, column):
            changes[column] = redacted
    return changes


def deliver_email(email, *, now=None):
    """Send one unsent email and mark it sent (see send_now); True when it went out."""
    changes = send_now(email, now=now or utcnow())
    for name, value in changes.items():
        setattr(email, name, value)
    return "attempts" in changes
