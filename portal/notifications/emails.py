"""Compose and send email over SMTP; queue it after the request's commit."""

import smtplib
import ssl
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import make_msgid, parseaddr
from urllib.parse import urlsplit

from flask import current_app, render_template
from rq import Retry

from portal.database import utcnow
from portal.extensions import db
from portal.notifications.models import OutboundEmail
from portal.queue import enqueue_after_commit
from portal.security import redact_tokens

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


def queue_email(kind, to_address, to_name, subject, template, **context):
    """Render an email from emails/<template>.txt and .html and queue it for sending."""
    email = OutboundEmail(
        kind=kind,
        to_address=to_address,
        to_name=one_line(to_name),
        subject=one_line(subject),
        text_body=render_template(f"emails/{template}.txt", **context),
        html_body=render_template(f"emails/{template}.html", **context),
    )
    db.session.add(email)
    db.session.flush()
    enqueue_after_commit(
        db.session, "jobs.mail.deliver_email", email.id, queue="mail", retry=SEND_RETRY
    )
    return email


def build_message(email, sender):
    """The MIME message of an outbound email: text with an HTML alternative."""
    message = EmailMessage()
    sender_name, sender_address = parseaddr(sender)
    message["From"] = Address(display_name=one_line(sender_name), addr_spec=sender_address)
    message["To"] = Address(display_name=one_line(email.to_name), addr_spec=email.to_address)
    message["Subject"] = one_line(email.subject)
    message["Message-ID"] = make_msgid(domain=sender_address.rpartition("@")[2] or None)
    message.set_content(email.text_body)
    if email.html_body:
        message.add_alternative(email.html_body, subtype="html")
    return message


def smtp_send(message, config):
    """Hand one message to the configured SMTP server."""
    host, port, timeout = config["MAIL_HOST"], config["MAIL_PORT"], config["MAIL_TIMEOUT"]
    if config["MAIL_USE_SSL"]:
        client = smtplib.SMTP_SSL(host, port, timeout=timeout, context=ssl.create_default_context())
    else:
        client = smtplib.SMTP(host, port, timeout=timeout)
    with client:
        if config["MAIL_USE_TLS"]:
            client.starttls(context=ssl.create_default_context())
        if config["MAIL_USERNAME"]:
            client.login(config["MAIL_USERNAME"], config["MAIL_PASSWORD"] or "")
        client.send_message(message)


def deliver_email(email, *, now=None):
    """Send an unsent email and mark it sent; a no-op when it already went out."""
    if email.sent_at is not None:
        return False
    email.attempts += 1
    smtp_send(build_message(email, current_app.config["MAIL_SENDER"]), current_app.config)
    email.sent_at = now or utcnow()
    email.last_error = ""
    # Once delivered, the stored copy keeps no live link: a database leak opens nothing.
    email.text_body = redact_tokens(email.text_body)
    email.html_body = redact_tokens(email.html_body)
    return True
