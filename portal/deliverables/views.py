"""Deliverable pages: the list, one deliverable with its revisions, and every action on it."""

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_login import current_user, login_required

from portal.database import utcnow
from portal.deliverables import queries, services
from portal.deliverables.forms import (
    AnswerForm,
    ExtensionForm,
    GoLiveForm,
    ReasonForm,
    ReviewForm,
    SubmitRevisionForm,
)
from portal.deliverables.models import (
    ExtensionRequest,
    ReviewDecision,
    RoundRequest,
)
from portal.errors import DomainError
from portal.extensions import db
from portal.rendering import render_page
from portal.workrooms.access import load_workroom
from portal.workrooms.models import Side
from portal.workrooms.uploads import UploadRefused

bp = Blueprint("deliverables", __name__, url_prefix="/workrooms/<int:workroom_id>/deliverables")


def countdown(target, now=None):
    """'2 days 4 hours', '35 minutes' or 'now': how long until a moment."""
    seconds = int((target - (now or utcnow())).total_seconds())
    if seconds <= 0:
        return "now"
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes = rest // 60
    parts = [(days, "day"), (hours, "hour")] if days else [(hours, "hour"), (minutes, "minute")]
    words = [f"{n} {unit}{'' if n == 1 else 's'}" for n, unit in parts if n]
    return " ".join(words) or "under a minute"


bp.add_app_template_filter(countdown, "countdown")


@bp.route("")
@login_required
def index(workroom_id):
    """The workroom's deliverables (the workroom page loads this list into its section)."""
    seat = load_workroom(current_user, workroom_id)
    deliverables, in_review = queries.of_workroom(seat.workroom)
    return render_page(
        "deliverables/index.html",
        "deliverable_list",
        seat=seat,
        workroom=seat.workroom,
        deliverables=deliverables,
        in_review=in_review,
        now=utcnow(),
    )


def _load(workroom_id, deliverable_id, *, write=False, side=None):
    """The seat and the deliverable of its workroom; 404 for outsiders and other workrooms,
    403 for read-only seats writing and for the wrong side of a one-sided action."""
    seat = load_workroom(current_user, workroom_id, write=write)
    deliverable = queries.find(seat.workroom, deliverable_id)
    if deliverable is None:
        abort(404)
    if side is not None and seat.side is not side:
        abort(403)
    return seat, deliverable


def _page(seat, deliverable_id, *, problem=None, status=None, **forms):
    """The deliverable page, read fresh, with any submitted form kept as typed."""
    deliverable = queries.page(seat.workroom, deliverable_id)
    extensions, open_round = queries.requests_of(deliverable)
    in_review = next((r for r in deliverable.revisions if r.state.value == "in_review"), None)
    defaults = {
        "submit_form": SubmitRevisionForm(formdata=None, requirements=deliverable.requirements),
        "review_form": ReviewForm(formdata=None),
        "extension_form": ExtensionForm(formdata=None, prefix="ext"),
        "answer_form": AnswerForm(formdata=None),
        "waive_form": ReasonForm(formdata=None, prefix="waive"),
        "cancel_form": ReasonForm(formdata=None, prefix="cancel"),
        "round_form": ReasonForm(formdata=None, prefix="round"),
        "live_form": GoLiveForm(formdata=None, url=deliverable.live_url),
    }
    defaults.update(forms)
    if status is None:
        status = 422 if any(form.errors for form in forms.values()) else 200
    return render_page(
        "deliverables/show.html",
        status=status,
        seat=seat,
        workroom=seat.workroom,
        deliverable=deliverable,
        in_review=in_review,
        extensions=extensions,
        open_extension=next((e for e in extensions if e.state.value == "open"), None),
        open_round=open_round,
        budget=queries.budget_of(deliverable),
        missed_at=queries.deadline_of(deliverable),
        problem=problem,
        now=utcnow(),
        **defaults,
    )


def _done(seat, deliverable, message):
    """Commit, say what happened and show the deliverable again (303)."""
    db.session.commit()
    flash(message, "success")
    return redirect(
        url_for("deliverables.show", workroom_id=seat.workroom.id, deliverable_id=deliverable.id),
        303,
    )


def _refused(seat, deliverable, error, **forms):
    """A service refused: nothing is kept, the page says why and keeps what was typed."""
    db.session.rollback()
    return _page(seat, deliverable.id, problem=str(error), status=error.status_code, **forms)


@bp.route("/<int:deliverable_id>")
@login_required
def show(workroom_id, deliverable_id):
    """One deliverable: status, countdowns, checklist, revisions with reviews, actions."""
    seat, deliverable = _load(workroom_id, deliverable_id)
    return _page(seat, deliverable.id)


@bp.route("/<int:deliverable_id>/revisions", methods=["POST"])
@login_required
def submit(workroom_id, deliverable_id):
    """The creator submits the next revision."""
    seat, deliverable = _load(workroom_id, deliverable_id, write=True, side=Side.creator)
    form = SubmitRevisionForm(requirements=deliverable.requirements)
    if not form.validate_on_submit():
        return _page(seat, deliverable.id, submit_form=form)
    try:
        revision = services.submit_revision(
            deliverable,
            current_user,
            seat,
            form.text.data,
            links=form.link_list(),
            checked=form.checklist.data or [],
            uploads=form.uploads,
            client_token=form.client_token.data or None,
        )
    except UploadRefused as error:
        db.session.rollback()
        form.files.errors.append(f"{error} Choose the files again.")
        return _page(seat, deliverable.id, submit_form=form)
    except DomainError as error:
        return _refused(seat, deliverable, error, submit_form=form)
    return _done(seat, deliverable, f"Revision {revision.number} submitted for review.")


@bp.route("/<int:deliverable_id>/review", methods=["POST"])
@login_required
def review(workroom_id, deliverable_id):
    """The brand decides on the revision in review (named by number, so a stale page fails)."""
    seat, deliverable = _load(workroom_id, deliverable_id, write=True, side=Side.brand)
    form = ReviewForm()
    number = request.form.get("revision", type=int)
    revision = next((r for r in deliverable.revisions if r.number == number), None)
    if not form.validate_on_submit():
        return _page(seat, deliverable.id, review_form=form)
    if revision is None:
        return _page(seat, deliverable.id, problem="Choose a revision to review.", status=422)
    try:
        services.review_revision(
            revision,
            current_user,
            seat,
            ReviewDecision(form.decision.data),
            feedback=form.feedback.data,
            internal=form.internal.data,
        )
    except DomainError as error:
        return _refused(seat, deliverable, error, review_form=form)
    return _done(seat, deliverable, f"Your review of revision {revision.number} is recorded.")


@bp.route("/<int:deliverable_id>/compare")
@login_required
def compare(workroom_id, deliverable_id):
    """The text of any two revisions side by side (by default the last two)."""
    seat = load_workroom(current_user, workroom_id)
    deliverable = queries.page(seat.workroom, deliverable_id)
    if deliverable is None or not deliverable.revisions:
        abort(404)
    numbers = [r.number for r in deliverable.revisions]
    old_n = request.args.get("old", type=int) or (numbers[-2] if len(numbers) > 1 else numbers[0])
    new_n = request.args.get("new", type=int) or numbers[-1]
    old, new = queries.revision_of(deliverable, old_n), queries.revision_of(deliverable, new_n)
    if old is None or new is None:
        abort(404)
    rows, unified = queries.diff_revisions(old, new)
    return render_page(
        "deliverables/compare.html",
        "diff",
        seat=seat,
        workroom=seat.workroom,
        deliverable=deliverable,
        old=old,
        new=new,
        rows=rows,
        unified=unified,
    )


@bp.route("/<int:deliverable_id>/extensions", methods=["POST"])
@login_required
def request_extension(workroom_id, deliverable_id):
    """Either side proposes a new due date."""
    seat, deliverable = _load(workroom_id, deliverable_id, write=True)
    form = ExtensionForm(prefix="ext")
    if not form.validate_on_submit():
        return _page(seat, deliverable.id, extension_form=form)
    try:
        services.request_extension(
            deliverable, current_user, seat, form.due_at(current_user.timezone), form.reason.data
        )
    except DomainError as error:
        return _refused(seat, deliverable, error, extension_form=form)
    return _done(seat, deliverable, "Your request for a new date is sent.")


def _request_or_404(model, deliverable, request_id):
    """An extension or extra-round request of this deliverable."""
    found = db.session.get(model, request_id)
    if found is None or found.deliverable_id != deliverable.id:
        abort(404)
    return found


@bp.route("/<int:deliverable_id>/extensions/<int:request_id>/answer", methods=["POST"])
@login_required
def answer_extension(workroom_id, deliverable_id, request_id):
    """The counterpart accepts or declines a new date."""
    seat, deliverable = _load(workroom_id, deliverable_id, write=True)
    extension = _request_or_404(ExtensionRequest, deliverable, request_id)
    form = AnswerForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        services.answer_extension(extension, current_user, seat, form.accepted())
    except DomainError as error:
        return _refused(seat, deliverable, error)
    return _done(seat, deliverable, "New date accepted." if form.accepted() else "Declined.")


@bp.route("/<int:deliverable_id>/extensions/<int:request_id>/withdraw", methods=["POST"])
@login_required
def withdraw_extension(workroom_id, deliverable_id, request_id):
    """The asking side takes its request back."""
    seat, deliverable = _load(workroom_id, deliverable_id, write=True)
    extension = _request_or_404(ExtensionRequest, deliverable, request_id)
    if not AnswerForm().validate_on_submit():
        abort(400)
    try:
        services.withdraw_extension(extension, current_user, seat)
    except DomainError as error:
        return _refused(seat, deliverable, error)
    return _done(seat, deliverable, "Request withdrawn.")


@bp.route("/<int:deliverable_id>/rounds", methods=["POST"])
@login_required
def request_round(workroom_id, deliverable_id):
    """Past the revision budget, the brand asks the creator for one more round."""
    seat, deliverable = _load(workroom_id, deliverable_id, write=True, side=Side.brand)
    form = ReasonForm(prefix="round")
    if not form.validate_on_submit():
        return _page(seat, deliverable.id, round_form=form)
    try:
        services.request_extra_round(deliverable, current_user, seat, form.reason.data)
    except DomainError as error:
        return _refused(seat, deliverable, error, round_form=form)
    return _done(seat, deliverable, "The creator is asked for an extra round.")


@bp.route("/<int:deliverable_id>/rounds/<int:request_id>/answer", methods=["POST"])
@login_required
def answer_round(workroom_id, deliverable_id, request_id):
    """The creator grants or refuses an extra round."""
    seat, deliverable = _load(workroom_id, deliverable_id, write=True, side=Side.creator)
    round_request = _request_or_404(RoundRequest, deliverable, request_id)
    form = AnswerForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        services.answer_extra_round(round_request, current_user, seat, form.accepted())
    except DomainError as error:
        return _refused(seat, deliverable, error)
    return _done(seat, deliverable, "Extra round granted." if form.accepted() else "Refused.")


def _end(workroom_id, deliverable_id, prefix, service, message):
    """Waive or cancel with a reason."""
    seat, deliverable = _load(workroom_id, deliverable_id, write=True, side=Side.brand)
    form = ReasonForm(prefix=prefix)
    if not form.validate_on_submit():
        return _page(seat, deliverable.id, **{f"{prefix}_form": form})
    try:
        service(deliverable, current_user, seat, form.reason.data)
    except DomainError as error:
        return _refused(seat, deliverable, error, **{f"{prefix}_form": form})
    return _done(seat, deliverable, message)


@bp.route("/<int:deliverable_id>/waive", methods=["POST"])
@login_required
def waive(workroom_id, deliverable_id):
    """The brand releases the creator from the deliverable."""
    return _end(workroom_id, deliverable_id, "waive", services.waive_deliverable, "Waived.")


@bp.route("/<int:deliverable_id>/cancel", methods=["POST"])
@login_required
def cancel(workroom_id, deliverable_id):
    """The brand drops the deliverable."""
    return _end(workroom_id, deliverable_id, "cancel", services.cancel_deliverable, "Cancelled.")


@bp.route("/<int:deliverable_id>/live", methods=["POST"])
@login_required
def go_live(workroom_id, deliverable_id):
    """The creator records where and when the approved content went live."""
    seat, deliverable = _load(workroom_id, deliverable_id, write=True, side=Side.creator)
    form = GoLiveForm()
    if not form.validate_on_submit():
        return _page(seat, deliverable.id, live_form=form)
    try:
        services.record_go_live(deliverable, current_user, seat, form.url.data, form.live_on.data)
    except DomainError as error:
        return _refused(seat, deliverable, error, live_form=form)
    return _done(seat, deliverable, "Live link recorded.")
