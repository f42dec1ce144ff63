"""Mediation pages: a workroom's tickets, opening one, the ticket page (thread, clocks,
proposals, evidence), the mediators' queue and dashboard, and evidence bundles."""

from flask import Blueprint, abort, flash, redirect, request, send_file, url_for
from flask_login import current_user, login_required
from jinja2_fragments.flask import render_block

from portal.accounts.auth import roles_required
from portal.accounts.models import AccountKind, User
from portal.database import utcnow
from portal.errors import DomainError
from portal.extensions import db
from portal.mediation import evidence, queries, services
from portal.mediation.access import load_ticket
from portal.mediation.clocks import clocks
from portal.mediation.forms import (
    AnswerForm,
    PostForm,
    ReasonForm,
    TicketForm,
    composer,
    read_actions,
)
from portal.mediation.models import BundleState, EvidenceBundle, PostKind, TicketCategory
from portal.rendering import render_page, wants_fragment
from portal.workrooms.access import load_workroom

bp = Blueprint("mediation", __name__)

DOWNLOAD_CSP = "default-src 'none'; sandbox"


# A workroom's tickets -------------------------------------------------------------------------


@bp.route("/workrooms/<int:workroom_id>/tickets")
@login_required
def index(workroom_id):
    """The workroom's mediation tickets."""
    seat = load_workroom(current_user, workroom_id)
    return render_page(
        "mediation/index.html",
        "ticket_list",
        seat=seat,
        workroom=seat.workroom,
        tickets=queries.of_workroom(seat.workroom),
        clocks=clocks,
        now=utcnow(),
    )


@bp.route("/workrooms/<int:workroom_id>/tickets/new", methods=["GET", "POST"])
@login_required
def new(workroom_id):
    """A party opens a ticket, naming deliverables and milestones (pre-ticked from links on
    a deliverable's or milestone's page)."""
    seat = load_workroom(current_user, workroom_id, write=True)
    if seat.side is None:
        abort(403)
    deliverables, milestones = queries.candidates(seat.workroom)
    form = TicketForm(deliverables=deliverables, milestones=milestones)
    if request.method == "GET":
        form.deliverables.data = request.args.getlist("deliverable", type=int)
        form.milestones.data = request.args.getlist("milestone", type=int)
        if request.args.get("category") in {c.value for c in TicketCategory}:
            form.category.data = request.args["category"]
    problem = None
    if form.validate_on_submit():
        chosen_d, chosen_m = set(form.deliverables.data or ()), set(form.milestones.data or ())
        try:
            ticket = services.open_ticket(
                seat,
                current_user,
                form.category.data,
                form.subject.data,
                form.what_happened.data,
                form.asked_for.data,
                deliverables=[d for d in deliverables if d.id in chosen_d],
                milestones=[m for m in milestones if m.id in chosen_m],
            )
        except DomainError as error:
            db.session.rollback()
            problem = str(error)
        else:
            db.session.commit()
            flash("The ticket is open. The other side has been told.", "success")
            return redirect(url_for("mediation.show", ticket_id=ticket.id), 303)
    return render_page(
        "mediation/new.html",
        form=form,
        seat=seat,
        workroom=seat.workroom,
        problem=problem,
        status=422 if problem else None,
    )


# The ticket page -------------------------------------------------------------------------------


def _page(found, *, problem=None, status=200, post_form=None, answer_form=None, compose=None):
    """The ticket page, read fresh; forms keep what was typed when something was refused."""
    ticket = queries.page(found.ticket.id)
    now = utcnow()
    is_mediator = found.is_own_mediator(current_user)
    posts = [p for p in ticket.posts if found.sees_private_notes or p.kind is not PostKind.private]
    context = {
        "found": found,
        "ticket": ticket,
        "workroom": ticket.workroom,
        "posts": posts,
        "clocks": clocks(ticket, now),
        "now": now,
        "is_mediator": is_mediator,
        "post_form": post_form or PostForm(formdata=None),
        "answer_form": answer_form or AnswerForm(formdata=None),
        "reason_form": ReasonForm(formdata=None),
        "describe": services.describe,
        "problem": problem,
    }
    if found.is_mediator:
        context["evidence"] = evidence.gather(ticket)
        context["bundle"] = _latest_bundle(ticket)
        context["composer"] = compose or composer(ticket, queries.active_contracts(ticket.workroom))
        context["may_decide"] = services.may_decide(ticket, now)
        context["colleagues"] = [m for m in queries.mediators() if m.id != current_user.id]
    return render_page("mediation/show.html", status=status, **context)


def _latest_bundle(ticket):
    """The ticket's newest evidence bundle, if any."""
    return db.session.scalar(
        db.select(EvidenceBundle)
        .where(EvidenceBundle.ticket_id == ticket.id)
        .order_by(EvidenceBundle.id.desc())
        .limit(1)
    )


@bp.route("/tickets/<int:ticket_id>")
@login_required
def show(ticket_id):
    """One ticket: what it is about, its clocks, thread, proposals and (for mediators) the
    evidence and the resolution composer."""
    return _page(load_ticket(current_user, ticket_id))


def _done(found, message, anchor=None):
    """Commit, say what happened and show the ticket (303)."""
    db.session.commit()
    flash(message, "success")
    return redirect(url_for("mediation.show", ticket_id=found.ticket.id, _anchor=anchor), 303)


def _refused(found, error, **forms):
    """A service refused: nothing is kept, the page says why (and keeps what was typed)."""
    db.session.rollback()
    return _page(found, problem=str(error), status=error.status_code, **forms)


@bp.route("/tickets/<int:ticket_id>/posts", methods=["POST"])
@login_required
def post(ticket_id):
    """A message in the thread: by a party, or by the ticket's mediator (maybe private)."""
    found = load_ticket(current_user, ticket_id)
    as_mediator = found.is_own_mediator(current_user)
    if not as_mediator and not found.can_act_as_party:
        abort(403)
    form = PostForm()
    if not form.validate():
        return _page(found, status=422, post_form=form)
    try:
        if as_mediator:
            services.post_as_mediator(
                found.ticket, current_user, form.body.data, private=form.private.data
            )
        else:
            services.post_as_party(found.ticket, current_user, found.seat, form.body.data)
    except DomainError as error:
        return _refused(found, error, post_form=form)
    return _done(found, "Your message was added.", "thread")


@bp.route("/tickets/<int:ticket_id>/claim", methods=["POST"])
@login_required
@roles_required(AccountKind.mediator)
def claim(ticket_id):
    """A mediator takes a ticket from the queue."""
    found = load_ticket(current_user, ticket_id)
    try:
        services.claim(found.ticket, current_user)
    except DomainError as error:
        return _refused(found, error)
    return _done(found, "The ticket is yours. Its clocks are running.")


@bp.route("/tickets/<int:ticket_id>/assign", methods=["POST"])
@login_required
@roles_required(AccountKind.mediator)
def assign(ticket_id):
    """A mediator gives a waiting ticket, or hands their own, to a colleague."""
    found = load_ticket(current_user, ticket_id)
    if found.ticket.mediator_id not in (None, current_user.id):
        abort(403)
    colleague = db.session.get(User, request.form.get("mediator_id", type=int) or 0)
    if colleague is None:
        return _page(found, problem="Choose the mediator to hand the ticket to.", status=422)
    try:
        services.assign(found.ticket, colleague, current_user)
    except DomainError as error:
        return _refused(found, error)
    db.session.commit()
    flash(f"The ticket is now {colleague.name}'s.", "success")
    return redirect(url_for("mediation.queue"), 303)


@bp.route("/tickets/<int:ticket_id>/proposals", methods=["POST"])
@login_required
@roles_required(AccountKind.mediator)
def propose(ticket_id):
    """The mediator proposes a resolution, or (button "decide") issues a binding one."""
    found = load_ticket(current_user, ticket_id)
    if not found.is_own_mediator(current_user):
        abort(403)
    ticket = found.ticket
    values = request.form.to_dict()
    form = composer(ticket, queries.active_contracts(ticket.workroom), values)
    actions = read_actions(form, ticket.workroom.creator.timezone)
    if form.errors:
        return _page(found, problem="Check the resolution below.", status=422, compose=form)
    deciding = request.form.get("mode") == "decide"
    try:
        if deciding:
            services.decide(ticket, current_user, actions, values.get("note", ""))
        else:
            services.propose(ticket, current_user, actions, values.get("note", ""))
    except DomainError as error:
        db.session.rollback()
        form.errors.clear()
        return _page(found, problem=str(error), status=error.status_code, compose=form)
    if deciding:
        return _done(found, "Your decision applied. The ticket is resolved.")
    return _done(found, "The proposal went to both parties.", "proposals")


@bp.route("/tickets/<int:ticket_id>/proposals/<int:number>/answer", methods=["POST"])
@login_required
def answer(ticket_id, number):
    """A party accepts or rejects the open proposal."""
    found = load_ticket(current_user, ticket_id)
    if not found.can_act_as_party:
        abort(403)
    proposal = next((p for p in found.ticket.proposals if p.number == number), None)
    if proposal is None:
        abort(404)
    form = AnswerForm()
    if not form.validate():
        return _page(found, status=422, answer_form=form)
    accept = request.form.get("decision") == "accept"
    try:
        services.answer(proposal, current_user, found.seat, accept, form.comment.data)
    except DomainError as error:
        return _refused(found, error, answer_form=form)
    return _done(found, "You accepted the proposal." if accept else "You rejected the proposal.")


@bp.route("/tickets/<int:ticket_id>/withdraw", methods=["POST"])
@login_required
def withdraw(ticket_id):
    """The side that opened the ticket takes it back."""
    found = load_ticket(current_user, ticket_id)
    if not found.is_opener:
        abort(403)
    form = ReasonForm()
    if not form.validate():
        return _page(found, status=422)
    try:
        services.withdraw(found.ticket, current_user, found.seat, form.reason.data)
    except DomainError as error:
        return _refused(found, error)
    return _done(found, "The ticket is withdrawn; its holds are lifted.")


# Evidence bundles ----------------------------------------------------------------------------


@bp.route("/tickets/<int:ticket_id>/evidence", methods=["POST"])
@login_required
@roles_required(AccountKind.mediator)
def build_evidence(ticket_id):
    """The mediator asks for an evidence bundle; a job builds it while the page shows how
    far it got."""
    found = load_ticket(current_user, ticket_id)
    try:
        evidence.request_bundle(found.ticket, current_user)
    except DomainError as error:
        return _refused(found, error)
    return _done(found, "The evidence bundle is being built.", "evidence-bundle")


def _own_bundle(ticket_id, bundle_id):
    """A bundle of a ticket whose mediator is the current user."""
    found = load_ticket(current_user, ticket_id)
    bundle = db.session.get(EvidenceBundle, bundle_id)
    if bundle is None or bundle.ticket_id != found.ticket.id:
        abort(404)
    if not found.is_own_mediator(current_user):
        abort(403)
    return found, bundle


@bp.route("/tickets/<int:ticket_id>/evidence/<int:bundle_id>")
@login_required
@roles_required(AccountKind.mediator)
def bundle_status(ticket_id, bundle_id):
    """The bundle's progress (htmx polls it; 286 stops the poll once it is done)."""
    found, bundle = _own_bundle(ticket_id, bundle_id)
    if not wants_fragment():
        return _page(found)
    body = render_block("mediation/show.html", "bundle_status", ticket=found.ticket, bundle=bundle)
    finished = bundle.state in (BundleState.ready, BundleState.failed)
    return body, 286 if finished else 200


@bp.route("/tickets/<int:ticket_id>/evidence/<int:bundle_id>/download")
@login_required
@roles_required(AccountKind.mediator)
def download_bundle(ticket_id, bundle_id):
    """The finished archive, as an attachment."""
    _found, bundle = _own_bundle(ticket_id, bundle_id)
    if bundle.state is not BundleState.ready:
        abort(404)
    response = send_file(
        evidence.bundle_storage().open(bundle.storage_key),
        mimetype="application/zip",
        as_attachment=True,
        download_name=f"duet-ticket-{ticket_id}-evidence-{bundle.id}.zip",
        etag=False,
        conditional=False,
    )
    response.headers["Content-Security-Policy"] = DOWNLOAD_CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    return response


# Mediators ---------------------------------------------------------------------------------


@bp.route("/mediation")
@login_required
@roles_required(AccountKind.mediator)
def queue():
    """The mediators' queue: waiting tickets and mine, riskiest first, with filters."""
    whose = request.args.get("whose", "waiting")
    if whose not in ("waiting", "mine", "all"):
        whose = "waiting"
    category = TicketCategory.__members__.get(request.args.get("category", ""))
    chosen = queries.QueueFilter(whose, category)
    now = utcnow()
    tickets = queries.queue(current_user, chosen, now)
    return render_page(
        "mediation/queue.html",
        "queue_list",
        tickets=tickets,
        chosen=chosen,
        categories=list(TicketCategory),
        clocks=clocks,
        now=now,
    )


@bp.route("/mediation/dashboard")
@login_required
@roles_required(AccountKind.mediator, AccountKind.admin)
def dashboard():
    """Open load, SLA breaches and outcomes."""
    now = utcnow()
    return render_page("mediation/dashboard.html", figures=queries.dashboard(now), now=now)
