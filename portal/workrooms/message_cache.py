"""Rendered log entries, kept per process and keyed by everything their markup shows.

Rendering an entry (links, local times, file sizes) is most of a workroom page's time, and
an entry looks the same on every view until the message changes. The key holds every value
the entry template reads: the message's own fields (changed_seq moves on every edit, delete
or new reply, and the text itself is in the key as well), its author's name, its files, and
the viewer's bits (time zone, whether the Edit/Delete actions show, the swap flag of polls,
the mount point of the URLs). A changed message therefore gets a new key and is rendered
afresh; an entry is never invalidated, only pushed out of the LRU.

Internal notes cannot leak through the cache: it is looked up only for messages the
caller's visibility query already returned for this seat, and an entry's markup is built
from its own message alone.

Per-process LRU rather than Redis: a hit costs a dictionary lookup instead of a round trip
plus (de)serialisation, nothing needs invalidating across processes (keys are immutable),
and a cold worker merely renders as before. Nothing relies on it: a wiped cache is a slower
page, never a different one.

The one per-session value in an entry, the CSRF token of its delete form, is rendered as a
process-random placeholder and swapped for the viewer's token on the way out, so no token
is ever stored or shown to another session.
"""

import secrets
import threading
from collections import OrderedDict

from flask import current_app, g, render_template, request
from flask_login import current_user
from flask_wtf.csrf import generate_csrf

CAPACITY = 4096  #: entries per process; at ~1.5 KB each, a few MB
ENTRY_TEMPLATE = "workrooms/_message_entry.html"
_TOKEN_PLACEHOLDER = f"csrf-placeholder-{secrets.token_hex(16)}"


class LRU:
    """A small thread-safe least-recently-used map."""

    def __init__(self, capacity):
        """An empty map holding at most `capacity` entries."""
        self.capacity = capacity
        self._items = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key):
        """The value for `key`, or None; a hit becomes the most recent."""
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key, value):
        """Store a value, dropping the least recently used beyond capacity."""
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            if len(self._items) > self.capacity:
                self._items.popitem(last=False)

    def __len__(self):
        """How many entries are held."""
        return len(self._items)


def install(app):
    """Give the app its cache and templates the `cached_message` function."""
    app.extensions["message_cache"] = LRU(CAPACITY)
    app.jinja_env.globals["cached_message"] = cached_message


def _viewer():
    """(user id, time zone) of the current user, read once per request."""
    viewer = g.get("_message_viewer")
    if viewer is None:
        user = current_user._get_current_object()
        if user is not None and user.is_authenticated:
            viewer = (user.id, user.timezone)
        else:
            viewer = (None, "UTC")  # the same zone the localtime filter falls back to
        g._message_viewer = viewer
    return viewer


def _key(message, own, oob, zone):
    """Every value the entry template reads, so equal keys mean equal markup."""
    author = message.author
    return (
        message.id,
        message.changed_seq,
        message.workroom_id,
        message.parent_id,
        message.seq,
        message.kind,
        message.audience,
        message.created_at,
        message.edited_at,
        message.deleted_at,
        message.reply_count,
        message.body_html,
        author.name if author is not None else None,
        tuple((f.id, f.filename, f.size) for f in message.attachments),
        own,
        bool(oob),
        zone,
        request.script_root,
    )


def cached_message(message, seat, oob=False):
    """The message's <li> entry, rendered once per distinct key (templates add |safe: it is
    the output of an autoescaped template)."""
    user_id, zone = _viewer()
    own = bool(seat.can_write and message.author_id == user_id and not message.deleted_at)
    key = _key(message, own, oob, zone)
    cache = current_app.extensions["message_cache"]
    html = cache.get(key)
    if html is None:
        html = render_template(
            ENTRY_TEMPLATE,
            message=message,
            own=own,
            oob=oob,
            csrf_token=lambda: _TOKEN_PLACEHOLDER,
        )
        cache.put(key, html)
    if own:
        html = html.replace(_TOKEN_PLACEHOLDER, _csrf_token())
    return html


def _csrf_token():
    """The viewer's CSRF token, generated once per request (Flask-WTF's own lookup is slow)."""
    token = g.get("_message_csrf")
    if token is None:
        token = g._message_csrf = generate_csrf()
    return token
