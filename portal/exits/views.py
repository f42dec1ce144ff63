"""Exit pages: end a contract, follow the exit, invite a replacement, analyse it, the report."""

from flask import Blueprint, abort, current_app, flash, redirect, request, url_for
from flask_login import current_user, login_required

from portal.accounts import auth
from portal.accounts.models import AccountKind, Brand, User
from portal.accounts.services import membership_of
from portal.campaigns import services as campaign_services
from portal.contracts.models import Contract, ContractStatus
from portal.errors import DomainError, InvalidState
from portal.exits import queries, services
from portal.exits.forms import (
    AnalysisForm,
    ExitForm,
    InviteReplacementForm,
    ReplacementSearchForm,
    SettleForm,
)
from portal.extensions import db
from portal.rendering import render_page
from portal.reports.charts import bar_chart
from portal.workrooms.access import load_workroom

bp = Blueprint("exits", __name__)


def _load(exit_id, *, write=False, brand_only=False):
    """The exit and the user's seat, through the workroom's membership check (outsiders
    404); brand-only pages answer the creator 404 too."""
    exit = queries.exit_page(exit_id)
    if exit is None:
        abort(404)
    seat = load_workroom(current_user, exit.workroom_id, write=write)
    if brand_only and not seat.is_brand:
        abort(404)
    return seat, exit


@bp.app_template_global()
def exit_of_contract(contract_id):
    """The contract page asks whether its contract is ending."""
    return queries.exit_of(contract_id)


@bp.route("/contracts/<int:contract_id>/exit", methods=["GET", "POST"])
@login_required
def new(contract_id):
    """Either side ends an active contract: the reason, a comment, for cause or not."""
    contract = db.get_or_404(Contract, contract_id)
    seat = load_workroom(current_user, contract.workroom_id, write=True)
    existing = queries.exit_of(contract.id)
    if existing is not None:
        return redirect(url_for("exits.show", exit_id=existing.id), 303)
    if contract.status is not ContractStatus.active:
        raise InvalidState("Only an active contract can end early.")
    outstanding = services.outstanding_deliverables(contract) if seat.is_brand else []
    form = ExitForm(deliverables=outstanding)
    problem = None
    if form.validate_on_submit():
        try:
            exit = services.start_exit(
                contract,
                current_user,
                seat,
                form.reason.data,
                form.comment.data,
                for_cause=form.for_cause.data,
                reassign=form.reassign.data or (),
            )
        except DomainError as error:
            db.session.rollback()
            problem = str(error)
        else:
            db.session.commit()
            flash("The contract is ending. The other side has been told.", "success")
            return redirect(url_for("exits.show", exit_id=exit.id), 303)
    return render_page(
        "exits/new.html",
        form=form,
        status=422 if problem else None,
        seat=seat,
        workroom=seat.workroom,
        contract=contract,
        version=contract.accepted_version,
        problem=problem,
    )


@bp.route("/exits/<int:exit_id>")
@login_required
def show(exit_id):
    """The exit: status, dates, settlement, and for the brand the replacement search."""
    seat, exit = _load(exit_id)
    return _show(seat, exit, search=ReplacementSearchForm(request.args))


def _show(seat, exit, *, search=None, invite_form=None, problem=None, status=None):
    """The exit page (its replacements block for htmx)."""
    search = search or ReplacementSearchForm(formdata=None)
    manages = seat.is_brand and seat.can_write
    return render_page(
        "exits/show.html",
        "replacements",
        status=status,
        seat=seat,
        workroom=exit.workroom,
        exit=exit,
        contract=exit.contract,
        version=exit.contract.accepted_version,
        closeout=queries.closeout_of(exit),
        ticket=queries.ticket_of(exit),
        invitation=queries.invitation_of(exit) if seat.is_brand else None,
        candidates=(
            queries.replacement_candidates(exit, **search.criteria())
            if manages and not exit.replacement_contract_id
            else []
        ),
        facts=queries.exit_facts(exit) if seat.is_brand or seat.side is None else None,
        search=search,
        invite_form=invite_form or InviteReplacementForm(formdata=None),
        settle_form=SettleForm(),
        manages=manages,
        problem=problem,
    )


@bp.route("/exits/<int:exit_id>/settle", methods=["POST"])
@login_required
def settle(exit_id):
    """Either side proposes the close-out now instead of waiting for the notice to end."""
    seat, exit = _load(exit_id, write=True)
    if not SettleForm().validate_on_submit():
        abort(400)
    try:
        services.settle_exit(exit, current_user, seat)
    except DomainError as error:
        db.session.rollback()
        seat, exit = _load(exit_id)
        return _show(seat, exit, problem=str(error), status=error.status_code)
    db.session.commit()
    flash("The close-out is proposed; the other side accepts it or takes it further.", "success")
    return redirect(url_for("exits.show", exit_id=exit.id), 303)


@bp.route("/exits/<int:exit_id>/invite", methods=["POST"])
@login_required
def invite(exit_id):
    """The brand invites a replacement creator to the exit's campaign."""
    seat, exit = _load(exit_id, write=True, brand_only=True)
    form = InviteReplacementForm()
    if form.validate_on_submit():
        try:
            invitation = services.invite_replacement(
                exit,
                current_user,
                db.session.get(User, form.creator_id.data),
                current_app.config["INVITATION_TTL"],
                message=form.message.data,
            )
        except DomainError as error:
            db.session.rollback()
            form.creator_id.errors.append(str(error))
        else:
            campaign_services.email_invited_creator(invitation)
            db.session.commit()
            flash(f"{invitation.invitee_label} is invited to take over the work.", "success")
            return redirect(url_for("exits.show", exit_id=exit.id), 303)
    seat, exit = _load(exit_id)
    return _show(seat, exit, invite_form=form, problem=_first_error(form), status=422)


def _first_error(form):
    """The first error of a form, to show on top."""
    for errors in form.errors.values():
        return errors[0]
    return None


@bp.route("/exits/<int:exit_id>/analysis", methods=["GET", "POST"])
@login_required
def analysis(exit_id):
    """The brand's post-exit analysis, beside the facts filled in from the records."""
    seat, exit = _load(exit_id, write=True, brand_only=True)
    written = exit.analysis
    form = AnalysisForm(
        data={
            "reason": (written.reason if written else exit.reason).value,
            "factors": written.factors if written else [],
            "prevention": written.prevention if written else "",
        }
    )
    problem = None
    if form.validate_on_submit():
        try:
            services.record_analysis(
                exit,
                current_user,
                seat,
                form.reason.data,
                form.factors.data or [],
                form.prevention.data,
            )
        except DomainError as error:
            db.session.rollback()
            problem = str(error)
        else:
            db.session.commit()
            flash("The analysis is saved.", "success")
            return redirect(url_for("exits.show", exit_id=exit.id), 303)
    return render_page(
        "exits/analysis.html",
        form=form,
        status=422 if problem else None,
        seat=seat,
        exit=exit,
        version=exit.contract.accepted_version,
        facts=queries.exit_facts(exit),
        problem=problem,
    )


@bp.route("/brands/<int:brand_id>/exits")
@auth.roles_required(AccountKind.brand)
def report(brand_id):
    """The brand's exits: reasons and outcomes by month, and every exit."""
    brand = db.get_or_404(Brand, brand_id)
    if membership_of(current_user, brand) is None:
        abort(404)
    report = queries.brand_report(brand.id)
    return render_page(
        "exits/report.html",
        brand=brand,
        report=report,
        outcomes=queries.OUTCOMES,
        outcome_of=queries.outcome_of,
        reason_chart=bar_chart(
            "exit-reasons-chart",
            "Exits by reason",
            [(r.label, report.totals[r]) for r in report.reasons],
        ),
        month_chart=bar_chart(
            "exit-months-chart",
            "Exits by month",
            [(m, sum(report.by_reason[m].values())) for m in report.months],
        ),
    )
