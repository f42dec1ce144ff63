"""The workroom page, its message log, threads, edits, polling and activity."""

from datetime import timedelta

import click
from flask import Blueprint, abort, redirect, request, send_file, url_for
from flask_login import current_user, login_required

from portal.contracts.queries import contracts_of
from portal.errors import DomainError
from portal.extensions import db
from portal.notifications.services import is_muted
from portal.rendering import render_page, wants_fragment
from portal.storage import get_storage
from portal.workrooms import queries, services
from portal.workrooms.access import load_workroom
from portal.workrooms.forms import EditMessageForm, MessageForm, ReadForm

bp = Blueprint("workrooms", __name__, url_prefix="/workrooms")


# A downloaded file is never a page of ours: no script, no plugin, no frame, no form.
DOWNLOAD_CSP = (
    "sandbox; default-src 'none'; base-uri 'none'; object-src 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)


def _message_or_404(seat, message_id):
    """A readable message of the seat's workroom."""
    message = queries.find_message(seat, message_id)
    if message is None:
        abort(404)
    return message


@bp.route("")
@login_required
def index():
    """My workrooms with unread counts and what waits on whom."""
    return render_page("workrooms/index.html", **queries.overview(current_user))


@bp.route("/<int:workroom_id>")
@login_required
def show(workroom_id):
    """The workroom: header, whose turn it is, the log and the other sections."""
    seat = load_workroom(current_user, workroom_id)
    messages, has_older = queries.timeline_page(seat)
    files, more_files = queries.workroom_files(seat)
    return render_page(
        "workrooms/show.html",
        seat=seat,
        workroom=seat.workroom,
        messages=messages,
        has_older=has_older,
        form=MessageForm(formdata=None),
        status=200,
        contracts=contracts_of(seat.workroom),
        waiting=queries.whose_turn([seat.workroom]).get(seat.workroom.id, []),
        muted=is_muted(current_user, seat.workroom.id),
        read_upto=queries.read_upto(seat.workroom, current_user),
        files=files,
        more_files=more_files,
    )


@bp.route("/<int:workroom_id>/messages")
@login_required
def older(workroom_id):
    """Older top-level messages before a message number (keyset pagination)."""
    seat = load_workroom(current_user, workroom_id)
    before = request.args.get("before", type=int)
    messages, has_older = queries.timeline_page(seat, before=before)
    return render_page(
        "workrooms/older.html",
        "older",
        seat=seat,
        workroom=seat.workroom,
        messages=messages,
        has_older=has_older,
    )


@bp.route("/<int:workroom_id>/messages", methods=["POST"])
@login_required
def post(workroom_id):
    """Post a message, a reply or an internal note."""
    seat = load_workroom(current_user, workroom_id, write=True)
    form = MessageForm()
    parent = None
    if form.validate_on_submit():
        if form.parent_id.data:
            parent = _message_or_404(seat, form.parent_id.data)
        try:
            message = services.post_message(
                seat,
                current_user,
                form.body.data,
                internal=form.internal.data,
                parent=parent,
                client_msg_id=form.client_msg_id.data or None,
                uploads=form.uploads,
            )
        except services.UploadRefused as error:
            form.files.errors.append(f"{error} Choose the files again.")
        except DomainError as error:
            form.body.errors.append(str(error))
        else:
            db.session.commit()
            if wants_fragment():
                return _after_post(seat, message)
            anchor = f"message-{message.parent_id or message.id}"
            target = "workrooms.thread" if message.parent_id else "workrooms.show"
            args = {"message_id": message.parent_id} if message.parent_id else {}
            return redirect(url_for(target, workroom_id=workroom_id, **args, _anchor=anchor))
    return render_page(
        "workrooms/compose.html",
        "composer",
        seat=seat,
        workroom=seat.workroom,
        form=form,
        parent=parent,
    )


def _after_post(seat, message):
    """For htmx: a fresh composer; the log's poller fetches the new message at once."""
    body, status = render_page(
        "workrooms/compose.html",
        "composer",
        seat=seat,
        workroom=seat.workroom,
        form=MessageForm(formdata=None, parent_id=message.parent_id),
        parent=message.parent,
    )
    return body, status, {"HX-Trigger": "workroom-changed"}


@bp.route("/<int:workroom_id>/messages/<int:message_id>")
@login_required
def thread(workroom_id, message_id):
    """A thread: the first message and its replies, with a reply form."""
    seat = load_workroom(current_user, workroom_id)
    root = _message_or_404(seat, message_id)
    if root.parent_id:
        return redirect(
            url_for("workrooms.thread", workroom_id=workroom_id, message_id=root.parent_id)
        )
    form = MessageForm(formdata=None, parent_id=root.id)
    return render_page(
        "workrooms/thread.html",
        "thread",
        seat=seat,
        workroom=seat.workroom,
        root=root,
        replies=queries.thread(seat, root),
        form=form,
        status=200,
    )


@bp.route("/<int:workroom_id>/messages/<int:message_id>/edit", methods=["GET", "POST"])
@login_required
def edit(workroom_id, message_id):
    """Change one's own message; the old text stays in its history."""
    seat = load_workroom(current_user, workroom_id, write=True)
    message = _message_or_404(seat, message_id)
    if message.author_id != current_user.id:
        abort(403)
    form = EditMessageForm(data={"body": message.body_md})
    if form.validate_on_submit():
        try:
            services.edit_message(message, current_user, form.body.data)
        except DomainError as error:
            form.body.errors.append(str(error))
        else:
            db.session.commit()
            if wants_fragment():
                return render_page("workrooms/_message.html", seat=seat, message=message)
            return _back_to(message)
    return render_page(
        "workrooms/edit.html",
        "editor",
        seat=seat,
        workroom=seat.workroom,
        message=message,
        form=form,
    )


@bp.route("/<int:workroom_id>/messages/<int:message_id>/delete", methods=["POST"])
@login_required
def delete(workroom_id, message_id):
    """Replace one's own message by a tombstone."""
    seat = load_workroom(current_user, workroom_id, write=True)
    message = _message_or_404(seat, message_id)
    services.delete_message(message, current_user)
    db.session.commit()
    if wants_fragment():
        return render_page("workrooms/_message.html", seat=seat, message=message)
    return _back_to(message)


def _back_to(message):
    """Redirect to where a message is shown."""
    if message.parent_id:
        return redirect(
            url_for(
                "workrooms.thread",
                workroom_id=message.workroom_id,
                message_id=message.parent_id,
                _anchor=f"message-{message.id}",
            )
        )
    return redirect(
        url_for("workrooms.show", workroom_id=message.workroom_id, _anchor=f"message-{message.id}")
    )


@bp.route("/<int:workroom_id>/messages/<int:message_id>/history")
@login_required
def history(workroom_id, message_id):
    """Every earlier text of a message."""
    seat = load_workroom(current_user, workroom_id)
    message = _message_or_404(seat, message_id)
    return render_page(
        "workrooms/history.html",
        seat=seat,
        workroom=seat.workroom,
        message=message,
        revisions=queries.revisions(message),
    )


@bp.route("/<int:workroom_id>/search")
@login_required
def search(workroom_id):
    """Messages and replies of the workroom that hold the words searched for."""
    seat = load_workroom(current_user, workroom_id)
    q = request.args.get("q", "").strip()[: queries.MAX_SEARCH_CHARS]
    return render_page(
        "workrooms/search.html",
        "search_results",
        seat=seat,
        workroom=seat.workroom,
        q=q,
        results=queries.search(seat, q),
        limit=queries.SEARCH_LIMIT,
    )


@bp.route("/<int:workroom_id>/poll")
@login_required
def poll(workroom_id):
    """New and changed messages since a change number; 204 when nothing changed.

    Most unchanged polls never get here: poll.py answers them in front of the app.
    """
    since = request.args.get("since", type=int, default=0)
    upto = request.args.get("upto", type=int, default=0)
    thread_id = request.args.get("thread", type=int)  # set by a thread page's poller
    last = queries.last_change(workroom_id, current_user)
    if last is None:
        abort(404)
    if last <= since:
        return "", 204
    seat = load_workroom(current_user, workroom_id)
    return render_page(
        "workrooms/_changes.html",
        seat=seat,
        workroom=seat.workroom,
        changes=queries.changes_since(seat, since),
        since=last,
        upto=upto,
        thread_id=thread_id,
    )


@bp.route("/<int:workroom_id>/read", methods=["POST"])
@login_required
def mark_read(workroom_id):
    """Move the read marker (htmx does this when the log is shown; a button without JS)."""
    seat = load_workroom(current_user, workroom_id)
    form = ReadForm()
    if not form.validate_on_submit():
        abort(400)
    services.mark_read(seat.workroom, current_user, form.seq.data)
    db.session.commit()
    if wants_fragment():
        return ""  # the "Mark all as read" form swaps itself away
    return redirect(url_for("workrooms.show", workroom_id=workroom_id))


@bp.route("/<int:workroom_id>/activity")
@login_required
def activity(workroom_id):
    """The workroom's audit trail, newest first."""
    seat = load_workroom(current_user, workroom_id)
    events, has_more = queries.activity(seat.workroom, before=request.args.get("before", type=int))
    return render_page(
        "workrooms/activity.html",
        seat=seat,
        workroom=seat.workroom,
        events=events,
        has_more=has_more,
    )


@bp.route("/<int:workroom_id>/attachments/<int:attachment_id>")
@login_required
def attachment(workroom_id, attachment_id):
    """Download a file of a message the user may read: always as an attachment, sandboxed."""
    seat = load_workroom(current_user, workroom_id)
    attachment = queries.find_attachment(seat, attachment_id)
    if attachment is None:
        abort(404)
    response = send_file(
        get_storage().open(attachment.storage_key),
        mimetype=attachment.content_type,
        as_attachment=True,
        download_name=attachment.filename,
        etag=False,
        conditional=False,
    )
    response.headers["Content-Security-Policy"] = DOWNLOAD_CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cross-Origin-Resource-Policy"] = "same-origin"
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.cli.command("sweep-orphan-uploads")
@click.option("--older-than-minutes", default=60, show_default=True)
def sweep_orphan_uploads_command(older_than_minutes):
    """Remove stored files that no attachment refers to (left by a crash before commit)."""
    removed = services.sweep_orphan_files(
        get_storage(), older_than=timedelta(minutes=older_than_minutes)
    )
    click.echo(f"Removed {removed} orphan file(s).")
