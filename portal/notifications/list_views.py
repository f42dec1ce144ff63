"""One-click unsubscribe (RFC 8058) and the mail provider's bounce and complaint webhook."""

import hashlib
import hmac
import json

from flask import Blueprint, abort, current_app, jsonify, make_response, render_template, request

from portal.extensions import csrf, db
from portal.notifications.lists import ALL, LISTS, read_token, suppress

bp = Blueprint("mail_lists", __name__)

#: provider events that stop all mail to an address (other types are ignored)
STOPPING_EVENTS = {"bounce", "complaint"}
MAX_EMAIL = 254  #: the suppression table's column


def mask_email(email):
    """An address with most of its local part hidden: c***@example.com."""
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"


def _page(template, **context):
    """A page about an unsubscribe link: never cached or indexed. (The app-wide
    strict-origin-when-cross-origin policy already keeps the token out of other sites'
    Referer; the page links nowhere else.)"""
    response = make_response(render_template(template, **context))
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["X-Robots-Tag"] = "noindex"
    return response


@bp.route("/unsubscribe/<token>", methods=["GET", "POST"])
@csrf.exempt  # RFC 8058: the one-click POST has no cookies or form token; the link is signed
def unsubscribe(token):
    """GET asks (link scanners open it and must change nothing); POST leaves the list.

    No sign-in: the signed token names the address and the list. Every bad token (tampered,
    expired, another list, garbage) gets the same 404.
    """
    found = read_token(token)
    if found is None:
        abort(404)
    _user_id, email, list_id = found
    if not isinstance(email, str) or "@" not in email:
        abort(404)
    context = {"list_name": LISTS[list_id], "email": mask_email(email)}
    if request.method != "POST":  # GET and HEAD only look
        return _page("mail_lists/confirm.html", token=token, **context)
    suppress(email, list_id, "unsubscribe")
    db.session.commit()
    # 200 with a page, never a redirect: mail providers' one-click POST does not follow one.
    return _page("mail_lists/done.html", **context)


def _signature_ok(raw, secret):
    """Whether X-Duet-Signature is the hex HMAC-SHA256 of the raw body (constant time)."""
    given = request.headers.get("X-Duet-Signature", "").strip().lower()
    expected = hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    return bool(given) and hmac.compare_digest(given.encode(), expected.encode())


def _stopping_events(payload):
    """(email, type) of each well-formed hard bounce or complaint in a webhook body."""
    events = payload.get("events") if isinstance(payload, dict) else None
    for event in events if isinstance(events, list) else []:
        if not isinstance(event, dict) or event.get("type") not in STOPPING_EVENTS:
            continue
        email = event.get("email")
        if isinstance(email, str) and "@" in email and len(email.strip()) <= MAX_EMAIL:
            yield email, event["type"]


@bp.route("/webhooks/mail-events", methods=["POST"])
@csrf.exempt  # a server-to-server call, authenticated by its HMAC signature
def mail_events():
    """The provider's bounces and complaints: each address gets no more mail that can be
    refused. Replaying events is harmless (a suppression is stored once)."""
    secret = current_app.config.get("MAIL_WEBHOOK_SECRET")
    if not secret:
        abort(404)
    raw = request.get_data(cache=True)
    if not _signature_ok(raw, secret):
        return jsonify(error="bad signature"), 403
    try:
        payload = json.loads(raw)
    except ValueError:
        return jsonify(error="body is not JSON"), 400
    stored = sum(suppress(email, ALL, kind) for email, kind in _stopping_events(payload))
    db.session.commit()
    return jsonify(suppressed=stored)
