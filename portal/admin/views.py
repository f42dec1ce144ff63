"""Administration: users, mediators, and the development mail sink."""

from flask import Blueprint, abort, current_app, flash, redirect, request, url_for
from flask_login import current_user
from sqlalchemy import or_, select

from portal.accounts import services
from portal.accounts.auth import roles_required
from portal.accounts.forms import ConfirmForm, MediatorForm
from portal.accounts.models import AccountKind, User
from portal.errors import DomainError
from portal.extensions import db
from portal.notifications import sink
from portal.notifications.emails import public_url, queue_email
from portal.rendering import render_page

bp = Blueprint("admin", __name__, url_prefix="/admin")
PER_PAGE = 25


def _escape_like(text):
    """Treat % and _ in a search as plain characters."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@bp.route("/users")
@roles_required(AccountKind.admin)
def users():
    """Every account, newest first, searchable by name or email."""
    q = request.args.get("q", "").strip()[:100]
    query = select(User).order_by(User.created_at.desc(), User.id.desc())
    if q:
        pattern = f"%{_escape_like(q.lower())}%"
        query = query.where(
            or_(User.email.ilike(pattern, escape="\\"), User.name.ilike(pattern, escape="\\"))
        )
    page = db.paginate(query, per_page=PER_PAGE, error_out=False)
    return render_page("admin/users.html", "user_list", page=page, q=q, confirm_form=ConfirmForm())


@bp.route("/mediators/new", methods=["GET", "POST"])
@roles_required(AccountKind.admin)
def new_mediator():
    """Add a mediator; they get an email with a link to set their password."""
    form = MediatorForm()
    if form.validate_on_submit():
        try:
            mediator = services.create_mediator(current_user, form.email.data, form.name.data)
        except DomainError as error:
            form.email.errors.append(str(error))
        else:
            ttl = current_app.config["INVITATION_TTL"]
            raw = services.create_password_reset(mediator, ttl, actor=current_user)
            queue_email(
                "mediator_welcome",
                mediator.email,
                mediator.name,
                "You are a mediator on Duet: set your password",
                "mediator_welcome",
                user=mediator,
                link=public_url("accounts.reset_password", token=raw),
                days=ttl.days,
            )
            db.session.commit()
            flash(f"{mediator.name} was added as a mediator and emailed a sign-in link.", "success")
            return redirect(url_for("admin.users"))
    return render_page("admin/new_mediator.html", form=form)


def _set_disabled(user_id, disabled):
    """Disable or enable a user, then answer with the row (htmx) or the list."""
    user = db.get_or_404(User, user_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    services.set_user_disabled(user, current_user, disabled)
    db.session.commit()
    flash(f"{user.email} is {'disabled' if disabled else 'enabled again'}.", "success")
    if request.htmx:
        return render_page("admin/_user_row.html", user=user, confirm_form=ConfirmForm())
    return redirect(request.referrer if _same_site(request.referrer) else url_for("admin.users"))


def _same_site(url):
    """True when a referrer points back at this site."""
    return bool(url) and url.startswith(request.host_url)


@bp.route("/users/<int:user_id>/disable", methods=["POST"])
@roles_required(AccountKind.admin)
def disable_user(user_id):
    """Disable an account and end all its sessions."""
    return _set_disabled(user_id, True)


@bp.route("/users/<int:user_id>/enable", methods=["POST"])
@roles_required(AccountKind.admin)
def enable_user(user_id):
    """Let a disabled account sign in again."""
    return _set_disabled(user_id, False)


@bp.route("/mail")
@roles_required(AccountKind.admin)
def mail():
    """What the development SMTP sink received."""
    path = current_app.config["DEV_MAILDIR"]
    return render_page("admin/mail.html", messages=sink.read_messages(path), enabled=bool(path))


@bp.route("/mail/<key>")
@roles_required(AccountKind.admin)
def mail_message(key):
    """One message of the development SMTP sink."""
    message = sink.read_message(current_app.config["DEV_MAILDIR"], key)
    if message is None:
        abort(404)
    return render_page("admin/mail_message.html", message=message, body=sink.text_part(message))
