"""The bell and its list, marking read, notification preferences and workroom mutes."""

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from portal.extensions import db
from portal.notifications import services
from portal.notifications.forms import PreferencesForm
from portal.notifications.models import Kind, Notification, WorkroomMute
from portal.rendering import render_page, wants_fragment
from portal.workrooms.access import load_workroom
from portal.workrooms.models import Workroom

bp = Blueprint("notifications", __name__)

PAGE_SIZE = 50
CHANGED = {"HX-Trigger": "notifications-changed"}  #: the bell refreshes itself on this event


@bp.route("/notifications/bell")
@login_required
def bell():
    """The bell with its unread count (htmx polls it and reloads it on every change)."""
    return render_page("notifications/_bell.html", unread=services.unread_count(current_user))


@bp.route("/notifications")
@login_required
def index():
    """The user's notifications, newest first, with links to what they are about."""
    before = request.args.get("before", type=int)
    query = select(Notification).where(Notification.user_id == current_user.id)
    if before:
        query = query.where(Notification.id < before)
    rows = db.session.scalars(query.order_by(Notification.id.desc()).limit(PAGE_SIZE + 1)).all()
    return render_page(
        "notifications/index.html",
        "notification_list",
        notifications=rows[:PAGE_SIZE],
        older=rows[PAGE_SIZE - 1].id if len(rows) > PAGE_SIZE else None,
        unread=services.unread_count(current_user),
    )


@bp.route("/notifications/read", methods=["POST"])
@login_required
def mark_read():
    """Mark one notification (`id`) or all of them read."""
    notification_id = request.form.get("id", type=int)
    services.mark_read(current_user, notification_id)
    db.session.commit()
    if wants_fragment():
        body, status = index()
        return body, status, CHANGED
    return redirect(url_for("notifications.index"), 303)


@bp.route("/notifications/<int:notification_id>/open", methods=["POST"])
@login_required
def open_one(notification_id):
    """Mark a notification read and go to what it is about (a POST: GETs never write)."""
    note = db.session.get(Notification, notification_id)
    if note is None or note.user_id != current_user.id:
        abort(404)
    services.mark_read(current_user, note.id)
    db.session.commit()
    return redirect(note.link or url_for("dashboard.index"), 303)


@bp.route("/account/notifications", methods=["GET", "POST"])
@login_required
def preferences():
    """Channels per kind, the digest's schedule, quiet hours and muted workrooms."""
    settings = services.settings_of(current_user)
    form = PreferencesForm(settings=settings)
    if form.validate_on_submit():
        services.save_preferences(current_user, **form.choices())
        db.session.commit()
        flash("Your notification settings are saved.", "success")
        return redirect(url_for("notifications.preferences"), 303)
    muted = db.session.scalars(
        select(Workroom)
        .join(WorkroomMute, WorkroomMute.workroom_id == Workroom.id)
        .where(WorkroomMute.user_id == current_user.id)
        .order_by(Workroom.id)
    ).all()
    return render_page("notifications/preferences.html", form=form, kinds=list(Kind), muted=muted)


@bp.route("/workrooms/<int:workroom_id>/mute", methods=["POST"])
@login_required
def mute(workroom_id):
    """Mute (`muted=1`) or unmute a workroom for the current user."""
    seat = load_workroom(current_user, workroom_id)
    muted = request.form.get("muted") == "1"
    services.set_mute(current_user, seat.workroom.id, muted)
    db.session.commit()
    flash(
        "The workroom is muted: only money and legal events still notify you."
        if muted
        else "The workroom notifies you again.",
        "success",
    )
    back = request.form.get("next")
    target = (
        url_for("notifications.preferences")
        if back == "preferences"
        else url_for("workrooms.show", workroom_id=seat.workroom.id)
    )
    return redirect(target, 303)
