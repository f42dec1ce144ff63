"""The development SMTP sink: a real SMTP server on loopback that files mail in a Maildir."""

import mailbox
import re
from email import message_from_bytes, policy
from pathlib import Path

from aiosmtpd.controller import Controller

SAFE_KEY = re.compile(r"[A-Za-z0-9._,:=-]+")


class MaildirHandler:
    """aiosmtpd handler that stores every accepted message in a Maildir."""

    def __init__(self, path):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.maildir = mailbox.Maildir(path, create=True)  # makes cur/, new/ and tmp/

    async def handle_DATA(self, server, session, envelope):
        """Accept the message and file it."""
        self.maildir.add(envelope.original_content or envelope.content)
        return "250 Message accepted for delivery"


def start_sink(path, host="127.0.0.1", port=1025):
    """Start the sink in a background thread; returns the controller (call .stop())."""
    controller = Controller(MaildirHandler(path), hostname=host, port=port)
    controller.start()
    return controller


def read_messages(path, limit=200):
    """Messages in the sink, newest first, as (key, parsed message) pairs."""
    if not path or not Path(path).exists():
        return []
    box = mailbox.Maildir(path, create=False)
    items = []
    for key in box.iterkeys():
        with box.get_file(key) as handle:
            items.append((key, message_from_bytes(handle.read(), policy=policy.default)))
    items.sort(key=lambda item: _when(item[1]), reverse=True)
    return items[:limit]


def read_message(path, key):
    """One message of the sink, or None."""
    if not path or not SAFE_KEY.fullmatch(key):
        return None
    box = mailbox.Maildir(path, create=False)
    try:
        with box.get_file(key) as handle:
            return message_from_bytes(handle.read(), policy=policy.default)
    except KeyError:
        return None


def _when(message):
    """A message's Date header as a sortable timestamp."""
    date = message.get("Date")
    try:
        return date.datetime.timestamp() if date else 0
    except (AttributeError, ValueError):
        return 0


def text_part(message):
    """The plain-text body of a message."""
    part = message.get_body(preferencelist=("plain",))
    return part.get_content() if part else ""
